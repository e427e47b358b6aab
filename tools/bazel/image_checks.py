"""Checks of image targets: where rules_pkg puts files, what the base can run, whose platform.

- rules_pkg path semantics (rules_pkg 1.3.0, pkg/path.bzl dest_path and
  pkg/private/tar/tar.bzl _remap): with no strip_prefix, a file's path in the tar is its short
  path minus its package directory, so a target `//models/yolo:weights` lands at "/weights",
  with the leading slash; remap_paths keys are matched with startswith against that, so a key
  without the slash never matches and the files stay at "/weights".
- Launcher vs base: aspect_rules_py's py_binary launcher is a `#!/usr/bin/env bash` script that
  creates a venv under its runfiles at start (v1.12.0 py/private/run.tmpl.sh). An image whose
  entrypoint is such a launcher needs bash in its base (gcr.io/distroless/python3 has no shell) and
  a writable root (the pods run with readOnlyRootFilesystem).
- Host-keyed selects: an oci.pull made with `platforms` is an alias that selects on the target
  platform (rules_oci 2.3.2 oci/private/pull.bzl _MULTI_PLATFORM_IMAGE_ALIAS_TMPL), which is the
  host unless --platforms says otherwise; py_image_layer without `platform` packs the wheels and
  interpreter of the host's configuration (aspect_rules_py v1.12.0 py/private/py_image_layer.bzl:
  the transition runs only `if platform:`), so a macOS or arm64 host builds a wrong-platform
  image; a select()
  on a host constraint (`@platforms//os:macos`, `@bazel_tools//src/conditions:host_*`) in an image
  target does the same.
"""

from __future__ import annotations

from tools.bazel.packages import Problem, split_label

_HOST_KEYS = ("@bazel_tools//src/conditions:host_", "@local_config_platform//:host")


def _tar_path(workspace, package: str, label: str) -> str | None:
    """Where pkg_tar (no strip_prefix) puts a srcs entry: "/" + its path inside its package."""
    parts = split_label(label, package)
    if not parts or parts[0]:
        return None
    return "/" + parts[2]


def check_pkg_tar_remaps(workspace) -> list[Problem]:
    problems = []
    for package in workspace.packages.values():
        build = str(package.build_file.relative_to(workspace.root))
        for target in package.targets.values():
            if target.kind != "pkg_tar" or target.name != target.attrs.get("name"):
                continue
            remap = target.attrs.get("remap_paths") or {}
            if not remap or target.attrs.get("strip_prefix"):
                continue
            paths = [
                p
                for p in (_tar_path(workspace, package.name, s) for s in target.attrs.get("srcs") or [])
                if p
            ]
            for key in remap:
                if paths and not any(path.startswith(key) for path in paths):
                    problems.append(
                        Problem(
                            build,
                            f"remap_paths key {key!r} matches none of the tar paths {paths}: rules_pkg "
                            "1.3.0 puts a file at its path inside its package with a leading slash "
                            "(pkg/path.bzl dest_path), and _remap matches keys with startswith, so "
                            "the files keep their unmapped paths",
                            target.name,
                            "remap_paths",
                        )
                    )
    return problems


def _base_repo(workspace, package: str, base: str, seen=None) -> str | None:
    """The oci.pull repo at the bottom of a chain of aliases/images, if any."""
    seen = seen or set()
    parts = split_label(base, package)
    if not parts or (parts[1], parts[2]) in seen:
        return None
    repo, pkg, name = parts
    if repo:
        return repo
    seen.add((pkg, name))
    target = workspace.packages.get(pkg, None)
    target = target.targets.get(name) if target else None
    if target is None:
        return None
    following = target.attrs.get("actual") or target.attrs.get("base") or target.attrs.get("upstream")
    return _base_repo(workspace, pkg, following, seen) if isinstance(following, str) else None


def check_launchers(workspace, shell_less: set[str]) -> list[Problem]:
    """`shell_less`: oci.pull repos of distroless images (no /bin/sh, no bash)."""
    problems = []
    for package in workspace.packages.values():
        build = str(package.build_file.relative_to(workspace.root))
        launchers = {
            t.name
            for t in package.targets.values()
            if t.kind == "py_binary" and "aspect_rules_py" in t.spec.source
        }
        for target in package.targets.values():
            if target.kind != "oci_image" or target.name != target.attrs.get("name"):
                continue
            entry = target.attrs.get("entrypoint") or []
            runs_launcher = any(isinstance(e, str) and e.rsplit("/", 1)[-1] in launchers for e in entry)
            runs_launcher |= any(
                isinstance(t, str) and t.lstrip(":").startswith(tuple(f"{n}_layer" for n in launchers))
                for t in target.attrs.get("tars") or []
            )
            base = target.attrs.get("base")
            repo = _base_repo(workspace, package.name, base) if isinstance(base, str) else None
            if runs_launcher and repo in shell_less:
                problems.append(
                    Problem(
                        build,
                        f"the entrypoint is aspect_rules_py's py_binary launcher, a `#!/usr/bin/env bash` "
                        f"script that creates a venv at start, but base {base!r} (@{repo}) has no shell and "
                        "the pods' root filesystem is read-only: the container cannot start; run "
                        "`python3 -m <module>` on the base's interpreter (py_image does)",
                        target.name,
                        "entrypoint",
                    )
                )
    return problems


def check_host_platform(workspace, multi_platform_pulls: dict[str, list[str]]) -> list[Problem]:
    """`multi_platform_pulls`: oci.pull repos made with `platforms` -> those platforms."""
    problems = []
    for package in workspace.packages.values():
        build = str(package.build_file.relative_to(workspace.root))
        for target in package.targets.values():
            if target.name != target.attrs.get("name"):
                continue
            base = target.attrs.get("base") if target.kind == "oci_image" else None
            repo = _base_repo(workspace, package.name, base) if isinstance(base, str) else None
            if repo in multi_platform_pulls:
                platforms = multi_platform_pulls[repo]
                per_platform = "@" + "_".join([repo, *platforms[0].split("/")]) if platforms else ""
                problems.append(
                    Problem(
                        build,
                        f"base {base!r} is the multi-platform alias @{repo}, a select() on the target "
                        "platform, which is the host's unless --platforms is given (rules_oci 2.3.2 "
                        "oci/private/pull.bzl): on any host but "
                        f"{', '.join(platforms)} analysis fails with 'could not find an image matching "
                        f"the target platform'; name the platform's image ({per_platform})",
                        target.name,
                        "base",
                    )
                )
            if target.kind == "py_image_layer" and not target.attrs.get("platform"):
                problems.append(
                    Problem(
                        build,
                        "py_image_layer without `platform` packs the host's interpreter and wheels "
                        "(aspect_rules_py v1.12.0 transitions only if platform is set): a macOS or "
                        "arm64 host builds a wrong-platform image",
                        target.name,
                        "platform",
                    )
                )
            for key in workspace.select_keys.get((package.name, target.name), ()):
                if key.startswith(_HOST_KEYS) or (key.startswith("@platforms//") and "host" in key):
                    problems.append(
                        Problem(
                            build,
                            f"select() keyed on the host ({key}): the result depends on the machine "
                            "that runs Bazel, not on the target platform",
                            target.name,
                        )
                    )
    return problems
