"""Exports ResNet50 as a versioned TF SavedModel for TF Serving: ``OUT/resnet50/<version>/``.

The ``serving_default`` signature (the one TF Serving's REST API uses when none is named):

- input ``images``: uint8, shape [N, 224, 224, 3], RGB pixels 0..255, already resized and cropped
  (``models/resnet50/client.py`` does that: shorter side to 256, centre crop 224).
- output ``probabilities``: float32, shape [N, 1000], softmax over the ImageNet-1k classes in Keras'
  class order.

Preprocessing is inside the graph: Keras' ResNet50 "caffe" mode (RGB to BGR, minus the ImageNet
channel means, no scaling), so a client sends plain pixels and can never get it subtly wrong.

Weights come from a local Keras weights file when one is given (``--weights``; e.g. Keras'
``resnet50_weights_tf_dim_ordering_tf_kernels.h5`` or a ``.weights.h5`` saved from this model);
otherwise they are random with a fixed seed: the graph, signature and sizes are the real ones and
it serves fine, but its classes mean nothing.

Run in the tf venv (``artifacts.py`` does): ``python -m models.resnet50.export OUT [--weights F]``.
Prints one JSON line describing what it wrote; a bad input exits 2 with ``error: ...`` on stderr.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path

MODEL_NAME = "resnet50"
SIGNATURE = "serving_default"
INPUT = "images"
OUTPUT = "probabilities"
IMAGE_SIZE = 224
NUM_CLASSES = 1000
DEFAULT_SEED = 0


class ExportError(Exception):
    """A problem with the export's inputs (weights file); reported as one line, exit code 2."""


def build_model(weights: Path | None, seed: int):
    import keras

    keras.utils.set_random_seed(seed)  # the random initialisers draw from this: same seed, same weights
    model = keras.applications.ResNet50(weights=None, classes=NUM_CLASSES)
    if weights is not None:
        if not weights.is_file():
            raise ExportError(f"{weights}: weights file not found")
        try:
            model.load_weights(str(weights))
        except (ValueError, OSError, KeyError) as error:
            raise ExportError(f"{weights}: not ResNet50 weights Keras can load ({error})") from None
    return model


def serving_module(model):
    """Wraps ``model`` with the serving signature; the module tracks the weights so they are saved."""
    import tensorflow as tf
    from keras.applications import resnet50

    class Serving(tf.Module):
        def __init__(self):
            super().__init__(name=MODEL_NAME)
            self.model = model

        @tf.function(input_signature=[tf.TensorSpec([None, IMAGE_SIZE, IMAGE_SIZE, 3], tf.uint8, name=INPUT)])
        def serve(self, images):
            pixels = resnet50.preprocess_input(tf.cast(images, tf.float32))
            return {OUTPUT: self.model(pixels, training=False)}

    return Serving()


def pin_fingerprint_uuid(version_dir: Path) -> None:
    """Makes fingerprint.pb's ``uuid`` a function of the model instead of a fresh random number.

    Everything else tf.saved_model.save writes is byte-for-byte the same for the same code, seed and
    weights (saved_model.pb, variables/, and the fingerprint's content hashes), so with this the
    artifact, and the image layer holding it, is reproducible. The uuid stays unique per model
    content, which is what readers use it for.
    """
    from tensorflow.core.protobuf import fingerprint_pb2

    path = version_dir / "fingerprint.pb"
    fingerprint = fingerprint_pb2.FingerprintDef.FromString(path.read_bytes())
    fingerprint.ClearField("uuid")
    digest = hashlib.sha256(fingerprint.SerializeToString(deterministic=True)).digest()
    fingerprint.uuid = str(int.from_bytes(digest[:16], "big"))
    path.write_bytes(fingerprint.SerializeToString(deterministic=True))


def export(out_dir: Path, *, version: int = 1, weights: Path | None = None, seed: int = DEFAULT_SEED) -> dict:
    """Writes ``out_dir/resnet50/<version>/``; returns a description of the export."""
    import keras
    import tensorflow as tf

    model = build_model(weights, seed)
    module = serving_module(model)
    version_dir = out_dir / MODEL_NAME / str(version)
    tf.saved_model.save(module, str(version_dir), signatures={SIGNATURE: module.serve})
    pin_fingerprint_uuid(version_dir)
    return {
        "model": MODEL_NAME,
        "version": version,
        "path": str(version_dir.relative_to(out_dir)),
        "signature": {
            "name": SIGNATURE,
            "inputs": {INPUT: {"dtype": "uint8", "shape": [-1, IMAGE_SIZE, IMAGE_SIZE, 3]}},
            "outputs": {OUTPUT: {"dtype": "float32", "shape": [-1, NUM_CLASSES]}},
            "preprocessing": "in graph: keras resnet50 'caffe' mode (RGB->BGR, minus ImageNet means)",
        },
        "weights": {"file": str(weights)} if weights else {"random_seed": seed},
        "exported_with": {"tensorflow": tf.__version__, "keras": keras.__version__},
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m models.resnet50.export", description=__doc__.splitlines()[0]
    )
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--weights", type=Path, help="a Keras weights file (.h5 / .weights.h5)")
    parser.add_argument("--version", type=int, default=1, help="the version directory's number")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of the random weights")
    args = parser.parse_args(argv)
    if args.version < 0:
        parser.error("--version must be a non-negative integer (TF Serving's version directories)")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TF's C++ start-up chatter off stderr
    try:
        description = export(args.out_dir, version=args.version, weights=args.weights, seed=args.seed)
    except ExportError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(description, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
