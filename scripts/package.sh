#!/usr/bin/env bash
# Builds the Debian packages (packaging/packaging.cmake) from a Release build in build-package/:
#   prometheus-vpbx-exporter_<version>_<arch>.deb   vpbx_exporter, vpbxctl, unit, config, user
#   vpbx-simulator_<version>_<arch>.deb             the API's stand-in, for labs and tests
# with the binaries' man pages (help2man, from their --help).
#   scripts/package.sh [OUTPUT_DIR]        (default: build-package/packages)
# Set the Maintainer field with VPBX_DEB_MAINTAINER="Name <mail>".
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(realpath -m "${1:-build-package/packages}")
# The man pages are made by help2man at build time; without it the packages would lack them.
command -v help2man >/dev/null ||
  { echo "package.sh: help2man is missing (scripts/install-deps.sh installs it)" >&2; exit 1; }
build="build-package"
args=(-DCMAKE_BUILD_TYPE=Release -DVPBX_BUILD_TESTS=OFF -DVPBX_BUILD_BENCH=OFF)
# Unset, the default applies again (a value from an earlier run must not stay in the cache).
if [ -n "${VPBX_DEB_MAINTAINER:-}" ]; then
  args+=("-DVPBX_DEB_MAINTAINER=$VPBX_DEB_MAINTAINER")
else
  args+=(-UVPBX_DEB_MAINTAINER)
fi
command -v ccache >/dev/null && args+=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
cmake -S . -B "$build" "${args[@]}" >/dev/null
cmake --build "$build" -j"$(nproc)"
mkdir -p "$out"
(cd "$build" && cpack -G DEB -B "$out" >cpack.log 2>&1) || { cat "$build/cpack.log"; exit 1; }
rm -rf "$out/_CPack_Packages"
ls -1 "$out"/*.deb
