"""The exported SavedModel, loaded back with tensorflow and run on a real JPEG through the client.

Runs in .venvs/tf (``pytest -m tensorflow``). The artifact is built once per session through the
real ``artifacts.build`` (the child-process export); metadata.json records its size.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from models.resnet50 import artifacts, export
from models.resnet50.client import (
    INPUT,
    OUTPUT,
    SIGNATURE,
    build_request,
    check_deployed,
    main,
    parse_response,
    predict,
    signature_problems,
)
from models.resnet50.tests.rest_standin import RestStandIn, metadata_answer, tensors_from_instances
from runtimes.tfserving.config import check_models_config
from runtimes.tfserving.deploy_config import MODEL_ROOT, SERVER_VERSION, config_files
from runtimes.tfserving.rest import available_versions, status_url
from tools.errors import UserError
from tools.paths import REPO_ROOT

pytestmark = [pytest.mark.tensorflow, pytest.mark.slow]


@pytest.fixture(scope="session")
def tf():
    # Imported here, not at module level: in .venvs/dev these tests are deselected (-m "not
    # tensorflow") and never import it; in .venvs/tf a missing tensorflow fails loudly.
    import tensorflow

    return tensorflow


@pytest.fixture(scope="session")
def artifact_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("resnet50-artifact")
    artifacts.build(out)
    return out


@pytest.fixture(scope="session")
def signature(artifact_dir, tf):
    loaded = tf.saved_model.load(str(artifact_dir / "resnet50" / "1"))
    return loaded, loaded.signatures[SIGNATURE]


@pytest.fixture(scope="session")
def street_jpg(tmp_path_factory) -> Path:
    """A real JPEG file (encoded and decoded by libjpeg), 640x480, with shapes and a gradient."""
    width, height = 640, 480
    x = np.linspace(0, 255, width, dtype=np.float32)
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None]
    pixels = np.stack(
        [np.broadcast_to(x, (height, width)), np.broadcast_to(y, (height, width)), 255 - (x + y) / 2], -1
    )
    image = Image.fromarray(pixels.astype(np.uint8))
    draw = ImageDraw.Draw(image)
    draw.rectangle((200, 150, 440, 330), fill=(200, 30, 30))
    draw.ellipse((260, 190, 380, 290), fill=(250, 240, 20))
    path = tmp_path_factory.mktemp("images") / "street.jpg"
    image.save(path, quality=90)
    return path


def test_artifact_layout_and_metadata(artifact_dir, tf):
    version = artifact_dir / "resnet50" / "1"
    assert (version / "saved_model.pb").is_file()
    assert (version / "variables" / "variables.index").is_file()
    metadata = json.loads((artifact_dir / "metadata.json").read_text())
    assert metadata["path"] == "resnet50/1"
    assert metadata["signature"]["inputs"] == {INPUT: {"dtype": "uint8", "shape": [-1, 224, 224, 3]}}
    assert metadata["weights"] == {"random_seed": export.DEFAULT_SEED}
    assert metadata["exported_with"]["tensorflow"] == tf.__version__
    assert metadata["bytes"] == sum(f.stat().st_size for f in version.rglob("*") if f.is_file())


def _file_hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in root.rglob("*")
        if p.is_file()
    }


def test_the_artifact_is_reproducible(artifact_dir, tmp_path):
    # A second build in a fresh process (as every real build is) must give the same bytes, so the
    # image layer, and with it the image digest, does not change when nothing changed.
    artifacts.build(tmp_path)
    assert _file_hashes(tmp_path) == _file_hashes(artifact_dir)


def test_signature_is_what_the_client_sends(signature, tf):
    _, serve = signature
    _, inputs = serve.structured_input_signature
    assert set(inputs) == {INPUT}
    assert inputs[INPUT].dtype == tf.uint8
    assert inputs[INPUT].shape.as_list() == [None, 224, 224, 3]
    outputs = serve.structured_outputs
    assert set(outputs) == {OUTPUT}
    assert outputs[OUTPUT].dtype == tf.float32
    assert outputs[OUTPUT].shape.as_list() == [None, 1000]


def test_client_request_runs_through_the_signature_on_a_real_jpeg(signature, street_jpg, tf):
    _, serve = signature
    body = build_request([street_jpg, street_jpg])
    outputs = serve(**tensors_from_instances(body, serve))
    probabilities = outputs[OUTPUT].numpy()
    assert probabilities.shape == (2, 1000)
    assert np.isfinite(probabilities).all()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-4)
    np.testing.assert_allclose(probabilities[0], probabilities[1], rtol=1e-5)
    # What TF Serving would answer for a single-output signature, read back by the client.
    top = parse_response({"predictions": probabilities.tolist()}, k=5)
    assert top[0][0].index == int(np.argmax(probabilities[0]))
    scores = [entry.score for entry in top[0]]
    assert scores == sorted(scores, reverse=True)


def test_preprocessing_is_inside_the_graph_and_the_seed_fixes_the_weights(signature, tf):
    # A fresh model from the same seed, fed Keras' caffe-mode preprocessing by hand, must match the
    # exported signature fed raw uint8 pixels: same weights (seeded) and same preprocessing (in graph).
    from keras.applications import resnet50

    _, serve = signature
    model = export.build_model(None, seed=export.DEFAULT_SEED)
    pixels = np.random.default_rng(0).integers(0, 256, (1, 224, 224, 3), dtype=np.uint8)
    through_signature = serve(images=tf.constant(pixels))[OUTPUT].numpy()
    by_hand = model(resnet50.preprocess_input(pixels.astype(np.float32)), training=False).numpy()
    np.testing.assert_allclose(through_signature, by_hand, rtol=1e-4, atol=1e-6)


# Keras' own save_weights trips a numpy 2 DeprecationWarning per tensor (keras, not this code).
@pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)
def test_weights_from_a_local_file_are_the_ones_exported(tmp_path, signature, tf):
    model = export.build_model(None, seed=7)
    weights = tmp_path / "resnet50.weights.h5"
    model.save_weights(str(weights))
    export.export(tmp_path / "out", weights=weights, seed=0)
    reloaded = tf.saved_model.load(str(tmp_path / "out" / "resnet50" / "1")).signatures[SIGNATURE]
    pixels = np.random.default_rng(1).integers(0, 256, (1, 224, 224, 3), dtype=np.uint8)
    from keras.applications import resnet50

    expected = model(resnet50.preprocess_input(pixels.astype(np.float32)), training=False).numpy()
    got = reloaded(images=tf.constant(pixels))[OUTPUT].numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)
    seed0 = signature[1](images=tf.constant(pixels))[OUTPUT].numpy()
    assert not np.allclose(got, seed0), "the weights file was ignored: output equals the seed-0 export"


def test_bad_weights_file_is_a_clear_error(tmp_path):
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not hdf5")
    with pytest.raises(export.ExportError, match="not ResNet50 weights Keras can load"):
        export.build_model(junk, seed=0)
    with pytest.raises(export.ExportError, match="weights file not found"):
        export.build_model(tmp_path / "missing.h5", seed=0)


def test_bad_weights_through_the_artifact_build_name_the_env_var(tmp_path, monkeypatch):
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not hdf5")
    monkeypatch.setenv(artifacts.WEIGHTS_ENV, str(junk))
    with pytest.raises(UserError, match="not ResNet50 weights Keras can load") as caught:
        artifacts.build(tmp_path / "out")
    assert caught.value.field == "RESNET50_WEIGHTS"


def test_models_config_serves_the_exported_version(artifact_dir):
    files = config_files(REPO_ROOT / "models" / "resnet50", "resnet50", gpu=False)
    (entry,) = check_models_config(files["models.config"], file="models.config").model_config_list.config
    assert entry.base_path == f"{MODEL_ROOT}/resnet50"
    on_disk = {int(p.name) for p in (artifact_dir / "resnet50").iterdir() if p.name.isdigit()}
    policy = entry.model_version_policy
    if policy.WhichOneof("policy_choice") == "specific":
        assert set(policy.specific.versions) <= on_disk
    assert set(entry.version_labels.values()) <= on_disk


def test_server_is_not_older_than_the_exporting_tensorflow(artifact_dir):
    from tensorflow.core.protobuf import saved_model_pb2

    saved = saved_model_pb2.SavedModel.FromString(
        (artifact_dir / "resnet50" / "1" / "saved_model.pb").read_bytes()
    )
    exported = saved.meta_graphs[0].meta_info_def.tensorflow_version
    assert saved.meta_graphs[0].meta_info_def.stripped_default_attrs  # older readers skip new defaults

    def major_minor(version: str) -> tuple[int, int]:
        major, minor = version.split(".")[:2]
        return int(major), int(minor)

    assert major_minor(exported) <= major_minor(SERVER_VERSION), (
        f"exported with TF {exported}, but the pinned server image is {SERVER_VERSION}"
    )


GOLDEN_METADATA = Path(__file__).parent / "testdata" / "metadata.json"


def test_served_metadata_matches_the_client_and_the_committed_golden(artifact_dir):
    answer = metadata_answer(artifact_dir / "resnet50" / "1" / "saved_model.pb", "resnet50", 1)
    assert signature_problems(answer) == []
    if os.environ.get("UPDATE_GOLDEN") == "1":
        GOLDEN_METADATA.write_text(json.dumps(answer, indent=2, sort_keys=True) + "\n")
    # The fast tests check the client against this file; it must stay what the export produces.
    assert json.loads(GOLDEN_METADATA.read_text()) == answer, "rerun with UPDATE_GOLDEN=1 and review the diff"


@pytest.fixture(scope="module")
def standin(artifact_dir):
    with RestStandIn(artifact_dir / "resnet50" / "1", model="resnet50", version=1) as server:
        yield server


def test_client_over_http_against_the_rest_standin(standin, signature, street_jpg, tf):
    import httpx

    assert available_versions(httpx.get(status_url(standin.url, "resnet50")).json()) == [1]
    check_deployed(standin.url)
    top = predict(standin.url, [street_jpg], k=3)
    _, serve = signature
    expected = serve(**tensors_from_instances(build_request([street_jpg]), serve))[OUTPUT].numpy()[0]
    assert [entry.index for entry in top[0]] == list(np.argsort(-expected, kind="stable")[:3])
    np.testing.assert_allclose([entry.score for entry in top[0]], np.sort(expected)[::-1][:3], rtol=1e-6)


def test_a_refused_request_is_a_user_error_with_the_servers_message(standin, street_jpg, monkeypatch):
    import models.resnet50.client as client

    monkeypatch.setattr(client, "MODEL", "resnet18")
    with pytest.raises(UserError, match="Servable not found"):
        predict(standin.url, [street_jpg])
    with pytest.raises(UserError, match="Servable not found"):
        check_deployed(standin.url)


def test_cli_end_to_end(standin, street_jpg, capsys):
    assert main([str(street_jpg), "--url", standin.url, "--top-k", "2", "--check-signature"]) == 0
    line = json.loads(capsys.readouterr().out)
    assert line["image"] == str(street_jpg)
    assert [sorted(entry) for entry in line["top"]] == [["index", "label", "score"]] * 2


@pytest.mark.parametrize(
    ("instance", "problem"),
    [
        ({"images": np.full((224, 224, 3), 0.5).tolist()}, "must be JSON integers"),
        ({"images": np.full((224, 224, 3), 256).tolist()}, "outside uint8"),
        ({"images": np.zeros((225, 224, 3), int).tolist()}, "does not fit"),
        ({"images": np.zeros((224, 224, 3), int).tolist(), "mask": 1}, "exactly the inputs"),
        ({"pixels": np.zeros((224, 224, 3), int).tolist()}, "exactly the inputs"),
    ],
)
def test_the_signature_check_refuses_what_the_signature_cannot_take(signature, instance, problem):
    # The check the client's request passes above is not vacuous: each of these fails it.
    with pytest.raises(ValueError, match=problem):
        tensors_from_instances({"signature_name": SIGNATURE, "instances": [instance]}, signature[1])


def test_predict_once_is_what_servectl_predict_prints(standin, street_jpg):
    """The model client contract (model.yaml `client`): one JSON line, indented with --json."""
    from models.resnet50.client import predict_once

    line = json.loads(predict_once(standin.url, str(street_jpg)))
    assert line["image"] == str(street_jpg) and len(line["top"]) == 5
    assert "\n" not in predict_once(standin.url, str(street_jpg))
    assert json.loads(predict_once(standin.url, str(street_jpg), raw=True)) == line
