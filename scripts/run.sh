#!/usr/bin/env bash
# Runs the presence service on its embedded store: gRPC on 127.0.0.1:50051
# and PubNub's REST API (for PubNub SDKs) on 127.0.0.1:8080, unless flags
# say otherwise (later flags win):
#
#   scripts/run.sh --listen_address=0.0.0.0:50051 --http_address=
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec bazel run //service:presence_server -- --http_address=127.0.0.1:8080 "$@"
