# Shared by the benchmark scripts (run.sh, ratio.sh, wrk.sh, ab.sh, quotas.sh); sourced, not run.
# Expects the configs of benches/e2e/run.sh in $OUT and the release build in target/release.
OUT=${BENCH_OUT:-$PWD/target/bench-e2e}
B=$PWD/target/release
CONVERSE=/model/anthropic.claude-sonnet-4-5-20250929-v1%3A0/converse
# BENCH_PORT_BASE (18080): the double, +1 nginx, +2 the guard (run.sh writes the configs so).
PORT_BASE=${BENCH_PORT_BASE:-18080}
DOUBLE_ADDR=127.0.0.1:$PORT_BASE NGINX_ADDR=127.0.0.1:$((PORT_BASE + 1)) GUARD_ADDR=127.0.0.1:$((PORT_BASE + 2))
# The guard signs with these; nothing leaves the machine (the upstream is the double).
export AWS_EC2_METADATA_DISABLED=true AWS_ACCESS_KEY_ID=AKIDBENCHEXAMPLE \
  AWS_SECRET_ACCESS_KEY=bench/secret/EXAMPLEKEY AWS_REGION=us-east-1
unset AWS_SESSION_TOKEN AWS_PROFILE AWS_BEARER_TOKEN_BEDROCK RUST_LOG || true
NGINX_BIN=$(command -v nginx || echo /usr/sbin/nginx)
TICK_US=$((1000000 / $(getconf CLK_TCK)))
BACKGROUND=() GUARD_PID=

# CPU time (user + system, all threads) of the given processes, in clock ticks.
cpu_ticks() {
  local total=0 pid
  for pid in "$@"; do total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat"))); done
  echo "$total"
}

# The Bedrock double, stopped on exit.
start_double() {
  "$B/examples/bench_double" "$DOUBLE_ADDR" >/dev/null 2>&1 &
  BACKGROUND+=($!)
}

# nginx with run.sh's config, stopped on exit; NGINX_PIDS: master and workers.
start_nginx() {
  "$NGINX_BIN" -c "$OUT/nginx.conf" -p "$OUT" -g "user $(id -un);" 2>/dev/null || "$NGINX_BIN" -c "$OUT/nginx.conf" -p "$OUT"
  sleep 0.5
  local master; master=$(cat "$OUT/nginx.pid")
  # shellcheck disable=SC2207 # one PID per word
  NGINX_PIDS=("$master" $(pgrep -P "$master"))
}

stop_background() {
  for pid in "${BACKGROUND[@]}" ${GUARD_PID:-}; do kill "$pid" 2>/dev/null || true; done
  [ -f "$OUT/nginx.pid" ] && kill "$(cat "$OUT/nginx.pid")" 2>/dev/null || true
}
trap stop_background EXIT

# The median of integer arguments.
median() {
  printf '%s\n' "$@" | sort -n | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : int((v[NR / 2] + v[NR / 2 + 1]) / 2)}'
}

# "median nginx_rps=... guard_rps=... ratio=..." from two arrays of req/s (names passed).
print_ratio_of_medians() {
  local -n nginx_rps=$1 guard_rps=$2
  local mn mg
  mn=$(median "${nginx_rps[@]}"); mg=$(median "${guard_rps[@]}")
  echo "median nginx_rps=$mn guard_rps=$mg ratio=$(awk -v g="$mg" -v n="$mn" 'BEGIN {printf "%.2f", g / n}')"
}

# One closed-loop saturation run (bench_load, 64 connections) against $1 after a 1 s warm-up; CPU is
# counted over the PIDs that follow (and, after `--`, separately over side processes such as Redis).
# Prints "rps=N cpu_us_per_req=N [side_cpu_us_per_req=N] requests=N errors=N p50_us=N p99_us=N".
saturate() {
  local addr=$1; shift
  local pids=() side=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do pids+=("$1"); shift; done
  [ $# -gt 0 ] && shift && side=("$@")
  "$B/examples/bench_load" saturate --addr "$addr" --path "$CONVERSE" --secs 1 >/dev/null
  local t0 s0=0 out t1 s1=0 req side_cpu=""
  t0=$(cpu_ticks "${pids[@]}"); [ ${#side[@]} -gt 0 ] && s0=$(cpu_ticks "${side[@]}")
  out=$("$B/examples/bench_load" saturate --addr "$addr" --path "$CONVERSE" --secs "$SECS")
  t1=$(cpu_ticks "${pids[@]}"); [ ${#side[@]} -gt 0 ] && s1=$(cpu_ticks "${side[@]}")
  req=$(echo "$out" | sed 's/.*requests=\([0-9]*\).*/\1/')
  [ ${#side[@]} -gt 0 ] && side_cpu=" side_cpu_us_per_req=$(( (s1 - s0) * TICK_US / req ))"
  echo "rps=$(echo "$out" | sed 's/.*rps=\([0-9]*\).*/\1/') cpu_us_per_req=$(( (t1 - t0) * TICK_US / req ))$side_cpu requests=$req $(echo "$out" | grep -o 'errors=[0-9]*') $(echo "$out" | grep -o 'p50_us=[0-9]* p99_us=[0-9]*')"
}

# Whether something accepts connections on $1 (host:port).
listening() {
  (exec 3<>"/dev/tcp/${1%:*}/${1#*:}") 2>/dev/null
}

# Starts BINARY (default $GUARD_BIN) with CONFIG on $GUARD_ADDR: GUARD_PID, once it accepts
# connections. stop_guard ends it. Refuses to measure a port some other process holds (a guard left
# over from an interrupted run would be measured instead).
start_guard() {
  if listening "$GUARD_ADDR"; then
    echo "$GUARD_ADDR is already taken: stop what listens there first" >&2; exit 1
  fi
  "${2:-$GUARD_BIN}" serve --config "$1" 2>/dev/null &
  GUARD_PID=$!
  for _ in $(seq 1 300); do
    listening "$GUARD_ADDR" && return 0
    kill -0 "$GUARD_PID" 2>/dev/null || { echo "the guard exited at start-up ($1)" >&2; exit 1; }
    sleep 0.05
  done
  echo "the guard did not listen on $GUARD_ADDR within 15 s" >&2; exit 1
}

stop_guard() {
  kill "$GUARD_PID"; wait "$GUARD_PID" 2>/dev/null || true
  GUARD_PID=
}

# The req/s of a line printed by `saturate` (or wrk.sh's own runs).
rps_of() {
  local line=${1#*rps=}
  echo "${line%% *}"
}
