#!/usr/bin/env bash
# `cmake --install` puts the binaries, the example config and the alert rules in place.
set -euo pipefail
build=$1
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix" >/dev/null
for f in bin/vpbx_exporter bin/vpbx_simulator etc/vpbx_exporter/vpbx_exporter.yml \
         share/vpbx_exporter/alerts/vpbx_exporter.rules.yml; do
  [ -e "$prefix/$f" ] || { echo "missing after install: $f"; exit 1; }
done
"$prefix/bin/vpbx_exporter" --version
echo "install layout OK"
