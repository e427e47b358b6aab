"""Public API of the model artifact macros; BUILD files load them through //tools:defs.bzl."""

load("//tools/artifacts/private:model_artifacts.bzl", _model_artifacts = "model_artifacts")

model_artifacts = _model_artifacts
