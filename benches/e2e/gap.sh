#!/usr/bin/env bash
# Where the guard's CPU per request goes next to nginx's, to the system call: per forwarded Converse
# at saturation (bench_load, 64 connections), nginx and the guard alternated round by round:
#   - user and system CPU µs (utime/stime of every process of each proxy, /proc/PID/stat);
#   - context switches, voluntary and involuntary (/proc/PID/task/*/status, all threads);
#   - then one extra round each under `strace -c -f` (slower, so separate): system calls by name.
#   benches/e2e/gap.sh SECS ROUNDS [GUARD_CONFIG]   (after benches/e2e/run.sh, which writes the
#   configs; GUARD_BIN=path selects another build). e.g. benches/e2e/gap.sh 4 3
# Needs strace (apt-get install strace) for the last part; skips it with a note without.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=benches/e2e/common.sh
. benches/e2e/common.sh
SECS=$1 ROUNDS=$2 CFG=${3:-$OUT/guard-10.toml} GUARD_BIN=${GUARD_BIN:-$B/bedrock-guard}

# "user_ticks system_ticks" summed over the processes.
user_system() {
  local u=0 s=0 pid stat
  for pid in "$@"; do
    read -r -a stat <"/proc/$pid/stat"
    # Fields 14 and 15 (utime, stime); the command name (field 2) has no spaces here.
    u=$((u + stat[13])) s=$((s + stat[14]))
  done
  echo "$u $s"
}

# "voluntary involuntary" context switches summed over every thread of the processes.
switches() {
  local v=0 n=0 pid f a b
  for pid in "$@"; do
    for f in /proc/"$pid"/task/*/status; do
      a=$(awk '/^voluntary_ctxt_switches/{print $2}' "$f" 2>/dev/null || echo 0)
      b=$(awk '/^nonvoluntary_ctxt_switches/{print $2}' "$f" 2>/dev/null || echo 0)
      v=$((v + ${a:-0})) n=$((n + ${b:-0}))
    done
  done
  echo "$v $n"
}

# One measured saturation run against $1; the PIDs that follow are the proxy's processes.
measure() {
  local label=$1 addr=$2; shift 2
  "$B/examples/bench_load" saturate --addr "$addr" --path "$CONVERSE" --secs 1 >/dev/null
  local us0 cs0 out us1 cs1 req
  us0=$(user_system "$@") cs0=$(switches "$@")
  out=$("$B/examples/bench_load" saturate --addr "$addr" --path "$CONVERSE" --secs "$SECS")
  us1=$(user_system "$@") cs1=$(switches "$@")
  req=$(echo "$out" | sed 's/.*requests=\([0-9]*\).*/\1/')
  read -r u0 s0 <<<"$us0"; read -r u1 s1 <<<"$us1"
  read -r v0 n0 <<<"$cs0"; read -r v1 n1 <<<"$cs1"
  awk -v l="$label" -v rps="$(rps_of "$out")" -v req="$req" -v tick="$TICK_US" \
    -v u=$((u1 - u0)) -v s=$((s1 - s0)) -v v=$((v1 - v0)) -v n=$((n1 - n0)) \
    'BEGIN {printf "%s rps=%d user_us_per_req=%.1f system_us_per_req=%.1f voluntary_switches_per_req=%.3f involuntary_switches_per_req=%.3f\n", l, rps, u * tick / req, s * tick / req, v / req, n / req}'
}

# System calls per request of the proxy's processes under strace -c -f (top 8 by count).
syscalls() {
  local label=$1 addr=$2; shift 2
  local args=() pid out req
  for pid in "$@"; do args+=(-p "$pid"); done
  strace -c -f -o "$OUT/strace.$label.txt" "${args[@]}" &
  local tracer=$!
  sleep 0.5
  out=$("$B/examples/bench_load" saturate --addr "$addr" --path "$CONVERSE" --secs "$SECS")
  kill -INT "$tracer"; wait "$tracer" 2>/dev/null || true
  req=$(echo "$out" | sed 's/.*requests=\([0-9]*\).*/\1/')
  echo "$label under strace: $req requests; system calls per request:"
  awk -v req="$req" '$1 ~ /^[0-9.]+$/ && NF >= 5 {name = $NF; calls = ($5 ~ /^[0-9]+$/) ? $4 : $4; printf "  %-16s %.3f\n", name, calls / req}' \
    "$OUT/strace.$label.txt" | sort -k2 -rn | head -8
}

start_double
start_nginx
for round in $(seq 1 "$ROUNDS"); do
  echo "round=$round load=$(cut -d' ' -f1 /proc/loadavg)"
  measure "  nginx" "$NGINX_ADDR" "${NGINX_PIDS[@]}"
  start_guard "$CFG"
  measure "  guard" "$GUARD_ADDR" "$GUARD_PID"
  stop_guard
done
if command -v strace >/dev/null 2>&1; then
  syscalls nginx "$NGINX_ADDR" "${NGINX_PIDS[@]}"
  start_guard "$CFG"
  syscalls guard "$GUARD_ADDR" "$GUARD_PID"
  stop_guard
else
  echo "strace not installed: system calls not counted (apt-get install strace)"
fi
