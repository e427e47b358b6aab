"""What ``build``/``push`` accept on the command line: an image label or a model name."""

from __future__ import annotations

from tools.errors import UserError
from tools.k8s.schema.specs import model_dir
from tools.labels import Label
from tools.yamlio import load_yaml


def image_label(text: str) -> Label:
    """``//models/yolo:image`` as is; ``yolo`` -> the ``image`` field of models/yolo/model.yaml."""
    if text.startswith(("//", "@", ":")):
        return Label.parse(text)
    model_file = model_dir(text) / "model.yaml"
    if not model_file.exists():
        raise UserError(f"{text!r} is neither an image label (//pkg:name) nor a model under models/")
    data = load_yaml(model_file) or {}
    if not isinstance(data.get("image"), str):
        raise UserError("missing image label", file=model_file, field="image")
    return Label.parse(data["image"])
