"""REST client for resnet50 on TF Serving: image files in, top-k ImageNet classes out.

``build_request`` turns image files into the body of ``POST /v1/models/resnet50:predict`` for the
``serving_default`` signature (see ``export.py``): each image is decoded, turned upright (EXIF),
converted to RGB, its shorter side resized to 256 and the centre 224x224 cropped (the usual
ImageNet evaluation crop), then sent as uint8 pixels in the row ("instances") format.
``parse_response`` reads ``{"predictions": ...}`` back into the k best classes per image.

    python -m models.resnet50.client IMAGE... [--url http://127.0.0.1:8501] [--top-k 5] [--labels F]
        [--check-signature]   # first compare GET /v1/models/resnet50/metadata with what it sends

Only ``predict`` and ``check_deployed`` touch the network (httpx, imported there: the tf venv's
tests use the rest).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from runtimes.tfserving.rest import error_message, metadata_url, predict_url
from tools.errors import UserError

MODEL = "resnet50"
SIGNATURE = "serving_default"
INPUT = "images"
OUTPUT = "probabilities"
IMAGE_SIZE = 224
RESIZE_SHORTER_TO = 256
NUM_CLASSES = 1000
# Each image is 150,528 JSON numbers (224*224*3): keep batches small.
MAX_BATCH = 32


# What this client sends and reads, as TF Serving's metadata JSON spells it (dtype, dims).
EXPECTED_SIGNATURE = {
    "inputs": {INPUT: ("DT_UINT8", [-1, IMAGE_SIZE, IMAGE_SIZE, 3])},
    "outputs": {OUTPUT: ("DT_FLOAT", [-1, NUM_CLASSES])},
}


@dataclass(frozen=True)
class TopClass:
    index: int
    score: float
    label: str | None = None


def load_image(path: str | Path) -> np.ndarray:
    """One image file as uint8 [224, 224, 3] RGB, resized and centre-cropped."""
    path = Path(path)
    try:
        with Image.open(path) as image:
            image = ImageOps.exif_transpose(image).convert("RGB")
    except FileNotFoundError:
        raise UserError("image file not found", file=path) from None
    except Image.DecompressionBombError:
        raise UserError(f"too many pixels (Pillow's limit is {Image.MAX_IMAGE_PIXELS})", file=path) from None
    except (UnidentifiedImageError, OSError) as error:
        raise UserError(f"not an image Pillow can read ({error.__class__.__name__})", file=path) from None
    scale = RESIZE_SHORTER_TO / min(image.size)
    size = (max(IMAGE_SIZE, round(image.width * scale)), max(IMAGE_SIZE, round(image.height * scale)))
    image = image.resize(size, Image.Resampling.BILINEAR)
    left, top = (size[0] - IMAGE_SIZE) // 2, (size[1] - IMAGE_SIZE) // 2
    image = image.crop((left, top, left + IMAGE_SIZE, top + IMAGE_SIZE))
    return np.asarray(image, dtype=np.uint8)


def build_request(paths: Sequence[str | Path]) -> dict:
    """The predict body for ``paths``: one instance per image, named after the signature's input."""
    if not paths:
        raise UserError("give at least one image file")
    if len(paths) > MAX_BATCH:
        raise UserError(f"at most {MAX_BATCH} images per request, got {len(paths)}")
    instances = [{INPUT: load_image(path).tolist()} for path in paths]
    return {"signature_name": SIGNATURE, "instances": instances}


def parse_response(body: object, *, k: int = 5, labels: Sequence[str] | None = None) -> list[list[TopClass]]:
    """The k most probable classes of each image, best first, from a predict answer."""
    if (message := error_message(body)) is not None:
        raise UserError(f"TF Serving refused the request: {message}")
    if not isinstance(body, dict) or not isinstance(body.get("predictions"), list):
        raise UserError(f"not a TF Serving predict answer (no 'predictions' list): {str(body)[:200]}")
    if not 1 <= k <= NUM_CLASSES:
        raise UserError(f"k must be between 1 and {NUM_CLASSES}, got {k}", field="top_k")
    if labels is not None and len(labels) != NUM_CLASSES:
        raise UserError(f"expected {NUM_CLASSES} labels, got {len(labels)}", field="labels")
    results = []
    for prediction in body["predictions"]:
        # With one output tensor TF Serving sends its value; with several, a dict by output name.
        scores = prediction.get(OUTPUT) if isinstance(prediction, dict) else prediction
        try:
            scores = np.asarray(scores, dtype=np.float64)
        except (TypeError, ValueError):
            scores = np.asarray(None)  # reported below as a bad shape
        if scores.shape != (NUM_CLASSES,):
            raise UserError(f"expected {NUM_CLASSES} class scores per image, got shape {scores.shape}")
        best = np.argsort(-scores, kind="stable")[:k]
        results.append(
            [TopClass(int(i), float(scores[i]), labels[i] if labels is not None else None) for i in best]
        )
    return results


