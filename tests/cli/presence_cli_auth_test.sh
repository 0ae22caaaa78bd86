#!/bin/bash
# End-to-end test of tokens and mutual TLS with presence_cli against the
# presence_server binary: certificates and secrets made here with openssl;
# `presence_cli grant` minting offline from the secret file (the server
# accepts the token) and online with an admin token; the CLI's --tls,
# --ca-cert, --cert, --key and --token flags; and a secret rotation applied
# with SIGHUP while the server keeps running.
#
# Usage: presence_cli_auth_test.sh PRESENCE_SERVER PRESENCE_CLI

set -euo pipefail

server_bin=$(realpath "$1")
readonly server_bin
cli_bin=$(realpath "$2")
readonly cli_bin
readonly python=/usr/bin/python3
work=$(mktemp -d "${TEST_TMPDIR:-/tmp}/presence_cli_auth_test.XXXXXX")
readonly work

server_pid=""
cleanup() {
  if [[ -n "${server_pid}" ]] && kill -0 "${server_pid}" 2>/dev/null; then
    kill -KILL "${server_pid}" 2>/dev/null || true
    wait "${server_pid}" 2>/dev/null || true
  fi
  rm -rf "${work}"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  for log in "${work}"/*.log "${work}"/*.err; do
    [[ -f "${log}" ]] && { echo "--- ${log}:" >&2; cat "${log}" >&2; }
  done
  exit 1
}

# Runs presence_cli; sets out, err and status without failing the script.
run() {
  if out=$("${cli_bin}" "$@" 2>"${work}/cli.err"); then
    status=0
  else
    status=$?
  fi
  err=$(<"${work}/cli.err")
}

expect_status() {
  [[ "${status}" == "$1" ]] || fail "expected exit $1, got ${status}: ${out} ${err}"
}

expect_err() {
  [[ "${err}" == *"$1"* ]] || fail "expected stderr to contain '$1', got: ${err}"
}

token_of() {
  "${python}" -c 'import json, sys; print(json.load(sys.stdin)["token"])' <<<"$1"
}

# --- A CA, the server's certificate and a client's, as README.md shows.
cd "${work}"
cat >ext.cnf <<'CNF'
[server]
subjectAltName = IP:127.0.0.1,DNS:localhost
extendedKeyUsage = serverAuth
[client]
extendedKeyUsage = clientAuth
CNF
{
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -days 2 -subj "/CN=presence test CA" -keyout ca.key -out ca.crt
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -subj "/CN=localhost" -keyout server.key -out server.csr
  openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -set_serial 1 \
    -days 2 -extfile ext.cnf -extensions server -out server.crt
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -subj "/CN=backend" -keyout client.key -out client.csr
  openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -set_serial 2 \
    -days 2 -extfile ext.cnf -extensions client -out client.crt
} >openssl.log 2>&1 || fail "openssl failed"
openssl rand -base64 48 >old.secret
openssl rand -base64 48 >new.secret
cp old.secret secrets

"${server_bin}" --listen_address=127.0.0.1:0 --auth=token \
  --auth_secret_file="${work}/secrets" --tls_cert_file="${work}/server.crt" \
  --tls_key_file="${work}/server.key" --tls_client_ca_file="${work}/ca.crt" \
  2>"${work}/server.log" &
server_pid=$!
port=""
for ((i = 0; i < 200; i++)); do
  port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' server.log)
  [[ -n "${port}" ]] && break
  kill -0 "${server_pid}" 2>/dev/null || fail "the server exited"
  sleep 0.05
done
[[ -n "${port}" ]] || fail "the server did not log its port"
grep -q "tls: mtls, auth: token" server.log || fail "not mtls and token"
target=(--target="127.0.0.1:${port}")
tls=(--ca-cert="${work}/ca.crt" --cert="${work}/client.crt" --key="${work}/client.key")

# --- Offline: a token minted from the secret file, accepted by the server.
run grant --secret-file="${work}/secrets" --ttl=1h --user-id=alice \
  --write=lobby --read=lobby,room-*
expect_status 0
[[ "${out}" =~ ^\{\"expire_time\":\"[0-9T:Z-]+\",\"token\":\"pv1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\"\}$ ]] ||
  fail "grant printed ${out}"
alice=$(token_of "${out}")

run heartbeat "${target[@]}" "${tls[@]}" --token="${alice}" --user-id=alice \
  --channels=lobby
expect_status 0
PRESENCE_TOKEN="${alice}" run here-now "${target[@]}" "${tls[@]}" \
  --channels=lobby,room-1
expect_status 0
[[ "${out}" == *'"total_occupancy":1'* ]] || fail "here-now printed ${out}"

# --- Refusals.
run here-now "${target[@]}" "${tls[@]}" --channels=lobby
expect_status 1
expect_err "error: UNAUTHENTICATED: this call needs a token"
run heartbeat "${target[@]}" "${tls[@]}" --token="${alice}" --user-id=bob \
  --channels=lobby
expect_status 1
expect_err 'error: PERMISSION_DENIED: the token is bound to user "alice" and cannot act as user "bob"'
run here-now "${target[@]}" "${tls[@]}" --token="${alice}" --channels=hall
expect_status 1
expect_err 'error: PERMISSION_DENIED: the token has no "read" permission on channel "hall"'
run here-now "${target[@]}" --token="${alice}" --channels=lobby # Plaintext.
expect_status 1
expect_err "error: UNAVAILABLE"
run here-now "${target[@]}" --ca-cert="${work}/ca.crt" --token="${alice}" \
  --channels=lobby # TLS without a client certificate.
expect_status 1
expect_err "error: UNAVAILABLE"
run grant --secret-file="${work}/secrets" --ttl=0s
expect_status 2
run grant --secret-file="${work}/secrets" --ttl=1h --read='a*b'
expect_status 1
expect_err 'error: INVALID_ARGUMENT: --read: "a*b" is not a name or a prefix ending in *'

# --- Online: GrantToken needs an admin token.
run grant "${target[@]}" "${tls[@]}" --token="${alice}" --ttl=1h --read=lobby
expect_status 1
expect_err "error: PERMISSION_DENIED: GrantToken needs an admin token"
run grant --secret-file="${work}/secrets" --ttl=1h --admin
admin=$(token_of "${out}")
run grant "${target[@]}" "${tls[@]}" --token="${admin}" --ttl=10m \
  --user-id=bob --write=lobby
expect_status 0
bob=$(token_of "${out}")
run heartbeat "${target[@]}" "${tls[@]}" --token="${bob}" --user-id=bob \
  --channels=lobby
expect_status 0

# --- Rotation with SIGHUP: the new secret signs, the old one still verifies,
# then the old one goes and its tokens with it. The server keeps running.
cat new.secret old.secret >secrets
kill -HUP "${server_pid}"
for ((i = 0; i < 200; i++)); do
  grep -q "secret file reloaded" server.log && break
  sleep 0.05
done
grep -q "secret file reloaded" server.log || fail "SIGHUP did not reload"
run grant --secret-file="${work}/secrets" --ttl=1h --read=lobby
carol=$(token_of "${out}")
run here-now "${target[@]}" "${tls[@]}" --token="${carol}" --channels=lobby
expect_status 0
run here-now "${target[@]}" "${tls[@]}" --token="${alice}" --channels=lobby
expect_status 0

cp new.secret secrets
kill -HUP "${server_pid}"
for ((i = 0; i < 200; i++)); do
  [[ $(grep -c "secret file reloaded" server.log) == 2 ]] && break
  sleep 0.05
done
run here-now "${target[@]}" "${tls[@]}" --token="${alice}" --channels=lobby
expect_status 1
expect_err "error: UNAUTHENTICATED: token signature does not verify"
run here-now "${target[@]}" "${tls[@]}" --token="${carol}" --channels=lobby
expect_status 0
kill -0 "${server_pid}" || fail "the server stopped"

kill -TERM "${server_pid}"
wait "${server_pid}" || fail "the server exited with $?"
server_pid=""
echo "PASS"
