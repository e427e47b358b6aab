"""What ``build``/``push`` accept on the command line: an image label or a model name."""

from __future__ import annotations

from tools.errors import UserError
from tools.k8s.schema.specs import model_dir, read_model
from tools.labels import Label


def image_label(text: str) -> Label:
    """``//models/yolo:image`` as is; a model name -> its CPU image (model.yaml ``images.cpu``), or
    its only variant; name another variant by its label (``//models/gpt2:image_gpu``)."""
    if text.startswith(("//", "@", ":")):
        return Label.parse(text)
    if not (model_dir(text) / "model.yaml").exists():
        raise UserError(f"{text!r} is neither an image label (//pkg:name) nor a model under models/")
    variants = read_model(text).images.labels()
    return variants.get("cpu") or variants["gpu"]
