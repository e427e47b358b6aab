"""debian_packages: the pinned Debian .debs of the local base, as one Bazel repository.

The pins are third_party/debian/packages.lock.json (pool path, size and sha256 of each .deb, from
Debian's own repository metadata; `python -m tools.oci.debian_lock` writes it), the same file
`python -m tools build` reads. This rule reads that lock at fetch time, downloads every .deb from
Debian's mirror with the lock's sha256 (a mismatch fails the fetch) and writes one filegroup per
lock layer, in lock order:

    @debian_bookworm//:base         libc6, libgcc-s1, ... (the "base" layer of the lock)
    @debian_bookworm//:interpreter  python3.11 and its libraries

`debian_base` (tools/oci/private/debian_base.bzl) turns each filegroup into one image layer with
`python -m tools.oci.layer_main debian`, the CLI builder's own unpack-and-trim function.
"""

_DOC = """The .debs of a packages.lock.json, downloaded by sha256, one filegroup per lock layer.

Used from MODULE.bazel with use_repo_rule (Bazel 7+).
"""

# Debian's mirror network (deb.debian.org, a CDN in front of the official mirrors). Security updates
# live in the debian-security archive under pool/updates/ (the lock's `filename` says which: it is
# the pool path of the index the pin came from, bookworm or bookworm-security).
DEFAULT_MIRRORS = {
    "debian": ["https://deb.debian.org/debian"],
    "debian-security": ["https://deb.debian.org/debian-security"],
}

def deb_urls(mirrors, filename):
    """The download URLs of one .deb: each mirror of its archive + its pool path.

    Args:
        mirrors: {"debian": [...], "debian-security": [...]} base URLs.
        filename: the lock's pool path ("pool/main/g/glibc/libc6_..._amd64.deb").

    Returns:
        The list of URLs, in mirror order.
    """
    archive = "debian-security" if filename.startswith("pool/updates/") else "debian"
    return [base.rstrip("/") + "/" + filename for base in mirrors[archive]]

def build_file(lock):
    """The repository's BUILD file: one filegroup per lock layer, the .debs in lock order.

    Args:
        lock: the decoded packages.lock.json.

    Returns:
        The BUILD file's text.
    """
    lines = ['package(default_visibility = ["//visibility:public"])', ""]
    for layer in lock["layers"]:
        lines.append("filegroup(")
        lines.append('    name = "%s",' % layer)
        lines.append("    srcs = [")
        for package in lock["layers"][layer]:
            lines.append('        "debs/%s.deb",  # %s %s' % (package["sha256"], package["name"], package["version"]))
        lines.append("    ],")
        lines.append(")")
        lines.append("")
    return "\n".join(lines)

def _debian_packages_impl(rctx):
    lock = json.decode(rctx.read(rctx.attr.lock))
    mirrors = {
        "debian": rctx.attr.mirrors or DEFAULT_MIRRORS["debian"],
        "debian-security": rctx.attr.security_mirrors or DEFAULT_MIRRORS["debian-security"],
    }
    for layer in lock["layers"]:
        for package in lock["layers"][layer]:
            rctx.download(
                url = deb_urls(mirrors, package["filename"]),
                output = "debs/%s.deb" % package["sha256"],
                sha256 = package["sha256"],
            )
    rctx.file("BUILD.bazel", build_file(lock))

debian_packages = repository_rule(
    implementation = _debian_packages_impl,
    doc = _DOC,
    attrs = {
        "lock": attr.label(
            doc = "The packages.lock.json (third_party/debian), the one list of pins.",
            mandatory = True,
        ),
        "mirrors": attr.string_list(
            doc = "Base URLs of the Debian archive (default https://deb.debian.org/debian).",
        ),
        "security_mirrors": attr.string_list(
            doc = "Base URLs of the debian-security archive (default https://deb.debian.org/debian-security).",
        ),
    },
)
