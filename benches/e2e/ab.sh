#!/usr/bin/env bash
# Compares builds of bedrock-guard at saturation, interleaved: req/s and the guard's CPU per request.
#   benches/e2e/ab.sh SECS ROUNDS BINARY...      (after benches/e2e/run.sh, which makes the configs;
#   CFG=path selects another config)
# e.g. benches/e2e/ab.sh 4 3 /tmp/bg-before target/release/bedrock-guard
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=benches/e2e/common.sh
. benches/e2e/common.sh
SECS=$1 ROUNDS=$2; shift 2

start_double
for _ in $(seq 1 "$ROUNDS"); do
  for bin in "$@"; do
    start_guard "${CFG:-$OUT/guard-10.toml}" "$bin"
    echo "$bin load=$(cut -d' ' -f1 /proc/loadavg) $(saturate "$GUARD_ADDR" "$GUARD_PID")"
    stop_guard
  done
done
