"""A client for yolo on the fastapi runtime: one image in, the detections out.

    python -m models.yolo.client [IMAGE] [--url http://127.0.0.1:8000] [--json]

Sends the image to ``POST /predict`` (multipart ``file``); without an image, bus.jpg from the
ultralytics package's assets (a real photo with four people and a bus). ``predict_once`` is the
contract ``servectl predict`` calls (model.yaml's ``client``).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

from tools.errors import UserError

DEFAULT_URL = "http://127.0.0.1:8000"


def default_image() -> Path:
    """bus.jpg from the ultralytics package's assets."""
    spec = importlib.util.find_spec("ultralytics")
    if spec is None or not spec.origin:
        raise UserError("no input image given and ultralytics (which ships bus.jpg) is not installed")
    return Path(spec.origin).parent / "assets" / "bus.jpg"


def detect(
    url: str, image: Path, *, route: str = "/predict", multipart: bool = True, timeout: float = 60
) -> dict:
    """The server's JSON answer for ``image``; a refused request or a non-200 answer is a UserError.

    ``route``/``multipart``: the fastapi runtime takes a multipart ``file`` on /predict; TorchServe
    (models/yolo_torchserve, the same handler code) takes the raw bytes on /predictions/yolo.
    """
    import httpx

    try:
        data = image.read_bytes()
    except OSError as error:
        raise UserError(f"cannot read the input: {error.strerror}", file=image) from None
    upload = (
        {"files": {"file": (image.name, data, "image/jpeg")}}
        if multipart
        else {"content": data, "headers": {"Content-Type": "image/jpeg"}}
    )
    try:
        response = httpx.post(f"{url}{route}", timeout=timeout, **upload)
    except httpx.HTTPError as error:
        raise UserError(f"{url}{route}: {error}") from None
    try:
        body = response.json()
    except ValueError:
        raise UserError(f"{url}{route} answered {response.status_code} without JSON") from None
    if response.status_code != 200:
        raise UserError(f"{url}{route} answered {response.status_code}: {body.get('error', body)}")
    return body


def predict_once(url: str, input: str | None, *, raw: bool = False, **route) -> str:
    """The contract ``servectl predict`` calls: ``input`` is an image path (None: bus.jpg)."""
    image = Path(input) if input else default_image()
    body = detect(url.rstrip("/"), image, **route)
    if raw:
        return json.dumps(body, indent=2)
    lines = [
        f"{body['model_name']} v{body['model_version']}: {len(body['detections'])} detections "
        f"in {image.name} ({body['inference_ms']:.1f} ms)"
    ]
    for det in body["detections"]:
        box = ", ".join(f"{v:.0f}" for v in det["box"])
        lines.append(f"  {det['class_name']:<12} {det['confidence']:.2f}  box [{box}]")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m models.yolo.client", description=__doc__.splitlines()[0])
    parser.add_argument("image", nargs="?", help="an image file (default: bus.jpg)")
    parser.add_argument("--url", default=DEFAULT_URL, help="the server's base URL")
    parser.add_argument("--json", action="store_true", help="print the raw JSON answer")
    args = parser.parse_args(argv)
    try:
        print(predict_once(args.url, args.image, raw=args.json))
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
