"""The attributes of a ``py_image`` BUILD call, validated (the same names ``defs.bzl`` takes)."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from tools.bazel.build_file import Target
from tools.errors import UserError
from tools.paths import REPO_ROOT
from tools.yamlio import pydantic_error

_PORT = re.compile(r"^\d{1,5}(/(tcp|udp))?$")
_USER = re.compile(r"^[0-9]+(:[0-9]+)?$")


class ImageSpec(BaseModel):
    """One image: see ``tools/oci/defs.bzl`` ``py_image`` for what each field means."""

    model_config = ConfigDict(extra="forbid")

    name: str
    base: str
    srcs: list[str] = []
    deps: list[str] = []
    main: str | None = None
    requirements: str | None = None
    artifacts: dict[str, str] = {}
    artifacts_exclude: list[str] = []
    files: dict[str, str] = {}
    entrypoint: list[str] = []
    cmd: list[str] = []
    env: dict[str, str] = {}
    exposed_ports: list[str] = []
    user: str = "65532:65532"
    workdir: str = "/app"
    labels: dict[str, str] = {}
    repository: str | None = None
    # Bazel-only attributes the Python builder accepts and ignores.
    layer_groups: dict[str, str] = {}
    tags: list[str] = []
    visibility: list[str] = []

    @field_validator("exposed_ports")
    @classmethod
    def _ports(cls, ports: list[str]) -> list[str]:
        for port in ports:
            if not _PORT.match(port):
                raise ValueError(f"{port!r} is not PORT or PORT/tcp|udp")
        return ports

    @field_validator("user")
    @classmethod
    def _numeric_user(cls, user: str) -> str:
        # Numeric so Kubernetes runAsNonRoot can check it without reading /etc/passwd.
        if not _USER.match(user) or user.split(":")[0] == "0":
            raise ValueError(f"{user!r} must be a numeric non-root UID[:GID], e.g. 65532:65532")
        return user

    @field_validator("artifacts", "files")
    @classmethod
    def _absolute_destinations(cls, mapping: dict[str, str]) -> dict[str, str]:
        for path in mapping:
            if not path.startswith("/") or ".." in path.split("/") or path == "/":
                raise ValueError(f"destination {path!r} must be an absolute path without '..'")
        return mapping


def image_spec(target: Target) -> ImageSpec:
    build_file = REPO_ROOT / target.package / "BUILD.bazel"
    if target.kind != "py_image":
        raise UserError(f"{target.label} is a {target.kind}, not a py_image", file=build_file)
    try:
        return ImageSpec.model_validate(target.attrs)
    except ValidationError as error:
        raise pydantic_error(error, file=build_file) from None
