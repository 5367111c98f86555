#!/bin/sh
# baton-run-if-leader.sh: run a command only while this pod leads a Baton lease.
# POSIX sh + curl: for images that cannot carry the batonctl binary. Same contract as
# `batonctl lock`.
#
#   baton-run-if-leader.sh --lease NAME [--ttl 30s] [--grace 5s] [--skipped-exit N]
#       [--on-unavailable run|skip] [--breaker-threshold N] [--state-dir DIR] -- CMD [ARG...]
#
# Environment: BATON_URL (default http://127.0.0.1:8080), BATON_TOKEN, BATON_HOLDER (default:
# the host name), BATON_STATE_DIR (default $XDG_STATE_HOME/batonctl or ~/.local/state/batonctl,
# or $TMPDIR/batonctl-UID when that cannot be written).
# Durations are whole numbers with a unit: 1500ms, 30s, 5m, 1h.
#
# Acquires the lease (GET /leader, then POST /leader), runs CMD, renews every ttl/3 (POST /lease/renew with the
# fencing token) and releases the lease when CMD ends. If the lease is lost, or no renewal
# succeeds before the local deadline (last successful renewal + ttl - grace - min(1s, ttl/10),
# on the monotonic /proc/uptime clock), CMD gets SIGTERM, then SIGKILL after the grace period.
# CMD runs in a session of its own (setsid, when available) so the whole group is signalled.
# CMD gets BATON_LEASE, BATON_HOLDER, BATON_FENCING_TOKEN and BATON_MODE. Unlike batonctl,
# this script cannot stop CMD if the script itself is killed with SIGKILL.
#
# Exit codes: CMD's own code when it ran; 75 skipped (someone else leads; --skipped-exit);
# 76 lease lost while CMD ran (CMD killed); 69 Baton unavailable and CMD not run; 64 usage;
# 1 other errors. Client breaker: after --breaker-threshold (3) consecutive failures to reach
# Baton (connect error, timeout, 5xx), counted across runs in <state-dir>/lease-NAME.failures
# (shared with batonctl), --on-unavailable run (default) runs CMD without coordination and says
# so loudly; skip exits 69. Below the threshold the script exits 69 (retry next schedule).
set -u

prog=baton-run-if-leader
say() { printf '%s: %s\n' "$prog" "$*" >&2; }
usage() {
    say "$*"
    say "usage: $prog --lease NAME [--ttl 30s] [--grace D] [--skipped-exit N] [--on-unavailable run|skip] [--breaker-threshold N] [--state-dir DIR] -- CMD [ARG...]"
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

lease='' ttl=30s grace='' skipped_exit=75 on_unavailable=run threshold=3
state_dir=${BATON_STATE_DIR:-}
while [ $# -gt 0 ]; do
    case $1 in
        --lease) [ $# -ge 2 ] || usage "--lease needs a value"; lease=$2; shift 2 ;;
        --ttl) [ $# -ge 2 ] || usage "--ttl needs a value"; ttl=$2; shift 2 ;;
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
case $lease in
    '' | [!A-Za-z0-9]* | *[!A-Za-z0-9._:-]*) usage "--lease must match ^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}\$" ;;
esac
[ ${#lease} -le 128 ] || usage "--lease is longer than 128 characters"
ttl_ms=$(duration_ms "$ttl") || usage "--ttl: not a duration: $ttl (e.g. 30s)"
if [ "$ttl_ms" -lt 1000 ] || [ "$ttl_ms" -gt 86400000 ]; then usage "--ttl must be from 1s to 24h"; fi
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
[ $((margin_ms + renew_ms)) -lt "$ttl_ms" ] || usage "--grace is too long for --ttl $ttl"
retry_ms=$((ttl_ms / 10))
[ "$retry_ms" -le 1000 ] || retry_ms=1000
[ "$retry_ms" -ge 200 ] || retry_ms=200
timeout_ms=$renew_ms
[ "$timeout_ms" -ge 300 ] || timeout_ms=300

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
breaker_file=$state_dir/lease-$lease.failures

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

# baton_get TIMEOUT_MS PATH: like baton_post, for a GET.
baton_get() {
    : >"$body"
    status=$(curl_config |
        curl -sS -K - -o "$body" -w '%{http_code}' --max-time "$(seconds "$1")" \
            -H 'User-Agent: baton-hook/1.0' "$BATON_URL$2" 2>"$errors") || true
    case $status in [0-9][0-9][0-9]) ;; *) status=000 ;; esac
}

json_str() { sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p" "$body" | head -n 1; }
json_num() { sed -n "s/.*\"$1\":\([0-9][0-9]*\).*/\1/p" "$body" | head -n 1; }
json_true() { grep -q "\"$1\":true" "$body"; }

# valid_ms: how long the answer says the lease lasts: min(ttl, expires_in_ms).
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

# ---- acquire -------------------------------------------------------------------------
# Read first: POST /leader by a holder that already leads renews its tenure, so retrying it
# from cron would keep a dead predecessor's tenure (same holder) alive forever.
baton_get "$timeout_ms" "/leader?lease=$lease"
if [ "$status" = 200 ] && [ "$(json_str holder)" = "$BATON_HOLDER" ]; then
    breaker_ok
    say "holder $BATON_HOLDER already holds lease $lease (token $(json_num fencing_token)): another run with this holder is going on, or one died less than its TTL ago; skipping (exit $skipped_exit)"
    exit "$skipped_exit"
fi
# No answer at all: count it below. A 5xx (Redis down) goes on to POST /leader, which may
# grant in degraded mode.
if [ "$status" != 000 ]; then
    sent=$(now_ms)
    baton_post "$timeout_ms" /leader "{\"lease\":\"$lease\",\"holder\":\"$BATON_HOLDER\",\"ttl_ms\":$ttl_ms}"
fi
case $status in
    200 | 409) breaker_ok ;;
    000 | 5??)
        why=$(unavailable_reason)
        n=$(breaker_fail "$why")
        if [ "$n" -ge "$threshold" ] && [ "$on_unavailable" = run ]; then
            loud "Baton at $BATON_URL is unavailable ($why)," \
                "$n consecutive failures for lease $lease (threshold $threshold)." \
                "RUNNING THE COMMAND WITHOUT COORDINATION (--on-unavailable run):" \
                "another replica may be running it at the same time."
            BATON_LEASE=$lease BATON_FENCING_TOKEN='' BATON_MODE=local
            export BATON_LEASE BATON_HOLDER BATON_FENCING_TOKEN BATON_MODE
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
            say "Baton at $BATON_URL is unavailable ($why); failure $n for lease $lease; --on-unavailable skip: not running the command (exit 69)"
        else
            say "Baton at $BATON_URL is unavailable ($why); failure $n of $threshold for lease $lease; not running the command now (exit 69)"
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
token=$(json_num fencing_token)
mode=$(json_str mode)
if [ "$status" = 409 ]; then
    if [ -n "$holder_now" ]; then
        say "lease $lease is held by $holder_now (token ${token:--}); not leader, skipping (exit $skipped_exit)"
    elif [ "$(json_str reason)" = recovering ]; then
        say "lease $lease is not granted: Baton is recovering from lost Redis data until earlier tenures have run out; skipping (exit $skipped_exit)"
    else
        say "lease $lease is not granted ($(json_str reason)); skipping (exit $skipped_exit)"
    fi
    exit "$skipped_exit"
