#!/usr/bin/env bash
# Compares builds of bedrock-guard at saturation, interleaved: req/s and the guard's CPU per request.
#   benches/e2e/ab.sh SECS ROUNDS BINARY...      (after benches/e2e/run.sh, which makes the configs)
# e.g. benches/e2e/ab.sh 4 3 /tmp/bg-before target/release/bedrock-guard
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${BENCH_OUT:-$PWD/target/bench-e2e}
B=$PWD/target/release
SECS=$1 ROUNDS=$2; shift 2
CONVERSE=/model/anthropic.claude-sonnet-4-5-20250929-v1%3A0/converse
export AWS_EC2_METADATA_DISABLED=true AWS_ACCESS_KEY_ID=AKIDBENCHEXAMPLE \
  AWS_SECRET_ACCESS_KEY=bench/secret/EXAMPLEKEY AWS_REGION=us-east-1
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
"$B/examples/bench_double" 127.0.0.1:18080 >/dev/null &
D=$!
trap 'kill $D 2>/dev/null || true' EXIT
for _ in $(seq 1 "$ROUNDS"); do
  for bin in "$@"; do
    "$bin" serve --config "${CFG:-$OUT/guard-10.toml}" 2>/dev/null &
    G=$!
    sleep 0.5
    "$B/examples/bench_load" saturate --addr 127.0.0.1:18082 --path "$CONVERSE" --secs 1 >/dev/null
    c0=$(cpu_ticks $G)
    out=$("$B/examples/bench_load" saturate --addr 127.0.0.1:18082 --path "$CONVERSE" --secs "$SECS")
    c1=$(cpu_ticks $G)
    req=$(echo "$out" | sed 's/.*requests=\([0-9]*\).*/\1/')
    tick_us=$((1000000 / $(getconf CLK_TCK)))
    echo "$bin load=$(cut -d' ' -f1 /proc/loadavg) cpu_us_per_req=$(( (c1 - c0) * tick_us / req )) $(echo "$out" | cut -d' ' -f3-6)"
    kill $G; wait $G 2>/dev/null || true
  done
done
