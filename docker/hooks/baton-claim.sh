#!/bin/sh
# baton-claim.sh: run a command once across replicas through a Baton task claim.
# POSIX sh + curl: for images that cannot carry the batonctl binary. Same contract as
# `batonctl claim`.
#
#   baton-claim.sh --task NAME [--slot SLOT] [--at-most 1h] [--at-least 0s] [--grace 5s]
#       [--skipped-exit N] [--on-unavailable run|skip] [--breaker-threshold N]
#       [--state-dir DIR] -- CMD [ARG...]
#
# Environment: BATON_URL (default http://127.0.0.1:8080), BATON_TOKEN, BATON_HOLDER (default:
# the host name), BATON_STATE_DIR (default $XDG_STATE_HOME/batonctl or ~/.local/state/batonctl,
# or $TMPDIR/batonctl-UID when that cannot be written).
# Durations are whole numbers with a unit: 1500ms, 30s, 5m, 1h.
#
# Claims the task (POST /tasks/claim; with --slot at most one completed run per task and
# slot), runs CMD, extends the claim every at-most/3 (POST /tasks/extend) and completes it
# (POST /tasks/complete) as succeeded (exit code 0) or failed, with the exit code as detail;
# a run stopped by SIGTERM/SIGINT/SIGHUP to this script is completed as cancelled (its slot
# stays open). If the claim is lost, or no extension succeeds before the local deadline, CMD
# gets SIGTERM, then SIGKILL after the grace period (whole process group when setsid exists).
# CMD gets BATON_TASK, BATON_RUN_ID, BATON_SLOT, BATON_HOLDER, BATON_FENCING_TOKEN, BATON_MODE.
#
# Exit codes: CMD's own code when it ran; 75 skipped (held, slot done, recently completed;
# --skipped-exit); 76 claim lost while CMD ran (CMD killed); 69 Baton unavailable and CMD not
# run; 64 usage; 1 other errors. Client breaker: after --breaker-threshold (3) consecutive
# failures to reach Baton (connect error, timeout, 5xx), counted across runs in
# <state-dir>/task-NAME.failures (shared with batonctl), --on-unavailable run (default) runs
# CMD without coordination and says so loudly; skip exits 69. Below the threshold the script
# exits 69 (retry next schedule).
set -u

prog=baton-claim
say() { printf '%s: %s\n' "$prog" "$*" >&2; }
usage() {
    say "$*"
    say "usage: $prog --task NAME [--slot SLOT] [--at-most 1h] [--at-least 0s] [--grace D] [--skipped-exit N] [--on-unavailable run|skip] [--breaker-threshold N] [--state-dir DIR] -- CMD [ARG...]"
    exit 64
}

# duration_ms 30s -> 30000 (whole numbers with ms, s, m or h)
duration_ms() {
    case $1 in
        *ms) _n=${1%ms} _m=1 ;;
        *s) _n=${1%s} _m=1000 ;;
        *m) _n=${1%m} _m=60000 ;;
        *h) _n=${1%h} _m=3600000 ;;
        *) return 1 ;;
    esac
    case $_n in '' | *[!0-9]*) return 1 ;; esac
    echo $((_n * _m))
}

# now_ms: a monotonic clock in milliseconds (Linux /proc/uptime), else the wall clock.
now_ms() {
    if [ -r /proc/uptime ]; then
        read -r _up _rest </proc/uptime
        _s=${_up%.*}
        _f=${_up#*.}
        [ "$_f" = "$_up" ] && _f=0
        _f=${_f#0}
        echo $((_s * 1000 + ${_f:-0} * 10))
    else
        echo $(($(date +%s) * 1000))
    fi
}

# seconds 1500 -> 1.500 (for curl --max-time)
seconds() { printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)); }

nap() { sleep 0.1 2>/dev/null || sleep 1; }

