#!/usr/bin/env bash
# Installs the Debian packages provledger builds and runs with (idempotent, needs root).
# --build: only what building needs (ops/Dockerfile's build stage), not the test tools.
set -eu
PKGS="bazel-bootstrap bazel-platforms bazel-rules-java libgrpc++-dev libabsl-dev protobuf-compiler-grpc
  libprotobuf-dev protobuf-compiler librocksdb-dev libsecp256k1-dev
  libssl-dev libgtest-dev libgmock-dev libbenchmark-dev nlohmann-json3-dev
  mosquitto mosquitto-clients openssl python3 iproute2 nftables
  softhsm2 libp11-kit-dev opensc libre2-dev libcivetweb-dev libmosquitto-dev
  libjemalloc-dev"
# tests/integration:compose_test runs ops/docker-compose.yml on a dockerd it starts itself;
# tests/fuzz builds its libFuzzer targets with clang-14 and lld (tools/fuzz/toolchain);
# ops/bench.sh plots with gnuplot; ops/profile.sh records with perf.
[ "${1:-}" = "--build" ] || PKGS="$PKGS docker.io docker-compose clang-14 libfuzzer-14-dev lld-14 gnuplot-nox linux-perf"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "installing:$missing"
  $SUDO apt-get update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y $missing
fi
