#!/usr/bin/env bash
# Runs the test suite under AddressSanitizer + UndefinedBehaviorSanitizer, then the
# consensus, node and bridge tests (threads) under ThreadSanitizer. One command:
#   bash ops/sanitize.sh                 # every stage (~40 min on an idle 2-core machine)
#   bash ops/sanitize.sh asan-unit tsan  # only these stages, in this order
#   PL_TEST_TMPDIR=/tmp/keep bash ops/sanitize.sh tsan  # and keep the tests' process logs
# Stages: asan-unit (every test outside tests/integration), asan-integration (the
# integration tests), tsan (consensus, node, bridge, agent, device protocol, the MQTT client
# and acked consumer (a reader thread; the bridge acks from others) and the integration tests
# that run node and bridge processes). A stage fails on any report:
# UBSan and ASan stop the process at the first one, TSan reports every race and exits 66;
# the integration tests also fail on a report in any log of a process they ran
# (tests/integration/pltest.py). Only uninstrumented system libraries are suppressed
# (tools/sanitizers/tsan.supp), never our code.
set -u
cd "$(dirname "$0")/.."
bash ops/install_deps.sh
DISK_CACHE="${PL_BAZEL_DISK_CACHE:-$HOME/.cache/provledger-bazel-disk}"
JOBS="${PL_BAZEL_JOBS:-2}"
STAGES=("$@")
[ ${#STAGES[@]} -eq 0 ] && STAGES=(asan-unit asan-integration tsan)

# Without halt_on_error UBSan prints "runtime error:" and goes on: a unit test would pass.
ASAN_ENV=(--test_env=UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
  --test_env=ASAN_OPTIONS=detect_leaks=1)
# ignore_noninstrumented_modules=1: a memcpy (or other intercepted call) made by code of an
# uninstrumented library (libstdc++, RocksDB, snappy, gRPC) is not checked; its locks still
# are. Without it TSan reports RocksDB's block cache: a block one thread decompresses (snappy's
# memcpy) and another copies out (libstdc++'s memcpy), ordered by RocksDB's own cache mutex
# (docs/RELIABILITY.md, "Sanitizers", finding 3; tools/sanitizers/rocksdb_cache_repro.sh).
TSAN_ENV=(--test_env=TSAN_OPTIONS="suppressions=$PWD/tools/sanitizers/tsan.supp halt_on_error=0 exitcode=66 report_signal_unsafe=0 second_deadlock_stack=1 ignore_noninstrumented_modules=1")

# compose_test packs the binaries into a Docker image and runs them in containers: their
# stderr goes to Docker, where pltest cannot read a sanitizer report, so under ASan it would
# pass whatever the binaries did (and it tests packaging, whose code paths the other
# integration tests run on the host).
ASAN_INTEGRATION_SKIP=(-//tests/integration:compose_test)

# consensus/ has no threads of its own (the node drives it); the seed sweeps are single-threaded
# simulations that take ~30 min under TSan and are covered by ASan, so TSan skips them.
TSAN_TARGETS=(//tests/consensus/... //tests/node/... //tests/bridge/... //tests/device_protocol/...
  //tests/agent/... //tests/client/...
  //tests/common:mqtt_client_test //tests/common:mqtt_consumer_test
  //tests/integration:bridge_test //tests/integration:bridge_restart_test
  //tests/integration:bridge_puback_test
  //tests/integration:integrity_test //tests/integration:agent_firmware_test
  //tests/integration:pbft_cluster_test //tests/integration:catchup_test
  //tests/integration:follower_test //tests/integration:validator_set_test
  //tests/integration:tls_test //tests/integration:audit_test
  -//tests/consensus:sim_sweep_test -//tests/consensus:sim_epoch_sweep_test)

# --nocache_test_results: a target whose sanitized binary and inputs did not change would
# otherwise keep an earlier run's result, and the stage would report tests it never ran.
COMMON=(--jobs="$JOBS" --disk_cache="$DISK_CACHE" --keep_going --nocache_test_results)
# PL_TEST_TMPDIR=DIR keeps each test's temporary folder (the integration tests' process logs)
# under DIR after the run, to read a failure's logs; Bazel otherwise deletes them.
[ -n "${PL_TEST_TMPDIR:-}" ] && COMMON+=(--test_tmpdir="$PL_TEST_TMPDIR")
OUT=$(mktemp /tmp/sanitize.XXXXXX)
SUMMARY=()

# Counts the per-target result lines of Bazel's test summary in $OUT; the targets that did not
# pass go to $OUT.bad, printed at the end.
summarize() {
  local stage=$1 secs=$2 bazel_rc=$3 passed failed timeout nostatus flaky
  passed=$(grep -cE '^//[^ ]+ +PASSED in' "$OUT")
  flaky=$(grep -cE '^//[^ ]+ +FLAKY' "$OUT")
  failed=$(grep -cE '^//[^ ]+ +FAILED' "$OUT")
  timeout=$(grep -cE '^//[^ ]+ +TIMEOUT' "$OUT")
  nostatus=$(grep -cE '^//[^ ]+ +(NO STATUS|FAILED TO BUILD|INCOMPLETE)' "$OUT")
  SUMMARY+=("$stage: $passed passed, $flaky flaky, $failed failed, $timeout timed out, $nostatus not run; bazel exit $bazel_rc; ${secs} s")
  grep -E '^//[^ ]+ +(FAILED|TIMEOUT|FLAKY|NO STATUS|FAILED TO BUILD|INCOMPLETE)' "$OUT" |
    sed "s/^/  $stage: /" >>"$OUT.bad"
}

rc=0
: >"$OUT.bad"
trap 'rm -f "$OUT" "$OUT.bad"' EXIT
for stage in "${STAGES[@]}"; do
  start=$(date +%s)
  case "$stage" in
    asan-unit)
      echo "== ASan + UBSan: unit tests"
      bazel test --config=asan "${COMMON[@]}" "${ASAN_ENV[@]}" -- //... -//tests/integration/... \
        2>&1 | tee "$OUT"
      ;;
    asan-integration)
      echo "== ASan + UBSan: integration tests"
      bazel test --config=asan "${COMMON[@]}" "${ASAN_ENV[@]}" -- //tests/integration/... \
        "${ASAN_INTEGRATION_SKIP[@]}" 2>&1 | tee "$OUT"
      ;;
    tsan)
      echo "== TSan: consensus, node, bridge, agent; node and bridge processes"
      bazel test --config=tsan "${COMMON[@]}" "${TSAN_ENV[@]}" -- "${TSAN_TARGETS[@]}" 2>&1 |
        tee "$OUT"
      ;;
    *)
      echo "unknown stage $stage (asan-unit, asan-integration, tsan)" >&2
      exit 2
      ;;
  esac
  bazel_rc=${PIPESTATUS[0]}
  [ "$bazel_rc" -ne 0 ] && rc=1
  summarize "$stage" $(( $(date +%s) - start )) "$bazel_rc"
  echo "== ${SUMMARY[-1]}"
done
bazel shutdown >/dev/null 2>&1
echo "== summary (passed counts only tests that ran: --nocache_test_results)"
printf '%s\n' "${SUMMARY[@]}"
cat "$OUT.bad"
exit $rc
