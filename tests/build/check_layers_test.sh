#!/usr/bin/env bash
# scripts/check-layers.sh (make lint) refuses a dependency that goes the wrong way between
# folders and accepts those docs/design.md draws, on edges given to it as a file.
set -uo pipefail
script="${TEST_SRCDIR}/${TEST_WORKSPACE}/scripts/check-layers.sh"
dir=${TEST_TMPDIR:-/tmp}
printf '%s\n' '//storage:conformance_test' > "$dir/testonly"
run() {  # edges...
  printf '  "%s" -> "%s"\n' "$@" > "$dir/edges"
  "$script" --edges "$dir/edges" --testonly "$dir/testonly"
}
status=0
expect() {  # want-rc description edges...
  local want=$1 what=$2
  shift 2
  local out rc
  out=$(run "$@")
  rc=$?
  if [ "$rc" -eq "$want" ]; then echo "ok: $what"; else
    echo "FAIL: $what (exit $rc, want $want): $out"
    status=1
  fi
}
expect 0 "services uses storage and common" //services:a //storage:b //services:a //common:c
expect 0 "a test-only rule uses the process harness" \
  //storage:conformance_test //tests/testing:postgres_server
expect 0 "tests use anything" //tests/e2e:x //services:token_service
expect 1 "common may not use storage" //common:clock //storage:token_store
expect 1 "the verifier may not use services" //verifier:a //services:b
expect 1 "storage may not use services" //storage:a //services:b
expect 1 "a production rule may not use the harness" \
  //storage:sqlite_token_store //tests/testing:postgres_server
out=$(run //common:clock //storage:token_store)
grep -q "common/ may not use storage/" <<<"$out" || {
  echo "FAIL: the message names the folders: $out"
  status=1
}
exit $status
