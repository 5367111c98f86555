#!/usr/bin/env bash
# Alerts and dashboard against the real tools and a live batond:
#   1. promtool check rules + promtool test rules (docker/monitoring/prometheus-rules.test.yaml)
#      on the groups of docker/k8s/prometheus-rules.yaml; every alert has a runbook and a test
#   2. a live batond (real Redis and PostgreSQL on loopback) exports every metric that a rule
#      or docker/monitoring/grafana-dashboard.json uses, and its /metrics passes promtool check metrics
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$BATON_ROOT"

# promtool comes with Debian's prometheus package, which only this check needs.
ensure_packages prometheus python3-yaml curl
bin=$(swift build --show-bin-path)
[ -x "$bin/batond" ] || { log "building batond"; swift build --product batond 2>&1 | tail -n 2; }

work=$(mktemp -d /tmp/baton-alerts-check.XXXXXX)
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

log "promtool $(promtool --version 2>&1 | head -n 1 | cut -d' ' -f3): rules and their unit tests"
python3 scripts/alerts/prepare.py docker/k8s/prometheus-rules.yaml docker/monitoring/prometheus-rules.test.yaml "$work"
promtool check rules --lint-fatal "$work/rules.yaml"
(cd "$work" && promtool test rules tests.yaml)

log "a live batond exports every metric the rules and the dashboard use"
unset PG_PORT PG_DATA PG_URL REDIS_PORT REDIS_PID REDIS_URL
start_redis "$work/redis" >/dev/null
start_postgres "$work/pg"
token=alerts-check-token-0123456789
start_batond "$bin" "$work/batond.log" BATON_API_TOKENS="$token"
batond_pid=$BATOND_PID port=$BATOND_PORT url=$BATOND_URL
api() { curl -sS --max-time 5 -H "Authorization: Bearer $token" -d "$2" "$url$1"; }
# Per-lease, per-task and per-schedule series appear once a lease, task or saved schedule exists.
curl -fsS --max-time 5 -X PUT -H "Authorization: Bearer $token" -H "Content-Type: application/json" \
    -d '{"holder":"jellyfin-0","triggers":[{"type":"interval","interval_ms":43200000},{"type":"startup"}]}' \
    "$url/schedules/RefreshLibrary" >/dev/null
api /leader '{"lease":"jellyfin-tasks","holder":"jellyfin-0"}' >/dev/null
run=$(api /tasks/claim '{"task":"RefreshLibrary","holder":"jellyfin-0"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["run_id"])')
api /tasks/complete "{\"task\":\"RefreshLibrary\",\"run_id\":\"$run\",\"holder\":\"jellyfin-0\",\"status\":\"failed\"}" >/dev/null
curl -fsS --max-time 5 "$url/metrics" >"$work/metrics.txt"
promtool check metrics <"$work/metrics.txt"
# The slot alert's periods come from the saved schedule, not only a family header.
grep -qx 'baton_schedule_period_seconds{task="RefreshLibrary"} 43200.0' "$work/metrics.txt" \
    || die "batond does not export the saved schedule's period (baton_schedule_period_seconds)"
grep -q '^baton_schedule_first_saved_timestamp_seconds{task="RefreshLibrary"} ' "$work/metrics.txt" \
    || die "batond does not export the saved schedule's first save (baton_schedule_first_saved_timestamp_seconds)"
python3 scripts/alerts/used-metrics.py "$work/metrics.txt" "$work/rules.yaml" docker/monitoring/grafana-dashboard.json
