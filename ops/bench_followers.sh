#!/usr/bin/env bash
# Followers, light nodes and 4 vs 7 validators (issue 14; docs/BENCHMARKS.md, the section of
# that name). Three figures, each measured --reps times, alternating, on this machine:
#
#  1. disk per mode: a 4-validator chain of --records readings (reading-shaped JSON payloads of
#     --payload_min..--payload_max bytes, stored) with a full follower (--follow) and a light
#     one (--follow --mode=light --retain_blocks=N) running beside it; once all are stopped,
#     each store's data files (as BlockStore's PruneResult counts them: no LOG/OPTIONS), `du`,
#     and per column family (tools/bench/store_sizes) the keys, bytes and SST/blob files;
#  2. catch-up by blocks: an empty full follower, then an empty light one, started against
#     that chain (validators idle); blocks/s and records/s from polling its status;
#  3. throughput of 4 and of 7 validators (one genesis each, the same cluster_load flags):
#     committed records/s, commit latency p50/p99, and the ratio 7/4; at full speed (closed
#     loop: latency is mostly queueing) and at a fixed offered --tput_rate both can carry.
#
#   ops/bench_followers.sh [--records=100000] [--batch=100] [--threads=4] [--payload_min=200]
#       [--payload_max=1024] [--retain_blocks=10] [--reps=2] [--tput_seconds=10]
#       [--tput_batch=500] [--tput_threads=8] [--tput_rate=1000] [--figures="tput disk"] [--keep]
#       [--compilation_mode=opt]
#
# Builds with -c opt (--compilation_mode=fastbuild: the test build's binaries; disk figures do
# not depend on it, speeds do). Every node, the load generator and RocksDB share this machine; the load
# average is printed with each figure. Stops every process it started and removes its folder
# (--keep keeps the folder).
set -euo pipefail
cd "$(dirname "$0")/.."

RECORDS=100000
BATCH=100
THREADS=4
PMIN=200
PMAX=1024
RETAIN=10
REPS=2
TPUT_SECONDS=10
TPUT_BATCH=500
TPUT_THREADS=8
TPUT_RATE=1000
FIGURES="tput disk"
KEEP=0
MODE=opt
for a in "$@"; do
  case "$a" in
    --records=*) RECORDS="${a#*=}" ;;
    --batch=*) BATCH="${a#*=}" ;;
    --threads=*) THREADS="${a#*=}" ;;
    --payload_min=*) PMIN="${a#*=}" ;;
    --payload_max=*) PMAX="${a#*=}" ;;
    --retain_blocks=*) RETAIN="${a#*=}" ;;
    --reps=*) REPS="${a#*=}" ;;
    --tput_seconds=*) TPUT_SECONDS="${a#*=}" ;;
    --tput_batch=*) TPUT_BATCH="${a#*=}" ;;
    --tput_threads=*) TPUT_THREADS="${a#*=}" ;;
    --tput_rate=*) TPUT_RATE="${a#*=}" ;;
    --figures=*) FIGURES="${a#*=}" ;;
    --keep) KEEP=1 ;;
    --compilation_mode=*) MODE="${a#*=}" ;;
    *) echo "unknown argument $a" >&2; exit 2 ;;
  esac
done

. ops/bench_lib.sh
bench_build -c "$MODE" //node:ledger_node //tools/ledgerctl //tools/bench:cluster_load \
  //tools/bench:store_sizes
ROOT="$(mktemp -d /tmp/plbench_followers.XXXXXX)"
NODE="$BIN/ledger_node"
CTL="$BIN/ledgerctl"
LOAD="$BIN/cluster_load"
SIZES="$BIN/store_sizes"

