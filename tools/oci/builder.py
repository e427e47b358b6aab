"""``python -m tools build``: an OCI image layout from a ``py_image`` description in a BUILD file.

Layers, ordered by how often they change: the Debian base (libs), the interpreter, third-party
packages (the hash lock), model artifacts, app code. A ``py_image`` may also use another
``py_image`` as its base (a model image on its runtime's image, as ``oci_image(base = ...)`` does),
inheriting its layers and config. A base pulled by digest (``@tensorflow_serving_gpu``) exists only
for Bazel; the builder says so instead of failing obscurely.
"""

from __future__ import annotations

import datetime
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from tools.bazel.build_file import Target, read_target, read_targets
from tools.errors import UserError
from tools.labels import Label
from tools.oci import debian, layer_main, layers
from tools.oci.cache import LayerBlob, blob_path
from tools.oci.layout import read_manifest, write_layout
from tools.oci.progress import Progress
from tools.oci.spec import ImageSpec, image_spec
from tools.paths import REPO_ROOT, image_digest_file, image_layout_dir

EPOCH = "1970-01-01T00:00:00Z"
# How the app layer is found by Python (cwd is /app too, but a subprocess may chdir), and no .pyc
# writes on a read-only root fs.
# In py_image.bzl's order (buildifier keeps its keys sorted): rules_oci appends an image's new
# variables in its env dict's order, so the two configs list Env alike (test_bazel_layers.py).
PYTHON_ENV = {"PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": "/app", "PYTHONUNBUFFERED": "1"}
# py_library_in_hubs (third_party/python/hubs.bzl) is a py_library per pip hub: the same sources.
_SOURCE_KINDS = ("filegroup", "py_library", "py_binary", "py_library_in_hubs")


@dataclass
class BuiltImage:
    label: Label
    digest: str
    layout_dir: Path
    layers: list[tuple[str, LayerBlob]] = field(default_factory=list)
    config: dict = field(default_factory=dict)


@dataclass
class _Base:
    layers: list[tuple[str, LayerBlob]]
    config: dict  # the "config" part of an image config (Env, Entrypoint, ...)


def _build_file(root: Path, package: str) -> Path:
    return root / package / "BUILD.bazel"


def collect_sources(labels: list[str], package: str, root: Path) -> list[Path]:
    """Files named by ``labels`` (files, filegroups, py_library srcs and in-repo deps), plus the
    ``__init__.py`` of every package above a .py file. External labels (``@pypi_x//...``) are the
    lock's business and are skipped."""
    found: set[Path] = set()
    seen: set[Label] = set()
    packages: dict[str, dict[str, Target]] = {}

    def visit(text: str, in_package: str) -> None:
        label = Label.parse(text, package=in_package)
        if label.repo or label in seen:
            return
        seen.add(label)
        if label.package not in packages:
            packages[label.package] = read_targets(label.package, root=root)
        target = packages[label.package].get(label.name)
        if target is None:
            path = root / label.package / label.name
            if not path.is_file():
                raise UserError(f"{label}: no such target or file", file=_build_file(root, in_package))
            found.add(path)
            return
        if target.kind not in _SOURCE_KINDS:
            raise UserError(
                f"{label} is a {target.kind}; srcs/deps take files, filegroups and py_library "
                "targets (model_artifacts go in artifacts =)",
                file=_build_file(root, in_package),
            )
        for attr in ("srcs", "deps", "data"):
            for dep in target.attrs.get(attr) or ():
                visit(dep, label.package)

    for text in labels:
        visit(text, package)
    return sorted(found | package_inits(found, root))


def package_inits(files: set[Path], root: Path) -> set[Path]:
    """The ``__init__.py`` of every package above a .py file of ``files`` (the app layer ships them,
    so a package is a regular one in the image as in the repo). The graph check asks the same of
    Bazel's app layer (tools/bazel/image_checks.py check_app_layers)."""
    inits = set()
    for path in files:
        if path.suffix == ".py":
            parent = path.parent
            while parent != root and parent.is_relative_to(root):
                if (parent / "__init__.py").is_file():
                    inits.add(parent / "__init__.py")
                parent = parent.parent
    return inits


def main_module(main: str, package: str, root: Path) -> str:
    """``//runtimes/fastapi:__main__.py`` -> ``runtimes.fastapi``: what ``python3 -m`` runs."""
    label = Label.parse(main, package=package)
    path = Path(label.package) / label.name
    if path.suffix != ".py" or not (root / path).is_file():
        raise UserError(
            f"main {main!r} is not a .py file in the repo", file=_build_file(root, package), field="main"
        )
    parts = path.with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__main__" else parts)


