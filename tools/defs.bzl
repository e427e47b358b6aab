"""The one .bzl a BUILD file in this repo loads: every macro the platform offers.

    load("//tools:defs.bzl", "environment_exports", "model_artifacts", "model_deploy", "py_image", "pytest_tests")

Each is implemented beside the Python it drives (tools/oci, tools/artifacts, tools/k8s) and
re-exported here, so moving an implementation never touches a BUILD file. `python -m tools`
reads the same calls with starlark-pyo3 (tools/bazel/build_file.py), recording them by these names.
"""

load("//tools/artifacts:defs.bzl", _model_artifacts = "model_artifacts")
load("//tools/k8s:defs.bzl", _environment_exports = "environment_exports", _model_deploy = "model_deploy")
load("//tools/oci:defs.bzl", _py_image = "py_image")
load("//tools/testing:defs.bzl", _pytest_tests = "pytest_tests")

environment_exports = _environment_exports
model_artifacts = _model_artifacts
model_deploy = _model_deploy
py_image = _py_image
pytest_tests = _pytest_tests
