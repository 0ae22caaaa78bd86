#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (-fsanitize=fuzzer,address,undefined)
# and runs each for a bounded time on its corpus. A crash, a leak or a failed
# invariant fails the run; the input that did it is kept under $out/crashes.
#
#   scripts/fuzz.sh                  # every target, 60 s each
#   scripts/fuzz.sh 300 validation   # one target, 5 minutes
#   scripts/fuzz.sh --merge          # fold new inputs back into the corpora
#   scripts/fuzz.sh --list           # the targets' names
#
# Targets (name: fuzzer source, corpus, library sources it compiles):
# validation     presence/internal/validation_fuzzer.cc — request
#                validation, the state JSON parser, the facade on a memory
#                store
# struct_json    service/grpc/struct_json_fuzzer.cc — Struct <-> JSON
# token          service/auth/token_fuzzer.cc — the token parser
# pubnub_request service/http/pubnub_request_fuzzer.cc — the HTTP API's
#                request-target (path and query) parser
set -uo pipefail
cd "$(dirname "$0")/.."

merge=false
list=false
if [[ "${1:-}" == "--merge" ]]; then merge=true; shift; fi
if [[ "${1:-}" == "--list" ]]; then list=true; shift; fi
seconds=${1:-60}
only=${2:-}
out="${FUZZ_OUT:-${TMPDIR:-/tmp}/presence-fuzz}"
bin=$(bazel info bazel-bin 2>/dev/null)  # Generated headers (protos, Lua).

absl_modules="absl_base absl_flat_hash_map absl_flat_hash_set absl_hash
  absl_inlined_vector absl_node_hash_map absl_random_random absl_status
  absl_statusor absl_str_format absl_strings absl_synchronization absl_time"
libs=$(pkg-config --libs $absl_modules protobuf)

# Every library source of the presence library but the Redis store (which
# needs a server), the durable store (LevelDB, which Debian builds without
# RTTI) and test support.
library_sources() {
  git ls-files --cached --others --exclude-standard 'presence/*.cc' |
    grep -v -e '_test\.cc$' -e '_fuzzer\.cc$' -e '^presence/testing/' \
      -e '^presence/store/redis/' -e '^presence/store/durable/' -e 'differential'
}

declare -A sources corpus
sources[validation]="presence/internal/validation_fuzzer.cc $(library_sources | tr '\n' ' ')"
corpus[validation]=presence/internal/testdata/validation_fuzzer
sources[struct_json]="service/grpc/struct_json_fuzzer.cc service/grpc/struct_json.cc"
corpus[struct_json]=service/grpc/testdata/struct_json_fuzzer
sources[token]="service/auth/token_fuzzer.cc service/auth/token.cc"
corpus[token]=service/auth/testdata/token_fuzzer
sources[pubnub_request]="service/http/pubnub_request_fuzzer.cc service/http/pubnub_request.cc"
corpus[pubnub_request]=service/http/testdata/pubnub_request_fuzzer

if $list; then
  printf '%s\n' "${!sources[@]}" | sort
  exit 0
fi

status=0
for name in "${!sources[@]}"; do
  [[ -n "$only" && "$name" != "$only" ]] && continue
  dir="$out/$name"
  mkdir -p "$dir/new" "$dir/crashes"
  echo "== fuzz $name: build" >&2
  # shellcheck disable=SC2086  # word splitting of the source list is meant
  if ! clang++ -std=c++17 -O1 -g -fsanitize=fuzzer,address,undefined \
    -fno-sanitize-recover=undefined \
    -fsanitize-ignorelist=scripts/testdata/fuzz_ignorelist.txt -I. -Iproto -I"$bin" -I"$bin/proto" \
    ${sources[$name]} $libs -lpthread -o "$dir/fuzzer" 2>"$dir/build.log"; then
    cat "$dir/build.log" >&2
    echo "== fuzz $name: build FAILED" >&2
    status=1
    continue
  fi
  if $merge; then
    "$dir/fuzzer" -merge=1 "${corpus[$name]}" "$dir/new" >/dev/null 2>&1
    echo "== fuzz $name: merged into ${corpus[$name]}" >&2
    continue
  fi
  echo "== fuzz $name: ${seconds}s" >&2
  # New inputs go to a scratch folder; the committed corpus is only read.
  if "$dir/fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$dir/crashes/" \
    "$dir/new" "${corpus[$name]}" >"$dir/run.log" 2>&1; then
    grep -E '^stat::number_of_executed_units|^Done' "$dir/run.log" >&2
  else
    tail -n 40 "$dir/run.log" >&2
    echo "== fuzz $name: FAILED (inputs in $dir/crashes)" >&2
    status=1
  fi
done
exit $status
