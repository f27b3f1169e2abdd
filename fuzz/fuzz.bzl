"""fuzz_target: one libFuzzer harness, built three ways.

* `<name>_corpus_test` (cc_test): replays fuzz/corpus/<name>/ through the harness with the
  normal toolchain; `make test` runs it (and again under --config=asan).
* `<name>` (cc_binary): under --config=fuzz (clang, -fsanitize=fuzzer,address,undefined) the
  libFuzzer binary `make fuzz` runs; in the default configuration the same corpus replayer.
"""

def fuzz_target(name, srcs, deps = []):
    native.cc_library(
        name = name + "_harness",
        testonly = True,
        srcs = srcs,
        deps = deps,
        alwayslink = True,
    )
    native.cc_test(
        name = name + "_corpus_test",
        args = ["fuzz/corpus/" + name],
        data = native.glob(["corpus/" + name + "/**"]),
        deps = [
            ":" + name + "_harness",
            ":corpus_replay_main",
        ],
    )
    native.cc_binary(
        name = name,
        testonly = True,
        deps = [":" + name + "_harness"] + select({
            ":fuzzing": [],
            "//conditions:default": [":corpus_replay_main"],
        }),
        linkopts = select({
            ":fuzzing": ["-fsanitize=fuzzer"],
            "//conditions:default": [],
        }),
    )