def _stamp_labels(spec: ImageSpec, label: Label, stamp: bool) -> tuple[dict, str]:
    labels = {"org.opencontainers.image.source": str(label), "org.opencontainers.image.created": EPOCH}
    created = EPOCH
    status = None
    if stamp:
        created = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        labels["org.opencontainers.image.created"] = created
        # The script Bazel runs for --stamp (.bazelrc --workspace_status_command), read the way the
        # Bazel action reads stable-status.txt (tools/oci/layer_main.py), so both stamp alike.
        result = subprocess.run(
            ["bash", str(REPO_ROOT / "tools" / "workspace_status.sh")],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
        )
        status = dict(line.partition(" ")[::2] for line in result.stdout.splitlines() if line)
        if result.returncode != 0 or status.get(layer_main.REVISION_KEY, "unknown") == "unknown":
            raise UserError("--stamp needs a git checkout to read the commit from")
    labels.update(spec.labels)
    return layer_main.stamped_labels(labels, status), created


def _pulled_base(base: str, package: str, root: Path) -> str | None:
    """The ``@repo`` image at the bottom of a chain of py_image bases, if there is one."""
    seen = set()
    while not base.startswith("@"):
        label = Label.parse(base, package=package)
        if label in seen:
            raise UserError(f"py_image bases form a cycle through {label}", file=_build_file(root, package))
        seen.add(label)
        target = read_target(label, root=root)
        if target.kind != "py_image" or not isinstance(target.attrs.get("base"), str):
            return None
        base, package = target.attrs["base"], label.package
    return base


def _resolve_base(spec: ImageSpec, target: Target, root: Path, stamp: bool, progress: Progress) -> _Base:
    build_file = _build_file(root, target.package)
    pulled = _pulled_base(spec.base, target.package, root)
    if pulled:
        raise UserError(
            f"base {pulled!r} is an image pulled by digest in MODULE.bazel (oci.pull): only Bazel can "
            f"build {target.label} (bazel build {target.label}); the Python builder makes images on the "
            "local Debian base (//third_party/debian:python311) or on another py_image",
            file=build_file,
            field="base",
        )
    base_label = Label.parse(spec.base, package=target.package)
    base_target = read_target(base_label, root=root)
    if base_target.kind == "debian_base":
        lock = root / base_label.package / base_target.attrs.get("lock", "packages.lock.json")
        names = base_target.attrs.get("layers")
        progress.total += len(debian.select_layers(lock, names))
        base_layers, env = debian.base_layers(lock, progress, names)
        return _Base(base_layers, {"Env": [f"{k}={v}" for k, v in env.items()]})
    if base_target.kind == "py_image":
        built = build_image(base_label, stamp=stamp, root=root)
        return _Base(built.layers, built.config["config"])
    raise UserError(
        f"base {base_label} is a {base_target.kind}; expected debian_base or py_image",
        file=build_file,
        field="base",
    )


def _merge_env(base_env: list[str], *extra: dict[str, str]) -> list[str]:
    env = dict(item.split("=", 1) for item in base_env)
    for more in extra:
        env.update(more)
    return [f"{k}={v}" for k, v in env.items()]


def _count_steps(spec: ImageSpec, files: list[Path]) -> int:
    return (1 if spec.requirements else 0) + len(spec.artifacts) + bool(spec.files) + bool(files)


def _placed_files(spec: ImageSpec, package: str, root: Path) -> dict[str, Path]:
    placed = {}
    for destination, text in sorted(spec.files.items()):
        found = collect_sources([text], package, root)
        found = [f for f in found if f.name != "__init__.py" or text.endswith("__init__.py")]
        if len(found) != 1:
            raise UserError(
                f"files[{destination!r}] must name exactly one file, {text!r} gives {len(found)}",
                file=_build_file(root, package),
                field="files",
            )
        placed[destination] = found[0]
    return placed


def model_signer():
    from tools.supply.models import image_signer  # model-signing is imported only to sign

    return image_signer()


