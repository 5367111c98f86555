#!/usr/bin/env bash
# Checks openapi/openapi.yaml against a live batond backed by real Redis and PostgreSQL.
#
#   1. The served document (GET /openapi.yaml) is byte for byte openapi/openapi.yaml.
#   2. Contract probes with curl: the problem codes and headers the spec promises
#      (401 unauthorized + WWW-Authenticate, session 401 code = reason, 404, 405 + Allow,
#      413, invalid_json, invalid_field + field, uppercase run_id accepted).
#   3. schemathesis against every operation with the bearer token: explicit examples,
#      coverage, fuzzing and stateful (OpenAPI links: acquire -> renew/release,
#      claim -> extend/complete) phases; checks: no server error, status code, content
#      type, response headers and response schema conformance, 405 + Allow, 401 without
#      the token. Redis holds leases and claims seeded with curl first, and PostgreSQL
#      the spec's example session token, so the coordination and session endpoints
#      answer 200 and 409, not only 400; the run fails unless they did (see
#      coverage_expect; a 200 from renew, extend or complete needs a chain the stateful
#      phase walks at random, so step 5 checks those every time).
#   4. schemathesis once more against the open endpoints without a token.
#   5. A Python client generated with openapi-python-client performs acquire -> renew ->
#      release and claim -> extend -> complete against the server, checks the answers
#      (leader, growing fencing token, released, late) and validates each raw answer
#      against the spec's schema for its status.
#   6. Redis and PostgreSQL are stopped: the 503s (problem + Retry-After), degraded
#      grants (mode: degraded, fencing_token: null), /status and /readyz are probed and
#      schemathesis runs once more (every check but "no server error": 503 is the
#      documented answer; any other 5xx still fails).
#
# Prints `openapi-live: N passed, M failed` last; exits non-zero when anything failed.
# Settings (environment): BATON_SCRATCH (SwiftPM scratch path, default .build),
# LIVE_MAX_EXAMPLES (schemathesis examples per operation, default 80), LIVE_SEED
# (schemathesis seed, default random), LIVE_KEEP=1 (keep the work folder and logs).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/lib.sh
source "$here/../scripts/lib.sh"
cd "$BATON_ROOT"

scratch=${BATON_SCRATCH:-.build}
max_examples=${LIVE_MAX_EXAMPLES:-80}
seed=${LIVE_SEED:-$RANDOM}

# shellcheck disable=SC2119 # no extra packages
ensure_packages
ensure_venv 'schemathesis>=4.1,<5' 'openapi-python-client>=0.24,<1' 'jsonschema>=4.18,<5'
export PIP_DISABLE_PIP_VERSION_CHECK=1

log "building batond (scratch path $scratch)"
swift build --scratch-path "$scratch" --product batond 2>&1 \
    | grep -vE '^(\[[0-9]+/[0-9]+\]|warning: prohibited flag)' | tail -n 3
bin=$(swift build --scratch-path "$scratch" --show-bin-path)
[ -x "$bin/batond" ] || die "no batond in $bin"

