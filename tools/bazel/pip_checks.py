"""Checks of the pip hubs: what pip.parse can fetch, and which hubs one binary or test may mix.

- Pins no allowed index serves. pip.parse (rules_python 2.3.2) fetches each lock's pins from the
  indexes its tag names (experimental_index_url / experimental_extra_index_urls, or the
  --index-url/--extra-index-url of extra_pip_args), PyPI when it names none; py_image's packages
  layer runs pip on the image's lock with no index flag, so PyPI. Which indexes may be
  used, and what each can serve, is data: third_party/python/sources.yaml. A pin with a PEP 440
  local version (`torch==2.13.0+cpu`) is never on PyPI, which refuses such uploads; a `file:` or
  `--find-links` source is on one machine only.
- Mixed hubs. rules_python's pip hubs are separate dependency closures: one binary or test that
  takes packages from two hubs gets two copies of every package both closures hold (numpy 1.26.4
  from one, 2.x from the other), and aspect_rules_py's venv then fails with "Conflicting symlinks
  found when attempting to create venv. More than one package provides the file at these paths"
  (aspect_rules_py v1.12.0 py/tools/py/src/pth.rs, package_collisions = "error" by default).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tools.bazel.packages import Problem, label_values, split_label

PIP_EXTENSION = "@rules_python//python/extensions:pip.bzl%pip"
SOURCES_FILE = "third_party/python/sources.yaml"
PYPI = "https://pypi.org/simple"
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)", re.MULTILINE)
_VIA = re.compile(r"^\s+#\s+(?:via\s+)?([A-Za-z0-9][A-Za-z0-9._-]*)\s*$", re.MULTILINE)
_INDEX_FLAG = re.compile(r"^--(?:extra-)?index-url[ =](\S+)", re.MULTILINE)


def normalize(name: str) -> str:
    """A distribution name as rules_python's hub names its package: lower case, `_` separated."""
    return re.sub(r"[-_.]+", "_", name).lower()


@dataclass
class Lock:
    """A pip-compile lock: pins, and each package's in-lock dependencies (from `# via` lines)."""

    path: Path
    pins: dict[str, str] = field(default_factory=dict)  # normalized name -> version
    spelled: dict[str, str] = field(default_factory=dict)  # normalized -> as written
    needs: dict[str, set[str]] = field(default_factory=dict)  # package -> packages it pulls in
    text: str = ""

    @classmethod
    def read(cls, path: Path) -> Lock:
        lock = cls(path, text=path.read_text(encoding="utf-8"))
        blocks = re.split(r"\n(?=[A-Za-z0-9])", lock.text)
        for block in blocks:
            pin = _PIN.match(block)
            if not pin:
                continue
            name = normalize(pin[1])
            lock.pins[name] = pin[2]
            lock.spelled[name] = pin[1]
            for parent in _VIA.findall(block):
                if not parent.startswith("-r"):
                    lock.needs.setdefault(normalize(parent), set()).add(name)
        return lock

    def closure(self, names: set[str]) -> set[str]:
        """The packages a hub installs for `names`: each with its in-lock dependencies."""
        found, todo = set(), list(names)
        while todo:
            name = todo.pop()
            if name not in found:
                found.add(name)
                todo.extend(self.needs.get(name, ()))
        return found


@dataclass
class Hubs:
    """pip.parse hubs of MODULE.bazel: lock, and the index flags each tag passes."""

    locks: dict[str, Lock] = field(default_factory=dict)
    indexes: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def from_module(cls, module, root: Path) -> Hubs:
        hubs = cls()
        for tag in module.tags:
            if tag.extension != PIP_EXTENSION or tag.name != "parse":
                continue
            hub = tag.attrs.get("hub_name", "")
            parts = split_label(tag.attrs.get("requirements_lock", ""), "")
            path = root / parts[1] / parts[2] if parts and not parts[0] else None
            if path is not None and path.is_file():
                hubs.locks[hub] = Lock.read(path)
            urls = [tag.attrs.get("experimental_index_url", "")]
            urls += list(tag.attrs.get("experimental_extra_index_urls", []))
            urls += _INDEX_FLAG.findall("\n".join(tag.attrs.get("extra_pip_args", [])))
            hubs.indexes[hub] = [u for u in urls if u]
        return hubs


def _allowed_sources(root: Path) -> tuple[dict[str, dict], list[dict], list[Problem]]:
    path = root / SOURCES_FILE
    if not path.is_file():
        return {}, [], [Problem(SOURCES_FILE, "file not found: the indexes pip.parse may fetch from")]
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    indexes = {entry["url"].rstrip("/"): entry for entry in data.get("indexes", [])}
    return indexes, list(data.get("known_unservable", [])), []


