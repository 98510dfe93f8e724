#!/usr/bin/env bash
# Runs an integration test script with the system python3 (further arguments go to it).
set -eu
dir="$(dirname "$0")"
exec python3 "$dir/$1" "${@:2}"
