#!/usr/bin/env bash
# The image's runtime stage, proven without a Docker engine: builds the runtime file
# system of docker/Dockerfile with debootstrap (Debian bookworm, minbase), runs the
# runtime stage's own RUN step in it (so the packages and the baton user are exactly the
# Dockerfile's), copies in the static release batond and batonctl built as the build stage
# builds them, and runs them there (chroot, as the image's user 10001) against loopback
# Redis and PostgreSQL: /healthz, a POST /leader, `batonctl status` and the HEALTHCHECK
# command must succeed. Prints the file system's and the binaries' sizes.
#   docker/image-check.sh            (root: debootstrap and chroot need it; CI runs as root)
# The debootstrap result is cached as .local/image-rootfs-<key>.tar (key: the mirror and
# the runtime RUN step), so a second run skips the download; CI starts without it.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/../scripts/lib.sh"
cd "$BATON_ROOT"
# scripts/test exports the port and data of its own PostgreSQL, which start_postgres would
# reuse (a port clash) and cleanup would stop: servers of our own here.
unset PG_PORT PG_DATA PG_URL REDIS_PORT REDIS_PID REDIS_URL

[ "$(id -u)" -eq 0 ] || die "image-check needs root (debootstrap, chroot)"
# libcurl4-openssl-dev: the static batonctl links FoundationNetworking, which needs libcurl (the
# swift:*-bookworm build image has it).
ensure_packages debootstrap libcurl4-openssl-dev