def _fetched_locks(module, workspace, root: Path) -> dict[Path, tuple[str, list[str]]]:
    """Every lock something fetches under Bazel: lock -> (who, index URLs). pip.parse hubs use
    their tag's indexes; py_image's packages layer (image_layer kind pip) runs pip with no index
    flag, so PyPI."""
    hubs = Hubs.from_module(module, root)
    fetched: dict[Path, tuple[str, list[str]]] = {}
    for hub, lock in sorted(hubs.locks.items()):
        fetched[lock.path] = (f"pip hub {hub}", hubs.indexes.get(hub, []) or [PYPI])
    for package in workspace.packages.values() if workspace else ():
        for target in package.targets.values():
            if target.kind == "image_layer" and target.attrs.get("kind") == "pip":
                parts = split_label(str(target.attrs.get("lock", "")), package.name)
                path = root / parts[1] / parts[2] if parts and not parts[0] else None
                if path is not None and path.is_file() and path not in fetched:
                    fetched[path] = (f"the packages layer of //{package.name}:{target.name}", [PYPI])
    return fetched


def check_sources(module, root: Path, workspace=None) -> tuple[list[Problem], list[str]]:
    """(problems, warnings): pins no allowed index serves; known ones (with an issue) are warnings."""
    allowed, known, problems = _allowed_sources(root)
    known_keys = {(k.get("lock"), k.get("pin")): k for k in known}
    seen_known = set()
    warnings = []
    for path, (who, urls) in sorted(_fetched_locks(module, workspace, root).items()):
        rel = str(path.relative_to(root))
        lock = Lock.read(path)
        # Index lines in the lock itself: pip reads them from a requirements file, and pip.parse
        # takes a lock's option lines as pip args too (rules_python 2.3.2
        # python/private/pypi/parse_requirements.bzl: parse_result.options -> index_url,
        # extra_index_url).
        urls = [u.rstrip("/") for u in [*urls, *_INDEX_FLAG.findall(lock.text)]]
        for url in urls:
            if url not in allowed:
                problems.append(Problem(rel, f"{who}: index {url} is not in {SOURCES_FILE}"))
        local_ok = any(allowed.get(u, {}).get("local_versions") for u in urls)
        for flag in re.findall(r"^(--find-links\S*|-f\s\S+|.*@ file:\S+)", lock.text, re.MULTILINE):
            problems.append(
                Problem(rel, f"{flag.strip()!r}: a path on one machine, not an index {who} can reach")
            )
        for name, version in sorted(lock.pins.items()):
            if "+" not in version or local_ok:
                continue
            pin = f"{lock.spelled[name]}=={version}"
            message = (
                f"{pin}: a PEP 440 local version, which PyPI never serves (it refuses such uploads), "
                f"and no index {who} fetches from ({', '.join(urls)}) may serve local versions per "
                f"{SOURCES_FILE}: the fetch fails"
            )
            entry = known_keys.get((rel, pin))
            if entry:
                seen_known.add((rel, pin))
                warnings.append(f"{rel}: {message} (known: {entry.get('issue', 'no issue named')})")
            else:
                problems.append(Problem(rel, message))
    for lock_rel, pin in sorted(set(known_keys) - seen_known, key=str):
        problems.append(
            Problem(SOURCES_FILE, f"known_unservable {pin} is not in {lock_rel} any more: drop it")
        )
    return problems, warnings


def _hub_packages(workspace, target, locks: dict[str, Lock]) -> dict[str, set[str]]:
    """hub -> pip packages a binary/test takes, through its in-repo deps (transitively)."""
    used: dict[str, set[str]] = {}
    seen = set()
    todo = [(target.package, target)]
    while todo:
        package, current = todo.pop()
        for attribute in ("deps", "srcs", "data"):
            for text in label_values(current.spec.attrs.get(attribute, ""), current.attrs.get(attribute)):
                parts = split_label(text, package)
                if parts is None:
                    continue
                repo, pkg, name = parts
                if repo in locks:
                    used.setdefault(repo, set()).add(normalize(pkg))
                elif not repo and pkg in workspace.packages and (pkg, name) not in seen:
                    seen.add((pkg, name))
                    dep = workspace.packages[pkg].targets.get(name)
                    if dep is not None:
                        todo.append((pkg, dep))
    return used


def check_mixed_hubs(workspace, module, root: Path) -> list[Problem]:
    locks = Hubs.from_module(module, root).locks
    problems = []
    for package in workspace.packages.values():
        build = str(package.build_file.relative_to(workspace.root))
        for target in package.targets.values():
            if target.name != target.attrs.get("name") or not (target.spec.test or target.spec.executable):
                continue
            if not target.kind.startswith("py_"):
                continue
            used = _hub_packages(workspace, target, locks)
            closures = {hub: locks[hub].closure(names) for hub, names in used.items()}
            hubs = sorted(closures)
            for i, first in enumerate(hubs):
                for second in hubs[i + 1 :]:
                    both = sorted(closures[first] & closures[second])
                    if both:
                        shown = ", ".join(
                            f"{locks[first].spelled[n]} {locks[first].pins[n]} vs {locks[second].pins[n]}"
                            for n in both[:4]
                        )
                        more = f" and {len(both) - 4} more" if len(both) > 4 else ""
                        problems.append(
                            Problem(
                                build,
                                f"mixes pip hubs @{first} and @{second}, which both provide {shown}{more}: "
                                "aspect_rules_py fails with 'Conflicting symlinks found when attempting to "
                                "create venv. More than one package provides the file at these paths'; "
                                "take every pip package of one binary or test from one hub",
                                target.name,
                            )
                        )
    return problems
