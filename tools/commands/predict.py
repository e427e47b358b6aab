"""``servectl predict``: send a real input to a deployed model and print what it answers.

yolo gets an image on ``POST /predict`` (default: bus.jpg, which ultralytics ships), gpt2 a prompt
over Triton's HTTP protocol (models/gpt2/client.py), resnet50 an image on TF Serving's REST
predict (models/resnet50/client.py). On `local` the endpoint comes from the running pod; on a
cluster pass ``--url`` (a port-forward or an ingress).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tools.commands import _deploy_args
from tools.errors import UserError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    _deploy_args.add_common(parser)
    parser.add_argument("--input", help="an image file (yolo, resnet50) or a prompt (gpt2)")
    parser.add_argument("--url", help="the model's base URL, instead of asking the environment")
    parser.add_argument("--json", action="store_true", help="print the raw JSON answer")


def default_image() -> Path:
    """bus.jpg from the ultralytics package's assets: a real photo with four people and a bus."""
    import importlib.util

    spec = importlib.util.find_spec("ultralytics")
    if spec is None or not spec.origin:
        raise UserError("no --input given and ultralytics (which ships bus.jpg) is not installed")
    return Path(spec.origin).parent / "assets" / "bus.jpg"


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise UserError(f"cannot read the input: {error.strerror}", file=path) from None


def predict_yolo(url: str, image: Path, raw: bool, *, torchserve: bool = False) -> str:
    """yolo's answer, from the fastapi runtime's ``/predict`` or TorchServe's ``/predictions/yolo``
    (models/yolo_torchserve: the same handler code, so the same JSON)."""
    import httpx

    route = "/predictions/yolo" if torchserve else "/predict"
    data = _read(image)
    upload = (
        {"content": data, "headers": {"Content-Type": "image/jpeg"}}
        if torchserve
        else {"files": {"file": (image.name, data, "image/jpeg")}}
    )
    try:
        response = httpx.post(f"{url}{route}", timeout=60, **upload)
    except httpx.HTTPError as error:
        raise UserError(f"{url}{route}: {error}") from None
    body = response.json()
    if response.status_code != 200:
        raise UserError(f"{url}{route} answered {response.status_code}: {body.get('error', body)}")
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


def predict_gpt2(url: str, prompt: str) -> str:
    from models.gpt2 import client

    try:
        (text,) = client.generate(url, [prompt], max_new_tokens=16)
    except Exception as error:  # tritonclient raises its own types for every server answer
        raise UserError(f"{url}: {error}") from None
    # The repo builds a small seeded, untrained GPT-2 (no hub downloads): its words are noise
    # until real GPT-2 weights are dropped in (models/gpt2/artifacts.py); the plumbing is real.
    return f"prompt:    {prompt}\ngenerated: {text!r}  (untrained seeded weights: expect noise)"


def run(args: argparse.Namespace) -> int:
    from tools import deploy

    target = _deploy_args.load(args)
    url = (args.url or deploy.endpoint(target)).rstrip("/")
    if args.model in ("yolo", "yolo-torchserve"):
        image = Path(args.input) if args.input else default_image()
        print(predict_yolo(url, image, args.json, torchserve=args.model == "yolo-torchserve"))
    elif args.model == "gpt2":
        print(predict_gpt2(url, args.input or "The platform serves models"))
    elif args.model == "resnet50":
        from models.resnet50 import client

        if not args.input:
            raise UserError("resnet50 needs --input IMAGE")
        return client.main([args.input, "--url", url])
    else:
        raise UserError(f"no predict client for {args.model!r}")
    return 0
