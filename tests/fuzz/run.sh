#!/usr/bin/env bash
# make fuzz: builds the libFuzzer targets of tests/fuzz with clang-14 and
# ASan + UBSan in build-fuzz, replays every seed corpus (ctest), then fuzzes
# each target for SECONDS on a copy of its seed corpus (new inputs stay in
# build-fuzz/fuzz-run, never in the repository) and prints a summary.
# Fails if a target crashes, leaks, hangs or breaks a property it checks.
#
#   tests/fuzz/run.sh [SECONDS] [TARGET...]     default: 60 s, every target
set -uo pipefail

seconds=${1:-60}
shift $(( $# > 0 ? 1 : 0 ))
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$root/build-fuzz
work=$build/fuzz-run
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for d in "$root"/tests/fuzz/corpus/*/; do targets+=("$(basename "$d")"); done
fi

echo "== configure and build (clang-14, -fsanitize=fuzzer,address,undefined) in $build"
mkdir -p "$build"
CC=clang-14 CXX=clang++-14 cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DGATEHOUSE_FUZZ=ON >"$build/configure.log" 2>&1 || { cat "$build/configure.log"; exit 1; }
cmake --build "$build" -j"${JOBS:-$(nproc)}" --target fuzz_targets || exit 1
echo "== configured and built in $SECONDS s"

echo "== seed corpora (every input once, crash regressions included)"
(cd "$build" && ctest -L fuzz --output-on-failure) || exit 1

export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
rm -rf "$work"
failed=0
rows=()
for t in "${targets[@]}"; do
  bin=$build/tests/fuzz/fuzz_$t
  [ -x "$bin" ] || { echo "no fuzz target '$t'"; exit 1; }
  mkdir -p "$work/$t"
  cp -r "$root/tests/fuzz/corpus/$t" "$work/$t/corpus"
  dict=()
  [ -f "$root/tests/fuzz/$t.dict" ] && dict=(-dict="$root/tests/fuzz/$t.dict")
  echo "== fuzz_$t for ${seconds}s"
  "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$work/$t/" "${dict[@]}" "$work/$t/corpus" >"$work/$t/log" 2>&1
  rc=$?
  # Executions: libFuzzer's final stats, or the last status line if it died.
  execs=$(awk '/^stat::number_of_executed_units:/ {print $2}' "$work/$t/log")
  [ -n "$execs" ] || execs=$(grep -oE '^#[0-9]+' "$work/$t/log" | tail -1 | tr -d '#')
  rate=$(awk '/^stat::average_exec_per_sec:/ {print $2}' "$work/$t/log")
  grep -E "^#[0-9]+[[:space:]]+DONE" "$work/$t/log" || true
  if [ $rc -eq 0 ]; then
    result=ok
  else
    failed=1
    result="FAILED (exit $rc)"
    grep -E 'ERROR: |runtime error|fuzz property failed|Test unit written to' "$work/$t/log" | head -5
    echo "   full log: $work/$t/log"
  fi
  rows+=("$(printf '%-15s %7s %13s %9s  %s' "$t" "$seconds" "${execs:-?}" "${rate:-?}" "$result")")
done

echo
printf '%-15s %7s %13s %9s  %s\n' target seconds executions exec/s result
for r in "${rows[@]}"; do echo "$r"; done
exit $failed
