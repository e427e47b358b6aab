"""Reading the repo's YAML files: one parse each, with libyaml where available, errors that name the
file and the place, and a repeated key is an error.

PyYAML keeps the last of two equal keys without a word, so a model block pasted twice into an
environment file would silently replace the first. Here it is a UserError with both lines. The
check runs while the one parse builds the data (a constructor hook), on PyYAML's C parser when
PyYAML was built with libyaml (``yaml.__with_libyaml__``), else on its pure-Python one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tools.errors import UserError

# CSafeLoader: libyaml's parser with the same safe constructor and resolver as SafeLoader.
_BASE = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _NoDuplicatesLoader(_BASE):
    def construct_mapping(self, node, deep=False):
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (first on line {seen[key]})", key_node.start_mark
                )
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def load_yaml(path: str | Path) -> Any:
    """One YAML document; a missing file, bad YAML or a repeated key is a one-line UserError."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError("file not found", file=path) from None
    except OSError as error:
        raise UserError(f"cannot read: {error.strerror}", file=path) from None
    except UnicodeDecodeError as error:
        raise UserError(f"not UTF-8 text: {error.reason}", file=path) from None
    try:
        return yaml.load(text, Loader=_NoDuplicatesLoader)
    except yaml.constructor.ConstructorError as error:
        mark = error.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else None
        if error.problem and error.problem.startswith("duplicate key"):
            raise UserError(error.problem, file=path, field=where) from None
        raise UserError(f"invalid YAML: {error.problem}", file=path, field=where) from None
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
