"""A progress display for long builds, on stderr so stdout stays machine-readable.

Each step prints one line when it ends (``[3/6] pip packages   built   41.2 MB   12.4 s``); on a
terminal the current step is shown while it runs, so a minute of pip or gzip is never silent.
"""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager


class Progress:
    def __init__(self, title: str, total: int, stream=None):
        self.title = title
        self.total = total
        self.done = 0
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.started = time.monotonic()

    @contextmanager
    def step(self, name: str):
        """Times one step; the caller sets ``result['status']`` and ``result['bytes']``."""
        self.done += 1
        prefix = f"{self.title} [{self.done}/{self.total}] {name:<22}"
        if self.tty:
            self.stream.write(f"{prefix} ...\r")
            self.stream.flush()
        result = {"status": "done", "bytes": None}
        start = time.monotonic()
        yield result
        size = f"{result['bytes'] / 1e6:9.1f} MB" if result["bytes"] is not None else " " * 12
        self.stream.write(f"{prefix} {result['status']:<7} {size} {time.monotonic() - start:7.1f} s\n")
        self.stream.flush()

    def finish(self, message: str) -> None:
        self.stream.write(f"{self.title}: {message} ({time.monotonic() - self.started:.1f} s)\n")
        self.stream.flush()
