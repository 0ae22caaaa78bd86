#!/usr/bin/env bash
# Installs what building, running and testing the presence service needs,
# from Debian's packages, and with --with-tools the test tools from the npm
# registry (outside the source tree). Idempotent and fast when everything is
# already installed.
#
#   scripts/setup.sh               # build and run
#   scripts/setup.sh --with-tools  # and test (scripts/test.sh does this)
set -euo pipefail
cd "$(dirname "$0")/.."

# Building and running.
packages=(
  bazel-bootstrap bazel-rules-java
  g++ pkgconf python3 git
  libgrpc++-dev protobuf-compiler-grpc protobuf-compiler libprotobuf-dev grpc-proto
  libabsl-dev rapidjson-dev libcurl4-openssl-dev libhiredis-dev libssl-dev
  libboost-dev libleveldb-dev
)
# Testing: Redis, lint and analysis, certificates (openssl), clients in other
# languages.
test_packages=(
  libgtest-dev libgmock-dev libbenchmark-dev
  redis-server nghttp2-client clang libclang-rt-14-dev clang-format clang-tidy openssl
  python3-grpcio python3-protobuf
  golang-go golang-google-grpc-dev golang-google-protobuf-dev
  golang-github-golang-protobuf-1-5-dev protoc-gen-go protoc-gen-go-grpc
)
with_tools=false
if [[ "${1:-}" == "--with-tools" || "${1:-}" == "--with-buf" ]]; then
  with_tools=true
  packages+=("${test_packages[@]}")
fi
# Node and npm: the image's own (newer) Node is used when there is one.
if $with_tools && ! command -v npm >/dev/null; then packages+=(nodejs npm); fi

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed"; then
    missing+=("$package")
  fi
done

sudo=""
if [[ $(id -u) != 0 ]]; then sudo="sudo"; fi
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi

$with_tools || exit 0

# npm packages, each set pinned by a package.json and package-lock.json
# committed in the folder that uses it, installed with `npm ci` into
# $tools/<name>/node_modules (never into the source tree). A set is
# reinstalled only when its lock file changes.
tools="${PRESENCE_TOOLS_DIR:-$HOME/.cache/presence-tools}"
npm_sets=(
  "buf:scripts/tools"
  "node-client:client/node"
  "pubnub-js:tests/pubnub"
  "k8s-validate:k8s/validate"
)
for entry in "${npm_sets[@]}"; do
  name=${entry%%:*}
  dir=${entry#*:}
  target="$tools/$name"
  stamp="$target/.lock-sha256"
  sum=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$sum" && -d "$target/node_modules" ]]; then
    continue
  fi
  echo "setup: npm ci for $dir into $target" >&2
  mkdir -p "$target"
  cp "$dir/package.json" "$dir/package-lock.json" "$target/"
  (cd "$target" && npm ci --silent --no-audit --no-fund >/dev/null)
  echo "$sum" >"$stamp"
done