dockerfile=docker/Dockerfile
# The runtime stage's RUN step (up to the first line that does not end in a backslash).
runtime_run=$(awk '/^FROM .* AS runtime/{s=1; next}
                  s && /^RUN /{r=1; sub(/^RUN /, "")}
                  r{if (sub(/\\$/, "")) printf "%s ", $0; else {print; exit}}' "$dockerfile")
[ -n "$runtime_run" ] || die "no RUN step in the runtime stage of $dockerfile"
grep -q '^FROM debian:bookworm-slim AS runtime' "$dockerfile" || die "the runtime stage is no longer debian:bookworm-slim: update $0"
# The HEALTHCHECK's CMD as words (exec form).
health_cmd=$(sed -n '/^HEALTHCHECK/,/CMD/p' "$dockerfile" | grep -o 'CMD \[.*\]' | sed -e 's/^CMD \[//' -e 's/\]$//' -e 's/", *"/ /g' -e 's/"//g')
[ -n "$health_cmd" ] || die "no HEALTHCHECK CMD in $dockerfile"

# The mirror apt uses here (deb822 or one-line sources), for debootstrap and the chroot.
mirror=$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | grep -v security | head -n 1 | awk '{print $2}')
[ -n "$mirror" ] || mirror=$(grep -hs '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list | grep -v security | head -n 1 | awk '{print $2}')
mirror=${mirror:-http://deb.debian.org/debian}

work=$(mktemp -d /tmp/baton-image.XXXXXX)
chmod 755 "$work"
root="$work/rootfs"
batond_pid=""
cleanup() {
    [ -n "$batond_pid" ] && kill "$batond_pid" 2>/dev/null && wait "$batond_pid" 2>/dev/null
    stop_redis
    stop_postgres
    for m in proc dev; do mountpoint -q "$root/$m" && umount -l "$root/$m"; done
    rm -rf "$work"
}
trap cleanup EXIT

log "building static release binaries (as the Dockerfile's build stage)"
start=$(date +%s)
swift build -c release --static-swift-stdlib --product batond 2>&1 | grep -E 'error|warning: unre|Compiling|Build' | tail -n 3
swift build -c release --static-swift-stdlib --product batonctl 2>&1 | grep -E 'error|Build' | tail -n 3
bin=$(swift build -c release --static-swift-stdlib --show-bin-path)
log "release build took $(( $(date +%s) - start )) s"

key=$(printf '%s\n%s\n' "$mirror" "$runtime_run" | sha256sum | cut -c1-16)
cache="$BATON_ROOT/.local/image-rootfs-$key.tar"
mkdir -p "$root" "$BATON_ROOT/.local"
if [ -s "$cache" ]; then
    log "runtime file system from $cache"
    tar -C "$root" -xf "$cache"
else
    rm -f "$BATON_ROOT"/.local/image-rootfs-*.tar  # one cached file system, not one per change
    log "debootstrap bookworm (minbase) from $mirror"
    start=$(date +%s)
    debootstrap --variant=minbase bookworm "$root" "$mirror" >"$work/debootstrap.log" 2>&1 \
        || { tail -n 20 "$work/debootstrap.log" >&2; die "debootstrap failed"; }
    cp /etc/resolv.conf "$root/etc/resolv.conf"
    mount -t proc proc "$root/proc"
    log "the runtime stage's RUN step: $(echo "$runtime_run" | tr -s ' \n' ' ' | cut -c1-120)…"
    chroot "$root" /bin/bash -o pipefail -c "$runtime_run" >"$work/run.log" 2>&1 \
        || { tail -n 20 "$work/run.log" >&2; die "the runtime RUN step failed in the chroot"; }
    umount -l "$root/proc"
    rm -rf "$root/var/cache/apt/archives/"*.deb
    tar -C "$root" -cf "$cache" .
    log "debootstrap and RUN took $(( $(date +%s) - start )) s"
fi

# COPY --from=build: the binaries stripped of debug sections, and the backtracer.
install -m 755 "$bin/batond" "$bin/batonctl" "$root/usr/local/bin/"
strip --strip-debug "$root/usr/local/bin/batond" "$root/usr/local/bin/batonctl"
mkdir -p "$root/usr/local/libexec"
# (the build image has it at /usr/libexec/swift/linux; a toolchain elsewhere beside its swift)
backtracer=$(dirname "$(readlink -f "$(command -v swift)")")/../libexec/swift/linux/swift-backtrace-static
[ -x "$backtracer" ] || backtracer=/usr/libexec/swift/linux/swift-backtrace-static
install -m 755 "$backtracer" "$root/usr/local/libexec/swift-backtrace-static"
mount -t proc proc "$root/proc"

# The Dockerfile's library check, in the runtime file system.
for b in /usr/local/bin/batond /usr/local/bin/batonctl; do
    if chroot "$root" ldd "$b" | grep 'not found'; then die "missing libraries for $b in the runtime file system"; fi
done
chroot "$root" id baton | grep -q 'uid=10001(baton) gid=10001(baton)' || die "no baton user 10001 in the runtime file system"

start_redis "$work/redis"
start_postgres "$work/pg"
port=$(free_port)
token=image-check-token-$RANDOM$RANDOM
log "batond in the chroot as 10001:10001 on 127.0.0.1:$port"
chroot --userspec=10001:10001 "$root" /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin \
    BATON_LISTEN="127.0.0.1:$port" BATON_REDIS_URL="$REDIS_URL" BATON_DATABASE_URL="$PG_URL" BATON_API_TOKENS="$token" \
    SWIFT_BACKTRACE=enable=yes,interactive=no,sanitize=yes,swift-backtrace=/usr/local/libexec/swift-backtrace-static \
    /usr/local/bin/batond >"$work/batond.log" 2>&1 &
batond_pid=$!
for i in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
    kill -0 "$batond_pid" 2>/dev/null || { cat "$work/batond.log" >&2; die "batond exited in the chroot"; }
    [ "$i" -eq 100 ] && { cat "$work/batond.log" >&2; die "batond did not answer /healthz within 10 s"; }
    sleep 0.1
done
failed=0
check() {
    local name=$1
    shift
    if "$@" >"$work/out" 2>&1; then
        printf 'ok   %s\n' "$name"
    else
        printf 'FAIL %s\n' "$name" >&2
        cat "$work/out" >&2
        failed=1
    fi
}
check "GET /healthz" curl -fsS "http://127.0.0.1:$port/healthz"
check "POST /leader" sh -c "curl -fsS -H 'Authorization: Bearer $token' -H 'Content-Type: application/json' \
    -d '{\"lease\":\"image-check\",\"holder\":\"pod-a\"}' http://127.0.0.1:$port/leader | grep -q '\"leader\":true'"
check "batonctl status (in the chroot, as 10001)" chroot --userspec=10001:10001 "$root" /usr/bin/env -i BATON_TOKEN="$token" \
    /usr/local/bin/batonctl status --url "http://127.0.0.1:$port"
# The HEALTHCHECK as the Dockerfile writes it, on this run's port (8080 may be taken here).
# shellcheck disable=SC2086
check "HEALTHCHECK ($health_cmd)" chroot --userspec=10001:10001 "$root" ${health_cmd//127.0.0.1:8080/127.0.0.1:$port}

umount -l "$root/proc"
printf 'runtime file system: %s (%s files); batond %s, batonctl %s (stripped of debug sections)\n' \
    "$(du -sh --apparent-size "$root" | cut -f1)" "$(find "$root" -xdev | wc -l)" \
    "$(du -h --apparent-size "$root/usr/local/bin/batond" | cut -f1)" "$(du -h --apparent-size "$root/usr/local/bin/batonctl" | cut -f1)"
[ "$failed" -eq 0 ] || { tail -n 20 "$work/batond.log" >&2; exit 1; }
