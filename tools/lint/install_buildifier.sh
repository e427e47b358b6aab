#!/usr/bin/env bash
# Installs buildifier (the Bazel formatter/linter) into ${CF_BUILD_DIR:-.build}/npm, pinned, and
# prints the binary's path.
#
# Why npm: it is the one registry reachable here that ships buildifier as a prebuilt binary
# (@bazel/buildifier wraps the bazelbuild/buildtools release). Quick when already installed.
set -o errexit -o nounset -o pipefail

# Pin: npm registry, `npm view @bazel/buildifier@8.2.1 dist.integrity` (buildtools release 8.2.1).
VERSION="8.2.1"
INTEGRITY="sha512-eZ/Aq+2r4PcJa6LbPCT6ffgIJfTU/gYilqIzoX2OLM4nNkbQC6tTMPZNn7aHHjhGPxbNLv41zm4Xqt1olCLgXw=="

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
bash "${repo_root}/tools/lint/npm_install.sh" @bazel/buildifier "${VERSION}" "${INTEGRITY}"
binary="${CF_BUILD_DIR:-${repo_root}/.build}/npm/node_modules/.bin/buildifier"
if ! "${binary}" --version | grep -q "buildifier version: ${VERSION}"; then
  echo "error: ${binary} is not buildifier ${VERSION}" >&2
  exit 1
fi
echo "${binary}"
