#!/usr/bin/env bash
# The incident page in a real browser: headless Chromium (Debian's `chromium`) against a
# live batond with real Redis and PostgreSQL on loopback.
#   - leases and runs created through the API beforehand (an overlap, a late completion,
#     a failure whose detail is hostile HTML), plus 400 runs over the last 24 h written
#     straight into baton.task_runs, so the page is shown with hundreds of runs
#   - scripts/ui/browser-check.py logs in with a bad token (refused) and a good one, reads
#     the rendered DOM, checks cookie flags, CSP, ranges, logout
#   - writes .local/ui/incident.png (git-ignored) for people to look at
# Prints figures (page size and server time with N runs). Exits non-zero on any failure.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$BATON_ROOT"

# The browser is a large install only this check needs: asked for here, explicitly.
ensure_packages chromium python3 curl
chromium=$(command -v chromium) || die "chromium is not installed"
bin=${UI_CHECK_BIN:-$(swift build --show-bin-path)}  # UI_CHECK_BIN: another build (e.g. release) for figures
[ -x "$bin/batond" ] || { log "building batond"; swift build --product batond 2>&1 | tail -n 2; }

work=$(mktemp -d /tmp/baton-ui-check.XXXXXX)
chmod 755 "$work"
batond_pid=''
cleanup() {
    local rc=$?
    stop_pid "$batond_pid"
    stop_redis
    stop_postgres
    if [ "$rc" -eq 0 ]; then rm -rf "$work"; else printf 'logs kept in %s\n' "$work" >&2; fi
}
trap cleanup EXIT

unset PG_PORT PG_DATA PG_URL REDIS_PORT REDIS_PID REDIS_URL
log "starting Redis, PostgreSQL and batond"
start_redis "$work/redis" >/dev/null
start_postgres "$work/pg"
token=ui-check-token-0123456789abcdef
start_batond "$bin" "$work/batond.log" BATON_API_TOKENS="$token" BATON_BREAKER_COOLDOWN_MS=300
batond_pid=$BATOND_PID port=$BATOND_PORT url=$BATOND_URL

api() { curl -sS --max-time 5 -H "Authorization: Bearer $token" -d "$2" "$url$1"; }
field() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

# First, so that the leases and claims below are made on the Redis that stays.
log "a short Redis outage: the breaker opens and closes (the shaded period on the timeline)"
breaker() { curl -sS --max-time 5 -H "Authorization: Bearer $token" "$url/status" | python3 -c 'import json,sys; print(json.load(sys.stdin)["backends"]["redis"]["breaker"])'; }
stop_redis
# Reads only: a grant now would start a recovery window after the restart.
for _ in 1 2 3 4; do curl -sS --max-time 5 -H "Authorization: Bearer $token" "$url/leases" >/dev/null || true; done
[ "$(breaker)" = open ] || die "the Redis breaker did not open while Redis was stopped"
start_redis "$work/redis" >/dev/null  # same port (REDIS_PORT is still set), same AOF
for i in $(seq 1 50); do
    sleep 0.2
    curl -sS --max-time 5 -H "Authorization: Bearer $token" "$url/leases" >/dev/null || true
    [ "$(breaker)" = closed ] && break
    [ "$i" -eq 50 ] && die "the Redis breaker did not close after Redis came back"
done

log "creating leases and runs through the API"
api /leader '{"lease":"jellyfin-tasks","holder":"jellyfin-0","ttl_ms":600000}' >/dev/null
api /leader '{"lease":"jellyfin-maintenance","holder":"jellyfin-2","ttl_ms":600000}' >/dev/null
# RefreshLibrary: jellyfin-0's claim runs out, jellyfin-1 claims and finishes, then
# jellyfin-0 finishes late: two overlapping runs, one late.
r0=$(api /tasks/claim '{"task":"RefreshLibrary","holder":"jellyfin-0","lock_at_most_ms":1000}' | field run_id)
sleep 1.3
r1=$(api /tasks/claim '{"task":"RefreshLibrary","holder":"jellyfin-1","lock_at_most_ms":60000}' | field run_id)
sleep 0.5
api /tasks/complete "{\"task\":\"RefreshLibrary\",\"run_id\":\"$r1\",\"holder\":\"jellyfin-1\",\"status\":\"succeeded\"}" >/dev/null
hostile='<img src=x onerror=alert(1)> & "quoted"'
api /tasks/complete "{\"task\":\"RefreshLibrary\",\"run_id\":\"$r0\",\"holder\":\"jellyfin-0\",\"status\":\"failed\",\"detail\":\"<img src=x onerror=alert(1)> & \\\"quoted\\\"\"}" >/dev/null
r2=$(api /tasks/claim '{"task":"ScanMediaLibrary","holder":"jellyfin-1"}' | field run_id)
# History is written asynchronously by the outbox: wait until the rows are there.
for i in $(seq 1 50); do
    n=$(psql_at "$PG_URL" -tAc "SELECT count(*) FROM baton.task_runs WHERE run_id IN ('$r0','$r1','$r2') AND (status <> 'running' OR run_id = '$r2')" 2>/dev/null || echo 0)
    [ "$n" = 3 ] && break
    [ "$i" -eq 50 ] && die "history rows did not arrive"
    sleep 0.1
