#!/usr/bin/env bash
# make lint: every C++ and proto file of the repository is formatted as .clang-format says
# (Google style, 80 columns), and every dependency between folders goes the way docs/design.md
# draws it (scripts/check-layers.sh). Prints the files or edges that are not and exits 1;
# `scripts/lint.sh --fix` formats the files in place.
set -uo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files '*.cc' '*.h' '*.proto' | grep -v '^third_party/')
if [ "${1:-}" = "--fix" ]; then
  clang-format -i "${files[@]}"
  exit 0
fi
bad=()
for f in "${files[@]}"; do
  [ -f "$f" ] || continue
  if ! clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then bad+=("$f"); fi
done
if [ ${#bad[@]} -gt 0 ]; then
  echo "lint: ${#bad[@]} file(s) not formatted (scripts/lint.sh --fix):"
  printf '  %s\n' "${bad[@]}"
  exit 1
fi
echo "lint: ${#files[@]} files formatted"
scripts/check-layers.sh
