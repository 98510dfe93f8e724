#!/usr/bin/env bash
# Installs what is needed, runs every test, and ends with "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
bash ops/install_deps.sh || { echo "0 passed, 1 failed"; exit 1; }
DISK_CACHE="${PL_BAZEL_DISK_CACHE:-$HOME/.cache/provledger-bazel-disk}"
mkdir -p "$DISK_CACHE"
log=$(mktemp)
bazel test //... --jobs=2 --keep_going --nocache_test_results --disk_cache="$DISK_CACHE" "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
passed=$(grep -cE '^//[^ ]+ +(\(cached\) )?(PASSED|FLAKY)' "$log")
failed=$(grep -cE '^//[^ ]+ +(\(cached\) )?(FAILED|TIMEOUT|NO STATUS|INCOMPLETE)' "$log")
# A non-zero exit with no failed test line means the build broke before testing.
if [ "$rc" -ne 0 ] && [ "$rc" -ne 4 ] && [ "$failed" -eq 0 ]; then failed=1; fi
rm -f "$log"
bazel shutdown >/dev/null 2>&1
echo "$passed passed, $failed failed"
if [ "$rc" -eq 4 ]; then rc=0; fi
exit "$rc"
