#!/usr/bin/env bash
# grpcurl-style debugging with no proto file: `buf curl` (npm @bufbuild/buf,
# installed by scripts/setup.sh --with-tools) drives the presence_server
# binary through server reflection. Lists services and methods, calls every
# RPC with JSON and checks the JSON answers, reads health, checks that an
# error comes back as JSON, and reads a WatchEvents stream until its deadline.
#
#   tests/polyglot/buf_curl_test.sh PATH_TO_PRESENCE_SERVER
set -euo pipefail
# shellcheck source=server_lib.sh source-path=SCRIPTDIR
source "$(dirname "$0")/server_lib.sh"

buf="$TOOLS/buf/node_modules/.bin/buf"
[[ -x "$buf" ]] || fail "$buf is missing: run scripts/setup.sh --with-tools"
start_server "$1"
url="http://$PRESENCE_ADDRESS"
curl=("$buf" curl --protocol grpc --http2-prior-knowledge)

# JSON with sorted keys and no spaces, so answers compare as text.
canonical() {
  /usr/bin/python3 -c 'import json, sys; print(json.dumps(json.load(sys.stdin), sort_keys=True, separators=(",", ":")))'
}

# expect_rpc SERVICE/METHOD REQUEST ANSWER: the call succeeds with ANSWER.
expect_rpc() {
  local answer
  answer=$("${curl[@]}" -d "$2" "$url/$1") || fail "$1 $2 failed"
  [[ "$(canonical <<<"$answer")" == "$(canonical <<<"$3")" ]] ||
    fail "$1 $2: got $answer, want $3"
  echo "ok $1 $2 -> $(canonical <<<"$answer")"
}

# expect_error SERVICE/METHOD REQUEST CODE TEXT: the call fails with a JSON
# error (on stderr) of CODE whose message contains TEXT.
expect_error() {
  local error
  if error=$("${curl[@]}" -d "$2" "$url/$1" 2>&1); then fail "$1 $2 succeeded: $error"; fi
  /usr/bin/python3 - "$3" "$4" "$error" <<'EOF' || fail "$1 $2: got $error, want $3 naming $4"
import json, sys
code, text, error = sys.argv[1:]
answer = json.loads(error)
sys.exit(answer["code"] != code or text not in answer["message"])
EOF
  echo "ok $1 $2 -> $(canonical <<<"$error")"
}

echo "--- reflection"
services=$("${curl[@]}" --list-services "$url")
echo "$services"
for service in presence.v1.PresenceService presence.v1.ChannelGroupService grpc.health.v1.Health; do
  grep -qxF "$service" <<<"$services" || fail "--list-services lacks $service"
done
methods=$("${curl[@]}" --list-methods "$url")
for method in HereNow WhereNow SetState GetState Heartbeat Leave BatchHeartbeat WatchEvents; do
  grep -qxF "presence.v1.PresenceService/$method" <<<"$methods" || fail "--list-methods lacks $method"
done
for method in AddChannels RemoveChannels ListChannels ListGroups DeleteGroup; do
  grep -qxF "presence.v1.ChannelGroupService/$method" <<<"$methods" || fail "--list-methods lacks $method"
done
echo "ok: $(wc -l <<<"$methods") methods"

echo "--- health"
expect_rpc grpc.health.v1.Health/Check '{}' '{"status":"SERVING"}'
expect_rpc grpc.health.v1.Health/Check '{"service":"presence.v1.PresenceService"}' '{"status":"SERVING"}'

echo "--- presence.v1.PresenceService"
P=presence.v1.PresenceService
expect_rpc $P/Heartbeat \
  '{"user_id":"alice","channels":["lobby"],"timeout_seconds":60,"session_id":"tab-1","states":{"lobby":{"mood":"happy"}}}' \
  '{"timeoutSeconds":60,"heartbeatIntervalSeconds":29}'
expect_rpc $P/HereNow '{"channels":["lobby"],"include_state":true}' \
  '{"totalChannels":1,"totalOccupancy":1,"channels":[{"name":"lobby","occupancy":1,"occupants":[{"userId":"alice","state":{"mood":"happy"}}]}]}'
