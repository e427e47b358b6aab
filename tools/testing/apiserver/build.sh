#!/usr/bin/env bash
# Builds a real kube-apiserver (v1.20.2) for the cluster tests, from Debian bookworm's own
# `kubernetes` source package, and installs Debian's etcd beside it.
#
# Why from source: no kind, k3s, minikube or envtest binaries are reachable here, only the Debian,
# PyPI and npm registries; Debian ships the Kubernetes source (it only packages the client).
#
# Idempotent and cached: everything lands in ${CF_BUILD_DIR:-.build}/apiserver/ and a second run
# only checks the stamp and exits. Kubernetes source and binaries are never committed.
# Output: ${CF_BUILD_DIR:-.build}/apiserver/bin/kube-apiserver (and /usr/bin/etcd from apt).
set -o errexit -o nounset -o pipefail
# One brace group: bash parses it all before running, so a git pull or an edit mid-build is safe.
{

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
OUT=$(realpath -m "${CF_BUILD_DIR:-${REPO_ROOT}/.build}/apiserver")

# Pins, read with `apt-cache policy` / `apt-cache showsrc` against Debian bookworm main on
# 2026-11-23. A newer bookworm point release that drops one of these versions makes apt fail loudly:
# update the pin from `apt-cache policy <pkg>` then, never silently float.
ETCD_VERSION="3.4.23-4+b4"            # etcd-server, bookworm/main
GO_VERSION="2:1.19~1"                 # golang-go (Go 1.19), bookworm/main
REFLECT2_VERSION="1.0.2-2"            # golang-github-modern-go-reflect2-dev, bookworm/main
K8S_SRC_VERSION="1.20.5+really1.20.2-1.1+deb12u1"   # source package kubernetes, bookworm/main
# sha256 of the .dsc, from `apt-cache showsrc kubernetes` (Checksums-Sha256); apt checks the
# tarballs against the .dsc (and dpkg-source again), we check the .dsc against this.
K8S_DSC_SHA256="19fa1da5aefcef673894ac9511986bd98a14410cf8eea0b626613c30df435257"
K8S_GIT_VERSION="v1.20.2"             # what the source really is ("+really1.20.2")

# Bump when the recipe below changes, so cached builds are redone.
RECIPE=3
STAMP="${OUT}/bin/kube-apiserver.stamp"
WANT_STAMP="kubernetes=${K8S_SRC_VERSION} go=${GO_VERSION} reflect2=${REFLECT2_VERSION} recipe=${RECIPE}"

say() { printf '[apiserver build] %s\n' "$*" >&2; }
as_root() { if [[ $(id -u) == 0 ]]; then "$@"; else sudo "$@"; fi; }
installed_version() { dpkg-query -W -f='${Status} ${Version}\n' "$1" 2>/dev/null | sed -n 's/^install ok installed //p'; }

CLEAN_AFTER=false
case "${1:-}" in
  --clean-after) CLEAN_AFTER=true ;;  # keep only bin/ (what CI caches): frees 1.5 GB of source and Go cache
  "") ;;
  *) echo "usage: $0 [--clean-after]" >&2; exit 2 ;;
esac

apt_install() {
  # Fresh machines (CI containers) have no package lists; old ones may predate the deb-src entry.
  if ! apt-cache show "etcd-server=${ETCD_VERSION}" >/dev/null 2>&1 ||
     { ${NEED_SOURCE} && ! apt-cache showsrc kubernetes 2>/dev/null | grep -qx "Version: ${K8S_SRC_VERSION}"; }; then
    say "apt-get update"
    as_root apt-get update -qq
  fi
  say "apt-get install $*"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}

