#!/usr/bin/env bash
# End-to-end tests of batonctl and the docker/hooks scripts against a live batond with real
# Redis and PostgreSQL (all on loopback, data in a temporary folder).
#
#   scripts/e2e-batonctl.sh                        binaries from .build (swift build first)
#   BATON_SCRATCH=.build-ctl scripts/e2e-batonctl.sh   binaries from another scratch path
#
# What it checks:
#   - two `batonctl lock` on one lease: exactly one child runs at a time
#   - SIGKILL of the leader's batonctl: its child stops at once, the other takes over after the TTL
#   - batond stalled (SIGSTOP): the children of `lock` and `claim` are killed before their
#     lease / claim expires in Redis, and batonctl exits 76
#   - SIGTERM to batonctl: passed on to the child, lease released / run recorded as cancelled
#   - two `batonctl claim` on one slot: the command runs once; slot done -> 75; --skipped-exit 0
#   - Baton unreachable (closed port, 5xx): exit 69 below the threshold, then run (loudly) or
#     skip, counters shared across runs and reset by the next answer
#   - docker/hooks/baton-run-if-leader.sh and baton-claim.sh: the same basic cases
#   - `batonctl jellyfin run-task` / `disable-triggers` against scripts/jellyfin-standin.py
#   - status, leader, tasks, leases, health
# Prints "e2e-batonctl: N passed, M failed" and exits non-zero when a check failed.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$BATON_ROOT"

ensure_packages python3 curl
scratch=${BATON_SCRATCH:-.build}
bin=$(swift build --scratch-path "$scratch" --show-bin-path)
if [ ! -x "$bin/batond" ] || [ ! -x "$bin/batonctl" ]; then
    log "building batond and batonctl in $scratch"
    swift build --scratch-path "$scratch" --product batond 2>&1 | tail -n 2
    swift build --scratch-path "$scratch" --product batonctl 2>&1 | tail -n 2
fi
ctl=$bin/batonctl
hooks=$BATON_ROOT/docker/hooks

work=$(mktemp -d /tmp/baton-e2e-ctl.XXXXXX)
chmod 755 "$work"
batond_pid=''
standin_pid=''
junk_pid=''
cleanup() {
    local rc=$?
    stop_pid "$batond_pid" "$standin_pid" "$junk_pid"
    # shellcheck disable=SC2046
    kill $(jobs -p) 2>/dev/null || true
    stop_redis
    stop_postgres
    if [ "$rc" -eq 0 ]; then
        rm -rf "$work"
    else
        printf 'logs kept in %s\n' "$work" >&2
    fi
}
trap cleanup EXIT

now_ms() { date +%s%3N; }

# ---- servers --------------------------------------------------------------------------
# scripts/test exports the ports of its own PostgreSQL: start ours on fresh ones.
unset PG_PORT PG_DATA PG_URL REDIS_PORT REDIS_PID REDIS_URL
log "starting Redis, PostgreSQL and batond"
start_redis "$work/redis" >/dev/null
start_postgres "$work/pg"
token=e2e-token-0123456789abcdef
start_batond "$bin" "$work/batond.log" BATON_API_TOKENS="$token" BATON_REDIS_TIMEOUT_MS=300
batond_pid=$BATOND_PID port=$BATOND_PORT url=$BATOND_URL

jf_port=$(free_port)
jf_key=e2e-jellyfin-api-key
(exec python3 "$BATON_ROOT/scripts/jellyfin-standin.py" --port "$jf_port" --api-key "$jf_key" \
    --run-seconds 1 --duration OptimizeDatabaseTask=60 --outcome RefreshPeople=Failed --log "$work/jellyfin.log") >"$work/standin.log" 2>&1 &
standin_pid=$!
jf_url="http://127.0.0.1:$jf_port"
for i in $(seq 1 100); do
    curl -fsS -H "X-Emby-Token: $jf_key" "$jf_url/ScheduledTasks" >/dev/null 2>&1 && break
    [ "$i" -eq 100 ] && die "the Jellyfin stand-in did not start"
    sleep 0.1
done
: >"$work/jellyfin.log"

export BATON_URL="$url" BATON_TOKEN="$token" BATON_STATE_DIR="$work/state"
# The key by environment: batonctl refuses it on the command line (readable in /proc).
export JELLYFIN_API_KEY="$jf_key"
unset BATON_HOLDER XDG_STATE_HOME

# A port where nothing listens, and one that answers every POST with 501.
closed_url="http://127.0.0.1:$(free_port)"
junk_port=$(free_port)
mkdir -p "$work/junk"
(cd "$work/junk" && exec python3 -m http.server "$junk_port" --bind 127.0.0.1) >/dev/null 2>&1 &
junk_pid=$!
junk_url="http://127.0.0.1:$junk_port"

