"""Finds the handler class, loads the model in the background and runs inference on a bounded pool.

The class is resolved at once (a typo in ``MODEL_HANDLER`` stops the server before it binds), the
weights load in a thread (so ``/health`` answers while a big model loads), and inference runs on
``SERVER_INFERENCE_THREADS`` threads, never on the event loop.
"""

from __future__ import annotations

import asyncio
import enum
import importlib
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from runtimes.fastapi import metrics
from runtimes.fastapi.admission import Admission
from runtimes.fastapi.errors import ModelNotReady
from runtimes.fastapi.model import Model
from runtimes.fastapi.settings import Settings
from runtimes.fastapi.weights_signature import SignatureError, verify_weights

log = logging.getLogger(__name__)
T = TypeVar("T")


class HandlerError(Exception):
    """``MODEL_HANDLER`` does not name an importable ``Model`` subclass."""


class LoadState(enum.Enum):
    LOADING = "loading"
    READY = "ready"
    FAILED = "failed"


def resolve_handler(spec: str) -> type[Model]:
    """Imports ``module:Class`` and checks that it is a ``Model``."""
    module_name, _, class_name = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise HandlerError(f"MODEL_HANDLER={spec}: cannot import {module_name!r}: {error}") from None
    handler = getattr(module, class_name, None)
    if not (isinstance(handler, type) and issubclass(handler, Model)):
        raise HandlerError(f"MODEL_HANDLER={spec}: {class_name!r} is not a runtimes.fastapi.model.Model")
    return handler


class ModelLoader:
    """Owns the one served model: its load lifecycle and the threads inference runs on."""

    def __init__(self, settings: Settings):
        handler = resolve_handler(settings.model_handler)
        self.model: Model = handler(
            settings.model_path,
            name=settings.model_name,
            version=settings.model_version,
            max_image_pixels=settings.server_max_image_pixels,
        )
        self.state = LoadState.LOADING
        self.error: str | None = None
        self._executor = ThreadPoolExecutor(settings.server_inference_threads, thread_name_prefix="inference")
        self.admission = Admission(
            settings.model_name, settings.admitted_requests, settings.server_retry_after_seconds
        )
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Starts loading in a daemon thread (it must not keep a SIGTERM'd server alive)."""
        self._thread = threading.Thread(target=self._load, name="model-load", daemon=True)
        self._thread.start()

    def _load(self) -> None:
        labels = {"model": self.model.name, "version": self.model.version}
        start = time.perf_counter()
        try:
            verify_weights(self.model.model_path, self.model.name)  # before any byte is loaded
            self.model.load()
        except SignatureError as error:
            self.error, self.state = str(error), LoadState.FAILED  # its log line is already written
            return
        except Exception as error:
            log.exception("model %s failed to load from %s", self.model.name, self.model.model_path)
            self.error = f"failed to load: {type(error).__name__}: {error}"
            self.state = LoadState.FAILED
            return
        seconds = time.perf_counter() - start
        metrics.MODEL_LOAD_SECONDS.labels(**labels).set(seconds)
        metrics.MODEL_READY.labels(**labels).set(1)
        self.state = LoadState.READY if self.model.ready else LoadState.FAILED
        if self.state is LoadState.FAILED:
            self.error = "load() returned without marking the model ready"
        stages = "".join(f", {k} {v:.3f} s" for k, v in getattr(self.model, "load_timings", {}).items())
        log.info("model %s %s in %.3f s%s", self.model.name, self.state.value, seconds, stages)

    def wait(self, timeout: float | None = None) -> LoadState:
        """Blocks until loading ends (for in-process callers such as benchmarks)."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self.state

    @property
    def ready(self) -> bool:
        return self.state is LoadState.READY

    def require_ready(self) -> Model:
        if not self.ready:
            raise ModelNotReady(self.model.name, self.error or "still loading")
        return self.model

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Runs ``fn`` on an inference thread if admitted (else ``Overloaded``); records how long
        it queued for one."""
        queued = time.perf_counter()

        def timed() -> T:
            metrics.INFERENCE_QUEUE_SECONDS.labels(self.model.name).observe(time.perf_counter() - queued)
            return fn(*args)

        with self.admission.place():
            return await asyncio.get_running_loop().run_in_executor(self._executor, timed)

    def run_blocking(self, fn: Callable[..., T], *args: Any) -> T:
        """``run`` for a caller on its own thread: the same admission and pool, waited for here."""
        queued = time.perf_counter()

        def timed() -> T:
            metrics.INFERENCE_QUEUE_SECONDS.labels(self.model.name).observe(time.perf_counter() - queued)
            return fn(*args)

        with self.admission.place():
            return self._executor.submit(timed).result()

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
