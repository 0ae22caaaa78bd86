#!/usr/bin/env bash
# Runs every check of the project: the whole test suite (optimised), the
# library's concurrency tests under ThreadSanitizer, everything under
# AddressSanitizer + UBSan, the proto lint (buf) and the format check.
# Installs what it needs first. The last line is "N passed, N failed",
# counting test cases (and each failing check as one failure).
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --with-tools || { echo "0 passed, 1 failed"; exit 1; }

passed=0
failed=0

# Adds the test cases of every test.xml under $1 to the totals. Each
# <testsuite> element counts: gtest writes one per suite, and Bazel writes
# one (with an error) for a test binary that crashed.
count_cases() {
  local tests failures
  read -r tests failures < <(find "$1" -name test.xml -print0 2>/dev/null |
    xargs -0 -r cat | python3 -c '
import re, sys
tests = failures = 0
for attrs in re.findall(r"<testsuite ([^>]*)>", sys.stdin.read()):
    get = lambda k: int((re.search(r"\b" + k + r"=\"(\d+)\"", attrs) or [0, 0])[1])
    tests += get("tests")
    failures += get("failures") + get("errors")
print(tests, failures)')
  passed=$((passed + tests - failures))
  failed=$((failed + failures))
}

# bazel test with a config. A run that fails without a failing test case (a
# build error) counts as one failure.
run_bazel_tests() {
  local name=$1; shift
  echo "== bazel test $* //..." >&2
  local logs
  logs=$(bazel info "$@" bazel-testlogs 2>/dev/null)
  rm -rf "$logs"
  local before=$failed code=0
  bazel test "$@" //... || code=$?
  count_cases "$logs"
  if ((code != 0 && failed == before)); then
    echo "== $name: bazel test exited $code without a failing test case" >&2
    failed=$((failed + 1))
  fi
}

run_bazel_tests opt
run_bazel_tests tsan --config=tsan
run_bazel_tests asan --config=asan

check() {
  local name=$1; shift
  echo "== $name" >&2
  if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
}

buf="${PRESENCE_TOOLS_DIR:-$HOME/.cache/presence-tools}/buf/node_modules/.bin/buf"
check "buf lint proto/" "$buf" lint proto
# The API must stay wire- and source-compatible with the previous commit.
check "buf breaking proto/ against HEAD~1" "$buf" breaking proto \
  --against ".git#ref=HEAD~1,subdir=proto"
check "clang-format" bash -c 'git ls-files "*.h" "*.cc" | xargs clang-format --dry-run -Werror'
# clang-tidy (.clang-tidy) on the presence library; it includes a header
# Bazel generates (the Redis scripts), so the build above must have run.
bin=$(bazel info bazel-bin 2>/dev/null)
check "clang-tidy presence/" bash -c "git ls-files 'presence/*.cc' | grep -v _test.cc |
  xargs -n1 -I{} clang-tidy -quiet {} -- -std=c++17 -I. -I$bin 2>/dev/null"

# Clang's thread-safety analysis over the library, the service and the
# client (GUARDED_BY / REQUIRES; see presence/base/mutex.h).
check "clang -Wthread-safety" scripts/check_thread_safety.sh

# libFuzzer targets (validation, state JSON, tokens, HTTP requests), a
# bounded run each on the corpus kept in the repository.
for target in $(scripts/fuzz.sh --list); do
  check "fuzz $target (60 s)" scripts/fuzz.sh 60 "$target"
done

echo "$passed passed, $failed failed"
((failed == 0))
