#!/usr/bin/env bash
# `cmake --install` puts the binaries, the example config and the alert rules in place.
set -euo pipefail
build=$1
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix" >/dev/null
for f in bin/vpbx_exporter bin/vpbx_simulator bin/vpbxctl etc/vpbx_exporter/vpbx_exporter.yml \
         share/vpbx_exporter/alerts/vpbx_exporter.rules.yml; do
  [ -e "$prefix/$f" ] || { echo "missing after install: $f"; exit 1; }
done
"$prefix/bin/vpbx_exporter" --version
"$prefix/bin/vpbxctl" --version
"$prefix/bin/vpbx_simulator" --version

# The installed binary serves TLS.
work=$(mktemp -d)
trap 'rm -rf "$prefix" "$work"; [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null || true' EXIT
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/key.pem" -out "$work/cert.pem" -days 1 \
  -subj /CN=localhost 2>/dev/null
printf 'tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n' >"$work/web.yml"
printf 'api:\n  url: http://127.0.0.1:9/openapi/\n  username: u\n  password: p\n  application_id: a\n' \
  >"$work/config.yml"
"$prefix/bin/vpbx_exporter" --config.file="$work/config.yml" \
  --web.config.file="$work/web.yml" --web.listen-address=127.0.0.1:0 >"$work/log" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q "msg=listening" "$work/log" && break; sleep 0.1; done
port=$(sed -n 's/.*msg=listening.* port=\([0-9]*\).*/\1/p' "$work/log" | head -n1)
[ -n "$port" ] || { echo "the installed exporter did not start:"; cat "$work/log"; exit 1; }
curl -sf --cacert "$work/cert.pem" -k "https://127.0.0.1:$port/-/healthy" >/dev/null ||
  { echo "no TLS answer from the installed exporter:"; cat "$work/log"; exit 1; }
echo "install layout OK"