def read_labels(path: str | Path) -> list[str]:
    """A labels file: one class name per line, in the model's class order."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise UserError(f"cannot read labels: {error.strerror}", file=path) from None
    labels = [line.strip() for line in lines if line.strip()]
    if len(labels) != NUM_CLASSES:
        raise UserError(f"expected {NUM_CLASSES} non-empty lines, got {len(labels)}", file=path)
    return labels


def signature_problems(metadata: object) -> list[str]:
    """How a ``GET /v1/models/resnet50/metadata`` answer differs from what this client sends and reads.

    Empty when they match: the input this client fills is the signature's only input, and both
    tensors have the dtype and shape the client assumes.
    """
    try:
        signature = metadata["metadata"]["signature_def"]["signature_def"][SIGNATURE]
    except (KeyError, TypeError):
        return [f"the model metadata has no {SIGNATURE!r} signature"]
    problems = []
    for side, expected in EXPECTED_SIGNATURE.items():
        tensors = signature.get(side) or {}
        if side == "inputs" and set(tensors) - set(expected):
            problems.append(f"inputs: the signature also needs {sorted(set(tensors) - set(expected))}")
        for name, (dtype, shape) in expected.items():
            if name not in tensors:
                problems.append(f"{side}: no {name!r} (the signature has {sorted(tensors)})")
                continue
            tensor = tensors[name]
            if tensor.get("dtype") != dtype:
                problems.append(f"{side}.{name}: dtype {tensor.get('dtype')}, expected {dtype}")
            dims = [int(dim.get("size", 0)) for dim in (tensor.get("tensor_shape") or {}).get("dim", [])]
            if dims != shape:
                problems.append(f"{side}.{name}: shape {dims}, expected {shape}")
    return problems


def check_deployed(base_url: str, *, timeout: float = 10.0) -> None:
    """Fetches the served model's metadata; raises UserError if it does not match this client."""
    import httpx

    url = metadata_url(base_url, MODEL)
    try:
        response = httpx.get(url, timeout=timeout)
        body = response.json()
    except httpx.HTTPError as error:
        raise UserError(f"cannot reach TF Serving at {url}: {error}") from None
    except ValueError:
        raise UserError(
            f"{url} answered {response.status_code} without JSON: {response.text[:200]}"
        ) from None
    if (message := error_message(body)) is not None:
        raise UserError(f"{url}: {message}")
    if problems := signature_problems(body):
        raise UserError(f"the served model does not match this client: {'; '.join(problems)}", file=url)


def predict(
    base_url: str,
    paths: Sequence[str | Path],
    *,
    k: int = 5,
    labels: Sequence[str] | None = None,
    timeout: float = 30.0,
) -> list[list[TopClass]]:
    """Sends the images to TF Serving's REST API and returns the top-k classes of each."""
    import httpx

    url = predict_url(base_url, MODEL)
    try:
        response = httpx.post(url, json=build_request(paths), timeout=timeout)
    except httpx.HTTPError as error:
        raise UserError(f"cannot reach TF Serving at {url}: {error}") from None
    try:
        body = response.json()
    except ValueError:
        raise UserError(
            f"{url} answered {response.status_code} without JSON: {response.text[:200]}"
        ) from None
    if response.status_code != 200 and error_message(body) is None:
        raise UserError(f"{url} answered {response.status_code}: {str(body)[:200]}")
    return parse_response(body, k=k, labels=labels)


def predict_once(url: str, input: str | None, *, raw: bool = False) -> str:
    """The contract ``servectl predict`` calls (model.yaml's ``client``): ``input`` is an image."""
    if not input:
        raise UserError("resnet50 needs --input IMAGE")
    (top,) = predict(url, [input])
    # The same JSON line as ``python -m models.resnet50.client`` prints; indented with --json.
    return json.dumps({"image": input, "top": [asdict(entry) for entry in top]}, indent=2 if raw else None)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m models.resnet50.client", description=__doc__.splitlines()[0]
    )
    parser.add_argument("images", nargs="+", type=Path)
    parser.add_argument("--url", default="http://127.0.0.1:8501", help="TF Serving's REST address")
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument("--labels", type=Path, help="class names, one per line (1000 lines)")
    parser.add_argument("--check-signature", action="store_true", help="compare the served signature first")
    args = parser.parse_args(argv)
    try:
        labels = read_labels(args.labels) if args.labels else None
        if args.check_signature:
            check_deployed(args.url)
        results = predict(args.url, args.images, k=args.top_k, labels=labels)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    for path, top in zip(args.images, results, strict=True):
        print(json.dumps({"image": str(path), "top": [asdict(entry) for entry in top]}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
