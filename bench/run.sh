#!/usr/bin/env bash
# Benchmarks batond side by side with what it sits on, in one run on this machine:
# starts Redis, PostgreSQL (with Jellyfin's tables and the demo seed), etcd when it can
# be installed, and a release batond; measures each Baton endpoint and its baseline back
# to back at the same concurrency; prints throughput, p50/p99 latency, peak RSS, ratios
# and PASS/MISS per target. Stops everything it started. See bench/README.md.
#
#   ./bench/run.sh                 (or: make bench)
#
# Environment: BENCH_DURATION (seconds per measurement, default 10), BENCH_WARMUP
# (seconds, default 3), BENCH_CONNECTIONS (default 32), BENCH_SKIP_BUILD=1 (use the
# binary already in .build-bench), BENCH_BATOND=PATH (measure that binary instead of
# building one), BENCH_NO_ETCD=1 (skip the etcd rows), BENCH_NO_PROFILE=1 (skip the
# instruction and system-call counts), BENCH_PROFILE_COUNT (requests counted, default 2000),
# BENCH_ETCD_ROUNDS (alternated batond/etcd rounds in the etcd row, default 3).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/../scripts/lib.sh"
cd "$BATON_ROOT"

duration=${BENCH_DURATION:-10}
warmup=${BENCH_WARMUP:-3}
conns=${BENCH_CONNECTIONS:-32}
wrk_threads=2
scratch=.build-bench
demo_token=0123456789abcdef0123456789abcdef
api_token=bench-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
export BENCH_WRK_DIR="$BATON_ROOT/bench/wrk" BENCH_API_TOKEN="$api_token"

ensure_packages wrk redis-tools postgresql-contrib
etcd_note=""
if [ -n "${BENCH_NO_ETCD:-}" ]; then
    etcd_note="etcd rows skipped (BENCH_NO_ETCD is set)"
