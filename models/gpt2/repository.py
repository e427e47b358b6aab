"""Assembles a servable Triton model repository for gpt2 from its sources and weights artifact.

The source tree ``models/gpt2/model_repository/`` holds the config *template* and ``1/model.py``;
tritonserver needs a rendered ``config.pbtxt`` and the weights beside the code. ``assemble`` writes
that layout, the same one the image carries under ``/models``::

    <dest>/gpt2/config.pbtxt          rendered for KIND_CPU or KIND_GPU (deploy_config)
    <dest>/gpt2/1/model.py
    <dest>/gpt2/1/weights/            the //models/gpt2:weights artifact (save_pretrained files)

Tests and the benchmark call it with ``link_weights=True`` (a symlink, no 13 MB copy).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from runtimes.triton.deploy_config import config_files
from tools.errors import UserError

MODEL_NAME = "gpt2"
SOURCE_DIR = Path(__file__).resolve().parent / "model_repository" / MODEL_NAME


def assemble(dest: Path, weights_dir: Path, *, gpu: bool = False, link_weights: bool = False) -> Path:
    """Writes the repository under ``dest`` (which may exist) and returns ``dest``."""
    if not (weights_dir / "config.json").is_file():
        raise UserError(
            f"{weights_dir} holds no save_pretrained weights; build them with "
            "`python -m tools artifacts //models/gpt2:weights`"
        )
    model_dir = dest / MODEL_NAME
    version_dir = model_dir / "1"
    version_dir.mkdir(parents=True, exist_ok=True)
    for name, text in config_files(SOURCE_DIR, MODEL_NAME, gpu).items():
        (model_dir / name).write_text(text, encoding="utf-8")
    shutil.copy2(SOURCE_DIR / "1" / "model.py", version_dir / "model.py")
    weights_link = version_dir / "weights"
    if weights_link.is_symlink() or weights_link.is_file():
        weights_link.unlink()
    elif weights_link.is_dir():
        shutil.rmtree(weights_link)
    if link_weights:
        weights_link.symlink_to(weights_dir.resolve(), target_is_directory=True)
    else:
        shutil.copytree(weights_dir, weights_link, ignore=shutil.ignore_patterns(".key"))
    return dest


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python -m models.gpt2.repository DEST WEIGHTS_DIR")
    print(assemble(Path(sys.argv[1]), Path(sys.argv[2])))
