"""Checks that every test declares the repo files it reads (its runfiles), so it is hermetic.

Under `bazel test` a test sees the workspace only through its runfiles: its srcs, its `data` and
those of its deps, transitively (bazel.build/extending/rules#runfiles). Locally the sandbox still
lets a test that resolves a runfiles symlink (`Path(__file__).resolve()`, tools.paths.REPO_ROOT)
read undeclared source files next to it; on remote execution, where the runfiles are the only
files there are, it fails. This check reads each test target's Python sources (the test file and
its helpers), finds the repo paths they name, and reports each that no runfile of the target covers:

    REPO_ROOT / "models" / "yolo" / "model.yaml"        -> models/yolo/model.yaml
    Path(__file__).parent / "testdata" / "x.json"       -> <test dir>/testdata/x.json
    TESTDATA = Path(__file__).parent / "testdata"; TESTDATA / "a.txt"  (module-level names)

A path that does not exist in the source tree is an output (`REPO_ROOT / ".build"`) and is not a
read. A directory is covered when a declared file lies under it. `manual` tests are not run by
`bazel test //...` and are not checked.
"""

from __future__ import annotations

import ast
import functools
import itertools
import posixpath

from tools.bazel.packages import Problem, split_label

_OUTSIDE_SOURCES = (".build/", ".venvs/", ".git/")
_PYTEST_ROOT_FILES = ("conftest.py", "pyproject.toml")
_REPO_TOPS = ("models", "runtimes", "tools")


def _join(base: str, part: str) -> str:
    return posixpath.normpath(posixpath.join(base, part)).lstrip("./") if part else base


class _Paths(ast.NodeVisitor):
    """Repo-relative paths a Python file names through REPO_ROOT or its own location.

    `resolve` gives every path an expression can be (a name bound by `for top in ("a", "b")` is
    both); string names come from the file's module level, its loops, and the module-level string
    constants of repo modules it imports (`from tools.oci.tests.helpers import HELLO`)."""

    def __init__(self, root, file_rel: str):
        self.root, self.file_rel = root, file_rel
        self.names: dict[str, list[str]] = {"REPO_ROOT": [""]}
        self.strings: dict[str, list[str]] = {}
        self.reads: set[str] = set()
        self.modules: set[str] = set()

    def _string_values(self, node) -> list[str]:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return [node.value]
        if isinstance(node, ast.Name):
            return self.strings.get(node.id, [])
        if isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant):
            prefix = str(node.values[0].value)
            return [prefix.rsplit("/", 1)[0]] if "/" in prefix else []  # f"dir/{x}.yaml": dir
        return []

    def resolve(self, node) -> list[str]:
        if isinstance(node, ast.Name):
            return [self.file_rel] if node.id == "__file__" else self.names.get(node.id, [])
        if isinstance(node, ast.Attribute):
            if node.attr == "REPO_ROOT":
                return [""]
            return [posixpath.dirname(b) for b in self.resolve(node.value)] if node.attr == "parent" else []
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute):
            index = node.slice.value if isinstance(node.slice, ast.Constant) else None
            if node.value.attr != "parents" or not isinstance(index, int):
                return []
            bases = self.resolve(node.value.value)
            for _ in range(index + 1):
                bases = [posixpath.dirname(b) for b in bases]
            return bases
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id == "Path" and len(node.args) == 1:
                return self.resolve(node.args[0])
            if isinstance(func, ast.Attribute) and func.attr in ("resolve", "absolute") and not node.args:
                return self.resolve(func.value)
            return []
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            bases = self.resolve(node.left)
            parts = self._string_values(node.right)
            if bases and not parts:
                self.reads.update(bases)  # REPO_ROOT / name: something under the base
            return [_join(b, p) for b in bases for p in parts]
        return []

    def visit_Module(self, node: ast.Module) -> None:
        definitions = set()  # `TESTDATA = Path(__file__).parent / "testdata"` names, reads nothing
        for statement in node.body:
            if isinstance(statement, ast.ImportFrom) and statement.module and statement.level == 0:
                module = self.root / (statement.module.replace(".", "/") + ".py")
                constants = _module_strings(module) if module.is_file() else {}
                for alias in statement.names:
                    if alias.name in constants:
                        self.strings[alias.asname or alias.name] = [constants[alias.name]]
            if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
                target = statement.targets[0]
                if isinstance(target, ast.Name):
                    paths = self.resolve(statement.value)
                    if paths:
                        self.names[target.id] = paths
                        definitions.add(id(statement))
                    elif isinstance(statement.value, ast.Constant) and isinstance(statement.value.value, str):
                        self.strings[target.id] = [statement.value.value]
        for statement in node.body:
            if id(statement) not in definitions:
                self.visit(statement)

    def visit_For(self, node: ast.For) -> None:
        if isinstance(node.target, ast.Name) and isinstance(node.iter, (ast.Tuple, ast.List)):
            values = [v for e in node.iter.elts for v in self._string_values(e)]
            if values and len(values) == len(node.iter.elts):
                self.strings[node.target.id] = values
        self.generic_visit(node)

    def visit_BinOp(self, node: ast.BinOp) -> None:
        paths = self.resolve(node)
        if paths:
            self.reads.update(paths)
            return
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        # A path handed to a function as is (`check_repo(REPO_ROOT)`, `copytree(TESTDATA, ...)`) or
        # listed (`REPO_ROOT.glob(...)`) is read whole; `p.relative_to(REPO_ROOT)` reads nothing.
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in ("glob", "rglob", "iterdir", "walk"):
            self.reads.update(self.resolve(func.value))
        names_only = (
            isinstance(func, ast.Attribute) and func.attr in ("relative_to", "is_relative_to", "fspath")
        ) or (
            isinstance(func, ast.Name) and func.id in ("str", "repr")
        )  # the path as text (PYTHONPATH=str(REPO_ROOT)) or as a base: nothing is read
        if not names_only:
            for argument in node.args:
                if isinstance(argument, (ast.Name, ast.Attribute)):
                    self.reads.update(p for p in self.resolve(argument) if p != self.file_rel)
        self.generic_visit(node)

    def _module(self, dotted: str, *, main: bool = False) -> None:
        """A repo module the file imports or runs (`python -m X`): its .py file is read."""
        if dotted.split(".")[0] not in _REPO_TOPS:
            return
        base = dotted.replace(".", "/")
        candidates = [f"{base}/__main__.py"] if main else []
        candidates += [f"{base}.py", f"{base}/__init__.py"]
        found = next((c for c in candidates if (self.root / c).is_file()), None)
        if found:
            self.modules.add(found)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._module(alias.name)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.module and node.level == 0:
            self._module(node.module)
            for alias in node.names:
                self._module(f"{node.module}.{alias.name}")

    def visit_List(self, node) -> None:
        # ["python", "-m", "tools", ...]: runs tools/__main__.py.
        items = [e.value if isinstance(e, ast.Constant) else None for e in node.elts]
        for flag, module in itertools.pairwise(items):
            if flag == "-m" and isinstance(module, str):
                self._module(module, main=True)
        self.generic_visit(node)

    visit_Tuple = visit_List

    def visit_Name(self, node: ast.Name) -> None:
        if node.id in self.names and node.id != "REPO_ROOT":
            self.reads.update(self.names[node.id])


