#!/usr/bin/env bash
# Installs what building, running and testing the presence service needs,
# from Debian's packages (and buf from the npm registry with --with-buf).
# Idempotent and fast when everything is already installed.
set -euo pipefail

packages=(
  bazel-bootstrap bazel-rules-java
  g++ pkgconf python3 git
  libgrpc++-dev protobuf-compiler-grpc protobuf-compiler libprotobuf-dev grpc-proto
  libabsl-dev rapidjson-dev libcurl4-openssl-dev libhiredis-dev libssl-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  redis-server nghttp2-client clang-format clang-tidy
)

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed"; then
    missing+=("$package")
  fi
done

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  sudo=""
  if [[ $(id -u) != 0 ]]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi

# buf (proto lint) from the npm registry, outside the source tree.
if [[ "${1:-}" == "--with-buf" ]]; then
  tools="${PRESENCE_TOOLS_DIR:-$HOME/.cache/presence-tools}"
  if [[ ! -x "$tools/node_modules/.bin/buf" ]]; then
    if ! command -v npm >/dev/null; then
      sudo=""
      if [[ $(id -u) != 0 ]]; then sudo="sudo"; fi
      $sudo apt-get update -qq
      DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq npm >/dev/null
    fi
    mkdir -p "$tools"
    npm install --silent --prefix "$tools" @bufbuild/buf@1 >/dev/null
  fi
fi
