"""Public API of the deploy macros; BUILD files load them through //tools:defs.bzl."""

load("//tools/k8s/private:environment_export.bzl", _environment_exports = "environment_exports")
load("//tools/k8s/private:model_deploy.bzl", _model_deploy = "model_deploy")

environment_exports = _environment_exports
model_deploy = _model_deploy
