"""Every model x environment, resolved with fixed test digests, passes strict schema validation at the
pinned Kubernetes versions and checkov with only the listed skips; the validators do catch errors."""

from __future__ import annotations

import copy
import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tools.errors import UserError
from tools.k8s.checks.golden import synthetic_digests
from tools.k8s.checks.validate import (
    KUBERNETES_VERSIONS,
    checkov_binary,
    checkov_failures,
    load_checkov_skips,
    run_checkov,
    schema_problems,
)
from tools.k8s.render import to_yaml
from tools.k8s.render.resolve import resolve

MODELS = ("yolo", "gpt2", "resnet50")
ENVS = ("local", "staging", "prod")
CASES = list(itertools.product(MODELS, ENVS))


@pytest.fixture(scope="module")
def resolved() -> dict[tuple[str, str], list[dict]]:
    out = {}
    for model, env in CASES:
        out[model, env] = resolve(model, env, synthetic_digests(model))
    return out


def test_kubernetes_versions_are_pinned_at_or_above_1_30():
    assert KUBERNETES_VERSIONS[0] == "1.30.0"
    assert all(tuple(map(int, v.split(".")[:2])) >= (1, 30) for v in KUBERNETES_VERSIONS)


_checked: dict[str, list[str]] = {}


def _problems(doc: dict) -> list[str]:
    """schema_problems, once per distinct object: the shared namespace and RBAC repeat in every case."""
    key = json.dumps(doc, sort_keys=True)
    if key not in _checked:
        _checked[key] = schema_problems(doc)
    return _checked[key]


@pytest.mark.parametrize(("model", "env"), CASES)
def test_resolved_manifests_pass_strict_schemas(resolved, model, env):
    docs = resolved[model, env]
    problems = [p for doc in docs for p in _problems(doc)]
    assert problems == []
    kinds = {d["kind"] for d in docs}
    assert {"ServiceMonitor", "PrometheusRule"} <= kinds, "the CRD schemas are exercised"


def _deployment(resolved) -> dict:
    return copy.deepcopy(next(d for d in resolved["yolo", "staging"] if d["kind"] == "Deployment"))


def test_schema_validation_rejects_unknown_and_mistyped_fields(resolved):
    typo = _deployment(resolved)
    typo["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    assert any("readinesProbe" in p for p in schema_problems(typo))
    wrong_type = _deployment(resolved)
    wrong_type["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "8000"
    assert any("containerPort" in p for p in schema_problems(wrong_type))


def test_service_monitor_schema_comes_from_the_crd(resolved):
    monitor = next(d for d in resolved["yolo", "prod"] if d["kind"] == "ServiceMonitor")
    typo = copy.deepcopy(monitor)
    typo["spec"]["endpoints"][0]["intervall"] = "30s"
    assert any("'intervall' was unexpected" in p for p in schema_problems(typo))
    bad_scheme = copy.deepcopy(monitor)
    bad_scheme["spec"]["endpoints"][0]["scheme"] = "ftp"
    assert any("scheme" in p for p in schema_problems(bad_scheme))
    bad_meta = copy.deepcopy(monitor)
    bad_meta["metadata"]["labelz"] = {}
    assert any(p.startswith("ServiceMonitor/yolo") and "labelz" in p for p in schema_problems(bad_meta))


def test_prometheus_rule_schema_comes_from_the_crd(resolved):
    rule = next(d for d in resolved["gpt2", "prod"] if d["kind"] == "PrometheusRule")
    typo = copy.deepcopy(rule)
    typo["spec"]["groups"][1]["rules"][0]["fore"] = "5m"
    assert any("'fore' was unexpected" in p for p in schema_problems(typo))
    no_expr = copy.deepcopy(rule)
    del no_expr["spec"]["groups"][0]["rules"][0]["expr"]
    assert any("'expr' is a required property" in p for p in schema_problems(no_expr))
    bad_duration = copy.deepcopy(rule)
    bad_duration["spec"]["groups"][1]["rules"][0]["for"] = "five minutes"
    assert any(p.startswith("PrometheusRule/gpt2") and "for" in p for p in schema_problems(bad_duration))


# --- checkov -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def manifest_dir(resolved, tmp_path_factory) -> Path:
    """The 9 resolved manifests as the multi-document files resolve prints."""
    out = tmp_path_factory.mktemp("manifests")
    for (model, env), docs in resolved.items():
        (out / f"{model}.{env}.yaml").write_text(to_yaml(docs))
    return out


def test_the_kubernetes_validate_command_passes_them(manifest_dir):
    """The same check through the tool's own command line, as a user would run it."""
    cli = Path(sys.executable).with_name("kubernetes-validate")
    files = sorted(str(p) for p in manifest_dir.glob("*.yaml"))
    for version in KUBERNETES_VERSIONS:
        proc = subprocess.run(
            [str(cli), "--strict", "--quiet", "-k", version, *files],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        # It has no schema for the CRD kinds; those are checked against their CRDs above.
        crd_kinds = ("ServiceMonitor", "PrometheusRule")
        others = [line for line in proc.stdout.splitlines() if not any(k in line for k in crd_kinds)]
        assert others == [], others


@pytest.fixture(scope="module")
def checkov_dir(manifest_dir) -> Path:
    if not checkov_binary().exists():
        message = f"checkov is not installed at {checkov_binary()} (./dev setup makes .venvs/checkov)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return manifest_dir


def test_checkov_passes_with_only_the_listed_skips(checkov_dir):
    report = run_checkov(checkov_dir, load_checkov_skips())
    assert checkov_failures(report) == []
    assert report["summary"]["failed"] == 0
    assert report["summary"]["passed"] > 100, "checkov really looked at the manifests"
    assert report["summary"]["resource_count"] >= len(CASES) * 8


def test_every_skip_is_still_needed(checkov_dir):
    """Without the skips exactly the listed checks fail: a stale skip would hide nothing, so it goes."""
    report = run_checkov(checkov_dir, {})
    failed = {c["check_id"] for c in report["results"]["failed_checks"]}
    assert failed == set(load_checkov_skips())


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("skips: [{id: CKV_K8S_1}]\n", "exactly `id` and `reason`"),
        ("skips: [{id: CKV_K8S_1, reason: because}]\n", "reason in a sentence"),
        ("skips: [{id: K8S_1, reason: this is a long enough reason}]\n", "not a checkov check id"),
        ("skips:\n- {id: CKV_1, reason: a b c d e}\n- {id: CKV_1, reason: a b c d e}\n", "listed twice"),
        ("other: 1\n", "expected `skips:`"),
    ],
)  # fmt: skip
def test_bad_skip_files_are_user_errors(tmp_path: Path, text, words):
    path = tmp_path / "checkov-skips.yaml"
    path.write_text(text)
    with pytest.raises(UserError, match=words) as caught:
        load_checkov_skips(path)
    assert caught.value.file == str(path)
