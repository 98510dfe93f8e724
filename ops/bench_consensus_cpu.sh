#!/usr/bin/env bash
# CPU per committed record of a local 4-validator PBFT cluster, two node builds side by side
# (docs/BENCHMARKS.md, "Consensus path (issue 16)").
#
#   ops/bench_consensus_cpu.sh --a=DIR [--b=DIR] [--reps=3] [--seconds=8] [--batch=500]
#                              [--threads=8] [--node_flags="..."] [--a_flags="..."]
#                              [--b_flags="..."] [--rate=0]
#
# DIR holds ledger_node, ledgerctl and cluster_load (copies of an -c opt build: see
# --stage=DIR below). For each rep, A then B: a fresh cluster of that build is started, loaded
# by cluster_load at full speed for --seconds, and stopped. Printed per run: committed
# records/s (chain records after - before, over the load's wall time), records per block, and
# CPU µs per committed
# record for each validator (utime+stime from /proc/PID/stat over the load ÷ records), and at
# the end the median of each and the B/A ratios pair by pair. --rate: records/s offered (0:
# as fast as answered, closed loop: each submitter thread waits for its answer). --node_flags go to every node,
# --a_flags / --b_flags to A's / B's only (one build against itself with another flag).
#
# --perf=PREFIX: `perf record -g` of validators 0 (the primary) and 1 during each load, to
# PREFIX.v0.data and PREFIX.v1.data (the last run's).
#
#   ops/bench_consensus_cpu.sh --stage=DIR   builds -c opt (PL_BAZEL_FLAGS goes to bazel) and
#                                            copies the three binaries to DIR
set -euo pipefail
cd "$(dirname "$0")/.."

A="" B="" REPS=3 SECS=8 BATCH=500 THREADS=8 NODE_FLAGS="" STAGE="" PERF="" A_FLAGS="" B_FLAGS="" RATE=0
for a in "$@"; do
  case "$a" in
    --a=*) A="${a#*=}" ;;
    --b=*) B="${a#*=}" ;;
    --reps=*) REPS="${a#*=}" ;;
    --seconds=*) SECS="${a#*=}" ;;
    --batch=*) BATCH="${a#*=}" ;;
    --threads=*) THREADS="${a#*=}" ;;
    --node_flags=*) NODE_FLAGS="${a#*=}" ;;
    --a_flags=*) A_FLAGS="${a#*=}" ;;
    --rate=*) RATE="${a#*=}" ;;
    --b_flags=*) B_FLAGS="${a#*=}" ;;
    --stage=*) STAGE="${a#*=}" ;;
    --perf=*) PERF="${a#*=}" ;;
    *) echo "unknown argument $a" >&2; exit 2 ;;
  esac
done

if [ -n "$STAGE" ]; then
  # shellcheck disable=SC2086
  bazel build -c opt ${PL_BAZEL_FLAGS:-} //node:ledger_node //tools/ledgerctl \
    //tools/bench:cluster_load >&2
  # shellcheck disable=SC2086
  BIN="$(bazel info -c opt ${PL_BAZEL_FLAGS:-} bazel-bin 2>/dev/null)"
  mkdir -p "$STAGE"
  cp -f "$BIN/node/ledger_node" "$BIN/tools/ledgerctl/ledgerctl" \
    "$BIN/tools/bench/cluster_load" "$STAGE/"
  echo "staged in $STAGE" >&2
  exit 0
fi
[ -n "$A" ] || { echo "--a=DIR or --stage=DIR is required" >&2; exit 2; }

TICK="$(getconf CLK_TCK)"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

