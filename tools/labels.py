"""Bazel labels, the names every tool in this repo uses for targets and files."""

from __future__ import annotations

import re
from dataclasses import dataclass

from tools.errors import UserError

_LABEL = re.compile(r"^(?:@@?(?P<repo>[\w.~+-]*))?//(?P<package>[\w./-]*)(?::(?P<name>[\w./+=,@~-]+))?$")


@dataclass(frozen=True, order=True)
class Label:
    package: str
    name: str
    repo: str = ""

    @classmethod
    def parse(cls, text: str, *, package: str | None = None) -> Label:
        """Parses ``//pkg:name``, ``//pkg`` (name = last path part) or, given ``package``, ``:name``."""
        if text.startswith(":") and package is not None:
            text = f"//{package}{text}"
        elif package is not None and not text.startswith(("//", "@")):
            text = f"//{package}:{text}"
        match = _LABEL.match(text)
        if not match:
            raise UserError(f"not a Bazel label: {text!r} (expected //package:name)")
        pkg = match["package"].rstrip("/")
        name = match["name"] or pkg.rsplit("/", 1)[-1]
        return cls(package=pkg, name=name, repo=match["repo"] or "")

    def __str__(self) -> str:
        prefix = f"@{self.repo}" if self.repo else ""
        return f"{prefix}//{self.package}:{self.name}"


def image_repository(label: Label) -> str:
    """The repository an image target is pushed to under a registry: ``models/yolo/image``.

    Named after the label, as rules_gitops does, so every image has one obvious, unique home.
    """
    return f"{label.package}/{label.name}"
