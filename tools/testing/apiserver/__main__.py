"""Runs the test API server by hand: `python -m tools.testing.apiserver [WORKDIR]`; Ctrl-C stops it."""

from __future__ import annotations

import sys
import tempfile
import threading
from pathlib import Path

from tools.testing.apiserver import ApiServerUnavailable, running_apiserver


def main() -> int:
    workdir = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="cf-apiserver-"))
    try:
        with running_apiserver(workdir) as server:
            print(f"kube-apiserver ready at {server.url}\nexport KUBECONFIG={server.kubeconfig}", flush=True)
            threading.Event().wait()  # until Ctrl-C; leaving the with block stops both processes
    except ApiServerUnavailable as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