def _module_strings(path) -> dict[str, str]:
    """Module-level `NAME = "text"` assignments of a Python file."""
    constants = {}
    for statement in ast.parse(path.read_text(encoding="utf-8")).body:
        if (
            isinstance(statement, ast.Assign)
            and len(statement.targets) == 1
            and isinstance(statement.targets[0], ast.Name)
            and isinstance(statement.value, ast.Constant)
            and isinstance(statement.value.value, str)
        ):
            constants[statement.targets[0].id] = statement.value.value
    return constants


@functools.cache
def _scan(root, file_rel: str) -> _Paths:
    visitor = _Paths(root, file_rel)
    visitor.visit(ast.parse((root / file_rel).read_text(encoding="utf-8")))
    return visitor


def imported_modules(root, file_rel: str) -> set[str]:
    """The repo .py files `file_rel` imports or runs with `python -m`."""
    return _scan(root, file_rel).modules - {file_rel}


def named_paths(root, file_rel: str) -> set[str]:
    """The repo files and directories `file_rel` names that exist in the source tree."""
    visitor = _scan(root, file_rel)
    own_dir = posixpath.dirname(file_rel)
    return {
        path
        for path in visitor.reads
        if path != file_rel
        and path != own_dir
        and not (path + "/").startswith(_OUTSIDE_SOURCES)
        and (root / path).exists()
    }


def runfiles(workspace, package: str, labels, seen=None) -> tuple[set[str], list[str]]:
    """(source files, generated targets) in the runfiles of `labels`: srcs, data and deps, all
    the way down (a rule we do not model contributes its label, not its files)."""
    seen = set() if seen is None else seen
    files: set[str] = set()
    generated: list[str] = []
    for label in labels:
        parts = split_label(label, package) if isinstance(label, str) else None
        if not parts or parts[0] or (parts[1], parts[2]) in seen:
            continue
        seen.add((parts[1], parts[2]))
        pkg = workspace.packages.get(parts[1])
        target = pkg.targets.get(parts[2]) if pkg else None
        if target is None:
            files.add(f"{parts[1]}/{parts[2]}" if parts[1] else parts[2])
            continue
        following = []
        for attribute in ("srcs", "data", "deps", "actual", "tests"):
            value = target.attrs.get(attribute)
            following += value if isinstance(value, list) else [value] if isinstance(value, str) else []
        if target.kind not in ("py_library", "py_test", "py_binary", "filegroup", "alias", "test_suite"):
            generated.append(f"//{parts[1]}:{target.attrs.get('name', parts[2])}")
        more_files, more_generated = runfiles(workspace, parts[1], following, seen)
        files |= more_files
        generated += more_generated
    return files, generated