run_one() {  # DIR EXTRA_FLAGS -> "records_per_s us0 us1 us2 us3"
  local dir="$1" extra="$2" root pids=() addrs=() vals=() i port nodes r0 r1 t0 t1 c0=() c1=()
  root="$(mktemp -d /tmp/plbench_cpu.XXXXXX)"
  for i in 0 1 2 3; do
    "$dir/ledgerctl" --insecure keygen --out="$root/v$i.key" >/dev/null
    port="$(free_port)"
    addrs+=("127.0.0.1:$port")
    vals+=("--validator=v$i:$root/v$i.key:127.0.0.1:$port")
  done
  nodes="$(IFS=,; echo "${addrs[*]}")"
  for k in admin gw-bench dev-bench; do "$dir/ledgerctl" --insecure keygen --out="$root/$k.key" >/dev/null; done
  "$dir/ledgerctl" --insecure genesis --chain_id=bench --out="$root/genesis.json" --admin="$root/admin.key" \
    "${vals[@]}" >/dev/null
  for i in 0 1 2 3; do
    # shellcheck disable=SC2086
    "$dir/ledger_node" --insecure --genesis="$root/genesis.json" --node_id="v$i" --key="$root/v$i.key" \
      --data_dir="$root/v$i" $NODE_FLAGS $extra >"$root/v$i.log" 2>&1 &
    pids+=("$!")
  done
  for i in 0 1 2 3; do
    for _ in $(seq 200); do
      "$dir/ledgerctl" --insecure status --node="${addrs[$i]}" --timeout_ms=500 >/dev/null 2>&1 && break
      sleep 0.1
    done
  done
  "$dir/ledgerctl" --insecure register-gateway --id=gw-bench --key="$root/gw-bench.key" \
    --admin_key="$root/admin.key" --genesis="$root/genesis.json" --node="$nodes" >/dev/null
  "$dir/ledgerctl" --insecure register-device --id=dev-bench --key="$root/dev-bench.key" \
    --admin_key="$root/admin.key" --genesis="$root/genesis.json" --node="$nodes" >/dev/null
  records() {  # "records height" of node 0
    "$dir/ledgerctl" --insecure status --node="${addrs[0]}" --json |
      python3 -c 'import json,sys; s=json.load(sys.stdin); print(s["records"], s["height"])'
  }
  r0="$(records)"
  for i in 0 1 2 3; do c0+=("$(cpu_ticks "${pids[$i]}")"); done
  local perf_pids=()
  if [ -n "$PERF" ]; then
    for i in 0 1; do
      perf record -g -o "$PERF.v$i.data" -p "${pids[$i]}" -- sleep "$SECS" >/dev/null 2>&1 &
      perf_pids+=("$!")
    done
  fi
  t0="$(date +%s.%N)"
  "$dir/cluster_load" --insecure --nodes="$nodes" --genesis="$root/genesis.json" --gateway=gw-bench \
    --gateway_key="$root/gw-bench.key" --device=dev-bench --threads="$THREADS" \
    --batch="$BATCH" --seconds="$SECS" --rate="$RATE" --warmup_s=0 --json >"$root/load.json"
  t1="$(date +%s.%N)"
  for p in "${perf_pids[@]}"; do wait "$p" || true; done
  for i in 0 1 2 3; do c1+=("$(cpu_ticks "${pids[$i]}")"); done
  # Every answered submission is committed on a quorum; wait until node 0 has them all.
  sleep 1
  r1="$(records)"
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$root"
  python3 - $r0 $r1 "$t0" "$t1" "$TICK" "${c0[@]}" "${c1[@]}" <<'EOF'
import sys
r0, h0, r1, h1 = (int(x) for x in sys.argv[1:5])
t0, t1, tick = float(sys.argv[5]), float(sys.argv[6]), int(sys.argv[7])
c = [int(x) for x in sys.argv[8:]]
recs = max(1, r1 - r0)
us = [(c[4 + i] - c[i]) / tick * 1e6 / recs for i in range(4)]
print("%d %d %s" % (recs / (t1 - t0), recs / max(1, h1 - h0), " ".join("%.1f" % u for u in us)))
EOF
}

median() { python3 -c 'import statistics,sys; print("%.2f" % statistics.median(float(x) for x in sys.argv[1:]))' "$@"; }

echo "4 validators, cluster_load batch=$BATCH threads=$THREADS rate=$RATE, ${SECS}s a run, $REPS reps;" \
  "node flags: ${NODE_FLAGS:-defaults} (A: ${A_FLAGS:-none}, B: ${B_FLAGS:-none}); $(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)"
echo "| run | build | records/s | records/block | CPU µs/record v0 v1 v2 v3 | mean µs/record/validator |"
echo "|---|---|---|---|---|---|"
RA=() RB=() UA=() UB=() RATIO_R=() RATIO_U=()
for rep in $(seq "$REPS"); do
  for side in A B; do
    dir="$A" extra="$A_FLAGS"
    if [ "$side" = B ]; then
      [ -n "$B" ] || continue
      dir="$B" extra="$B_FLAGS"
    fi
    read -r rps rpb u0 u1 u2 u3 <<<"$(run_one "$dir" "$extra")"
    mean="$(python3 -c "print('%.1f' % (($u0+$u1+$u2+$u3)/4))")"
    echo "| $rep | $side | $rps | $rpb | $u0 $u1 $u2 $u3 | $mean |"
    if [ "$side" = A ]; then RA+=("$rps"); UA+=("$mean"); else
      RB+=("$rps"); UB+=("$mean")
      RATIO_R+=("$(python3 -c "print(${RB[-1]}/${RA[-1]})")")
      RATIO_U+=("$(python3 -c "print(${UB[-1]}/${UA[-1]})")")
    fi
  done
done
echo
echo "median A: $(median "${RA[@]}") records/s, $(median "${UA[@]}") µs/record/validator"
if [ -n "$B" ]; then
  echo "median B: $(median "${RB[@]}") records/s, $(median "${UB[@]}") µs/record/validator"
  echo "pairwise B/A: records/s $(median "${RATIO_R[@]}"), µs/record $(median "${RATIO_U[@]}")"
fi