# --- 1. What the tests run beside the binary: etcd, and openssl for the throwaway certificates
# (not pinned: it takes Debian's security updates; any 3.x makes the same certificates). A cached
# binary (a CI cache hit) needs nothing else.
NEED_SOURCE=false
runtime=()
[[ $(installed_version etcd-server) == "${ETCD_VERSION}" ]] || runtime+=("etcd-server=${ETCD_VERSION}")
command -v openssl >/dev/null || runtime+=(openssl)
if [[ -f "${STAMP}" && $(cat "${STAMP}") == "${WANT_STAMP}" && -x "${OUT}/bin/kube-apiserver" ]]; then
  [[ ${#runtime[@]} == 0 ]] || apt_install "${runtime[@]}"
  say "up to date: ${OUT}/bin/kube-apiserver (${WANT_STAMP})"
  exit 0
fi

# --- 1b. Building: Go and reflect2 too, dpkg-source, and a deb-src entry for the source package.
NEED_SOURCE=true
SOURCES=/etc/apt/sources.list.d/cf-bookworm-src.sources
if [[ ! -f "${SOURCES}" ]]; then
  say "adding a deb-src entry for bookworm main: ${SOURCES}"
  as_root tee "${SOURCES}" >/dev/null <<'EOF'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
fi
want=("${runtime[@]}")
[[ $(installed_version golang-go) == "${GO_VERSION}" ]] || want+=("golang-go=${GO_VERSION}")
[[ $(installed_version golang-github-modern-go-reflect2-dev) == "${REFLECT2_VERSION}" ]] ||
  want+=("golang-github-modern-go-reflect2-dev=${REFLECT2_VERSION}")
command -v dpkg-source >/dev/null || want+=(dpkg-dev)   # any version: it only unpacks the source
if [[ ${#want[@]} -gt 0 ]]; then
  apt_install "${want[@]}"
elif ! apt-cache showsrc kubernetes 2>/dev/null | grep -qx "Version: ${K8S_SRC_VERSION}"; then
  say "apt-get update (for the deb-src entry)"
  as_root apt-get update -qq
fi

# --- 2. The source package, checked against the pinned .dsc hash, unpacked with Debian's patches.
SRC_DIR="${OUT}/src"
TREE="${SRC_DIR}/kubernetes-${K8S_SRC_VERSION}"
DSC="${SRC_DIR}/kubernetes_${K8S_SRC_VERSION}.dsc"
mkdir -p "${SRC_DIR}"
if [[ ! -f "${TREE}/.unpacked" ]]; then
  if [[ ! -f "${DSC}" ]]; then
    say "apt-get source --download-only kubernetes=${K8S_SRC_VERSION} (34 MB)"
    (cd "${SRC_DIR}" && apt-get source -qq --download-only "kubernetes=${K8S_SRC_VERSION}")
  fi
  echo "${K8S_DSC_SHA256}  ${DSC}" | sha256sum --check --quiet -
  say "dpkg-source -x (with Debian's patches) -> ${TREE}"
  rm -rf "${TREE}"
  dpkg-source -x "${DSC}" "${TREE}" >/dev/null   # checks the tarballs against the .dsc
  touch "${TREE}/.unpacked"
fi

# --- 3. Fix 1: GOPATH mode, the way the source's own hack/lib builds (no modules in this tree's
# vendor layout under Go 1.19 otherwise).
export GOPATH="${OUT}/gopath" GOCACHE="${OUT}/gocache" GO111MODULE=off CGO_ENABLED=0 GOFLAGS=
PKG_DIR="${GOPATH}/src/k8s.io/kubernetes"
mkdir -p "$(dirname "${PKG_DIR}")" "${OUT}/bin"
ln -sfn "${TREE}" "${PKG_DIR}"
cd "${PKG_DIR}"
say "$(go version), GOPATH=${GOPATH}"

# --- 4. Fix 3: the vendored reflect2 1.0.1 segfaults under Go 1.19 at the first map marshal;
# Debian's 1.0.2 (same API) does not.
REFLECT2=vendor/github.com/modern-go/reflect2
if ! grep -qs debian "${REFLECT2}/.replaced"; then
  say "replacing vendored reflect2 with Debian's ${REFLECT2_VERSION}"
  rm -rf "${REFLECT2}"
  cp -r /usr/share/gocode/src/github.com/modern-go/reflect2 "${REFLECT2}"
  echo "debian golang-github-modern-go-reflect2-dev ${REFLECT2_VERSION}" >"${REFLECT2}/.replaced"
fi

# --- 5. Fix 2: the tarball lacks pkg/generated/openapi/zz_generated.openapi.go (undefined:
# openapi.GetOpenAPIDefinitions). Generate it with the vendored openapi-gen over the same packages
# Makefile.generated_files picks: Go files with a `+k8s:` tag mentioning `+k8s:openapi-gen=`,
# staging named by its vendor/ path, code-generator and sample-apiserver left out.
OPENAPI_OUT=pkg/generated/openapi/zz_generated.openapi.go
if [[ ! -s "${OPENAPI_OUT}" ]]; then
  say "building openapi-gen and generating ${OPENAPI_OUT}"
  go build -o "${OUT}/bin/openapi-gen" ./vendor/k8s.io/kube-openapi/cmd/openapi-gen
  input_dirs=$(
    find . \( -path ./_\* -o -path ./.\* -o -path ./vendor -o -path ./debian \) -prune \
      -o -type f -name '*.go' -print |
      xargs grep -l '^// *+k8s:' | xargs grep -l '+k8s:openapi-gen=' |
      xargs -n1 dirname | sed -e 's|^\./staging/src/|vendor/|' -e 's|^\./||' |
      grep -v -e '^vendor/k8s.io/code-generator/' -e '^vendor/k8s.io/sample-apiserver/' |
      LC_ALL=C sort -u | sed 's|^|k8s.io/kubernetes/|' | paste -sd, -
  )
  "${OUT}/bin/openapi-gen" --logtostderr \
    -i "${input_dirs}" \
    -p k8s.io/kubernetes/pkg/generated/openapi \
    -O zz_generated.openapi \
    -h vendor/k8s.io/code-generator/hack/boilerplate.go.txt \
    -r "${OUT}/openapi_violations.report" 2>"${OUT}/openapi-gen.log" ||
    { tail -20 "${OUT}/openapi-gen.log" >&2; exit 1; }
fi

# --- 6. kube-apiserver only, with the version ldflags hack/lib/version.sh would set.
say "go build ./cmd/kube-apiserver (a few minutes cold; cached in ${GOCACHE})"
v() { printf -- "-X 'k8s.io/kubernetes/vendor/k8s.io/%s.%s=%s' " "$1" "$2" "$3"; }
ldflags="-s -w"
for pkg in client-go/pkg/version component-base/version; do
  ldflags+=" $(v "${pkg}" gitVersion "${K8S_GIT_VERSION}") $(v "${pkg}" gitMajor 1) $(v "${pkg}" gitMinor 20)"
done
go build -trimpath -ldflags "${ldflags}" -o "${OUT}/bin/kube-apiserver.tmp" ./cmd/kube-apiserver
mv "${OUT}/bin/kube-apiserver.tmp" "${OUT}/bin/kube-apiserver"
echo "${WANT_STAMP}" >"${STAMP}"
say "built ${OUT}/bin/kube-apiserver ($(du -h "${OUT}/bin/kube-apiserver" | cut -f1)); etcd: $(command -v etcd)"
if ${CLEAN_AFTER}; then
  say "removing the source tree, GOPATH and Go cache (--clean-after)"
  chmod -R u+w "${GOCACHE}" "${SRC_DIR}" 2>/dev/null || true
  rm -rf "${GOCACHE}" "${SRC_DIR}" "${GOPATH}"
fi
exit 0
}
