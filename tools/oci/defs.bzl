"""Public API of the image rules: `py_image` and `debian_base` (implemented in private/).

    load("//tools:defs.bzl", "py_image")                 # in model and runtime packages
    load("//tools/oci:defs.bzl", "debian_base")          # in third_party/debian

`python -m tools build //pkg:image` reads the same calls (tools/bazel/build_file.py records them)
and builds the image without Bazel or a container engine (tools/oci/builder.py).
"""

load("//tools/oci/private:debian_base.bzl", _debian_base = "debian_base")
load("//tools/oci/private:py_image.bzl", _py_image = "py_image")

debian_base = _debian_base
py_image = _py_image
