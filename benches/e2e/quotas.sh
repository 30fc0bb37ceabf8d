#!/usr/bin/env bash
# The cost of quotas end to end: nginx, then the same guard (10-statement policy) with no quotas, with
# in-process counters, and with counters in a local Redis, alternated round by round at saturation:
# req/s and CPU per request (each proxy's; Redis's own as side_cpu_us_per_req), and each path's req/s as a ratio
# of the same round's nginx.
#   benches/e2e/quotas.sh SECS ROUNDS   (after benches/e2e/run.sh, which writes guard-10.toml and
#   nginx.conf; needs redis-server: apt-get install redis-server). e.g. benches/e2e/quotas.sh 5 3
# The limits are high enough never to refuse: what is measured is the check and the charge.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=benches/e2e/common.sh
. benches/e2e/common.sh
SECS=$1 ROUNDS=$2 GUARD_BIN=${GUARD_BIN:-$B/bedrock-guard}
REDIS_PORT=${BENCH_REDIS_PORT:-18090}

rules() {
  cat <<RULES
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
RULES
}
cp "$OUT/guard-10.toml" "$OUT/quota-none.toml"
{ cat "$OUT/guard-10.toml"; echo "[quotas]"; rules; } >"$OUT/quota-memory.toml"
{ cat "$OUT/guard-10.toml"; echo "[quotas]"; echo "backend = \"redis://127.0.0.1:$REDIS_PORT/0\""; rules; } >"$OUT/quota-redis.toml"

redis-server --port "$REDIS_PORT" --save "" --appendonly no --daemonize no >"$OUT/redis.log" 2>&1 &
REDIS=$!
BACKGROUND+=("$REDIS")
start_double
start_nginx

for round in $(seq 1 "$ROUNDS"); do
  nginx_line=$(saturate "$NGINX_ADDR" "${NGINX_PIDS[@]}")
  echo "round=$round path=nginx $nginx_line"
  n=$(rps_of "$nginx_line")
  for backend in none memory redis; do
    start_guard "$OUT/quota-$backend.toml"
    line=$(saturate "$GUARD_ADDR" "$GUARD_PID" -- "$REDIS")
    stop_guard
    echo "round=$round path=guard-quotas-$backend $line vs_nginx=$((100 * $(rps_of "$line") / n))%"
  done
done