def build_image(label: Label | str, *, stamp: bool = False, root: Path = REPO_ROOT) -> BuiltImage:
    """Builds the image at ``label`` into its OCI layout and writes its ``.digest`` file."""
    from tools.artifacts import build_artifacts  # imports the model's module only when needed

    label = Label.parse(label) if isinstance(label, str) else label
    target = read_target(label, root=root)
    spec = image_spec(target)
    app_labels = [*spec.srcs, *spec.deps, *([spec.main] if spec.main else [])]
    files = collect_sources(app_labels, label.package, root)
    progress = Progress(str(label), total=_count_steps(spec, files))
    base = _resolve_base(spec, target, root, stamp, progress)
    all_layers = list(base.layers)
    if spec.requirements:
        lock_label = Label.parse(spec.requirements, package=label.package)
        lock = root / lock_label.package / lock_label.name
        with progress.step("pip packages") as step:
            all_layers.append((f"pip install -r {spec.requirements}", layers.pip_layer(lock, step)))
    # The model signing key, when set: model.sig beside the weights (tools/supply/models.py).
    sign = model_signer() if spec.artifacts else None
    for destination, artifact in sorted(spec.artifacts.items()):
        source = build_artifacts(Label.parse(artifact, package=label.package))
        with progress.step(f"artifacts {destination}") as step:
            all_layers.append(
                (
                    f"artifacts {artifact} -> {destination}",
                    layers.artifacts_layer(destination, source, spec.artifacts_exclude, step, sign),
                )
            )
    if spec.files:
        placed = _placed_files(spec, label.package, root)
        with progress.step("files") as step:
            all_layers.append((f"files: {', '.join(sorted(placed))}", layers.files_layer(placed, step)))
    if files:
        with progress.step("app code") as step:
            all_layers.append((f"app: {len(files)} files", layers.app_layer(files, root, step)))

    labels, created = _stamp_labels(spec, label, stamp)
    entrypoint = spec.entrypoint or base.config.get("Entrypoint", [])
    if spec.main and not spec.entrypoint:
        entrypoint = ["python3", "-m", main_module(spec.main, label.package, root)]
    base_cfg = base.config
    port_names = [*base_cfg.get("ExposedPorts", {}), *spec.exposed_ports]
    ports = {p if "/" in p else f"{p}/tcp": {} for p in port_names}
    config = {
        "created": created,
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "User": spec.user,
            "Env": _merge_env(base_cfg.get("Env", []), PYTHON_ENV, spec.env),
            "Entrypoint": entrypoint,
            "Cmd": spec.cmd or ([] if entrypoint != base_cfg.get("Entrypoint") else base_cfg.get("Cmd", [])),
            "WorkingDir": spec.workdir,
            "ExposedPorts": dict(sorted(ports.items())),
            "Labels": {**base_cfg.get("Labels", {}), **labels},
        },
        "rootfs": {"type": "layers", "diff_ids": [blob.diff_id for _, blob in all_layers]},
        "history": [{"created": EPOCH, "created_by": f"servectl: {what}"} for what, _ in all_layers],
    }
    if not config["config"]["Entrypoint"]:
        raise UserError(
            "no entrypoint (set entrypoint = [...] or use a base image that has one)",
            file=_build_file(root, label.package),
            field="entrypoint",
        )
    layout_dir = image_layout_dir(label)
    digest_file = image_digest_file(label)
    # The old digest file goes first and the new one is renamed into place only once the layout
    # is: an interrupted build never leaves a digest naming an image the layout does not hold.
    digest_file.unlink(missing_ok=True)
    digest, _ = write_layout(layout_dir, config, [blob for _, blob in all_layers])
    tmp = digest_file.with_name(digest_file.name + ".tmp")
    tmp.write_text(f"{digest}\n")
    tmp.replace(digest_file)
    size = sum(blob.size for _, blob in all_layers)
    progress.finish(f"{digest} ({len(all_layers)} layers, {size / 1e6:.1f} MB) -> {layout_dir}")
    return BuiltImage(label=label, digest=digest, layout_dir=layout_dir, layers=all_layers, config=config)


def read_built(label: Label) -> BuiltImage:
    """The image ``build`` last wrote for ``label`` (for push)."""
    layout_dir = image_layout_dir(label)
    if not (layout_dir / "index.json").exists():
        raise UserError(f"{label} is not built yet (run: python -m tools build {label})")
    digest, manifest, config = read_manifest(layout_dir)
    blobs = [
        LayerBlob(path=blob_path(d["digest"]), digest=d["digest"], diff_id="", size=d["size"])
        for d in manifest["layers"]
    ]
    return BuiltImage(
        label=label, digest=digest, layout_dir=layout_dir, layers=[("", b) for b in blobs], config=config
    )
