"""Public API of the test macros; BUILD files load them through //tools:defs.bzl."""

load("//tools/testing/private:pytest_tests.bzl", _pytest_tests = "pytest_tests")

pytest_tests = _pytest_tests