work=$(mktemp -d /tmp/baton-live.XXXXXX)
chmod 755 "$work"
batond_pid=""
stop_batond() {
    [ -n "$batond_pid" ] || return 0
    kill -TERM "$batond_pid" 2>/dev/null || true
    wait "$batond_pid" 2>/dev/null || true
    batond_pid=""
}
cleanup() {
    stop_batond
    stop_redis
    stop_postgres
    if [ "${LIVE_KEEP:-0}" = 1 ]; then
        log "kept $work"
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT

log "starting Redis and PostgreSQL"
# Our own servers, also when called from scripts/test, which exports its PostgreSQL's.
unset PG_PORT PG_DATA PG_URL REDIS_PORT REDIS_PID REDIS_URL
start_redis "$work/redis"
start_postgres "$work/pg"
seed_jellyfin_db "$PG_URL" jellyfin
db_url=$JELLYFIN_DB_URL
# The spec's example token (sessions examples) is a valid API key here, so the
# explicit-examples phase gets a 200 from /sessions/validate.
psql_at "$db_url" -c "INSERT INTO \"ApiKeys\" (\"DateCreated\", \"DateLastActivity\", \"Name\", \"AccessToken\")
    VALUES (now(), now(), 'openapi-example', '4f1c2b9a8e7d6c5b4a3f2e1d0c9b8a7f')" >/dev/null
# The demo seed's tokens, whatever they are: a login of an enabled user (and the user's
# name), and one of a disabled user.
device_token="" device_user=""
IFS='|' read -r device_token device_user < <(psql_at "$db_url" -tAc 'SELECT d."AccessToken", u."Username"
    FROM "Devices" d JOIN "Users" u ON u."Id" = d."UserId"
    WHERE NOT EXISTS (SELECT 1 FROM "Permissions" p WHERE p."UserId" = d."UserId" AND p."Kind" = 2 AND p."Value")
    ORDER BY d."Id" LIMIT 1') || true
disabled_token=$(psql_at "$db_url" -tAc 'SELECT d."AccessToken" FROM "Devices" d
    JOIN "Permissions" p ON p."UserId" = d."UserId" AND p."Kind" = 2 AND p."Value" ORDER BY d."Id" LIMIT 1')
if [ -z "$device_token" ] || [ -z "$device_user" ] || [ -z "$disabled_token" ]; then
    die "the demo seed has no device of an enabled and of a disabled user"
fi

token="live-check-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
port=$(free_port)
base="http://127.0.0.1:$port"
log "starting batond on $base"
(
    export BATON_LISTEN="127.0.0.1:$port" BATON_REDIS_URL="$REDIS_URL" BATON_DATABASE_URL="$db_url" \
        BATON_API_TOKENS="$token" BATON_LOG_FORMAT=text BATON_LOG_LEVEL=warn BATON_THREADS=4
    exec "$bin/batond"
) >"$work/batond.log" 2>&1 &
batond_pid=$!
for i in $(seq 1 100); do
    curl -fsS "$base/healthz" >/dev/null 2>&1 && break
    kill -0 "$batond_pid" 2>/dev/null || { cat "$work/batond.log" >&2; die "batond exited"; }
    [ "$i" -eq 100 ] && die "batond did not answer /healthz"
    sleep 0.1
done

passed=0
failed=0
step() {
    local name=$1
    shift
    log "$name"
    if "$@"; then
        passed=$((passed + 1))
        printf 'ok: %s\n' "$name"
    else
        failed=$((failed + 1))
        printf 'FAILED: %s\n' "$name" >&2
    fi
}

auth=(-H "Authorization: Bearer $token")

# ---------------------------------------------------------------------------------
served_spec() {
    curl -fsS "$base/openapi.yaml" -o "$work/served.yaml" && cmp "$work/served.yaml" openapi/openapi.yaml
}

# probe NAME EXPECTED_STATUS PYTHON_ASSERTION CURL_ARGS...: one request; the assertion
# sees `status`, `headers` (lowercased names) and `body` (parsed JSON, or None).
probe_failures=0
probe() {
    local name=$1 wanted=$2 assertion=$3
    shift 3
    local status
    status=$(curl -sS -o "$work/probe.body" -D "$work/probe.headers" -w '%{http_code}' "$@") || status=000
    if ! python3 - "$wanted" "$status" "$assertion" "$work/probe.headers" "$work/probe.body" <<'PY'; then
import json
import sys

wanted, status, assertion, header_file, body_file = sys.argv[1:]
headers = {}
with open(header_file, encoding="latin-1") as f:
    for line in f:
        if ":" in line:
            k, v = line.split(":", 1)
            headers.setdefault(k.strip().lower(), v.strip())
raw = open(body_file, "rb").read()
try:
    body = json.loads(raw) if raw else None
except ValueError:
    body = None
ok = status == wanted and eval(assertion, {"status": int(status), "headers": headers, "body": body})  # noqa: S307
if not ok:
    print(f"   got {status}, headers {headers}, body {raw[:300]!r}", file=sys.stderr)
    sys.exit(1)
PY
        printf '   probe failed: %s (wanted %s)\n' "$name" "$wanted" >&2
        probe_failures=$((probe_failures + 1))
    fi
}

contract_probes() {
    probe_failures=0
    local problem='headers["content-type"] == "application/problem+json" and "x-request-id" in headers'
    probe "no bearer token" 401 "$problem and body['code'] == 'unauthorized' and headers['www-authenticate'].startswith('Bearer')" \
        "$base/leases"
    probe "wrong bearer token" 401 "$problem and body['code'] == 'unauthorized'" \
        -H "Authorization: Bearer not-the-token-at-all" "$base/status"
    probe "session: missing token" 401 "$problem and body['code'] == body['reason'] == 'missing_token' and body['valid'] is False" \
        "$base/sessions/validate"
    probe "session: unknown token" 401 "$problem and body['code'] == body['reason'] == 'unknown_token'" \
        "$base/sessions/validate?ApiKey=nope"
    probe "session: disabled user" 401 "$problem and body['code'] == body['reason'] == 'user_disabled'" \
        -H "X-Emby-Token: $disabled_token" "$base/sessions/validate"
    probe "session: device token" 200 "body['kind'] == 'device' and body['user_name'] == '$device_user' and headers['x-baton-user-name'] == '$device_user'" \
        -H "Authorization: MediaBrowser Client=\"Jellyfin Web\", Token=\"$device_token\"" "$base/sessions/validate"
    probe "session: API key in the body" 200 "body['kind'] == 'api_key' and body['is_admin'] is True and headers['x-baton-is-admin'] == 'true'" \
        -d '{"token":"4f1c2b9a8e7d6c5b4a3f2e1d0c9b8a7f"}' "$base/sessions/validate"
    probe "readiness" 200 "body == {'status': 'ready', 'draining': False}" "$base/readyz"
    probe "unknown path" 404 "$problem and body['code'] == 'not_found'" "${auth[@]}" "$base/leaders"
    probe "wrong method" 405 "$problem and body['code'] == 'method_not_allowed' and headers['allow'] == 'GET, POST'" \
        -X DELETE "$base/sessions/validate"
    probe "body too large" 413 "$problem and body['code'] == 'body_too_large'" \
        "${auth[@]}" --data-binary "@$work/big.json" "$base/leader"
    probe "not JSON" 400 "$problem and body['code'] == 'invalid_json'" "${auth[@]}" -d 'lease=x' "$base/leader"
    probe "unknown field" 400 "$problem and body['code'] == 'invalid_field' and body['field'] == 'ttl'" \
        "${auth[@]}" -d '{"lease":"x","holder":"y","ttl":5}' "$base/leader"
    probe "ttl out of range" 400 "$problem and body['field'] == 'ttl_ms'" \
        "${auth[@]}" -d '{"lease":"x","holder":"y","ttl_ms":5}' "$base/leader"
    probe "GET /leader with holder" 200 "body['leader'] is True and body['holder'] == 'probe-a'" \
        "${auth[@]}" "$base/leader?lease=probe-lease&holder=probe-a"
    probe "claim probe task" 200 "body['claimed'] is True" \
        "${auth[@]}" -d '{"task":"probe-task","holder":"probe-a"}' "$base/tasks/claim"
    local run_id
    run_id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["run_id"])' "$work/probe.body" | tr 'a-f' 'A-F')
    probe "extend with an uppercase run_id" 200 "body['claimed'] is True and body['run_id'] == '${run_id,,}'" \
        "${auth[@]}" -d "{\"task\":\"probe-task\",\"run_id\":\"$run_id\",\"holder\":\"probe-a\"}" "$base/tasks/extend"
    probe "complete with an uppercase run_id" 200 "body['late'] is False and body['run_id'] == '${run_id,,}'" \
        "${auth[@]}" -d "{\"task\":\"probe-task\",\"run_id\":\"$run_id\",\"holder\":\"probe-a\",\"status\":\"succeeded\"}" "$base/tasks/complete"
    [ "$probe_failures" -eq 0 ]
}
python3 -c 'import json; print(json.dumps({"lease": "x", "holder": "y", "pad": "a" * 70000}))' >"$work/big.json"
# The acquisition the GET /leader probe reads.
curl -fsS "${auth[@]}" -d '{"lease":"probe-lease","holder":"probe-a"}' "$base/leader" >/dev/null

# ---------------------------------------------------------------------------------
# State for schemathesis: the examples' lease held by another pod (409s for acquire),
# a vacant lease with history, a running claim and a completed one.
seed_state() {
    curl -fsS "${auth[@]}" -d '{"lease":"jellyfin-scheduler","holder":"jellyfin-1","ttl_ms":86400000}' "$base/leader" >/dev/null
    curl -fsS "${auth[@]}" -d '{"lease":"library-scan","holder":"jellyfin-0"}' "$base/leader" >/dev/null
    curl -fsS "${auth[@]}" -d '{"lease":"library-scan","holder":"jellyfin-0"}' "$base/lease/release" >/dev/null
    curl -fsS "${auth[@]}" -d '{"task":"RefreshLibrary","holder":"jellyfin-1","lock_at_most_ms":86400000}' "$base/tasks/claim" >/dev/null
    curl -fsS "${auth[@]}" -d '{"task":"CleanTranscodeFolder","holder":"jellyfin-1"}' "$base/tasks/claim" -o "$work/claim.json"
    local run_id
    run_id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["run_id"])' "$work/claim.json")
    curl -fsS "${auth[@]}" -d "{\"task\":\"CleanTranscodeFolder\",\"run_id\":\"$run_id\",\"holder\":\"jellyfin-1\",\"status\":\"succeeded\"}" \
        "$base/tasks/complete" >/dev/null
}

# The conformance checks, plus: 405 with Allow for unlisted methods, 401 without the
# bearer token where the spec asks for one, and required headers. Not enabled:
# negative_data_rejection (Baton takes `null` for an optional field as "absent", as
# the spec says) and positive_data_acceptance (lock_at_least_ms > lock_at_most_ms is
# a documented 400 that a schema cannot express).
checks=not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance
checks+=,response_schema_conformance,unsupported_method,allow_header_conformance,ignored_auth,missing_required_header
# Longer stateful scenarios, so acquire -> renew -> release and claim -> extend ->
# complete chains (the spec's OpenAPI links) are all walked.
# GET /events is a stream that stays open: schemathesis reads it until 20 events or its
# request timeout, so each call would take the full 10 s. One second shows the opening
# events (the current state of each resource named) and the problems; WatchTests and
# EventStreamTests check the events that follow changes.
cat >"$work/schemathesis.toml" <<'TOML'
[phases.stateful]
max-steps = 10

[[operations]]
include-path = "/events"
request-timeout = 1
TOML

# schemathesis_run NAME ARGS...: runs schemathesis, keeps its output and NDJSON events,
# prints what it did and checks the statuses listed in coverage_expect were seen.
coverage_expect=()
schemathesis_run() {
    local name=$1
    shift
    local rc=0
    # From the work folder: schemathesis keeps a crash cache in ./.schemathesis.
    (cd "$work" && SCHEMATHESIS_HOOKS="$here/live-check-hooks.py" \
        schemathesis --config-file "$work/schemathesis.toml" run "$here/openapi.yaml" --url "$base" --checks "$checks" \
        --max-examples "$max_examples" --seed "$seed" --workers 2 --no-color \
        --generation-database none --suppress-health-check all --request-timeout 10 \
        --report ndjson --report-ndjson-path "$work/$name.ndjson" \
        "$@") >"$work/$name.log" 2>&1 || rc=$?
    sed -n '/SUMMARY/,$p' "$work/$name.log"
    if [ "$rc" -ne 0 ]; then
        sed -n '/FAILURES/,/SUMMARY/p' "$work/$name.log" | head -n 200 >&2
    fi
    python3 "$here/live-check-stats.py" "$work/$name.ndjson" "${coverage_expect[@]}" || rc=1
    kill -0 "$batond_pid" 2>/dev/null || { echo "batond died during $name" >&2; tail -n 30 "$work/batond.log" >&2; return 1; }
    return "$rc"
}

schemathesis_all() {
    seed_state
    # The answers every run must have collected, so that it proves more than 400s:
    # the coordination endpoints' "yes" and "no", and reads that found something. A 200
    # from renew, extend or complete needs a stateful chain (acquire -> renew, claim ->
    # extend/complete), which the stateful phase walks at random: it usually gets some
    # (see the table), and the client step below checks those answers every time.
    local e
    coverage_expect=()
    for e in 'POST /leader=200,409' 'GET /leader=200' 'GET /leases=200' 'POST /lease/renew=409' \
        'POST /lease/release=200,409' 'POST /tasks/claim=200,409' 'POST /tasks/extend=409' \
        'POST /tasks/complete=409' 'GET /tasks=200' 'GET /tasks/{task}/runs=200' \
        'GET /leases/{lease}/history=200' 'GET /sessions/validate=200,401' 'POST /sessions/validate=200,401' \
        'GET /status=200' 'GET /openapi.yaml=200' 'GET /events=200'; do
        coverage_expect+=(--expect "$e")
    done
    schemathesis_run all -H "Authorization: Bearer $token" --phases examples,coverage,fuzzing,stateful
}

schemathesis_open() {
    coverage_expect=(--expect 'GET /healthz=200' --expect 'GET /readyz=200' --expect 'GET /metrics=200'
                     --expect 'GET /openapi.yaml=200' --expect 'GET /sessions/validate=200,401')
    schemathesis_run open --phases examples,coverage,fuzzing \
        --include-path /healthz --include-path /readyz --include-path /metrics \
        --include-path /openapi.yaml --include-path /sessions/validate
}

# ---------------------------------------------------------------------------------
outage() {
    stop_redis
    stop_postgres
    probe_failures=0
    local problem='headers["content-type"] == "application/problem+json" and int(headers["retry-after"]) >= 1'
    # The breaker opens after BATON_BREAKER_THRESHOLD (3) failures; until then, 503.
    probe "Redis failing, breaker closed" 503 "$problem and body['code'] == 'backend_unavailable'" \
        "${auth[@]}" -d '{"lease":"outage","holder":"pod-a"}' "$base/leader"
    curl -sS -o /dev/null "${auth[@]}" -d '{"lease":"outage","holder":"pod-a"}' "$base/leader"
    curl -sS -o /dev/null "${auth[@]}" -d '{"lease":"outage","holder":"pod-a"}' "$base/leader"
    probe "breaker open: degraded grant" 200 "body['leader'] and body['mode'] == 'degraded' and body['fencing_token'] is None" \
        "${auth[@]}" -d '{"lease":"outage","holder":"pod-a"}' "$base/leader"
    probe "breaker open, policy deny" 503 "$problem" \
        "${auth[@]}" -d '{"lease":"outage","holder":"pod-a","on_backend_failure":"deny"}' "$base/leader"
    probe "breaker open: degraded claim" 200 "body['claimed'] and body['mode'] == 'degraded' and body['fencing_token'] is None" \
        "${auth[@]}" -d '{"task":"outage","holder":"pod-a"}' "$base/tasks/claim"
    probe "reads have no fallback" 503 "$problem" "${auth[@]}" "$base/leader?lease=outage"
    probe "history needs PostgreSQL" 503 "$problem" "${auth[@]}" "$base/tasks/outage/runs"
    probe "session check without the database is 503, not 401" 503 "$problem" \
        -H "X-Emby-Token: not-cached-token-0000" "$base/sessions/validate"
    probe "status during the outage" 200 "body['backends']['redis']['breaker'] == 'open' and body['backends']['redis']['last_error']" \
        "${auth[@]}" "$base/status"
    probe "readiness during the outage" 200 "body['status'] == 'ready'" "$base/readyz"
    [ "$probe_failures" -eq 0 ] || return 1

    local saved=$checks
    checks=${checks#not_a_server_error,}
    coverage_expect=(--allow-503 --expect 'POST /leader=200,503' --expect 'POST /tasks/claim=200' --expect 'GET /leader=503'
                     --expect 'GET /tasks=503' --expect 'GET /tasks/{task}/runs=503' --expect 'GET /leases/{lease}/history=503'
                     --expect 'GET /sessions/validate=503' --expect 'GET /status=200' --expect 'GET /readyz=200')
    local rc=0
    # (the later --max-examples wins: a short run is enough here)
    schemathesis_run outage -H "Authorization: Bearer $token" --phases examples,fuzzing --max-examples 20 || rc=$?
    checks=$saved
    return "$rc"
}

python_client() {
    printf 'content_type_overrides:\n  application/yaml: text/plain\n' >"$work/client-config.yaml"
    openapi-python-client generate --path openapi/openapi.yaml --output-path "$work/client/baton_client" \
        --meta none --config "$work/client-config.yaml" >"$work/client-generate.log" 2>&1 \
        || { cat "$work/client-generate.log" >&2; return 1; }
    PYTHONPATH="$work/client" python - "$base" "$token" openapi/openapi.yaml <<'PY'
"""acquire -> renew -> release (twice), claim -> extend -> complete with the generated
client; every answer is parsed by the client's models and its raw JSON is validated
against the spec's schema for that operation and status."""
import json
import sys

import jsonschema
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from baton_client import AuthenticatedClient
from baton_client.api.leadership import acquire_leadership, release_lease, renew_lease
from baton_client.api.tasks import claim_task, complete_task, extend_task_claim
from baton_client.models import (
    AcquireLeaseRequest,
    ClaimState,
    ClaimTaskRequest,
    CompleteTaskRequest,
    Completion,
    CompletionStatus,
    ExtendTaskClaimRequest,
    LeaseState,
    ReleaseLeaseRequest,
    ReleaseResult,
    RenewLeaseRequest,
)

base, token, spec_path = sys.argv[1:]
with open(spec_path, encoding="utf-8") as f:
    doc = yaml.safe_load(f)
registry = Registry().with_resource("urn:baton", Resource(contents=doc, specification=DRAFT202012))
client = AuthenticatedClient(base_url=base, token=token, raise_on_unexpected_status=True)
validated = 0


def expect(condition, what):
    if not condition:
        raise SystemExit(f"python client: {what}")


def conforms(response, method, path):
    """The raw answer validates against the spec's schema for its status."""
    global validated
    status = str(int(response.status_code))
    pointer = ["paths", path, method, "responses", status]
    node = doc["paths"][path][method]["responses"].get(status)
    expect(node is not None, f"{method.upper()} {path} answered {status}, which the spec does not list")
    if "$ref" in node:
        pointer = node["$ref"][2:].split("/")
    escaped = "/".join(p.replace("~", "~0").replace("/", "~1") for p in pointer)
    schema = {"$ref": f"urn:baton#/{escaped}/content/application~1json/schema"}
    validator = jsonschema.Draft202012Validator(schema, registry=registry,
                                                format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    errors = [f"{e.message} at {list(e.absolute_path)}" for e in validator.iter_errors(json.loads(response.content))]
    expect(not errors, f"{method.upper()} {path} {status} does not match the spec: {errors}")
    validated += 1
    return response.parsed


lease, holder = "python-client-lease", "python-client"
tokens = []
for _ in range(2):
    r = acquire_leadership.sync_detailed(client=client, body=AcquireLeaseRequest(lease=lease, holder=holder, ttl_ms=10000))
    state = conforms(r, "post", "/leader")
    expect(r.status_code == 200 and isinstance(state, LeaseState), f"acquire: {r.status_code} {r.content!r}")
    expect(state.leader is True and state.acquired is True and state.holder == holder, f"acquire answer {state}")
    tokens.append(state.fencing_token)

    r = renew_lease.sync_detailed(client=client, body=RenewLeaseRequest(lease=lease, holder=holder, ttl_ms=20000,
                                                                         fencing_token=state.fencing_token))
    renewed = conforms(r, "post", "/lease/renew")
    expect(r.status_code == 200 and renewed.leader is True and renewed.acquired is False, f"renew: {r.content!r}")
    expect(renewed.fencing_token == state.fencing_token and renewed.ttl_ms == 20000, f"renew answer {renewed}")

    r = release_lease.sync_detailed(client=client, body=ReleaseLeaseRequest(lease=lease, holder=holder,
                                                                             fencing_token=state.fencing_token))
    released = conforms(r, "post", "/lease/release")
    expect(r.status_code == 200 and isinstance(released, ReleaseResult), f"release: {r.content!r}")
    expect(released.released is True and released.holder is None, f"release answer {released}")
expect(tokens[1] > tokens[0], f"the fencing token did not grow: {tokens}")

r = renew_lease.sync_detailed(client=client, body=RenewLeaseRequest(lease=lease, holder=holder))
expect(r.status_code == 409 and conforms(r, "post", "/lease/renew").holder is None, f"renew after release: {r.content!r}")
r = release_lease.sync_detailed(client=client, body=ReleaseLeaseRequest(lease=lease, holder=holder))
expect(r.status_code == 200 and conforms(r, "post", "/lease/release").released is False, f"second release: {r.content!r}")

task = "python-client-task"
r = claim_task.sync_detailed(client=client, body=ClaimTaskRequest(task=task, holder=holder, lock_at_least_ms=60000))
claim = conforms(r, "post", "/tasks/claim")
expect(r.status_code == 200 and isinstance(claim, ClaimState) and claim.claimed is True, f"claim: {r.content!r}")
r = claim_task.sync_detailed(client=client, body=ClaimTaskRequest(task=task, holder="someone-else"))
expect(r.status_code == 409 and conforms(r, "post", "/tasks/claim").reason == "held", f"second claim: {r.content!r}")
r = extend_task_claim.sync_detailed(client=client, body=ExtendTaskClaimRequest(task=task, run_id=claim.run_id,
                                                                                holder=holder, lock_at_most_ms=1800000))
extended = conforms(r, "post", "/tasks/extend")
expect(r.status_code == 200 and extended.claimed is True and extended.run_id == claim.run_id, f"extend: {r.content!r}")
expect(extended.lock_at_most_ms == 1800000 and extended.fencing_token == claim.fencing_token, f"extend answer {extended}")
r = complete_task.sync_detailed(client=client, body=CompleteTaskRequest(task=task, run_id=claim.run_id, holder=holder,
                                                                         status=CompletionStatus.SUCCEEDED,
                                                                         detail="done by the generated client"))
done = conforms(r, "post", "/tasks/complete")
expect(r.status_code == 200 and isinstance(done, Completion), f"complete: {r.content!r}")
expect(done.recorded is True and done.late is False and done.run_id == claim.run_id, f"complete answer {done}")
r = claim_task.sync_detailed(client=client, body=ClaimTaskRequest(task=task, holder="someone-else"))
expect(r.status_code == 409 and conforms(r, "post", "/tasks/claim").reason == "recently_completed",
       f"claim after completion: {r.content!r}")
r = extend_task_claim.sync_detailed(client=client, body=ExtendTaskClaimRequest(task=task, run_id=claim.run_id, holder=holder))
expect(r.status_code == 409 and conforms(r, "post", "/tasks/extend").claimed is False, f"extend after completion: {r.content!r}")
r = complete_task.sync_detailed(client=client, body=CompleteTaskRequest(task=task, run_id=claim.run_id, holder=holder,
                                                                         status=CompletionStatus.FAILED))
late = conforms(r, "post", "/tasks/complete")
expect(r.status_code == 409 and late.late is True and late.recorded is True, f"second completion: {r.content!r}")
print(f"python client: fencing tokens {tokens}, run {claim.run_id} claimed, extended and completed; "
      f"{validated} answers match the spec")
PY
}

step "served /openapi.yaml is openapi/openapi.yaml" served_spec
step "contract probes (curl)" contract_probes
step "schemathesis: every operation, with the bearer token" schemathesis_all
step "schemathesis: open endpoints, without a token" schemathesis_open
step "generated Python client: acquire, renew, release, claim, extend, complete" python_client
step "Redis and PostgreSQL down: 503s, degraded mode, schemathesis" outage

if ! kill -0 "$batond_pid" 2>/dev/null; then
    failed=$((failed + 1))
    echo "batond is no longer running" >&2
fi
if grep -qiE 'fatal|panic|crash' "$work/batond.log"; then
    failed=$((failed + 1))
    echo "batond logged a crash:" >&2
    grep -iE 'fatal|panic|crash' "$work/batond.log" | head -n 20 >&2
fi
stop_batond

echo "openapi-live: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
