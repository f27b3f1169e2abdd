# Two commands: `make run` starts the system, `make test` runs every test.
# Both install missing Debian packages first (scripts/install-deps.sh is idempotent).
SHELL := /bin/bash
BAZEL := bazel

.PHONY: deps build run run-ha test lint bench bench-smoke reliability fuzz tsan clean

deps:
	@scripts/install-deps.sh

build: deps
	$(BAZEL) build //...

run: build
	@scripts/run.sh

# PostgreSQL under ./var/pg, two TokenService replicas on it and a verifier attached to both
# (docs/operations.md, "Running several replicas"). Ctrl-C stops everything.
run-ha: build
	@scripts/run-ha.sh

# Formatting first (make lint), then every test case, counted in the closing line
# `N passed, N failed, N skipped`: the unit and integration tests run twice, under ASan+UBSan
# (--config=asan, its own output directory; not //tests/e2e nor the benchmark smoke run) and
# as built normally (scripts/test.sh).
test: deps
	@scripts/test.sh

# Every C++ and proto file formatted as .clang-format says; `scripts/lint.sh --fix` formats.
lint: deps
	@scripts/lint.sh

# The full reliability and security suites (docs/security.md): 25 kill -9 trials, faults,
# hostile input, corpus replays, and every fuzz target for FUZZ_SECONDS (default 60).
reliability: deps
	@scripts/install-deps.sh clang
	@tests/reliability/run.sh

# Each libFuzzer harness for FUZZ_SECONDS (default 60), built with clang in its own output base.
fuzz: deps
	@scripts/install-deps.sh clang
	@fuzz/run.sh

# ThreadSanitizer on the gRPC-free concurrency tests, against an Abseil built with
# -fsanitize=thread from Debian's source package (once, cached outside the repository).
.PHONY: tsan
tsan: deps
	@scripts/tsan.sh

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

# Container image and Kubernetes manifests (docs/kubernetes.md). Not part of `make test`:
# podman may not work on a CI machine.
.PHONY: image image-test manifests-test
# The OCI image localhost/deployment-tokens:latest (IMAGE=...) from Debian packages only:
# bazel -c opt, mmdebstrap, podman import + build. PODMAN_CONF= uses the host's podman settings.
image: deps
	@scripts/image.sh

# Runs TokenService and the verifier from the image with the manifests' arguments: gRPC health
# SERVING, then create -> check -> delete -> denied with tokenctl. Builds the image if missing.
image-test: deps
	@scripts/image-test.sh

# Renders deploy/kubernetes (base and overlays) with kubectl kustomize and validates every
# object against the Kubernetes OpenAPI schema offline (npm kubernetes-models, installed once).
manifests-test:
	@scripts/manifests-test.sh
