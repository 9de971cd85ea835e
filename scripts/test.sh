#!/usr/bin/env bash
# Builds from scratch and runs every test: the normal build, then the suite again under
# AddressSanitizer+UndefinedBehaviorSanitizer and under ThreadSanitizer, then every fuzz target
# for a short smoke run (libFuzzer, clang).
#   scripts/test.sh                        all of it
#   VPBX_SANITIZERS="" scripts/test.sh     the normal build only (no sanitizer suites)
#   VPBX_FUZZ_SECONDS=0 scripts/test.sh    no fuzz smoke (default: 5 s per target)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh

jobs=$(nproc)
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
run_suite() {
  local dir=$1; shift
  cmake -S . -B "$dir" "${launcher[@]}" "$@" >/dev/null
  cmake --build "$dir" -j"$jobs"
  # Sanitizer reports go to files: the tests capture stderr, which would swallow them.
  rm -f "$PWD/$dir"/sanitizer-report.*
  local rc=0
  (cd "$dir" && ctest --output-on-failure -j"$jobs") || rc=$?
  # A skipped test says why in its output, which ctest keeps in its log only: show it here.
  grep -h '^SKIPPED: ' "$dir"/Testing/Temporary/LastTest*.log 2>/dev/null | sort -u || true
  if [ "$rc" != 0 ]; then
    cat "$PWD/$dir"/sanitizer-report.* 2>/dev/null | head -n 300
    return 1
  fi
}

echo "== build and test (RelWithDebInfo) =="
run_suite build -DCMAKE_BUILD_TYPE=RelWithDebInfo

for sanitizer in ${VPBX_SANITIZERS-address thread}; do
  echo "== build and test under the '$sanitizer' sanitizer =="
  report=log_path=$PWD/build-$sanitizer/sanitizer-report
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:$report
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:$report
  export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:$report
  run_suite "build-$sanitizer" -DCMAKE_BUILD_TYPE=Debug -DVPBX_SANITIZE="$sanitizer" -DVPBX_BUILD_BENCH=OFF
done

fuzz_seconds=${VPBX_FUZZ_SECONDS-5}
if [ "$fuzz_seconds" != 0 ]; then
  echo "== fuzz smoke: every target for ${fuzz_seconds}s =="
  # The fuzz build brings its own sanitizer options (fuzz/ubsan.supp), not the suites' ones.
  env -u ASAN_OPTIONS -u UBSAN_OPTIONS -u TSAN_OPTIONS scripts/fuzz.sh "$fuzz_seconds"
fi
