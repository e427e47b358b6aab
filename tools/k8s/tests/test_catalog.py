"""Loading once: a Catalog parses each data file once however many pairs it resolves, with
libyaml's parser where PyYAML has it, and still reports a repeated key."""

from __future__ import annotations

import pytest
import yaml

from tools import yamlio
from tools.errors import UserError
from tools.k8s.render.resolve import resolve
from tools.k8s.schema import environments, specs
from tools.k8s.schema.catalog import Catalog
from tools.k8s.tests.repo_copy import copy_repo_data

DIGEST = "sha256:" + "0" * 64


@pytest.fixture
def parses(monkeypatch):
    """Every data file the schema loaders parse, in order."""
    seen = []
    real = yamlio.load_yaml

    def counting(path):
        seen.append(str(path))
        return real(path)

    for module in (specs, environments):  # the schema loaders (a runtime hook reads its own files)
        monkeypatch.setattr(module, "load_yaml", counting)
    return seen


def test_every_pair_through_one_catalog_parses_each_file_once(tmp_path, parses):
    root = copy_repo_data(tmp_path)
    catalog = Catalog(root)
    pairs = [(m, e) for m in catalog.model_names for e in catalog.environment_names]
    assert len(pairs) == 12  # 4 models x 3 environments
    for model, env in pairs:
        # The labels come from the model's own data: yolo-torchserve lives in models/yolo_torchserve.
        variants = catalog.image_labels(model)  # and the runtime's verifier images
        resolve(model, env, {str(label): DIGEST for label in variants}, catalog=catalog)
    data_files = [
        *root.glob("models/*/model.yaml"),
        *root.glob("runtimes/*/runtime.yaml"),
        *root.glob("runtimes/*/observability.yaml"),
        *root.glob("platform/environments/*.yaml"),
        root / "platform" / "platform.yaml",
    ]
    assert sorted(parses) == sorted(map(str, data_files)), "each file exactly once"


def test_without_a_shared_catalog_each_resolve_loads_again(tmp_path, parses):
    """The contrast that makes the test above able to fail: per-call loading re-reads files."""
    root = copy_repo_data(tmp_path)
    resolve("yolo", "local", {"//models/yolo:image": DIGEST}, root=root)
    first = len(parses)
    resolve("yolo", "local", {"//models/yolo:image": DIGEST}, root=root)
    assert len(parses) == 2 * first


@pytest.mark.skipif(not yaml.__with_libyaml__, reason="this PyYAML was built without libyaml")
def test_data_files_are_parsed_by_libyaml():
    assert issubclass(yamlio._NoDuplicatesLoader, yaml.CSafeLoader)


def test_the_one_parse_still_refuses_repeated_keys(tmp_path):
    path = tmp_path / "twice.yaml"
    path.write_text("a: 1\nb:\n  c: 2\n  c: 3\n")
    with pytest.raises(UserError, match=r"duplicate key 'c' \(first on line 3\)") as caught:
        yamlio.load_yaml(path)
    assert caught.value.field == "line 4, column 3"
