"""cc_grpc_proto_library: C++ messages and gRPC stubs generated from one .proto at build time.

Uses Debian's protoc and grpc_cpp_plugin, so the build needs no network.
"""

def cc_grpc_proto_library(name, src, visibility = None):
    base = src[:-len(".proto")]
    outs = [base + ext for ext in [".pb.h", ".pb.cc", ".grpc.pb.h", ".grpc.pb.cc"]]
    native.genrule(
        name = name + "_gen",
        srcs = [src],
        outs = outs,
        cmd = ("protoc -I. --cpp_out=$(GENDIR) --grpc_out=$(GENDIR) " +
               "--plugin=protoc-gen-grpc=/usr/bin/grpc_cpp_plugin $(location %s)" % src),
    )
    native.cc_library(
        name = name,
        srcs = [o for o in outs if o.endswith(".cc")],
        hdrs = [o for o in outs if o.endswith(".h")],
        deps = ["@system//:grpc"],
        visibility = visibility,
    )
