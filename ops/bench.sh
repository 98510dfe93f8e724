#!/usr/bin/env bash
# The benchmark suite of issue 16 (docs/BENCHMARKS.md, "The benchmark suite"): bare Mosquitto
# and the bridge path into 4 and 7 validators, MAC and signed readings, with one load
# generator (tools/bench/mqtt_load, libmosquitto), an offered-load sweep, CPU per reading by
# process, the seed's large payloads, cluster_load against store_append, and a perf profile
# of the bridge and one validator. Writes the tables of docs/BENCHMARKS.md, the plots
# docs/bench/*.png, docs/bench/results.json and docs/bench/profile-*.txt.
#
#   ops/bench.sh [--quick] [--stages=store,v4,v7,cluster,large,profile] [--devices=64]
#                [--count=2000] [--reps=3] ...        (python3 ops/bench_suite.py --help)
#   ops/bench.sh --baseline_bin=/tmp/before-bin   # also: those binaries against this build,
#                                                 # alternating in this run (stage ab)
#   ops/bench.sh --render_only=docs/bench/results.json   # tables and plots again
#
# Builds -c opt and copies the binaries to $PL_BENCH_BIN (ops/bench_lib.sh; set it to a folder
# of your own on a shared machine); PL_BENCH_NOBUILD=1 uses the binaries already there.
set -euo pipefail
cd "$(dirname "$0")/.."
. ops/bench_lib.sh
case " $* " in
  *" --render_only="*) exec python3 ops/bench_suite.py "$@" ;;
esac
bench_build //node:ledger_node //tools/ledgerctl:ledgerctl //mqtt-bridge:mqtt_bridge \
  //tools/bench:mqtt_load //tools/bench:ledger_bench //tools/bench:cluster_load
exec python3 ops/bench_suite.py --bin="$BIN" "$@"
