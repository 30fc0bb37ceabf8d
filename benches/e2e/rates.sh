#!/usr/bin/env bash
# Fixed-rate latency, interleaved: each round nginx, then each given guard build, at RPS req/s for
# SECS seconds (bench_load rate, 64 connections, latency counted from each request's due time).
# Prints p50/p99/p99.9 per run, then the median p99 of each path over the rounds.
#   benches/e2e/rates.sh RPS SECS ROUNDS [BINARY...]   (after benches/e2e/run.sh; default binary:
#   target/release/bedrock-guard). e.g. benches/e2e/rates.sh 5000 5 8 /tmp/before target/release/bedrock-guard
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=benches/e2e/common.sh
. benches/e2e/common.sh
RPS=$1 SECS=$2 ROUNDS=$3; shift 3
[ $# -gt 0 ] || set -- "$B/bedrock-guard"

# "p50_us=.. p99_us=.. p999_us=.." of one fixed-rate run against $1.
rate() {
  "$B/examples/bench_load" rate --addr "$1" --path "$CONVERSE" --rps "$RPS" --conns 64 --secs "$SECS" |
    grep -o 'p50_us=[0-9]* p99_us=[0-9]* p999_us=[0-9]*'
}

declare -A P99
start_double
start_nginx
for round in $(seq 1 "$ROUNDS"); do
  line=$(rate "$NGINX_ADDR"); echo "round=$round nginx $line"
  P99[nginx]+="$(echo "$line" | sed 's/.*p99_us=\([0-9]*\).*/\1/') "
  for bin in "$@"; do
    start_guard "$OUT/guard-10.toml" "$bin"
    "$B/examples/bench_load" saturate --addr "$GUARD_ADDR" --path "$CONVERSE" --secs 1 >/dev/null
    line=$(rate "$GUARD_ADDR"); echo "round=$round $bin $line"
    P99[$bin]+="$(echo "$line" | sed 's/.*p99_us=\([0-9]*\).*/\1/') "
    stop_guard
  done
done
for path in nginx "$@"; do
  # shellcheck disable=SC2086 # one value per word
  echo "median p99_us $path $(median ${P99[$path]})"
done
