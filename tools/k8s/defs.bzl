"""Public API of the deploy macros; BUILD files load them through //tools:defs.bzl."""

load("//tools/k8s/private:model_deploy.bzl", _model_deploy = "model_deploy")

model_deploy = _model_deploy
