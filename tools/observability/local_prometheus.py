"""A real Prometheus (Debian's ``prometheus`` package) for the `local` environment, on 127.0.0.1.

What it scrapes is derived from the same rendered objects a cluster's prometheus-operator reads:
each model's ServiceMonitor gives the port name and path, the environment's ``hostPorts`` give
where that port is published on this machine, and the target gets the labels prometheus-operator
would give it (namespace, service, pod, job, endpoint), so the PrometheusRule's recording rules and
alerts run here unchanged. Like the local registry (tools/oci/registry.py), it is started by us with
its state under ``.build/prometheus/<env>/`` and a pid file; ``start`` is idempotent.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
import yaml

from tools import daemons
from tools.errors import UserError
from tools.k8s.render.exposure import service_monitor
from tools.k8s.render.inputs import RenderInputs, load_inputs
from tools.k8s.schema.environments import environments_dir, load_environment
from tools.observability.objects import rule_groups
from tools.paths import REPO_ROOT, build_dir

DEFAULT_PORT = 9090  # Prometheus' own default; `local` pods use 18000-18600, the registry 5000
# Faster than the ServiceMonitor's 30 s so a few requests show up within seconds on a laptop.
LOCAL_INTERVAL = "5s"


@dataclass
class PrometheusState:
    pid: int
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def state_dir(env: str) -> Path:
    return build_dir() / "prometheus" / env


def scrape_job(inputs: RenderInputs, host_ports: Mapping[str, int]) -> dict | None:
    """The scrape job prometheus-operator would make from the model's ServiceMonitor, on loopback."""
    monitor = service_monitor(inputs)
    if monitor is None:
        return None
    (endpoint,) = monitor["spec"]["endpoints"]
    port = host_ports.get(endpoint["port"])
    if port is None:
        raise UserError(
            f"the metrics port {endpoint['port']!r} of {inputs.name} is not published on this machine",
            file=environments_dir(inputs.root) / f"{inputs.env.name}.yaml",
            field=f"models.{inputs.name}.hostPorts",
        )
    return {
        "job_name": inputs.name,
        "metrics_path": endpoint["path"],
        "scheme": endpoint["scheme"],
        "static_configs": [
            {
                "targets": [f"127.0.0.1:{port}"],
                "labels": {
                    "namespace": inputs.namespace,
                    "service": inputs.name,  # the Service the ServiceMonitor selects
                    "pod": f"{inputs.env.name}-{inputs.name}",  # the pod podman plays
                    "endpoint": endpoint["port"],
                },
            }
        ],
    }


def local_rule_groups(inputs: RenderInputs) -> list[dict]:
    """The PrometheusRule's groups, evaluated at the local interval."""
    return [{k: val for k, val in group.items() if k != "interval"} for group in rule_groups(inputs)]


def write_config(
    env: str,
    directory: Path,
    *,
    root: Path = REPO_ROOT,
    ports: Mapping[str, Mapping[str, int]] | None = None,
) -> Path:
    """prometheus.yml and one rule file per model; ``ports``: model -> port name -> port (tests)."""
    environment = load_environment(env, root)
    if environment.cluster.kind != "podman":
        raise UserError(
            f"{env!r} is a Kubernetes environment: its Prometheus is the cluster's, fed by the "
            "ServiceMonitors and PrometheusRules apply creates",
            file=environments_dir(root) / f"{env}.yaml",
            field="cluster.kind",
        )
    directory.mkdir(parents=True, exist_ok=True)
    jobs, rule_files = [], []
    for model in sorted(environment.models):
        if ports is not None and model not in ports:
            continue
        inputs = load_inputs(model, env, root=root)
        host_ports = ports[model] if ports is not None else environment.models[model].hostPorts
        job = scrape_job(inputs, host_ports)
        if job is None:
            continue
        jobs.append(job)
        rules = directory / f"{model}.rules.yaml"
        rules.write_text(yaml.safe_dump({"groups": local_rule_groups(inputs)}, sort_keys=False))
        rule_files.append(rules.name)
    if not jobs:
        raise UserError(f"environment {env!r} turns model metrics off: nothing to scrape",
                        field="features.enableModelSpecificMetrics")  # fmt: skip
    config = {
        "global": {"scrape_interval": LOCAL_INTERVAL, "evaluation_interval": LOCAL_INTERVAL},
        "rule_files": rule_files,
        "scrape_configs": jobs,
    }
    path = directory / "prometheus.yml"
    path.write_text("# Written by servectl prometheus start from the rendered ServiceMonitors.\n"
                    + yaml.safe_dump(config, sort_keys=False))  # fmt: skip
    return path


