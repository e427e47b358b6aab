#!/usr/bin/env bash
# Runs a command on a pristine Debian 12 root, as a new machine would: nothing installed by hand on
# this machine is visible inside, so a missing install step fails here instead of on a user's.
#
#   ./dev rehearse [--keep] [--host-python] [COMMAND]      (as root, from the checkout)
#   ./dev rehearse --clean     only remove roots that interrupted runs left behind (done first anyway)
#
# The root: mmdebstrap bookworm with Debian's python3.11, git and curl only. It gets what every
# process on a machine gets: the CA bundle, pip/npm configuration and the machine's wheel mirrors
# under /opt (read-only). The checkout's committed HEAD is cloned into it and COMMAND runs there
# (default: the README's demo, then the suites marked `container`, which run servers as the images
# run them). --host-python binds this machine's own python3.11 prefix (e.g. pyenv's under /root)
# read-only at its own path and sets PYTHON to it, as machines with such an interpreter have it.
# The root shares this machine's network, so the ports of the `local` environment must be free.
# The last line is `rehearsal: rc=N in S s`.
set -o nounset -o pipefail
keep=no hostpy=no clean_only=no
# /var/tmp: on disk (the root holds ~17 GB while the suites run), never a tmpfs /tmp.
roots_dir=${REHEARSE_ROOTS_DIR:-/var/tmp}
while (($#)); do
  case "$1" in
    --keep) keep=yes; shift ;;
    --host-python) hostpy=yes; shift ;;
    --clean) clean_only=yes; shift ;;
    *) break ;;
  esac
done
cmd=${1:-"./dev demo && ./dev setup && .venvs/dev/bin/python -m pytest -m 'container and not tensorflow'"}
say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { echo "rehearse: $*" >&2; exit 2; }

[[ $(id -u) == 0 ]] || die "run as root (it builds a root filesystem and mounts into it)"
project=$(git rev-parse --show-toplevel 2>/dev/null) || die "run it from the project checkout"
[[ -z "$(git -C "$project" status --porcelain --untracked-files=no)" ]] \
  || say "note: uncommitted changes are not rehearsed (the root gets the committed HEAD)"
