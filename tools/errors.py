"""The one error type users see.

Anything the user can fix (a bad file, an unknown model, a registry that is down) is raised as a
``UserError``. The CLI prints it as one line naming the file and field, and exits with code 2;
everything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from pathlib import Path


class UserError(Exception):
    """A problem with the user's input or environment, reported without a traceback.

    Args:
        message: what is wrong and, where it helps, what to do about it.
        file: the file the problem is in, if any.
        field: the dotted path of the field inside that file, if any (``models.yolo.replicas``).
    """

    exit_code = 2

    def __init__(self, message: str, *, file: str | Path | None = None, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.file = str(file) if file is not None else None
        self.field = field

    def __str__(self) -> str:
        where = ": ".join(part for part in (self.file, self.field) if part)
        return f"{where}: {self.message}" if where else self.message
