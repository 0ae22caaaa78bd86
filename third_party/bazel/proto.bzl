"""C++ code generation for .proto files with Debian's protoc and gRPC plugin.

There is no offline cc_grpc_library for system gRPC, so a genrule runs protoc
(with /usr/bin/grpc_cpp_plugin) and a cc_library compiles its outputs. The
generated code is never committed.
"""

def _strip_ext(path):
    return path[:-len(".proto")]

def cc_grpc_proto_library(
        name,
        protos,
        proto_dir = None,
        grpc = True,
        deps = [],
        visibility = None,
        testonly = False,
        alwayslink = False):
    """Generates and compiles C++ (and gRPC) code for `protos`.

    Args:
      name: the cc_library's name.
      protos: proto paths relative to the import root, e.g.
        "presence/v1/presence.proto".
      proto_dir: the import root. Defaults to this package's directory, where
        `protos` must then be source files; an absolute path (e.g.
        /usr/share/grpc-proto) compiles system protos instead.
      grpc: whether to generate gRPC service code too.
      deps: cc_library targets the generated code depends on.
      visibility: visibility of the cc_library.
      testonly: passed to both rules.
      alwayslink: link the code even if nothing refers to it (to register
        its descriptors, e.g. for server reflection).
    """
    package_dir = native.package_name()
    root = proto_dir if proto_dir else package_dir
    outs = []
    for proto in protos:
        base = _strip_ext(proto)
        outs += [base + ".pb.h", base + ".pb.cc"]
        if grpc:
            outs += [base + ".grpc.pb.h", base + ".grpc.pb.cc"]
    out_dir = "$(GENDIR)/" + package_dir if package_dir else "$(GENDIR)"
    cmd = "protoc -I%s -I/usr/include --cpp_out=%s" % (root, out_dir)
    if grpc:
        cmd += (" --grpc_out=%s --plugin=protoc-gen-grpc=/usr/bin/grpc_cpp_plugin" %
                out_dir)
    cmd += " " + " ".join(["%s/%s" % (root, p) for p in protos])
    native.genrule(
        name = name + "_codegen",
        srcs = [] if proto_dir else protos,
        outs = outs,
        cmd = cmd,
        local = bool(proto_dir),
        testonly = testonly,
    )
    native.cc_library(
        name = name,
        srcs = [o for o in outs if o.endswith(".cc")],
        hdrs = [o for o in outs if o.endswith(".h")],
        includes = ["."],
        deps = deps + (["@system//:grpcpp"] if grpc else ["@system//:protobuf"]),
        visibility = visibility,
        testonly = testonly,
        alwayslink = alwayslink,
    )
