#!/usr/bin/env bash
# Runs clang's thread-safety analysis (-Wthread-safety) over the presence
# library, the service and the client: every GUARDED_BY member must be
# accessed with its lock held, every REQUIRES helper called with it held
# (see presence/base/mutex.h). Any finding fails the check. The generated
# headers come from Bazel's output tree, so a build must have run first.
#
# It first proves the analysis is live: a file with a known violation
# (scripts/testdata/thread_safety_violation.cc) must be rejected.
set -uo pipefail
cd "$(dirname "$0")/.."
bin=$(bazel info bazel-bin 2>/dev/null)
flags=(-fsyntax-only -std=c++17 -I. -Iproto -I"$bin" -I"$bin/proto"
  -Wthread-safety -Werror=thread-safety -Wno-unknown-warning-option)

if clang++ "${flags[@]}" scripts/testdata/thread_safety_violation.cc 2>/dev/null; then
  echo "check_thread_safety: the known violation was not reported;" \
    "the analysis is not running" >&2
  exit 1
fi

git ls-files 'presence/*.cc' 'service/*.cc' 'client/*.cc' |
  xargs -P "$(nproc)" -n 4 clang++ "${flags[@]}"
