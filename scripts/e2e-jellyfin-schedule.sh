#!/usr/bin/env bash
# End-to-end test of `batonctl jellyfin schedule`: two Jellyfin stand-in pods
# (scripts/jellyfin-standin.py, sharing one config folder as pods share /config) with one
# sidecar each, a real batond, Redis and PostgreSQL, all on loopback. Bounded: about 75 s.
#
# What it checks:
#   - every library-wide task runs exactly once per slot across both pods, over several
#     slots (Baton's history and both pods' own run logs agree; no run started by a local
#     trigger of a library-wide task)
#   - per-pod tasks keep their triggers (and run on each pod by themselves)
#   - a Startup trigger runs once for two pods starting together; a Daily trigger (local
#     time in TZ) fires once; MaxRuntime cancels the run (DELETE) and it is recorded cancelled
#   - a dashboard edit on one pod is adopted as the shared schedule (revision 2)
#   - a run started by Jellyfin itself (dashboard Run) is recorded as an external run
#   - killing one sidecar mid-run (SIGKILL) and starting it again: the run is adopted,
#     no slot lost, none duplicated
#   - Jellyfin restarting on one pod: the sidecar carries on, the Startup task does not run again
#   - Baton unreachable: after the breaker threshold a due task runs without coordination, loudly
#   - `batonctl jellyfin restore` puts the original triggers back (also for the other pod,
#     from the shared file, after its restart)
# Prints "e2e-jellyfin-schedule: N passed, M failed" and exits non-zero when a check failed.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$BATON_ROOT"

ensure_packages python3 curl jq
scratch=${BATON_SCRATCH:-.build}
bin=$(swift build --scratch-path "$scratch" --show-bin-path)
if [ ! -x "$bin/batond" ] || [ ! -x "$bin/batonctl" ]; then
    log "building batond and batonctl in $scratch"
    swift build --scratch-path "$scratch" --product batond 2>&1 | tail -n 2
    swift build --scratch-path "$scratch" --product batonctl 2>&1 | tail -n 2
fi
ctl=$bin/batonctl
standin=$BATON_ROOT/scripts/jellyfin-standin.py

work=$(mktemp -d /tmp/baton-e2e-jfs.XXXXXX)
chmod 755 "$work"
pids=()
declare -A pod_pid=() car_pid=()
cleanup() {
    local rc=$? p
    [ -n "${batond_pid:-}" ] && kill -CONT "$batond_pid" 2>/dev/null
    for p in "${car_pid[@]}" "${pod_pid[@]}" "${pids[@]}"; do
        kill "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    stop_redis
    stop_postgres
    if [ "$rc" -eq 0 ]; then rm -rf "$work"; else printf 'logs kept in %s\n' "$work" >&2; fi
}
trap cleanup EXIT

# ---- servers --------------------------------------------------------------------------
unset PG_PORT PG_DATA PG_URL REDIS_PORT REDIS_PID REDIS_URL
log "starting Redis, PostgreSQL and batond"
start_redis "$work/redis" >/dev/null
start_postgres "$work/pg"
token=e2e-token-jellyfin-schedule
start_batond "$bin" "$work/batond.log" BATON_API_TOKENS="$token"
batond_pid=$BATOND_PID port=$BATOND_PORT url=$BATOND_URL
pids+=("$batond_pid")
export BATON_URL="$url" BATON_TOKEN="$token"
export JELLYFIN_API_KEY=e2e-jellyfin-key
# The pods' (and the sidecars') local time: Daily triggers are local, not UTC.
export TZ=Europe/Berlin