expect_rpc $P/Heartbeat '{"user_id":"alice","channels":["kitchen"]}' \
  '{"timeoutSeconds":300,"heartbeatIntervalSeconds":149}'
expect_rpc $P/WhereNow '{"user_id":"alice"}' '{"channels":["kitchen","lobby"]}'
expect_rpc $P/SetState '{"user_id":"alice","channels":["lobby"],"state":{"mood":"busy","level":2}}' \
  '{"channels":["lobby"],"state":{"mood":"busy","level":2}}'
expect_rpc $P/GetState '{"user_id":"alice","channels":["lobby"]}' \
  '{"states":[{"channelName":"lobby","state":{"mood":"busy","level":2}}]}'
expect_error $P/HereNow '{"channels":["a,b"]}' invalid_argument 'channels[0]'
expect_error $P/SetState '{"user_id":"alice","channels":["attic"],"state":{}}' failed_precondition attic

# The watch runs in the background until its deadline. -v prints the
# response headers on stderr: the registered header says changes made from
# then on are delivered.
"${curl[@]}" -v --timeout 3s -d '{"channels":["lobby"]}' "$url/$P/WatchEvents" \
  >"$SCRATCH/watch.out" 2>"$SCRATCH/watch.err" &
watch_pid=$!
for _ in $(seq 100); do
  grep -qi '^buf: < .*presence-watch-registered: 1' "$SCRATCH/watch.err" && break
  kill -0 $watch_pid 2>/dev/null || break
  sleep 0.05
done
grep -qi '^buf: < .*presence-watch-registered: 1' "$SCRATCH/watch.err" ||
  fail "the watch was not registered: $(cat "$SCRATCH/watch.err")"
expect_rpc $P/Leave '{"user_id":"alice","channels":["lobby"],"session_id":"tab-1"}' '{"channels":["lobby"]}'
expect_rpc $P/BatchHeartbeat '{"entries":[{"heartbeat":{"user_id":"carol","channels":["hall"],"timeout_seconds":60}},{"leave":{"user_id":"carol","channels":["hall"]}}]}' \
  '{"results":[{"heartbeat":{"timeoutSeconds":60,"heartbeatIntervalSeconds":29}},{"leave":{"channels":["hall"]}}]}'
if wait $watch_pid; then fail "the watch ended without its deadline"; fi
grep -q '"code": *"deadline_exceeded"' "$SCRATCH/watch.err" ||
  fail "the watch did not end at its deadline: $(tail -5 "$SCRATCH/watch.err")"
# The stream is a sequence of JSON objects: the leave, then the channel
# becoming inactive.
events=$(/usr/bin/python3 - "$SCRATCH/watch.out" <<'EOF'
import json, re, sys
text, decoder, at = open(sys.argv[1]).read(), json.JSONDecoder(), 0
while (at := re.compile(r"\s*").match(text, at).end()) < len(text):
    event, at = decoder.raw_decode(text, at)
    print(event["channel"], event["action"], event.get("userId", "-"), event.get("occupancy", 0))
EOF
)
echo "watch events:"
echo "$events"
[[ "$events" == $'lobby ACTION_LEAVE alice 0\nlobby ACTION_INACTIVE - 0' ]] ||
  fail "watch output: got $(cat "$SCRATCH/watch.out")"

echo "--- presence.v1.ChannelGroupService"
G=presence.v1.ChannelGroupService
expect_rpc $G/AddChannels '{"group":"friends","channels":["bob-room","alice-room"]}' '{}'
expect_rpc $G/ListChannels '{"group":"friends"}' '{"channels":["alice-room","bob-room"]}'
expect_rpc $G/ListGroups '{}' '{"groups":["friends"]}'
expect_rpc $G/RemoveChannels '{"group":"friends","channels":["bob-room"]}' '{}'
expect_rpc $G/ListChannels '{"group":"friends"}' '{"channels":["alice-room"]}'
expect_rpc $G/DeleteGroup '{"group":"friends"}' '{}'
expect_error $G/ListChannels '{"group":"friends"}' not_found friends
echo "PASS"
