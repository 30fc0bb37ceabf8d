#!/usr/bin/env bash
# nginx and bedrock-guard under wrk (the Debian package), alternated round by round, as peers measure:
# saturation req/s, each proxy's CPU time per request, wrk's p50/p99, then the ratio of the medians.
# (wrk has no fixed-rate mode: fixed-rate latency comes from `bench_load rate` in run.sh, which
# counts from each request's due time.)
#   benches/e2e/wrk.sh SECS ROUNDS [CONNS] [GUARD_CONFIG]   (after benches/e2e/run.sh, which writes
#   the configs; GUARD_BIN=path selects another build). e.g. benches/e2e/wrk.sh 5 5
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=benches/e2e/common.sh
. benches/e2e/common.sh
SECS=$1 ROUNDS=$2 CONNS=${3:-32} CFG=${4:-$OUT/guard-10.toml} GUARD_BIN=${GUARD_BIN:-$B/bedrock-guard}
LUA=$PWD/benches/e2e/converse.lua
if ! command -v wrk >/dev/null 2>&1; then
  SUDO=; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends wrk
fi

# One wrk run against $1 (address) after a 1 s warm-up; CPU counted over the PIDs that follow.
run() {
  local addr=$1; shift
  wrk -t1 -c"$CONNS" -d1s -s "$LUA" "http://$addr" >/dev/null
  local t0 out t1 req rps
  t0=$(cpu_ticks "$@")
  out=$(wrk -t1 -c"$CONNS" -d"${SECS}s" --latency -s "$LUA" "http://$addr")
  t1=$(cpu_ticks "$@")
  req=$(echo "$out" | awk '/requests in/{print $1}')
  rps=$(echo "$out" | awk '/Requests\/sec/{printf "%d", $2}')
  echo "rps=$rps cpu_us_per_req=$(( (t1 - t0) * TICK_US / req )) p50=$(echo "$out" | awk '$1=="50%"{print $2}') p99=$(echo "$out" | awk '$1=="99%"{print $2}')"
}

start_double
start_nginx
NGINX_RPS=() GUARD_RPS=()
for round in $(seq 1 "$ROUNDS"); do
  nginx_line=$(run "$NGINX_ADDR" "${NGINX_PIDS[@]}")
  start_guard "$CFG"
  guard_line=$(run "$GUARD_ADDR" "$GUARD_PID")
  stop_guard
  n=$(rps_of "$nginx_line") g=$(rps_of "$guard_line")
  echo "round=$round load=$(cut -d' ' -f1 /proc/loadavg) nginx: $nginx_line guard: $guard_line guard/nginx=$((100 * g / n))%"
  NGINX_RPS+=("$n"); GUARD_RPS+=("$g")
done
print_ratio_of_medians NGINX_RPS GUARD_RPS
