#!/usr/bin/env bash
# Profiles batond's hot path with valgrind's callgrind (instruction counts do not
# depend on machine load, unlike the benchmark's timings): starts Redis and PostgreSQL,
# runs batond under callgrind, warms it up, zeroes the counters, sends a fixed number
# of requests over one keep-alive connection, and prints instructions per request and
# the functions that cost most.
#
#   ./bench/profile.sh [leader|tasks|session|healthz] [COUNT]     (default: leader 2000)
#
# BENCH_BATOND=PATH profiles that binary instead of .build-bench's release build.
# The callgrind output stays in .local/profile/ for callgrind_annotate or kcachegrind.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/../scripts/lib.sh"
cd "$BATON_ROOT"

kind=${1:-leader}
count=${2:-2000}
ensure_packages valgrind
bin=${BENCH_BATOND:-"$(swift build -c release --static-swift-stdlib --scratch-path .build-bench --show-bin-path)/batond"}
[ -x "$bin" ] || die "no batond at $bin (build it: swift build -c release --static-swift-stdlib --scratch-path .build-bench --product batond)"

out_dir="$BATON_ROOT/.local/profile"
mkdir -p "$out_dir"
work=$(mktemp -d /tmp/baton-profile.XXXXXX)
chmod 755 "$work"
batond_pid=""
cleanup() {
    set +e
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
(exec env BATON_LISTEN="127.0.0.1:$port" BATON_REDIS_URL="$REDIS_URL" BATON_DATABASE_URL="$db_url" \
    BATON_API_TOKENS="$BENCH_API_TOKEN" BATON_LOG_LEVEL="${BATON_LOG_LEVEL:-warn}" BATON_SESSION_CACHE_TTL_MS="$cache_ttl" \
    valgrind --tool=callgrind --callgrind-out-file="$out" "$bin") 2>"$work/batond.log" &
batond_pid=$!
for i in $(seq 1 600); do
    curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
    kill -0 "$batond_pid" 2>/dev/null || { tail -n 20 "$work/batond.log" >&2; die "batond exited"; }
    [ "$i" -eq 600 ] && die "batond did not start under valgrind"
    sleep 0.1
done
log "warming up (200 $kind requests)"
python3 bench/client.py "127.0.0.1:$port" "$kind" 200
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
[ "$kind" = tasks ] && per_request="$((total / count)) per claim+complete pair"
echo "instructions: $total for $count $kind requests = $per_request"
callgrind_annotate --inclusive=no "$dump" 2>/dev/null | sed -n '/^Ir/,$p' | head -n 45 | cut -c1-200
echo "(full data: $dump)"
