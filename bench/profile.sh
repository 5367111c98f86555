#!/usr/bin/env bash
# Profiles batond's hot path with valgrind's callgrind (instruction counts do not
# depend on machine load, unlike the benchmark's timings): starts Redis and PostgreSQL,
# runs batond under callgrind, warms it up, zeroes the counters, sends a fixed number
# of requests over one keep-alive connection, and prints instructions per request and
# the functions that cost most.
#
#   ./bench/profile.sh [leader|tasks|session|healthz] [COUNT]     (default: leader 2000)
#   ./bench/profile.sh --syscalls [KIND] [COUNT]
#   ./bench/profile.sh --limits        (header and body size limits: bench/limits.py)
#
# --syscalls runs batond natively instead and counts its system calls (all threads) with
# `strace -c -f`, attached after the warm-up and detached after COUNT requests over one
# keep-alive connection: system calls per request by name (poll, read, write, futex...),
# less what batond calls unprompted in one idle second (timers, watchers).
# BENCH_PROFILE_CONNECTIONS=32 counts under wrk load (3 s, 32 connections) instead.
# Both modes end with one machine-readable line (`PROFILE_RESULT ...`) for bench/run.sh.
#
# GLIBC_TUNABLES=glibc.cpu.x86_rep_stosb_threshold=1048576 makes glibc's memset a vector
# loop instead of `rep stosb`, which callgrind counts once per byte (bench/run.sh reports both).
# BENCH_BATOND=PATH profiles that binary instead of .build-bench's release build.
# The callgrind output stays in .local/profile/ for callgrind_annotate or kcachegrind.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/../scripts/lib.sh"
cd "$BATON_ROOT"

mode=callgrind
case "${1:-}" in --syscalls) mode=syscalls; shift ;; --limits) mode=limits; shift ;; esac
kind=${1:-leader}
count=${2:-2000}
if [ "$mode" = syscalls ]; then ensure_packages strace; else ensure_packages valgrind; fi
bin=${BENCH_BATOND:-"$(swift build -c release --static-swift-stdlib --scratch-path .build-bench --show-bin-path)/batond"}
[ -x "$bin" ] || die "no batond at $bin (build it: swift build -c release --static-swift-stdlib --scratch-path .build-bench --product batond)"