mounts_under() { awk -v r="$1" '$2 == r || index($2, r "/") == 1 {print $2}' /proc/mounts | sort -r; }
# Processes whose root is the rehearsal root or a container root inside it (podman's pods).
processes_in() {
  local pid proc_root
  for pid in $(ls /proc | grep -E '^[0-9]+$'); do
    proc_root=$(readlink "/proc/$pid/root" 2>/dev/null) || continue
    [[ "$proc_root" == "$1" || "$proc_root" == "$1"/* ]] && echo "$pid"
  done
}
# release_root ROOT: stops what runs inside and unmounts everything under it.
release_root() {
  local dir=$1 pids m
  pids=$(processes_in "$dir")
  if [[ -n "$pids" ]]; then
    kill $pids 2>/dev/null
    for _ in $(seq 20); do [[ -z "$(processes_in "$dir")" ]] && break; sleep 0.5; done
    pids=$(processes_in "$dir")
    [[ -n "$pids" ]] && kill -9 $pids 2>/dev/null && sleep 1
  fi
  for _ in 1 2 3; do
    for m in $(mounts_under "$dir"); do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; done
  done
  if [[ -n "$(mounts_under "$dir")" ]]; then
    echo "rehearse: mounts remain under $dir; not deleting it" >&2
    return 1
  fi
}
remove_root() { release_root "$1" && rm -rf --one-file-system "$1" && rm -f "$1.pid" "$1.kept"; }
# A run that was killed (SIGKILL, a CI timeout) never reached its cleanup and left a root of ~17 GB
# with mounts in it: remove those first (a root not --kept whose recorded rehearse process is gone).
for stale in "$roots_dir"/rehearsal-root.*; do
  [[ -d "$stale" && ! -e "$stale.kept" ]] || continue
  owner=$(cat "$stale.pid" 2>/dev/null)
  [[ -n "$owner" ]] && kill -0 "$owner" 2>/dev/null && continue
  say "removing $stale, left by an interrupted rehearsal"
  remove_root "$stale" || die "cannot remove $stale; unmount what is listed above and delete it"
done
[[ $clean_only == yes ]] && exit 0

for port in 5000 18000 18100 18500; do  # platform/environments/local.yaml: registry, host ports
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    die "port $port on 127.0.0.1 is taken on this machine; stop the registry and pods using it first"
  fi
done
if ! command -v mmdebstrap >/dev/null; then
  # Pinned like tools/setup/apt-packages.txt (apt-cache policy, 2026-11-30). With its Recommends
  # (arch-test, fakechroot, uidmap, ...), as the run that was rehearsed had them.
  say "apt: installing mmdebstrap=1.3.5-7"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mmdebstrap=1.3.5-7 >/dev/null \
    || die "cannot install mmdebstrap"
fi

root=$(mktemp -d "$roots_dir/rehearsal-root.XXXXXX")
echo $$ > "$root.pid"
cleanup() {
  if [[ $keep == no ]]; then
    remove_root "$root"
  else
    release_root "$root" && touch "$root.kept" && echo "rehearse: kept $root (delete it and $root.kept when done)" >&2
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
start=$(date +%s)
say "mmdebstrap bookworm (python3.11, git, curl)"
mmdebstrap --quiet --variant=apt --include=ca-certificates,python3.11,python3.11-venv,git,curl \
  bookworm "$root" >/dev/null || die "mmdebstrap failed"
cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
[[ -d /usr/local/share/ca-certificates ]] && cp -r /usr/local/share/ca-certificates/. "$root/usr/local/share/ca-certificates/"
for f in /etc/pip.conf /root/.config/pip/pip.conf /root/.npmrc; do
  [[ -f "$f" ]] && mkdir -p "$root$(dirname "$f")" && cp "$f" "$root$f"
done
[[ -d /etc/xdg/pip ]] && mkdir -p "$root/etc/xdg" && cp -r /etc/xdg/pip "$root/etc/xdg/"
# podman's storage remounts /: the root must be a mount point of its own.
mount --bind "$root" "$root"
bind_ro() { mkdir -p "$root$1" && mount --bind "$1" "$root$1" && mount -o remount,bind,ro "$root$1"; }
for d in /opt/wheels /opt/pypi /opt/pypi-more; do [[ -d "$d" ]] && bind_ro "$d"; done
python=/usr/bin/python3.11
if [[ $hostpy == yes ]]; then
  prefix=$(python3.11 -c 'import sys; print(sys.base_prefix)') || die "no python3.11 on this machine"
  [[ "$prefix" != /usr ]] || die "this machine's python3.11 is Debian's own; nothing to rehearse with --host-python"
  bind_ro "$prefix"
  python=$prefix/bin/python3.11
fi
mount -t proc proc "$root/proc"; mount --rbind /sys "$root/sys"; mount --rbind /dev "$root/dev"
mount -t tmpfs tmpfs "$root/run"; mount -t tmpfs tmpfs "$root/tmp"  # /tmp on tmpfs, as on most distributions
cp /etc/resolv.conf "$root/etc/resolv.conf"
mkdir -p "$root/src" && git clone -q "$project" "$root/src/project"
say "in the pristine root (python: $python): $cmd"
chroot "$root" /usr/bin/env -i HOME=/root TERM="${TERM:-dumb}" LANG=C.UTF-8 CI="${CI:-}" \
  PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin PYTHON="$python" \
  SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt \
  PIP_CERT=/etc/ssl/certs/ca-certificates.crt NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt \
  /bin/bash -c "cd /src/project && $cmd"
rc=$?
chroot "$root" /bin/bash -c 'command -v podman >/dev/null && podman pod rm -af -t 5 >/dev/null 2>&1; true'
echo "rehearsal: rc=$rc in $(($(date +%s) - start)) s"
exit $rc
