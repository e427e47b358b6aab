"""Observability rendered from the manifests' own data: rules, dashboards, adapter rules, local Prometheus."""