bench_cleanup_on_exit
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
# CPU seconds (user + system) of the processes PIDS..., from /proc/PID/stat.
cpu_s() {
  python3 - "$@" <<'PY'
import os, sys
t = 0
for p in sys.argv[1:]:
    f = open("/proc/%s/stat" % p).read().rsplit(")", 1)[1].split()
    t += int(f[11]) + int(f[12])
print("%.2f" % (t / os.sysconf("SC_CLK_TCK")))
PY
}
# status ADDR FIELD: one field of `ledgerctl status --json`, "" when the node does not answer.
status() {
  "$CTL" --insecure status --node="$1" --timeout_ms=2000 --json 2>/dev/null |
    python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$2" 2>/dev/null || true
}
wait_up() {
  for _ in $(seq 200); do
    [ -n "$(status "$1" height)" ] && return 0
    sleep 0.1
  done
  echo "node $1 did not answer" >&2
  return 1
}
# stop PID: SIGTERM (the store is flushed and closed), then wait for it.
stop() {
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  local keep=()
  for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  PIDS=("${keep[@]}")
}
# Bytes of a store's data files, as BlockStore counts them for ev=pruned (no LOG*, OPTIONS*).
data_bytes() {
  python3 - "$1" <<'EOF'
import os, sys
t = 0
for d, _, fs in os.walk(sys.argv[1]):
    for f in fs:
        if not (f.startswith("LOG") or f.startswith("OPTIONS")):
            t += os.path.getsize(os.path.join(d, f))
print(t)
EOF
}

# make_cluster DIR N: keys, a genesis of N validators on free loopback ports; sets ADDRS, NODES.
make_cluster() {
  local dir="$1" n="$2" vals=() i port
  mkdir -p "$dir"
  ADDRS=()
  for i in $(seq 0 $((n - 1))); do
    "$CTL" --insecure keygen --out="$dir/v$i.key" >/dev/null
    port="$(free_port)"
    ADDRS+=("127.0.0.1:$port")
    vals+=("--validator=v$i:$dir/v$i.key:127.0.0.1:$port")
  done
  NODES="$(IFS=,; echo "${ADDRS[*]}")"
  for k in admin gw-bench dev-bench; do "$CTL" --insecure keygen --out="$dir/$k.key" >/dev/null; done
  "$CTL" --insecure genesis --chain_id=bench --out="$dir/genesis.json" --admin="$dir/admin.key" \
    "${vals[@]}" >/dev/null
}
# start_validators DIR N: sets VPIDS.
start_validators() {
  local dir="$1" n="$2" i
  VPIDS=()
  for i in $(seq 0 $((n - 1))); do
    "$NODE" --insecure --genesis="$dir/genesis.json" --node_id="v$i" --key="$dir/v$i.key" \
      --data_dir="$dir/v$i" >"$dir/v$i.log" 2>&1 &
    PIDS+=("$!")
    VPIDS+=("$!")
  done
  for i in $(seq 0 $((n - 1))); do wait_up "${ADDRS[$i]}"; done
}
register() {
  local dir="$1"
  "$CTL" --insecure register-gateway --id=gw-bench --key="$dir/gw-bench.key" --admin_key="$dir/admin.key" \
    --genesis="$dir/genesis.json" --node="$NODES" >/dev/null
  "$CTL" --insecure register-device --id=dev-bench --key="$dir/dev-bench.key" \
    --admin_key="$dir/admin.key" --genesis="$dir/genesis.json" --node="$NODES" >/dev/null
}
# start_follower DIR NAME [FLAGS...]: sets FPID and FADDR (a child of this shell, so that
# stop can wait for it).
start_follower() {
  local dir="$1" name="$2" port
  shift 2
  port="$(free_port)"
  FADDR="127.0.0.1:$port"
  "$NODE" --insecure --follow --genesis="$dir/genesis.json" --node_id="$name" --listen="$FADDR" \
    --data_dir="$dir/$name" "$@" >"$dir/$name.log" 2>&1 &
  FPID=$!
  PIDS+=("$FPID")
}
load() {  # DIR SECONDS BATCH THREADS [RATE] -> one JSON line
  "$LOAD" --insecure --nodes="$NODES" --genesis="$1/genesis.json" --gateway=gw-bench \
    --gateway_key="$1/gw-bench.key" --device=dev-bench --threads="$4" --batch="$3" \
    --seconds="$2" --rate="${5:-0}" --payload_min="$PMIN" --payload_max="$PMAX" --json
}
field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }
# wait_height ADDR HEIGHT SECONDS
wait_height() {
  local end=$((SECONDS + $3)) h
  while [ "$SECONDS" -lt "$end" ]; do
    h="$(status "$1" height)"
    [ -n "$h" ] && [ "$h" -ge "$2" ] && return 0
    sleep 0.2
  done
  echo "$1 did not reach height $2 in $3 s" >&2
  return 1
}