task='' slot='' at_most=1h at_least=0s grace='' skipped_exit=75 on_unavailable=run threshold=3
state_dir=${BATON_STATE_DIR:-}
while [ $# -gt 0 ]; do
    case $1 in
        --task) [ $# -ge 2 ] || usage "--task needs a value"; task=$2; shift 2 ;;
        --slot) [ $# -ge 2 ] || usage "--slot needs a value"; slot=$2; shift 2 ;;
        --at-most) [ $# -ge 2 ] || usage "--at-most needs a value"; at_most=$2; shift 2 ;;
        --at-least) [ $# -ge 2 ] || usage "--at-least needs a value"; at_least=$2; shift 2 ;;
        --grace) [ $# -ge 2 ] || usage "--grace needs a value"; grace=$2; shift 2 ;;
        --skipped-exit) [ $# -ge 2 ] || usage "--skipped-exit needs a value"; skipped_exit=$2; shift 2 ;;
        --on-unavailable) [ $# -ge 2 ] || usage "--on-unavailable needs a value"; on_unavailable=$2; shift 2 ;;
        --breaker-threshold) [ $# -ge 2 ] || usage "--breaker-threshold needs a value"; threshold=$2; shift 2 ;;
        --state-dir) [ $# -ge 2 ] || usage "--state-dir needs a value"; state_dir=$2; shift 2 ;;
        --) shift; break ;;
        *) usage "unknown option: $1" ;;
    esac
done
[ $# -gt 0 ] || usage "no command: put it after --"
case $task in
    '' | [!A-Za-z0-9]* | *[!A-Za-z0-9._:-]*) usage "--task must match ^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}\$" ;;
esac
[ ${#task} -le 128 ] || usage "--task is longer than 128 characters"
case $slot in *[[:cntrl:]]*) usage "--slot must not contain control characters" ;; esac
[ ${#slot} -le 128 ] || usage "--slot is longer than 128 characters"
at_most_ms=$(duration_ms "$at_most") || usage "--at-most: not a duration: $at_most (e.g. 1h)"
at_least_ms=$(duration_ms "$at_least") || usage "--at-least: not a duration: $at_least (e.g. 30s)"
if [ "$at_most_ms" -lt 1000 ] || [ "$at_most_ms" -gt 604800000 ]; then usage "--at-most must be from 1s to 7d"; fi
[ "$at_least_ms" -le "$at_most_ms" ] || usage "--at-least must not exceed --at-most"
case $skipped_exit in '' | *[!0-9]*) usage "--skipped-exit must be 0-255" ;; esac
[ "$skipped_exit" -le 255 ] || usage "--skipped-exit must be 0-255"
case $on_unavailable in run | skip) ;; *) usage "--on-unavailable must be run or skip" ;; esac
case $threshold in '' | 0 | *[!0-9]*) usage "--breaker-threshold must be at least 1" ;; esac

BATON_URL=${BATON_URL:-http://127.0.0.1:8080}
BATON_URL=${BATON_URL%/}
if [ -z "${BATON_HOLDER:-}" ]; then
    BATON_HOLDER=$(hostname 2>/dev/null || uname -n)
fi
case $BATON_HOLDER in
    '' | [!A-Za-z0-9]* | *[!A-Za-z0-9._:@/-]*) usage "holder '$BATON_HOLDER' is not valid (set BATON_HOLDER)" ;;
esac

# The claim's lifetime plays the part of a lease TTL.
ttl_ms=$at_most_ms
renew_ms=$((ttl_ms / 3))
if [ -n "$grace" ]; then
    grace_ms=$(duration_ms "$grace") || usage "--grace: not a duration: $grace"
else
    grace_ms=$((ttl_ms / 6))
    [ "$grace_ms" -le 5000 ] || grace_ms=5000
fi
safety_ms=$((ttl_ms / 10))
[ "$safety_ms" -le 1000 ] || safety_ms=1000
margin_ms=$((grace_ms + safety_ms))
[ $((margin_ms + renew_ms)) -lt "$ttl_ms" ] || usage "--grace is too long for --at-most $at_most"
retry_ms=$((ttl_ms / 10))
[ "$retry_ms" -le 1000 ] || retry_ms=1000
[ "$retry_ms" -ge 200 ] || retry_ms=200
timeout_ms=$renew_ms
[ "$timeout_ms" -ge 300 ] || timeout_ms=300
[ "$timeout_ms" -le 10000 ] || timeout_ms=10000

