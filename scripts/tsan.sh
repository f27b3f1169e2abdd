#!/usr/bin/env bash
# make tsan: runs the concurrency tests that do not need gRPC under ThreadSanitizer, against an
# Abseil built with -fsanitize=thread (docs/security.md, "ThreadSanitizer").
#
# 1. Abseil: Debian's libabsl is not instrumented, so absl::Mutex would be invisible to TSan and
#    every access it guards would look like a race. The same version as libabsl-dev is built
#    once from Debian's source package (`apt-get source abseil`, a deb-src entry is added if
#    missing) as shared libraries with Debian's SONAMEs, and installed under $TSAN_CACHE
#    (outside the repository). Later runs reuse it.
# 2. Tests: Bazel in its own output base ($TSAN_OUTPUT_BASE), so the normal build's cache and
#    the bazel-* symlinks stay as they are; pkg-config finds the instrumented Abseil first
#    (PKG_CONFIG_PATH, read by bazel/system_libs.bzl), and the test binaries load it through
#    their rpath and LD_LIBRARY_PATH, which also replaces the libabsl that libgrpc++ pulls in.
#
# Prints one line `tsan: N tests, N passed, N failed, R reports` and exits non-zero unless every
# test case passed with 0 reports.
set -uo pipefail
cd "$(dirname "$0")/.."

absl_version=20220623.1
cache_root=${XDG_CACHE_HOME:-$HOME/.cache}/tokens-tsan
prefix=${TSAN_CACHE:-$cache_root/absl-$absl_version}
base=${TSAN_OUTPUT_BASE:-$cache_root/bazel}
jobs=${TSAN_JOBS:-2}

# The concurrency tests that run no gRPC code: token cache, revoked set, group commit
# (concurrent writers, blocking and asynchronous, on SQLite), work pool, throttle, the usage reporter's flush thread, the HTTP
# server's threads, the webhook client and the notifier's delivery thread. The verifier
# ones link libgrpc++ (through //verifier:usage_reporter) without calling it. There is no
# gRPC-free test of the change feed. docs/security.md lists what is left out and why.
targets=(
  //verifier:token_cache_test
  //storage:sqlite_token_store_test
  //storage:token_store_conformance_test
  //services:work_pool_test
  //common:peer_throttle_test
  //verifier:verifier_core_throttle_test
  //verifier:usage_reporter_test
  //verifier:http_server_test
  //services:watch_cache_test
  //verifier:revoked_set_test
  //common:http_client_test
  //services:notifier_test
)

sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"

have_deb_src() {
  grep -rqsE '^(deb-src[[:space:]]|Types:.*deb-src)' /etc/apt/sources.list /etc/apt/sources.list.d/
}

