"""How many CPUs this process may really use: the affinity mask, capped by the cgroup CPU quota.

``os.cpu_count()`` is the node's count: in a pod limited to 2 CPUs on a 64-core node, onnxruntime
or torch would start 64 threads and spend the quota being throttled. Handlers size their
thread pools with ``cpu_budget()`` instead.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP = Path("/sys/fs/cgroup")


def _quota(cgroup: Path) -> float | None:
    """CPUs allowed by the quota (cgroup v2 ``cpu.max`` or v1 ``cfs_quota_us``), None if unlimited."""
    try:
        quota, period = (cgroup / "cpu.max").read_text().split()[:2]  # v2: "200000 100000" or "max 100000"
    except (OSError, ValueError):
        try:
            quota = (cgroup / "cpu" / "cpu.cfs_quota_us").read_text().strip()  # v1: -1 when unlimited
            period = (cgroup / "cpu" / "cpu.cfs_period_us").read_text().strip()
        except OSError:
            return None
    if quota in ("max", "-1") or int(period) <= 0:
        return None
    return int(quota) / int(period)


def cpu_budget(cgroup: Path = CGROUP) -> int:
    available = len(os.sched_getaffinity(0))
    quota = _quota(cgroup)
    return max(1, min(available, math.ceil(quota))) if quota else available
