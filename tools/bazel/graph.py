"""The static check of the Bazel graph: what `bazel build //...` would reject, found without Bazel.

    python -m tools.bazel.graph [ROOT]     # prints one line per problem, exit 1 if any

Checks (each problem names the file, the target and the attribute):
  - every BUILD and .bzl file evaluates, with our macros expanded for real;
  - every rule call uses only attributes the pinned rule version has (rule_attrs/*.json);
  - every label resolves: a target or file in an existing package, a declared external repo, a
    package that is in the pip hub's lock file;
  - MODULE.bazel: versions equal to what the attribute lists were read at, pip hubs and base
    images declared and use_repo'd, lock files present, images pinned by digest;
  - every model package exposes the targets the platform promises, and deploys exactly the image
    variants its model.yaml declares.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from tools.bazel import (
    app_layer_checks,
    environments_bzl,
    image_checks,
    pip_checks,
    repo_rule_checks,
    runner_checks,
    test_data_checks,
    variant_checks,
)
from tools.bazel.module_file import ModuleFile, read_module_file
from tools.bazel.packages import Problem, label_values, split_label
from tools.bazel.rule_specs import RuleSpecs, load_rule_specs
from tools.bazel.workspace import Workspace

PIP_EXTENSION = "@rules_python//python/extensions:pip.bzl%pip"
OCI_EXTENSION = "@rules_oci//oci:extensions.bzl%oci"
PYTHON_EXTENSION = "@rules_python//python/extensions:python.bzl%python"
REQUIRED_HUBS = ("pypi_tfserving", "pypi_tools")
PYTHON_VERSION = "3.11"
DEPLOY_VERBS = ("resolve", "diff", "apply", "delete", "status")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
# Bases whose digest no public record gave (never invented): pulled by tag, which rules_oci resolves
# at fetch time, and reported as a warning naming the fix; an entry that no tag-pull matches is an error.
UNRESOLVED_PULLS = {
    "tensorflow_serving": "#16: no public record of docker.io/tensorflow/serving:2.21.0's digest was found;"
    " run `crane digest docker.io/tensorflow/serving:2.21.0` and pin it",
}
_LOCK_LINE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==", re.MULTILINE)


def normalize(name: str) -> str:
    """A distribution name as rules_python's hub names its package: lower case, `_` separated."""
    return re.sub(r"[-_.]+", "_", name).lower()


