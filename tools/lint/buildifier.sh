#!/usr/bin/env bash
# Runs buildifier over every BUILD, .bzl and MODULE.bazel file of the repo.
#
#   tools/lint/buildifier.sh          check formatting and lint warnings (exit non-zero on any)
#   tools/lint/buildifier.sh --fix    rewrite the files in place (format + automatic lint fixes)
#
# The file list comes from git (tracked plus new, not ignored) minus the directories in
# .bazelignore: `buildifier -r .` would also walk .build/ and .venvs/, full of other people's
# BUILD files. Installs the pinned buildifier first if needed (tools/lint/install_buildifier.sh).
set -o errexit -o nounset -o pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "${repo_root}"
buildifier="${BUILDIFIER:-$(bash tools/lint/install_buildifier.sh)}"

ignored=()
while read -r line; do
  [[ -z "${line}" || "${line}" == \#* ]] && continue
  ignored+=("${line%/}/")
done < .bazelignore

files=()
while IFS= read -r -d '' path; do
  [[ -f "${path}" ]] || continue
  for prefix in "${ignored[@]}"; do
    [[ "${path}" == "${prefix}"* ]] && continue 2
  done
  files+=("${path}")
done < <(git ls-files -z --cached --others --exclude-standard -- \
  'BUILD' 'BUILD.bazel' '*/BUILD' '*/BUILD.bazel' '*.bzl' 'MODULE.bazel' 'REPO.bazel' 'WORKSPACE' 'WORKSPACE.bazel')

if [[ "${1:-}" == "--fix" ]]; then
  exec "${buildifier}" -mode=fix -lint=fix "${files[@]}"
fi
exec "${buildifier}" -mode=check -lint=warn "${files[@]}"