RESULTS="$ROOT/results.txt"
: >"$RESULTS"
note() { echo "$*" | tee -a "$RESULTS"; }

bench_machine
echo "reference (same run): openssl speed ecdsap256 sign/s, verify/s:"
openssl speed -seconds 2 ecdsap256 2>/dev/null | awk '/256 bits ecdsa/ {print "  " $0}'
echo

# --- 3. throughput, 4 vs 7 validators (alternating) -------------------------------------
tput_run() {  # N REP
  local dir="$ROOT/tput$1_$2" r
  make_cluster "$dir" "$1"
  start_validators "$dir" "$1"
  register "$dir"
  local la c0 c1
  la="$(loadavg)"
  c0="$(cpu_s "${VPIDS[@]}")"
  r="$(load "$dir" "$TPUT_SECONDS" "$TPUT_BATCH" "$TPUT_THREADS")"
  c1="$(cpu_s "${VPIDS[@]}")"
  note "tput n=$1 rep=$2 offered=max load=[$la] cpu_s=$(python3 -c "print('%.2f' % ($c1 - $c0))") $r" \
    "view=$(status "${ADDRS[0]}" view)"
  la="$(loadavg)"
  r="$(load "$dir" "$TPUT_SECONDS" "$TPUT_BATCH" "$TPUT_THREADS" "$TPUT_RATE")"
  note "tput n=$1 rep=$2 offered=$TPUT_RATE load=[$la] $r view=$(status "${ADDRS[0]}" view)"
  for p in "${VPIDS[@]}"; do stop "$p"; done
  rm -rf "$dir"
}
case " $FIGURES " in *" tput "*)
  for rep in $(seq "$REPS"); do
    tput_run 4 "$rep"
    tput_run 7 "$rep"
  done ;;
esac

# --- 1 and 2. disk per mode and catch-up by blocks ----------------------------------------
disk_run() {  # REP
  local dir="$ROOT/disk_$1"
  make_cluster "$dir" 4
  start_validators "$dir" 4
  local fpid faddr lpid laddr
  start_follower "$dir" f0
  fpid=$FPID faddr=$FADDR
  start_follower "$dir" l0 --mode=light --retain_blocks="$RETAIN"
  lpid=$FPID laddr=$FADDR
  wait_up "$faddr"
  wait_up "$laddr"
  register "$dir"
  local la recs=0 t0=$SECONDS
  la="$(loadavg)"
  while [ "$recs" -lt "$RECORDS" ]; do
    load "$dir" 5 "$BATCH" "$THREADS" >>"$dir/load.jsonl"
    recs="$(status "${ADDRS[0]}" records)"
  done
  local head
  head="$(status "${ADDRS[0]}" height)"
  wait_height "$faddr" "$head" 600
  wait_height "$laddr" "$head" 600
  note "chain rep=$1 load=[$la] height=$head records=$recs built in $((SECONDS - t0)) s" \
    "(load runs: $(python3 -c 'import json,sys; r=[json.loads(l)["records_per_s"] for l in open(sys.argv[1])]; print(min(r), "-", max(r), "records/s")' "$dir/load.jsonl"))"

  # Catch-up by blocks: empty followers, one at a time, against the idle chain.
  for kind in full light; do
    local extra=() cpid caddr start_ns up_ns end_ns
    if [ "$kind" = light ]; then extra=(--mode=light --retain_blocks="$RETAIN"); fi
    la="$(loadavg)"
    start_ns=$(date +%s%N)
    start_follower "$dir" "c_$kind" "${extra[@]}"
    cpid=$FPID caddr=$FADDR
    wait_up "$caddr"
    up_ns=$(date +%s%N)
    wait_height "$caddr" "$head" 900
    end_ns=$(date +%s%N)
    note "catchup rep=$1 mode=$kind load=[$la] height=$head records=$recs" \
      "seconds=$(python3 -c "print('%.2f' % (($end_ns - $start_ns) / 1e9))")" \
      "startup_s=$(python3 -c "print('%.2f' % (($up_ns - $start_ns) / 1e9))")" \
      "blocks_per_s=$(python3 -c "print('%.0f' % ($head / (($end_ns - $start_ns) / 1e9)))")" \
      "records_per_s=$(python3 -c "print('%.0f' % ($recs / (($end_ns - $start_ns) / 1e9)))")"
    stop "$cpid"
  done

  stop "$fpid"
  stop "$lpid"
  for p in "${VPIDS[@]}"; do stop "$p"; done
  local name
  for name in v0 f0 l0 c_full c_light; do
    note "disk rep=$1 node=$name data_bytes=$(data_bytes "$dir/$name/chain")" \
      "du_bytes=$(du -sB1 "$dir/$name/chain" | cut -f1)" \
      "cf=$("$SIZES" --store="$dir/$name/chain" --json)"
  done
  note "pruned rep=$1 last: $(grep -o 'ev=pruned.*' "$dir/l0.log" | tail -1)"
  [ "$KEEP" = 1 ] || rm -rf "$dir"
}
case " $FIGURES " in *" disk "*)
  for rep in $(seq "$REPS"); do disk_run "$rep"; done ;;
