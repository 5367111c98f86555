# shellcheck shell=bash
# Shared helpers for scripts/run, scripts/test and the benchmark/chaos scripts:
# install what is missing, and start throw-away Redis and PostgreSQL servers on
# loopback with data under a temporary folder.

BATON_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export BATON_ROOT

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# apt packages every script needs: C libraries, servers, linters.
BATON_APT_PACKAGES=(libmicrohttpd-dev libhiredis-dev libpq-dev pkg-config redis-server redis-sentinel stunnel4 postgresql
                    python3 python3-venv curl shellcheck yamllint
                    nginx caddy  # proxies for scripts/proxy-check.sh (nginx has auth_request built in)
                    debootstrap)  # the image's runtime file system for docker/image-check.sh

ensure_packages() {
    local missing=()
    local p
    for p in "${BATON_APT_PACKAGES[@]}" "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        log "installing ${missing[*]}"
        local sudo=()
        [ "$(id -u)" -eq 0 ] || sudo=(sudo)
        "${sudo[@]}" apt-get update -qq
        DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
    command -v swift >/dev/null || die "the Swift toolchain is not on PATH (https://www.swift.org/install/linux/)"
}

# A Python virtual environment under .local/ for the spec and schema tools.
ensure_venv() {
    local venv="$BATON_ROOT/.local/venv"
    if [ ! -x "$venv/bin/python" ]; then
        log "creating Python environment in .local/venv"
        python3 -m venv "$venv"
    fi
    local want=("$@") missing=() p
    for p in "${want[@]}"; do
        "$venv/bin/python" -m pip show -q "${p%%[=<>]*}" >/dev/null 2>&1 || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        log "pip install ${missing[*]}"
        "$venv/bin/python" -m pip install -q --disable-pip-version-check "${missing[@]}" >&2
    fi
    PATH="$venv/bin:$PATH"
    export PATH
}

# A TCP port on 127.0.0.1 that nothing listens on.
free_port() {
    local p
    for _ in $(seq 1 200); do
        # Below Linux's ephemeral range (32768-60999), which outgoing connections use.
        p=$(( (RANDOM % 12000) + 20000 ))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            return 0
        fi
    done
    die "no free port found"
}

pg_bin() {
    local initdb
    initdb=$(ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1)
    [ -n "$initdb" ] || die "PostgreSQL server binaries not found under /usr/lib/postgresql"
    dirname "$initdb"
}

# as_postgres CMD...: PostgreSQL refuses to run as root.
as_postgres() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# start_postgres DIR: initdb + postgres on a free port, socket in DIR.
# Sets PG_PORT, PG_DATA, PG_BIN, PG_URL (superuser, database postgres).
start_postgres() {
    local dir=$1
    PG_BIN=$(pg_bin)
    PG_DATA="$dir/pgdata"
    PG_PORT=${PG_PORT:-$(free_port)}
    mkdir -p "$dir"
    if [ "$(id -u)" -eq 0 ]; then chown postgres "$dir"; fi
    if [ ! -s "$PG_DATA/PG_VERSION" ]; then
        as_postgres "$PG_BIN/initdb" -D "$PG_DATA" -U postgres -A trust --no-sync >"$dir/initdb.log" 2>&1 \
            || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
    fi
    as_postgres "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$dir/postgres.log" -w -t 30 \
        -o "-p $PG_PORT -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >/dev/null \
        || { tail -n 20 "$dir/postgres.log" >&2; die "postgres did not start"; }
    PG_URL="postgresql://postgres@127.0.0.1:$PG_PORT/postgres"
    export PG_PORT PG_DATA PG_BIN PG_URL
}

stop_postgres() {
    [ -n "${PG_DATA:-}" ] && [ -d "$PG_DATA" ] || return 0
    as_postgres "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w stop >/dev/null 2>&1 || true
}

# start_redis DIR: redis-server on a free port with AOF in DIR. Sets REDIS_PORT, REDIS_PID, REDIS_URL.
start_redis() {
    local dir=$1
    REDIS_PORT=${REDIS_PORT:-$(free_port)}
    mkdir -p "$dir"
    (exec redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$dir" --appendonly yes --save '' \
        --maxmemory-policy noeviction --logfile "$dir/redis.log") &
    REDIS_PID=$!
    local i
    for i in $(seq 1 100); do
        redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break
        [ "$i" -eq 100 ] && die "redis did not start"
        sleep 0.05
    done
    REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
    export REDIS_PORT REDIS_PID REDIS_URL
}

stop_redis() {
    [ -n "${REDIS_PID:-}" ] || return 0
    kill "$REDIS_PID" 2>/dev/null || true
    wait "$REDIS_PID" 2>/dev/null || true
}

# psql_as URL SQL...
psql_at() {
    local url=$1
    shift
    PGCONNECT_TIMEOUT=5 psql -X -q -v ON_ERROR_STOP=1 "$url" "$@"
}

# seed_jellyfin_db ADMIN_URL NAME: the demo Jellyfin schema (created if the database is new)
# and its seed rows in database NAME of the server at ADMIN_URL. Sets JELLYFIN_DB_URL.
seed_jellyfin_db() {
    local admin=$1 name=$2
    JELLYFIN_DB_URL="${admin%/*}/$name"
    if ! psql_at "$admin" -tAc "SELECT 1 FROM pg_database WHERE datname = '$name'" | grep -q 1; then
        psql_at "$admin" -c "CREATE DATABASE $name" >/dev/null
        psql_at "$JELLYFIN_DB_URL" -f "$BATON_ROOT/Tests/Fixtures/jellyfin-schema.sql" >/dev/null
    fi
    psql_at "$JELLYFIN_DB_URL" -f "$BATON_ROOT/Tests/Fixtures/jellyfin-demo-seed.sql" >/dev/null
}

# wait_healthy URL LOG: up to 10 s for URL/healthz to answer 2xx; else the log's tail and die.
wait_healthy() {
    local url=$1 log=$2 i
    for i in $(seq 1 100); do
        curl -fsS --max-time 1 "$url/healthz" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    tail -n 20 "$log" >&2
    die "batond did not start ($url)"
}

# start_batond BIN LOG [NAME=VALUE…]: BIN's batond on a free loopback port against the
# REDIS_URL and PG_URL of start_redis/start_postgres, text logs to LOG, with the given
# settings on top (exported inside the subshell, never in an argv: they may hold tokens);
# waits for /healthz. Sets BATOND_PID, BATOND_PORT, BATOND_URL.
start_batond() {
    local bin=$1 log=$2
    shift 2
    BATOND_PORT=$(free_port)
    (
        export BATON_LISTEN="127.0.0.1:$BATOND_PORT" BATON_REDIS_URL="${REDIS_URL:-}" \
            BATON_DATABASE_URL="${PG_URL:-}" BATON_LOG_FORMAT=text
        for setting in "$@"; do export "${setting?}"; done
        exec "$bin/batond"
    ) >"$log" 2>&1 &
    BATOND_PID=$!
    BATOND_URL="http://127.0.0.1:$BATOND_PORT"
    wait_healthy "$BATOND_URL" "$log"
}

# stop_pid PID…: TERM each (also a stopped one), then reap it.
stop_pid() {
    local p
    for p in "$@"; do
        [ -n "$p" ] || continue
        kill -CONT "$p" 2>/dev/null || true
        kill "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
}
