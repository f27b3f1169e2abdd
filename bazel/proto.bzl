"""cc_grpc_proto_library: C++ messages and gRPC stubs generated from one .proto at build time.

Uses Debian's protoc and grpc_cpp_plugin, so the build needs no network.

One deliberate change to the generated parser: proto3 `string` fields are not checked for
UTF-8 while parsing. With the check, a request carrying invalid UTF-8 fails to deserialize and
gRPC answers UNIMPLEMENTED with no message; our services validate every text field themselves
and answer INVALID_ARGUMENT naming the field (docs/design.md: never a confusing error for the
caller's mistake). Outgoing messages are still checked by the serializer.
"""

def cc_grpc_proto_library(name, src, visibility = None):
    base = src[:-len(".proto")]
    outs = [base + ext for ext in [".pb.h", ".pb.cc", ".grpc.pb.h", ".grpc.pb.cc"]]
    native.genrule(
        name = name + "_gen",
        srcs = [src],
        outs = outs,
        cmd = ("protoc -I. --cpp_out=$(GENDIR) --grpc_out=$(GENDIR) " +
               "--plugin=protoc-gen-grpc=/usr/bin/grpc_cpp_plugin $(location %s)" % src +
               " && sed -i 's|CHK_(::_pbi::VerifyUTF8(str, \\(\"[^\"]*\"\\)));|" +
               "/* UTF-8 of \\1 is validated by the service */|' $(location %s)" % (base + ".pb.cc")),
    )
    native.cc_library(
        name = name,
        srcs = [o for o in outs if o.endswith(".cc")],
        hdrs = [o for o in outs if o.endswith(".h")],
        deps = ["@system//:grpc"],
        visibility = visibility,
    )

def cc_grpc_proto_tree(name, srcs, services = [], visibility = None):
    """C++ for several .proto files of this package that import each other by paths relative to it.

    Used for the in-repo subset of Envoy's API (import "envoy/config/core/v3/base.proto"), whose
    import paths must match upstream's. `services` lists the files that define a service (they
    also get .grpc.pb files). Includes are relative to this package, as upstream's are. The same
    UTF-8 change as cc_grpc_proto_library applies.
    """
    pkg = native.package_name()
    outs = []
    for src in srcs:
        base = src[:-len(".proto")]
        outs += [base + ".pb.h", base + ".pb.cc"]
        if src in services:
            outs += [base + ".grpc.pb.h", base + ".grpc.pb.cc"]
    native.genrule(
        name = name + "_gen",
        srcs = srcs,
        outs = outs,
        cmd = ("protoc -I%s --cpp_out=$(GENDIR)/%s " % (pkg, pkg) + " ".join(srcs) +
               " && protoc -I%s --grpc_out=$(GENDIR)/%s " % (pkg, pkg) +
               "--plugin=protoc-gen-grpc=/usr/bin/grpc_cpp_plugin " + " ".join(services) +
               " && sed -i 's|CHK_(::_pbi::VerifyUTF8(str, \\(\"[^\"]*\"\\)));|" +
               "/* UTF-8 of \\1 is validated by the service */|' " +
               " ".join(["$(GENDIR)/%s/%s" % (pkg, o) for o in outs if o.endswith(".pb.cc") and not o.endswith(".grpc.pb.cc")])),
    )
    native.cc_library(
        name = name,
        srcs = [o for o in outs if o.endswith(".cc")],
        hdrs = [o for o in outs if o.endswith(".h")],
        includes = ["."],
        deps = ["@system//:grpc"],
        visibility = visibility,
    )
