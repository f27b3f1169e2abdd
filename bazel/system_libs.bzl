"""Repository rule that turns Debian's system libraries into cc_library targets.

Runs pkg-config once when the workspace loads and writes @system//:BUILD, so link flags live in
one place and BUILD files just depend on @system//:grpc, @system//:absl, ...
"""

# target name -> (pkg-config modules, extra link flags)
_LIBS = {
    "grpc": (["grpc++", "protobuf"], ["-lgrpc++_reflection"]),
    "protobuf": (["protobuf"], []),
    "absl": ([
        "absl_flags",
        "absl_flags_parse",
        "absl_flags_usage",
        "absl_status",
        "absl_statusor",
        "absl_strings",
        "absl_str_format_internal",
        "absl_synchronization",
        "absl_time",
        "absl_hash",
        "absl_raw_hash_set",
        "absl_random_random",
        "absl_cord",
    ], []),
    "fmt": (["fmt"], []),
    "sqlite3": (["sqlite3"], []),
    "pq": (["libpq"], []),
    "crypto": (["libcrypto"], []),
    "zlib": (["zlib"], []),
    "ssl": (["libssl", "libcrypto"], []),
    "gtest": (["gtest", "gmock"], []),
    "gtest_main": (["gtest_main", "gmock"], []),
    "benchmark": (["benchmark"], []),
}

def _pkg_config(ctx, args):
    result = ctx.execute(["pkg-config"] + args)
    if result.return_code != 0:
        fail("pkg-config %s failed: %s" % (" ".join(args), result.stderr))
    return [f for f in result.stdout.strip().split(" ") if f]

def _dedupe(flags):
    seen = {}
    out = []
    for f in flags:
        if f not in seen:
            seen[f] = True
            out.append(f)
    return out

def _system_libs_impl(ctx):
    lines = ['package(default_visibility = ["//visibility:public"])', ""]
    for name, (modules, extra) in _LIBS.items():
        libs = _dedupe(_pkg_config(ctx, ["--libs"] + modules) + extra)
        cflags = [f for f in _pkg_config(ctx, ["--cflags"] + modules) if f.startswith("-D")]
        lines.append("cc_library(")
        lines.append('    name = "%s",' % name)
        lines.append("    defines = %s," % repr([f[2:] for f in cflags]))
        lines.append("    linkopts = %s," % repr(libs + ["-lpthread"]))
        lines.append(")")
        lines.append("")
    ctx.file("WORKSPACE", 'workspace(name = "%s")\n' % ctx.name)
    ctx.file("BUILD", "\n".join(lines))

system_libs = repository_rule(
    implementation = _system_libs_impl,
    local = True,
    environ = ["PKG_CONFIG_PATH"],
)
