#!/usr/bin/env bash
# Installs the Debian packages the build, the tests and the demo need. Idempotent: when every
# package is already installed it does nothing (no root needed then).
set -euo pipefail

packages=(
  build-essential cmake pkg-config git ca-certificates curl openssl
  prometheus-cpp-dev libcivetweb-dev rapidjson-dev libcurl4-openssl-dev libyaml-cpp-dev
  catch2 zlib1g-dev libcrypt-dev libssl-dev
  prometheus prometheus-alertmanager wrk
  prometheus-pushgateway libbenchmark-dev python3 python3-prometheus-client
  clang-14 libfuzzer-14-dev libclang-rt-14-dev ccache
  lintian help2man
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing: ${missing[*]}" >&2
sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
"${sudo_cmd[@]}" apt-get update
DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
