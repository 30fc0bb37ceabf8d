#!/usr/bin/env bash
# The cost of quotas end to end: the same guard (10-statement policy) with no quotas, with in-process
# counters, and with counters in a local Redis, alternated round by round at saturation: req/s and
# CPU per request (the guard's; Redis's own CPU beside it).
#   benches/e2e/quotas.sh SECS ROUNDS   (after benches/e2e/run.sh, which writes guard-10.toml;
#   needs redis-server: apt-get install redis-server). e.g. benches/e2e/quotas.sh 5 3
# The limits are high enough never to refuse: what is measured is the check and the charge.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${BENCH_OUT:-$PWD/target/bench-e2e}
B=$PWD/target/release
SECS=$1 ROUNDS=$2 GUARD_BIN=${GUARD_BIN:-$B/bedrock-guard}
REDIS_PORT=${BENCH_REDIS_PORT:-18090}
CONVERSE=/model/anthropic.claude-sonnet-4-5-20250929-v1%3A0/converse
export AWS_EC2_METADATA_DISABLED=true AWS_ACCESS_KEY_ID=AKIDBENCHEXAMPLE \
  AWS_SECRET_ACCESS_KEY=bench/secret/EXAMPLEKEY AWS_REGION=us-east-1
TICK_US=$((1000000 / $(getconf CLK_TCK)))
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

rules() {
  cat <<EOF2
on_backend_error = "deny"
[[quotas.rules]]
name = "per-principal"
per = "principal"
requests_per_minute = 100000000
tokens_per_minute = 100000000000
[[quotas.rules]]
name = "per-model-day"
per = ["principal", "model"]
tokens_per_day = 100000000000
usd_per_day = 1000000000.0
[[pricing]]
models = ["*anthropic.claude-sonnet-4*"]
input_per_1k = 0.003
output_per_1k = 0.015
EOF2
}
cp "$OUT/guard-10.toml" "$OUT/quota-none.toml"
{ cat "$OUT/guard-10.toml"; echo "[quotas]"; rules; } >"$OUT/quota-memory.toml"
{ cat "$OUT/guard-10.toml"; echo "[quotas]"; echo "backend = \"redis://127.0.0.1:$REDIS_PORT/0\""; rules; } >"$OUT/quota-redis.toml"

redis-server --port "$REDIS_PORT" --save "" --appendonly no --daemonize no >"$OUT/redis.log" 2>&1 &
REDIS=$!
"$B/examples/bench_double" 127.0.0.1:18080 >/dev/null 2>&1 &
DOUBLE=$!
trap 'kill $DOUBLE $REDIS 2>/dev/null || true' EXIT
sleep 0.5

for round in $(seq 1 "$ROUNDS"); do
  for backend in none memory redis; do
    "$GUARD_BIN" serve --config "$OUT/quota-$backend.toml" 2>"$OUT/quota-$backend.log" &
    G=$!
    sleep 0.7
    "$B/examples/bench_load" saturate --addr 127.0.0.1:18082 --path "$CONVERSE" --secs 1 >/dev/null
    g0=$(cpu_ticks $G); r0=$(cpu_ticks $REDIS)
    out=$("$B/examples/bench_load" saturate --addr 127.0.0.1:18082 --path "$CONVERSE" --secs "$SECS")
    g1=$(cpu_ticks $G); r1=$(cpu_ticks $REDIS)
    kill "$G"; wait "$G" 2>/dev/null || true
    req=$(echo "$out" | sed 's/.*requests=\([0-9]*\).*/\1/')
    echo "round=$round backend=$backend $(echo "$out" | grep -o 'rps=[0-9]*') errors=$(echo "$out" | sed 's/.*errors=\([0-9]*\).*/\1/') guard_cpu_us_per_req=$(( (g1 - g0) * TICK_US / req )) redis_cpu_us_per_req=$(( (r1 - r0) * TICK_US / req )) $(echo "$out" | grep -o 'p50_us=[0-9]* p99_us=[0-9]*')"
  done
done
