#!/usr/bin/env bash
# nginx and bedrock-guard under wrk (the Debian package), alternated round by round, as peers measure:
# saturation req/s with each proxy's CPU time per request, and wrk2-style fixed rates are left to
# bench_load (wrk has no fixed-rate mode; `bench_load rate` counts from each request's due time).
#   benches/e2e/wrk.sh SECS ROUNDS [CONNS] [GUARD_CONFIG]   (after benches/e2e/run.sh, which writes
#   the configs; GUARD_BIN=path selects another build). e.g. benches/e2e/wrk.sh 5 5
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${BENCH_OUT:-$PWD/target/bench-e2e}
B=$PWD/target/release
SECS=$1 ROUNDS=$2 CONNS=${3:-32} CFG=${4:-$OUT/guard-10.toml} GUARD_BIN=${GUARD_BIN:-$B/bedrock-guard}
LUA=$PWD/benches/e2e/converse.lua
if ! command -v wrk >/dev/null 2>&1; then
  SUDO=; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends wrk
fi
export AWS_EC2_METADATA_DISABLED=true AWS_ACCESS_KEY_ID=AKIDBENCHEXAMPLE \
  AWS_SECRET_ACCESS_KEY=bench/secret/EXAMPLEKEY AWS_REGION=us-east-1
NGINX_BIN=$(command -v nginx || echo /usr/sbin/nginx)
TICK_US=$((1000000 / $(getconf CLK_TCK)))
cpu_ticks() {
  local total=0 pid
  for pid in "$@"; do total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat"))); done
  echo "$total"
}

"$B/examples/bench_double" 127.0.0.1:18080 >/dev/null 2>&1 &
DOUBLE=$!
"$NGINX_BIN" -c "$OUT/nginx.conf" -p "$OUT" -g "user $(id -un);" 2>/dev/null || "$NGINX_BIN" -c "$OUT/nginx.conf" -p "$OUT"
trap 'kill $DOUBLE 2>/dev/null || true; kill "$(cat "$OUT/nginx.pid")" 2>/dev/null || true' EXIT
sleep 0.5
MASTER=$(cat "$OUT/nginx.pid")

# One wrk run against $1 (address); CPU counted over the PIDs that follow.
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

NGINX_RPS=() GUARD_RPS=()
for round in $(seq 1 "$ROUNDS"); do
  # shellcheck disable=SC2046 # one PID per word
  nginx_line=$(run 127.0.0.1:18081 "$MASTER" $(pgrep -P "$MASTER"))
  "$GUARD_BIN" serve --config "$CFG" 2>/dev/null &
  GUARD=$!
  sleep 0.5
  guard_line=$(run 127.0.0.1:18082 "$GUARD")
  kill "$GUARD"; wait "$GUARD" 2>/dev/null || true
  n=${nginx_line#rps=}; n=${n%% *}; g=${guard_line#rps=}; g=${g%% *}
  echo "round=$round load=$(cut -d' ' -f1 /proc/loadavg) nginx: $nginx_line guard: $guard_line guard/nginx=$((100 * g / n))%"
  NGINX_RPS+=("$n"); GUARD_RPS+=("$g")
done
# The ratio of the medians of the interleaved rounds (each median over ROUNDS values).
median() { printf '%s\n' "$@" | sort -n | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : int((v[NR / 2] + v[NR / 2 + 1]) / 2)}'; }
mn=$(median "${NGINX_RPS[@]}"); mg=$(median "${GUARD_RPS[@]}")
echo "median nginx_rps=$mn guard_rps=$mg ratio=$(awk -v g="$mg" -v n="$mn" 'BEGIN {printf "%.2f", g / n}')"