if [ -z "$state_dir" ]; then
    case ${XDG_STATE_HOME:-} in
        /*) state_dir=$XDG_STATE_HOME/batonctl ;;
        *) state_dir=${HOME:-/nonexistent}/.local/state/batonctl ;;
    esac
    # A read-only root file system or no home: a folder of our own under TMPDIR (as batonctl).
    if ! { (umask 077 && mkdir -p "$state_dir") && [ -w "$state_dir" ]; } 2>/dev/null; then
        tmp=${TMPDIR:-/tmp}
        case $tmp in /*) ;; *) tmp=/tmp ;; esac
        state_dir=${tmp%/}/batonctl-$(id -u)
    fi
fi
breaker_file=$state_dir/task-$task.failures

work=$(mktemp -d "${TMPDIR:-/tmp}/baton-hook.XXXXXX") || exit 1
body=$work/body
errors=$work/errors
trap 'rm -rf "$work"' EXIT

# curl_config: the token as a curl config line, read by curl from stdin (-K -) so that it
# never shows in the process list; nothing without a token.
curl_config() {
    if [ -n "${BATON_TOKEN:-}" ]; then
        printf 'header = "Authorization: Bearer %s"\n' "$BATON_TOKEN"
    fi
}

# baton_post TIMEOUT_MS PATH JSON: sets $status (000 when there was no answer) and $body.
baton_post() {
    : >"$body"
    status=$(curl_config |
        curl -sS -K - -o "$body" -w '%{http_code}' --max-time "$(seconds "$1")" \
            -H 'Content-Type: application/json' -H 'User-Agent: baton-hook/1.0' \
            --data "$3" "$BATON_URL$2" 2>"$errors") || true
    case $status in [0-9][0-9][0-9]) ;; *) status=000 ;; esac
}

json_str() { sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p" "$body" | head -n 1; }
json_num() { sed -n "s/.*\"$1\":\([0-9][0-9]*\).*/\1/p" "$body" | head -n 1; }
json_escape() { printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g'; }
json_true() { grep -q "\"$1\":true" "$body"; }

# valid_ms: how long the answer says the claim lasts: min(at-most, expires_in_ms).
valid_ms() {
    _e=$(json_num expires_in_ms)
    if [ -z "$_e" ] || [ "$_e" -gt "$ttl_ms" ]; then _e=$ttl_ms; fi
    echo "$_e"
}

unavailable_reason() {
    if [ "$status" = 000 ]; then
        _why=$(tr '\n' ' ' <"$errors" | sed 's/^curl: ([0-9]*) //; s/ *$//')
        echo "${_why:-no answer}"
    else
        _why=$(json_str detail)
        echo "HTTP $status${_why:+: $_why}"
    fi
}

# state_dir_ok: the state folder is a real folder (not a symlink) of ours that neither group
# nor others can write, as batonctl requires: on a shared /tmp another user could have made
# it first and planted a counter of 99 or symlinks (issue 15). Otherwise it is not used.
state_dir_ok() {
    [ -d "$state_dir" ] && [ ! -L "$state_dir" ] && [ -O "$state_dir" ] || return 1
    # ls -ld: drwxrwxrwx; characters 6 and 9 are the group's and others' write bits.
    # shellcheck disable=SC2012 # one known path; POSIX has no stat(1)
    [ "$(ls -ld "$state_dir" | cut -c6,9)" = "--" ]
}

breaker_count() {
    _c=0
    state_dir_ok && [ -f "$breaker_file" ] && [ ! -L "$breaker_file" ] && read -r _c <"$breaker_file"
    case $_c in '' | *[!0-9]*) _c=0 ;; esac
    echo "$_c"
}

breaker_fail() {
    _n=$(($(breaker_count) + 1))
    (umask 077 && mkdir -p "$state_dir") 2>/dev/null
    if ! state_dir_ok; then
        say "warning: not using the failure counters in $state_dir: not a folder of ours that only we can write; set --state-dir or BATON_STATE_DIR"
    # A new file (mktemp: O_EXCL, 0600) renamed over the old counter, which may be a symlink.
    elif ! { _t=$(mktemp "$breaker_file.XXXXXX") &&
        printf '%s\n%s\n%s\n' "$_n" "$1" "$(date +%s)" >"$_t" &&
        { [ ! -d "$breaker_file" ] || [ -L "$breaker_file" ]; } && rm -f "$breaker_file" &&
        mv -f "$_t" "$breaker_file"; } 2>/dev/null; then
        [ -n "${_t:-}" ] && rm -f "$_t" 2>/dev/null
        say "warning: cannot write the failure counter $breaker_file; set --state-dir or BATON_STATE_DIR"
    fi
    echo "$_n"
}

