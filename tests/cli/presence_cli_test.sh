#!/bin/bash
# End-to-end test of presence_cli (//client/cli:presence_cli) against the
# presence_server binary on a free port: every command's JSON output, exit
# statuses (0 ok, 1 failed call, 2 usage), both flag forms, per-command help,
# and a watch that sees a join made by another presence_cli and exits 0 on
# SIGINT.
#
# Usage: presence_cli_test.sh PRESENCE_SERVER PRESENCE_CLI

set -euo pipefail

readonly server_bin=$1
readonly cli_bin=$2
readonly python=/usr/bin/python3
work=$(mktemp -d "${TEST_TMPDIR:-/tmp}/presence_cli_test.XXXXXX")
readonly work

server_pid=""
watch_pid=""
cleanup() {
  local pid
  for pid in "${watch_pid}" "${server_pid}"; do
    if [[ -n "${pid}" ]] && kill -0 "${pid}" 2>/dev/null; then
      kill -KILL "${pid}" 2>/dev/null || true
      wait "${pid}" 2>/dev/null || true
    fi
  done
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

# Waits up to 10 s for `grep -q PATTERN FILE` to succeed.
wait_for_line() {
  local pattern=$1 file=$2 i
  for ((i = 0; i < 200; i++)); do
    grep -q -- "${pattern}" "${file}" 2>/dev/null && return 0
    sleep 0.05
  done
  fail "no line matching '${pattern}' in ${file} after 10 s"
}

# Runs presence_cli with the arguments given; sets out (stdout), err (stderr)
# and status (the exit status) without failing the script.
run() {
  if out=$("${cli_bin}" "$@" 2>"${work}/cli.err"); then
    status=0
  else
    status=$?
  fi
  err=$(<"${work}/cli.err")
}

# Runs presence_cli against the test server and expects exit status 0.
ok() {
  run "$@" --target="${target}"
  [[ ${status} -eq 0 ]] ||
    fail "presence_cli $* exited ${status}, stderr: ${err}"
}

# Expects the Python expression $1, over d = the JSON document in $out, to
# be true.
expect_json() {
  "${python}" - "${out}" "$1" <<'EOF' || fail "JSON check: $1 on: ${out}"
import json
import sys

d = json.loads(sys.argv[1])
if not eval(sys.argv[2]):
    sys.exit(1)
EOF
}

# Expects the last run to have exited with $1 and its stderr to contain each
# further argument.
expect_failure() {
  local want=$1 text
  shift
  [[ ${status} -eq ${want} ]] ||
    fail "exit status ${status}, want ${want}; stderr: ${err}"
  for text in "$@"; do
    [[ "${err}" == *"${text}"* ]] ||
      fail "stderr lacks '${text}': ${err}"
  done
}

# The server, on a free port.
"${server_bin}" --listen_address=127.0.0.1:0 2>"${work}/server.log" &
server_pid=$!
wait_for_line 'listening on 127\.0\.0\.1:' "${work}/server.log"
port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' \
  "${work}/server.log" | head -n 1)
readonly target="127.0.0.1:${port}"

# Heartbeat, exactly as the README writes it: the server's default timeout.
run heartbeat --target="${target}" --user-id=alice --channels=lobby
[[ ${status} -eq 0 ]] || fail "heartbeat exited ${status}: ${err}"
expect_json 'd == {"timeout_seconds": 300, "heartbeat_interval_seconds": 149}'
[[ "${out}" != *$'\n'* ]] || fail "output is not one compact line: ${out}"

# The --name value form, with a state for every channel named.
ok heartbeat --user-id bob --channels lobby,hall --timeout-seconds 60 \
  --state '{"mood":"happy"}'
expect_json 'd == {"timeout_seconds": 60, "heartbeat_interval_seconds": 29}'

ok set-state --user-id=alice --channels=lobby --state='{"mood":"busy"}'
expect_json 'd == {"channels": ["lobby"], "state": {"mood": "busy"}}'

# Here-now, exactly as the README writes it (--target first).
run here-now --target="${target}" --channels=lobby,hall --include-state
[[ ${status} -eq 0 ]] || fail "here-now exited ${status}: ${err}"
expect_json 'd == {"total_channels": 2, "total_occupancy": 3, "channels": [
    {"name": "hall", "occupancy": 1,
     "occupants": [{"user_id": "bob", "state": {"mood": "happy"}}]},
    {"name": "lobby", "occupancy": 2,
     "occupants": [{"user_id": "alice", "state": {"mood": "busy"}},
                   {"user_id": "bob", "state": {"mood": "happy"}}]}]}'

ok here-now --channels=lobby --include-user-ids=false
expect_json 'd["channels"] == [{"name": "lobby", "occupancy": 2, "occupants": []}]'
ok here-now --channels lobby --limit 1 --offset=1 --include-state=false
expect_json 'd["channels"][0]["occupants"] == [{"user_id": "bob"}]'
ok here-now
expect_json '[c["name"] for c in d["channels"]] == ["hall", "lobby"]'

ok where-now --user-id=bob
expect_json 'd == {"channels": ["hall", "lobby"]}'

ok get-state --user-id=alice --channels=lobby,hall
expect_json 'd == {"states": [{"channel_name": "lobby", "state": {"mood": "busy"}}]}'

