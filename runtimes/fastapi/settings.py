"""Server settings, read from environment variables (the manifests and the image set these names).

pydantic-settings matches each field to the upper-cased variable of the same name: ``model_path``
comes from ``MODEL_PATH``, ``server_port`` from ``SERVER_PORT``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    # protected_namespaces=(): the contract's names start with "model_", which pydantic reserves by default.
    model_config = SettingsConfigDict(protected_namespaces=(), extra="ignore")

    model_name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    model_version: str = "1"
    model_handler: str = Field(pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$", description="module:Class")
    model_path: str = ""
    server_host: str = "0.0.0.0"
    server_port: int = Field(default=8000, ge=0, le=65535)
    # 20 MiB: a 12 MP JPEG is 3 to 8 MB; anything bigger is refused while it is still being received.
    # The Open Inference Protocol's gRPC service (grpc_v2.py); 0 turns it off. 8001 as in Triton.
    server_grpc_port: int = Field(default=8001, ge=0, le=65535)
    server_max_upload_bytes: int = Field(default=20 * 1024 * 1024, gt=0)
    # 40 MP: above any phone camera, far below what a decompression bomb asks for.
    server_max_image_pixels: int = Field(default=40_000_000, gt=0)
    server_workers: int = Field(default=1, ge=1)
    # One inference at a time by default: onnxruntime and torch already use every core for one image,
    # so running two at once only makes both slower.
    server_inference_threads: int = Field(default=1, ge=1)
    # Inference requests that may wait for a thread; beyond threads + this many, a request is shed
    # (503 + Retry-After, runtimes/fastapi/admission.py). Unset: 2 per inference thread, so an
    # admitted request waits for at most 2 inference times (bench/bench_load_shedding.py). 0: none.
    server_max_queued: int | None = Field(default=None, ge=0)
    server_retry_after_seconds: int = Field(default=1, ge=0)
    # Under Kubernetes' default 30 s terminationGracePeriodSeconds, so in-flight requests can finish.
    server_graceful_shutdown_seconds: int = Field(default=20, ge=0)
    server_log_level: Literal["critical", "error", "warning", "info", "debug"] = "info"
    # Per-request metrics (count and latency by route and status). Off only to measure what they
    # cost (bench/bench_metrics_overhead.py): the platform's alerts and dashboards need them.
    server_request_metrics: bool = True

    @property
    def admitted_requests(self) -> int:
        """How many inference requests one process admits at once: running plus waiting."""
        threads, queued = self.server_inference_threads, self.server_max_queued
        return threads + (2 * threads if queued is None else queued)


class SettingsError(Exception):
    """The environment does not describe a runnable server; the message names each bad variable."""


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as error:
        problems = "; ".join(
            f"{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" for e in error.errors()
        )
        raise SettingsError(f"invalid server environment: {problems}") from None