# ---- checks ---------------------------------------------------------------------------
passed=0
failed=0
current=''
ok() {
    passed=$((passed + 1))
    printf '  ok   %s: %s\n' "$current" "$1"
}
bad() {
    failed=$((failed + 1))
    printf '  FAIL %s: %s\n' "$current" "$1"
}
check() { # check DESCRIPTION COMMAND...
    local what=$1
    shift
    if "$@"; then ok "$what"; else bad "$what"; fi
}
check_eq() { # check_eq DESCRIPTION ACTUAL EXPECTED
    if [ "$2" = "$3" ]; then ok "$1"; else bad "$1 (got '$2', want '$3')"; fi
}
check_le() { # check_le DESCRIPTION A B: A <= B
    if [ -n "$2" ] && [ -n "$3" ] && [ "$2" -le "$3" ]; then ok "$1 ($2 <= $3)"; else bad "$1 (got $2 > $3)"; fi
}
run_test() {
    current=$1
    # BATON_E2E_ONLY=test_name runs one test (while chasing a failure).
    [ -n "${BATON_E2E_ONLY:-}" ] && [ "$1" != "$BATON_E2E_ONLY" ] && return 0
    printf '== %s\n' "$1"
    set +e
    "$1"
    set -e
}

# wait_for FILE PATTERN SECONDS
wait_for() {
    local i
    for i in $(seq 1 $(($3 * 20))); do
        grep -q -- "$2" "$1" 2>/dev/null && return 0
        sleep 0.05
    done
    return 1
}

# wait_pid PID SECONDS: wait for a background job; its exit code, or 124 after SECONDS.
wait_pid() {
    local i
    for i in $(seq 1 $(($2 * 20))); do
        if ! kill -0 "$1" 2>/dev/null; then
            wait "$1"
            return $?
        fi
        sleep 0.05
    done
    kill -9 "$1" 2>/dev/null
    wait "$1" 2>/dev/null
    return 124
}

# The child the lock tests run: "start NAME T", a "tick NAME T" every 100 ms for SECONDS,
# then "stop NAME T" (T in ms). SECONDS 0 ticks forever.
child=$work/child.sh
cat >"$child" <<'SH'
#!/bin/sh
log=$1 name=$2 seconds=$3
ms() { date +%s%3N; }
echo "start $name $(ms) token=${BATON_FENCING_TOKEN:-} mode=${BATON_MODE:-}" >>"$log"
trap 'echo "term $name $(ms)" >>"$log"; exit 143' TERM
n=0
while [ "$seconds" -eq 0 ] || [ "$n" -lt $((seconds * 10)) ]; do
    echo "tick $name $(ms)" >>"$log"
    sleep 0.1
    n=$((n + 1))
done
echo "stop $name $(ms)" >>"$log"
SH
chmod +x "$child"

# no_overlap LOG: events in file order; at most one child between its start and its last line.
no_overlap() {
    awk '
        $1 == "start" { if (running != "" && running != $2) { bad = 1; print "  overlap: " $2 " started while " running " ran" } running = $2 }
        $1 == "tick" || $1 == "term" { if ($2 != running) { bad = 1; print "  overlap: " $2 " ticked while " running " ran" } }
        $1 == "term" { running = "" }
        $1 == "stop" { running = "" }
        END { exit bad }' "$1"
}

# Times the child logged. A line can lack its time: the SIGTERM that batonctl's guard sends
# to the whole process group also kills the child's `date`, and the shell then writes
# "tick NAME " with an empty time before running its trap (seen in CI: dash does this).
# Such lines are skipped.
last_time() { awk -v e="$2" -v n="$3" '$1 == e && $2 == n && $3 != "" { t = $3 } END { print t }' "$1"; }
first_time() { awk -v e="$2" -v n="$3" '$1 == e && $2 == n && $3 != "" { print $3; exit }' "$1"; }
# last_alive LOG NAME: the last time the child NAME wrote anything (a tick, or its trap's
# "term" line just before it exits).
last_alive() { awk -v n="$2" '($1 == "tick" || $1 == "term" || $1 == "stop") && $2 == n && $3 != "" { t = $3 } END { print t }' "$1"; }

