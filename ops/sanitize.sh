#!/usr/bin/env bash
# Runs the test suite under AddressSanitizer + UndefinedBehaviorSanitizer, then the
# consensus and bridge tests (threads) under ThreadSanitizer. One command:
#   bash ops/sanitize.sh
set -u
cd "$(dirname "$0")/.."
bash ops/install_deps.sh
DISK_CACHE="${PL_BAZEL_DISK_CACHE:-$HOME/.cache/provledger-bazel-disk}"
rc=0
echo "== ASan + UBSan: every test"
bazel test --config=asan --jobs=2 --disk_cache="$DISK_CACHE" //... || rc=1
echo "== TSan: consensus, bridge, agent, node processes"
bazel test --config=tsan --jobs=2 --disk_cache="$DISK_CACHE" \
  --test_env=TSAN_OPTIONS="suppressions=$PWD/tools/sanitizers/tsan.supp halt_on_error=0 exitcode=66 report_signal_unsafe=0" \
  //tests/consensus/... //tests/bridge/... //tests/device_protocol/... //tests/agent/... \
  //tests/integration:bridge_test //tests/integration:integrity_test \
  //tests/integration:agent_firmware_test || rc=1
bazel shutdown >/dev/null 2>&1
exit $rc
