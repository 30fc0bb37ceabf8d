#!/usr/bin/env bash
# End-to-end benchmark, one command:  benches/e2e/run.sh
#
# Three paths in the same run, against the same local Bedrock double (examples/bench_double.rs):
#   direct  load -> double
#   nginx   load -> nginx proxy_pass (keep-alive upstream, no buffering) -> double
#   guard   load -> bedrock-guard (release build; policy evaluated, SigV4 re-signed, audit logged) -> double
# with policies of 10 and 10,000 statements. Load comes from examples/bench_load.rs (fixed-rate runs
# count latency from each request's due time). Results: target/bench-e2e/results.md (and raw.txt).
#
# Environment: BENCH_SECS (per measurement, default 10), BENCH_CONNS (64), BENCH_OUT, BENCH_PORT_BASE
# (18080: double, +1 nginx, +2 guard). Needs root or sudo only to apt-get install nginx when missing.
# Sends nothing beyond 127.0.0.1: the guard gets static fake credentials and instance metadata is off.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
# shellcheck source=benches/e2e/common.sh
. benches/e2e/common.sh
SECS=${BENCH_SECS:-10}
CONNS=${BENCH_CONNS:-64}
DOUBLE=$DOUBLE_ADDR NGINX=$NGINX_ADDR GUARD=$GUARD_ADDR
MODEL=anthropic.claude-sonnet-4-5-20250929-v1%3A0
STREAM=/model/$MODEL/converse-stream
HOLD=/model/bench.hold-v1%3A0/converse-stream

mkdir -p "$OUT"
rm -f "$OUT/raw.txt"

# --- what the run needs -----------------------------------------------------------------------------
if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
  SUDO=; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends nginx-light || \
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends nginx
fi
NGINX_BIN=$(command -v nginx || echo /usr/sbin/nginx)
cargo build --release --locked --bin bedrock-guard --example bench_double --example bench_load
BIN=$ROOT/target/release
LOAD=$BIN/examples/bench_load
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"


PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  [ -f "$OUT/nginx.pid" ] && kill "$(cat "$OUT/nginx.pid")" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup EXIT

wait_port() {
  for _ in $(seq 1 300); do
    (exec 3<>"/dev/tcp/${1%:*}/${1#*:}") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "nothing listening on $1" >&2; exit 1
}

load_avg() { cut -d' ' -f1-3 /proc/loadavg | tr ' ' /; }

# Every measurement line: path, what, the load average before it, then the tool's key=value output.
measure() {
  local path=$1 what=$2; shift 2
  local before; before=$(load_avg)
  local line; line=$("$@")
  echo "path=$path what=$what load=$before $line" | tee -a "$OUT/raw.txt"
}

# --- the double, nginx, policies and configs ---------------------------------------------------------
"$BIN/examples/bench_double" "$DOUBLE" >"$OUT/double.log" 2>&1 &
PIDS+=($!)
wait_port "$DOUBLE"

mkdir -p "$OUT/nginx-tmp"
cat >"$OUT/nginx.conf" <<EOF
# A plain reverse proxy as users would configure one: keep-alive to the upstream, streaming passed
# through unbuffered, an access log (bedrock-guard writes its audit line too).
worker_processes 2;
daemon on;
pid $OUT/nginx.pid;
error_log $OUT/nginx-error.log warn;
events { worker_connections 8192; }
http {
  access_log $OUT/nginx-access.log;
  client_body_temp_path $OUT/nginx-tmp/body;
  proxy_temp_path $OUT/nginx-tmp/proxy;
  fastcgi_temp_path $OUT/nginx-tmp/fastcgi;
  uwsgi_temp_path $OUT/nginx-tmp/uwsgi;
  scgi_temp_path $OUT/nginx-tmp/scgi;
  upstream bedrock { server $DOUBLE; keepalive 256; }
  server {
    listen $NGINX;
    keepalive_requests 1000000;
    location / {
      proxy_pass http://bedrock;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
      proxy_read_timeout 600s;
    }
  }
}
EOF
"$NGINX_BIN" -c "$OUT/nginx.conf" -p "$OUT" -g "user $(id -un);" 2>/dev/null || "$NGINX_BIN" -c "$OUT/nginx.conf" -p "$OUT"
wait_port "$NGINX"

