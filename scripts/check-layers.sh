#!/usr/bin/env bash
# Part of make lint: every Bazel dependency between the repository's folders goes the way
# docs/design.md ("Who may use whom") draws it. Reads the dependency edges from `bazel query`
# (deps and data of every rule, one level), so a new BUILD file is covered without a list here.
# Prints each edge that goes the wrong way and exits 1; exits 0 when there is none.
#
#   proto      <- common <- storage <- services
#                 common <- verifier, cli
#   tests, bench, fuzz: anything (they sit on top); test-only rules anywhere may also use
#   tests/testing (the process harness).
set -uo pipefail
cd "$(dirname "$0")/.."
BAZEL=${BAZEL:-bazel}

allowed() {  # from-folder to-folder
  case "$1:$2" in
    proto:bazel | proto:third_party) return 0 ;;
    common:proto | common:bazel | common:third_party) return 0 ;;
    storage:common | storage:proto) return 0 ;;
    services:common | services:storage | services:proto) return 0 ;;
    verifier:common | verifier:proto) return 0 ;;
    cli:common | cli:proto) return 0 ;;
    tests:* | bench:* | fuzz:*) return 0 ;;
  esac
  return 1
}

# With --edges FILE --testonly FILE the edges ("//a:b" -> "//c:d" lines) and the test-only
# labels come from files instead (tests/build/check_layers_test.sh).
if [ "${1:-}" = "--edges" ]; then
  edges=$(grep -- '->' "$2")
  testonly=$(cat "$4")
else
  edges=$($BAZEL query --noshow_progress \
    'let t = kind(rule, //...) in deps($t, 1) intersect //...' \
    --output=graph --nograph:factored 2>/dev/null | grep -- '->') || {
    echo "check-layers: bazel query failed"
    exit 1
  }
  testonly=$($BAZEL query --noshow_progress \
    'attr(testonly, 1, //...) + tests(//...)' 2>/dev/null) || {
    echo "check-layers: bazel query failed"
    exit 1
  }
fi

bad=0
while read -r from _ to; do
  from=${from//\"/}
  to=${to//\"/}
  src=${from#//}
  src=${src%%[:/]*}
  dst=${to#//}
  dst=${dst%%[:/]*}
  [ "$src" = "$dst" ] && continue
  allowed "$src" "$dst" && continue
  if [[ $to == //tests/testing:* ]] && grep -qxF "$from" <<<"$testonly"; then continue; fi
  echo "check-layers: $from -> $to: $src/ may not use $dst/ (docs/design.md)"
  bad=1
done <<<"$edges"
if [ $bad -ne 0 ]; then exit 1; fi
echo "check-layers: $(wc -l <<<"$edges") dependency edges go the way design.md draws them"
