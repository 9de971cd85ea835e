#!/usr/bin/env bash
# ctest entry of the end-to-end test (tests/e2e/e2e.py): simulator -> exporter -> Prometheus ->
# Alertmanager, every dashboard query, the DND and API-down alerts. Exit 77 (skipped) only where
# prometheus, promtool or alertmanager are not installed (Debian: prometheus, prometheus-alertmanager).
#   tests/e2e/run_e2e.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
if ! command -v python3 >/dev/null; then
  echo "FAILED: python3 not found"
  exit 1
fi
exec python3 "$(dirname "$0")/e2e.py" "$@"