elif ! command -v etcd >/dev/null; then
    log "installing etcd-server (optional)"
    sudo=()
    [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    if ! DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends etcd-server >/dev/null 2>&1 \
        || ! command -v etcd >/dev/null; then
        etcd_note="etcd rows skipped: the etcd-server package could not be installed"
    fi
fi

work=$(mktemp -d /tmp/baton-bench.XXXXXX)
chmod 755 "$work"
batond_pid=""
etcd_pid=""
etcd_dir=""
cleanup() {
    set +e
    if [ -n "$batond_pid" ]; then kill -TERM "$batond_pid" 2>/dev/null; wait "$batond_pid" 2>/dev/null; fi
    if [ -n "$etcd_pid" ]; then kill -TERM "$etcd_pid" 2>/dev/null; wait "$etcd_pid" 2>/dev/null; fi
    [ -n "$etcd_dir" ] && rm -rf "$etcd_dir"
    stop_redis
    stop_postgres
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- build and size
if [ -z "${BENCH_SKIP_BUILD:-}" ] && [ -z "${BENCH_BATOND:-}" ]; then
    log "building batond (release, static Swift runtime, as in docker/Dockerfile)"
    swift build -c release --static-swift-stdlib --scratch-path "$scratch" --product batond 2>&1 \
        | grep -vE '^(\[[0-9]+/[0-9]+\]|warning: prohibited flag)' | tail -n 3
fi
bin=${BENCH_BATOND:-"$(swift build -c release --static-swift-stdlib --scratch-path "$scratch" --show-bin-path)/batond"}
[ -x "$bin" ] || die "no batond binary at $bin"
cp "$bin" "$work/batond.stripped"
strip "$work/batond.stripped"
size_bytes=$(stat -c %s "$work/batond.stripped")
unstripped_bytes=$(stat -c %s "$bin")

# ---------------------------------------------------------------- servers
log "starting Redis and PostgreSQL"
start_redis "$work/redis"
start_postgres "$work/pg"
seed_jellyfin_db "$PG_URL" jellyfin
db_url=$JELLYFIN_DB_URL

redis_cli() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" "$@"; }
python3 bench/extract.py lease-acquire >"$work/lease-acquire.lua"
python3 bench/extract.py task-step >"$work/task-step.lua"
python3 bench/extract.py session-sql >"$work/session.sql"
# The acquire script's SHA-1 as batond computes it: after batond has run it, Redis
# knowing this SHA proves the baseline runs the very same script.
lease_sha=$(printf %s "$(cat "$work/lease-acquire.lua")" | sha1sum | cut -d' ' -f1)

batond_port=""
# start_batond NAME VAR=VALUE...: a release batond on a free port, logs in $work/NAME.log.
start_batond() {
    local name=$1
    shift
    batond_port=$(free_port)
    (exec env BATON_LISTEN="127.0.0.1:$batond_port" BATON_REDIS_URL="$REDIS_URL" BATON_DATABASE_URL="$db_url" \
        BATON_API_TOKENS="$api_token" BATON_LOG_FORMAT=json "$@" "$bin") 2>"$work/$name.log" &
    batond_pid=$!
    local i
    for i in $(seq 1 200); do
        curl -fs "http://127.0.0.1:$batond_port/healthz" >/dev/null 2>&1 && return 0
        kill -0 "$batond_pid" 2>/dev/null || { tail -n 5 "$work/$name.log" >&2; die "batond ($name) exited"; }
        [ "$i" -eq 200 ] && die "batond ($name) did not answer /healthz"
        sleep 0.05
    done
}

# peak_rss_kb PID: the process's high-water resident set (VmHWM), in KiB.
peak_rss_kb() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }

stop_batond() {
    kill -TERM "$batond_pid" 2>/dev/null || true
    wait "$batond_pid" 2>/dev/null || true
    batond_pid=""
}

# ---------------------------------------------------------------- measurement helpers
# Each sets R_RPS, R_P50 and R_P99 (milliseconds) and R_NOTE (errors, if any).
R_RPS=0 R_P50=0 R_P99=0 R_NOTE="" R_EXTRA=""

# run_wrk URL SCRIPT [wrk options]: a warm-up run, then the measured one. Each run gets
# its own BENCH_RUN_ID (tasks.lua uses it to keep task names apart between runs).
wrk_runs=0
run_wrk() {
    local url=$1 script=$2
    shift 2
    wrk_runs=$((wrk_runs + 1))
    BENCH_RUN_ID="w$wrk_runs" wrk -t "$wrk_threads" -c "$conns" -d "${warmup}s" -s "$script" "$@" "$url" >/dev/null
    local out line
    timed_cpu "$work/wrk.out" env BENCH_RUN_ID="m$wrk_runs" wrk -t "$wrk_threads" -c "$conns" -d "${duration}s" -s "$script" "$@" "$url"
    out=$(cat "$work/wrk.out")
    line=$(grep '^WRK_RESULT' <<<"$out") || { echo "$out" >&2; die "wrk printed no result"; }
    local requests duration_us p50 p99 sock non2xx
    requests=$(field requests "$line")
    R_REQUESTS=$requests
    duration_us=$(field duration_us "$line")
    p50=$(field p50_us "$line")
    p99=$(field p99_us "$line")
    sock=$(field socket_errors "$line")
    non2xx=$(field non2xx "$line")
    R_RPS=$(awk -v n="$requests" -v d="$duration_us" 'BEGIN { printf "%.0f", n / (d / 1e6) }')
    R_P50=$(awk -v v="$p50" 'BEGIN { printf "%.2f", v / 1000 }')
    R_P99=$(awk -v v="$p99" 'BEGIN { printf "%.2f", v / 1000 }')
    R_NOTE=""
    if [ "$sock" != 0 ] || [ "$non2xx" != 0 ]; then R_NOTE="errors: $sock socket, $non2xx non-2xx"; fi
    R_EXTRA=$(sed -E 's/.* non2xx=[0-9]+ ?//' <<<"$line")
}

# field NAME "k=v k=v": the value of NAME.
field() { sed -E "s/.*(^| )$1=([^ ]+).*/\\2/" <<<"$2"; }

# CPU per request of every process in a measurement (issue 17): the 2 cores are shared by
# the load generator, batond and Redis, so a row's rate follows the sum of their CPU time
# per request. cpu_ticks PID: user and system clock ticks used so far (/proc/PID/stat).
clk_tck=$(getconf CLK_TCK)
cpu_ticks() { awk '{ print $14, $15 }' "/proc/$1/stat"; }
# per_request_us TICKS REQUESTS: microseconds per request.
per_request_us() { awk -v t="$1" -v n="$2" -v hz="$clk_tck" 'BEGIN { printf "%.1f", (n > 0 ? t / hz * 1e6 / n : 0) }'; }
# timed_cpu OUTFILE CMD...: runs CMD, stdout to OUTFILE; sets R_GEN_TICKS to its own
# user+system ticks and R_WATCH to the ticks the processes in CPU_WATCH used meanwhile
# ("user system" per process, in order).
CPU_WATCH=""
timed_cpu() {
    local outfile=$1
    shift
    local t p before=() i=0
    for p in $CPU_WATCH; do before+=("$(cpu_ticks "$p")"); done
    t=$( { TIMEFORMAT='%U %S'; time "$@" >"$outfile" 2>/dev/null; } 2>&1 | tail -n 1)
    R_GEN_TICKS=$(awk -v u="${t% *}" -v s="${t#* }" -v hz="$clk_tck" 'BEGIN { printf "%.0f", (u + s) * hz }')
    R_WATCH=""
    for p in $CPU_WATCH; do
        R_WATCH+="$(awk -v b="${before[$i]}" '{ split(b, x, " "); printf "%d %d ", $14 - x[1], $15 - x[2] }' "/proc/$p/stat")"
        i=$((i + 1))
    done
}
R_GEN_TICKS=0 R_REQUESTS=0 R_WATCH=""

# run_redis_benchmark ARGS...: redis-benchmark at the same client count; a short
# calibration run sizes the measured one to about $duration seconds.
run_redis_benchmark() {
    local base=(redis-benchmark -h 127.0.0.1 -p "$REDIS_PORT" -c "$conns" --csv)
    local rps n line
    line=$("${base[@]}" -n 30000 "$@" | tail -n 1)
    rps=$(csv_col 2 "$line")
    n=$(awk -v r="$rps" -v d="$duration" 'BEGIN { printf "%.0f", r * d }')
    timed_cpu "$work/redis-benchmark.out" "${base[@]}" -n "$n" "$@"
    line=$(tail -n 1 "$work/redis-benchmark.out")
    R_REQUESTS=$n
    R_RPS=$(awk -v r="$(csv_col 2 "$line")" 'BEGIN { printf "%.0f", r }')
    R_P50=$(csv_col 5 "$line")
    R_P99=$(csv_col 7 "$line")
    R_NOTE=""
}
csv_col() { awk -F'","' -v c="$1" '{ gsub(/^"|"$/, ""); print $c }' <<<"$2"; }

# run_pgbench: the session lookup through pgbench, prepared statements, same clients.
run_pgbench() {
    local args=(-h 127.0.0.1 -p "$PG_PORT" -U postgres -n -M prepared -c "$conns" -j "$wrk_threads"
                -f "$work/session.sql" -D "token=$demo_token" jellyfin)
    pgbench "${args[@]}" -T "$warmup" >/dev/null 2>&1
    rm -rf "$work/pgbench-log"
    mkdir -p "$work/pgbench-log"
    local out
    out=$(cd "$work/pgbench-log" && pgbench "${args[@]}" -T "$duration" -l 2>&1) || { echo "$out" >&2; die "pgbench failed"; }
    R_RPS=$(sed -nE 's/^tps = ([0-9.]+) .*/\1/p' <<<"$out" | head -n 1 | awk '{ printf "%.0f", $1 }')
    # Per-transaction logs: the third column is the latency in microseconds.
    read -r R_P50 R_P99 < <(cat "$work"/pgbench-log/pgbench_log.* | awk '{ print $3 }' | sort -n \
        | awk '{ v[NR] = $1 } END { p50 = v[int(NR * 0.50) > 0 ? int(NR * 0.50) : 1]; p99 = v[int(NR * 0.99) > 0 ? int(NR * 0.99) : 1];
                printf "%.2f %.2f\n", p50 / 1000, p99 / 1000 }')
    R_NOTE=""
}

# ---------------------------------------------------------------- results table
rows=()
# row NAME BATON_RPS P50 P99 BASELINE_NAME RPS P50 P99 TARGET_RATIO [P99_LIMIT_MS] [NOTE]
# An empty TARGET_RATIO means the row is for information only.
row() {
    local name=$1 rps=$2 p50=$3 p99=$4 bname=$5 brps=$6 bp50=$7 bp99=$8 target=$9 p99max=${10:-} note=${11:-}
    local ratio verdict goal="–"
    ratio=$(awk -v a="$rps" -v b="$brps" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }')
    verdict=$(awk -v r="$ratio" -v t="$target" -v p="$p99" -v m="$p99max" \
        'BEGIN { if (t == "") { print "–"; exit } ok = (r != "n/a" && r + 0 >= t + 0); slow = (m != "" && p + 0 >= m + 0)
                 print (ok && !slow ? "PASS" : (ok ? "MISS (p99)" : (slow ? "MISS (ratio, p99)" : "MISS (ratio)"))) }')
    [ -n "$target" ] && goal="≥ ${target}x"
    [ -n "$p99max" ] && goal="$goal, p99 < ${p99max} ms"
    local load
    load=$(cut -d' ' -f1 /proc/loadavg)
    rows+=("$(printf '| %s | %s | %s | %s | %s | %s | %s | %s | **%sx** | %s | %s | %s |' \
        "$name" "$rps" "$p50" "$p99" "$bname" "$brps" "$bp50" "$bp99" "$ratio" "$goal" "$verdict${note:+ ($note)}" "$load")")
    log "$name: $rps/s p50 $p50 ms p99 $p99 ms  vs  $bname: $brps/s p50 $bp50 ms p99 $bp99 ms  = ${ratio}x ($verdict)"
}

load_before=$(cut -d' ' -f1 /proc/loadavg)
base_url() { echo "http://127.0.0.1:$batond_port"; }
bench_start=$(date +%s)

# ---------------------------------------------------------------- 1. POST /leader vs Redis EVALSHA
log "batond (BATON_LOG_LEVEL=warn)"
start_batond main BATON_LOG_LEVEL=warn
main_pid=$batond_pid

log "POST /leader (holder renewing), $conns connections"
CPU_WATCH="$batond_pid $REDIS_PID"
run_wrk "$(base_url)/leader" bench/wrk/leader.lua
CPU_WATCH=""
read -r bu bs ru rs <<<"$R_WATCH"
cpu_leader="$(per_request_us "$bu" "$R_REQUESTS") / $(per_request_us "$bs" "$R_REQUESTS")"
cpu_leader_redis=$(per_request_us $((ru + rs)) "$R_REQUESTS")
cpu_leader_wrk=$(per_request_us "$R_GEN_TICKS" "$R_REQUESTS")
cpu_leader_total=$(per_request_us $((bu + bs + ru + rs + R_GEN_TICKS)) "$R_REQUESTS")
leader_rps=$R_RPS leader_p50=$R_P50 leader_p99=$R_P99 leader_note=$R_NOTE
if [ "$(redis_cli SCRIPT EXISTS "$lease_sha")" = 1 ]; then
    same_script="the baseline's acquire script is byte-identical to batond's (SHA-1 $lease_sha)"
else
    same_script="WARNING: batond did not run a script with the baseline's SHA-1 ($lease_sha): extraction out of date?"
fi
[ "$(redis_cli SCRIPT LOAD "$(cat "$work/lease-acquire.lua")")" = "$lease_sha" ] || die "SCRIPT LOAD of the acquire script failed"
task_sha=$(redis_cli SCRIPT LOAD "$(cat "$work/task-step.lua")")
[[ "$task_sha" =~ ^[0-9a-f]{40}$ ]] || die "SCRIPT LOAD of the task step script failed: $task_sha"
# The scripts take the server's run id as their last argument, as batond passes it (a
# different one would make every call settle the key as if Redis had changed).
run_id=$(redis_cli INFO server | tr -d '\r' | awk -F: '$1 == "run_id" { print $2 }')
[[ "$run_id" =~ ^[0-9a-f]{40}$ ]] || die "no run_id in INFO server: $run_id"
log "redis-benchmark EVALSHA lease_acquire (renew path), $conns clients"
run_redis_benchmark -r 32 EVALSHA "$lease_sha" 2 'baton:lease:{rb-__rand_int__}' 'baton:lease:{rb-__rand_int__}:meta' \
    bench-holder 30000 0 0 0 "$run_id"
redis_lease_rps=$R_RPS redis_lease_p50=$R_P50 redis_lease_p99=$R_P99
row "POST /leader (renew)" "$leader_rps" "$leader_p50" "$leader_p99" "redis-benchmark EVALSHA Baton's acquire script" \
    "$redis_lease_rps" "$redis_lease_p50" "$redis_lease_p99" "" "" "${leader_note:-cost of HTTP, JSON, auth and Swift}"
# The second baseline (issue 17): the lease a user would write instead of running Baton.
minimal_lease_sha=$(redis_cli SCRIPT LOAD "$(cat bench/minimal-lease.lua)")
[[ "$minimal_lease_sha" =~ ^[0-9a-f]{40}$ ]] || die "SCRIPT LOAD of bench/minimal-lease.lua failed: $minimal_lease_sha"
log "redis-benchmark EVALSHA bench/minimal-lease.lua (GET, compare, PEXPIRE), $conns clients"
CPU_WATCH="$REDIS_PID"
run_redis_benchmark -r 32 EVALSHA "$minimal_lease_sha" 2 'bench:minimal:{rb-__rand_int__}' 'bench:minimal:{rb-__rand_int__}:token' \
    bench-holder 30000
CPU_WATCH=""
read -r ru rs <<<"$R_WATCH"
cpu_minimal_redis=$(per_request_us $((ru + rs)) "$R_REQUESTS")
cpu_minimal_gen=$(per_request_us "$R_GEN_TICKS" "$R_REQUESTS")
cpu_minimal_total=$(per_request_us $((ru + rs + R_GEN_TICKS)) "$R_REQUESTS")
minimal_lease_rps=$R_RPS
row "POST /leader (renew)" "$leader_rps" "$leader_p50" "$leader_p99" "redis-benchmark EVALSHA minimal-lease.lua (hand-written)" \
    "$R_RPS" "$R_P50" "$R_P99" 0.35 5 "$leader_note"
stretch=$(awk -v a="$leader_rps" -v b="$minimal_lease_rps" 'BEGIN { print (b > 0 && a / b >= 0.5 ? "PASS" : "MISS") }')
stretch_ratio=$(awk -v a="$leader_rps" -v b="$minimal_lease_rps" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }')

# ---------------------------------------------------------------- 2. claim + complete pairs
log "POST /tasks/claim + /tasks/complete pairs, $conns connections"
run_wrk "$(base_url)/tasks/claim" bench/wrk/tasks.lua
task_pairs=$(awk -v r="$R_RPS" 'BEGIN { printf "%.0f", r / 2 }')
task_p50=$R_P50 task_p99=$R_P99 task_note=$R_NOTE task_extra=$R_EXTRA
case "$task_extra" in *"refused=0"*) ;; *) task_note="${task_note:+$task_note; }$task_extra" ;; esac
log "redis-benchmark EVALSHA task claim/complete step, $conns clients"
run_redis_benchmark -r 10000 EVALSHA "$task_sha" 2 'baton:task:{rb-__rand_int__}:claim' 'baton:task:{rb-__rand_int__}:meta' \
    bench-holder 0b5e3e0c-8f1a-4d8e-9a35-2f7c1e6d4b90 "$run_id"
