#!/usr/bin/env bash
# Runs one libFuzzer target on a copy of its seed corpus (generated from tools/fuzz/fuzz.bzl).
# Under `bazel test`: @RUNS@ inputs. Outside (ops/fuzz.sh): PL_FUZZ_SECONDS seconds, the
# corpus grown in PL_FUZZ_CORPUS, crashes written to PL_FUZZ_ARTIFACTS.
# Fails on any crash, sanitizer report, leak or timeout the fuzzer reports.
set -eu
if [ -n "${TEST_SRCDIR:-}" ]; then
  cd "$TEST_SRCDIR/provledger"
else
  cd "$0.runfiles/provledger"
fi
name=@NAME@
if [ -n "${TEST_TMPDIR:-}" ]; then
  work="$TEST_TMPDIR"
else
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
fi
corpus="${PL_FUZZ_CORPUS:-$work/corpus}"
artifacts="${PL_FUZZ_ARTIFACTS:-${TEST_UNDECLARED_OUTPUTS_DIR:-$work}}/"
mkdir -p "$corpus" "$artifacts"
for f in @CORPUS@; do cp "$f" "$corpus/$(basename "$f")"; done
chmod -R u+w "$corpus"
args=(-max_len=@MAX_LEN@ -timeout=25 -rss_limit_mb=2048 -artifact_prefix="$artifacts"
  -print_final_stats=1)
[ -n "@DICT@" ] && args+=(-dict=@DICT@)
if [ -n "${PL_FUZZ_SECONDS:-}" ]; then
  args+=(-max_total_time="$PL_FUZZ_SECONDS")
else
  # Bounded by time too, so that a slow target stays short on a loaded machine.
  args+=(-runs=@RUNS@ -max_total_time=20)
fi
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"
log="$work/$name.log"
set +e
./@FUZZER@ "${args[@]}" "$corpus" 2>&1 | tee "$log" | grep -av '^#[0-9]*	\(NEW\|REDUCE\|pulse\)'
rc=${PIPESTATUS[0]}
set -e
if [ "$rc" -ne 0 ]; then
  echo "FAIL $name: fuzzer exit $rc; the input is in $artifacts (see the report above)"
  exit 1
fi
grep -aq '^Done [0-9]* runs' "$log" || { echo "FAIL $name: no 'Done N runs' line"; exit 1; }
echo "PASS $name: $(grep -a '^Done' "$log"); corpus $(ls "$corpus" | wc -l) files"