breaker_ok() { if state_dir_ok; then rm -f "$breaker_file" 2>/dev/null || true; fi; }

loud() {
    {
        echo '!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!'
        for _line in "$@"; do echo "!! $prog: $_line"; done
        echo '!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!'
    } >&2
}

interrupted=''
trap 'interrupted=TERM' TERM
trap 'interrupted=INT' INT
trap 'interrupted=HUP' HUP

# start_child CMD...: in a session of its own when setsid exists, so that the whole
# process group can be signalled. Sets $child and $group.
start_child() {
    if command -v setsid >/dev/null 2>&1; then
        setsid "$@" &
        child=$!
        group=-$child
    else
        "$@" &
        child=$!
        group=$child
    fi
}

signal_child() { kill -s "$1" -- "$group" 2>/dev/null || kill -s "$1" "$child" 2>/dev/null || true; }

# stop_child: SIGTERM, SIGKILL after the grace period.
stop_child() {
    signal_child TERM
    _until=$(($(now_ms) + grace_ms))
    while kill -0 "$child" 2>/dev/null && [ "$(now_ms)" -lt "$_until" ]; do nap; done
    signal_child KILL
}

# complete_run STATUS DETAIL [ATTEMPTS]: POST /tasks/complete, retried while Baton is unavailable.
complete_run() {
    _attempt=1
    while :; do
        baton_post "$timeout_ms" /tasks/complete "{\"task\":\"$task\",\"run_id\":\"$run_id\",\"holder\":\"$BATON_HOLDER\",\"status\":\"$1\",\"detail\":\"$(json_escape "$2")\"}"
        case $status in
            200) return 0 ;;
            409)
                say "warning: completed $task late: the claim had already expired; the run is recorded, it may have overlapped another run"
                return 0
                ;;
            000 | 5??)
                if [ "$_attempt" -ge "${3:-3}" ]; then
                    say "warning: could not complete $task run $run_id ($(unavailable_reason)); the claim expires after --at-most ($at_most)"
                    return 1
                fi
                say "warning: could not complete $task ($(unavailable_reason)); retrying"
                _attempt=$((_attempt + 1))
                sleep 1
                ;;
            *)
                say "warning: could not complete $task run $run_id (HTTP $status: $(json_str detail))"
                return 1
                ;;
        esac
    done
}

# ---- claim ---------------------------------------------------------------------------
what="task $task${slot:+ slot $slot}"
slot_json=''
[ -n "$slot" ] && slot_json=",\"slot\":\"$(json_escape "$slot")\""
sent=$(now_ms)
baton_post "$timeout_ms" /tasks/claim "{\"task\":\"$task\",\"holder\":\"$BATON_HOLDER\"$slot_json,\"lock_at_most_ms\":$at_most_ms,\"lock_at_least_ms\":$at_least_ms}"
case $status in
    200 | 409) breaker_ok ;;
    000 | 5??)
        why=$(unavailable_reason)
        n=$(breaker_fail "$why")
        if [ "$n" -ge "$threshold" ] && [ "$on_unavailable" = run ]; then
            loud "Baton at $BATON_URL is unavailable ($why)," \
                "$n consecutive failures for task $task (threshold $threshold)." \
                "RUNNING THE COMMAND WITHOUT COORDINATION (--on-unavailable run):" \
                "another replica may be running it at the same time."
            BATON_TASK=$task BATON_RUN_ID='' BATON_SLOT=$slot BATON_FENCING_TOKEN='' BATON_MODE=local
            export BATON_TASK BATON_RUN_ID BATON_SLOT BATON_HOLDER BATON_FENCING_TOKEN BATON_MODE
            start_child "$@"
            while kill -0 "$child" 2>/dev/null; do
                if [ -n "$interrupted" ]; then
                    stop_child
                    break
                fi
                nap
            done
            wait "$child"
            exit $?
        fi
        if [ "$on_unavailable" = skip ]; then
            say "Baton at $BATON_URL is unavailable ($why); failure $n for task $task; --on-unavailable skip: not running the command (exit 69)"
        else
            say "Baton at $BATON_URL is unavailable ($why); failure $n of $threshold for task $task; not running the command now (exit 69)"
        fi
        exit 69
        ;;
    *)
        hint=''
        [ "$status" = 401 ] && hint=' (check BATON_TOKEN)'
        say "Baton refused the request (HTTP $status): $(json_str detail)$hint"
        exit 1
        ;;