redis_task_pairs=$(awk -v r="$R_RPS" 'BEGIN { printf "%.0f", r / 2 }')
row "claim+complete pairs/s" "$task_pairs" "$task_p50" "$task_p99" "redis-benchmark EVALSHA Baton's claim/complete step" \
    "$redis_task_pairs" "$R_P50" "$R_P99" "" "" "$task_note"
minimal_task_sha=$(redis_cli SCRIPT LOAD "$(cat bench/minimal-task-step.lua)")
[[ "$minimal_task_sha" =~ ^[0-9a-f]{40}$ ]] || die "SCRIPT LOAD of bench/minimal-task-step.lua failed: $minimal_task_sha"
log "redis-benchmark EVALSHA bench/minimal-task-step.lua (SET NX PX / GET, compare, DEL), $conns clients"
run_redis_benchmark -r 10000 EVALSHA "$minimal_task_sha" 1 'bench:minimal-task:{rb-__rand_int__}' \
    0b5e3e0c-8f1a-4d8e-9a35-2f7c1e6d4b90 3600000
row "claim+complete pairs/s" "$task_pairs" "$task_p50" "$task_p99" "redis-benchmark EVALSHA minimal-task-step.lua (hand-written)" \
    "$(awk -v r="$R_RPS" 'BEGIN { printf "%.0f", r / 2 }')" "$R_P50" "$R_P99" "" "" "$task_note"

