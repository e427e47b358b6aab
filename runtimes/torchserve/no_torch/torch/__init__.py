"""Not PyTorch: the one name TorchServe 0.12's Python worker needs from ``torch`` when no model uses it.

TorchServe's worker imports ``torch`` at the top of ``ts/protocol/otf_message_handler.py`` only to
check ``isinstance(value, torch.Tensor)`` (and then ``torch.save`` it) when a handler returns a
tensor; nothing else in the worker path touches torch. A handler that runs onnxruntime and returns
JSON never reaches that branch, so the serving image leaves torch out (the PyPI wheel brings 4+ GB
of CUDA libraries) and puts this directory on the worker's PYTHONPATH instead
(runtimes/torchserve/launcher.py, only when no real torch is installed, or when told to). Upstream
tracks making torch optional in pytorch/serve#3350, which suggests this same workaround.

Anything else from here fails loudly, naming this file, instead of misbehaving.
"""

__version__ = "0+absent"
NOT_TORCH = True  # lets tests and tools tell this module from the real one


class Tensor:
    """No object is an instance of this, so TorchServe's tensor branch is never taken."""

    def __init__(self, *args, **kwargs):
        raise RuntimeError(_MESSAGE)


def save(*args, **kwargs):
    raise RuntimeError(_MESSAGE)


def __getattr__(name: str):
    raise AttributeError(f"torch.{name}: {_MESSAGE}")


_MESSAGE = (
    "PyTorch is not installed in this image; runtimes/torchserve/no_torch stands in for the worker's "
    "`import torch`. Handlers on this runtime must return JSON-able values or bytes, not tensors; a "
    "model that needs torch needs an image with torch."
)