def check_module(module: ModuleFile, specs: RuleSpecs, root: Path) -> list[Problem]:
    file = "MODULE.bazel"
    problems = [Problem(file, message) for message in module.problems]
    deps = {attrs["name"]: attrs["version"] for attrs in module.bazel_deps.values()}
    for repo, version in specs.versions.items():
        if repo not in deps:
            problems.append(Problem(file, f"no bazel_dep on {repo} (rule_attrs/ describe {repo} {version})"))
        elif deps[repo] != version:
            problems.append(
                Problem(file, f"bazel_dep {repo} is {deps[repo]} but rule_attrs/ were read at {version}")
            )
    for name, version in deps.items():
        if not version:
            problems.append(Problem(file, f"bazel_dep {name} has no version"))

    made: dict[str, set[str]] = {}
    for tag in module.tags:
        if tag.extension == PIP_EXTENSION and tag.name == "parse":
            hub = tag.attrs.get("hub_name", "")
            made.setdefault(tag.extension, set()).add(hub)
            lock = tag.attrs.get("requirements_lock", "")
            parts = split_label(lock, "")
            lock_path = root / parts[1] / parts[2] if parts and not parts[0] else None
            if lock_path is None or not lock_path.is_file():
                problems.append(Problem(file, f"pip hub {hub}: requirements_lock {lock!r} does not exist"))
            if tag.attrs.get("python_version") != PYTHON_VERSION:
                problems.append(Problem(file, f"pip hub {hub}: python_version must be {PYTHON_VERSION}"))
        elif tag.extension == OCI_EXTENSION and tag.name == "pull":
            name = tag.attrs.get("name", "")
            made.setdefault(tag.extension, set()).add(name)
            for platform in tag.attrs.get("platforms", []):
                made[tag.extension].add("_".join([name, *platform.split("/")]))
            if name in UNRESOLVED_PULLS and "digest" not in tag.attrs and tag.attrs.get("tag"):
                continue  # a warning (unresolved_pulls)
            if not _DIGEST.match(tag.attrs.get("digest", "")):
                problems.append(Problem(file, f"oci.pull {name}: must be pinned by digest (sha256:<64 hex>)"))
            if "tag" in tag.attrs:
                problems.append(Problem(file, f"oci.pull {name}: pull by digest only, drop tag"))
        elif (
            tag.extension == PYTHON_EXTENSION
            and tag.name == "toolchain"
            and tag.attrs.get("python_version") != PYTHON_VERSION
        ):
            problems.append(Problem(file, f"python.toolchain must be {PYTHON_VERSION}"))
    tag_pulls = set(unresolved_pulls(module))
    for name in sorted(set(UNRESOLVED_PULLS) - tag_pulls):
        problems.append(Problem(file, f"UNRESOLVED_PULLS lists {name}, which no oci.pull pulls by tag alone"))
    for hub in REQUIRED_HUBS:
        if hub not in made.get(PIP_EXTENSION, set()):
            problems.append(Problem(file, f"no pip.parse(hub_name = {hub!r})"))
    for extension, names in made.items():
        used = set(module.use_repos.get(extension, []))
        for name in sorted(names - used):
            problems.append(Problem(file, f"{name} is made by {extension} but not in its use_repo()"))
        for name in sorted(used - names):
            problems.append(Problem(file, f"use_repo() names {name}, which no tag of {extension} makes"))
    return problems


def unresolved_pulls(module: ModuleFile) -> dict[str, str]:
    """oci.pull name -> warning, for the UNRESOLVED_PULLS pulled by tag alone."""
    return {
        tag.attrs["name"]: f"MODULE.bazel: oci.pull {tag.attrs['name']} is pulled by tag "
        f"{tag.attrs['tag']!r}, not by digest ({UNRESOLVED_PULLS[tag.attrs['name']]})"
        for tag in module.tags
        if tag.extension == OCI_EXTENSION
        and tag.name == "pull"
        and tag.attrs.get("name") in UNRESOLVED_PULLS
        and "digest" not in tag.attrs
        and tag.attrs.get("tag")
    }


class LockIndex:
    """Which packages each pip hub can provide, read from its lock file."""

    def __init__(self, root: Path, module: ModuleFile):
        self.locks: dict[str, Path] = {}
        self._packages: dict[str, set[str] | None] = {}
        for tag in module.tags:
            if tag.extension == PIP_EXTENSION and tag.name == "parse":
                parts = split_label(tag.attrs.get("requirements_lock", ""), "")
                if parts:
                    self.locks[tag.attrs.get("hub_name", "")] = root / parts[1] / parts[2]

    def packages(self, hub: str) -> set[str] | None:
        if hub not in self._packages:
            lock = self.locks.get(hub)
            if lock is None or not lock.is_file():
                self._packages[hub] = None
            else:
                text = lock.read_text(encoding="utf-8")
                self._packages[hub] = {normalize(m[1]) for m in _LOCK_LINE.finditer(text)}
        return self._packages[hub]


def visible(visibility, owner: str, user: str) -> bool:
    """Bazel's visibility rule for the common forms; package_group labels are not modelled."""
    if owner == user or not isinstance(visibility, list):
        return True
    for item in visibility:
        if item == "//visibility:public":
            return True
        parts = split_label(item, owner) if isinstance(item, str) else None
        if parts is None or item == "//visibility:private":
            continue
        _repo, pkg, name = parts
        if name == "__pkg__":
            if pkg == user:
                return True
        elif name == "__subpackages__":
            if not pkg or user == pkg or user.startswith(pkg + "/"):
                return True
        else:
            return True  # a package_group: trusted
    return False


