#!/usr/bin/env bash
# Catch-up benchmark: a local 4-validator cluster builds a chain under cluster_load, then an
# empty follower joins it twice, by blocks (--catch_up=blocks) and from a checkpoint
# (--catch_up=checkpoint), each measured from its start until it stands at the validators'
# head. Prints blocks/s and records/s of each (docs/BENCHMARKS.md, "Catch-up of an empty node").
#
#   ops/bench_catchup.sh [--seconds=30] [--threads=4] [--batch=100] [--state_interval=256]
#                        [--node_flags=...] [--keep]
#
# Builds with -c opt. The nodes, the load generator and RocksDB all share this machine.
set -euo pipefail
cd "$(dirname "$0")/.."
. ops/bench_lib.sh

LOAD_SECONDS=30
THREADS=4
BATCH=100
INTERVAL=256
NODE_FLAGS=""
KEEP=0
for a in "$@"; do
  case "$a" in
    --seconds=*) LOAD_SECONDS="${a#*=}" ;;
    --threads=*) THREADS="${a#*=}" ;;
    --batch=*) BATCH="${a#*=}" ;;
    --state_interval=*) INTERVAL="${a#*=}" ;;
    --node_flags=*) NODE_FLAGS="${a#*=}" ;;
    --keep) KEEP=1 ;;
    *) echo "unknown argument $a" >&2; exit 2 ;;
  esac
done

bazel build -c opt //node:ledger_node //tools/ledgerctl //tools/bench:cluster_load >&2
BIN="$(bazel info -c opt bazel-bin 2>/dev/null)"
NODE="$BIN/node/ledger_node"
CTL="$BIN/tools/ledgerctl/ledgerctl"
LOAD="$BIN/tools/bench/cluster_load"

ROOT="$(mktemp -d /tmp/plbench_catchup.XXXXXX)"
bench_cleanup_on_exit
status_field() {  # addr field
  "$CTL" --insecure status --node="$1" --json --timeout_ms=2000 2>/dev/null |
    python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$2" 2>/dev/null || echo 0
}
now_ms() { date +%s%3N; }

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
for i in 0 1 2 3; do
  # shellcheck disable=SC2086
  "$NODE" --insecure --genesis="$ROOT/genesis.json" --node_id="v$i" --key="$ROOT/v$i.key" \
    --data_dir="$ROOT/v$i" --state_interval="$INTERVAL" $NODE_FLAGS >"$ROOT/v$i.log" 2>&1 &
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

echo "building the chain: cluster_load ${LOAD_SECONDS}s, $THREADS threads, $BATCH records/batch" >&2
"$LOAD" --insecure --nodes="$NODES" --genesis="$ROOT/genesis.json" --gateway=gw-bench \
  --gateway_key="$ROOT/gw-bench.key" --device=dev-bench --threads="$THREADS" --batch="$BATCH" \
  --seconds="$LOAD_SECONDS" --json >"$ROOT/load.json"
HEAD="$(status_field "${ADDRS[0]}" height)"
RECORDS="$(status_field "${ADDRS[0]}" records)"
CP=$(( HEAD / INTERVAL * INTERVAL ))
if [ "$CP" -eq 0 ]; then echo "chain of $HEAD blocks: shorter than --state_interval" >&2; exit 1; fi
# Every validator has digested and signed the checkpoint before the joins start.
for i in 0 1 2 3; do
  for _ in $(seq 600); do
    grep -q "ev=state_attested height=$CP " "$ROOT/v$i.log" && break
    sleep 0.1
  done
done

join() {  # name mode -> "ms blocks_fetched records_fetched"
  local port addr start h=0
  port="$(free_port)"
  addr="127.0.0.1:$port"
  start="$(now_ms)"
  "$NODE" --insecure --follow --genesis="$ROOT/genesis.json" --node_id="$1" --listen="$addr" \
    --data_dir="$ROOT/$1" --catch_up="$2" >"$ROOT/$1.log" 2>&1 &
  local pid=$!
  PIDS+=("$pid")
  while [ "$h" -lt "$HEAD" ]; do
    sleep 0.05
    h="$(status_field "$addr" height)"
  done
  local end
  end="$(now_ms)"
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  echo "$(( end - start ))"
}

MS_BLOCKS="$(join fb blocks)"
MS_CP="$(join fc checkpoint)"
INSTALL_MS="$(grep -o 'ev=state_installed.*' "$ROOT/fc.log" | grep -o ' ms=[0-9]*' | tr -dc 0-9)"
ROWS="$(grep -o 'ev=state_installed.*' "$ROOT/fc.log" | grep -o ' rows=[0-9]*' | tr -dc 0-9)"
ATTEST_MS="$(grep -o "ev=state_attested height=$CP .*" "$ROOT/v0.log" | grep -o ' ms=[0-9]*' | tr -dc 0-9)"
du_b() { du -sb "$1" | cut -f1; }

python3 - "$HEAD" "$RECORDS" "$CP" "$MS_BLOCKS" "$MS_CP" "$INSTALL_MS" "$ROWS" \
  "$(du_b "$ROOT/fb/chain")" "$(du_b "$ROOT/fc/chain")" "${ATTEST_MS:-0}" <<'PY'
import sys
head, records, cp, ms_b, ms_c, inst, rows, du_b, du_c, attest = map(int, sys.argv[1:])
print("chain: %d blocks, %d records; checkpoint at %d (%d state rows)" % (head, records, cp, rows))
print()
print("| empty follower joins | time to the head | blocks/s | records/s | chain dir |")
print("|---|---|---|---|---|")
for name, ms, du in (("by blocks (--catch_up=blocks)", ms_b, du_b),
                     ("from a checkpoint (--catch_up=checkpoint)", ms_c, du_c)):
    s = ms / 1000.0
    print("| %s | %.2f s | %s | %s | %.1f MB |" % (name, s, format(int(head / s), ","),
                                                   format(int(records / s), ","), du / 1e6))
print()
print("checkpoint install itself (attestations, %d headers, %d rows, block %d): %d ms; "
      "then %d blocks by state transfer" % (cp - 1, rows, cp, inst, head - cp))
print("a validator's digest and signature of that state (its own thread): %d ms" % attest)
PY
