"""The triton runtime's two image locks differ only in torch and what CUDA torch brings: the CPU and
GPU images of a model serve with the same transformers, tokenizers, numpy and tritonserver."""

from __future__ import annotations

import re

from tools.paths import REPO_ROOT

LOCKS = REPO_ROOT / "third_party" / "python"
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", re.MULTILINE)
# What PyPI's CUDA torch adds: the CUDA runtime libraries, their Python bindings, OpenAI's triton.
CUDA_ONLY = re.compile(r"nvidia-.*|cuda-.*|triton")


def pins(name: str) -> dict[str, str]:
    return dict(_PIN.findall((LOCKS / name).read_text(encoding="utf-8")))


def differences(cpu: dict[str, str], gpu: dict[str, str]) -> list[str]:
    """Every package pinned differently (or only on one side) other than torch and the CUDA extras."""
    names = (set(cpu) | set(gpu)) - {"torch"}
    return sorted(
        n for n in names if cpu.get(n) != gpu.get(n) and not (n not in cpu and CUDA_ONLY.fullmatch(n))
    )


def test_the_gpu_lock_differs_from_the_cpu_lock_only_in_torch_and_cuda():
    cpu, gpu = pins("requirements_triton.lock"), pins("requirements_triton_gpu.lock")
    assert cpu["torch"].endswith("+cpu") and not gpu["torch"].endswith("+cpu")
    assert any(n.startswith("nvidia-cudnn") for n in gpu) and not any(n.startswith("nvidia-cu") for n in cpu)
    assert differences(cpu, gpu) == []


def test_a_drifted_pin_is_reported():
    cpu = {"torch": "2.13.0+cpu", "numpy": "1.26.4"}
    assert differences(cpu, {"torch": "2.14.1", "numpy": "1.26.4", "nvidia-cublas": "13"}) == []
    assert differences(cpu, {"torch": "2.14.1", "numpy": "2.0.0"}) == ["numpy"]
    assert differences(cpu, {"torch": "2.14.1"}) == ["numpy"]
