#!/usr/bin/env bash
# Installs buildifier (the Bazel formatter/linter) into ${CF_BUILD_DIR:-.build}/npm, pinned.
#
# Why npm: it is the one registry reachable here that ships buildifier as a prebuilt binary
# (@bazel/buildifier wraps the bazelbuild/buildtools release). Idempotent and quick when the pinned
# version is already there. Prints the path of the binary on stdout.
set -o errexit -o nounset -o pipefail

# Pin: npm registry, `npm view @bazel/buildifier version` -> 8.2.1 (buildtools release 8.2.1).
VERSION="8.2.1"

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build_dir="${CF_BUILD_DIR:-${repo_root}/.build}"
prefix="${build_dir}/npm"
binary="${prefix}/node_modules/.bin/buildifier"

installed_version() {
  "${binary}" --version 2>/dev/null | sed -n 's/^buildifier version: \([0-9.]*\).*/\1/p'
}

if [[ -x "${binary}" && "$(installed_version)" == "${VERSION}" ]]; then
  echo "${binary}"
  exit 0
fi

echo "installing @bazel/buildifier@${VERSION} into ${prefix}" >&2
mkdir -p "${prefix}"
npm install --prefix "${prefix}" --no-audit --no-fund --save-exact "@bazel/buildifier@${VERSION}" >&2
if [[ "$(installed_version)" != "${VERSION}" ]]; then
  echo "error: ${binary} is not buildifier ${VERSION} after install" >&2
  exit 1
fi
echo "${binary}"