out_dir="$BATON_ROOT/.local/profile"
mkdir -p "$out_dir"
work=$(mktemp -d /tmp/baton-profile.XXXXXX)
chmod 755 "$work"
batond_pid=""
strace_pid=""
cleanup() {
    set +e
    if [ -n "$strace_pid" ]; then kill -INT "$strace_pid" 2>/dev/null; wait "$strace_pid" 2>/dev/null; fi
    if [ -n "$batond_pid" ]; then kill -TERM "$batond_pid" 2>/dev/null; wait "$batond_pid" 2>/dev/null; fi
    stop_redis
    stop_postgres
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start_redis "$work/redis"
start_postgres "$work/pg"
seed_jellyfin_db "$PG_URL" jellyfin
db_url=$JELLYFIN_DB_URL

# Valgrind 3.19 cannot read the DWARF 5 debug info of the static Swift runtime: profile a
# copy without debug info (the symbol table stays, so functions keep their names).
cp "$bin" "$work/batond"
strip --strip-debug "$work/batond"
bin="$work/batond"

export BENCH_API_TOKEN=profile-token-0123456789
port=$(free_port)
out="$out_dir/callgrind.$kind.out"
rm -f "$out" "$out".*
cache_ttl=5000
[ "$kind" = session ] && cache_ttl=${BENCH_SESSION_CACHE_TTL_MS:-0}
launcher=(valgrind --tool=callgrind --callgrind-out-file="$out")
[ "$mode" != callgrind ] && launcher=()
(exec env BATON_LISTEN="127.0.0.1:$port" BATON_REDIS_URL="$REDIS_URL" BATON_DATABASE_URL="$db_url" \
    BATON_API_TOKENS="$BENCH_API_TOKEN" BATON_LOG_LEVEL="${BATON_LOG_LEVEL:-warn}" BATON_SESSION_CACHE_TTL_MS="$cache_ttl" \
    ${GLIBC_TUNABLES:+GLIBC_TUNABLES="$GLIBC_TUNABLES"} "${launcher[@]}" "$bin") 2>"$work/batond.log" &
batond_pid=$!
for i in $(seq 1 600); do
    curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
    kill -0 "$batond_pid" 2>/dev/null || { tail -n 20 "$work/batond.log" >&2; die "batond exited"; }
    [ "$i" -eq 600 ] && die "batond did not start"
    sleep 0.1
done
if [ "$mode" = limits ]; then
    python3 bench/limits.py "127.0.0.1:$port" "$BENCH_API_TOKEN"
    exit 0
fi
log "warming up (200 $kind requests)"
python3 bench/client.py "127.0.0.1:$port" "$kind" 200
per_what=request
[ "$kind" = tasks ] && per_what="claim+complete pair"

if [ "$mode" = syscalls ]; then
    # strace_window FILE CMD...: counts batond's system calls (-f with -p attaches every
    # thread of batond) while CMD runs, from attaching to detaching (SIGINT).
    strace_window() {
        local file=$1
        shift
        strace -c -f -q -o "$file" -p "$batond_pid" 2>"$work/strace.err" &
        strace_pid=$!
        sleep 1    # attaching to every thread takes a moment; batond is idle meanwhile
        "$@"
        kill -INT "$strace_pid"
        wait "$strace_pid" 2>/dev/null || true
        strace_pid=""
        [ -s "$file" ] || die "strace wrote no summary (is ptrace allowed? $(cat "$work/strace.err"))"
    }
    # calls_by_name FILE: "name=calls ..." from strace -c's table (% time, seconds,
    # usecs/call, calls, [errors], syscall).
    calls_by_name() { awk '/^-/ || /^% time/ || / total$/ { next } NF >= 5 { printf "%s=%d ", $NF, $4 }' "$1"; }
    threads=$(find "/proc/$batond_pid/task" -mindepth 1 -maxdepth 1 | wc -l)
    # What batond does by itself (timers, the Redis/PostgreSQL watchers) in the second each
    # window waits for strace to attach: subtracted from the requests' window below.
    strace_window "$work/idle.txt" true
    idle=$(calls_by_name "$work/idle.txt")
    log "counting system calls of batond's $threads threads over $count $kind requests"
    t0=$(date +%s%N)
    conns=${BENCH_PROFILE_CONNECTIONS:-1}
    if [ "$conns" -gt 1 ]; then
        # Under load instead: wrk with $conns connections for 3 s (POST /leader only). strace
        # stops every thread at each call, so lock waits (futex) are an upper bound here.
        [ "$kind" = leader ] || die "BENCH_PROFILE_CONNECTIONS is for the leader kind only"
        # shellcheck disable=SC2317  # called through strace_window
        run_load() {
            BENCH_WRK_DIR="$BATON_ROOT/bench/wrk" wrk -t 2 -c "$conns" -d 3s -s bench/wrk/leader.lua \
                "http://127.0.0.1:$port/leader" >"$work/wrk.txt"
        }
        strace_window "$work/strace.txt" run_load
        count=$(sed -nE 's/^WRK_RESULT requests=([0-9]+).*/\1/p' "$work/wrk.txt")
        if [ -z "$count" ] || [ "$count" -eq 0 ]; then die "wrk printed no result: $(cat "$work/wrk.txt")"; fi
        kind="leader-c$conns"
    else
        strace_window "$work/strace.txt" python3 bench/client.py "127.0.0.1:$port" "$kind" "$count"
    fi
    t1=$(date +%s%N)
    echo "system calls by batond's $threads threads for $count $kind requests (over one keep-alive connection):"
    sed -n '/^% time/,$p' "$work/strace.txt"
    echo "unprompted, in 1 s idle (subtracted below): ${idle:-none}"
    { tr ' ' '\n' <<<"$idle" | sed 's/^/idle /'; calls_by_name "$work/strace.txt" | tr ' ' '\n'; } \
        | awk -F= -v n="$count" -v per="$per_what" -v kind="$kind" \
        -v secs="$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", (b - a) / 1e9 - 1 }')" '
        /^idle / { sub(/^idle /, ""); if (NF == 2) idle[$1] = $2; next }
        NF == 2 { v = $2 - idle[$1]; if (v < 0) v = 0; c[$1] = v; total += v }
        END {
            line = ""
            # Largest first; calls rarer than one in 200 requests are left out.
            while (1) {
                best = ""
                for (k in c) if (best == "" || c[k] > c[best]) best = k
                if (best == "" || c[best] / n < 0.005) break
                line = line sprintf(" %s=%.2f", best, c[best] / n)
                delete c[best]
            }
            printf "syscalls: %d in all = %.2f per %s; by call:%s (window %.1f s)\n", total, total / n, per, line, secs
            printf "PROFILE_RESULT mode=syscalls kind=%s count=%d syscalls=%d per_request=%.2f%s\n", kind, n, total, total / n, line
        }'
    exit 0
fi

callgrind_control -z "$batond_pid" >/dev/null
log "profiling $count $kind requests"
python3 bench/client.py "127.0.0.1:$port" "$kind" "$count"
callgrind_control -d "$batond_pid" >/dev/null
kill -TERM "$batond_pid"
wait "$batond_pid" 2>/dev/null || true
batond_pid=""

# The dump requested after zeroing is part 1 ("$out.1"); the final dump has the rest.
dump="$out.1"
[ -s "$dump" ] || die "no callgrind dump at $dump"
total=$(callgrind_annotate "$dump" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1; exit }')
per_request=$((total / count))
echo "instructions: $total for $count $kind requests = $per_request per $per_what"
callgrind_annotate --inclusive=no "$dump" 2>/dev/null | sed -n '/^Ir/,$p' | head -n 45 | cut -c1-200
echo "(full data: $dump)"
echo "PROFILE_RESULT mode=callgrind kind=$kind count=$count instructions=$total per_request=$per_request"
