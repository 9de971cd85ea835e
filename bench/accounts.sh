#!/usr/bin/env bash
# Issue 14's accounts figure: the same USERS users polled by one exporter process, once as ACCOUNTS
# accounts of USERS/ACCOUNTS users each (one enterprise each) and once as one account holding them
# all, against one simulator; the same intervals and the same total API rate. After the first
# presence and feature sweeps of every account: RSS, and /metrics time (gzip and plain, p50 of 10,
# 300 ms apart). The overhead of accounts is the ratio of the two.
#   bench/accounts.sh [BUILD_DIR]   (default: build-bench, as bench/run.sh builds it)
#   USERS=10000 ACCOUNTS=40
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-bench}
users=${USERS:-10000}
accounts=${ACCOUNTS:-40}
rate=1000  # API requests per second, in all
revision=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)  # of the sources, at start
work=$(mktemp -d "${TMPDIR:-/tmp}/vpbx-accounts.XXXXXX")
pids=()
cleanup() {
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill "${pids[i]}" 2>/dev/null || true
    wait "${pids[i]}" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
mb() { awk -v kb="$1" 'BEGIN{printf "%.0f", kb / 1024}'; }

sim_port=$(free_port)
echo "sim-password" >"$work/password"
"$build/simulator/vpbx_simulator" --web.listen-address="127.0.0.1:$sim_port" \
  --enterprises="$accounts" --users="$((users / accounts))" --password-file="$work/password" \
  --calls-per-second=5 --users-csv-out="$work/users.csv" --log.level=warn >"$work/sim.log" 2>&1 &
pids+=($!)
for _ in $(seq 600); do [ -s "$work/users.csv" ] && break; sleep 0.1; done
[ -s "$work/users.csv" ] || { cat "$work/sim.log"; exit 1; }
mapfile -t enterprises < <(awk -F, 'NR > 1 { print $1 }' "$work/users.csv" | sort -u)

api_block() {  # INDENT RATE CONCURRENCY
  cat <<YAML
$1api:
$1  url: http://127.0.0.1:$sim_port/openapi/
$1  username: openapi@291908.bus.ent
$1  password_file: $work/password
$1  application_id: 71c177e5-7417-4265-b97f-4595016dceb8
$1  max_requests_per_second: $2
$1  max_concurrent_requests: $3
YAML
}
# Sweeps are spread over their interval: the first presence and feature sweeps end after one.
common="poll: { server: 60s, presence: 60s, features: 60s, call_logs: 60s }
max_users: $users"

# One account holding everyone.
{
  api_block "" "$rate" 4
  echo "users_file: $work/users.csv"
  echo "enterprises: [$(
    IFS=,
    echo "${enterprises[*]}"
  )]"
  echo "$common"
} >"$work/one.yml"
# One account per enterprise.
{
  echo "accounts:"
  for e in "${enterprises[@]}"; do
    name=${e//./-}
    awk -F, -v e="$e" 'NR == 1 || $1 == e' "$work/users.csv" >"$work/users-$name.csv"
    echo "  - name: $name"
    # One connection each: the simulator serves 64 keep-alive connections at a time (a thread
    # each), and 40 accounts of 4 would queue behind one another.
    api_block "    " "$((rate / accounts))" 1
    echo "    users_file: $work/users-$name.csv"
    echo "    enterprises: [$e]"
  done
  echo "$common"
} >"$work/many.yml"

measure() {  # LABEL CONFIG -> one table row
  local port started
  port=$(free_port)
  "$build/exporter/vpbx_exporter" --config.file="$2" --web.listen-address="127.0.0.1:$port" \
    --log.level=warn >"$work/$1.log" 2>&1 &
  pid=$!
  # This runs in a subshell (read < <(measure ...)): it stops its own exporter.
  trap 'kill "${pid:-}" 2>/dev/null || true' EXIT
  started=$(date +%s)
  # Every account's first presence and feature sweeps done.
  while true; do
    curl -s "http://127.0.0.1:$port/metrics" >"$work/$1.txt" || true
    local pending
    pending=$(grep -cE '^vpbx_collector_last_success_timestamp_seconds\{.*collector="(presence|features)"\} 0$' "$work/$1.txt" || true)
    [ "$pending" -eq 0 ] && grep -q '^vpbx_collector_last_success_timestamp_seconds' "$work/$1.txt" && break
    [ $(($(date +%s) - started)) -gt 900 ] && { echo "$1: sweeps not done after 15 min" >&2; tail "$work/$1.log" >&2; exit 1; }
    sleep 2
  done
  local warmup=$(($(date +%s) - started))
  local url="http://127.0.0.1:$port/metrics"
  read -r _ gzip_p50 gzip_p99 _ gzip_bytes _ < <("$build/bench/vpbx_bench_fetch" "$url" --count=10 --interval-ms=300 --gzip)
  read -r _ plain_p50 plain_p99 _ plain_bytes series < <("$build/bench/vpbx_bench_fetch" "$url" --count=10 --interval-ms=300)
  sleep 1
  local rss peak
  rss=$(awk '/^VmRSS/{print $2}' "/proc/$pid/status")
  peak=$(awk '/^VmHWM/{print $2}' "/proc/$pid/status")
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  echo "$1 $series $rss $peak $gzip_p50 $gzip_p99 $plain_p50 $plain_p99 $plain_bytes $warmup"
}

echo "== $users users: one account, then $accounts accounts" >&2
read -r _ one_series one_rss one_peak one_gz50 one_gz99 one_pl50 one_pl99 one_bytes one_warm < <(measure one "$work/one.yml")
read -r _ many_series many_rss many_peak many_gz50 many_gz99 many_pl50 many_pl99 many_bytes many_warm < <(measure many "$work/many.yml")
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", a / b}'; }

echo
echo "$users users, one exporter, $(nproc) cores, $(date -u +%Y-%m-%d), revision $revision"
echo
echo "| layout | series | RSS MB (peak) | /metrics gzip p50 / p99 ms | plain p50 / p99 ms | plain MB | first sweeps took |"
echo "|---|---|---|---|---|---|---|"
echo "| 1 account | $one_series | $(mb "$one_rss") ($(mb "$one_peak")) | $one_gz50 / $one_gz99 | $one_pl50 / $one_pl99 | $(mb $((one_bytes / 1024))) | ${one_warm} s |"
echo "| $accounts accounts | $many_series | $(mb "$many_rss") ($(mb "$many_peak")) | $many_gz50 / $many_gz99 | $many_pl50 / $many_pl99 | $(mb $((many_bytes / 1024))) | ${many_warm} s |"
echo "| **$accounts accounts ÷ 1** | $(ratio "$many_series" "$one_series") | $(ratio "$many_rss" "$one_rss") ($(ratio "$many_peak" "$one_peak")) | $(ratio "$many_gz50" "$one_gz50") / $(ratio "$many_gz99" "$one_gz99") | $(ratio "$many_pl50" "$one_pl50") / $(ratio "$many_pl99" "$one_pl99") | $(ratio "$many_bytes" "$one_bytes") | |"
