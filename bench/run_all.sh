#!/bin/sh
# Runs every benchmark scenario (S1-S8) against its baseline and writes
# bench/RESULTS.md; see bench/README.md.
#
#   bench/run_all.sh            # full sizes, 3 repeats (about 20 minutes)
#   bench/run_all.sh --quick    # tiny sizes (about a minute)
#   bench/run_all.sh --only=S1,S7 --repeats=5
#
# Other arguments go to bench/run_scenarios.py. Builds with -c opt first.
set -eu
cd "$(dirname "$0")/.."
bazel build -c opt //bench:echo_server //bench:load_generator \
  //bench:memory_per_membership //bench:timeout_lag //service:presence_server
# A private copy: a build in this workspace during the run (another
# configuration moves bazel-bin) must not swap the binaries being measured.
bin_dir=$(mktemp -d)
trap 'rm -rf "$bin_dir"' EXIT
mkdir -p "$bin_dir/bench" "$bin_dir/service"
# The -c opt output directory itself: the bazel-bin link follows whichever
# configuration was built last, by anyone.
out=$(bazel info -c opt bazel-bin)
cp "$out/service/presence_server" "$bin_dir/service/"
for binary in echo_server load_generator memory_per_membership timeout_lag; do
  cp "$out/bench/$binary" "$bin_dir/bench/"
done
/usr/bin/python3 bench/run_scenarios.py --bin_dir="$bin_dir" \
  --out=bench/RESULTS.md \
  --command="$(echo "bench/run_all.sh $*" | sed 's/ *$//')" "$@"
