#!/usr/bin/env bash
# Runs one node:test file of this folder against the presence_server binary:
# the official PubNub JavaScript SDK (npm "pubnub", pinned in package.json),
# and @grpc/grpc-js for the gRPC side, both installed outside the tree by
# scripts/setup.sh --with-tools. The tests start their own servers.
#
#   tests/pubnub/run_node_test.sh PATH_TO_PRESENCE_SERVER TEST_FILE
set -euo pipefail
if [[ -n "${TEST_SRCDIR:-}" ]]; then
  root="$TEST_SRCDIR/$TEST_WORKSPACE"
else
  root="$(cd "$(dirname "$0")/../.." && pwd)"
fi
tools="${PRESENCE_TOOLS_DIR:-$HOME/.cache/presence-tools}"
(($# == 2)) || { echo "usage: $0 PATH_TO_PRESENCE_SERVER TEST_FILE" >&2; exit 2; }
PRESENCE_SERVER="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
[[ -x "$PRESENCE_SERVER" ]] || { echo "not executable: $1" >&2; exit 2; }
for package in pubnub-js/node_modules/pubnub node-client/node_modules/@grpc/grpc-js; do
  [[ -d "$tools/$package" ]] || { echo "$tools/$package is missing: run scripts/setup.sh --with-tools" >&2; exit 1; }
done
export PRESENCE_SERVER
export PRESENCE_PROTOS="$root/proto"
export NODE_PATH="$tools/pubnub-js/node_modules:$tools/node-client/node_modules"
exec node --test --test-reporter=spec "$root/tests/pubnub/$2"