# Short triggers for the test (the pods' defaults, written to the shared trigger files at
# first start as Jellyfin does). 10 000 ticks = 1 ms.
daily_at=$(python3 -c 'import datetime,zoneinfo; n=datetime.datetime.now(zoneinfo.ZoneInfo("Europe/Berlin"))+datetime.timedelta(seconds=14); print(((n.hour*60+n.minute)*60+n.second)*10**7)')
cat >"$work/triggers.json" <<JSON
{
  "RefreshLibrary": [{"Type": "IntervalTrigger", "IntervalTicks": 60000000}],
  "RefreshPeople": [{"Type": "IntervalTrigger", "IntervalTicks": 70000000}],
  "OptimizeDatabaseTask": [{"Type": "IntervalTrigger", "IntervalTicks": 80000000}],
  "IntroSkipperDetect": [{"Type": "IntervalTrigger", "IntervalTicks": 60000000}],
  "RefreshGuide": [{"Type": "IntervalTrigger", "IntervalTicks": 864000000000}],
  "RefreshChapterImages": [{"Type": "DailyTrigger", "TimeOfDayTicks": $daily_at, "MaxRuntimeTicks": 20000000}],
  "RefreshTrickplayImages": [{"Type": "DailyTrigger", "TimeOfDayTicks": 0}],
  "CleanCollectionsAndPlaylists": [{"Type": "StartupTrigger"}],
  "PluginUpdates": [{"Type": "StartupTrigger"}, {"Type": "IntervalTrigger", "IntervalTicks": 864000000000}],
  "DeleteCacheFiles": [{"Type": "IntervalTrigger", "IntervalTicks": 864000000000}],
  "CleanLogFiles": [{"Type": "IntervalTrigger", "IntervalTicks": 864000000000}],
  "DeleteTranscodeFiles": [{"Type": "StartupTrigger"}, {"Type": "IntervalTrigger", "IntervalTicks": 864000000000}]
}
JSON
library_tasks=(RefreshLibrary RefreshPeople OptimizeDatabaseTask IntroSkipperDetect RefreshGuide RefreshChapterImages
    RefreshTrickplayImages CleanCollectionsAndPlaylists PluginUpdates CleanActivityLog)
per_pod_tasks=(DeleteCacheFiles CleanLogFiles DeleteTranscodeFiles)
declare -A pod_port=([a]=$(free_port) [b]=$(free_port))

start_pod() { # start_pod a|b
    local p=$1
    (exec python3 "$standin" --port "${pod_port[$p]}" --api-key "$JELLYFIN_API_KEY" --config-dir "$work/config" \
        --data-dir "$work/data-$p" --default-triggers "$work/triggers.json" --run-seconds 1 \
        --duration OptimizeDatabaseTask=4 --duration RefreshChapterImages=10 --outcome RefreshPeople=Failed \
        --log "$work/pod-$p.log") >>"$work/pod-$p.out" 2>&1 &
    pod_pid[$p]=$!
    local i
    for i in $(seq 1 100); do
        curl -fsS -H "X-Emby-Token: $JELLYFIN_API_KEY" "http://127.0.0.1:${pod_port[$p]}/ScheduledTasks" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    die "stand-in pod $p did not start"
}
start_sidecar() { # start_sidecar a|b
    local p=$1
    (exec "$ctl" jellyfin schedule --holder "pod-$p" --jellyfin-url "http://127.0.0.1:${pod_port[$p]}" \
        --poll-interval 300ms --at-most 6s --first-run-delay 2s --startup-window 1m --state-dir "$work/state-$p") \
        >>"$work/sidecar-$p.log" 2>&1 &
    car_pid[$p]=$!
}
jf() { # jf a|b METHOD PATH [BODY]
    curl -fsS -X "$2" -H "X-Emby-Token: $JELLYFIN_API_KEY" ${4:+-d "$4"} "http://127.0.0.1:${pod_port[$1]}$3"
}
task_id() { jf a GET /ScheduledTasks | jq -r --arg k "$1" '.[] | select(.Key == $k) | .Id'; }
baton() { curl -fsS -H "Authorization: Bearer $token" "$url$1"; }

