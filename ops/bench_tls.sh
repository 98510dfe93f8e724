#!/usr/bin/env bash
# A/B: node CPU per committed record, --insecure vs mutual TLS, 1 validator, cluster_load.
set -eu
BIN=${PL_BENCH_BIN:?set PL_BENCH_BIN to a folder holding ledger_node, ledgerctl, cluster_load}
R=${PL_BENCH_DIR:-/tmp/pl-bench-tls}
rm -rf $R; mkdir -p $R
CTL=$BIN/ledgerctl; NODE=$BIN/ledger_node; LOAD=$BIN/cluster_load
PORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
$CTL --insecure keygen --out=$R/v0.key >/dev/null
for k in admin gw-bench dev-bench; do $CTL --insecure keygen --out=$R/$k.key >/dev/null; done
$CTL --insecure genesis --chain_id=ab --out=$R/genesis.json --admin=$R/admin.key --validator=v0:$R/v0.key:127.0.0.1:$PORT >/dev/null
$CTL --insecure certs --dir=$R/certs --peers=v0 --gateways=gw-bench --admins=admin >/dev/null
tls() { echo --tls_ca=$R/certs/ca.pem --tls_cert=$R/certs/$1.pem --tls_key=$R/certs/$1.key; }
for rep in 1 2 3; do for mode in insecure tls; do
  if [ $mode = tls ]; then NF="$(tls v0)"; AF="$(tls admin)"; GF="$(tls gw-bench)"; else NF=--insecure; AF=--insecure; GF=--insecure; fi
  rm -rf $R/v0
  $NODE --genesis=$R/genesis.json --node_id=v0 --key=$R/v0.key --data_dir=$R/v0 $NF > $R/node-$mode-$rep.log 2>&1 &
  NP=$!
  for i in $(seq 100); do $CTL status --node=127.0.0.1:$PORT --timeout_ms=500 $AF >/dev/null 2>&1 && break; sleep 0.2; done
  $CTL register-gateway --id=gw-bench --key=$R/gw-bench.key --admin_key=$R/admin.key --genesis=$R/genesis.json --node=127.0.0.1:$PORT $AF >/dev/null 2>&1
  $CTL register-device --id=dev-bench --key=$R/dev-bench.key --admin_key=$R/admin.key --genesis=$R/genesis.json --node=127.0.0.1:$PORT $AF >/dev/null 2>&1
  read u0 s0 < <(awk '{print $14, $15}' /proc/$NP/stat)
  OUT=$($LOAD --nodes=127.0.0.1:$PORT --genesis=$R/genesis.json --gateway=gw-bench --gateway_key=$R/gw-bench.key --device=dev-bench --threads=4 --batch=100 --seconds=10 --warmup_s=0 --json $GF 2>/dev/null | tail -1)
  read u1 s1 < <(awk '{print $14, $15}' /proc/$NP/stat)
  REC=$($CTL status --node=127.0.0.1:$PORT --json $AF 2>/dev/null | python3 -c 'import json,sys;print(json.load(sys.stdin)["records"])')
  kill $NP; wait $NP 2>/dev/null || true
  python3 -c "t=($u1+$s1-$u0-$s0)/100.0; print('$mode rep=$rep records=$REC node_cpu_s=%.2f us_per_record=%.1f' % (t, t*1e6/max($REC,1)))"
done; done
