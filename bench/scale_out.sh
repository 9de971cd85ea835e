#!/usr/bin/env bash
# Issue 14's scale-out figures: USERS users (in ENTERPRISES enterprises) split across SHARDS
# exporter processes on this machine, one simulator sized to match, live calls and toggles, managed
# push subscriptions, and the steady-state intervals docs/subscriptions.md recommends with push
# healthy, divided by SCALE (as in bench/api_use.sh). Reports per shard: users held, RSS, /metrics
# time (gzip and plain, p50 of 5, 300 ms apart) and the API requests per user per hour, counted
# by each exporter's vpbx_api_requests_total over WINDOW seconds and scaled back to real time.
#   bench/scale_out.sh [BUILD_DIR]   (default: build-bench, as bench/run.sh builds it)
#   USERS=100000 ENTERPRISES=100 SHARDS=4 SCALE=12 WINDOW=300
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-bench}
users=${USERS:-100000}
enterprises=${ENTERPRISES:-100}
shards=${SHARDS:-4}
scale=${SCALE:-12}
window=${WINDOW:-300}
source bench/lib.sh scale-out
ms() { echo "$(($1 * 1000 / scale))ms"; }
# sum NAME FILE: the sum of every sample of NAME (a bare name) or of one series.
sum() { awk -v key="$1" 'index(key, "{") ? (index($0, key " ") == 1) : (index($0, key " ") == 1 || index($0, key "{") == 1) { s += $NF } END { printf "%.0f", s }' "$2"; }
# The API requests for enterprises' call logs in a scrape FILE.
enterprise_polls() { awk 'index($0, "vpbx_api_requests_total{") == 1 && index($0, "endpoint=\"v1/enterprises/") { s += $NF } END { printf "%.0f", s }' "$1"; }
mb() { awk -v kb="$1" 'BEGIN{printf "%.0f", kb / 1024}'; }

sim_port=$(free_port)
echo "sim-password" >"$work/password"
"$build/simulator/vpbx_simulator" --web.listen-address="127.0.0.1:$sim_port" \
  --enterprises="$enterprises" --users="$((users / enterprises))" --password-file="$work/password" \
  --calls-per-second=20 --feature-toggles-per-second=2 --users-csv-out="$work/users.csv" \
  --log.level=warn >"$work/sim.log" 2>&1 &
pids+=($!)
for _ in $(seq 600); do [ -s "$work/users.csv" ] && break; sleep 0.1; done
[ -s "$work/users.csv" ] || { cat "$work/sim.log"; exit 1; }
enterprise_list=$(awk -F, 'NR > 1 { print $1 }' "$work/users.csv" | sort -u | paste -sd, -)

declare -a port
for ((i = 0; i < shards; i++)); do
  port[i]=$(free_port)
  mkdir -p "$work/shard-$i"
  echo "scale-out-token-$i-$RANDOM$RANDOM" >"$work/shard-$i/token"
  cat >"$work/shard-$i/config.yml" <<YAML
api:
  url: http://127.0.0.1:$sim_port/openapi/
  username: openapi@291908.bus.ent
  password_file: ../password
  application_id: 71c177e5-7417-4265-b97f-4595016dceb8
  max_requests_per_second: 200
users_file: ../users.csv
enterprises: [$enterprise_list]
max_users: $users
shard: { index: $i, count: $shards }
poll: { server: $(ms 60), presence: $(ms 3600), features: $(ms 3600), call_logs: $(ms 1800), fallback: $(ms 60) }
webhook: { token_file: token, public_url: "http://127.0.0.1:${port[i]}/webhook" }
subscriptions: { manage: true, ttl: $(ms 86400), renew_before: $(ms 7200) }
state_file: state.json
YAML
  "$build/exporter/vpbx_exporter" --config.file="$work/shard-$i/config.yml" \
    --web.listen-address="127.0.0.1:${port[i]}" --log.level=warn >"$work/shard-$i/exporter.log" 2>&1 &
  pids+=($!)
  echo "${pids[-1]}" >"$work/shard-$i/pid"
