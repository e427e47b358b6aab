"""pytest_tests: one real pytest target per test file of a package."""

load("@aspect_rules_py//py:defs.bzl", "py_test")
load("//third_party/python:hubs.bzl", "hub_suffix")

# The hubs //:pytest_root is made for, in its order (the root BUILD.bazel).
_PYTEST_ROOT_HUBS = ["pypi_tools", "pypi_tfserving"]

def pytest_tests(
        name,
        srcs = None,
        helpers = [],
        deps = [],
        data = [],
        hub = "pypi_tools",
        size = "small",
        sizes = {},
        tags = [],
        file_tags = {},
        file_data = {},
        **kwargs):
    """A py_test per `tests/test_*.py`, run by pytest, and a test_suite `name` over them.

    Each target is aspect_rules_py's py_test with `pytest_main = True` (v1.12.0 py/defs.bzl: a
    shared pytest main runs the test's own sources), so a test file is collected and run by pytest,
    as `./dev test` runs it; a bare py_test with the file as `main` would only define the tests and
    exit 0. The static check tools/bazel/runner_checks.py fails on such a target and on a test file
    no target covers.

        pytest_tests(name = "tests", deps = [":fastapi"], sizes = {"test_server": "medium"})

    Args:
        name: the test_suite of every generated test, "tests" by convention
            (`bazel test //runtimes/fastapi:tests`).
        srcs: the test files; default every tests/test_*.py of the package. Each becomes a target
            named after the file (`tests/test_app.py` -> `:test_app`).
        helpers: conftest.py and helper modules every test of the package imports.
        deps: libraries the tests import; pip packages from `hub` only.
        data: files the tests read.
        hub: the pip hub pytest (and every pip dep) comes from: one hub per test.
        size: the default test size.
        sizes: per-test size overrides, by target name.
        tags: tags of every test (`["requires-network"]`).
        file_tags: per-test extra tags, by target name (`{"test_server": ["local"]}`).
        file_data: per-test extra data, by target name: the files only that test reads (the graph
            check, tools/bazel/test_data_checks.py, lists what each test reads and lacks).
        **kwargs: other py_test attributes (env, timeout, ...).
    """
    if srcs == None:
        srcs = native.glob(["tests/test_*.py"])
    tests = []
    for src in srcs:
        test = src.rsplit("/", 1)[-1][:-len(".py")]
        py_test(
            name = test,
            srcs = [src] + [h for h in helpers if h != src],
            pytest_main = True,
            # pytest's own inputs (root conftest.py, pyproject.toml), for this hub.
            deps = deps + ["@{}//pytest".format(hub), "//:pytest_root" + hub_suffix(hub, _PYTEST_ROOT_HUBS)],
            data = data + file_data.get(test, []),
            size = sizes.get(test, size),
            tags = tags + file_tags.get(test, []),
            **kwargs
        )
        tests.append(":" + test)
    native.test_suite(
        name = name,
        tests = tests,
        tags = tags,
    )
