#!/usr/bin/env bash
# Consensus benchmark: a local 4-validator PBFT cluster on loopback, driven by cluster_load at
# several batch sizes, each at full speed and then at half the rate it reached. Prints a table
# (docs/BENCHMARKS.md, "Consensus: a local 4-validator cluster") and stops everything.
#
#   ops/bench_cluster.sh [--seconds=10] [--threads=8] [--batches="100 500 1000"]
#                        [--node_flags="--max_block_batches=64"] [--scrape_ms=N] [--keep]
#
# --scrape_ms=N: the nodes serve metrics (--metrics_listen on a free port each) and every
# node's /metrics is fetched every N ms during the runs, as Prometheus would (the cost of
# metrics, docs/BENCHMARKS.md). Builds and copies the binaries as ops/bench_lib.sh says
# ($PL_BENCH_BIN, PL_BENCH_NOBUILD=1, PL_BAZEL_FLAGS).
#
# Builds with -c opt. The nodes, the load generator and RocksDB all share this machine.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_RUN=10
THREADS=8
BATCHES="100 500 1000"
NODE_FLAGS=""
KEEP=0
SCRAPE_MS=0
for a in "$@"; do
  case "$a" in
    --seconds=*) SECONDS_PER_RUN="${a#*=}" ;;
    --threads=*) THREADS="${a#*=}" ;;
    --batches=*) BATCHES="${a#*=}" ;;
    --node_flags=*) NODE_FLAGS="${a#*=}" ;;
    --scrape_ms=*) SCRAPE_MS="${a#*=}" ;;
    --keep) KEEP=1 ;;
    *) echo "unknown argument $a" >&2; exit 2 ;;
  esac
done

. ops/bench_lib.sh
bench_build //node:ledger_node //tools/ledgerctl //tools/bench:cluster_load
NODE="$BIN/ledger_node"
CTL="$BIN/ledgerctl"
LOAD="$BIN/cluster_load"

ROOT="$(mktemp -d /tmp/plbench_cluster.XXXXXX)"
bench_cleanup_on_exit

VALIDATORS=()
ADDRS=()
for i in 0 1 2 3; do
  "$CTL" --insecure keygen --out="$ROOT/v$i.key" >/dev/null
  port="$(free_port)"
  ADDRS+=("127.0.0.1:$port")
  VALIDATORS+=("--validator=v$i:$ROOT/v$i.key:127.0.0.1:$port")
done
NODES="$(IFS=,; echo "${ADDRS[*]}")"
for k in admin gw-bench dev-bench; do "$CTL" --insecure keygen --out="$ROOT/$k.key" >/dev/null; done
"$CTL" --insecure genesis --chain_id=bench --out="$ROOT/genesis.json" --admin="$ROOT/admin.key" \
  "${VALIDATORS[@]}" >/dev/null

METRICS_FLAG=""
if [ "$SCRAPE_MS" -gt 0 ]; then METRICS_FLAG="--metrics_listen=127.0.0.1:0"; fi
for i in 0 1 2 3; do
  # shellcheck disable=SC2086
  "$NODE" --insecure --genesis="$ROOT/genesis.json" --node_id="v$i" --key="$ROOT/v$i.key" \
    --data_dir="$ROOT/v$i" $NODE_FLAGS $METRICS_FLAG >"$ROOT/v$i.log" 2>&1 &
  PIDS+=("$!")
done
for i in 0 1 2 3; do
  for _ in $(seq 100); do
    "$CTL" --insecure status --node="${ADDRS[$i]}" --timeout_ms=500 >/dev/null 2>&1 && break
    sleep 0.1
  done
done
"$CTL" --insecure register-gateway --id=gw-bench --key="$ROOT/gw-bench.key" --admin_key="$ROOT/admin.key" \
  --genesis="$ROOT/genesis.json" --node="$NODES" >/dev/null
"$CTL" --insecure register-device --id=dev-bench --key="$ROOT/dev-bench.key" \
  --admin_key="$ROOT/admin.key" --genesis="$ROOT/genesis.json" --node="$NODES" >/dev/null

if [ "$SCRAPE_MS" -gt 0 ]; then
  # Every node's metrics port (ev=metrics_ready port=N), fetched every SCRAPE_MS ms.
  MPORTS="$(cat "$ROOT"/v?.log | sed -n 's/.*ev=metrics_ready .*port=\([0-9]*\).*/\1/p' | tr '\n' ' ')"
  # shellcheck disable=SC2086
  python3 - "$SCRAPE_MS" $MPORTS >"$ROOT/scrapes.log" 2>&1 <<'EOF' &
import sys, time, urllib.request
period, ports = int(sys.argv[1]) / 1000, sys.argv[2:]
n = 0
while True:
    for p in ports:
        urllib.request.urlopen("http://127.0.0.1:%s/metrics" % p, timeout=10).read()
        n += 1
    print(n, flush=True)
    time.sleep(period)
EOF
  PIDS+=("$!")
fi

run_load() {  # batch rate -> one JSON line
  "$LOAD" --insecure --nodes="$NODES" --genesis="$ROOT/genesis.json" --gateway=gw-bench \
    --gateway_key="$ROOT/gw-bench.key" --device=dev-bench --threads="$THREADS" --batch="$1" \
    --seconds="$SECONDS_PER_RUN" --rate="$2" --json
}
field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }
row() {  # batch offered json
  python3 - "$1" "$2" "$3" <<'EOF'
import json, sys
b, offered, r = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
print("| %s | %s | %s | %.1f | %.1f | %.1f | %d | %d |" % (
    b, offered, format(r["records_per_s"], ","), r["p50_us"] / 1000, r["p95_us"] / 1000,
    r["p99_us"] / 1000, r["errors"], r["late_sends"]))
EOF
}

echo "4 validators on loopback, $THREADS submitter threads, ${SECONDS_PER_RUN}s per run" \
  "(after 1s warm-up), 256-byte payloads, MAC records; node flags: ${NODE_FLAGS:-defaults}" \
  "$([ "$SCRAPE_MS" -gt 0 ] && echo "; metrics on, every node scraped every ${SCRAPE_MS} ms")"
echo
echo "| records/batch | offered | committed records/s | p50 ms | p95 ms | p99 ms | errors | late sends |"
echo "|---|---|---|---|---|---|---|---|"
for b in $BATCHES; do
  max="$(run_load "$b" 0)"
  row "$b" "max" "$max"
  half=$(( $(field "$max" records_per_s) / 2 ))
  if [ "$half" -gt 0 ]; then
    row "$b" "$(printf "%'d" "$half")/s" "$(run_load "$b" "$half")"
  fi
done
H="$("$CTL" --insecure status --node="${ADDRS[0]}" --json | python3 -c 'import json,sys; s=json.load(sys.stdin); print(s["height"], s["records"], s["view"])')"
echo
echo "chain after the runs (height, records, view): $H"
if [ "$SCRAPE_MS" -gt 0 ]; then echo "scrapes: $(tail -1 "$ROOT/scrapes.log")"; fi
