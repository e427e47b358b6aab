"""One checked connection to a Kubernetes API server: kubeconfig read, ``/version`` answered.

Everything the Kubernetes target sends goes through the ``Cluster`` that ``connect`` returns,
once per command: discovery (which kinds the server serves, cached) and the lightkube client.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import httpx2
import yaml
from lightkube import ApiError, Client, ConfigError, KubeConfig
from lightkube.config.client_adapter import Client as HttpClient
from lightkube.config.client_adapter import ConnectionParams
from lightkube.generic_resource import GenericGlobalResource, GenericNamespacedResource, create_api_info

from tools.errors import UserError

FIELD_MANAGER = "servectl"
TIMEOUT_S = 10.0


@dataclass
class Cluster:
    """A checked connection: the kubeconfig was read and the server answered ``/version``."""

    kubeconfig: Path
    context: str | None
    client: Client
    http: httpx2.Client
    version: str
    _served: dict[str, dict[str, dict] | None] = field(default_factory=dict)
    _classes: dict[tuple[str, str], type] = field(default_factory=dict)

    def close(self) -> None:
        """Closes both HTTP clients."""
        self.client.close()
        self.http.close()

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, kind, error, traceback) -> None:
        self.close()
        # Whatever the verb did not handle itself becomes one clear line, never a traceback.
        if isinstance(error, httpx2.TransportError):
            raise UserError(
                f"lost the API server at {self.http.base_url}: {error}", file=self.kubeconfig
            ) from None
        if isinstance(error, ApiError):
            raise UserError(f"the API server refused: {error.status.message}", file=self.kubeconfig) from None

    def resource(self, api_version: str, kind: str) -> type | None:
        """The lightkube resource class for ``kind`` in ``api_version``; None if not served."""
        if (api_version, kind) not in self._classes:
            resources = self._discover(api_version)
            info = resources.get(kind) if resources else None
            if info is None:
                return None
            # Not registered in lightkube's global registry: other code keeps its typed models.
            group, _, version = api_version.rpartition("/")
            base = GenericNamespacedResource if info["namespaced"] else GenericGlobalResource
            api_info = create_api_info(group, version, kind, info["name"])
            self._classes[api_version, kind] = type(kind, (base,), {"_api_info": api_info})
        return self._classes[api_version, kind]

    def served_version(self, group: str) -> str | None:
        """The server's preferred version of an API group (``v1`` for the core group)."""
        return "v1" if group == "" else self._preferred_versions.get(group)

    @cached_property
    def _preferred_versions(self) -> dict[str, str]:
        groups = self._get_json("/apis")["groups"]
        return {g["name"]: g["preferredVersion"]["groupVersion"] for g in groups}

    def _discover(self, api_version: str) -> dict[str, dict] | None:
        if api_version not in self._served:
            path = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
            body = self._get_json(path, missing_ok=True)
            resources = (body or {}).get("resources", [])
            self._served[api_version] = {r["kind"]: r for r in resources if "/" not in r["name"]} or None
        return self._served[api_version]

    def _get_json(self, path: str, *, missing_ok: bool = False) -> Any:
        try:
            response = self.http.get(path)
        except httpx2.TransportError as error:
            raise _unreachable(self.http.base_url, error, self.kubeconfig) from None
        if response.status_code == 404 and missing_ok:
            return None
        if response.is_error:
            raise UserError(
                f"GET {path}: the API server answered {response.status_code}: {response.text[:200]}"
            )
        return response.json()


def connect(kubeconfig: str | Path | None = None, context: str | None = None) -> Cluster:
    """Reads the kubeconfig and checks the server answers, before anything is sent to it."""
    path = _kubeconfig_path(kubeconfig)
    try:
        config = KubeConfig.from_file(path).get(context)
    except ConfigError as error:
        raise UserError(f"unusable kubeconfig: {error}", file=path, field=context and "contexts") from None
    except (OSError, ValueError, TypeError, KeyError, AttributeError, yaml.YAMLError) as error:
        problem = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise UserError(f"unreadable kubeconfig: {problem}", file=path) from None
    http = HttpClient(config, ConnectionParams(timeout=httpx2.Timeout(TIMEOUT_S)))
    try:
        response = http.get("/version")
    except httpx2.TransportError as error:
        http.close()
        raise _unreachable(config.cluster.server, error, path) from None
    except ConfigError as error:
        # An exec credential plugin that failed or printed no token; the first request runs it.
        http.close()
        problem = str(error).strip().splitlines()
        raise UserError(
            f"the kubeconfig's credential plugin failed: {' '.join(problem)[:300]}; nothing was sent",
            file=path,
            field=f"contexts.{config.context_name}.user (exec)",
        ) from None
    except (ValueError, KeyError, TypeError) as error:
        http.close()
        raise UserError(
            f"the kubeconfig's credential plugin printed no usable ExecCredential ({type(error).__name__}: "
            f"{error}); nothing was sent",
            file=path,
        ) from None
    if response.status_code in (401, 403):
        http.close()
        raise UserError(
            f"the API server at {config.cluster.server} refused our credentials ({response.status_code})",
            file=path,
        )
    if response.is_error:
        http.close()
        raise UserError(
            f"the API server at {config.cluster.server} answered {response.status_code}", file=path
        )
    client = Client(config=config, field_manager=FIELD_MANAGER, timeout=httpx2.Timeout(TIMEOUT_S))
    return Cluster(path, context, client, http, response.json().get("gitVersion", "unknown"))


def _kubeconfig_path(kubeconfig: str | Path | None) -> Path:
    if kubeconfig is not None:
        path = Path(kubeconfig)
    elif os.environ.get("KUBECONFIG"):
        path = Path(os.environ["KUBECONFIG"].split(os.pathsep)[0])
    else:
        path = Path.home() / ".kube" / "config"
    if not path.is_file():
        raise UserError(
            "no kubeconfig here: pass --kubeconfig or set KUBECONFIG",
            file=path,
        )
    return path


def _unreachable(server, error: Exception, kubeconfig: Path) -> UserError:
    return UserError(
        f"cannot reach the API server at {server}: {error or type(error).__name__}; nothing was sent",
        file=kubeconfig,
    )