def _parents(rel: str) -> list[str]:
    parts = rel.split("/")[:-1]
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def _covered(path: str, declared: set[str], root, tags, ignored: bool) -> bool:
    if path == "" or ignored:
        # The whole tree, or a .bazelignore'd directory no target can hold: only a test that runs
        # on the host has it.
        return "local" in tags
    if path in declared:
        return True
    if (root / path).is_dir():
        return any(f.startswith(path + "/") for f in declared)
    return False


def check_test_data(workspace) -> list[Problem]:
    problems = []
    for package in workspace.packages.values():
        build = str(package.build_file.relative_to(workspace.root))
        for target in package.targets.values():
            if not target.spec.test or target.name != target.attrs.get("name"):
                continue
            if "manual" in (target.attrs.get("tags") or []):
                continue
            declared, _generated = runfiles(workspace, package.name, [f":{target.name}"])
            if target.attrs.get("pytest_main"):
                # pytest itself reads the root conftest.py and the ini file before any test.
                for path in _PYTEST_ROOT_FILES:
                    if (workspace.root / path).is_file() and path not in declared:
                        problems.append(
                            Problem(
                                build,
                                f"pytest reads {path} at the root before any test (fixtures, "
                                "--import-mode, markers), but it is not in the test's runfiles: "
                                "under `bazel test` the test runs with another configuration; "
                                "depend on //:pytest_root (pytest_tests does)",
                                target.name,
                                "deps",
                            )
                        )
            sources = sorted(f for f in declared if f.endswith(".py") and f.startswith(package.name + "/"))
            sources = [f for f in sources if "/tests/" in f"/{f}"]
            missing: dict[str, list[str]] = {}
            for source in sources:
                if not (workspace.root / source).is_file():
                    continue
                for path in sorted(named_paths(workspace.root, source)):
                    tags = target.attrs.get("tags") or []
                    if not _covered(path, declared, workspace.root, tags, workspace.is_ignored(path)):
                        missing.setdefault(path, []).append(source)
            # An __init__.py above the test file missing from the runfiles makes its package a
            # namespace package: pytest's importlib mode then roots the test's module name below
            # it (runtimes/fastapi/tests/... becomes `fastapi.tests...`, shadowing fastapi).
            test_files = [
                f"{split_label(s, package.name)[1]}/{split_label(s, package.name)[2]}"
                for s in target.attrs.get("srcs") or []
                if isinstance(s, str) and split_label(s, package.name) and "tests/test_" in s
            ]
            inits = sorted(
                {
                    f"{parent}/__init__.py"
                    for f in test_files
                    for parent in _parents(f)
                    if (workspace.root / parent / "__init__.py").is_file()
                }
                - declared
            )
            for init in inits if target.attrs.get("pytest_main") else []:
                if not workspace.is_ignored(init):
                    problems.append(
                        Problem(
                            build,
                            f"{init} is not in the test's runfiles, though the test file is below it: "
                            "under `bazel test` its package is a namespace package and pytest's "
                            "importlib mode names the test's modules differently (a runtime named "
                            "like a pip package shadows it); depend on the library holding it",
                            target.name,
                            "deps",
                        )
                    )
            # Imports and `python -m` runs: of every repo module in the runfiles, since a library
            # (tools/testing/cli.py) may run `python -m tools` for the test.
            python_files = sorted(f for f in declared if f.endswith(".py") and not workspace.is_ignored(f))
            for source in python_files:
                if not (workspace.root / source).is_file():
                    continue
                for module in sorted(imported_modules(workspace.root, source)):
                    if module not in declared and not workspace.is_ignored(module):
                        problems.append(
                            Problem(
                                build,
                                f"{source} imports or runs {module}, which is not in the test's "
                                "runfiles: ModuleNotFoundError under `bazel test`; add the library "
                                "(or py_binary) holding it to the test's deps (or data)",
                                target.name,
                                "deps",
                            )
                        )
            for path, readers in missing.items():
                if path == "":
                    problems.append(
                        Problem(
                            build,
                            f"{readers[0]} reads the whole source tree (REPO_ROOT itself: a check of the "
                            "repo's own files), which no runfiles can hold: tag the test `local` so Bazel "
                            "runs it on the host, never sandboxed or remote",
                            target.name,
                            "tags",
                        )
                    )
                    continue
                kind = "directory" if (workspace.root / path).is_dir() else "file"
                if workspace.is_ignored(path):
                    problems.append(
                        Problem(
                            build,
                            f"{readers[0]} reads the {kind} {path}, which is in .bazelignore (no target "
                            "can put it in the runfiles): tag the test `local` so Bazel runs it on the "
                            "host, never sandboxed or remote",
                            target.name,
                            "tags",
                        )
                    )
                    continue
                problems.append(
                    Problem(
                        build,
                        f"{readers[0]} reads the {kind} {path}, which is not in the test's runfiles "
                        "(srcs, data and deps): it is found only through the local sandbox's "
                        "symlinks into the workspace, and is missing on remote execution; add it "
                        "(or a filegroup/exports_files target holding it) to the test's data",
                        target.name,
                        "data",
                    )
                )
    return problems
