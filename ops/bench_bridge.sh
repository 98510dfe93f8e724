#!/usr/bin/env bash
# Bridge benchmark (docs/BENCHMARKS.md, "Bridge: bare Mosquitto vs the ledger path"):
# bare Mosquitto with a plain subscriber beside device_sim -> mqtt_bridge -> a local
# 4-validator PBFT ledger, same devices and readings, QoS 1; then 125-1,000 KB payloads.
#   bash ops/bench_bridge.sh [--devices=50] [--count=200] [--reps=3] [--modes=mac,sig]
#                            [--window=500] [--procs=4] [--skip_large] [--dir=DIR] [--json_out=FILE]
#                            [--bridge_flags="--max_batch_records=1000 ..."]
# Builds -c opt and copies the binaries to $PL_BENCH_BIN (default /tmp/provledger-bench-bin)
# so a concurrent fastbuild in the same workspace cannot swap them mid-run;
# PL_BENCH_NOBUILD=1 skips the build and runs the binaries already in $PL_BENCH_BIN.
set -eu
cd "$(dirname "$0")/.."
BIN="${PL_BENCH_BIN:-/tmp/provledger-bench-bin}"
TARGETS="//node:ledger_node //tools/ledgerctl:ledgerctl //mqtt-bridge:mqtt_bridge \
  //tools/device_sim:device_sim //tools/bench:mqtt_bare_bench"
if [ "${PL_BENCH_NOBUILD:-0}" = 1 ]; then
  exec python3 ops/bench_bridge.py --bin="$BIN" "$@"
fi
echo "== building -c opt =="
bazel build -c opt --jobs=2 $TARGETS 2>&1 | grep -E "^(ERROR|FAILED)|error:" && exit 1
OUT="$(bazel info -c opt bazel-bin 2>/dev/null)"
mkdir -p "$BIN"
for b in node/ledger_node tools/ledgerctl/ledgerctl mqtt-bridge/mqtt_bridge \
  tools/device_sim/device_sim tools/bench/mqtt_bare_bench; do
  install -m 0755 "$OUT/$b" "$BIN/"
done
exec python3 ops/bench_bridge.py --bin="$BIN" "$@"
