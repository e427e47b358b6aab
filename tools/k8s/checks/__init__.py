"""Checks on rendered manifests: strict Kubernetes schemas and checkov (validate), golden files."""