# ---------------------------------------------------------------- 3. sessions, cached, vs /healthz
auth_header="Authorization: MediaBrowser Client=\"bench\", Device=\"wrk\", DeviceId=\"bench\", Version=\"1\", Token=\"$demo_token\""
log "GET /sessions/validate (cached, BATON_SESSION_CACHE_TTL_MS default 5000)"
run_wrk "$(base_url)/sessions/validate" bench/wrk/simple.lua -H "$auth_header"
cached_rps=$R_RPS cached_p50=$R_P50 cached_p99=$R_P99 cached_note=$R_NOTE
log "GET /healthz"
run_wrk "$(base_url)/healthz" bench/wrk/simple.lua
healthz_rps=$R_RPS healthz_p50=$R_P50 healthz_p99=$R_P99
main_rss_kb=$(peak_rss_kb "$main_pid")
stop_batond

# ---------------------------------------------------------------- 4. sessions uncached vs pgbench
log "batond with BATON_SESSION_CACHE_TTL_MS=0"
start_batond uncached BATON_LOG_LEVEL=warn BATON_SESSION_CACHE_TTL_MS=0
log "GET /sessions/validate (uncached)"
run_wrk "$(base_url)/sessions/validate" bench/wrk/simple.lua -H "$auth_header"
uncached_rps=$R_RPS uncached_p50=$R_P50 uncached_p99=$R_P99 uncached_note=$R_NOTE
uncached_rss_kb=$(peak_rss_kb "$batond_pid")
stop_batond
log "pgbench: the same lookup, -M prepared, $conns clients"
run_pgbench
row "GET /sessions/validate, uncached" "$uncached_rps" "$uncached_p50" "$uncached_p99" "pgbench -M prepared, same query" \
    "$R_RPS" "$R_P50" "$R_P99" 0.5 "" "$uncached_note"