# Channel groups.
ok add-channels --group=friends --channels=lobby,hall
expect_json 'd == {}'
ok list-channels --group friends
expect_json 'd == {"channels": ["hall", "lobby"]}'
ok list-groups
expect_json 'd == {"groups": ["friends"]}'
ok here-now --channel-groups=friends
expect_json 'd["total_channels"] == 2 and d["total_occupancy"] == 3'
ok get-state --user-id=bob --channel-groups=friends
expect_json '[s["channel_name"] for s in d["states"]] == ["hall", "lobby"]'
ok remove-channels --group=friends --channels=hall
expect_json 'd == {}'
ok list-channels --group=friends
expect_json 'd == {"channels": ["lobby"]}'
ok delete-group --group=friends
expect_json 'd == {}'
ok list-groups
expect_json 'd == {"groups": []}'
run list-channels --group=friends --target="${target}"
expect_failure 1 "error: NOT_FOUND: " "friends"

ok leave --user-id=alice --channels=lobby
expect_json 'd == {"channels": ["lobby"]}'
ok where-now --user-id=alice
expect_json 'd == {"channels": []}'

# Requests the server refuses: exit 1, the code's name and the field.
run heartbeat --target="${target}" --user-id=alice --channels=lobby,a:b
expect_failure 1 "error: INVALID_ARGUMENT: " "channels[1]"
[[ -z "${out}" ]] || fail "stdout of a failed call: ${out}"
run heartbeat --target="${target}" --user-id=alice --channels=lobby \
  --timeout-seconds=5
expect_failure 1 "error: INVALID_ARGUMENT: " "timeout_seconds"
run set-state --target="${target}" --user-id=zed --channels=lobby --state='{}'
expect_failure 1 "error: FAILED_PRECONDITION: "

# Usage errors: exit 2, nothing sent.
run here-now --target="${target}" --bogus=1
expect_failure 2 "unknown flag --bogus" "presence_cli here-now --help"
run where-now --target="${target}"
expect_failure 2 "missing required flag --user-id"
run heartbeat --target="${target}" --user-id=alice
expect_failure 2 "--channels or --channel-groups"
run here-now --target="${target}" --include-state false
expect_failure 2 'unexpected argument "false"'
run here-now --target="${target}" --limit=-1
expect_failure 2 "--limit=-1"
run set-state --target="${target}" --user-id=alice --channels=lobby --state='[1]'
expect_failure 2 "expected a JSON object"
run here-now --target="${target}" --deadline=10
expect_failure 2 "expected a duration"
run no-such-command
expect_failure 2 'unknown command "no-such-command"'
run
expect_failure 2 "Commands:"

# Help: the tool's lists every command; each command's lists its flags.
commands=(here-now where-now heartbeat leave set-state get-state add-channels
  remove-channels list-channels list-groups delete-group watch)
run --help
[[ ${status} -eq 0 ]] || fail "--help exited ${status}"
for command in "${commands[@]}"; do
  [[ "${out}" == *"  ${command} "* ]] || fail "--help lacks ${command}: ${out}"
done
for command in "${commands[@]}"; do
  run "${command}" --help
  [[ ${status} -eq 0 ]] || fail "${command} --help exited ${status}: ${err}"
  for text in "Usage: presence_cli ${command} [flags]" "--target=" \
    "--deadline=" "Example:" "presence_cli ${command}"; do
    [[ "${out}" == *"${text}"* ]] ||
      fail "${command} --help lacks '${text}': ${out}"
  done
done
run here-now --help
[[ "${out}" == *"--include-state[=true|false]"*"(default: false)"* ]] ||
  fail "here-now --help lacks --include-state: ${out}"
[[ "${out}" == *"(default: 127.0.0.1:50051)"* ]] ||
  fail "here-now --help lacks the default target: ${out}"

# Watch: registered (stderr says so) before the heartbeat it must see, then
# SIGINT ends it with exit status 0.
"${cli_bin}" watch --target="${target}" --channels=lobby \
  >"${work}/watch.out" 2>"${work}/watch.err" &
watch_pid=$!
wait_for_line "watch registered" "${work}/watch.err"
ok heartbeat --user-id=carol --channels=lobby --state='{"mood":"new"}'
wait_for_line '"user_id":"carol"' "${work}/watch.out"
kill -INT "${watch_pid}"
if wait "${watch_pid}"; then status=0; else status=$?; fi
watch_pid=""
[[ ${status} -eq 0 ]] || fail "watch exited ${status} after SIGINT"
"${python}" - "${work}/watch.out" <<'EOF' || fail "watch output"
import json
import sys

events = [json.loads(line) for line in open(sys.argv[1])]
joins = [e for e in events if e["action"] == "join"]
assert len(joins) == 1, events
join = joins[0]
assert join["channel"] == "lobby" and join["user_id"] == "carol", join
assert join["occupancy"] == 2 and join["state"] == {"mood": "new"}, join
assert isinstance(join["sequence"], str) and join["time"].endswith("Z"), join
EOF

# A watch with an explicit deadline ends by itself with exit status 0.
run watch --target="${target}" --channels=lobby --deadline=100ms
[[ ${status} -eq 0 ]] || fail "watch --deadline exited ${status}: ${err}"

# A watch the server ends (here by shutting down) exits 1 with the code.
"${cli_bin}" watch --target="${target}" \
  >"${work}/watch.out" 2>"${work}/watch.err" &
watch_pid=$!
wait_for_line "watch registered" "${work}/watch.err"
kill -TERM "${server_pid}"
if wait "${watch_pid}"; then status=0; else status=$?; fi
watch_pid=""
[[ ${status} -eq 1 ]] || fail "watch exited ${status} after the server stopped"
grep -q "error: UNAVAILABLE: " "${work}/watch.err" ||
  fail "watch stderr lacks UNAVAILABLE"
wait "${server_pid}" || fail "presence_server exited $?"
server_pid=""

echo "PASS"