def check_labels(workspace: Workspace, locks: LockIndex) -> list[Problem]:
    problems = []
    for package in workspace.packages.values():
        build = str(package.build_file.relative_to(workspace.root))
        for target in package.targets.values():
            if target.name != target.attrs.get("name"):
                continue  # a derived target (":image.digest"): its attributes are its maker's
            for attribute, kind in target.spec.attrs.items():
                for text in label_values(kind, target.attrs.get(attribute)):
                    message = _resolve(workspace, locks, text, package.name)
                    if message:
                        problems.append(Problem(build, f"{text!r}: {message}", target.name, attribute))
    for bzl, rule, attribute, label in workspace.label_defaults:
        # A rule's implicit dependencies are checked for visibility from the package of the .bzl
        # that defines the rule (Bazel 7+: --incompatible_visibility_private_attributes_at_definition).
        message = _resolve(workspace, locks, label, workspace.package_of_path(bzl) or "")
        if message:
            problems.append(Problem(bzl, f"default {label!r}: {message}", rule, attribute))
    return problems


def _resolve(workspace: Workspace, locks: LockIndex, text: str, package: str) -> str | None:
    parts = split_label(text, package)
    if parts is None:
        return "not a label"
    repo, pkg, name = parts
    if repo:
        if repo.startswith("@"):
            return None  # a canonical @@ label: outside what this check can see
        if repo not in workspace.declared_repos:
            return f"@{repo} is not declared in MODULE.bazel (bazel_dep or use_repo)"
        if repo in locks.locks:
            available = locks.packages(repo)
            if available is None:
                return f"the lock file of @{repo} ({locks.locks[repo].name}) does not exist"
            if normalize(pkg) not in available:
                return f"{pkg!r} is not in @{repo}'s lock file {locks.locks[repo].name}"
        return None
    if pkg not in workspace.packages:
        return f"no package //{pkg} (no BUILD file there, or it is in .bazelignore)"
    target_package = workspace.packages[pkg]
    build = str(target_package.build_file.relative_to(workspace.root))
    if name in target_package.targets:
        target = target_package.targets[name]
        visibility = target.attrs.get("visibility", target_package.default_visibility)
        return None if visible(visibility, pkg, package) else _not_visible(pkg, name, package, visibility)
    if name in target_package.outputs:
        return None
    rel = f"{pkg}/{name}" if pkg else name
    on_disk = (workspace.root / rel).exists() and workspace.package_of_path(rel) == pkg
    if name in target_package.exported:
        # exports_files(): its visibility, public when it names none.
        visibility = target_package.exported[name]
    elif name in target_package.referenced and on_disk:
        # A file only named by its own package's rules: Bazel 7/8 (no
        # --incompatible_no_implicit_file_export) give it the package's default_visibility,
        # private when the package sets none (bazel.build/concepts/visibility, source files).
        visibility = target_package.default_visibility
    elif on_disk:
        if not target_package.evaluated:
            return f"//{pkg} did not evaluate, so :{name} cannot be found (see its own error)"
        # Bazel's own wording (Package.java, NoSuchTargetException for an undeclared file).
        return (
            f"no such target '//{pkg}:{name}': target '{name}' not declared in package '{pkg}' "
            f"defined by {build}; however, a source file of this name exists. "
            f"(Perhaps add 'exports_files([\"{name}\"])' to {build}?)"
        )
    else:
        if not target_package.evaluated:
            return f"//{pkg} did not evaluate, so :{name} cannot be found (see its own error)"
        return f"no target or file {name!r} in //{pkg}"
    return None if visible(visibility, pkg, package) else _not_visible(pkg, name, package, visibility)


