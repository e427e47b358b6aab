"""Load shedding: a bounded number of inference requests admitted, the rest refused at once.

Without a bound, every request past what the inference threads can run waits in the executor's
queue, so under overload latency grows without limit and every client times out together. Here a
request holds one of ``threads + queue`` places from before it waits for an inference thread until
its answer is computed; with none free it gets ``Overloaded`` (503 with Retry-After on HTTP,
UNAVAILABLE on gRPC) immediately, and a client or load balancer retries elsewhere or later.
Admitted requests then wait for at most ``queue / threads`` inference times.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager

from runtimes.fastapi import metrics
from runtimes.fastapi.errors import Overloaded


class Admission:
    """At most ``limit`` requests inside at once (thread-safe: REST and gRPC share it)."""

    def __init__(self, model: str, limit: int, retry_after: int):
        self.model = model
        self.limit = limit
        self.retry_after = retry_after
        self._inside = 0
        self._lock = threading.Lock()

    @contextmanager
    def place(self):
        """Holds a place for one request, or raises ``Overloaded`` (counted) when none is free."""
        with self._lock:
            if self._inside >= self.limit:
                metrics.REQUESTS_SHED.labels(self.model).inc()
                raise Overloaded(
                    f"model {self.model!r} is over capacity ({self.limit} requests in progress); "
                    f"retry after {self.retry_after} s",
                    retry_after=self.retry_after,
                )
            self._inside += 1
            metrics.INFERENCE_ADMITTED.labels(self.model).set(self._inside)
        try:
            yield
        finally:
            with self._lock:
                self._inside -= 1
                metrics.INFERENCE_ADMITTED.labels(self.model).set(self._inside)
