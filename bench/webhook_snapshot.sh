#!/usr/bin/env bash
# Webhook latency while the state file's periodic snapshot runs (issue 15), for one or more
# exporter binaries side by side. Each binary runs twice, with and without state_file, each time
# as a fresh process: wrk fills the store with remembered call-log ids (PREFILL_SECONDS at 8
# connections, a new id per push, as in bench/run.sh), then the measured run (RUN_SECONDS, 8
# connections) is started so that the first periodic snapshot (30 s after start) falls inside
# it. The state file's mtime shows when the snapshot was written; a row without one inside the
# run is marked. Loopback only; prints one Markdown table row per run.
#
#   bench/webhook_snapshot.sh before=/path/to/vpbx_exporter after=build-snap/exporter/vpbx_exporter
#
# Targets are ratios (these machines are shared and noisy) and are reported, never asserted.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PREFILL_SECONDS=${PREFILL_SECONDS:-5}
RUN_SECONDS=${RUN_SECONDS:-6}
SNAPSHOT_AT=30 # PersistenceOptions::snapshot_interval
CONNECTIONS=8
TOKEN=bench-token-0123456789abcdef
PUSH_BODY=$ROOT/tests/data/api/push_call_log.json
WORK=$(mktemp -d "${TMPDIR:-/tmp}/vpbx-snapshot-bench.XXXXXX")
PID=""

cleanup() {
  if [ -n "$PID" ]; then
    kill "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
die() { echo "bench: $*" >&2; exit 1; }
[ $# -gt 0 ] || die "usage: $0 LABEL=EXPORTER..."
for tool in wrk curl python3; do command -v "$tool" >/dev/null || die "$tool is missing"; done

now() { date +%s.%N; }
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<" $2"; }
metric() { awk -v key="$2" 'index($0, key " ") == 1 { print $NF; exit }' "$1"; }
run_tag=0
wrk_run() { # URL SECONDS
  run_tag=$((run_tag + 1))
  wrk -t2 -c"$CONNECTIONS" -d"$2s" --latency -s "$ROOT/bench/webhook.lua" "$1" \
    -- "$PUSH_BODY" "$(printf '%08x' "$run_tag")" | grep '^RESULT' || die "wrk failed on $1"
}

echo "| exporter | state_file | requests/s | p50 ms | p99 ms | ids at the snapshot | snapshot written at | events |"
echo "|---|---|---|---|---|---|---|---|"
for spec in "$@"; do
  label=${spec%%=*}
  exporter=${spec#*=}
  [ -x "$exporter" ] || die "$exporter is not an executable"
  for mode in durable memory; do
    dir=$WORK/$label-$mode
    mkdir -p "$dir"
    cat >"$dir/vpbx_exporter.yml" <<EOF
api:
  url: http://127.0.0.1:9/openapi/
  username: bench
  password: bench
  application_id: bench
poll: { server: 0, presence: 0, features: 0, call_logs: 0 }
webhook:
  token: $TOKEN
$([ "$mode" = durable ] && echo "state_file: state.json")
EOF
    port=$(free_port)
    url=http://127.0.0.1:$port
    "$exporter" --config.file="$dir/vpbx_exporter.yml" --web.listen-address="127.0.0.1:$port" \
      --log.level=warn >"$dir/out" 2>"$dir/err" &
    PID=$!
    for _ in $(seq 1 300); do curl -fs -o /dev/null "$url/-/healthy" && break; sleep 0.1; done
    started=$(now) # the writer thread starts just before the listener: snapshots at +30 s, +60 s
    wrk_run "$url/webhook/$TOKEN" "$PREFILL_SECONDS" >/dev/null
    sleep 1
    curl -fs "$url/metrics" >"$dir/before.txt"
    # The measured run starts half a run before the snapshot is due.
    wait_s=$(awk -v s="$started" -v n="$(now)" -v at=$SNAPSHOT_AT -v r="$RUN_SECONDS" \
      'BEGIN{w = s + at - r / 2 - n; print (w > 0 ? w : 0)}')
    sleep "$wait_s"
    run_start=$(now)
    result=$(wrk_run "$url/webhook/$TOKEN" "$RUN_SECONDS")
    run_end=$(now)
    sleep 1 # the journal commits every 20 ms; counters show what is fsynced
    curl -fs "$url/metrics" >"$dir/after.txt"
    snapshot="none (no state_file)"
    ids="-"
    if [ "$mode" = durable ]; then
      IFS=$'\t' read -r snapshot ids < <(python3 - "$dir/state.json" "$run_start" "$run_end" <<'PY'
import json, os, sys
path, start, end = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
mtime = os.path.getmtime(path)
ids = len(json.load(open(path))["seen_call_logs"])
where = "+%.1f s of the run" % (mtime - start) if start <= mtime <= end else "**outside the run**"
print(where + "\t" + str(ids))
PY
      )
    fi
    kill "$PID"
    wait "$PID" 2>/dev/null || true
    PID=""
    counted=$(($(metric "$dir/after.txt" 'vpbx_call_logs_received_total{source="push",outcome="counted"}') - \
      $(metric "$dir/before.txt" 'vpbx_call_logs_received_total{source="push",outcome="counted"}')))
    answered=$(($(metric "$dir/after.txt" 'vpbx_webhook_requests_total{code="200"}') - \
      $(metric "$dir/before.txt" 'vpbx_webhook_requests_total{code="200"}')))
    check=$([ "$counted" -eq "$answered" ] && [ "$(field refused "$result")" -eq 0 ] && echo ok || echo MISMATCH)
    echo "| $label | $([ "$mode" = durable ] && echo on || echo off) | $(field rps "$result") | $(field p50_ms "$result") | $(field p99_ms "$result") | $ids | $snapshot | answered 200 $answered, counted $counted: $check |"
  done
done