def _binary(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise UserError(f"{name} is not installed (./dev setup installs Debian's prometheus)")
    return found


def check_config(path: Path) -> None:
    proc = subprocess.run([_binary("promtool"), "check", "config", str(path)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise UserError(f"promtool refused the config: {(proc.stderr or proc.stdout).strip()}", file=path)


def _ready(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/-/ready", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def _is_our_prometheus(pid: int, directory: Path) -> bool:
    """A pid file outlives its process and the kernel reuses the number: only a prometheus started
    with this directory's config counts as ours (and is the only one ``stop`` signals)."""
    command = daemons.argv(pid)
    config = f"--config.file={(directory / 'prometheus.yml').resolve()}"
    return bool(command) and Path(command[0]).name == "prometheus" and config in command


def status(env: str = "local", directory: Path | None = None) -> PrometheusState | None:
    try:
        data = json.loads(((directory or state_dir(env)) / "prometheus.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    state = PrometheusState(pid=int(data["pid"]), port=int(data["port"]))
    if not (daemons.alive(state.pid) and _is_our_prometheus(state.pid, directory or state_dir(env))):
        return None
    return state if _ready(state.port) else None


def start(
    env: str = "local",
    port: int = DEFAULT_PORT,
    *,
    directory: Path | None = None,
    root: Path = REPO_ROOT,
    ports: Mapping[str, Mapping[str, int]] | None = None,
    timeout: float = 30.0,
) -> PrometheusState:
    """Writes the config and starts Prometheus, or reloads the running one (SIGHUP) with it."""
    directory = directory or state_dir(env)
    config = write_config(env, directory, root=root, ports=ports)
    check_config(config)
    running = status(env, directory)
    if running is not None:
        if running.port != port:
            raise UserError(f"the local Prometheus already runs on port {running.port}; stop it first")
        signal_reload(running.pid)
        return running
    if daemons.port_in_use(port):
        raise UserError(f"port {port} on 127.0.0.1 is taken by another process; pick one with --port")
    pid = daemons.start(
        [
            _binary("prometheus"),
            f"--config.file={config.resolve()}",  # absolute: status() recognises it by this
            f"--storage.tsdb.path={directory / 'data'}",
            "--storage.tsdb.retention.time=2d",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        directory / "prometheus.log",
        lambda: _ready(port),
        name=f"prometheus on 127.0.0.1:{port}",
        timeout=timeout,
        poll=0.2,
    )
    (directory / "prometheus.json").write_text(json.dumps({"pid": pid, "port": port}) + "\n")
    return PrometheusState(pid=pid, port=port)


def signal_reload(pid: int) -> None:
    """Prometheus rereads its config and rule files on SIGHUP."""
    os.kill(pid, signal.SIGHUP)


def stop(env: str = "local", directory: Path | None = None, timeout: float = 30.0) -> bool:
    directory = directory or state_dir(env)
    running = status(env, directory)
    if running is None:
        return False
    daemons.stop(running.pid, timeout)  # on TERM Prometheus flushes its head block and exits
    (directory / "prometheus.json").unlink(missing_ok=True)
    return True


def query(url: str, expr: str, timeout: float = 5.0) -> list[dict]:
    """An instant query's result vector: [{"metric": {...}, "value": [ts, "v"]}]."""
    response = httpx.get(f"{url}/api/v1/query", params={"query": expr}, timeout=timeout)
    body = response.json()
    if response.status_code != 200 or body.get("status") != "success":
        raise UserError(f"Prometheus refused {expr!r}: {body.get('error', response.status_code)}")
    return body["data"]["result"]


def _value(url: str, expr: str) -> float | None:
    result = query(url, expr)
    return float(result[0]["value"][1]) if result else None


def summary_lines(inputs: RenderInputs, directory: Path | None = None) -> list[str]:
    """What ``servectl status`` shows on `local`: request rate, error ratio and p99 over 5 minutes."""
    from tools.observability import vocabulary as v

    running = status(inputs.env.name, directory)
    if running is None:
        return ["  metrics:  Prometheus not running (servectl prometheus start)"]
    sel = "{" + v.selector(inputs) + "}"
    rate = _value(running.url, v.REQUESTS.format(window="5m") + sel)
    errors = _value(running.url, v.ERROR_RATIO.format(window="5m") + sel)
    p99 = _value(running.url, v.latency_name(0.99) + sel)

    def shown(value: float | None, scale: float, unit: str, digits: int) -> str:
        # NaN: a quantile over no requests in the window.
        return "n/a" if value is None or value != value else f"{value * scale:.{digits}f} {unit}"

    return [
        f"  metrics:  {shown(rate, 1, 'req/s', 2)}, errors {shown(errors, 100, '%', 2)}, "
        f"p99 {shown(p99, 1000, 'ms', 1)} (5 min, Prometheus {running.url})"
    ]
