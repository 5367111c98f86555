#!/usr/bin/env bash
# /sessions/validate behind real proxies: nginx's auth_request configured as ingress-nginx
# generates it for the auth-url annotation (X-Original-URL, X-Original-Method,
# X-Auth-Request-Redirect, auth-response-headers), and Caddy's forward_auth (X-Forwarded-Uri).
# Real batond, PostgreSQL with the demo Jellyfin rows, Redis, and an upstream stand-in that
# echoes the headers it receives, all on loopback free ports, from a temporary folder.
# Run by ./scripts/test; needs nginx (nginx-light) and caddy from Debian.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$BATON_ROOT"

command -v nginx >/dev/null || die "nginx is not installed (apt-get install nginx-light)"
command -v caddy >/dev/null || die "caddy is not installed (apt-get install caddy)"
bin=${BATON_TEST_BATOND:+$(dirname "$BATON_TEST_BATOND")}
bin=${bin:-$(swift build --show-bin-path)}
[ -x "$bin/batond" ] || die "build batond first (swift build)"

work=$(mktemp -d /tmp/baton-proxy.XXXXXX)
chmod 755 "$work"
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    stop_redis
    [ -n "${own_pg:-}" ] && stop_postgres
    rm -rf "$work"
}
trap cleanup EXIT

VALID=0123456789abcdef0123456789abcdef    # the demo user's device (Tests/Fixtures/jellyfin-demo-seed.sql)
REVOKED=5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e  # in no Devices or ApiKeys row: logged out

if [ -n "${BATON_TEST_DATABASE_URL:-}" ]; then
    admin_url=$BATON_TEST_DATABASE_URL
else
    own_pg=1
    start_postgres "$work/pg"
    admin_url=$PG_URL
fi
seed_jellyfin_db "$admin_url" "proxy_check_$$"
start_redis "$work/redis"

wait_port() {  # wait_port PORT NAME LOG: up to 10 s
    local _
    for _ in $(seq 1 200); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.05
    done
    cat "$3" >&2 || true
    die "$2 did not listen on $1"
}

start_batond "$bin" "$work/batond.log" BATON_DATABASE_URL="$JELLYFIN_DB_URL" BATON_AUTH=disabled BATON_SESSION_CACHE_TTL_MS=0
pids+=("$BATOND_PID")
BATON_PORT=$BATOND_PORT

# The upstream stand-in (Jellyfin's place): 200 with the request line and headers it got.
UP_PORT=$(free_port)
cat >"$work/upstream.py" <<'EOF'
import http.server, json, sys
class Echo(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    do_POST = do_GET
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Echo).serve_forever()
EOF
(exec python3 "$work/upstream.py" "$UP_PORT" >"$work/upstream.log" 2>&1) &
pids+=($!)
wait_port "$UP_PORT" upstream "$work/upstream.log"

# nginx, as ingress-nginx renders an Ingress with
#   nginx.ingress.kubernetes.io/auth-url: http://baton:8080/sessions/validate
#   nginx.ingress.kubernetes.io/auth-response-headers: X-Baton-User-Id, X-Baton-User-Name, X-Baton-Is-Admin
# (its nginx.tmpl: an internal auth location, proxy_pass_request_body off, X-Original-URL,
# X-Original-Method, X-Auth-Request-Redirect, auth_request_set per response header).
NGINX_PORT=$(free_port)
mkdir -p "$work/nginx"
user_line=""
[ "$(id -u)" -eq 0 ] && user_line="user root;"
cat >"$work/nginx/nginx.conf" <<EOF
$user_line
worker_processes 1;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path $work/nginx/body;
    proxy_temp_path $work/nginx/proxy;
    fastcgi_temp_path $work/nginx/fastcgi;
    uwsgi_temp_path $work/nginx/uwsgi;
    scgi_temp_path $work/nginx/scgi;
    server {
        listen 127.0.0.1:$NGINX_PORT;
        location = /_external-auth-Lw-Prefix {
            internal;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Forwarded-Proto "";
            proxy_set_header X-Request-ID \$request_id;
            proxy_set_header Host 127.0.0.1:$BATON_PORT;
            proxy_set_header X-Original-URL \$scheme://\$http_host\$request_uri;
            proxy_set_header X-Original-Method \$request_method;
            proxy_set_header X-Sent-From "nginx-ingress-controller";
            proxy_set_header X-Real-IP \$remote_addr;
            proxy_set_header X-Forwarded-For \$remote_addr;
            proxy_set_header X-Auth-Request-Redirect \$request_uri;
            # auth-proxy-set-headers: jellyfin/baton-auth-headers (docker/k8s/ingress-nginx.yaml)
            proxy_set_header X-Forwarded-Uri "\$request_uri";
            proxy_buffering off;
            proxy_buffer_size 4k;
            proxy_buffers 4 4k;
            proxy_request_buffering on;
            proxy_http_version 1.1;
            proxy_pass_request_headers on;
            client_max_body_size 1m;
            proxy_pass http://127.0.0.1:$BATON_PORT/sessions/validate;
        }
        location / {
            auth_request /_external-auth-Lw-Prefix;
            auth_request_set \$auth_cookie \$upstream_http_set_cookie;
            auth_request_set \$authHeader0 \$upstream_http_x_baton_user_id;
            proxy_set_header 'X-Baton-User-Id' \$authHeader0;
            auth_request_set \$authHeader1 \$upstream_http_x_baton_user_name;
            proxy_set_header 'X-Baton-User-Name' \$authHeader1;
            auth_request_set \$authHeader2 \$upstream_http_x_baton_is_admin;
            proxy_set_header 'X-Baton-Is-Admin' \$authHeader2;
            proxy_http_version 1.1;
            proxy_pass http://127.0.0.1:$UP_PORT;
        }
    }
}
EOF
(exec nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" -g 'daemon off;' >"$work/nginx/stdout.log" 2>&1) &
pids+=($!)
wait_port "$NGINX_PORT" nginx "$work/nginx/error.log"

# Caddy's forward_auth (it sends X-Forwarded-Method and X-Forwarded-Uri).
CADDY_PORT=$(free_port)
mkdir -p "$work/caddy"
cat >"$work/caddy/Caddyfile" <<EOF
{
    admin off
    auto_https off
}
http://127.0.0.1:$CADDY_PORT {
    bind 127.0.0.1
    forward_auth 127.0.0.1:$BATON_PORT {
        uri /sessions/validate
        copy_headers X-Baton-User-Id X-Baton-User-Name X-Baton-Is-Admin
    }
    reverse_proxy 127.0.0.1:$UP_PORT
}
EOF
(exec env HOME="$work/caddy" XDG_DATA_HOME="$work/caddy" XDG_CONFIG_HOME="$work/caddy" \
    caddy run --config "$work/caddy/Caddyfile" --adapter caddyfile >"$work/caddy/caddy.log" 2>&1) &
