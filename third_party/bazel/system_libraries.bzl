"""A repository of cc_library targets for Debian's system C++ libraries.

Each target carries the link flags pkg-config reports for the library, so
BUILD files depend on `@system//:grpcpp` instead of repeating long -l lists.
Headers come from /usr/include, which is already on the compiler's path.
"""

# Target name -> (pkg-config modules, extra link options).
_LIBRARIES = {
    "absl": ([
        "absl_base",
        "absl_flags",
        "absl_flags_parse",
        "absl_flat_hash_map",
        "absl_flat_hash_set",
        "absl_hash",
        "absl_inlined_vector",
        "absl_node_hash_map",
        "absl_random_random",
        "absl_status",
        "absl_statusor",
        "absl_str_format",
        "absl_strings",
        "absl_synchronization",
        "absl_time",
    ], []),
    "protobuf": (["protobuf"], []),
    # The grpc++ module's list lacks absl_synchronization, which system gRPC
    # needs at link time (undefined absl::Mutex symbols otherwise).
    "grpcpp": (["grpc++", "protobuf"], ["-labsl_synchronization"]),
    "grpcpp_reflection": ([], ["-lgrpc++_reflection"]),
    "gtest": (["gtest", "gmock"], ["-pthread"]),
    "gtest_main": (["gtest_main"], ["-pthread"]),
    "benchmark": (["benchmark"], ["-pthread"]),
    "benchmark_main": ([], ["-lbenchmark_main", "-lbenchmark", "-pthread"]),
    "hiredis": (["hiredis"], []),
    # Debian's libleveldb-dev ships no pkg-config module.
    "leveldb": ([], ["-lleveldb"]),
    "curl": (["libcurl"], []),
    "crypto": (["libcrypto"], []),
    "rapidjson": ([], []),
}

def _pkg_config_libs(ctx, modules):
    if not modules:
        return []
    result = ctx.execute(["pkg-config", "--libs"] + modules)
    if result.return_code != 0:
        fail("pkg-config --libs %s failed (run scripts/setup.sh): %s" %
             (" ".join(modules), result.stderr))
    return [flag for flag in result.stdout.strip().split(" ") if flag]

def _system_libraries_impl(ctx):
    rules = ['package(default_visibility = ["//visibility:public"])\n']
    for name, (modules, extra) in _LIBRARIES.items():
        linkopts = _pkg_config_libs(ctx, modules) + extra
        rules.append("cc_library(\n    name = %r,\n    linkopts = %r,\n)\n" %
                     (name, linkopts))
    ctx.file("WORKSPACE", 'workspace(name = "%s")\n' % ctx.name)
    ctx.file("BUILD.bazel", "\n".join(rules))

system_libraries = repository_rule(
    implementation = _system_libraries_impl,
    local = True,
    environ = ["PKG_CONFIG_PATH"],
)
