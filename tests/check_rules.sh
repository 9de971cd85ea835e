#!/usr/bin/env bash
# promtool check rules + promtool test rules on every shipped rule file. Exit 77 (skipped) only
# where promtool is absent; .ci/run installs it.
set -euo pipefail
src=$1
if ! command -v promtool >/dev/null; then
  echo "SKIPPED: promtool not found (Debian package 'prometheus')"
  exit 77
fi
promtool check rules "$src"/alerts/*.yml
for t in "$src"/alerts/tests/*.yml; do promtool test rules "$t"; done
