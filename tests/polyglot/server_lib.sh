# shellcheck shell=bash disable=SC2034  # ROOT, SCRATCH and TOOLS are for the tests.
# Shared by the polyglot tests (sourced, not run): a scratch folder, and the
# presence_server binary on a free port, stopped with SIGTERM on exit.
#
#   source "$(dirname "$0")/server_lib.sh"
#   start_server "$1"      # sets PRESENCE_ADDRESS (127.0.0.1:<port>)
#
# Sets ROOT (the workspace: the source tree, or the test's runfiles under
# Bazel), SCRATCH (removed on exit unless Bazel owns it) and TOOLS (what
# scripts/setup.sh --with-tools installs).

if [[ -n "${TEST_SRCDIR:-}" ]]; then
  ROOT="$TEST_SRCDIR/$TEST_WORKSPACE"
else
  ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
fi
TOOLS="${PRESENCE_TOOLS_DIR:-$HOME/.cache/presence-tools}"
if [[ -n "${TEST_TMPDIR:-}" ]]; then
  SCRATCH="$TEST_TMPDIR"
  _own_scratch=false
else
  SCRATCH="$(mktemp -d)"
  _own_scratch=true
fi
_server_pid=""

_cleanup() {
  local status=$?
  if [[ -n "$_server_pid" ]]; then
    kill -TERM "$_server_pid" 2>/dev/null || true
    wait "$_server_pid" 2>/dev/null || true
  fi
  if [[ $status != 0 && -f "$SCRATCH/server.log" ]]; then
    echo "--- server log" >&2
    cat "$SCRATCH/server.log" >&2
  fi
  if $_own_scratch; then rm -rf "$SCRATCH"; fi
  exit "$status"
}
trap _cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# start_server BINARY [FLAGS...]: runs the server on a free port and waits
# (at most 20 s, a hang guard) for the line that names it.
start_server() {
  local binary=$1
  shift
  [[ -x "$binary" ]] || fail "usage: $0 PATH_TO_PRESENCE_SERVER (got '$binary')"
  # Created first: the background shell may not have opened it yet when the
  # loop below first reads it (and a failing sed would end a `set -e` test).
  : >"$SCRATCH/server.log"
  "$binary" --listen_address=127.0.0.1:0 "$@" 2>"$SCRATCH/server.log" &
  _server_pid=$!
  local port="" _
  for _ in $(seq 200); do
    port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' "$SCRATCH/server.log")
    [[ -n "$port" ]] && break
    kill -0 "$_server_pid" 2>/dev/null || fail "presence_server exited before listening"
    sleep 0.1
  done
  [[ -n "$port" ]] || fail "presence_server did not log its port"
  PRESENCE_ADDRESS="127.0.0.1:$port"
  export PRESENCE_ADDRESS
  echo "presence_server listening on $PRESENCE_ADDRESS"
}

# expect_line FILE TEXT: FILE has a line that is exactly TEXT.
expect_line() {
  grep -qxF -- "$2" "$1" || fail "expected the line '$2' in $(basename "$1"):
$(cat "$1")"
}

# expect_match FILE REGEX: FILE has a line that matches the extended REGEX whole.
expect_match() {
  grep -qxE -- "$2" "$1" || fail "expected a line matching '$2' in $(basename "$1"):
$(cat "$1")"
}