esac

# --- the tables --------------------------------------------------------------------------
echo
python3 - "$RESULTS" "$RETAIN" <<'EOF'
import json, re, statistics, sys
lines = open(sys.argv[1]).read().splitlines()
retain = sys.argv[2]
def kv(line):
    return dict(re.findall(r"(\w+)=(\S+)", line))
def mm(xs, fmt="{:,.0f}"):
    xs = sorted(xs)
    return "%s / %s" % (fmt.format(xs[0]), fmt.format(statistics.median(xs)))

if any(l.startswith("tput ") for l in lines):
    print("Throughput (min / median of the runs; one cluster at a time; CPU: the"
          " validators' user + system time over the run and its 1 s warm-up, per committed record):")
    print()
    print("| validators | offered records/s | committed records/s | p50 ms | p99 ms | validators' CPU us/record | errors | load avg at start |")
    print("|---|---|---|---|---|---|---|---|")
    t = {}
    for l in lines:
        if l.startswith("tput "):
            m = kv(l)
            r = json.loads(l[l.index("{"):l.rindex("}") + 1])
            r["cpu_us"] = (float(m["cpu_s"]) * 1e6 / max(1, r["committed_records"])
                           if "cpu_s" in m else None)
            t.setdefault((m["offered"], int(m["n"])), []).append(
                (r, re.search(r"load=\[([^\]]*)\]", l).group(1)))
    for key in sorted(t, key=lambda k: (k[0] != "max", k[0], k[1])):
        rs = [r for r, _ in t[key]]
        cpu = [r["cpu_us"] for r in rs if r["cpu_us"] is not None]
        print("| %d | %s | %s | %s | %s | %s | %d | %s |" % (
            key[1], key[0], mm([r["records_per_s"] for r in rs]),
            mm([r["p50_us"] / 1000 for r in rs], "{:.1f}"),
            mm([r["p99_us"] / 1000 for r in rs], "{:.1f}"), mm(cpu, "{:.0f}") if cpu else "",
            sum(r["errors"] for r in rs),
            "; ".join(a for _, a in t[key])))
    med = lambda k: statistics.median(r["records_per_s"] for r, _ in t[k])
    if ("max", 4) in t and ("max", 7) in t:
        print()
        print("ratio 7/4 of the median full-speed records/s: %.2f" % (med(("max", 7)) / med(("max", 4))))
        print("ratios 7/4 per run: %s" % ", ".join("%.2f" % (a[0]["records_per_s"] / b[0]["records_per_s"])
                                                   for a, b in zip(t[("max", 7)], t[("max", 4)])))

if not any(l.startswith("disk ") for l in lines):
    sys.exit(0)  # --figures=tput
print()
print("Catch-up of an empty follower by blocks (min / median):")
print()
print("| mode | chain height | records | seconds (start to head) | of it to first answer | blocks/s | records/s | records/s after first answer |")
print("|---|---|---|---|---|---|---|---|")
c = {}
for l in lines:
    if l.startswith("catchup "):
        m = kv(l)
        c.setdefault(m["mode"], []).append(m)