def _not_visible(pkg: str, name: str, user: str, visibility) -> str:
    """Bazel's analysis error for a visibility violation (from the user's package)."""
    return (
        f"target '//{pkg}:{name}' is not visible from package '//{user}' (its visibility: {visibility}); "
        "check the visibility declaration of the former target if you think the dependency is legitimate"
    )


def check_cycles(workspace: Workspace) -> list[Problem]:
    """Dependency cycles between the repo's targets (Bazel refuses to analyze them)."""
    edges: dict[str, list[str]] = {}
    for package in workspace.packages.values():
        for target in package.targets.values():
            if target.name != target.attrs.get("name"):
                continue
            key = f"//{package.name}:{target.name}"
            for attribute, kind in target.spec.attrs.items():
                for text in label_values(kind, target.attrs.get(attribute)):
                    parts = split_label(text, package.name)
                    if parts and not parts[0] and parts[1] in workspace.packages:
                        other = workspace.packages[parts[1]].targets.get(parts[2])
                        if other is not None:
                            # A derived target (":image.digest") stands for the call that made it.
                            edges.setdefault(key, []).append(f"//{parts[1]}:{other.attrs.get('name')}")
    problems, state = [], {}  # state: 1 = on the current path, 2 = done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in edges.get(node, []):
            if state.get(nxt) == 1:
                cycle = [*path[path.index(nxt) :], nxt] if nxt in path else [node, nxt]
                package = nxt[2:].split(":")[0]
                build = str(workspace.packages[package].build_file.relative_to(workspace.root))
                problems.append(Problem(build, "dependency cycle: " + " -> ".join(cycle)))
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    return problems


def check_models(workspace: Workspace) -> list[Problem]:
    """Every models/<m> package has an image, its push, artifacts and the deploy targets."""
    problems = []
    for name, package in sorted(workspace.packages.items()):
        if not re.fullmatch(r"models/[^/]+", name):
            continue
        build = str(package.build_file.relative_to(workspace.root))
        if not package.evaluated:
            continue  # its evaluation error is already reported; listing every target adds noise
        targets = package.targets
        promised = ["image", "image.push", "image.digest", "deploy.apply", "deploy.resolve"]
        environments = environments_bzl.environment_names(workspace.root)
        promised += [f"deploy.{env}.{verb}" for env in environments for verb in DEPLOY_VERBS]
        for wanted in promised:
            if wanted not in targets:
                problems.append(Problem(build, f"missing promised target :{wanted}"))
        if not any(t.kind == "model_artifacts_rule" for t in targets.values()):
            problems.append(Problem(build, "no model_artifacts target (weights / exported model)"))
    return problems


def multi_platform_pulls(module: ModuleFile) -> dict[str, list[str]]:
    return {
        tag.attrs.get("name", ""): list(tag.attrs["platforms"])
        for tag in module.tags
        if tag.extension == OCI_EXTENSION and tag.name == "pull" and tag.attrs.get("platforms")
    }


def shell_less_pulls(module: ModuleFile) -> set[str]:
    """oci.pull repos (and their per-platform repos) of distroless images: no shell in them."""
    names = set()
    for tag in module.tags:
        if (
            tag.extension == OCI_EXTENSION
            and tag.name == "pull"
            and "distroless" in tag.attrs.get("image", "")
        ):
            name = tag.attrs.get("name", "")
            names.add(name)
            names.update("_".join([name, *p.split("/")]) for p in tag.attrs.get("platforms", []))
    return names


_STATUS_FLAG = re.compile(r"--workspace_status_command=(\S+)")
_STATUS_KEY = re.compile(r'^echo "([A-Z][A-Z0-9_]*) ', re.MULTILINE)


