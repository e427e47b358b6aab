"""Reading repo YAML files with errors that name the file and the place."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tools.errors import UserError


def load_yaml(path: str | Path) -> Any:
    """Loads one YAML document; a missing file or bad YAML is a one-line UserError."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError("file not found", file=path) from None
    except OSError as error:
        raise UserError(f"cannot read: {error.strerror}", file=path) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else None
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise UserError(f"invalid YAML: {problem}", file=path, field=where) from None


def pydantic_error(error, file: str | Path) -> UserError:
    """Turns a pydantic ValidationError into a UserError naming the first bad field."""
    first = error.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or None
    return UserError(first["msg"], file=file, field=field)