for mode, ms in c.items():
    print("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
        mode, "/".join(m["height"] for m in ms), "/".join(m["records"] for m in ms),
        mm([float(m["seconds"]) for m in ms], "{:.2f}"),
        mm([float(m["startup_s"]) for m in ms], "{:.2f}"),
        mm([float(m["blocks_per_s"]) for m in ms]), mm([float(m["records_per_s"]) for m in ms]),
        mm([int(m["records"]) / (float(m["seconds"]) - float(m["startup_s"])) for m in ms])))

print()
print("Disk per store (data files, as PruneResult counts them; `du`), per run:")
print()
d = {}
for l in lines:
    if l.startswith("disk "):
        m = kv(l)
        cf = json.loads(l[l.index("cf=") + 3:])
        d.setdefault(int(m["rep"]), {})[m["node"]] = (int(m["data_bytes"]), int(m["du_bytes"]), cf)
print("| run | node | data bytes | du bytes | vs full follower (data) |")
print("|---|---|---|---|---|")
ratios = []
for rep in sorted(d):
    full = d[rep]["f0"][0]
    for node, (b, du, _) in d[rep].items():
        print("| %d | %s | {:,} | {:,} | %.2f %% |".format(b, du) % (rep, node, 100.0 * b / full))
    ratios.append(100.0 * d[rep]["l0"][0] / full)
print()
print("light/full (data bytes), min / median: %s (goal <= 2 %%)" % mm(ratios, "{:.2f} %"))

# Per column family, the last run: on-disk bytes (SST + blob) of the full and the light one.
rep = max(d)
full_cf, light_cf = d[rep]["f0"][2], d[rep]["l0"][2]
records = max(v["keys"] for k, v in full_cf.items() if k == "record_index")
print()
print("Per column family, run %d (%s records; on disk = SST + blob files):" % (rep, format(records, ",")))
print()
print("| column family | full: keys | full: key+value bytes | full: on disk | light: keys | light: on disk | light B/record |")
print("|---|---|---|---|---|---|---|")
tot_f = tot_l = 0
for name in full_cf:
    f, li = full_cf[name], light_cf.get(name, {})
    fd = f["sst_bytes"] + f["blob_bytes"]
    ld = li.get("sst_bytes", 0) + li.get("blob_bytes", 0)
    tot_f += fd
    tot_l += ld
    print("| %s | %s | %s | %s | %s | %s | %.1f |" % (
        name, format(f["keys"], ","), format(f["key_bytes"] + f["value_bytes"], ","),
        format(fd, ","), format(li.get("keys", 0), ","), format(ld, ","), ld / records))
print("| all | | | %s | | %s | %.1f |" % (format(tot_f, ","), format(tot_l, ","), tot_l / records))
on = lambda cf, n: cf.get(n, {}).get("sst_bytes", 0) + cf.get(n, {}).get("blob_bytes", 0)
window = on(light_cf, "bodies") + on(light_cf, "payloads")
per_rec = ["record_index", "device_seq", "device_item", "time_index"]
print()
print("Derived from the table (light, on disk, as %% of the full follower's %s bytes):" % format(tot_f, ","))
print("- as measured: %.2f %%" % (100.0 * tot_l / tot_f))
print("- without the retained window (bodies + payloads of the last %s blocks), i.e. a chain"
      " much longer than the window: %.2f %%" % (retain, 100.0 * (tot_l - window) / tot_f))
for n in per_rec:
    print("- %s alone: %.2f %% (%.1f B/record)" % (n, 100.0 * on(light_cf, n) / tot_f, on(light_cf, n) / records))
rest = tot_l - window - sum(on(light_cf, n) for n in per_rec)
print("- without window and the history indexes (device_item, time_index): %.2f %%" % (
    100.0 * (tot_l - window - on(light_cf, "device_item") - on(light_cf, "time_index")) / tot_f))
print("- headers, certificates, registry and meta only (no per-record index): %.3f %% (%.2f B/record)" % (
    100.0 * rest / tot_f, rest / records))
EOF