def check_stamp_keys(root: Path) -> list[Problem]:
    """Every key the workspace status script prints is read by a stamping consumer (a .bzl or the
    tools it runs): an unread STABLE_ key only re-runs stamped actions for nothing."""
    bazelrc = root / ".bazelrc"
    match = _STATUS_FLAG.search(bazelrc.read_text(encoding="utf-8")) if bazelrc.is_file() else None
    if not match:
        return []
    script = root / match[1]
    if not script.is_file():
        return [Problem(".bazelrc", f"--workspace_status_command names {match[1]}, which does not exist")]
    consumers = [
        path
        for pattern in ("tools/**/*.bzl", "tools/**/*.py")
        for path in root.glob(pattern)
        if path != script and "tests" not in path.relative_to(root).parts
    ]
    text = "\n".join(path.read_text(encoding="utf-8") for path in consumers)
    return [
        Problem(
            match[1],
            f"prints {key}, which no stamping rule or tool reads (tools/**/*.bzl, tools/**/*.py): "
            "--stamp then changes nothing it could",
        )
        for key in _STATUS_KEY.findall(script.read_text(encoding="utf-8"))
        if f'"{key}"' not in text
    ]


def check_repo(
    root: Path, specs: RuleSpecs | None = None, *, check_model_packages: bool = True, warnings=None
) -> list[Problem]:
    """Every problem of the repo at `root`; an empty list means the graph is sound. Known,
    tracked problems (third_party/python/sources.yaml known_unservable) go to `warnings`."""
    specs = specs or load_rule_specs()
    module_path = root / "MODULE.bazel"
    if not module_path.is_file():
        return [Problem("MODULE.bazel", "file not found")]
    module = read_module_file(module_path, specs.extensions)
    problems = check_module(module, specs, root)
    workspace = Workspace(root, specs, module.repos)
    workspace.evaluate()
    problems += workspace.problems
    problems += check_labels(workspace, LockIndex(root, module))
    problems += check_cycles(workspace)
    if check_model_packages:
        problems += check_models(workspace)
        problems += variant_checks.check_image_variants(workspace)
        problems += variant_checks.check_environment_exports(workspace)
    problems += runner_checks.check_test_runners(workspace)
    problems += runner_checks.check_test_files_have_targets(workspace)
    problems += test_data_checks.check_test_data(workspace)
    problems += pip_checks.check_mixed_hubs(workspace, module, root)
    source_problems, source_warnings = pip_checks.check_sources(module, root, workspace)
    problems += source_problems
    if warnings is not None:
        warnings.extend(source_warnings)
        warnings.extend(unresolved_pulls(module).values())
    problems += image_checks.check_pkg_tar_remaps(workspace)
    problems += app_layer_checks.check_app_layers(workspace)
    debian = image_checks.debian_lock(workspace, module)
    problems += image_checks.check_launchers(workspace, shell_less_pulls(module), debian and debian[1])
    if debian:
        problems += image_checks.check_debian_bases(workspace, *debian)
    problems += repo_rule_checks.check_repo_rules(module, workspace)
    problems += image_checks.check_host_platform(workspace, multi_platform_pulls(module))
    problems += check_stamp_keys(root)
    problems += environments_bzl.check(root)
    return merge_repeats(problems)


def merge_repeats(problems: list[Problem]) -> list[Problem]:
    """One line for the same mistake in many targets (a macro expands it once per environment)."""
    merged: dict[tuple, list[str]] = {}
    for problem in problems:
        key = (problem.file, problem.message, problem.attribute)
        merged.setdefault(key, [])
        if problem.target:
            merged[key].append(problem.target)
    return [
        Problem(file, message, ", :".join(dict.fromkeys(targets)) or None, attribute)
        for (file, message, attribute), targets in merged.items()
    ]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    root = Path(argv[0]).resolve() if argv else Path(__file__).resolve().parents[2]
    warnings: list[str] = []
    problems = check_repo(root, warnings=warnings)
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    for problem in problems:
        print(problem)
    print(f"{len(problems)} problem(s) in the Bazel graph of {root}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
