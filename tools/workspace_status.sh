#!/usr/bin/env bash
# Bazel's --workspace_status_command: prints "KEY value" lines for stamping.
#
# STABLE_* keys are in stable-status.txt: a change re-runs stamped actions (image labels must say
# the right commit). The others are volatile: they never invalidate a cached action by themselves.
# Outside a git checkout (a source tarball) it prints "unknown" instead of failing the build.
set -o errexit -o nounset -o pipefail

git_or_unknown() {
  git "$@" 2>/dev/null || echo unknown
}

commit="$(git_or_unknown rev-parse HEAD)"
if [[ "${commit}" != unknown ]] && [[ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]]; then
  tree_state="dirty"
else
  tree_state="clean"
fi

echo "STABLE_GIT_COMMIT ${commit}"
echo "STABLE_GIT_SHORT_COMMIT $(git_or_unknown rev-parse --short=12 HEAD)"
echo "STABLE_GIT_TREE_STATE ${tree_state}"
echo "STABLE_GIT_BRANCH $(git_or_unknown rev-parse --abbrev-ref HEAD)"
# Seconds since the epoch of the commit: a reproducible "created" time for stamped images.
echo "STABLE_GIT_COMMIT_TIME $(git_or_unknown log -1 --format=%ct)"
echo "BUILD_USER_HOST ${USER:-unknown}@$(hostname 2>/dev/null || echo unknown)"
