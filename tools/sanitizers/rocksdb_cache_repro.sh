#!/usr/bin/env bash
# Builds tools/sanitizers/rocksdb_cache_repro.cc with ThreadSanitizer against Debian's
# (uninstrumented) librocksdb and runs it with the TSan options of ops/sanitize.sh, once
# without and once with ignore_noninstrumented_modules=1; prints how many reports each run
# gave; then checks that with that option a race in instrumented code is still reported.
# Evidence for docs/RELIABILITY.md, "Sanitizers", finding 3.
set -eu
cd "$(dirname "$0")/../.."
work=$(mktemp -d /tmp/rocksdb_cache_repro.XXXXXX)
trap 'rm -rf "$work"' EXIT
g++ -std=c++17 -fsanitize=thread -O1 -g tools/sanitizers/rocksdb_cache_repro.cc -o "$work/repro" \
  -lrocksdb -pthread
base="suppressions=$PWD/tools/sanitizers/tsan.supp halt_on_error=0 exitcode=66"
for extra in "" "ignore_noninstrumented_modules=1"; do
  rm -rf "$work/db"
  rc=0
  TSAN_OPTIONS="$base $extra" "$work/repro" "$work/db" >"$work/out" 2>&1 || rc=$?
  echo "== TSAN_OPTIONS extra '${extra:-none}': exit $rc, $(grep -c 'WARNING: ThreadSanitizer' "$work/out") reports"
  grep -m1 -A40 'WARNING: ThreadSanitizer' "$work/out" || true
done
rc=0
TSAN_OPTIONS="$base ignore_noninstrumented_modules=1" "$work/repro" --race >"$work/out" 2>&1 || rc=$?
n=$(grep -c 'WARNING: ThreadSanitizer' "$work/out" || true)
echo "== a race in instrumented code, ignore_noninstrumented_modules=1: exit $rc, $n reports"
[ "$rc" = 66 ] && [ "$n" -ge 1 ] || { echo "FAIL: the race was not reported"; exit 1; }