passed=0
failed=0
ok() { passed=$((passed + 1)); printf '  ok   %s\n' "$1"; }
bad() { failed=$((failed + 1)); printf '  FAIL %s\n' "$1"; }
check() { local what=$1; shift; if "$@" >/dev/null; then ok "$what"; else bad "$what"; fi; }
check_eq() { if [ "$2" = "$3" ]; then ok "$1"; else bad "$1 (got '$2', want '$3')"; fi; }
check_ge() { if [ -n "$2" ] && [ "$2" -ge "$3" ]; then ok "$1 ($2 >= $3)"; else bad "$1 (got '$2', want >= $3)"; fi; }
eventually() { # eventually SECONDS COMMAND...: true once COMMAND succeeds
    local limit=$1 i
    shift
    for i in $(seq 1 $((limit * 5))); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    return 1
}

started=$(date +%s)
log "two pods, two sidecars"
start_pod a
start_pod b
original=$(jf a GET /ScheduledTasks | jq -S '[.[] | {Key, Triggers}] | sort_by(.Key)')
start_sidecar a
start_sidecar b

# ---- while it runs --------------------------------------------------------------------
check "the sidecars saved the schedules in Baton" eventually 10 bash -c \
    "curl -fsS -H 'Authorization: Bearer $token' '$url/schedules' | jq -e '[.schedules[].task] | length >= 9'"
check "library-wide tasks have no triggers left on either pod" eventually 10 bash -c \
    "for p in ${pod_port[a]} ${pod_port[b]}; do curl -fsS -H 'X-Emby-Token: $JELLYFIN_API_KEY' http://127.0.0.1:\$p/ScheduledTasks \
       | jq -e '[.[] | select(.Key == \"RefreshLibrary\" or .Key == \"IntroSkipperDetect\" or .Key == \"PluginUpdates\") | .Triggers | length] == [0,0,0]' || exit 1; done"

# A dashboard edit on pod a: RefreshGuide every 5 s instead of 24 h.
guide=$(task_id RefreshGuide)
jf a POST "/ScheduledTasks/$guide/Triggers" '[{"Type":"IntervalTrigger","IntervalTicks":50000000}]' >/dev/null
check "pod a's sidecar adopted the dashboard edit (log)" eventually 5 grep -q 'RefreshGuide: ADOPTED a dashboard edit' "$work/sidecar-a.log"
check_eq "the shared schedule is the edit, revision 2" \
    "$(baton /schedules/RefreshGuide | jq -c '[.revision, .triggers[0].interval_ms]')" '[2,5000]'
check "and the old revision is kept" bash -c "curl -fsS -H 'Authorization: Bearer $token' '$url/schedules/RefreshGuide/revisions' | jq -e '.revisions | length == 2'"

# The dashboard's Run button on pod b: Jellyfin runs the task by itself.
activity=$(task_id CleanActivityLog)
jf b POST "/ScheduledTasks/Running/$activity" >/dev/null
check "pod b's run of CleanActivityLog is recorded as an external run" eventually 8 bash -c \
    "curl -fsS -H 'Authorization: Bearer $token' '$url/tasks/CleanActivityLog/runs' | jq -e '.runs | any(.external and .holder == \"pod-b\" and .status == \"succeeded\")'"

# Kill the sidecar whose pod is running OptimizeDatabaseTask (4 s runs), mid-run.
victim=''
for i in $(seq 1 150); do
    for p in a b; do
        if jf "$p" GET /ScheduledTasks | jq -e '.[] | select(.Key == "OptimizeDatabaseTask") | .State == "Running"' >/dev/null 2>&1; then
            victim=$p
            break 2
        fi
    done
    sleep 0.1
done
if [ -n "$victim" ]; then
    kill -KILL "${car_pid[$victim]}"
    wait "${car_pid[$victim]}" 2>/dev/null || true
    killed_run=$(baton /tasks | jq -r '.tasks[] | select(.task == "OptimizeDatabaseTask") | .claim.run_id')
    sleep 1
    start_sidecar "$victim"
    check "the restarted sidecar adopted the run" eventually 8 grep -q "OptimizeDatabaseTask: adopting run $killed_run" "$work/sidecar-$victim.log"
    check "and completed it as succeeded" eventually 8 bash -c \
        "curl -fsS -H 'Authorization: Bearer $token' '$url/tasks/OptimizeDatabaseTask/runs' | jq -e '.runs | any(.run_id == \"$killed_run\" and .status == \"succeeded\")'"