row "GET /sessions/validate, cached" "$cached_rps" "$cached_p50" "$cached_p99" "GET /healthz (same batond)" \
    "$healthz_rps" "$healthz_p50" "$healthz_p99" 0.8 "" "$cached_note"

# ---------------------------------------------------------------- 5. access logging cost
log "batond with BATON_LOG_LEVEL=info (one JSON access-log line per request, to a file)"
start_batond info BATON_LOG_LEVEL=info
run_wrk "$(base_url)/leader" bench/wrk/leader.lua
info_rps=$R_RPS info_p50=$R_P50 info_p99=$R_P99
info_rss_kb=$(peak_rss_kb "$batond_pid")
stop_batond
row "POST /leader, BATON_LOG_LEVEL=info" "$info_rps" "$info_p50" "$info_p99" "POST /leader, warn (above)" \
    "$leader_rps" "$leader_p50" "$leader_p99" "" "" "cost of access logging"

# ---------------------------------------------------------------- 6. etcd
etcd_rss_kb=""
if [ -z "$etcd_note" ]; then
    log "etcd (data on tmpfs) and its v3 JSON gateway"
    etcd_dir=$(mktemp -d /dev/shm/baton-bench-etcd.XXXXXX 2>/dev/null || mktemp -d "$work/etcd.XXXXXX")
    cport=$(free_port)
    pport=$(free_port)
    (exec etcd --name bench --data-dir "$etcd_dir/data" --listen-client-urls "http://127.0.0.1:$cport" \
        --advertise-client-urls "http://127.0.0.1:$cport" --listen-peer-urls "http://127.0.0.1:$pport" \
        --initial-advertise-peer-urls "http://127.0.0.1:$pport" --initial-cluster "bench=http://127.0.0.1:$pport" \
        --logger zap --log-level error) >"$work/etcd.log" 2>&1 &
    etcd_pid=$!
    for i in $(seq 1 100); do
        curl -fs "http://127.0.0.1:$cport/health" 2>/dev/null | grep -q '"health":"true"' && break
        [ "$i" -eq 100 ] && die "etcd did not become healthy"
        sleep 0.1
    done
    etcd_lease=$(curl -fs -X POST "http://127.0.0.1:$cport/v3/lease/grant" -d '{"TTL":3600}' | sed -nE 's/.*"ID":"?([0-9]+)"?.*/\1/p')
    [ -n "$etcd_lease" ] || die "etcd lease grant failed"
    holder64=$(printf %s bench-holder | base64)
    puts=""
    for t in $(seq 0 $((wrk_threads - 1))); do
        for i in $(seq 1 32); do
            puts+="${puts:+,}{\"requestPut\":{\"key\":\"$(printf 'bench-%d-%d' "$t" "$i" | base64)\",\"value\":\"$holder64\",\"lease\":\"$etcd_lease\"}}"
        done
    done
    curl -fs -X POST "http://127.0.0.1:$cport/v3/kv/txn" -d "{\"success\":[$puts]}" >/dev/null || die "etcd set-up failed"
    export BENCH_ETCD_LEASE=$etcd_lease
    # etcd's own rate moves by up to 2x from one run to the next on this shared machine
    # (5,700 to 10,400/s in one afternoon, bench/README.md), more than the margin the
    # target is judged on: batond and etcd are measured in alternated rounds, and the row
    # compares the median round of each, so both sides share the same stretches of time.
    etcd_rounds=${BENCH_ETCD_ROUNDS:-3}
    start_batond etcd-row BATON_LOG_LEVEL=warn
    etcd_baton=() etcd_base=() etcd_note_row="" etcd_rounds_note=""
    for r in $(seq 1 "$etcd_rounds"); do
        log "round $r/$etcd_rounds: POST /leader, then etcd /v3/kv/txn compare-and-put with a lease, $conns connections"
        run_wrk "$(base_url)/leader" bench/wrk/leader.lua
        etcd_baton+=("$R_RPS $R_P50 $R_P99")
        [ -n "$R_NOTE" ] && etcd_note_row="${etcd_note_row:+$etcd_note_row; }batond: $R_NOTE"
        run_wrk "http://127.0.0.1:$cport/v3/kv/txn" bench/wrk/etcd.lua
        etcd_base+=("$R_RPS $R_P50 $R_P99")
        [ -n "$R_NOTE" ] && etcd_note_row="${etcd_note_row:+$etcd_note_row; }etcd: $R_NOTE"
        case "$R_EXTRA" in *"failed=0"*) ;; *) etcd_note_row="${etcd_note_row:+$etcd_note_row; }$R_EXTRA" ;; esac
        etcd_rounds_note+="${etcd_rounds_note:+, }$(awk -v a="${etcd_baton[-1]%% *}" -v b="${R_RPS}" 'BEGIN { printf "%.0f/%.0f = %.2fx", a, b, (b > 0 ? a / b : 0) }')"
    done
    stop_batond
    # median_round "rps p50 p99"...: the line of the median rate (the lower middle one for an even count).
    median_round() { printf '%s\n' "$@" | sort -n -k1,1 | sed -n "$(( ($# + 1) / 2 ))p"; }
    read -r eb_rps eb_p50 eb_p99 <<<"$(median_round "${etcd_baton[@]}")"
    read -r ee_rps ee_p50 ee_p99 <<<"$(median_round "${etcd_base[@]}")"
    row "POST /leader (renew), median of $etcd_rounds rounds alternated with etcd" "$eb_rps" "$eb_p50" "$eb_p99" \
        "etcd 3.4 gateway /v3/kv/txn, median round" "$ee_rps" "$ee_p50" "$ee_p99" 5 "" \
        "rounds batond/etcd: $etcd_rounds_note${etcd_note_row:+; $etcd_note_row}"
    etcd_rss_kb=$(peak_rss_kb "$etcd_pid")
    kill -TERM "$etcd_pid" 2>/dev/null || true
    wait "$etcd_pid" 2>/dev/null || true
    etcd_pid=""