fi
if ! json_true leader; then
    say "unexpected answer from Baton: $(cat "$body")"
    exit 1
fi
if ! json_true acquired && [ "$mode" != degraded ]; then
    say "holder $BATON_HOLDER already holds lease $lease (token ${token:--}): another run with this holder is going on, or one died less than its TTL ago; skipping (exit $skipped_exit)"
    exit "$skipped_exit"
fi
[ "$mode" = degraded ] && say "warning: Baton granted $lease in DEGRADED mode (its Redis is unreachable): no fencing token, another replica may lead too"
expires=$(valid_ms)
deadline=$((sent + expires - margin_ms))
next_renew=$((sent + renew_ms))

# ---- run -----------------------------------------------------------------------------
say "leader of $lease as $BATON_HOLDER (token ${token:-none}, ttl $ttl): running $1"
BATON_LEASE=$lease BATON_FENCING_TOKEN=$token BATON_MODE=${mode:-normal}
export BATON_LEASE BATON_HOLDER BATON_FENCING_TOKEN BATON_MODE
start_child "$@"

token_json=''
[ -n "$token" ] && token_json=",\"fencing_token\":$token"
lost=''
while kill -0 "$child" 2>/dev/null; do
    if [ -n "$interrupted" ]; then
        say "got SIG$interrupted: stopping the command"
        stop_child
        break
    fi
    now=$(now_ms)
    if [ "$now" -ge "$deadline" ]; then
        lost="the lease $lease could not be renewed in time (${last_failure:-no answer})"
    elif [ "$now" -ge "$next_renew" ]; then
        left=$((deadline - now))
        t=$timeout_ms
        [ "$t" -le "$left" ] || t=$left
        [ "$t" -ge 100 ] || t=100
        baton_post "$t" /lease/renew "{\"lease\":\"$lease\",\"holder\":\"$BATON_HOLDER\",\"ttl_ms\":$ttl_ms$token_json}"
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
                    lost="the lease $lease was lost (now held by $other)"
                else
                    lost="the lease $lease was lost (it expired)"
                fi
                ;;
            *)
                last_failure=$(unavailable_reason)
                say "warning: could not renew the lease $lease ($last_failure); retrying"
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

baton_post 2000 /lease/release "{\"lease\":\"$lease\",\"holder\":\"$BATON_HOLDER\"$token_json}"
if [ -n "$lost" ]; then
    say "$lost; the command was stopped (exit code $rc); exit 76"
    exit 76
fi
[ "$status" = 200 ] || say "warning: could not release $lease (HTTP $status); it expires after its TTL"
say "$1 ended with exit code $rc; released $lease"
exit "$rc"