else
    bad "OptimizeDatabaseTask never ran within 15 s (nothing to kill)"
fi

# Jellyfin restarts on pod b (SIGTERM: a run in progress ends Aborted, as Dispose does).
kill -TERM "${pod_pid[b]}"
wait "${pod_pid[b]}" 2>/dev/null || true
sleep 1
start_pod b
check "pod b's sidecar noticed the Jellyfin restart" eventually 5 grep -q 'Jellyfin answers again' "$work/sidecar-b.log"
check "the restarted pod b loaded the emptied trigger files (no library-wide triggers)" bash -c \
    "curl -fsS -H 'X-Emby-Token: $JELLYFIN_API_KEY' http://127.0.0.1:${pod_port[b]}/ScheduledTasks | jq -e '[.[] | select(.Key == \"RefreshLibrary\" or .Key == \"RefreshGuide\") | .Triggers | length] == [0,0]'"

# Let several slots go by.
while [ $(($(date +%s) - started)) -lt 48 ]; do sleep 1; done
log "stopping the sidecars"
for p in a b; do kill -TERM "${car_pid[$p]}"; done
for p in a b; do wait "${car_pid[$p]}" 2>/dev/null || true; done
car_pid=()
sleep 5  # the last runs end (the stand-ins) and history settles

# ---- once per slot --------------------------------------------------------------------
log "checking the runs"
total_slots=0
for t in "${library_tasks[@]}"; do
    runs=$(baton "/tasks/$t/runs?limit=1000")
    claimed=$(jq '[.runs[] | select(.external | not)] | length' <<<"$runs")
    dup=$(jq '[.runs[] | select(.slot != null and (.status == "succeeded" or .status == "failed")) | .slot] | group_by(.) | map(select(length > 1)) | length' <<<"$runs")
    api_starts=$(cat "$work/pod-a.log" "$work/pod-b.log" | grep -c "^RUN $t start by api" || true)
    trigger_starts=$(cat "$work/pod-a.log" "$work/pod-b.log" | grep -c "^RUN $t start by trigger" || true)
    external=$(jq '[.runs[] | select(.external)] | length' <<<"$runs")
    check_eq "$t: no slot ran twice" "$dup" 0
    check_eq "$t: no run started by a local trigger" "$trigger_starts" 0
    check_eq "$t: the pods started it as often as Baton recorded runs ($claimed claimed + $external external)" "$api_starts" "$((claimed + external))"
    total_slots=$((total_slots + claimed))
done
printf '  (%d claimed runs across both pods)\n' "$total_slots"
for t in RefreshLibrary IntroSkipperDetect RefreshPeople OptimizeDatabaseTask; do
    check_ge "$t ran several slots" "$(baton "/tasks/$t/runs?limit=1000" | jq '[.runs[] | select(.external | not) | .slot] | unique | length')" 3
done
# Slot names aside: no two runs closer than the interval (a second pod running the same fire
# time under another name would be). Times to the second, hence the 1.5 s of slack.
declare -A interval_s=([RefreshLibrary]=6 [IntroSkipperDetect]=6 [RefreshPeople]=7 [OptimizeDatabaseTask]=8)
for t in "${!interval_s[@]}"; do
    gap=$(baton "/tasks/$t/runs?limit=1000" | jq '[.runs[] | select((.external | not) and .finished_at != null)
        | {s: (.claimed_at | sub("\\.[0-9]+Z$"; "Z") | fromdateiso8601), e: (.finished_at | sub("\\.[0-9]+Z$"; "Z") | fromdateiso8601)}]
        | sort_by(.s) | [range(1; length) as $i | .[$i].s - .[$i - 1].e] | min // 99')
    check "$t: no run started sooner than ${interval_s[$t]} s after the previous one ended (min gap ${gap} s)" \
        python3 -c "import sys; sys.exit(0 if float('$gap') >= ${interval_s[$t]} - 1.5 else 1)"
