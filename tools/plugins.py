"""Loading the plug-ins models and runtimes declare in their YAML, by dotted module path.

tools never imports a model or a runtime by name: ``runtime.yaml`` names its config hook
(``config.module``) and ``model.yaml`` its client (``client``); this module imports the one named
and returns the function the contract asks for, or raises a UserError naming the file and field.
The contracts themselves are in docs/ARCHITECTURE.md ("Plug-in contracts").
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path

from tools.errors import UserError


def load_hook(module: str, function: str, *, file: str | Path, field: str, signature: str) -> Callable:
    """``module.function``; a missing module or function is a UserError naming ``file``/``field``.

    ``signature`` is the contract as text (``config_files(model_dir, model_name, gpu)``), for the
    error message. An ImportError raised inside an existing module is a bug and propagates.
    """
    try:
        loaded = importlib.import_module(module)
    except ModuleNotFoundError as error:
        if error.name and module.startswith(error.name):
            raise UserError(f"plug-in module {module!r} does not exist", file=file, field=field) from None
        raise
    hook = getattr(loaded, function, None)
    if not callable(hook):
        raise UserError(f"{module} has no {signature}", file=file, field=field)
    return hook
