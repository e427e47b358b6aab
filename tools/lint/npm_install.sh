#!/usr/bin/env bash
# npm_install.sh PACKAGE VERSION INTEGRITY: installs one pinned npm package into
# ${CF_BUILD_DIR:-.build}/npm and checks the tarball npm fetched is the pinned one.
#
# INTEGRITY is the registry's dist.integrity (`npm view PACKAGE@VERSION dist.integrity`), compared
# with what npm recorded in node_modules/.package-lock.json. Idempotent: a package already there at
# that version and integrity is left alone.
set -o errexit -o nounset -o pipefail

package="$1" version="$2" integrity="$3"
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
prefix="${CF_BUILD_DIR:-${repo_root}/.build}/npm"
lock="${prefix}/node_modules/.package-lock.json"

recorded() {
  [[ -f "${lock}" ]] || return 0
  node -e '
    const [lock, pkg] = process.argv.slice(1);
    const entry = (require(lock).packages || {})["node_modules/" + pkg] || {};
    console.log(`${entry.version || ""} ${entry.integrity || ""}`);
  ' "${lock}" "${package}"
}

if [[ "$(recorded)" == "${version} ${integrity}" ]]; then
  exit 0
fi
echo "installing ${package}@${version} into ${prefix}" >&2
mkdir -p "${prefix}"
npm install --prefix "${prefix}" --no-audit --no-fund --save-exact "${package}@${version}" >&2
if [[ "$(recorded)" != "${version} ${integrity}" ]]; then
  echo "error: ${package}@${version}: npm installed '$(recorded)', expected integrity ${integrity}" >&2
  exit 1
fi