fi

# ---------------------------------------------------------------- 7. start-up
log "start-up to first served request (5 starts)"
startup_port=$(free_port)
startup=$(BATON_LISTEN="127.0.0.1:$startup_port" BATON_REDIS_URL="$REDIS_URL" BATON_DATABASE_URL="$db_url" \
    BATON_API_TOKENS="$api_token" BATON_LOG_LEVEL=warn BENCH_STARTUP_LOG="$work/startup.log" \
    python3 bench/startup.py "$bin" 5)
startup_ms=$(field median_ms "$startup")
startup_max=$(field max_ms "$startup")
redis_rss_kb=$(peak_rss_kb "$REDIS_PID")

# ---------------------------------------------------------------- 8. per-request cost
# Load-independent: instructions (callgrind) and system calls (strace -c -f) of a fixed
# number of /leader renewals over one keep-alive connection (bench/profile.sh, which
# starts its own Redis and PostgreSQL).
profile_count=${BENCH_PROFILE_COUNT:-2000}
instr_per_req="" instr_vector="" sys_per_req="" sys_detail=""
# profile.sh starts servers of its own: it must not inherit this run's ports.
profile() { env -u REDIS_PORT -u REDIS_PID -u REDIS_URL -u PG_PORT -u PG_DATA -u PG_URL -u JELLYFIN_DB_URL \
    BENCH_BATOND="$bin" ./bench/profile.sh "$@" 2>"$work/profile.err"; }
