#!/usr/bin/env bash
# Issue 14's accounts figure: the same USERS users polled by one exporter process, once as ACCOUNTS
# accounts of USERS/ACCOUNTS users each (one enterprise each) and once as one account holding them
# all, against one simulator; the same intervals and the same total API rate. Both exporters run
# side by side, so the machine's noise falls on both alike. After every account's first presence
# and feature sweeps, ROUNDS rounds of one gzip and one plain /metrics from each (the order
# alternating), 300 ms apart: the p50 time, the scraping threads' CPU per scrape, the RSS after
# each round (median; the peak is VmHWM), threads, and the whole process's CPU meanwhile. The
# overhead of accounts is the ratio of the two, also taken round by round (each round's scrapes
# are a second apart, so the machine's noise falls on both alike).
#   bench/accounts.sh [BUILD_DIR]   (default: build-bench, as bench/run.sh builds it)
#   USERS=10000 ACCOUNTS=40 ROUNDS=31
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-bench}
users=${USERS:-10000}
accounts=${ACCOUNTS:-40}
rounds=${ROUNDS:-31}
rate=1000  # API requests per second, in all
source bench/lib.sh accounts
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

# Per layout (one, many): pid, port, and the figures, as v[LAYOUT,NAME].
declare -A v
start() {  # LAYOUT CONFIG
  local port
  port=$(free_port)
  "$build/exporter/vpbx_exporter" --config.file="$2" --web.listen-address="127.0.0.1:$port" \
    --log.level=warn >"$work/$1.log" 2>&1 &
  pids+=($!)
  v[$1,pid]=$!
  v[$1,port]=$port
}
warm() {  # LAYOUT: waits for every account's first presence and feature sweeps
  local started=$SECONDS pending
  while true; do
    curl -s "http://127.0.0.1:${v[$1,port]}/metrics" >"$work/$1.txt" || true
    pending=$(grep -cE '^vpbx_collector_last_success_timestamp_seconds\{.*collector="(presence|features)"\} 0$' "$work/$1.txt" || true)
    [ "$pending" -eq 0 ] && grep -q '^vpbx_collector_last_success_timestamp_seconds' "$work/$1.txt" && break
    [ $((SECONDS - started)) -gt 900 ] && { echo "$1: sweeps not done after 15 min" >&2; tail "$work/$1.log" >&2; exit 1; }
    sleep 2
  done
}
# CPU time (ns, from schedstat) of the threads that render /metrics: the scrape's own cost,
# whatever the pollers do meanwhile.
render_ns() {  # PID
  local total=0 task
  for task in /proc/"$1"/task/*; do
    case $(cat "$task/comm" 2>/dev/null) in
      http-scrape | http-worker) total=$((total + $(cut -d' ' -f1 "$task/schedstat"))) ;;
    esac
  done
  echo "$total"
}
# CPU ticks (10 ms) of the whole process, every thread's: pollers, pacers, scrapes.
process_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
median() { sort -g | awk '{x[NR] = $1} END {print (NR % 2) ? x[(NR + 1) / 2] : (x[NR / 2] + x[NR / 2 + 1]) / 2}'; }
# p25–p75 of a column of numbers.
quartiles() { sort -g | awk '{x[NR] = $1} END {printf "%.2f–%.2f", x[int((NR + 3) / 4)], x[int((3 * NR + 3) / 4)]}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", a / b}'; }

echo "== $users users: one account and $accounts accounts, side by side" >&2
start one "$work/one.yml"
start many "$work/many.yml"
started=$SECONDS
for layout in one many; do
  warm "$layout"  # the second may be done already: its time is then the first's
  v[$layout,warm]=$((SECONDS - started))
  v[$layout,ticks0]=$(process_ticks "${v[$layout,pid]}")
done
rounds_started=$(date +%s.%N)
echo "   both warm; $rounds rounds of scrapes" >&2
# One line per round and layout: gzip ms, plain ms, render CPU ms (gzip + plain), RSS KB after.
: >"$work/one.rounds"
: >"$work/many.rounds"
for ((round = 0; round < rounds; round++)); do
  order="one many"
  ((round % 2)) && order="many one"
  for layout in $order; do
    url="http://127.0.0.1:${v[$layout,port]}/metrics"
    before=$(render_ns "${v[$layout,pid]}")
    read -r _ gzip_ms _ _ bytes _ < <("$build/bench/vpbx_bench_fetch" "$url" --count=1 --gzip)
    read -r _ plain_ms _ _ bytes series < <("$build/bench/vpbx_bench_fetch" "$url" --count=1)
    cpu_ms=$(awk -v a="$before" -v b="$(render_ns "${v[$layout,pid]}")" 'BEGIN{printf "%.1f", (b - a) / 1e6}')
    rss_kb=$(awk '/^VmRSS/{print $2}' "/proc/${v[$layout,pid]}/status")
    echo "$gzip_ms $plain_ms $cpu_ms $rss_kb" >>"$work/$layout.rounds"
    v[$layout,bytes]=$bytes
    v[$layout,series]=$series
    sleep 0.3
  done
done
seconds=$(awk -v s="$rounds_started" -v e="$(date +%s.%N)" 'BEGIN{print e - s}')
# Per round, many accounts ÷ one: the round's scrapes of both are a second apart, so the
# machine's noise falls on both.
paste -d' ' "$work/many.rounds" "$work/one.rounds" |
  awk '{printf "%.4f %.4f %.4f %.4f\n", $1 / $5, $2 / $6, $3 / $7, $4 / $8}' >"$work/ratios"
for layout in one many; do
  status=/proc/${v[$layout,pid]}/status
  v[$layout,rss]=$(cut -d' ' -f4 "$work/$layout.rounds" | median)  # after each round's scrapes
  v[$layout,peak]=$(awk '/^VmHWM/{print $2}' "$status")
  v[$layout,threads]=$(awk '/^Threads/{print $2}' "$status")
  v[$layout,gzip]=$(cut -d' ' -f1 "$work/$layout.rounds" | median)
  v[$layout,plain]=$(cut -d' ' -f2 "$work/$layout.rounds" | median)
  v[$layout,cpu]=$(cut -d' ' -f3 "$work/$layout.rounds" | median)
  # The whole process's CPU while the rounds ran, as a share of one core.
  v[$layout,process]=$(awk -v t="$(($(process_ticks "${v[$layout,pid]}") - v[$layout,ticks0]))" \
    -v s="$seconds" 'BEGIN{printf "%.1f", t / s}')
done
for column in 1 2 3 4; do
  v[spread,$column]=$(cut -d' ' -f"$column" "$work/ratios" | quartiles)
  v[paired,$column]=$(cut -d' ' -f"$column" "$work/ratios" | median | awk '{printf "%.2f", $1}')
done

row() {  # LAYOUT NAME
  local l=$1
  echo "| $2 | ${v[$l,series]} | ${v[$l,threads]} | $(mb "${v[$l,rss]}") ($(mb "${v[$l,peak]}")) | ${v[$l,gzip]} | ${v[$l,plain]} | ${v[$l,cpu]} | ${v[$l,process]} % | $(mb $((v[$l,bytes] / 1024))) | ${v[$l,warm]} s |"
}
of() { ratio "${v[many,$1]}" "${v[one,$1]}"; }
echo
echo "$users users, one exporter each, side by side, $(nproc) cores, $(date -u +%Y-%m-%d), revision $revision; medians of $rounds rounds"
echo
echo "| layout | series | threads | RSS MB, median (peak) | /metrics gzip p50 ms | plain p50 ms | render CPU per gzip + plain, ms | process CPU, % of a core | plain MB | first sweeps took |"
echo "|---|---|---|---|---|---|---|---|---|---|"
row one "1 account"
row many "$accounts accounts"
echo "| **$accounts accounts ÷ 1** | $(of series) | $(of threads) | $(of rss) ($(of peak)) | $(of gzip) | $(of plain) | $(of cpu) | $(of process) | $(of bytes) | |"
echo "| **the same, median of each round's ratio (p25–p75)** | | | ${v[paired,4]} (${v[spread,4]}) | ${v[paired,1]} (${v[spread,1]}) | ${v[paired,2]} (${v[spread,2]}) | ${v[paired,3]} (${v[spread,3]}) | | | |"
