"""The Starlark graph check: sound on the real repo, and precise on each broken fixture."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools.bazel.graph import UNRESOLVED_PULLS, check_repo, main
from tools.bazel.tests.conftest import TESTDATA
from tools.bazel.workspace import Workspace
from tools.paths import REPO_ROOT

BROKEN_CASES = sorted(p.name for p in TESTDATA.iterdir() if p.name.startswith("broken_"))


def test_the_repo_graph_is_sound():
    problems = check_repo(REPO_ROOT)
    assert not problems, "\n".join(str(p) for p in problems)


def test_good_fixture_has_no_problem(fixture_repo):
    root = fixture_repo("good")
    assert [str(p) for p in check_repo(root)] == []


def test_good_fixture_expands_the_real_macros(fixture_repo):
    from tools.bazel.module_file import read_module_file
    from tools.bazel.rule_specs import load_rule_specs

    root = fixture_repo("good")
    specs = load_rule_specs()
    workspace = Workspace(root, specs, read_module_file(root / "MODULE.bazel", specs.extensions).repos)
    workspace.evaluate()
    targets = workspace.packages["models/demo"].targets
    apply = targets["deploy.prod.apply"]
    assert apply.kind == "deploy_runner"
    assert apply.attrs["image_digests"] == {":image.digest": "//models/demo:image"}
    # The model's name is its package's; its runtime's hook comes with every runtime's (//runtimes:hooks).
    assert apply.attrs["model"] == "demo"
    assert apply.attrs["data"] == ["model.yaml", "//platform:platform", "//runtimes:hooks"]
    assert apply.attrs["image_layouts"] == {":image": "//models/demo:image"}
    assert targets["deploy.prod.resolve"].attrs["image_layouts"] == {}
    # delete and status act on what is deployed: no image digests, so no image build.
    assert targets["deploy.prod.delete"].attrs["image_digests"] == {}
    assert targets["deploy.apply"].attrs["actual"] == ":deploy.local.apply"
    builder = targets["weights_builder"]
    assert builder.kind == "py_binary" and builder.attrs["main"] == "//tools/bazel:artifacts_main.py"
    assert targets["weights"].attrs["builder"] == ":weights_builder"
    # //platform:export.<env>: every image the environment runs (generated from its YAML), pushed
    # and passed by digest; an environment that runs no model exports only the shared objects.
    exports = workspace.packages["platform"].targets
    prod = exports["export.prod"]
    assert prod.kind == "export_runner" and prod.attrs["environment"] == "prod"
    assert prod.attrs["image_layouts"] == {"//models/yolo:image": "//models/yolo:image"}
    assert prod.attrs["image_digests"] == {"//models/yolo:image.digest": "//models/yolo:image"}
    assert "//models/yolo:model.yaml" in prod.attrs["data"]
    assert exports["export.local"].attrs["image_layouts"] == {}


@pytest.mark.parametrize("case", BROKEN_CASES)
def test_broken_fixture_is_reported_exactly(fixture_repo, case):
    root = fixture_repo("good", case)
    expected = (TESTDATA / case / "expected.txt").read_text(encoding="utf-8").splitlines()
    assert [str(p) for p in check_repo(root)] == expected


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


MODULE_CASES = {
    "tag_instead_of_digest": (
        'digest = "sha256:3930bdf5b6f1cac4c2e2d6920da491982b8c5f68a32d2688b558c6ba97bde4cc",',
        'tag = "2.21.0-gpu",',
        [
            "MODULE.bazel: oci.pull tensorflow_serving_gpu: must be pinned by digest (sha256:<64 hex>)",
            "MODULE.bazel: oci.pull tensorflow_serving_gpu: pull by digest only, drop tag",
        ],
    ),
    "version_not_what_attrs_were_read_at": (
        'bazel_dep(name = "rules_oci", version = "2.3.2")',
        'bazel_dep(name = "rules_oci", version = "2.2.6")',
        ["MODULE.bazel: bazel_dep rules_oci is 2.2.6 but rule_attrs/ were read at 2.3.2"],
    ),
    "hub_not_in_use_repo": (
        'use_repo(pip, "pypi_tfserving", "pypi_tfserving_protos", "pypi_tools")',
        'use_repo(pip, "pypi_tfserving", "pypi_tools")',
        [
            "MODULE.bazel: pypi_tfserving_protos is made by @rules_python//python/extensions:pip.bzl%pip "
            "but not in its use_repo()"
        ],
    ),
    "unknown_tag_attribute": (
        'hub_name = "pypi_tools",',
        'hub_name = "pypi_tools",\n    requirements = "x",',
        [
            "MODULE.bazel: @rules_python//python/extensions:pip.bzl%pip tag parse(): "
            "unknown attribute 'requirements'"
        ],
    ),
    "unresolved_base_pinned_or_gone": (
        'tag = "2.21.0",\n)',
        'digest = "sha256:3930bdf5b6f1cac4c2e2d6920da491982b8c5f68a32d2688b558c6ba97bde4cc",\n)',
        ["MODULE.bazel: UNRESOLVED_PULLS lists tensorflow_serving, which no oci.pull pulls by tag alone"],
    ),
    "missing_lock": (
        '"//third_party/python:requirements_tfserving_nodeps.lock"',
        '"//third_party/python:requirements_tfserving_nodepz.lock"',
        [
            "MODULE.bazel: pip hub pypi_tfserving_protos: requirements_lock "
            "'//third_party/python:requirements_tfserving_nodepz.lock' does not exist"
        ],
    ),
}


@pytest.mark.parametrize("case", sorted(MODULE_CASES))
def test_broken_module_file_is_reported(fixture_repo, case):
    old, new, expected = MODULE_CASES[case]
    root = fixture_repo("good")
    _edit(root / "MODULE.bazel", old, new)
    assert [str(p) for p in check_repo(root)] == expected


def test_a_base_pulled_by_tag_is_a_warning_only_when_listed_unresolved(fixture_repo):
    root = fixture_repo("good")
    warnings: list[str] = []
    assert check_repo(root, warnings=warnings) == []
    assert [w for w in warnings if "tensorflow_serving " in w] == [
        "MODULE.bazel: oci.pull tensorflow_serving is pulled by tag '2.21.0', not by digest "
        f"({UNRESOLVED_PULLS['tensorflow_serving']})"
    ]


def test_cli_prints_problems_and_exits_1(fixture_repo, capsys):
    root = fixture_repo("good", "broken_label")
    assert main([str(root)]) == 1
    out = capsys.readouterr()
    assert "':demoo': no target or file 'demoo' in //models/demo" in out.out
    assert "1 problem(s)" in out.err
    assert main([str(fixture_repo("good"))]) == 0
