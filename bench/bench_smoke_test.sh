#!/bin/sh
# Runs every benchmark scenario at --quick sizes against the binaries built
# for this test, and checks that each scenario produced numbers. Timing is
# never asserted: the machine is shared and the sizes are tiny.
set -eu
root="$TEST_SRCDIR/$TEST_WORKSPACE"
/usr/bin/python3 "$root/bench/run_scenarios.py" --quick --repeats=1 \
  --attempts=1 --bin_dir="$root" \
  --out="$TEST_TMPDIR/RESULTS.md" --summary="$TEST_TMPDIR/summary.json" \
  --command="bazel test //bench:bench_smoke_test" --repo="$root"
/usr/bin/python3 - "$TEST_TMPDIR/summary.json" <<'PY'
import json
import sys

rows = json.load(open(sys.argv[1]))
number = lambda v: isinstance(v, (int, float))
failures = []
for scenario in ["S1", "S2", "S3", "S4", "S5", "S6", "S7", "S8"]:
    mine = [r for r in rows if r["scenario"] == scenario]
    if not mine:
        failures.append(f"{scenario}: no results")
    for r in mine:
        # A ratio needs both numbers.
        if not (number(r["product"]) and number(r["baseline"]) and
                number(r["ratio"])):
            failures.append(f"{scenario} {r['measure']}: no number ({r})")
print(f"{len(rows)} results")
for failure in failures:
    print("FAIL", failure)
sys.exit(1 if failures else 0)
PY
cat "$TEST_TMPDIR/RESULTS.md"
