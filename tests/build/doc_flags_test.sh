#!/usr/bin/env bash
# Every --flag that the docs (README.md, docs/*.md but the generated benchmarks.md) name exists:
# in `token_service --helpfull`, `token_verifier --helpfull` or the --help of a tokenctl
# command, or it belongs to another tool the docs show (listed below with that tool). Dashes
# and underscores are one (the binaries accept both). A flag a doc names that no binary has
# fails the test with the doc and the flag.
set -uo pipefail
root="${TEST_SRCDIR}/${TEST_WORKSPACE}"
service="$root/services/token_service"
verifier="$root/verifier/token_verifier"
tokenctl="$root/cli/tokenctl"

# Other tools' flags that the docs show, by tool.
others=(
  build-arg cap-drop read-only mode variant              # podman, mmdebstrap
  http2-prior-knowledge                                  # curl
  cached diff-filter name-only no-verify                 # git
  config platform_suffix symlink_prefix repo_env         # bazel
  gtest_filter                                           # googletest
  repo                                                   # gh
)

normalize() { sed -E 's/^-+//; s/-/_/g'; }
# A flag ends where no letter, digit, dash or '>' follows (so an ASCII arrow --x--> is none).
flags_in() {
  grep -ohE -- '--[a-z][a-z0-9_-]*[a-z0-9]([^a-z0-9_>-]|$)' | sed -E 's/[^a-z0-9]$//' |
    normalize | sort -u
}

known=$(
  {
    "$service" --helpfull 2>&1
    "$service" callers --help 2>&1
    "$verifier" --helpfull 2>&1
    "$tokenctl" --help 2>&1
    "$tokenctl" --help 2>&1 | sed -nE 's/^  ([a-z]+( [a-z]+)?) .*/\1/p' | sed -E 's/ (ID|PATH.*)$//' |
      while read -r command; do
        # shellcheck disable=SC2086  # a command is one or two words
        "$tokenctl" $command --help 2>&1
      done
    printf -- '--%s\n' "${others[@]}"
  } | flags_in
)
[ "$(wc -l <<<"$known")" -gt 40 ] || { echo "FAIL: too few flags read from --help: $known"; exit 1; }

status=0
checked=0
for doc in "$root"/README.md "$root"/docs/*.md; do
  [ "$(basename "$doc")" = benchmarks.md ] && continue
  for flag in $(flags_in <"$doc"); do
    checked=$((checked + 1))
    if ! grep -qxF "$flag" <<<"$known"; then
      echo "FAIL: $(basename "$doc") names --${flag//_/-}, which no binary has"
      status=1
    fi
  done
done
echo "checked $checked flag mentions against $(wc -l <<<"$known") known flags"
exit $status
