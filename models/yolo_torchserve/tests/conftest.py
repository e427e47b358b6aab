"""Fixtures: yolo.mar (built once, cached), sample images, and one real TorchServe serving it."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.yolo.tests.conftest import weights  # noqa: F401
from runtimes.fastapi.tests.conftest import bomb_png, bus_jpg, log_dir  # noqa: F401
from runtimes.torchserve.local import TorchServeProcess
from tools.artifacts import build_artifacts

ARCHIVE = "//models/yolo_torchserve:archive"


@pytest.fixture(scope="session")
def archive_dir() -> Path:
    """yolo.mar and archive.json, from ``python -m tools artifacts`` (cached)."""
    return build_artifacts(ARCHIVE)


@pytest.fixture(scope="module")
def torchserve(archive_dir, tmp_path_factory) -> TorchServeProcess:
    """The real launcher and TorchServe with yolo loaded, model API on so tests can register."""
    work = tmp_path_factory.mktemp("torchserve")
    with TorchServeProcess(
        archive_dir, ["yolo=yolo.mar"], work, extra_args=("--enable-model-api",)
    ) as server:
        yield server
