#!/usr/bin/env bash
# Steady-state API use of the whole exporter with push healthy, in compressed time.
# The recommended intervals of docs/subscriptions.md (presence and features 1h, call logs 30m,
# fallback 60s, system 60s, subscriptions ttl 24h / renew_before 2h) divided by SCALE, against the
# simulator with live traffic and pushes; API requests counted by the simulator over a measured
# window, then scaled back to requests per user per hour.
#   bench/api_use.sh [BUILD_DIR]      (default: build)   SCALE=120 USERS=100 WINDOW=120
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
scale=${SCALE:-120}
users=${USERS:-100}
window=${WINDOW:-120}
source bench/lib.sh api-use
ms() { echo "$(( $1 * 1000 / scale ))ms"; }
sim_port=$(free_port)
exp_port=$(free_port)
echo "sim-password" >"$work/password"
echo "api-use-token-$RANDOM$RANDOM$RANDOM" >"$work/token"

"$build/simulator/vpbx_simulator" --web.listen-address="127.0.0.1:$sim_port" --users="$users" \
  --password-file="$work/password" --calls-per-second=2 --feature-toggles-per-second=0.2 \
  --users-csv-out="$work/users.csv" >"$work/sim.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -s "$work/users.csv" ] && break; sleep 0.1; done

cat >"$work/config.yml" <<YAML
api:
  url: http://127.0.0.1:$sim_port/openapi/
  username: openapi@291908.bus.ent
  password_file: password
  application_id: 71c177e5-7417-4265-b97f-4595016dceb8
  max_requests_per_second: 500
users_file: users.csv
enterprises: [291908.bus.ent]
poll: { server: $(ms 60), presence: $(ms 3600), features: $(ms 3600), call_logs: $(ms 1800), fallback: $(ms 60) }
webhook: { token_file: token, public_url: "http://127.0.0.1:$exp_port/webhook" }
subscriptions: { manage: true, ttl: $(ms 86400), renew_before: $(ms 7200) }
YAML
"$build/exporter/vpbx_exporter" --config.file="$work/config.yml" \
  --web.listen-address="127.0.0.1:$exp_port" --log.level=warn >"$work/exporter.log" 2>&1 &
pids+=($!)

# Warm-up: subscriptions created, first sweeps done, push healthy.
sleep $(( 3600 / scale + 5 ))
healthy=$(curl -s "http://127.0.0.1:$exp_port/metrics" | grep -c '^vpbx_push_healthy{.*} 1$' || true)
curl -s -X DELETE "http://127.0.0.1:$sim_port/_sim/stats" >/dev/null
sleep "$window"
stats=$(curl -s "http://127.0.0.1:$sim_port/_sim/stats")
python3 - "$stats" "$users" "$window" "$scale" "$healthy" <<'PY'
import json, sys
stats, users, window, scale, healthy = json.loads(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
hours = window * scale / 3600
total = stats["apiRequests"]
print(f"push healthy for {healthy}/3 types; {users} users; {window:.0f} s measured = {hours:.1f} h at 1/{scale:.0f} time")
for route, n in sorted(stats["requestsByRoute"].items()):
    print(f"  {route:45s} {n:6d}  {n / hours:8.1f}/h  {n / hours / users:6.2f}/user/h")
print(f"all API requests: {total / hours:.1f} per hour, {total / hours / users:.2f} per user per hour")
PY
