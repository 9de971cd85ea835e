#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/, clang-14, ASan+UBSan) in build-fuzz/ and runs each for
# SECONDS (default 60), one after the other, then prints executions/s and coverage per target.
#   scripts/fuzz.sh [SECONDS]
#   FUZZ_TARGETS="push_body api_responses" scripts/fuzz.sh 600   only these
# Each target starts from fuzz/corpus/<target> and fuzz/regressions/<target> (read only) and a
# working corpus in build-fuzz/fuzz-work/<target>/corpus that grows from run to run; the
# repository is never written. Exits non-zero when any target crashed, leaked, timed out or broke
# an invariant; the input that did it stays in build-fuzz/fuzz-work/<target>/ (crash-*,
# leak-*, timeout-*, oom-*) and its log next to it.
set -euo pipefail
cd "$(dirname "$0")/.."

duration=${1:-60}
[[ "$duration" =~ ^[0-9]+$ ]] || { echo "usage: $0 [SECONDS]" >&2; exit 2; }
build=build-fuzz
jobs=${FUZZ_JOBS:-2}
all_targets="push_body api_responses state_file journal config users_csv web_config duration
network forwarded_for http_request"
targets=${FUZZ_TARGETS:-$all_targets}

# Longest input per target: a little above the largest real one, so that time goes to structure.
max_len() {
  case $1 in
    push_body | api_responses | state_file) echo 16384 ;;
    config | journal | http_request) echo 8192 ;;
    users_csv | web_config) echo 4096 ;;
    forwarded_for) echo 512 ;;
    duration | network) echo 64 ;;
    *) echo 4096 ;;
  esac
}
dict() {
  case $1 in
    push_body | api_responses | state_file) echo fuzz/json.dict ;;
    config | web_config) echo fuzz/config.dict ;;
    http_request) echo fuzz/http.dict ;;
  esac
}

launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
if [ ! -f "$build/CMakeCache.txt" ]; then
  CXX=${CXX:-clang++-14} cmake -S . -B "$build" -DVPBX_FUZZ=ON -DVPBX_BUILD_TESTS=OFF \
    -DVPBX_BUILD_BENCH=OFF "${launcher[@]}" >/dev/null
fi
build_targets=()
for t in $targets; do build_targets+=("fuzz_$t"); done
cmake --build "$build" -j"$jobs" --target "${build_targets[@]}"

# UBSan's options (halt, stack traces, fuzz/ubsan.supp) are built into the targets.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}

failed=()
report=()
for t in $targets; do
  work=$build/fuzz-work/$t
  mkdir -p "$work/corpus"
  seeds=("fuzz/corpus/$t")
  [ -d "fuzz/regressions/$t" ] && seeds+=("fuzz/regressions/$t")
  options=(-max_total_time="$duration" -max_len="$(max_len "$t")" -timeout=10 -rss_limit_mb=2048
           -print_final_stats=1 -artifact_prefix="$work/")
  d=$(dict "$t")
  [ -n "$d" ] && options+=(-dict="$d")
  echo "== fuzz_$t for ${duration}s" >&2
  rc=0
  "$build/fuzz/fuzz_$t" "${options[@]}" "$work/corpus" "${seeds[@]}" >"$work/log" 2>&1 || rc=$?
  # The last status line ("#N ... cov: C ft: F corp: U/S ... exec/s: E") and the final stats.
  last=$(grep -E '^#[0-9]+.*cov: ' "$work/log" | tail -n 1 || true)
  cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$last")
  ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$last")
  corp=$(sed -nE 's/.* corp: ([0-9]+\/[0-9]+[a-zA-Z]*).*/\1/p' <<<"$last")
  runs=$(sed -nE 's/^stat::number_of_executed_units: ([0-9]+)/\1/p' "$work/log")
  eps=$(sed -nE 's/^stat::average_exec_per_sec: +([0-9]+)/\1/p' "$work/log")
  status=ok
  if [ "$rc" -ne 0 ]; then
    status="FAILED (exit $rc)"
    failed+=("$t")
    grep -E '^(==[0-9]+==ERROR|SUMMARY|==fuzz invariant broken==|.*runtime error:)' "$work/log" |
      head -n 5 >&2 || true
    ls "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-* 2>/dev/null | sed 's/^/  kept: /' >&2 || true
    echo "  log: $work/log" >&2
  fi
  report+=("$(printf '%-14s %6ss %10s runs %7s exec/s  cov %5s  ft %6s  corpus %-12s %s' \
    "$t" "$duration" "${runs:-?}" "${eps:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$status")")
done

echo
printf '%s\n' "${report[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzzing failed: ${failed[*]}" >&2
  exit 1
fi