done

# UI_CHECK_RUNS (default 400) runs, spread over 24 h at 400 and proportionally denser above.
backfill=${UI_CHECK_RUNS:-400}
log "backfilling $backfill runs over the last 24 h"
psql_at "$PG_URL" -v n="$backfill" -v step="$((86400 / backfill))" >/dev/null <<'SQL'
INSERT INTO baton.task_runs (run_id, task, holder, fencing_token, claimed_at, finished_at, status, mode, late, lock_at_most_ms)
SELECT md5('run' || g)::uuid,
       (ARRAY['CleanTranscodeDirectory','RefreshChannels','UpdatePlugins','CleanLogDirectory','ChapterImages','RefreshPeople'])[1 + g % 6],
       'jellyfin-' || (g % 3),
       1000 + g,
       now() - make_interval(secs => g * :step + 60),
       now() - make_interval(secs => g * :step + 60) + make_interval(secs => 20 + (g * 37) % 400),
       CASE WHEN g % 23 = 0 THEN 'failed' WHEN g % 41 = 0 THEN 'cancelled' ELSE 'succeeded' END,
       CASE WHEN g BETWEEN 120 AND 130 THEN 'degraded' ELSE 'normal' END,
       false, 3600000
FROM generate_series(1, :n) g;
SQL

# Figures: the page's size and the server's time to build it, 24 h with every run.
page_stats=$(curl -sS -o "$work/page.html" -w '%{size_download} %{time_total}' --max-time 10 \
    -H "Cookie: $(curl -sS -o /dev/null -D - -H "Origin: $url" --data-urlencode "token=$token" "$url/ui/login" | sed -n 's/^[Ss]et-[Cc]ookie: \([^;]*\).*/\1/p')" \
    "$url/ui?range=24h")
runs_total=$(psql_at "$PG_URL" -tAc "SELECT count(*) FROM baton.task_runs")
log "figures: /ui?range=24h with $runs_total runs: $(echo "$page_stats" | awk '{printf "%d bytes in %.0f ms", $1, $2 * 1000}')"

cat >"$work/expect.json" <<JSON
{"leases": {"jellyfin-tasks": "jellyfin-0", "jellyfin-maintenance": "jellyfin-2"},
 "runs": [{"id": "$r0", "task": "RefreshLibrary", "pod": "jellyfin-0", "status": "failed"},
          {"id": "$r1", "task": "RefreshLibrary", "pod": "jellyfin-1", "status": "succeeded"},
          {"id": "$r2", "task": "ScanMediaLibrary", "pod": "jellyfin-1", "status": "running"}],
 "min_bars": $backfill, "degraded_periods": 1, "overlap_task": "RefreshLibrary", "hostile_detail": $(python3 -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$hostile")}
JSON

log "driving headless Chromium"
mkdir -p .local/ui
timeout 180 python3 scripts/ui/browser-check.py "$chromium" "$url" "$token" "$work/expect.json" "$BATON_ROOT/.local/ui/incident.png" "$work"

log "the terminal views of the same data: batonctl runs and status --watch"
ctl=("$(swift build --show-bin-path)/batonctl")
export BATON_URL="$url"
export BATON_TOKEN="$token"
runs_out=$("${ctl[@]}" runs --since 1h --task RefreshLibrary)
printf '%s\n' "$runs_out"
grep -q "RefreshLibrary  jellyfin-0  failed (late) OVERLAP" <<<"$runs_out" || die "batonctl runs: the late, overlapping run of jellyfin-0 is missing"
grep -q "RefreshLibrary  jellyfin-1  succeeded OVERLAP" <<<"$runs_out" || die "batonctl runs: the overlapping run of jellyfin-1 is missing"
all_out=$("${ctl[@]}" runs --since 24h)
[ "$(grep -c '^20' <<<"$all_out")" -ge "$backfill" ] || die "batonctl runs --since 24h: expected $backfill+ runs across tasks"
watch_rc=0
timeout 3.5 "${ctl[@]}" status --watch --interval 1s >"$work/watch.out" || watch_rc=$?
[ "$watch_rc" -eq 124 ] || die "batonctl status --watch stopped by itself (exit $watch_rc)"
frames=$(grep -o $'\e\\[H' "$work/watch.out" | wc -l)
clears=$(grep -o $'\e\\[2J' "$work/watch.out" | wc -l)
if [ "$frames" -lt 3 ] || [ "$clears" -ne 1 ]; then
    die "batonctl status --watch: $frames redraws, $clears full clears (want >= 3 and exactly 1)"
fi
grep -q "jellyfin-tasks" "$work/watch.out" || die "batonctl status --watch does not show the lease"
log "batonctl: runs and status --watch ok ($frames redraws in 3.5 s)"
