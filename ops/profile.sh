#!/usr/bin/env bash
# Where the time goes: `perf record -a -g`, the samples of mqtt_bridge and of one validator of
# a 4-validator chain while tools/bench/mqtt_load sends MACed readings at full speed; the top
# functions by self and by inclusive time go to docs/bench/profile-{bridge,validator}.txt and
# the profile table of docs/BENCHMARKS.md. The profile stage of ops/bench.sh, alone.
#
#   ops/profile.sh [--profile_seconds=15] [--devices=64] [--png_dir=DIR] [--doc=FILE]
#
# Needs perf (Debian linux-perf) allowed to attach (root, or kernel.perf_event_paranoid <= 1).
# Builds as ops/bench.sh does ($PL_BENCH_BIN, PL_BENCH_NOBUILD=1).
set -euo pipefail
cd "$(dirname "$0")/.."
. ops/bench_lib.sh
command -v perf >/dev/null || { echo "perf not found (apt-get install linux-perf)" >&2; exit 1; }
bench_build //node:ledger_node //tools/ledgerctl:ledgerctl //mqtt-bridge:mqtt_bridge \
  //tools/bench:mqtt_load //tools/bench:ledger_bench //tools/bench:cluster_load
exec python3 ops/bench_suite.py --bin="$BIN" --stages=v4,profile --reps=0 --fractions= \
  --results=/tmp/plbench_profile_results.json --tables=profile --no_plots "$@"