done

# Warm-up: every shard's first presence and feature sweeps done and push healthy for 3 types.
echo "== $users users, $shards shards, 1/$scale time: waiting for the first sweeps" >&2
started=$(date +%s)
for ((i = 0; i < shards; i++)); do
  while true; do
    curl -s "http://127.0.0.1:${port[i]}/metrics" >"$work/m.txt" || true
    done_sweeps=$(grep -cE '^vpbx_collector_last_success_timestamp_seconds\{collector="(presence|features)"\} [1-9]' "$work/m.txt" || true)
    healthy=$(grep -c '^vpbx_push_healthy{.*} 1$' "$work/m.txt" || true)
    [ "$done_sweeps" -ge 2 ] && [ "$healthy" -ge 3 ] && break
    [ $(($(date +%s) - started)) -gt 1800 ] && { echo "shard $i not ready after 30 min" >&2; tail "$work/shard-$i/exporter.log" >&2; exit 1; }
    sleep 5
  done
done
warmup=$(($(date +%s) - started))
echo "== warm-up took ${warmup}s; measuring API use for ${window}s" >&2
for ((i = 0; i < shards; i++)); do curl -s "http://127.0.0.1:${port[i]}/metrics" >"$work/shard-$i/before.txt"; done
sleep "$window"
for ((i = 0; i < shards; i++)); do curl -s "http://127.0.0.1:${port[i]}/metrics" >"$work/shard-$i/after.txt"; done

hours=$(awk -v w="$window" -v s="$scale" 'BEGIN{printf "%.2f", w * s / 3600}')
echo
echo "$users users in $enterprises enterprises, $shards shards on $(nproc) cores, $(date -u +%Y-%m-%d), revision $revision; warm-up ${warmup}s; API use over ${window}s = ${hours} h at 1/$scale time"
echo
echo "| shard | users | series | RSS MB (peak) | /metrics gzip p50 / p99 ms | plain p50 / p99 ms | API requests / user / h | of which enterprise call logs |"
echo "|---|---|---|---|---|---|---|---|"
total_requests=0
for ((i = 0; i < shards; i++)); do
  url="http://127.0.0.1:${port[i]}/metrics"
  read -r _ gzip_p50 gzip_p99 _ _ _ < <("$build/bench/vpbx_bench_fetch" "$url" --count=5 --interval-ms=300 --gzip)
  read -r _ plain_p50 plain_p99 _ _ series < <("$build/bench/vpbx_bench_fetch" "$url" --count=5 --interval-ms=300)
  pid=$(cat "$work/shard-$i/pid")
  rss=$(awk '/^VmRSS/{print $2}' "/proc/$pid/status")
  peak=$(awk '/^VmHWM/{print $2}' "/proc/$pid/status")
  held=$(grep -c '^vpbx_user_info{' "$work/shard-$i/after.txt" || true)
  requests=$(($(sum vpbx_api_requests_total "$work/shard-$i/after.txt") - $(sum vpbx_api_requests_total "$work/shard-$i/before.txt")))
  enterprise=$(($(enterprise_polls "$work/shard-$i/after.txt") - $(enterprise_polls "$work/shard-$i/before.txt")))
  total_requests=$((total_requests + requests))
  per_user=$(awk -v n="$requests" -v h="$hours" -v u="$held" 'BEGIN{printf "%.3f", (u > 0 ? n / h / u : 0)}')
  per_user_enterprise=$(awk -v n="$enterprise" -v h="$hours" -v u="$held" 'BEGIN{printf "%.3f", (u > 0 ? n / h / u : 0)}')
  echo "| $i | $held | $series | $(mb "$rss") ($(mb "$peak")) | $gzip_p50 / $gzip_p99 | $plain_p50 / $plain_p99 | $per_user | $per_user_enterprise |"
done
echo
echo "All shards: $(awk -v n="$total_requests" -v h="$hours" -v u="$users" 'BEGIN{printf "%.3f", n / h / u}') API requests per user per hour."
