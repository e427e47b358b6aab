"""Implementation of `debian_base`: the local Python base and its Bazel counterpart."""

def debian_base(
        name,
        lock,  # @unused: read by the Python builder
        upstream,
        layers = None,  # @unused: read by the Python builder
        visibility = None,
        tags = []):
    """A Python 3.11 base image.

    `python -m tools build` assembles it from the Debian bookworm .debs pinned (version + sha256,
    from Debian's own metadata) in `lock`, without a container engine (tools/oci/debian.py). Bazel
    cannot do that without extra rules, so under Bazel this is an alias of `upstream`, the
    distroless python3-debian12 image pinned by digest in MODULE.bazel: the same Debian python3.11
    with the same nonroot user 65532.

    Args:
        name: the base's name (`python311`).
        lock: the JSON lock of .debs by layer (`packages.lock.json`), made by
            `python -m tools.oci.debian_lock` from packages.yaml.
        upstream: the `oci.pull` repository Bazel uses instead (`@python_base`).
        layers: which of the lock's layers this base has, in order (`["base", "interpreter"]`);
            all of them when None. Read by the Python builder only.
        visibility: visibility of the alias.
        tags: tags of the alias.
    """
    native.alias(
        name = name,
        actual = upstream,
        tags = tags,
        visibility = visibility,
    )
