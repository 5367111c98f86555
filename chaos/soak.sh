#!/usr/bin/env bash
# Soak: mixed load (chaos/soak.lua) at 256 connections against a release batond with real
# Redis (AOF) and PostgreSQL, sampling batond's VmRSS every 10 s. Passes with 0 unexpected
# answers, 0 socket errors and RSS growth (last sample minus first) under 5 MB.
#   chaos/soak.sh                 10 minutes
#   SOAK_SECONDS=60 chaos/soak.sh
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/../scripts/lib.sh"
cd "$BATON_ROOT"

seconds=${SOAK_SECONDS:-600}
connections=${SOAK_CONNECTIONS:-256}
growth_limit_kb=${SOAK_RSS_GROWTH_KB:-5120}

ensure_packages wrk
work=$(mktemp -d /tmp/baton-soak.XXXXXX)
chmod 755 "$work"
batond_pid=""
own_pg=false
cleanup() {
    [ -n "$batond_pid" ] && kill "$batond_pid" 2>/dev/null && wait "$batond_pid" 2>/dev/null
    stop_redis
    $own_pg && stop_postgres
    rm -rf "$work"
}
trap cleanup EXIT

log "building batond (release, .build-chaos-release)"
swift build --scratch-path .build-chaos-release -c release --product batond 2>&1 | grep -E 'error|Build complete' || true
batond=$(swift build --scratch-path .build-chaos-release -c release --show-bin-path)/batond
[ -x "$batond" ] || die "release build failed"

start_redis "$work/redis"
if [ -n "${BATON_TEST_DATABASE_URL:-}" ]; then
    admin=$BATON_TEST_DATABASE_URL
else
    start_postgres "$work/pg"
    own_pg=true
    admin=$PG_URL
fi
db="baton_soak_$$"
seed_jellyfin_db "$admin" "$db"
db_url=$JELLYFIN_DB_URL

port=$(free_port)
token=soak-token-0123456789abcdef
(exec env BATON_LISTEN="127.0.0.1:$port" BATON_REDIS_URL="$REDIS_URL" BATON_DATABASE_URL="$db_url" BATON_API_TOKENS="$token" \
    BATON_LOG_LEVEL=warn "$batond" >"$work/batond.log" 2>&1) &
batond_pid=$!
for _ in $(seq 1 200); do
    curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
    sleep 0.05
done
curl -sf "http://127.0.0.1:$port/healthz" >/dev/null || { cat "$work/batond.log" >&2; die "batond did not start"; }

rss() { awk '/^VmRSS:/ {print $2}' "/proc/$batond_pid/status"; }
log "soak: $connections connections for $seconds s against batond $port (pid $batond_pid), RSS every 10 s"
: >"$work/rss"
(
    while sleep 10; do
        r=$(rss 2>/dev/null) || break
        echo "$r" >>"$work/rss"
    done
) &
sampler=$!
wrk_status=0
SOAK_API_TOKEN=$token SOAK_SESSION_TOKEN=0123456789abcdef0123456789abcdef \
    wrk -t 2 -c "$connections" -d "${seconds}s" --timeout 5s -s chaos/soak.lua "http://127.0.0.1:$port" >"$work/wrk.out" 2>&1 || wrk_status=$?
sleep 1
kill "$sampler" 2>/dev/null || true
wait "$sampler" 2>/dev/null || true
rss_end=$(rss)
cat "$work/wrk.out"

alive=true
kill -0 "$batond_pid" 2>/dev/null || alive=false
first=$(head -n 1 "$work/rss")
last=$(tail -n 1 "$work/rss")
max=$(sort -n "$work/rss" | tail -n 1)
samples=$(wc -l <"$work/rss")
growth=$((last - first))
unexpected=$(sed -n 's/.*unexpected=\([0-9]*\).*/\1/p' "$work/wrk.out" | head -n 1)
sockerr=$(sed -n 's/.*socket_errors=\([0-9]*\).*/\1/p' "$work/wrk.out" | head -n 1)
printf 'soak: rss_kb first=%s last=%s max=%s after=%s samples=%s growth_kb=%s\n' "$first" "$last" "$max" "$rss_end" "$samples" "$growth"
printf 'soak: rss_kb series: %s\n' "$(tr '\n' ' ' <"$work/rss")"
errors_in_log=$(grep -c '"level":"error"' "$work/batond.log" || true)
printf 'soak: batond alive=%s error log lines=%s\n' "$alive" "$errors_in_log"
{ grep -E '"level":"(error|warn)"' "$work/batond.log" || true; } | sed -n 's/.*"msg":"\([^"]*\)".*/\1/p' | sort | uniq -c |
    sort -rn | head -n 5 | sed 's/^/soak: log: /'
# Every history row must reach PostgreSQL: wait for the outbox to drain, then nothing dropped.
outbox() { curl -s -H "Authorization: Bearer $token" "http://127.0.0.1:$port/status" |
    python3 -c 'import json,sys; o=json.load(sys.stdin)["outbox"]; print(o["pending"], o["dropped"], o["written"])' 2>/dev/null || echo "? ? ?"; }
for _ in $(seq 1 60); do
    read -r pending dropped written <<<"$(outbox)"
    [ "$pending" = 0 ] && break
    sleep 0.5
done
printf 'soak: history outbox pending=%s dropped=%s written=%s\n' "$pending" "$dropped" "$written"
mkdir -p .local/chaos && cp "$work/batond.log" .local/chaos/soak-batond.log

ok=true
[ "$wrk_status" -eq 0 ] || { echo "soak: wrk exited $wrk_status" >&2; ok=false; }
[ "${unexpected:-x}" = 0 ] || { echo "soak: unexpected answers: ${unexpected:-?}" >&2; ok=false; }
[ "${sockerr:-x}" = 0 ] || { echo "soak: socket errors: ${sockerr:-?}" >&2; ok=false; }
if [ "$dropped" != 0 ] || [ "$pending" != 0 ]; then echo "soak: history rows dropped/unwritten: $dropped/$pending" >&2; ok=false; fi
[ "$growth" -lt "$growth_limit_kb" ] || { echo "soak: RSS grew $growth kB (limit $growth_limit_kb)" >&2; ok=false; }
$alive || { echo "soak: batond died" >&2; tail -n 20 "$work/batond.log" >&2; ok=false; }
psql_at "$admin" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
if $ok; then echo "soak: PASSED"; else echo "soak: FAILED"; exit 1; fi
