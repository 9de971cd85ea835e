#!/usr/bin/env bash
# promtool check rules + promtool test rules on every shipped rule file (alerts/, deploy/scale-out/); static checks of the
# dashboards; promtool / amtool check the example configs in deploy/. Exit 77 (skipped) only
# where promtool is absent; .ci/run installs it.
set -euo pipefail
src=$1
python3 "$src"/tests/e2e/lint_dashboards.py "$src"
if ! command -v promtool >/dev/null; then
  echo "SKIPPED: promtool not found (Debian package 'prometheus')"
  exit 77
fi
promtool check rules "$src"/alerts/*.yml
for t in "$src"/alerts/tests/*.yml; do promtool test rules "$t"; done
promtool check config --syntax-only "$src"/deploy/prometheus/prometheus.yml
# Scale-out: the sums across shards, and the Prometheus config that loads them.
promtool check rules "$src"/deploy/scale-out/*.rules.yml
for t in "$src"/deploy/scale-out/tests/*.yml; do promtool test rules "$t"; done
promtool check config "$src"/deploy/scale-out/prometheus.yml
if command -v amtool >/dev/null; then
  amtool check-config "$src"/deploy/alertmanager/alertmanager.yml
else
  echo "amtool not found (Debian package 'prometheus-alertmanager'): alertmanager.yml not checked"
fi