for n in 10 10000; do
  "$LOAD" policy --n "$n" >"$OUT/policy-$n.json"
  cat >"$OUT/guard-$n.toml" <<EOF
listen = "$GUARD"
region = "us-east-1"
account_id = "123456789012"
[policy]
files = ["policy-$n.json"]
[principal]
arn = "arn:aws:iam::123456789012:user/bench"
[upstream]
endpoint = "http://$DOUBLE"
# The double serves no control plane; foundation-model calls need no routing lookup.
[control_plane]
enabled = false
[limits]
max_concurrent_requests = 4096
[reload]
watch = false
EOF
done

# --- machine ------------------------------------------------------------------------------------------
{
  echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ) nproc=$(nproc) cpu=\"$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')\""
  echo "kernel=$(uname -r) rustc=\"$(rustc --version)\" nginx=\"$("$NGINX_BIN" -v 2>&1 | cut -d/ -f2)\" secs=$SECS conns=$CONNS"
} | tee "$OUT/machine.txt"

# --- runs --------------------------------------------------------------------------------------------

run_paths() {
  # $1: label, $2: address, then the PIDs of the proxy's processes (none for direct): their CPU time
  # per request at saturation is the proxy's cost, steadier than req/s on a shared machine.
  local label=$1 addr=$2; shift 2
  "$LOAD" saturate --addr "$addr" --path "$CONVERSE" --conns "$CONNS" --secs 2 >/dev/null # warm-up
  local before t0 line t1 requests cpu=-
  before=$(load_avg)
  t0=$(cpu_ticks "$@")
  line=$("$LOAD" saturate --addr "$addr" --path "$CONVERSE" --conns "$CONNS" --secs "$SECS")
  t1=$(cpu_ticks "$@")
  requests=$(echo "$line" | sed 's/.*requests=\([0-9]*\).*/\1/')
  [ $# -gt 0 ] && [ "$requests" -gt 0 ] && cpu=$(( (t1 - t0) * TICK_US / requests ))
  echo "path=$label what=saturate load=$before $line proxy_cpu_us_per_req=$cpu" | tee -a "$OUT/raw.txt"
  measure "$label" rate1k "$LOAD" rate --addr "$addr" --path "$CONVERSE" --rps 1000 --conns "$CONNS" --secs "$SECS"
  measure "$label" rate2k "$LOAD" rate --addr "$addr" --path "$CONVERSE" --rps 2000 --conns "$CONNS" --secs "$SECS"
  measure "$label" rate5k "$LOAD" rate --addr "$addr" --path "$CONVERSE" --rps 5000 --conns "$CONNS" --secs "$SECS"
  measure "$label" stream1k "$LOAD" rate --addr "$addr" --path "$STREAM" --rps 1000 --conns "$CONNS" --secs "$SECS" --stream
}

run_paths direct "$DOUBLE"
NGINX_MASTER=$(cat "$OUT/nginx.pid")
# shellcheck disable=SC2046 # one PID per word
run_paths nginx "$NGINX" "$NGINX_MASTER" $(pgrep -P "$NGINX_MASTER")

for n in 10 10000; do
  cmd=("$BIN/bedrock-guard" serve --config "$OUT/guard-$n.toml")
  measure "guard-$n" startup "$LOAD" startup --addr "$GUARD" --runs 5 -- "${cmd[@]}"
  "${cmd[@]}" 2>"$OUT/guard-$n.log" &
  gpid=$!
  PIDS+=($gpid)
  wait_port "$GUARD"
  sleep 0.5
  echo "path=guard-$n what=idle rss_kb=$(awk '/VmRSS/{print $2}' "/proc/$gpid/status")" | tee -a "$OUT/raw.txt"
  run_paths "guard-$n" "$GUARD" "$gpid"
  measure "guard-$n" open1000 "$LOAD" open-streams --addr "$GUARD" --path "$HOLD" --n 1000 --pid "$gpid"
  kill "$gpid"; wait "$gpid" 2>/dev/null || true
done

# --- summary -----------------------------------------------------------------------------------------
"$ROOT/benches/e2e/summarize.sh" "$OUT" | tee "$OUT/results.md"
