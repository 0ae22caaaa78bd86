#!/usr/bin/env bash
# Generates the client stubs of proto/presence/v1/*.proto for one language
# into OUT_DIR, a build or cache folder (never the source tree: generated code
# is not committed).
#
#   client/gen_stubs.sh python OUT_DIR  # OUT_DIR/presence/v1/*_pb2{,_grpc}.py;
#                                       # put OUT_DIR on PYTHONPATH
#   client/gen_stubs.sh go OUT_DIR      # a GOPATH: OUT_DIR/src/<go_package>/*.pb.go;
#                                       # use GOPATH=OUT_DIR:/usr/share/gocode
#   client/gen_stubs.sh node OUT_DIR    # OUT_DIR/presence/v1/*.proto, loaded at
#                                       # run time by @grpc/proto-loader
#
# Uses Debian's protoc and plugins (scripts/setup.sh --with-tools installs
# them). Safe to rerun: OUT_DIR's stubs are replaced.
set -euo pipefail

usage() {
  echo "usage: $0 <python|go|node> <out_dir>" >&2
  exit 2
}
(($# == 2)) || usage
language=$1
out=$2
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
protos=(presence/v1/presence.proto presence/v1/channel_group.proto)
# The google/protobuf imports (struct, timestamp) come from libprotobuf-dev.
includes=(-I"$root/proto" -I/usr/include)

case "$language" in
  python)
    mkdir -p "$out"
    protoc "${includes[@]}" --python_out="$out" --grpc_out="$out" \
      --plugin=protoc-gen-grpc=/usr/bin/grpc_python_plugin "${protos[@]}"
    ;;
  go)
    # Default paths=import: files land under the proto's go_package import
    # path, which is where GOPATH mode looks for them.
    mkdir -p "$out/src"
    protoc "${includes[@]}" --go_out="$out/src" --go-grpc_out="$out/src" "${protos[@]}"
    ;;
  node)
    # proto-loader parses .proto files itself; protobufjs bundles the
    # google/protobuf well-known types, so only our files are needed.
    mkdir -p "$out/presence/v1"
    for proto in "${protos[@]}"; do
      cp "$root/proto/$proto" "$out/$proto"
    done
    ;;
  *) usage ;;
esac