if [ -z "${BENCH_NO_PROFILE:-}" ]; then
    log "instructions per POST /leader (callgrind, $profile_count requests)"
    out=$(profile leader "$profile_count") \
        || { tail -n 5 "$work/profile.err" >&2; die "bench/profile.sh leader failed"; }
    instr_per_req=$(grep '^PROFILE_RESULT' <<<"$out" | sed -E 's/.* per_request=([0-9]+).*/\1/')
    # The same, with glibc's memset as its vector loop instead of `rep stosb` (which
    # valgrind counts once per byte: libmicrohttpd's 32 KiB pool clearing then reads as
    # ~49,000 instructions per request where the CPU retires a handful; see bench/README.md).
    log "instructions per POST /leader, memset as a vector loop (GLIBC_TUNABLES)"
    out=$(GLIBC_TUNABLES=glibc.cpu.x86_rep_stosb_threshold=1048576 profile leader "$profile_count") \
        || { tail -n 5 "$work/profile.err" >&2; die "bench/profile.sh leader (vector memset) failed"; }
    instr_vector=$(grep '^PROFILE_RESULT' <<<"$out" | sed -E 's/.* per_request=([0-9]+).*/\1/')
    log "system calls per POST /leader (strace -c -f, $profile_count requests)"
    out=$(profile --syscalls leader "$profile_count") \
        || { tail -n 5 "$work/profile.err" >&2; die "bench/profile.sh --syscalls leader failed"; }
    line=$(grep '^PROFILE_RESULT' <<<"$out")
    sys_per_req=$(field per_request "$line")
    sys_detail=$(sed -E 's/.* per_request=[0-9.]+ ?//' <<<"$line" | tr ' ' '\n' | sort -t= -k2 -rn | head -n 6 | tr '\n' ' ')
