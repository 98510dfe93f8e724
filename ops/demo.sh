#!/usr/bin/env bash
# The main job: a local ledger, Mosquitto, an MQTT bridge and simulated devices publishing
# signed and MACed readings; ends by proving one reading with the genesis file alone.
#   bash ops/demo.sh [--validators=4|1] [--devices=N] [--count=N] [--dir=DIR] [--keep]
set -eu
cd "$(dirname "$0")/.."
bash ops/install_deps.sh
DISK_CACHE="${PL_BAZEL_DISK_CACHE:-$HOME/.cache/provledger-bazel-disk}"
mkdir -p "$DISK_CACHE"
echo "== building (first run: a few minutes) =="
bazel build --jobs=2 --disk_cache="$DISK_CACHE" //node:ledger_node //tools/ledgerctl:ledgerctl \
  //mqtt-bridge:mqtt_bridge //tools/device_sim:device_sim //agent:integrity_agent 2>&1 | grep -E "^(ERROR|FAILED)|error:" || true
PL_BIN_DIR="$(bazel info --disk_cache="$DISK_CACHE" bazel-bin 2>/dev/null)"
export PL_BIN_DIR
exec python3 ops/demo.py "$@"