build_abseil() {
  echo "tsan: building Abseil $absl_version with -fsanitize=thread into $prefix (once)"
  scripts/install-deps.sh cmake dpkg-dev || return 1
  if ! have_deb_src; then
    echo "tsan: adding deb-src entries for bookworm (/etc/apt/sources.list.d/debian-src.sources)"
    $sudo tee /etc/apt/sources.list.d/debian-src.sources >/dev/null <<'EOF' || return 1
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    $sudo apt-get update -q || return 1
  elif ! apt-cache showsrc abseil 2>/dev/null | grep -q "^Version: $absl_version"; then
    $sudo apt-get update -q || return 1
  fi
  local work
  work=$(mktemp -d /tmp/tsan-abseil.XXXXXX)
  (
    set -e
    cd "$work"
    # The exact Debian version of the installed libabsl-dev, patches included.
    deb_version=$(dpkg-query -W -f='${Version}' libabsl-dev)
    apt-get source -q "abseil=$deb_version" >/dev/null 2>apt-source.log ||
      { cat apt-source.log >&2; exit 1; }
    src=$(find . -maxdepth 1 -type d -name "abseil-$absl_version*" | head -1)
    # Backport of upstream commit bb7be494 (abseil-cpp issues #760, #1239): Mutex posts to a
    # waiter's semaphore in a ThreadIdentity that was handed over inside the Mutex code, where
    # TSan ignores synchronization, so every wake-up of a fresh thread was reported as a race
    # on Abseil's own futex word. Upstream ignores those accesses; a no-op without TSan.
    patch -d "$src" -p1 --forward --quiet <<'PATCH'
--- a/absl/synchronization/mutex.cc
+++ b/absl/synchronization/mutex.cc
@@ -563,7 +563,12 @@
   if (mu) {
     ABSL_TSAN_MUTEX_PRE_DIVERT(mu, 0);
   }
+  // We miss synchronization around passing PerThreadSynch between threads
+  // since it happens inside of the Mutex code, so we need to ignore all
+  // accesses to the object.
+  ABSL_ANNOTATE_IGNORE_READS_AND_WRITES_BEGIN();
   PerThreadSem::Post(w->thread_identity());
+  ABSL_ANNOTATE_IGNORE_READS_AND_WRITES_END();
   if (mu) {
     ABSL_TSAN_MUTEX_POST_DIVERT(mu, 0);
   }
PATCH
    flags="-fsanitize=thread -O1 -g -fno-omit-frame-pointer"
    # Shared, with Debian's SONAMEs (libabsl_*.so.20220623), so the same libraries also replace
    # the ones libgrpc++ and libprotobuf link. CMAKE_BUILD_TYPE=None: only the flags below.
    cmake -S "$src" -B build -DCMAKE_BUILD_TYPE=None \
      -DCMAKE_CXX_STANDARD=17 -DABSL_PROPAGATE_CXX_STD=ON -DBUILD_SHARED_LIBS=ON \
      -DBUILD_TESTING=OFF -DABSL_BUILD_TESTING=OFF \
      -DCMAKE_C_FLAGS="$flags" -DCMAKE_CXX_FLAGS="$flags" \
      -DCMAKE_SHARED_LINKER_FLAGS=-fsanitize=thread -DCMAKE_INSTALL_RPATH="$prefix/lib" \
      -DCMAKE_INSTALL_PREFIX="$prefix" -DCMAKE_INSTALL_LIBDIR=lib >cmake.log 2>&1 ||
      { tail -30 cmake.log >&2; exit 1; }
    cmake --build build -j "$jobs" >build.log 2>&1 || { tail -40 build.log >&2; exit 1; }
    rm -rf "$prefix.tmp"
    DESTDIR="" cmake --install build --prefix "$prefix.tmp" >install.log 2>&1 ||
      { tail -20 install.log >&2; exit 1; }
    # The .pc files name the final prefix (configured above), not $prefix.tmp.
    grep -q "^prefix=$prefix\$" "$prefix.tmp/lib/pkgconfig/absl_synchronization.pc"
    echo "$deb_version + upstream bb7be494 (TSan), built $(date -u +%FT%TZ)" \
      >"$prefix.tmp/DEBIAN_VERSION"
    rm -rf "$prefix"
    mv "$prefix.tmp" "$prefix"
  )
  local status=$?
  rm -rf "$work"
  return $status
}

mkdir -p "$cache_root"
if [ ! -f "$prefix/DEBIAN_VERSION" ]; then
  start=$SECONDS
  build_abseil || { echo "tsan: building Abseil failed" >&2; exit 1; }
  echo "tsan: Abseil built in $((SECONDS - start)) s"
else
  echo "tsan: reusing instrumented Abseil $(cat "$prefix/DEBIAN_VERSION") in $prefix"
fi