pids+=($!)
wait_port "$CADDY_PORT" caddy "$work/caddy/caddy.log"

failures=0
# expect NAME PROXY_PORT STATUS [curl args...]: the status seen through the proxy, and on
# a 200 that the upstream got the user from Baton's auth response headers.
expect() {
    local name=$1 port=$2 expected=$3
    shift 3
    local got
    got=$(curl -sS -m 10 -o "$work/body" -w '%{http_code}' "$@" "http://127.0.0.1:$port$path") || got="curl-failed"
    if [ "$got" != "$expected" ]; then
        printf 'FAIL %s: HTTP %s, want %s\n' "$name" "$got" "$expected" >&2
        failures=$((failures + 1))
        return
    fi
    if [ "$expected" = 200 ] && ! python3 -c '
import json, sys
h = json.load(open(sys.argv[1]))["headers"]
sys.exit(0 if h.get("x-baton-user-name") == "demo" and h.get("x-baton-is-admin") == "false" and h.get("x-baton-user-id") else 1)
' "$work/body"; then
        printf 'FAIL %s: the upstream did not get the X-Baton-* headers: %s\n' "$name" "$(cat "$work/body")" >&2
        failures=$((failures + 1))
        return
    fi
    printf 'ok   %s (HTTP %s)\n' "$name" "$got"
}

for proxy in nginx caddy; do
    port=$NGINX_PORT
    [ "$proxy" = caddy ] && port=$CADDY_PORT
    path="/Videos/abc/stream.mkv?static=true&api_key=$VALID"
    expect "$proxy: stream URL with a valid api_key" "$port" 200
    path="/Items/1/Images/Primary?ApiKey=$VALID&tag=x"
    expect "$proxy: image URL with a valid ApiKey" "$port" 200
    path="/Videos/abc/stream.mkv?static=true&api_key=$REVOKED"
    expect "$proxy: stream URL with a revoked api_key" "$port" 401
    path="/Items?apikey=$REVOKED&api_key=$VALID"
    expect "$proxy: apikey (Jellyfin's ApiKey) is read before api_key" "$port" 401
    path="/Videos/abc/stream.mkv?api_key=$VALID%00junk"
    expect "$proxy: a NUL in the token" "$port" 401
    path="/Users/Me"
    expect "$proxy: no token" "$port" 401
    expect "$proxy: Authorization MediaBrowser" "$port" 200 -H "Authorization: MediaBrowser Client=\"Jellyfin Web\", Token=\"$VALID\""
    expect "$proxy: X-Emby-Token" "$port" 200 -H "X-Emby-Token: $VALID"
    expect "$proxy: the last Token wins" "$port" 401 -H "Authorization: MediaBrowser Token=\"$VALID\", Token=\"$REVOKED\""
    expect "$proxy: Authorization hides X-Emby-Authorization" "$port" 401 \
        -H "Authorization: Basic Zm9v" -H "X-Emby-Authorization: MediaBrowser Token=\"$VALID\"" -H "X-Emby-Token: $REVOKED"
    expect "$proxy: revoked X-Emby-Token" "$port" 401 -H "X-Emby-Token: $REVOKED"
    expect "$proxy: POST with a valid header token" "$port" 200 -X POST -d '{}' -H "X-Emby-Token: $VALID"
    path="/Videos/abc/stream.mkv?api_key=$REVOKED"
    expect "$proxy: a forged X-Forwarded-Uri is overwritten" "$port" 401 -H "X-Forwarded-Uri: /x?api_key=$VALID"
    expect "$proxy: a forged X-Original-URL is not read" "$port" 401 -H "X-Original-URL: http://x/x?api_key=$VALID"
done

if grep -q "$VALID" "$work/batond.log"; then
    printf 'FAIL: a token appears in the batond log\n' >&2
    failures=$((failures + 1))
fi
[ "$failures" -eq 0 ] || { tail -n 20 "$work/batond.log" "$work/nginx/error.log" "$work/caddy/caddy.log" >&2; die "$failures proxy checks failed"; }
log "proxy checks passed (nginx auth_request as ingress-nginx, Caddy forward_auth)"
