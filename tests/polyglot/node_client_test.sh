#!/usr/bin/env bash
# The Node client against the presence_server binary: @grpc/grpc-js and
# @grpc/proto-loader (installed by scripts/setup.sh --with-tools from
# client/node/package-lock.json), the protos copied by client/gen_stubs.sh,
# the example client's output, and node:test assertions on every RPC; then
# the example over mutual TLS with a token.
#
#   tests/polyglot/node_client_test.sh PATH_TO_PRESENCE_SERVER
set -euo pipefail
# shellcheck source=server_lib.sh source-path=SCRIPTDIR
source "$(dirname "$0")/server_lib.sh"

export NODE_PATH="$TOOLS/node-client/node_modules"
[[ -d "$NODE_PATH/@grpc/grpc-js" ]] || fail "$NODE_PATH has no @grpc/grpc-js: run scripts/setup.sh --with-tools"
"$ROOT/client/gen_stubs.sh" node "$SCRATCH/protos"
export PRESENCE_PROTOS="$SCRATCH/protos"
start_server "$1"

echo "--- client/node/example.js"
node "$ROOT/client/node/example.js" --address "$PRESENCE_ADDRESS" --protos "$PRESENCE_PROTOS" \
  >"$SCRATCH/example.out" || fail "the example exited with $?"
cat "$SCRATCH/example.out"
out="$SCRATCH/example.out"
expect_line "$out" "heartbeat: timeout 60s, send the next one within 29s"
expect_line "$out" 'lobby: 1 occupant(s): alice {"mood":"happy"}'
expect_line "$out" "alice is in: lobby"
expect_line "$out" 'alice'"'"'s state on lobby: {"mood":"busy"}'
expect_line "$out" "watching lobby for 1s (registered: 1)"
expect_match "$out" "  event: lobby ACTION_JOIN bob \(occupancy 2, sequence [0-9]+\)"
expect_match "$out" "  event: lobby ACTION_LEAVE bob \(occupancy 1, sequence [0-9]+\)"
expect_line "$out" "alice left: lobby"
expect_line "$out" "batch entry 0: OK"
expect_match "$out" "batch entry 1: INVALID_ARGUMENT entries\[1\]\.heartbeat\.channels\[0\]: .*"
expect_line "$out" "batch entry 2: OK"
expect_line "$out" "friends after removing bob-room: alice-room"
expect_line "$out" "friends deleted: NOT_FOUND: channel group 'friends' does not exist"

echo "--- tests/polyglot/node/presence_client.test.js"
node --test --test-reporter=spec "$ROOT/tests/polyglot/node/presence_client.test.js"

echo "--- the example over mutual TLS with a token"
start_secure_server "$1"
node "$ROOT/client/node/example.js" --address "$PRESENCE_ADDRESS" --protos "$PRESENCE_PROTOS" \
  --ca_cert "$SCRATCH/tls/ca.crt" --cert "$SCRATCH/tls/client.crt" \
  --key "$SCRATCH/tls/client.key" --token "$ADMIN_TOKEN" >"$SCRATCH/secure.out" ||
  fail "the example over TLS exited with $?"
expect_line "$SCRATCH/secure.out" "alice is in: lobby"
expect_line "$SCRATCH/secure.out" "friends after removing bob-room: alice-room"