done
check_ge "RefreshGuide ran on the adopted 5 s schedule" "$(baton "/tasks/RefreshGuide/runs?limit=1000" | jq '.runs | length')" 3
# Across every library-wide task: which pod claims a given slot first is a race, and one task's
# 6 slots all went to one pod once (1 in 32 for a fair race); ~30 slots in all do not.
check "both pods won slots" bash -c "for t in ${library_tasks[*]}; do curl -fsS -H 'Authorization: Bearer $token' \"$url/tasks/\$t/runs?limit=1000\"; done \
    | jq -s -e '[.[].runs[] | select(.external | not) | .holder] | unique | length == 2'"
check_eq "the Startup task ran once for both pods (and not again when pod b restarted)" "$(baton /tasks/CleanCollectionsAndPlaylists/runs | jq '[.runs[] | select(.slot | startswith("startup@"))] | length')" 1
check "RefreshPeople's failure is recorded with Jellyfin's ErrorMessage" bash -c \
    "curl -fsS -H 'Authorization: Bearer $token' '$url/tasks/RefreshPeople/runs' | jq -e '.runs | any(.status == \"failed\" and (.detail | contains(\"RefreshPeople: stand-in failure\")))'"
chapter=$(baton /tasks/RefreshChapterImages/runs)
check_eq "the Daily trigger fired once" "$(jq '.runs | length' <<<"$chapter")" 1
check_eq "its MaxRuntime (2 s) cancelled the 10 s run" "$(jq -r '.runs[0].status' <<<"$chapter")" cancelled
check "by DELETE /ScheduledTasks/Running/{id}" bash -c "cat '$work/pod-a.log' '$work/pod-b.log' | grep -q '^DELETE /ScheduledTasks/Running/$(task_id RefreshChapterImages)'"

# ---- per-pod tasks --------------------------------------------------------------------
for p in a b; do
    check_eq "pod $p: per-pod tasks keep their triggers" \
        "$(jf "$p" GET /ScheduledTasks | jq -c '[.[] | select(.Key == "DeleteCacheFiles" or .Key == "CleanLogFiles" or .Key == "DeleteTranscodeFiles") | .Triggers | length]')" '[1,1,2]'
    check "pod $p: DeleteTranscodeFiles ran there by its own Startup trigger" grep -q '^RUN DeleteTranscodeFiles start by trigger' "$work/pod-$p.log"
done
check_eq "per-pod tasks have no schedule in Baton" "$(baton /schedules | jq '[.schedules[] | select(.task == "DeleteCacheFiles" or .task == "CleanLogFiles" or .task == "DeleteTranscodeFiles")] | length')" 0

# ---- status and restore ---------------------------------------------------------------
status_out=$("$ctl" jellyfin status --jellyfin-url "http://127.0.0.1:${pod_port[a]}" 2>&1) || true
# The sidecars were stopped with SIGTERM, which leaves a run in progress to Jellyfin (the next
# sidecar adopts it): the last run may still be `running`. The line must say what Baton says.
last_run=$(baton /tasks | jq -r '.tasks[] | select(.task == "RefreshLibrary") | .last_run | "\(.status) on \(.holder)"')
if grep -Eq "^RefreshLibrary +library-wide +every 6s .*${last_run}" <<<"$status_out"; then
    ok "jellyfin status shows a library-wide task with its schedule and last run ($last_run)"
else
    bad "jellyfin status shows a library-wide task with its schedule and last run ($last_run); it printed:"
    grep -E '^(TASK|RefreshLibrary) ' <<<"$status_out" | sed 's/^/       /' || printf '%s\n' "$status_out" | head -5
