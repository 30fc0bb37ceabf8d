#!/usr/bin/env bash
# nginx against bedrock-guard at saturation, interleaved round by round, so that both see the same
# moment of a shared machine: req/s and each proxy's CPU time per request, then the ratio of the
# medians of the rounds.
#   benches/e2e/ratio.sh SECS ROUNDS [GUARD_CONFIG]   (after benches/e2e/run.sh, which writes the configs;
#   GUARD_BIN=path selects another build)
# e.g. benches/e2e/ratio.sh 5 5
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=benches/e2e/common.sh
. benches/e2e/common.sh
SECS=$1 ROUNDS=$2 CFG=${3:-$OUT/guard-10.toml} GUARD_BIN=${GUARD_BIN:-$B/bedrock-guard}

start_double
start_nginx
NGINX_RPS=() GUARD_RPS=()
for round in $(seq 1 "$ROUNDS"); do
  nginx_line=$(saturate "$NGINX_ADDR" "${NGINX_PIDS[@]}")
  start_guard "$CFG"
  guard_line=$(saturate "$GUARD_ADDR" "$GUARD_PID")
  stop_guard
  n=$(rps_of "$nginx_line") g=$(rps_of "$guard_line")
  echo "round=$round load=$(cut -d' ' -f1 /proc/loadavg) nginx: $nginx_line guard: $guard_line guard/nginx=$((100 * g / n))%"
  NGINX_RPS+=("$n"); GUARD_RPS+=("$g")
done
print_ratio_of_medians NGINX_RPS GUARD_RPS
