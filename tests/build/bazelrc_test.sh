#!/usr/bin/env bash
# Every sanitizer or fuzz configuration of .bazelrc keeps its own output directory
# (--platform_suffix) and its own symlink prefix, so that `make reliability`, `make fuzz` and
# `make test`'s ASan pass never re-point bazel-bin away from the normal build.
set -euo pipefail
rc="${TEST_SRCDIR}/${TEST_WORKSPACE}/.bazelrc"
configs=$(grep -oE '^build:[a-z]+ --platform_suffix=' "$rc" | sed -E 's/^build:([a-z]+).*/\1/')
[ -n "$configs" ] || { echo "no sanitizer configs found in .bazelrc"; exit 1; }
status=0
for config in $configs; do
  if grep -qE "^build:$config --symlink_prefix=bazel-$config-\$" "$rc"; then
    echo "ok: --config=$config uses bazel-$config-*"
  else
    echo "FAIL: --config=$config has no --symlink_prefix=bazel-$config- (it would re-point bazel-bin)"
    status=1
  fi
done
exit $status
