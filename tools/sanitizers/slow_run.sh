#!/usr/bin/env bash
# Runs a program at a fraction of its CPU time, to see how our processes behave on a slow
# machine (a sanitizer build, a small gateway) without building anything again:
#   PL_SLOW_BIN=/path/to/mqtt_bridge PL_SLOW_STOP=0.09 PL_SLOW_RUN=0.01 slow_run.sh ARGS...
# The program keeps this script's pid (exec), so signals sent to it (SIGTERM, SIGKILL) reach
# it; a background loop stops it for PL_SLOW_STOP s and lets it run for PL_SLOW_RUN s, until
# it exits. For an integration test outside Bazel, put one wrapper per binary in a folder laid
# out like bazel-bin (node/ledger_node, mqtt-bridge/mqtt_bridge, ...) and give it as
# PL_BIN_DIR (docs/RELIABILITY.md, "Sanitizers", second run of 2026-12-02).
set -u
pid=$$
(while kill -0 "$pid" 2>/dev/null; do
  kill -STOP "$pid" 2>/dev/null
  sleep "${PL_SLOW_STOP:-0.02}"
  kill -CONT "$pid" 2>/dev/null
  sleep "${PL_SLOW_RUN:-0.01}"
done) >/dev/null 2>&1 &
exec "$PL_SLOW_BIN" "$@"
