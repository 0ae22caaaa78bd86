#!/usr/bin/env bash
# Runs the presence service on its embedded store, on 127.0.0.1:50051 unless
# flags say otherwise:  scripts/run.sh --listen_address=0.0.0.0:50051
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec bazel run //service:presence_server -- "$@"
