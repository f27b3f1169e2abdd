# Two commands: `make run` starts the system, `make test` runs every test.
# Both install missing Debian packages first (scripts/install-deps.sh is idempotent).
SHELL := /bin/bash
BAZEL := bazel

.PHONY: deps build run test test-asan bench bench-smoke clean

deps:
	@scripts/install-deps.sh

build: deps
	$(BAZEL) build //...

run: build
	@scripts/run.sh

# Every test case counted in the closing line `N passed, N failed`.
test: deps
	@set -o pipefail; log=$$(mktemp); \
	targets=$$($(BAZEL) query --noshow_progress 'tests(//...)' 2>/dev/null); \
	$(BAZEL) test $$targets 2>&1 | tee $$log; status=$$?; \
	unbuilt=$$(grep -oE '^//[^ ]+ +(FAILED TO BUILD|NO STATUS)' $$log | cut -d' ' -f1); \
	UNBUILT="$$unbuilt" scripts/test-summary.sh bazel-testlogs $$targets || status=1; \
	rm -f $$log; exit $$status

# Every benchmark of docs/benchmarks.md, against its reference in the same run;
# rewrites docs/benchmarks.md and its plots. Under 10 minutes on 2 cores.
bench: deps
	@scripts/install-deps.sh gnuplot-nox
	$(BAZEL) build //bench:all
	bench/run_bench.sh --bin "$$($(BAZEL) info bazel-bin 2>/dev/null)" --out docs/benchmarks.md

# The same in a tiny mode (seconds); also part of `make test`.
bench-smoke: deps
	$(BAZEL) test //bench:bench_smoke_test

clean:
	$(BAZEL) clean