# runs TASK N: "status:detail|..." of the task's runs, newest first, once N of them have
# finished (history is written by batond in the background).
runs() {
    local i out=''
    for i in $(seq 1 50); do
        out=$("$ctl" tasks runs "$1" --json 2>/dev/null | python3 -c '
import json, sys
runs = json.load(sys.stdin)["runs"]
done = [r for r in runs if r["status"] != "running"]
print(len(done), "|".join(r["status"] + ":" + (r["detail"] or "") for r in done))') || out=''
        [ "${out%% *}" -ge "$2" ] 2>/dev/null && break
        sleep 0.1
    done
    printf '%s\n' "${out#* }"
}

# matches STRING GLOB
# shellcheck disable=SC2053
matches() { [[ $1 == $2 ]]; }
# eventually COMMAND...: true once COMMAND succeeds, retried for up to 5 s.
eventually() {
    local i
    for i in $(seq 1 50); do
        "$@" && return 0
        sleep 0.1
    done
    return 1
}
no_process() { ! pgrep -f -- "$1" >/dev/null; }

leader_holder() {
    "$ctl" leader get --lease "$1" --json | python3 -c 'import json,sys; h=json.load(sys.stdin)["holder"]; print(h if h else "-")'
}

test_lock_mutual_exclusion() {
    local log=$work/mutex.log pids=() p rc codes=''
    for pod in pod-a pod-b; do
        (
            for _ in 1 2 3; do
                timeout 60 "$ctl" lock --lease e2e-mutex --ttl 3s --wait --holder "$pod" -- "$child" "$log" "$pod" 1 \
                    2>>"$work/mutex-$pod.err" || exit $?
            done
        ) &
        pids+=($!)
    done
    for p in "${pids[@]}"; do
        rc=0
        wait_pid "$p" 60 || rc=$?
        codes="$codes$rc "
    done
    check_eq "both waiting lock loops finished with exit 0" "$codes" "0 0 "
    check_eq "six children ran" "$(grep -c '^start' "$log")" 6
    check_eq "six children finished" "$(grep -c '^stop' "$log")" 6
    check "never two children at once" no_overlap "$log"
    check_eq "each run had a new fencing token" "$(grep -o 'token=[0-9]*' "$log" | sort -u | wc -l)" 6
    check_eq "the lease is vacant afterwards" "$(leader_holder e2e-mutex)" -
}

test_lock_handover_after_sigkill() {
    local log=$work/handover.log pa pb rc t_kill b_start a_last
    "$ctl" lock --lease e2e-handover --ttl 3s --holder pod-a -- "$child" "$log" pod-a 0 2>"$work/handover-a.err" &
    pa=$!
    check "pod-a started its child" wait_for "$log" "^start pod-a" 10
    "$ctl" lock --lease e2e-handover --ttl 3s --wait --holder pod-b -- "$child" "$log" pod-b 1 2>"$work/handover-b.err" &
    pb=$!
    sleep 1.5
    t_kill=$(now_ms)
    kill -9 "$pa"
    wait "$pa" 2>/dev/null
    rc=0
    wait_pid "$pb" 20 || rc=$?
    check_eq "pod-b took over and its child ran (exit 0)" "$rc" 0
    b_start=$(first_time "$log" start pod-b)
    a_last=$(last_time "$log" tick pod-a)
    check "pod-b waited while pod-a led" grep -q "held by pod-a" "$work/handover-b.err"
    check_le "pod-a's child stopped within 500 ms of its batonctl's death" "$((a_last - t_kill))" 500
    check_le "pod-b did not start before the TTL ran out (>= 1.5 s after the kill)" 1500 "$((b_start - t_kill))"
    check_le "pod-b started within TTL + 2 s of the kill" "$((b_start - t_kill))" 5000
    check "never two children at once" no_overlap "$log"
    check "pod-a's child is gone" no_process "$log pod-a"
}

# retry_until_ran CMD...: runs CMD every 300 ms until it exits 0 (at most 10 s); prints
# "EXITCODES ELAPSED_MS", e.g. "75 75 75 0 3120".
retry_until_ran() {
    local start codes='' rc
    start=$(now_ms)
    while [ $(($(now_ms) - start)) -lt 10000 ]; do
        rc=0
        "$@" 2>/dev/null || rc=$?
        codes="$codes$rc "
        [ "$rc" -eq 0 ] && break
        sleep 0.3
    done
    printf '%s%s\n' "$codes" $(($(now_ms) - start))
}

test_same_holder_tenure_is_not_kept_alive() {
    # A tenure of this holder whose process is gone (here: taken by hand). Retrying must
    # not renew it, or a crashed pod's cron job would never run again.
    local out rc t0 took
    "$ctl" leader acquire --lease e2e-restart --holder pod-r --ttl 3s >/dev/null
    out=$(retry_until_ran "$ctl" lock --lease e2e-restart --ttl 3s --holder pod-r -- true)
    took=${out##* }
    check "lock: skipped (75) while the old tenure lasts" matches "$out" '75 *'
    check "lock: ran once the old tenure expired" matches "$out" '* 0 *'
    check_le "lock: ... within its TTL + 1 s" "$took" 4000

    "$ctl" leader acquire --lease e2e-restart --holder pod-r --ttl 3s >/dev/null
    t0=$(now_ms)
    rc=0
    timeout 20 "$ctl" lock --lease e2e-restart --ttl 3s --wait --holder pod-r -- true 2>/dev/null || rc=$?
    took=$(($(now_ms) - t0))
    check_eq "lock --wait: ran after the old tenure of the same holder expired" "$rc" 0
    check_le "lock --wait: ... within its TTL + 1.5 s" "$took" 4500

    "$ctl" leader acquire --lease e2e-restart --holder hook-r --ttl 3s >/dev/null
    out=$(BATON_HOLDER=hook-r retry_until_ran "$hooks/baton-run-if-leader.sh" --lease e2e-restart --ttl 3s -- true)
    took=${out##* }
    check "run-if-leader hook: skipped (75) while the old tenure lasts" matches "$out" '75 *'
    check "run-if-leader hook: ran once it expired" matches "$out" '* 0 *'
    check_le "run-if-leader hook: ... within its TTL + 1 s" "$took" 4000
}

test_stalled_renewal_kills_before_deadline() {
    local lock_log=$work/stall-lock.log claim_log=$work/stall-claim.log pl pc pj rl=0 rc=0 rj=0 t0 pttl_l pttl_c exp_l exp_c
    "$ctl" lock --lease e2e-stall --ttl 3s --holder pod-a -- "$child" "$lock_log" pod-a 0 2>"$work/stall-lock.err" &
    pl=$!
    "$ctl" claim --task e2e-stall --at-most 3s --holder pod-a -- "$child" "$claim_log" pod-a 0 2>"$work/stall-claim.err" &
    pc=$!
    "$ctl" jellyfin run-task --task OptimizeDatabaseTask --at-most 3s --poll-interval 100ms --holder pod-a \
        --jellyfin-url "$jf_url" 2>"$work/stall-jellyfin.err" &
    pj=$!
    check "lock's child started" wait_for "$lock_log" "^tick" 10
    check "claim's child started" wait_for "$claim_log" "^tick" 10
    check "jellyfin run-task started the task" \
        wait_for "$work/jellyfin.log" "POST /ScheduledTasks/Running/31de9ce83b9223d338c77b1a635e144b" 10
    sleep 1.3
    kill -STOP "$batond_pid"
    t0=$(now_ms)
    pttl_l=$(redis-cli -p "$REDIS_PORT" PTTL 'baton:lease:{e2e-stall}')
    pttl_c=$(redis-cli -p "$REDIS_PORT" PTTL 'baton:task:{e2e-stall}:claim')
    exp_l=$((t0 + pttl_l))
    exp_c=$((t0 + pttl_c))
    wait_pid "$pl" 15 || rl=$?
    wait_pid "$pc" 15 || rc=$?
    wait_pid "$pj" 15 || rj=$?
    kill -CONT "$batond_pid"
    check_eq "lock exits 76 when renewals stall" "$rl" 76
    check_eq "claim exits 76 when extensions stall" "$rc" 76
    check "the lease was live in Redis when batond stopped" test "$pttl_l" -gt 0
    check_le "lock's child was dead before the lease expired in Redis" "$(last_alive "$lock_log" pod-a)" "$exp_l"
    check_le "claim's child was dead before the claim expired in Redis" "$(last_alive "$claim_log" pod-a)" "$exp_c"
    check "lock's child got SIGTERM" grep -q '^term' "$lock_log"
    check "lock said why it stopped the child" grep -q 'could not be renewed in time' "$work/stall-lock.err"
    check_eq "jellyfin run-task exits 76 when extensions stall" "$rj" 76
    check "and cancelled the Jellyfin task" grep -q "DELETE /ScheduledTasks/Running/31de9ce83b9223d338c77b1a635e144b" "$work/jellyfin.log"
    wait_healthy "$url" "$work/batond.log"
}

test_sigterm_is_passed_on() {
    local log=$work/sigterm.log p rc=0
    "$ctl" lock --lease e2e-sigterm --ttl 5s --holder pod-a -- "$child" "$log" pod-a 0 2>"$work/sigterm.err" &
    p=$!
    wait_for "$log" "^start" 10
    kill -TERM "$p"
    wait_pid "$p" 10 || rc=$?
    check_eq "lock exits with the child's code after SIGTERM" "$rc" 143
    check "the child got SIGTERM" grep -q '^term pod-a' "$log"
    check_eq "the lease was released" "$(leader_holder e2e-sigterm)" -

    : >"$log"
    "$ctl" claim --task e2e-sigterm --slot s1 --holder pod-a -- "$child" "$log" pod-a 0 2>>"$work/sigterm.err" &
    p=$!
    wait_for "$log" "^start" 10
    kill -TERM "$p"
    rc=0
    wait_pid "$p" 10 || rc=$?
    check_eq "claim exits with the child's code after SIGTERM" "$rc" 143
    check "the interrupted run is recorded as cancelled" matches "$(runs e2e-sigterm 1)" 'cancelled:batonctl got signal 15*'

    rc=0
    "$ctl" claim --task e2e-sigterm --slot s1 --holder pod-b -- true 2>>"$work/sigterm.err" || rc=$?
    check_eq "a cancelled run leaves its slot open" "$rc" 0
}

test_claim_runs_once_per_slot() {
    local out=$work/once.out pa pb ra=0 rb=0 rc=0
    "$ctl" claim --task e2e-once --slot 2026-11-27T01:00Z --holder pod-a -- sh -c "echo \$BATON_HOLDER >>'$out'; sleep 1" 2>"$work/once-a.err" &
    pa=$!
    "$ctl" claim --task e2e-once --slot 2026-11-27T01:00Z --holder pod-b -- sh -c "echo \$BATON_HOLDER >>'$out'; sleep 1" 2>"$work/once-b.err" &
    pb=$!
    wait_pid "$pa" 20 || ra=$?
    wait_pid "$pb" 20 || rb=$?
    check_eq "exit codes of the two claims (sorted)" "$(printf '%s\n' "$ra" "$rb" | sort -n | tr '\n' ' ')" "0 75 "
    check_eq "the command ran once" "$(wc -l <"$out" | tr -d ' ')" 1
    "$ctl" claim --task e2e-once --slot 2026-11-27T01:00Z --holder pod-c -- sh -c "echo pod-c >>'$out'" 2>"$work/once-c.err" || rc=$?
    check_eq "a later claim of the done slot is skipped (75)" "$rc" 75
    check "it says the slot already ran" grep -q 'slot already ran' "$work/once-c.err"
    rc=0
    "$ctl" claim --task e2e-once --slot 2026-11-27T01:00Z --holder pod-c --skipped-exit 0 -- sh -c "echo pod-c >>'$out'" 2>/dev/null || rc=$?
    check_eq "--skipped-exit 0 turns the skip into exit 0" "$rc" 0
    check_eq "still only one run" "$(wc -l <"$out" | tr -d ' ')" 1
    rc=0
    "$ctl" claim --task e2e-once --slot 2026-11-27T02:00Z --holder pod-c -- sh -c 'exit 3' 2>/dev/null || rc=$?
    check_eq "the next slot runs; the command's exit code is passed through" "$rc" 3
    check_eq "history: failed with the exit code, then succeeded" "$(runs e2e-once 2)" "failed:exit code 3|succeeded:exit code 0"
}

test_unreachable_baton() {
    local st=$work/state-unreach rc marker=$work/unreach.marker codes='' err=$work/unreach.err
    for _ in 1 2 3 4; do
        rc=0
        BATON_URL=$closed_url "$ctl" lock --lease e2e-unreach --state-dir "$st" -- sh -c "echo ran >>'$marker'; exit 7" 2>>"$err" || rc=$?
        codes="$codes$rc "
    done
    check_eq "lock, closed port, --on-unavailable run: 69, 69, then the command runs (its exit 7)" "$codes" "69 69 7 7 "
    check_eq "the command ran twice, without Baton" "$(wc -l <"$marker" | tr -d ' ')" 2
    check "it said so loudly" grep -q 'RUNNING THE COMMAND WITHOUT COORDINATION' "$err"
    check_eq "the failure counter is in the state file" "$(head -n 1 "$st/lease-e2e-unreach.failures")" 4

    rc=0
    "$ctl" lock --lease e2e-unreach --state-dir "$st" -- true 2>/dev/null || rc=$?
    check_eq "Baton reachable again: the lock works" "$rc" 0
    check "and the failure counter is reset" test ! -e "$st/lease-e2e-unreach.failures"

    codes=''
    for _ in 1 2 3 4; do
        rc=0
        BATON_URL=$closed_url "$ctl" claim --task e2e-unreach --on-unavailable skip --state-dir "$st" -- sh -c "echo ran >>'$marker'" 2>>"$err" || rc=$?
        codes="$codes$rc "
    done
    check_eq "claim, --on-unavailable skip: always 69" "$codes" "69 69 69 69 "
    check_eq "and the command never ran" "$(wc -l <"$marker" | tr -d ' ')" 2

    codes=''
    for _ in 1 2; do
        rc=0
        BATON_URL=$junk_url "$ctl" claim --task e2e-5xx --breaker-threshold 2 --state-dir "$st" -- sh -c 'exit 0' 2>>"$err" || rc=$?
        codes="$codes$rc "
    done
    check_eq "5xx answers count as unavailable (threshold 2: 69, then run)" "$codes" "69 0 "

    # No usable home (read-only root file system): both fall back to $TMPDIR/batonctl-UID.
    mkdir -p "$work/tmp"
    for tool in ctl hook; do
        if [ $tool = ctl ]; then
            set -- "$ctl" lock --lease e2e-nohome -- true
        else
            set -- "$hooks/baton-run-if-leader.sh" --lease e2e-nohome -- true
        fi
        env -u BATON_STATE_DIR -u XDG_STATE_HOME HOME=/proc/no-home TMPDIR="$work/tmp" BATON_URL="$closed_url" "$@" 2>/dev/null
    done
    check_eq "no writable home: batonctl and the hook count in \$TMPDIR/batonctl-UID" \
        "$(head -n 1 "$work/tmp/batonctl-$(id -u)/lease-e2e-nohome.failures" 2>/dev/null)" 2
    check_eq "the fallback folder is created 0700" "$(stat -c %a "$work/tmp/batonctl-$(id -u)")" 700

    # Another user made the fallback folder first (world-writable) and planted a counter of
    # 99: neither believes it (both exit 69, below the threshold) nor writes into the folder.
    mkdir -p "$work/shared-tmp/batonctl-$(id -u)"
    chmod 777 "$work/shared-tmp/batonctl-$(id -u)"
    printf '99\nplanted\n0\n' >"$work/shared-tmp/batonctl-$(id -u)/lease-e2e-planted.failures"
    codes=''
    for tool in ctl hook; do
        if [ $tool = ctl ]; then
            set -- "$ctl" lock --lease e2e-planted -- true
        else
            set -- "$hooks/baton-run-if-leader.sh" --lease e2e-planted -- true
        fi
        rc=0
        env -u BATON_STATE_DIR -u XDG_STATE_HOME HOME=/proc/no-home TMPDIR="$work/shared-tmp" BATON_URL="$closed_url" "$@" 2>/dev/null || rc=$?
        codes="$codes$rc "
    done
    check_eq "a planted counter in a folder others can write is not believed (69 69)" "$codes" "69 69 "
    check_eq "and nothing is written there" "$(head -n 1 "$work/shared-tmp/batonctl-$(id -u)/lease-e2e-planted.failures")" 99

    # The command gets no Baton token unless --pass-token asks for it.
    check_eq "the command does not see BATON_TOKEN" \
        "$("$ctl" lock --lease e2e-env -- sh -c 'printf %s "${BATON_TOKEN:-none}"' 2>/dev/null)" none
    check_eq "--pass-token hands it over" \
        "$("$ctl" lock --lease e2e-env --pass-token -- sh -c 'printf %s "${BATON_TOKEN:-none}"' 2>/dev/null)" "$token"

    rc=0
    BATON_URL=$closed_url "$ctl" health >/dev/null 2>&1 || rc=$?
    check_eq "health against a closed port exits 69" "$rc" 69
    rc=0
    "$ctl" health --url "$junk_url" >/dev/null 2>&1 || rc=$?
    check "health against a server without /healthz fails" test "$rc" -ne 0
    rc=0
    BATON_TOKEN=wrong-token-0123456789 "$ctl" lock --lease e2e-unreach --state-dir "$st" -- true 2>/dev/null || rc=$?
    check_eq "a wrong token is an error (1), not unavailability" "$rc" 1
}

test_hooks() {
    local st=$work/state-hooks log=$work/hooks.log out=$work/hooks.out pa pb ra=0 rb=0 rc codes=''
    "$hooks/baton-run-if-leader.sh" --lease e2e-hook --ttl 3s -- "$child" "$log" hook-a 2 2>"$work/hooks-a.err" &
    pa=$!
    wait_for "$log" "^start hook-a" 10
    BATON_HOLDER=hook-b "$hooks/baton-run-if-leader.sh" --lease e2e-hook --ttl 3s -- "$child" "$log" hook-b 1 2>"$work/hooks-b.err" || rb=$?
    wait_pid "$pa" 15 || ra=$?
    check_eq "run-if-leader: the leader's command ran (exit 0)" "$ra" 0
    check_eq "run-if-leader: the other one is skipped (75)" "$rb" 75
    check_eq "run-if-leader: it renewed past the TTL (child ran 2 s of a 3 s TTL, 20 ticks)" "$(grep -c '^tick hook-a' "$log")" 20
    check_eq "run-if-leader: the lease was released" "$(leader_holder e2e-hook)" -
    rc=0
    BATON_HOLDER=hook-b "$hooks/baton-run-if-leader.sh" --lease e2e-hook -- sh -c 'exit 5' 2>/dev/null || rc=$?
    check_eq "run-if-leader: the command's exit code is passed through" "$rc" 5

    for _ in 1 2 3; do
        rc=0
        BATON_URL=$closed_url "$hooks/baton-run-if-leader.sh" --lease e2e-hook --state-dir "$st" -- sh -c "echo ran >>'$out'" 2>>"$work/hooks.err" || rc=$?
        codes="$codes$rc "
    done
    check_eq "run-if-leader, Baton unreachable: 69, 69, then run" "$codes" "69 69 0 "
    rc=0
    BATON_URL=$closed_url "$ctl" lock --lease e2e-hook --state-dir "$st" --on-unavailable skip -- true 2>/dev/null || rc=$?
    check_eq "batonctl reads the hook's counter (4th failure, skip: 69)" "$rc" 69
    check_eq "hook and batonctl share one counter" "$(head -n 1 "$st/lease-e2e-hook.failures")" 4

    ra=0 rb=0
    : >"$out"
    BATON_HOLDER=hook-a "$hooks/baton-claim.sh" --task e2e-hook --slot s1 -- sh -c "echo a >>'$out'; sleep 1" 2>"$work/hooks-ca.err" &
    pa=$!
    BATON_HOLDER=hook-b "$hooks/baton-claim.sh" --task e2e-hook --slot s1 -- sh -c "echo b >>'$out'; sleep 1" 2>"$work/hooks-cb.err" &
    pb=$!
    wait_pid "$pa" 15 || ra=$?
    wait_pid "$pb" 15 || rb=$?
    check_eq "claim hook: exit codes (sorted)" "$(printf '%s\n' "$ra" "$rb" | sort -n | tr '\n' ' ')" "0 75 "
    check_eq "claim hook: the command ran once" "$(wc -l <"$out" | tr -d ' ')" 1
    rc=0
    "$ctl" claim --task e2e-hook --slot s1 -- true 2>/dev/null || rc=$?
    check_eq "batonctl sees the hook's completed slot (75)" "$rc" 75
    rc=0
    BATON_HOLDER=hook-a "$hooks/baton-claim.sh" --task e2e-hook --slot 's"2\x' -- sh -c 'exit 4' 2>/dev/null || rc=$?
    check_eq "claim hook: exit code passed through (slot with quote and backslash)" "$rc" 4
    check_eq "claim hook: recorded as failed / succeeded with the exit codes" "$(runs e2e-hook 2)" "failed:exit code 4|succeeded:exit code 0"
    codes=''
    for _ in 1 2; do
        rc=0
        BATON_URL=$closed_url "$hooks/baton-claim.sh" --task e2e-hook --on-unavailable skip --breaker-threshold 1 --state-dir "$st" -- true 2>/dev/null || rc=$?
        codes="$codes$rc "
    done
    check_eq "claim hook, unreachable, skip: 69 69" "$codes" "69 69 "
}

test_jellyfin() {
    local rc triggers pa pb ra=0 rb=0 jf=(--jellyfin-url "$jf_url")
    rc=0
    "$ctl" jellyfin disable-triggers --task RefreshLibrary "${jf[@]}" >/dev/null 2>&1 || rc=$?
    check_eq "disable-triggers exits 0" "$rc" 0
    triggers=$(curl -fsS -H "X-Emby-Token: $jf_key" "$jf_url/ScheduledTasks" | python3 -c '
import json, sys
wanted = ("RefreshLibrary", "RefreshPeople")
print(" ".join("%s=%d" % (t["Key"], len(t["Triggers"])) for t in json.load(sys.stdin) if t["Key"] in wanted))')
    check_eq "RefreshLibrary has no triggers left, RefreshPeople keeps its own" "$triggers" "RefreshLibrary=0 RefreshPeople=1"
    check "it posted [] to the task's Triggers" grep -q 'POST /ScheduledTasks/7738148ffcd07979c7ceb148e06b3aed/Triggers \[\]' "$work/jellyfin.log"
    rc=0
    "$ctl" jellyfin disable-triggers --task NoSuchTask "${jf[@]}" >/dev/null 2>&1 || rc=$?
    check_eq "disable-triggers of an unknown task exits 1" "$rc" 1

    : >"$work/jellyfin.log"
    "$ctl" jellyfin run-task --task RefreshLibrary --slot 2026-11-27T00:00Z --poll-interval 100ms --holder jf-a "${jf[@]}" 2>"$work/jf-a.err" &
    pa=$!
    "$ctl" jellyfin run-task --task RefreshLibrary --slot 2026-11-27T00:00Z --poll-interval 100ms --holder jf-b "${jf[@]}" 2>"$work/jf-b.err" &
    pb=$!
    wait_pid "$pa" 20 || ra=$?
    wait_pid "$pb" 20 || rb=$?
    check_eq "run-task twice on one slot: exit codes (sorted)" "$(printf '%s\n' "$ra" "$rb" | sort -n | tr '\n' ' ')" "0 75 "
    check_eq "Jellyfin was asked to start RefreshLibrary once" \
        "$(grep -c 'POST /ScheduledTasks/Running/7738148ffcd07979c7ceb148e06b3aed' "$work/jellyfin.log")" 1
    check "the run is recorded as succeeded with Jellyfin's status" matches "$(runs RefreshLibrary 1)" 'succeeded:Jellyfin: Completed*'


    rc=0
    "$ctl" jellyfin run-task --task RefreshPeople --poll-interval 100ms "${jf[@]}" 2>/dev/null || rc=$?
    check_eq "a task that fails in Jellyfin exits 1" "$rc" 1
    check "and is recorded as failed with Jellyfin's error" matches "$(runs RefreshPeople 1)" 'failed:Jellyfin: Failed*stand-in failure'


    rc=0
    JELLYFIN_API_KEY=wrong "$ctl" jellyfin run-task --task CleanActivityLog --slot s1 --poll-interval 100ms --jellyfin-url "$jf_url" 2>/dev/null || rc=$?
    check_eq "a wrong Jellyfin API key exits 1" "$rc" 1
    check "and the run is recorded as cancelled" matches "$(runs CleanActivityLog 1)" 'cancelled:*401*'

    rc=0
    "$ctl" jellyfin run-task --task CleanActivityLog --slot s1 --poll-interval 100ms "${jf[@]}" 2>/dev/null || rc=$?
    check_eq "so the slot stays open for the next try (exit 0)" "$rc" 0
}

test_views() {
    local out rc=0
    out=$("$ctl" status 2>&1) || rc=$?
    check_eq "status exits 0" "$rc" 0
    check "status shows the backends" grep -q '^redis .*closed' <<<"$out"
    check "status shows leases (vacant ones on one line)" grep -q '^vacant: .*e2e-mutex' <<<"$out"
    check "status shows tasks with their last result" grep -Eq '^e2e-once .*(failed|succeeded)' <<<"$out"
    check "status --json is JSON with status, leases and tasks" bash -c \
        "'$ctl' status --json | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d[\"status\"][\"version\"] and d[\"leases\"] and d[\"tasks\"][\"tasks\"]'"
    rc=0
    "$ctl" leader acquire --lease e2e-manual --holder op-1 >/dev/null || rc=$?
    check_eq "leader acquire: 0" "$rc" 0
    rc=0
    "$ctl" leader acquire --lease e2e-manual --holder op-2 >/dev/null || rc=$?
    check_eq "leader acquire by another holder: 75" "$rc" 75
    rc=0
    "$ctl" leader renew --lease e2e-manual --holder op-2 >/dev/null || rc=$?
    check_eq "leader renew by a non-holder: 76" "$rc" 76
    rc=0
    "$ctl" leader renew --lease e2e-manual --holder op-1 --ttl 10s >/dev/null || rc=$?
    check_eq "leader renew by the holder: 0" "$rc" 0
    rc=0
    "$ctl" leader release --lease e2e-manual --holder op-1 >/dev/null || rc=$?
    check_eq "leader release: 0" "$rc" 0
    check_eq "leader get: vacant" "$(leader_holder e2e-manual)" -
    check "leases history lists the tenure" eventually bash -c "'$ctl' leases history e2e-manual | grep -q 'op-1 .*released'"
    check "tasks lists the tasks" bash -c "'$ctl' tasks | grep -q '^e2e-once '"
    check "health exits 0" "$ctl" health --url "$url"
    rc=0
    "$ctl" lock --lease 'bad name' -- true 2>/dev/null || rc=$?
    check_eq "a bad lease name is a usage error (64)" "$rc" 64
}

started=$(date +%s)
run_test test_lock_mutual_exclusion
run_test test_lock_handover_after_sigkill
run_test test_same_holder_tenure_is_not_kept_alive
run_test test_stalled_renewal_kills_before_deadline
run_test test_sigterm_is_passed_on
run_test test_claim_runs_once_per_slot
run_test test_unreachable_baton
run_test test_hooks
run_test test_jellyfin
run_test test_views

if [ "$failed" -gt 0 ]; then
    printf '\nbatond log (last lines):\n' >&2
    tail -n 15 "$work/batond.log" >&2
fi
printf '\n(%ss)\ne2e-batonctl: %d passed, %d failed\n' "$(($(date +%s) - started))" "$passed" "$failed"
[ "$failed" -eq 0 ]