esac

holder_now=$(json_str holder)
run_id=$(json_str run_id)
token=$(json_num fencing_token)
mode=$(json_str mode)
if [ "$status" = 409 ] || ! json_true claimed || [ -z "$run_id" ]; then
    case $(json_str reason) in
        held) why="already running${holder_now:+ on $holder_now}" ;;
        slot_done) why="this slot already ran${holder_now:+ on $holder_now}" ;;
        recently_completed) why="completed recently${holder_now:+ on $holder_now}" ;;
        recovering) why="Baton is recovering from lost Redis data and grants no claim until earlier ones have run out" ;;
        '') why="not claimed" ;;
        *) why="refused ($(json_str reason))" ;;
    esac
    say "not running $what: $why (exit $skipped_exit)"
    exit "$skipped_exit"
fi
[ "$mode" = degraded ] && say "warning: Baton granted $what in DEGRADED mode (its Redis is unreachable): another replica may run it too"
expires=$(valid_ms)
deadline=$((sent + expires - margin_ms))
next_renew=$((sent + renew_ms))

# ---- run -----------------------------------------------------------------------------
say "claimed $what as $BATON_HOLDER (run $run_id, token ${token:-none}): running $1"
BATON_TASK=$task BATON_RUN_ID=$run_id BATON_SLOT=$slot BATON_FENCING_TOKEN=$token BATON_MODE=${mode:-normal}
export BATON_TASK BATON_RUN_ID BATON_SLOT BATON_HOLDER BATON_FENCING_TOKEN BATON_MODE
start_child "$@"

lost=''
stopped=''
while kill -0 "$child" 2>/dev/null; do
    if [ -n "$interrupted" ]; then
        say "got SIG$interrupted: stopping the command"
        stopped=$interrupted
        stop_child
        break
    fi
    now=$(now_ms)
    if [ "$now" -ge "$deadline" ]; then
        lost="the claim on $task could not be extended in time (${last_failure:-no answer})"
    elif [ "$now" -ge "$next_renew" ]; then
        left=$((deadline - now))
        t=$timeout_ms
        [ "$t" -le "$left" ] || t=$left
        [ "$t" -ge 100 ] || t=100
        baton_post "$t" /tasks/extend "{\"task\":\"$task\",\"run_id\":\"$run_id\",\"holder\":\"$BATON_HOLDER\",\"lock_at_most_ms\":$at_most_ms}"
        case $status in
            200)
                expires=$(valid_ms)
                deadline=$((now + expires - margin_ms))
                next_renew=$((now + renew_ms))
                last_failure=''
                ;;
            409)
                other=$(json_str holder)
                if [ -n "$other" ]; then
                    lost="the claim on $task was lost (now held by $other)"
                else
                    lost="the claim on $task was lost (it expired)"
                fi
                ;;
            *)
                last_failure=$(unavailable_reason)
                say "warning: could not extend the claim on $task ($last_failure); retrying"
                next_renew=$(($(now_ms) + retry_ms))
                ;;
        esac
    fi
    if [ -n "$lost" ]; then
        loud "$lost:" "stopping the command (SIGTERM, SIGKILL after ${grace_ms}ms)"
        stop_child
        break
    fi
    nap
done
wait "$child"
rc=$?
signal_child TERM

if [ -n "$lost" ]; then
    complete_run cancelled "$lost; command killed (exit code $rc)" 1
    say "$lost; the command was stopped (exit code $rc); exit 76"
    exit 76
fi
if [ -n "$stopped" ]; then
    complete_run cancelled "baton-claim got SIG$stopped; exit code $rc"
    say "$1 was interrupted (exit code $rc); recorded as cancelled"
elif [ "$rc" -eq 0 ]; then
    complete_run succeeded "exit code 0"
    say "$1 ended with exit code 0; recorded as succeeded"
else
    complete_run failed "exit code $rc"
    say "$1 ended with exit code $rc; recorded as failed"
fi
exit "$rc"
