#!/usr/bin/env bash
# Long fuzzing runs of the libFuzzer targets in tests/fuzz (docs/RELIABILITY.md, "Fuzzing").
#   bash ops/fuzz.sh                       # every target, 300 s each
#   bash ops/fuzz.sh 60 json proof         # these targets, 60 s each
# The targets are built with clang-14 (-fsanitize=fuzzer,address,undefined) by the fuzz_test
# rule's transition (tools/fuzz/fuzz.bzl), so the normal `bazel test //...` runs each briefly
# as //tests/fuzz:<target>_fuzz_test. Here each runs for SECONDS on its seeds
# (tests/fuzz/corpus/<target>/) and the corpus it grows in $PL_FUZZ_OUT/<target>/corpus (kept
# between runs); a crash, sanitizer report, leak, timeout or broken invariant (FUZZ_CHECK) is
# written to $PL_FUZZ_OUT/<target>/artifacts/ and makes the script exit 1. Last, one line per
# target: executions, executions per second, corpus files, coverage, result.
set -u
cd "$(dirname "$0")/.."
DISK_CACHE="${PL_BAZEL_DISK_CACHE:-$HOME/.cache/provledger-bazel-disk}"
JOBS="${PL_BAZEL_JOBS:-2}"
OUT="${PL_FUZZ_OUT:-/tmp/provledger-fuzz}"
SECONDS_EACH="${1:-300}"
shift || true
TARGETS=("$@")
if [ ${#TARGETS[@]} -eq 0 ]; then
  mapfile -t TARGETS < <(sed -n 's/^    name = "\([a-z_0-9]*\)",$/\1/p' tests/fuzz/BUILD | grep -v '^fuzz_check$')
fi
command -v clang-14 >/dev/null || { echo "clang-14 missing: bash ops/install_deps.sh" >&2; exit 2; }
labels=()
for t in "${TARGETS[@]}"; do labels+=("//tests/fuzz:${t}_fuzz_test"); done
bazel build --jobs="$JOBS" --disk_cache="$DISK_CACHE" "${labels[@]}" || exit 2
rc=0
summary=()
for t in "${TARGETS[@]}"; do
  mkdir -p "$OUT/$t/corpus" "$OUT/$t/artifacts"
  log="$OUT/$t/run.log"
  echo "== $t: ${SECONDS_EACH} s"
  PL_FUZZ_SECONDS="$SECONDS_EACH" PL_FUZZ_CORPUS="$OUT/$t/corpus" \
    PL_FUZZ_ARTIFACTS="$OUT/$t/artifacts" bazel-bin/tests/fuzz/"${t}_fuzz_test.sh" >"$log" 2>&1
  status=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$log" | tail -1)
  files=$(ls "$OUT/$t/corpus" | wc -l)
  if [ "$status" -eq 0 ]; then result=ok; else result="FAILED (see $log, $OUT/$t/artifacts)"; rc=1; fi
  summary+=("$(printf '%-18s %12s runs %7s/s %6s files  %-22s %s' "$t" "${runs:-?}" \
    "${speed:-?}" "$files" "${cov:-?}" "$result")")
done
printf '%s\n' "${summary[@]}"
exit $rc