fi
load_after=$(cut -d' ' -f1 /proc/loadavg)
elapsed=$(( $(date +%s) - bench_start ))

# ---------------------------------------------------------------- report
mb() { awk -v k="$1" 'BEGIN { printf "%.1f MB", k / 1024 }'; }
peak_kb=$(printf '%s\n' "$main_rss_kb" "$uncached_rss_kb" "$info_rss_kb" | sort -n | tail -n 1)
verdict() { if awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 < b + 0) }'; then echo PASS; else echo MISS; fi; }

echo
echo "Baton benchmark — $(date -u +%Y-%m-%d), $(nproc) cores, $conns connections, ${duration}s per measurement after ${warmup}s warm-up"
if [ -n "${BENCH_BATOND:-}" ]; then what="batond $BENCH_BATOND"; else what="batond $(git describe --always --dirty 2>/dev/null || echo unknown), release, static Swift runtime"; fi
echo "$what; load average ${load_before} before, ${load_after} after (other processes compete for the 2 cores when it is above 1)"
echo
echo "| Measurement | Baton req/s | p50 ms | p99 ms | Baseline | Baseline req/s | p50 ms | p99 ms | Ratio | Target | Result | Load |"
echo "|---|---:|---:|---:|---|---:|---:|---:|---:|---|---|---:|"
printf '%s\n' "${rows[@]}"
echo
echo "| Resource | Baton | Beside it | Target | Result |"
echo "|---|---:|---|---|---|"
echo "| Peak RSS under load (VmHWM) | $(mb "$peak_kb") | redis-server $(mb "$redis_rss_kb")${etcd_rss_kb:+, etcd $(mb "$etcd_rss_kb")} | ≤ 32 MB | $(verdict "$peak_kb" 32769) |"
echo "| Start-up to first served request (median of 5, max) | ${startup_ms} ms (max ${startup_max}) | | < 200 ms | $(verdict "$startup_ms" 200) |"
echo "| Binary size, stripped, static Swift runtime | $(mb $((size_bytes / 1024))) | unstripped $(mb $((unstripped_bytes / 1024))) | | |"
echo "| CPU per POST /leader, every process (µs; batond user / system, Redis, wrk = total) | $cpu_leader, $cpu_leader_redis, $cpu_leader_wrk = **$cpu_leader_total** | minimal-lease.lua: Redis $cpu_minimal_redis, redis-benchmark $cpu_minimal_gen = **$cpu_minimal_total** (their ratio: $(awk -v a="$cpu_minimal_total" -v b="$cpu_leader_total" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')x) | | |"
if [ -n "$instr_per_req" ]; then
    instr_verdict=$(verdict "$instr_per_req" 50001)
    echo "| Instructions per POST /leader (callgrind, user space, $profile_count renewals, one connection) | $instr_per_req | | ≤ 50,000 | $instr_verdict |"
    echo "| ... with memset as a vector loop (\`rep stosb\` is counted per byte by callgrind) | $instr_vector | | ≤ 50,000 | $(verdict "$instr_vector" 50001) |"
    echo "| System calls per POST /leader (strace -c -f, all threads, $profile_count renewals) | $sys_per_req | ${sys_detail% } | | |"
else
    echo "| Instructions / system calls per POST /leader | not measured (BENCH_NO_PROFILE is set) | | ≤ 50,000 | – |"
fi
echo
echo "Goal POST /leader ≥ 0.5x the hand-written minimal-lease.lua: ${stretch_ratio}x, $stretch"
echo "Note: $same_script"
[ -n "$etcd_note" ] && echo "Note: $etcd_note"
echo "POST /leader latency: wrk measures each request; redis-benchmark reports per-command latency."
echo "Claim+complete rows count pairs (two HTTP requests, or two EVALSHA steps); latencies are per request or step."
echo "Load: the 1-minute load average when the row was measured; above 1, other processes shared the 2 cores."
echo "Measured in ${elapsed}s."
