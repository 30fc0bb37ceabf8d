#!/usr/bin/env bash
# Turns target/bench-e2e/raw.txt (one key=value line per measurement) into the markdown tables of
# docs/BENCHMARKS.md. Added latency = the path's percentile minus the direct path's at the same rate.
set -euo pipefail
OUT=${1:-target/bench-e2e}
awk '
function kv(line, key,   re, m) {
  if (match(line, "(^| )" key "=[^ ]*")) { m = substr(line, RSTART, RLENGTH); sub(/^ /, "", m); sub(key "=", "", m); return m }
  return ""
}
{
  p = kv($0, "path"); w = kv($0, "what"); paths[p] = 1
  for (i = 1; i <= NF; i++) { split($i, a, "="); v[p, w, a[1]] = a[2] }
}
END {
  n = split("direct nginx guard-10 guard-10000", order, " ")
  print "### Throughput at saturation (Converse, " "64 connections, closed loop)\n"
  print "| path | req/s | vs nginx | proxy CPU µs per request | p50 ms | p99 ms | errors | load before |"
  print "|---|---|---|---|---|---|---|---|"
  for (i = 1; i <= n; i++) { p = order[i]; if (!(p in paths)) continue
    r = v[p, "saturate", "rps"]; ng = v["nginx", "saturate", "rps"]; cpu = v[p, "saturate", "proxy_cpu_us_per_req"]
    printf "| %s | %s | %s | %s | %.2f | %.2f | %s | %s |\n", p, r, (ng > 0 ? sprintf("%.0f%%", 100 * r / ng) : "-"), (cpu == "" ? "-" : cpu), v[p, "saturate", "p50_us"] / 1000, v[p, "saturate", "p99_us"] / 1000, v[p, "saturate", "errors"], v[p, "saturate", "load"] }
  split("rate1k rate2k rate5k", rates, " ")
  for (k = 1; k <= 3; k++) { w = rates[k]
    print "\n### Fixed rate " (w == "rate1k" ? "1,000" : (w == "rate2k" ? "2,000" : "5,000")) " req/s (Converse, 64 connections; latency from each request'"'"'s due time)\n"
    print "| path | achieved req/s | p50 ms | p99 ms | p99.9 ms | added p50 ms | added p99 ms | added p99.9 ms | errors | load before |"
    print "|---|---|---|---|---|---|---|---|---|---|"
    for (i = 1; i <= n; i++) { p = order[i]; if (!(p in paths)) continue
      printf "| %s | %s | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f | %s | %s |\n", p, v[p, w, "rps"], v[p, w, "p50_us"] / 1000, v[p, w, "p99_us"] / 1000, v[p, w, "p999_us"] / 1000,
        (v[p, w, "p50_us"] - v["direct", w, "p50_us"]) / 1000, (v[p, w, "p99_us"] - v["direct", w, "p99_us"]) / 1000, (v[p, w, "p999_us"] - v["direct", w, "p999_us"]) / 1000, v[p, w, "errors"], v[p, w, "load"] } }
  print "\n### ConverseStream at 1,000 req/s: time to first event (from due time)\n"
  print "| path | TTFB p50 ms | TTFB p99 ms | TTFB p99.9 ms | added TTFB p99 ms | whole stream p99 ms | errors | load before |"
  print "|---|---|---|---|---|---|---|---|"
  for (i = 1; i <= n; i++) { p = order[i]; if (!(p in paths)) continue; w = "stream1k"
    printf "| %s | %.3f | %.3f | %.3f | %.3f | %.3f | %s | %s |\n", p, v[p, w, "ttfb_p50_us"] / 1000, v[p, w, "ttfb_p99_us"] / 1000, v[p, w, "ttfb_p999_us"] / 1000, (v[p, w, "ttfb_p99_us"] - v["direct", w, "ttfb_p99_us"]) / 1000, v[p, w, "p99_us"] / 1000, v[p, w, "errors"], v[p, w, "load"] }
  print "\n### bedrock-guard start-up and memory\n"
  print "| policy | start-up median ms (5 runs) | start-up max ms | RSS idle MB | RSS before streams MB | RSS with 1,000 open streams MB | streams open | load before |"
  print "|---|---|---|---|---|---|---|---|"
  for (i = 3; i <= n; i++) { p = order[i]; if (!(p in paths)) continue
    printf "| %s statements | %.1f | %.1f | %.1f | %.1f | %.1f | %s | %s |\n", substr(p, 7), v[p, "startup", "startup_median_us"] / 1000, v[p, "startup", "startup_max_us"] / 1000, v[p, "startup", "rss_idle_kb"] / 1024, v[p, "open1000", "rss_before_kb"] / 1024, v[p, "open1000", "rss_open_kb"] / 1024, v[p, "open1000", "open_ok"], v[p, "startup", "load"] }
}' "$OUT/raw.txt"
echo
cat "$OUT/machine.txt" | sed 's/^/    /'
