"""The resolved manifests of every model x environment, applied to a REAL kube-apiserver.

The schemas (test_validate.py) say each object is well-formed; the API server also checks what
only it knows (defaults, cross-field rules, the monitoring CRDs' own validation), and the
diff after apply shows the objects round-trip unchanged. The test server is v1.20, the newest
buildable here: tools.testing.k8s_objects rewrites autoscaling/v2 and policy/v1 to their v1.20
versions and drops the empty-string defaults v1.20 rejects from the CRD; nothing else changes.
Each environment gets its own namespace (a copy of its data file) so other tests are not touched.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from tools.deploy import kubernetes as cluster
from tools.errors import UserError
from tools.k8s.checks.golden import synthetic_digests
from tools.k8s.checks.monitoring_crds import crds
from tools.k8s.checks.validate import schema_problems
from tools.k8s.render.resolve import resolve
from tools.k8s.tests.repo_copy import copy_repo_data, read, write
from tools.testing.k8s_objects import crd_for_kubernetes_1_20, for_kubernetes_1_20

pytestmark = pytest.mark.slow

MODELS = ("yolo", "gpt2", "resnet50")
ENVS = ("local", "staging", "prod")


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    root = copy_repo_data(tmp_path_factory.mktemp("repo"))
    for env in ENVS:
        path = root / "platform" / "environments" / f"{env}.yaml"
        write(path, {**read(path), "namespace": f"h4-manifests-{env}"})
    return root


@pytest.fixture(scope="module")
def with_servicemonitor_crd(apiserver) -> Path:
    cluster.apply([crd_for_kubernetes_1_20(crd) for crd in crds()], kubeconfig=apiserver, prune=False)
    return apiserver


@pytest.mark.parametrize("env", ENVS)
def test_every_model_applies_and_then_has_no_diff(with_servicemonitor_crd, data_root, env):
    kubeconfig = with_servicemonitor_crd
    for model in MODELS:
        objects = for_kubernetes_1_20(resolve(model, env, synthetic_digests(model), root=data_root))
        changes = cluster.apply(objects, kubeconfig=kubeconfig)
        applied = {c.kind for c in changes}
        # Metrics are on everywhere (local's Prometheus scrapes what they say): both CRD kinds too.
        assert applied >= {"Deployment", "Service", "PodDisruptionBudget", "ServiceMonitor", "PrometheusRule"}
        if env != "local":  # autoscaling is on
            assert "HorizontalPodAutoscaler" in applied
        assert cluster.diff(objects, kubeconfig=kubeconfig) == [], f"{model} in {env} does not round-trip"


def _break(objects: list[dict], kind: str, path: tuple, value) -> list[dict]:
    """``objects`` with the field at ``path`` of the one ``kind`` object set to ``value`` (or deleted)."""
    objects = copy.deepcopy(objects)
    node = next(o for o in objects if o["kind"] == kind)
    for key in path[:-1]:
        node = node[key]
    if value is None:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return objects


@pytest.mark.parametrize(
    ("kind", "path", "value", "says"),
    [
        ("ServiceMonitor", ("spec", "endpoints", 0, "scheme"), "ftp", 'Unsupported value: "ftp"'),
        ("ServiceMonitor", ("spec", "endpoints", 0, "interval"), "30 seconds", "spec.endpoints.interval"),
        ("ServiceMonitor", ("spec", "selector"), None, "spec.selector: Required value"),
        ("PrometheusRule", ("spec", "groups", 1, "rules", 0, "for"), "five minutes", "spec.groups.rules.for"),
        (
            "PrometheusRule",
            ("spec", "groups", 0, "rules", 0, "expr"),
            None,
            "spec.groups.rules.expr: Required",
        ),
    ],
)
def test_the_api_server_enforces_our_monitoring_crds(
    with_servicemonitor_crd, data_root, kind, path, value, says
):
    """What the offline validator refuses in these kinds, the API server refuses with our CRDs installed."""
    objects = for_kubernetes_1_20(resolve("gpt2", "prod", synthetic_digests("gpt2"), root=data_root))
    broken = _break(objects, kind, path, value)
    assert any(kind in p for doc in broken for p in schema_problems(doc) if doc["kind"] == kind)
    with pytest.raises(UserError, match="was rejected by the API server") as caught:
        cluster.apply(broken, kubeconfig=with_servicemonitor_crd)
    assert says in str(caught.value)
