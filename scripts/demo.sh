#!/usr/bin/env bash
# The demo: builds, starts the VPBX simulator with live traffic, the exporter configured against
# it and, when installed, Prometheus with the shipped rules and Alertmanager with the example
# config (deploy/alertmanager/). Ctrl-C stops everything it started.
# It also writes what vpbxctl and the seed's curl recipes need (.demo/vpbx_exporter.yml,
# .demo/openapi-prod.cnf, .demo/header-api-prod) and prints how to run them.
#   DEMO_USERS=20 DEMO_PORT=9876 scripts/demo.sh
#   DEMO_BUILD_DIR=build-mine DEMO_DIR=/tmp/demo scripts/demo.sh   (another build and demo folder)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh

users=${DEMO_USERS:-8}
exporter_port=${DEMO_PORT:-9876}
simulator_port=${DEMO_SIMULATOR_PORT:-8090}
prometheus_port=${DEMO_PROMETHEUS_PORT:-9090}
alertmanager_port=${DEMO_ALERTMANAGER_PORT:-9093}
alertmanager=$(command -v alertmanager || command -v prometheus-alertmanager || true)
build=$(realpath -m "${DEMO_BUILD_DIR:-build}")
demo=${DEMO_DIR:-$PWD/.demo}
mkdir -p "$demo"
# The simulator starts a new world each time: so does the exporter's state.
rm -f "$demo"/state.json*

cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)" --target vpbx_exporter vpbx_simulator vpbxctl

pids=()
cleanup() {
  trap - INT TERM EXIT
  echo
  echo "stopping the demo"
  # Newest first: the exporter deletes its subscriptions while the simulator still answers.
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill "${pids[i]}" 2>/dev/null || true
    wait "${pids[i]}" 2>/dev/null || true
  done
}
trap cleanup INT TERM EXIT

# Demo-only secrets, shared by the simulator and the exporter through files.
umask 077
echo "demo-password" >"$demo/password"
echo "71c177e5-7417-4265-b97f-4595016dceb8" >"$demo/app_id"
echo "demo-webhook-token-$RANDOM$RANDOM$RANDOM" >"$demo/webhook_token"
# The seed's curl test environment (its two files, same names), for the recipes in docs/vpbxctl.md.
printf 'machine 127.0.0.1 login openapi@291908.bus.ent password %s\n' "$(cat "$demo/password")" \
  >"$demo/openapi-prod.cnf"
printf 'X-C5-Application: %s\nContent-Type: application/json\n' "$(cat "$demo/app_id")" \
  >"$demo/header-api-prod"
umask 022

"$build"/simulator/vpbx_simulator \
  --web.listen-address="127.0.0.1:$simulator_port" --users="$users" \
  --password-file="$demo/password" --application-id="$(cat "$demo/app_id")" \
  --calls-per-second=0.5 --feature-toggles-per-second=0.05 --history-calls=5 \
  --users-csv-out="$demo/users.csv" >"$demo/simulator.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do [ -s "$demo/users.csv" ] && break; sleep 0.1; done

cat >"$demo/vpbx_exporter.yml" <<YAML
api:
  url: http://127.0.0.1:$simulator_port/openapi/
  username: openapi@291908.bus.ent
  password_file: password
  application_id_file: app_id
users_file: users.csv
enterprises: [291908.bus.ent]
poll: { server: 15s, presence: 15s, features: 30s, call_logs: 30s, fallback: 15s }
# The simulator pushes to the exporter's webhook through subscriptions the exporter manages.
webhook:
  token_file: webhook_token
  public_url: http://127.0.0.1:$exporter_port/webhook
subscriptions: { manage: true, ttl: 1h, renew_before: 10m }
state_file: state.json
YAML

"$build"/exporter/vpbx_exporter --config.file="$demo/vpbx_exporter.yml" \
  --web.listen-address="127.0.0.1:$exporter_port" >"$demo/exporter.log" 2>&1 &
pids+=($!)

if [ -n "$alertmanager" ]; then
  # The example config; its webhook receivers (127.0.0.1:5001) are placeholders, so delivery
  # errors in .demo/alertmanager.log are expected: look at the alerts in its UI.
  "$alertmanager" --config.file="$PWD/deploy/alertmanager/alertmanager.yml" \
    --storage.path="$demo/alertmanager-data" --cluster.listen-address= \
    --web.listen-address="127.0.0.1:$alertmanager_port" >"$demo/alertmanager.log" 2>&1 &
  pids+=($!)
fi

if command -v prometheus >/dev/null; then
  rules=$(ls "$PWD"/alerts/*.yml 2>/dev/null | sed 's/^/  - /' || true)
  alerting=""
  [ -n "$alertmanager" ] &&
    alerting="alerting: { alertmanagers: [{ static_configs: [{ targets: [\"127.0.0.1:$alertmanager_port\"] }] }] }"
  cat >"$demo/prometheus.yml" <<YAML
global: { scrape_interval: 15s, evaluation_interval: 15s }
rule_files:
${rules:-  []}
$alerting
scrape_configs:
  - job_name: vpbx
    static_configs: [{ targets: ["127.0.0.1:$exporter_port"] }]
YAML
  prometheus --config.file="$demo/prometheus.yml" --storage.tsdb.path="$demo/prometheus-data" \
    --web.listen-address="127.0.0.1:$prometheus_port" >"$demo/prometheus.log" 2>&1 &
  pids+=($!)
fi

sleep 1
cat <<TXT

vpbx_exporter demo is running ($users simulated users, logs in $demo/):
  exporter:    http://127.0.0.1:$exporter_port/         (metrics: /metrics)
  simulator:   http://127.0.0.1:$simulator_port/_sim/truth   (the ground truth)
TXT
command -v prometheus >/dev/null &&
  echo "  prometheus:  http://127.0.0.1:$prometheus_port/graph?g0.expr=vpbx_up   (alerts: /alerts)"
[ -n "$alertmanager" ] &&
  echo "  alertmanager: http://127.0.0.1:$alertmanager_port/#/alerts"
echo "  dashboards:  dashboards/*.json (import into Grafana, or provision with deploy/grafana/)"
cat <<TXT
vpbxctl and the seed's curl recipes (docs/vpbxctl.md), in another shell:
  cd $demo && export PATH="$build/ctl:\$PATH" API=http://127.0.0.1:$simulator_port/openapi
  vpbxctl users
TXT
echo "Press Ctrl-C to stop."
wait -n "${pids[@]}" || true
echo "a demo process exited; see $demo/*.log"
