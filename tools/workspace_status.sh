#!/usr/bin/env bash
# Bazel's --workspace_status_command: prints "KEY value" lines for stamping.
#
# Only keys something reads (the static check tools/bazel/graph.py fails on an unread one):
# STABLE_GIT_COMMIT and STABLE_GIT_TREE_STATE become the image label org.opencontainers.image.revision
# (tools/oci/layer_main.py, run by py_image's labels action under --stamp, and by `python -m tools
# build --stamp`). STABLE_* keys land in stable-status.txt: a change re-runs stamped actions.
# Outside a git checkout (a source tarball) it prints "unknown" instead of failing the build.
set -o errexit -o nounset -o pipefail

commit="$(git rev-parse HEAD 2>/dev/null || echo unknown)"
if [[ "${commit}" != unknown ]] && [[ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]]; then
  tree_state="dirty"
else
  tree_state="clean"
fi

echo "STABLE_GIT_COMMIT ${commit}"
echo "STABLE_GIT_TREE_STATE ${tree_state}"
