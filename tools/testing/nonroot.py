"""Run a command the way the images run it: uid 65532, read-only root, only /tmp writable.

A private mount namespace (``unshare --mount``, needs root): ``/`` bind-remounted read-only, a fresh
tmpfs on /tmp, then privileges dropped with setpriv. ``exec`` at each step keeps the command's PID
the one the caller signals.

The command's interpreter, venv and checkout must be reachable by uid 65532. On a machine where one
of them sits under a directory other users cannot enter (a pyenv Python under /root, mode 700, as
on CI's machines), that directory is covered, inside the namespace only, by a tmpfs holding
bind mounts of just the paths needed, at their own paths. Nothing outside the namespace changes.
"""

from __future__ import annotations

import os
import shlex
import stat
import sys
from pathlib import Path

from tools.oci.debian import NONROOT_UID
from tools.paths import REPO_ROOT


def can_run_as_nonroot() -> bool:
    """Making a mount namespace needs root (CAP_SYS_ADMIN); callers skip, saying so, otherwise."""
    # Only root decides: a missing unshare, setpriv or mount is a missing install (./dev doctor names
    # it), and the test must fail on it rather than skip.
    return os.geteuid() == 0


def closed_ancestor(path: Path) -> Path | None:
    """The outermost directory on the way to ``path`` that other users cannot enter, if any."""
    for directory in [*reversed(path.parents), path]:
        if not directory.stat().st_mode & stat.S_IXOTH:
            return directory
    return None


def needed_paths() -> list[Path]:
    """What the server process reads: the interpreter's prefix, the venv, the checkout."""
    interpreter = Path(os.path.realpath(sys.executable)).parent.parent
    return [interpreter, Path(sys.base_prefix), Path(sys.prefix), REPO_ROOT]


def _expose(paths: list[Path]) -> list[str]:
    """Shell steps that make ``paths`` reachable by every uid inside the namespace."""
    steps: list[str] = []
    by_ancestor: dict[Path, list[Path]] = {}
    for path in paths:
        path = Path(os.path.realpath(path))
        closed = closed_ancestor(path)
        if closed is not None:
            by_ancestor.setdefault(closed, []).append(path)
    for index, (closed, inside) in enumerate(sorted(by_ancestor.items())):
        real = f"/tmp/.real{index}"
        steps += [
            f"mkdir {real}",
            f"mount --bind {shlex.quote(str(closed))} {real}",
            f"mount -t tmpfs -o mode=755 tmpfs {shlex.quote(str(closed))}",
        ]
        for path in sorted(set(inside)):
            relative = path.relative_to(closed)
            if str(relative) == ".":
                raise RuntimeError(f"{path} itself is closed to other users (mode {path.stat().st_mode:o})")
            target = shlex.quote(str(path))
            steps += [f"mkdir -p {target}", f"mount --bind {real}/{shlex.quote(str(relative))} {target}"]
        steps += [f"umount {real}", f"rmdir {real}"]
    return steps


def nonroot_command(command: list[str], paths: list[Path] | None = None) -> list[str]:
    """``command`` wrapped to run as uid 65532 on a read-only root with a fresh /tmp."""
    steps = [
        "mount --bind / /",
        "mount -o remount,bind,ro /",
        "mount -t tmpfs -o mode=1777 tmpfs /tmp",
        *_expose(needed_paths() if paths is None else paths),
        f'exec setpriv --reuid {NONROOT_UID} --regid {NONROOT_UID} --clear-groups --inh-caps=-all "$@"',
    ]
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", " && ".join(steps), "sh", *command]