# Test binaries are built with --config=tsan (.bazelrc) in their own output base, and linked to
# the instrumented Abseil: its .pc files come first for pkg-config (@system//:absl and
# @system//:grpc get -L$prefix/lib), the rpath and LD_LIBRARY_PATH make the loader take its
# libabsl_*.so.20220623, for the test itself and for the Abseil that libgrpc++ links.
# --symlink_prefix=/ leaves bazel-bin and friends pointing at the normal build.
bazel_tsan=(bazel --output_base="$base")
opts=(
  --config=tsan
  --symlink_prefix=/
  --jobs="$jobs"
  --repo_env=PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
  --linkopt=-Wl,-rpath,"$prefix/lib"
  --test_env=LD_LIBRARY_PATH="$prefix/lib"
  --test_env=TSAN_OPTIONS="halt_on_error=0 second_deadlock_stack=1 history_size=4"
  # Bazel does not see the libraries outside the workspace: a rebuilt Abseil must not leave
  # test results cached from the previous one.
  --test_env=TOKENS_TSAN_ABSL="$(cat "$prefix/DEBIAN_VERSION")"
  # usage_reporter_test's GrpcUsageSenderTest cases call a real gRPC server, and Debian's
  # libgrpc is not instrumented (its own locking looks like races): left out here, run by
  # make test.
  # The conformance suite runs its SQLite cases (PostgreSQL's server is not ours to instrument).
  --test_arg=--gtest_filter=-GrpcUsageSenderTest.*:*/Postgres:StoresAgreeTest.*
)
log=$(mktemp /tmp/tsan-bazel.XXXXXX)
trap 'rm -f "$log"' EXIT
status=0
"${bazel_tsan[@]}" test "${opts[@]}" "${targets[@]}" 2>&1 | tee "$log" || status=1
testlogs=$("${bazel_tsan[@]}" info "${opts[@]}" bazel-testlogs 2>/dev/null)
unbuilt=$(grep -oE '^//[^ ]+ +(FAILED TO BUILD|NO STATUS)' "$log" | cut -d' ' -f1)
summary=$(UNBUILT="$unbuilt" scripts/test-summary.sh "$testlogs" "${targets[@]}") || status=1

# 0 reports only mean something if the tests ran against the instrumented Abseil (an
# uninstrumented absl::Mutex gives false reports, but a test could also silently load the
# system one): every libabsl the binaries load, directly or through libgrpc++, must be ours.
bin=$("${bazel_tsan[@]}" info "${opts[@]}" bazel-bin 2>/dev/null)
for t in "${targets[@]}"; do
  path=${t#//}
  exe="$bin/${path/://}"
  [ -x "$exe" ] || continue
  foreign=$(LD_LIBRARY_PATH="$prefix/lib" ldd "$exe" | grep -E 'libabsl_' | grep -vF "$prefix/lib/")
  if [ -n "$foreign" ]; then
    echo "tsan: $t loads an Abseil that is not instrumented:" >&2
    echo "$foreign" >&2
    status=1
  fi
done

# Every TSan report starts with `WARNING: ThreadSanitizer:` (`ERROR: ThreadSanitizer:` for a
# crash); one line per report, with its SUMMARY, names where to look.
reports=0
for t in "${targets[@]}"; do
  path=${t#//}
  test_log="$testlogs/${path/://}/test.log"
  [ -f "$test_log" ] || continue
  n=$(grep -cE '^(WARNING|ERROR): ThreadSanitizer:' "$test_log")
  if [ "$n" -gt 0 ]; then
    echo "tsan: $n report(s) in $t ($test_log):" >&2
    grep -E '^SUMMARY: ThreadSanitizer:' "$test_log" | sort | uniq -c | head -20 >&2
  fi
  reports=$((reports + n))
done
[ "$reports" -eq 0 ] || status=1

passed=$(grep -oE '^[0-9]+' <<<"$summary")
failed=$(grep -oE '[0-9]+ failed' <<<"$summary" | grep -oE '^[0-9]+')
# TSan makes a test exit 66 after its cases passed; a target Bazel failed with neither a failed
# case nor a report (e.g. a crash at exit) still counts as one failed test.
for t in $(grep -oE '^//[^ ]+ +FAILED in' "$log" | cut -d' ' -f1); do
  path=${t#//}
  test_log="$testlogs/${path/://}/test.log"
  [ -f "$testlogs/${path/://}/test.xml" ] || continue  # counted by test-summary.sh already
  if ! grep -qE '^(WARNING|ERROR): ThreadSanitizer:|^\[  FAILED  \]' "$test_log" 2>/dev/null; then
    echo "tsan: $t failed without a failed case or a report ($test_log)" >&2
    failed=$((${failed:-0} + 1))
    status=1
  fi
done
passed=${passed:-0}
failed=${failed:-0}
echo "tsan: $((passed + failed)) tests, $passed passed, $failed failed, $reports reports"
exit $status
