"""YAML for the platform's data files: like ``tools.yamlio.load_yaml``, but a repeated key is an error.

PyYAML keeps the last of two equal keys without a word, so a model block pasted twice into an
environment file would silently replace the first. Here it is a UserError with both lines.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tools.errors import UserError
from tools.yamlio import load_yaml


class _NoDuplicatesLoader(yaml.SafeLoader):
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


def load_data_file(path: str | Path) -> Any:
    """One YAML document; missing file, bad YAML or a duplicate key is a one-line UserError."""
    # First the repo's own loader, for its messages on missing files and syntax errors; then a second
    # pass over the (small, now known-good) text that only looks for repeated keys.
    data = load_yaml(path)
    try:
        yaml.load(Path(path).read_text(encoding="utf-8"), Loader=_NoDuplicatesLoader)
    except yaml.constructor.ConstructorError as error:
        mark = error.problem_mark
        raise UserError(
            error.problem, file=path, field=f"line {mark.line + 1}, column {mark.column + 1}"
        ) from None
    return data
