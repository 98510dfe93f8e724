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
. ops/bench_lib.sh
bench_build //node:ledger_node //tools/ledgerctl:ledgerctl //mqtt-bridge:mqtt_bridge \
  //tools/device_sim:device_sim //tools/bench:mqtt_bare_bench
exec python3 ops/bench_bridge.py --bin="$BIN" "$@"
