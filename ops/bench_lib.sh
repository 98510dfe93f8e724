# shellcheck shell=bash
# Shared preamble of the bench scripts (ops/bench.sh, bench_bridge.sh, bench_catchup.sh,
# bench_cluster.sh, bench_followers.sh, profile.sh); source it from the repository root.
#
#   bench_build [-c MODE] //pkg:target ...
#       builds the targets (-c opt unless MODE is given; --jobs=2, the shared disk cache,
#       $PL_BAZEL_FLAGS) and copies each binary into $BIN, so that a build in the same
#       worktree during a run cannot swap the binaries under it. PL_BENCH_NOBUILD=1 skips the
#       build and only checks that the binaries are in $BIN.
#   bench_machine   one line: nproc, CPU model, memory, OpenSSL version.
#   bench_cleanup_on_exit
#       PIDS=() and an EXIT trap that kills and reaps every pid the script adds to PIDS, then
#       removes $ROOT, or keeps it (and says so) when KEEP=1.
#   free_port       a free loopback TCP port.
#
# $BIN is $PL_BENCH_BIN (default /tmp/provledger-bench-bin): set PL_BENCH_BIN to a folder of
# your own when several people benchmark on one machine.
BIN="${PL_BENCH_BIN:-/tmp/provledger-bench-bin}"

# //a/b:c -> a/b/c; //a/b -> a/b/b.
bench_label_path() {
  local l="${1#//}" pkg name
  pkg="${l%%:*}"
  if [ "$pkg" = "$l" ]; then name="${pkg##*/}"; else name="${l#*:}"; fi
  echo "$pkg/$name"
}

bench_build() {
  local mode=opt
  if [ "${1:-}" = "-c" ]; then mode="$2"; shift 2; fi
  mkdir -p "$BIN"
  if [ "${PL_BENCH_NOBUILD:-0}" != 1 ]; then
    echo "== building -c $mode: $*" >&2
    # shellcheck disable=SC2086
    if ! bazel build -c "$mode" --disk_cache="$HOME/.cache/provledger-bazel-disk" --jobs=2 \
      ${PL_BAZEL_FLAGS:-} "$@" >"$BIN/build.log" 2>&1; then
      grep -E "^(ERROR|FAILED)|error:" "$BIN/build.log" | head -20 >&2
      echo "build failed (log: $BIN/build.log)" >&2
      return 1
    fi
    local out t
    # shellcheck disable=SC2086
    out="$(bazel info -c "$mode" ${PL_BAZEL_FLAGS:-} bazel-bin 2>/dev/null)"
    for t in "$@"; do install -m 0755 "$out/$(bench_label_path "$t")" "$BIN/"; done
  fi
  local t
  for t in "$@"; do
    [ -x "$BIN/$(basename "$(bench_label_path "$t")")" ] || {
      echo "missing $BIN/$(basename "$(bench_label_path "$t")") (PL_BENCH_NOBUILD=1?)" >&2
      return 1
    }
  done
}

bench_cleanup_on_exit() {
  PIDS=()
  trap bench_cleanup EXIT
}
bench_cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  if [ "${KEEP:-0}" = 0 ]; then rm -rf "$ROOT"; else echo "kept $ROOT" >&2; fi
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

bench_machine() {
  echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')," \
    "$(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); $(openssl version)"
}
