# shellcheck shell=bash disable=SC2034  # ROOT, SCRATCH, TOOLS and ADMIN_TOKEN are for the tests.
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

# stop_server: stops the server start_server started (SIGTERM, then waits).
stop_server() {
  if [[ -n "$_server_pid" ]]; then
    kill -TERM "$_server_pid" 2>/dev/null || true
    wait "$_server_pid" 2>/dev/null || true
    _server_pid=""
  fi
}

# make_tls_files DIR: a throwaway CA (DIR/ca.crt), a server certificate for
# 127.0.0.1 and localhost (DIR/server.{crt,key}) and a client certificate for
# mutual TLS (DIR/client.{crt,key}), made with openssl.
make_tls_files() {
  local dir=$1
  mkdir -p "$dir"
  printf '%s\n' '[server]' 'subjectAltName = IP:127.0.0.1,DNS:localhost' \
    'extendedKeyUsage = serverAuth' '[client]' 'extendedKeyUsage = clientAuth' \
    >"$dir/ext.cnf"
  local ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
  {
    openssl req -x509 "${ec[@]}" -days 2 -subj "/CN=presence test CA" \
      -keyout "$dir/ca.key" -out "$dir/ca.crt"
    local name serial=1
    for name in server client; do
      openssl req -new "${ec[@]}" -subj "/CN=$name" -keyout "$dir/$name.key" \
        -out "$dir/$name.csr"
      openssl x509 -req -in "$dir/$name.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" \
        -set_serial $((serial++)) -days 2 -extfile "$dir/ext.cnf" -extensions "$name" \
        -out "$dir/$name.crt"
    done
  } >"$dir/openssl.log" 2>&1 || fail "openssl: $(cat "$dir/openssl.log")"
}

# mint_token SECRET_FILE CLAIMS_JSON: prints a token for the claims, signed
# with the file's first secret, in the server's format (pv1.<claims>.<mac>:
# base64url JSON, then base64url HMAC-SHA256 of "pv1.<claims>").
mint_token() {
  /usr/bin/python3 - "$1" "$2" <<'PY'
import base64, hashlib, hmac, sys
with open(sys.argv[1]) as lines:
    secret = next(line.strip() for line in lines
                  if line.strip() and not line.startswith("#"))
b64 = lambda data: base64.urlsafe_b64encode(data).rstrip(b"=").decode()
signed = "pv1." + b64(sys.argv[2].encode())
mac = hmac.new(secret.encode(), signed.encode(), hashlib.sha256).digest()
print(signed + "." + b64(mac))
PY
}

# start_secure_server BINARY: stops the running server and starts one with
# mutual TLS (files in $SCRATCH/tls) and tokens; sets PRESENCE_ADDRESS and
# ADMIN_TOKEN (an admin token for an hour).
start_secure_server() {
  stop_server
  make_tls_files "$SCRATCH/tls"
  openssl rand -base64 48 >"$SCRATCH/secrets"
  start_server "$1" --auth=token --auth_secret_file="$SCRATCH/secrets" \
    --tls_cert_file="$SCRATCH/tls/server.crt" --tls_key_file="$SCRATCH/tls/server.key" \
    --tls_client_ca_file="$SCRATCH/tls/ca.crt"
  ADMIN_TOKEN=$(mint_token "$SCRATCH/secrets" "{\"exp\":$(($(date +%s) + 3600)),\"adm\":true}")
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
