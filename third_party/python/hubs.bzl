"""py_library_in_hubs: one library, one target per pip hub it is used from.

rules_python's hubs are separate dependency closures (one per lock): a binary or test that takes
packages from two hubs gets two copies of what both closures hold, which aspect_rules_py refuses
("Conflicting symlinks found when attempting to create venv", v1.12.0 py/tools/py/src/pth.rs) and
rules_python resolves by sys.path order. So a test takes every pip package from one hub, and a
library used by tests of two hubs (the TF Serving config code: the manifests' tests on pypi_tools,
the TensorFlow export tests on pypi_tfserving) is declared once here and made once per hub.
The static check tools/bazel/pip_checks.py fails on any binary or test that mixes hubs.
"""

load("@rules_python//python:defs.bzl", "py_library")

def hub_suffix(hub, hubs):
    """"" for the first (default) hub, "_<hub without pypi_>" for the others."""
    if hub == hubs[0]:
        return ""
    return "_" + (hub[len("pypi_"):] if hub.startswith("pypi_") else hub)

def _variant(dep, suffix):
    """`//a/b` -> `//a/b:b<suffix>`, `//a:c` -> `//a:c<suffix>`, `:c` -> `:c<suffix>`."""
    if ":" not in dep:
        dep = dep + ":" + dep.rsplit("/", 1)[-1]
    return dep + suffix

def py_library_in_hubs(name, hubs, pip = [], hub_deps = [], deps = [], **kwargs):
    """A py_library per hub: `name` for hubs[0], `name_<hub>` for each other hub.

    Args:
        name: the library's name (its hubs[0] target).
        hubs: pip hub repo names, the default first (["pypi_tools", "pypi_tfserving"]).
        pip: distribution names as the hubs name them (["pyyaml", "protobuf"]), taken from each hub.
        hub_deps: in-repo libraries made by this macro with the same hubs: each target depends on
            the variant of its own hub.
        deps: other deps, the same for every variant (hub-free libraries, add-on hubs such as
            @pypi_tfserving_protos whose lock shares no package with the others).
        **kwargs: py_library attributes (srcs, data, visibility, testonly, ...).
    """
    for hub in hubs:
        suffix = hub_suffix(hub, hubs)
        py_library(
            name = name + suffix,
            deps = deps + [_variant(dep, suffix) for dep in hub_deps] + ["@{}//{}".format(hub, p) for p in pip],
            **kwargs
        )
