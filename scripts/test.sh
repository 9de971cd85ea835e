#!/usr/bin/env bash
# Builds from scratch and runs every test: the normal build, then the suite again under
# AddressSanitizer+UndefinedBehaviorSanitizer and under ThreadSanitizer.
#   scripts/test.sh            all three
#   VPBX_SANITIZERS="" scripts/test.sh   the normal build only
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh

jobs=$(nproc)
run_suite() {
  local dir=$1; shift
  cmake -S . -B "$dir" "$@" >/dev/null
  cmake --build "$dir" -j"$jobs"
  (cd "$dir" && ctest --output-on-failure -j"$jobs")
}

echo "== build and test (RelWithDebInfo) =="
run_suite build -DCMAKE_BUILD_TYPE=RelWithDebInfo

for sanitizer in ${VPBX_SANITIZERS-address thread}; do
  echo "== build and test under the '$sanitizer' sanitizer =="
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1
  run_suite "build-$sanitizer" -DCMAKE_BUILD_TYPE=Debug -DVPBX_SANITIZE="$sanitizer" -DVPBX_BUILD_BENCH=OFF
done
