#!/usr/bin/env bash
# Builds the libFuzzer target over Baton's request decoding (Fuzz/BatonFuzz, entry point
# Fuzz/BatonFuzz/RequestDecodingFuzz.swift) with -sanitize=fuzzer,address in its
# own scratch path, and runs it from the committed corpus (Fuzz/corpus, read only; new
# inputs go to .local/fuzz/corpus). Prints the executions and exits non-zero on a crash.
#   chaos/fuzz.sh                 60 s
#   chaos/fuzz.sh --runs 1000000  at least a million executions (make chaos)
#   chaos/fuzz.sh --time 600
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
seconds=60
runs=0
while [ $# -gt 0 ]; do
    case $1 in
        --time) seconds=$2; shift 2 ;;
        --runs) runs=$2; seconds=0; shift 2 ;;
        *) echo "usage: $0 [--time SECONDS | --runs N]" >&2; exit 2 ;;
    esac
done

printf '==> building the fuzz target (.build-fuzz)\n' >&2
mkdir -p .local/fuzz
# lld: gold crashes (format_file_lineno) while linking the release ASan build.
if ! swift build --scratch-path .build-fuzz -c release --product BatonFuzz \
        -Xswiftc -sanitize=fuzzer,address -Xswiftc -DBATON_LIBFUZZER \
        -Xswiftc -enable-experimental-feature -Xswiftc Extern -Xswiftc -use-ld=lld >.local/fuzz/build.log 2>&1; then
    grep -E 'error' .local/fuzz/build.log | head -n 20 >&2
    echo "fuzz build failed (log: .local/fuzz/build.log)" >&2
    exit 1
fi
bin=$(swift build --scratch-path .build-fuzz -c release --show-bin-path)/BatonFuzz

work=$root/.local/fuzz
mkdir -p "$work/corpus" "$work/artifacts"
log=$work/fuzz-$(date +%Y%m%d-%H%M%S).log
args=(-dict="$root/Fuzz/baton.dict" -max_len=4096 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
      -artifact_prefix="$work/artifacts/")
if [ "$runs" -gt 0 ]; then args+=(-runs="$runs"); else args+=(-max_total_time="$seconds"); fi
printf '==> fuzzing (%s); log %s\n' "$([ "$runs" -gt 0 ] && echo "$runs executions" || echo "$seconds s")" "$log" >&2
status=0
# The Swift backtracer and AddressSanitizer both want the crash: let the sanitizer have it.
SWIFT_BACKTRACE=enable=no ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
    "$bin" "${args[@]}" "$work/corpus" "$root/Fuzz/corpus" >"$log" 2>&1 || status=$?
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -n 1 || true)
printf 'fuzz: executions=%s exec/s=%s %s corpus=%s crashes=%s\n' "${execs:-?}" "${rate:-?}" "${cov:-}" \
    "$(find "$work/corpus" -type f | wc -l)" "$(find "$work/artifacts" -type f | wc -l)"
if [ "$status" -ne 0 ]; then
    grep -E 'RequestDecodingFuzz|ERROR|Fatal|SUMMARY' "$log" | head -n 20 >&2
    echo "fuzz: FAILED (exit $status); inputs in $work/artifacts" >&2
    exit 1
fi
