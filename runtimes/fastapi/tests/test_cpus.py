"""cpu_budget reads the cgroup quota, so thread pools fit a pod's CPU limit, not the node."""

from __future__ import annotations

import os
import sys

import pytest

from runtimes.fastapi.cpus import cpu_budget

AVAILABLE = len(os.sched_getaffinity(0))


def cgroup_v2(tmp_path, cpu_max: str):
    (tmp_path / "cpu.max").write_text(cpu_max + "\n")
    return tmp_path


def cgroup_v1(tmp_path, quota: str, period: str = "100000"):
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text(quota + "\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text(period + "\n")
    return tmp_path


def test_v2_quota_caps_the_budget(tmp_path):
    assert cpu_budget(cgroup_v2(tmp_path, "50000 100000")) == 1  # half a CPU still gets one thread


def test_v1_quota(tmp_path):
    assert cpu_budget(cgroup_v1(tmp_path, "100000")) == 1


@pytest.mark.parametrize(
    "make", [lambda p: cgroup_v2(p, "max 100000"), lambda p: cgroup_v1(p, "-1"), lambda p: p]
)
def test_unlimited_means_the_affinity_mask(tmp_path, make):
    assert cpu_budget(make(tmp_path)) == AVAILABLE


def test_a_quota_above_the_mask_does_not_raise_it(tmp_path):
    assert cpu_budget(cgroup_v2(tmp_path, f"{(AVAILABLE + 8) * 100000} 100000")) == AVAILABLE


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, *sys.argv[1:]]))
