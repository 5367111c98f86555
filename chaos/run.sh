#!/usr/bin/env bash
# make chaos: the long versions of the chaos tools (chaos/README.md), with their figures.
#   chaos/run.sh                         every step below (about 60 min)
#   chaos/run.sh safety fuzz             only these steps
# Steps: safety      >= 50,000 operations, Redis SIGKILLed/hung/restarted with and without data
#                    and failed over to a lagging copy
#        replicas    the same checker on two batond replicas sharing Redis and PostgreSQL,
#                    and on lagging-replica failovers alone
#        fuzz        >= 1,000,000 libFuzzer executions over request decoding
#        hostile     1,000 slow connections for 45 s, oversized requests, a burst of 2,560
#        soak        10 minutes at 256 connections, RSS sampled every 10 s
#        sentinel    10 rounds of Sentinel failovers (master hung then resumed, master killed
#                    then restarted empty), then two failovers in one fault, 8 holders (chaos/sentinel.py, about 4 min)
#        cluster     a 3-master Redis Cluster with replicas: hang, SIGKILL with promotion and slot
#                    migration, 3 rounds each over the shards, 12 holders (chaos/cluster.py, about 2 min)
#        proxy       batond behind a TCP proxy routing to two writable masters, 3 rounds
#                    (chaos/proxy.py, about 1 min)
# Exit status 0 only if every step passed. Logs in .local/chaos/.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/../scripts/lib.sh"
cd "$BATON_ROOT"

steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(safety replicas sentinel cluster proxy fuzz hostile soak)
want() { local s; for s in "${steps[@]}"; do [ "$s" = "$1" ] && return 0; done; return 1; }

ensure_packages wrk
out=$BATON_ROOT/.local/chaos
mkdir -p "$out"
work=$(mktemp -d /tmp/baton-chaos-run.XXXXXX)
chmod 755 "$work"
cleanup() {
    stop_postgres
    rm -rf "$work"
}
trap cleanup EXIT

if want safety || want replicas || want hostile || want sentinel || want cluster || want proxy; then
    log "building (debug, .build-chaos)"
    swift build --scratch-path .build-chaos --product batond 2>&1 | grep -E 'error|Build complete' || true
    BATON_TEST_BATOND=$(swift build --scratch-path .build-chaos --show-bin-path)/batond
    [ -x "$BATON_TEST_BATOND" ] || die "build failed"
    export BATON_TEST_BATOND
    log "starting PostgreSQL"
    start_postgres "$work/pg"
    export BATON_TEST_DATABASE_URL=$PG_URL
fi

failed=0
summary=()
step() {
    local name=$1
    shift
    log "$name"
    local started=$SECONDS status=0
    "$@" 2>&1 | tee "$out/$name.log" || status=$?
    local took=$((SECONDS - started))
    if [ "$status" -eq 0 ]; then
        summary+=("PASS  $name (${took} s)")
    else
        summary+=("FAIL  $name (${took} s)")
        failed=$((failed + 1))
    fi
}

if want safety; then
    step safety python3 chaos/safety.py run --holders 16 --duration 120 --min-ops 50000 --max-duration 2400 \
        --faults aof,none,pause,stale --fault-min 4 --fault-max 9 --history "$out/safety-history.jsonl"
fi
if want replicas; then
    step safety-two-replicas python3 chaos/safety.py run --holders 8 --duration 300 --replicas 2 --faults aof,none,pause,stale
    step safety-stale-failover python3 chaos/safety.py run --holders 8 --duration 120 --faults stale,aof --fault-min 3 --fault-max 6
fi
if want sentinel; then
    step sentinel python3 chaos/sentinel.py run --rounds 10 --holders 8 --double --history "$out/sentinel-history.jsonl"
fi
if want cluster; then
    step cluster python3 chaos/cluster.py run --rounds 9
fi
if want proxy; then
    step proxy python3 chaos/proxy.py run --rounds 3
fi
if want fuzz; then
    step fuzz chaos/fuzz.sh --runs 1000000
fi
if want hostile; then
    step hostile python3 chaos/hostile.py --slow 1000 --slow-seconds 45 --burst 2560
fi
if want soak; then
    step soak chaos/soak.sh
fi

printf '\n== chaos figures (%s) ==\n' "$(date -u +%Y-%m-%dT%H:%MZ)"
for f in "$out"/safety.log "$out"/safety-*.log; do
    [ -f "$f" ] || continue
    printf '%s: %s | %s\n' "$(basename "$f" .log)" "$(grep -E '^  ops ' "$f" | tail -n 1 | tr -s ' ')" \
        "$(grep -E '^(violations=|duration )' "$f" | tr '\n' ' ')"
done
[ -f "$out/sentinel.log" ] && grep -E '^(violations=|failover |status: )' "$out/sentinel.log"
[ -f "$out/cluster.log" ] && grep -E '^(violations=|fault |status: )' "$out/cluster.log"
[ -f "$out/proxy.log" ] && grep -E '^(violations=|round |proxy: )' "$out/proxy.log"
[ -f "$out/fuzz.log" ] && grep -E '^fuzz:' "$out/fuzz.log" | tail -n 1
[ -f "$out/hostile.log" ] && grep -E '^(slowloris|burst|normal_during|rss_kb|hostile:)' "$out/hostile.log"
[ -f "$out/soak.log" ] && grep -E '^soak: (requests|rate|rss_kb first|PASSED|FAILED)' "$out/soak.log"
printf '\n'
printf '%s\n' "${summary[@]}"
printf '\nchaos: %d passed, %d failed\n' "$(printf '%s\n' "${summary[@]}" | grep -c '^PASS' || true)" "$failed"
[ "$failed" -eq 0 ]
