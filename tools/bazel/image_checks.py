"""Checks of image targets: where rules_pkg puts files, what the base can run, whose platform.

- rules_pkg path semantics (rules_pkg 1.3.0, pkg/path.bzl dest_path and
  pkg/private/tar/tar.bzl _remap): with no strip_prefix, a file's path in the tar is its short
  path minus its package directory, so a target `//models/yolo:weights` lands at "/weights",
  with the leading slash; remap_paths keys are matched with startswith against that, so a key
  without the slash never matches and the files stay at "/weights".
- Launcher vs base: aspect_rules_py's py_binary launcher is a `#!/usr/bin/env bash` script that
  creates a venv under its runfiles at start (v1.12.0 py/private/run.tmpl.sh). An image whose
  entrypoint is such a launcher needs bash in its base (distroless has no shell; a debian_base has
  one only if its lock layers hold bash or dash) and a writable root (the pods run with
  readOnlyRootFilesystem), so it fails either way.
- Debian bases: debian_base's layers are filegroups of the debian_packages repo, one per layer of
  third_party/debian/packages.lock.json; a layer the lock lacks is a missing target.
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

import json

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


# aspect_rules_py v1.12.0 py/private/run.tmpl.sh: line 1 `#!/usr/bin/env bash`; line 38
# `VIRTUAL_ENV="$(alocation "${RUNFILES_DIR}/{{ARG_VENV_NAME}}")"`, created by the venv tool at start.
_LAUNCHER = "aspect_rules_py v1.12.0 py/private/run.tmpl.sh"
SHELLS = ("bash", "dash")


def debian_lock(workspace, module) -> tuple[str, dict] | None:
    """(repo name, decoded lock) of MODULE.bazel's debian_packages repository, if any."""
    for _bzl, rule, attrs in module.repo_rule_calls:
        if rule != "debian_packages":
            continue
        parts = split_label(attrs.get("lock", ""), "")
        path = workspace.root / parts[1] / parts[2] if parts and not parts[0] else None
        if path is not None and path.is_file():
            return attrs.get("name", ""), json.loads(path.read_text(encoding="utf-8"))
    return None


def _lookup(workspace, package: str, label: str):
    parts = split_label(label, package)
    if not parts or parts[0] or parts[1] not in workspace.packages:
        return None, None
    return parts[1], workspace.packages[parts[1]].targets.get(parts[2])


def _base_packages(workspace, package: str, base: str, lock: dict, seen=None) -> list[str] | None:
    """The Debian packages at the bottom of a chain of images, when it is a debian_base image."""
    seen = seen or set()
    pkg, target = _lookup(workspace, package, base)
    if target is None or (pkg, target.name) in seen:
        return None
    seen.add((pkg, target.name))
    following = target.attrs.get("actual") or target.attrs.get("base")
    if isinstance(following, str):
        return _base_packages(workspace, pkg, following, lock, seen)
    names = []
    for tar in target.attrs.get("tars") or []:
        _, layer = _lookup(workspace, pkg, tar) if isinstance(tar, str) else (None, None)
        if layer is not None and layer.attrs.get("kind") == "debian":
            packages = lock.get("layers", {}).get(layer.attrs.get("debian_layer"), [])
            names += [p.get("name") for p in packages]
    return names


def check_launchers(workspace, shell_less: set[str], lock: dict | None) -> list[Problem]:
    """`shell_less`: oci.pull repos of distroless images (no /bin/sh, no bash); `lock`: the Debian
    lock behind debian_base images, whose layers say whether the base has a shell."""
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
            if not runs_launcher or not isinstance(base, str):
                continue
            repo = _base_repo(workspace, package.name, base)
            debs = _base_packages(workspace, package.name, base, lock) if lock else None
            if repo in shell_less or (debs is not None and not set(SHELLS) & set(debs)):
                where = f"@{repo}, distroless" if repo else "its Debian layers have neither bash nor dash"
                message = (
                    f"the entrypoint is aspect_rules_py's py_binary launcher, a `#!/usr/bin/env bash` "
                    f"script ({_LAUNCHER}), but base {base!r} has no shell ({where}): the container "
                    "cannot start; run `python3 -m <module>` on the base's interpreter (py_image does)"
                )
            else:
                message = (
                    "the entrypoint is aspect_rules_py's py_binary launcher, which creates its venv at "
                    f'start in "${{RUNFILES_DIR}}/<venv>" ({_LAUNCHER}, line 38), inside the image, '
                    "but the pods run with readOnlyRootFilesystem: the container fails with EROFS; "
                    "run `python3 -m <module>` on the base's interpreter (py_image does)"
                )
            problems.append(Problem(build, message, target.name, "entrypoint"))
    return problems


def check_debian_bases(workspace, repo: str, lock: dict) -> list[Problem]:
    """debian_base layers name layers of the lock the debian_packages repo was made from, and the
    image's architecture is the lock's (rules_oci 2.3.2 oci/private/image.bzl: with no base, `os`
    and `architecture` are the image's platform)."""
    problems = []
    for package in workspace.packages.values():
        build = str(package.build_file.relative_to(workspace.root))
        for target in package.targets.values():
            if target.kind == "image_layer" and target.attrs.get("kind") == "debian":
                parts = split_label(target.attrs.get("debs", ""), package.name)
                if parts and parts[0] == repo and parts[2] not in lock.get("layers", {}):
                    # Bazel's NoSuchTargetException for a target the repository's BUILD lacks.
                    problems.append(
                        Problem(
                            build,
                            f"no such target '@{repo}//:{parts[2]}': target '{parts[2]}' not declared "
                            f"in package '' (the lock's layers: {', '.join(lock.get('layers', {}))})",
                            target.name,
                            "debs",
                        )
                    )
            if target.kind == "oci_image" and not target.attrs.get("base"):
                if not target.attrs.get("os") or not target.attrs.get("architecture"):
                    problems.append(
                        Problem(
                            build,
                            "'os' and 'architecture' are mandatory when 'base' is unspecified.",
                            target.name,
                        )
                    )
                elif _has_debian_layers(workspace, package.name, target) and target.attrs.get(
                    "architecture"
                ) != lock.get("architecture"):
                    problems.append(
                        Problem(
                            build,
                            f"architecture {target.attrs.get('architecture')!r} is not the Debian lock's "
                            f"{lock.get('architecture')!r}: the image would claim a platform its .debs "
                            "are not built for",
                            target.name,
                            "architecture",
                        )
                    )
    return problems


def _has_debian_layers(workspace, package: str, image) -> bool:
    for tar in image.attrs.get("tars") or []:
        _, layer = _lookup(workspace, package, tar) if isinstance(tar, str) else (None, None)
        if layer is not None and layer.attrs.get("kind") == "debian":
            return True
    return False


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