fi
check "jellyfin status shows per-pod tasks with their local triggers" grep -Eq '^DeleteCacheFiles +per-pod .*every 24h$' <<<"$status_out"
# ---- Baton unreachable ----------------------------------------------------------------
# batond frozen (SIGSTOP: connections open, no answers): after --breaker-threshold failed
# claims the sidecar runs the due task on its pod without coordination, loudly.
log "Baton unreachable"
(exec "$ctl" jellyfin schedule --holder pod-a --jellyfin-url "http://127.0.0.1:${pod_port[a]}" --poll-interval 300ms \
    --at-most 6s --timeout 1s --breaker-threshold 2 --state-dir "$work/state-outage") >"$work/sidecar-outage.log" 2>&1 &
car_pid[a]=$!
check "a sidecar reads the schedules" eventually 10 grep -q 'Baton answers' "$work/sidecar-outage.log"
kill -STOP "$batond_pid"
check "with batond frozen, it warns and runs a due task without Baton" eventually 30 grep -q 'RUNNING THE COMMAND WITHOUT COORDINATION' "$work/sidecar-outage.log"
check "on its own pod" eventually 10 grep -q 'started on this pod WITHOUT Baton' "$work/sidecar-outage.log"
kill -CONT "$batond_pid"
check "after Baton answers again, claims granted to timed-out requests are adopted" eventually 10 grep -q 'granted after its request had timed out' "$work/sidecar-outage.log"
# Completed with the run made meanwhile without Baton (same slot), or as cancelled when none.
orphan_slot=$(sed -n 's/.*adopting run [0-9a-f-]* (slot \([^)]*\)) granted after.*/\1/p' "$work/sidecar-outage.log" | head -n 1)
check "and completed, not left to block the task (slot $orphan_slot)" eventually 10 bash -c \
    "grep -F 'slot $orphan_slot: ' '$work/sidecar-outage.log' | grep -Eq 'recorded as (cancelled|failed|succeeded)'"
kill -TERM "${car_pid[a]}"
wait "${car_pid[a]}" 2>/dev/null || true
car_pid=()

rc=0
"$ctl" jellyfin restore --jellyfin-url "http://127.0.0.1:${pod_port[a]}" >"$work/restore.out" 2>&1 || rc=$?
check_eq "jellyfin restore exits 0" "$rc" 0
expected=$(jq -S --argjson guide '[{"Type":"IntervalTrigger","IntervalTicks":50000000}]' \
    'map(if .Key == "RefreshGuide" then .Triggers = $guide else . end)' <<<"$original")
restored_a=$(jf a GET /ScheduledTasks | jq -S '[.[] | {Key, Triggers: [.Triggers[] | with_entries(select(.value != null))]}] | sort_by(.Key)')
check_eq "restore returned pod a's original triggers (RefreshGuide: the adopted edit)" "$restored_a" "$(jq -S '[.[] | {Key, Triggers: [.Triggers[] | with_entries(select(.value != null))]}]' <<<"$expected")"
kill "${pod_pid[b]}"
wait "${pod_pid[b]}" 2>/dev/null || true
start_pod b
restored_b=$(jf b GET /ScheduledTasks | jq -S '[.[] | {Key, Triggers: [.Triggers[] | with_entries(select(.value != null))]}] | sort_by(.Key)')
check_eq "pod b, restarted, loads the restored triggers from the shared files" "$restored_b" "$restored_a"

# ---- a key on the command line is refused ---------------------------------------------
rc=0
"$ctl" jellyfin schedule --jellyfin-api-key "$JELLYFIN_API_KEY" >/dev/null 2>"$work/refuse.err" || rc=$?
check_eq "--jellyfin-api-key is refused (usage error)" "$rc" 64
check "pointing to JELLYFIN_API_KEY / --jellyfin-api-key-file" grep -q 'JELLYFIN_API_KEY or a file named by --jellyfin-api-key-file' "$work/refuse.err"

if [ "$failed" -gt 0 ]; then
    for p in a b; do printf '\nsidecar %s (last lines):\n' "$p" >&2; tail -n 15 "$work/sidecar-$p.log" >&2; done
fi
printf '\n(%ss)\ne2e-jellyfin-schedule: %d passed, %d failed\n' "$(($(date +%s) - started))" "$passed" "$failed"
[ "$failed" -eq 0 ]
