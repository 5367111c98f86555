#!/usr/bin/env bash
# Measures what libmicrohttpd's hand-over costs, alone (issue 17): builds bench/handover.c
# and, for each mode, serves wrk's POST /leader requests at 32 connections and prints
# requests/s, the server's CPU per request and its context switches per request. Rounds are
# alternated; loopback only; each run is bounded by its duration.
#   ./bench/handover.sh            (HANDOVER_ROUNDS=3, HANDOVER_DURATION=6, HANDOVER_THREADS=4)
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/../scripts/lib.sh"
cd "$BATON_ROOT"
ensure_packages wrk gcc libmicrohttpd-dev
rounds=${HANDOVER_ROUNDS:-3} duration=${HANDOVER_DURATION:-6} threads=${HANDOVER_THREADS:-4}
work=$(mktemp -d /tmp/baton-handover.XXXXXX)
pid=""
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
cc -O2 -Wall -o "$work/handover" bench/handover.c -lmicrohttpd -lpthread
export BENCH_WRK_DIR="$BATON_ROOT/bench/wrk" BENCH_API_TOKEN=unused
switches() { cat /proc/"$1"/task/*/status | awk '/ctxt_switches/ { n += $2 } END { print n }'; }
hz=$(getconf CLK_TCK)
for _ in $(seq 1 "$rounds"); do
    for mode in a b c; do
        port=$(free_port)
        "$work/handover" "$mode" "$port" "$threads" &
        pid=$!
        for i in $(seq 1 50); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; [ "$i" -eq 50 ] && die "handover did not start"; sleep 0.05; done
        wrk -t 2 -c 32 -d 2s -s bench/wrk/leader.lua "http://127.0.0.1:$port/leader" >/dev/null
        read -r u0 s0 < <(awk '{ print $14, $15 }' "/proc/$pid/stat")
        c0=$(switches "$pid")
        line=$(wrk -t 2 -c 32 -d "${duration}s" -s bench/wrk/leader.lua "http://127.0.0.1:$port/leader" | grep '^WRK_RESULT')
        read -r u1 s1 < <(awk '{ print $14, $15 }' "/proc/$pid/stat")
        c1=$(switches "$pid")
        n=$(sed -E 's/.* requests=([0-9]+).*/\1/' <<<"$line")
        us=$(sed -E 's/.* duration_us=([0-9]+).*/\1/' <<<"$line")
        awk -v m="$mode" -v n="$n" -v d="$us" -v u=$((u1 - u0)) -v s=$((s1 - s0)) -v c=$((c1 - c0)) -v hz="$hz" 'BEGIN {
            printf "mode %s  %7.0f req/s  server %4.1f user + %4.1f system = %4.1f us per request, %.2f context switches per request\n",
                   m, n / (d / 1e6), u / hz * 1e6 / n, s / hz * 1e6 / n, (u + s) / hz * 1e6 / n, c / n }'
        kill "$pid"
        wait "$pid" 2>/dev/null || true
        pid=""
    done
done
echo "a: answered on the worker; b: resumed by another thread (batond's pipeline); c: resumed on its own thread (external epoll)"
