#!/usr/bin/env bash
# Instructions per forwarded Converse in the guard process (user space, all threads), counted by
# callgrind: deterministic where req/s on a shared machine is not. Needs valgrind (apt-get install
# valgrind) and the configs of benches/e2e/run.sh.
#   benches/e2e/callgrind.sh BINARY [CONFIG] [SECS]
# Notes: under valgrind SHA-256 runs in software (no SHA-NI), so signing weighs more than natively;
# the output file (target/bench-e2e/callgrind.<binary>.out) opens with callgrind_annotate.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${BENCH_OUT:-$PWD/target/bench-e2e}
B=$PWD/target/release
BIN=$1 CFG=${2:-$OUT/guard-10.toml} SECS=${3:-5}
CONVERSE=/model/anthropic.claude-sonnet-4-5-20250929-v1%3A0/converse
export AWS_EC2_METADATA_DISABLED=true AWS_ACCESS_KEY_ID=AKIDBENCHEXAMPLE \
  AWS_SECRET_ACCESS_KEY=bench/secret/EXAMPLEKEY AWS_REGION=us-east-1
NAME=$(basename "$BIN")
PROFILE=$OUT/callgrind.$NAME.out LOG=$OUT/callgrind.$NAME.log
"$B/examples/bench_double" 127.0.0.1:18080 >/dev/null 2>&1 &
DOUBLE=$!
# Instrumentation is off until the warm-up is over, and off again before the guard stops.
valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$PROFILE" \
  "$BIN" serve --config "$CFG" 2>"$LOG" &
GUARD=$!
trap 'kill $GUARD $DOUBLE 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/18082) 2>/dev/null && break; sleep 0.2; done
"$B/examples/bench_load" saturate --addr 127.0.0.1:18082 --conns 4 --path "$CONVERSE" --secs 2 >/dev/null
callgrind_control -i on "$GUARD" >/dev/null
out=$("$B/examples/bench_load" saturate --addr 127.0.0.1:18082 --conns 4 --path "$CONVERSE" --secs "$SECS")
callgrind_control -i off "$GUARD" >/dev/null
kill "$GUARD"; wait "$GUARD" 2>/dev/null || true
requests=$(echo "$out" | sed 's/.*requests=\([0-9]*\).*/\1/')
instructions=$(grep "Collected :" "$LOG" | awk '{print $4}')
echo "binary=$NAME requests=$requests instructions=$instructions per_request=$((instructions / requests))"
