#!/bin/sh
# A stand-in for one Jellyfin replica's scheduler, used by the "pod-1" and "pod-2"
# services of docker/compose.yaml. Every 10 seconds each pod asks Baton to run the task
# "demo-scan" for the current minute (the schedule slot). Both pods fire, only one of them
# runs the task per minute: Baton grants at most one completed run per task and slot, and
# --at-least keeps the finished run's claim for 30 s so a pod whose clock fires a little
# later does not run it again.
#
#   docker compose -f docker/compose.yaml logs -f pod-1 pod-2
#
# Environment (read by batonctl): BATON_URL, BATON_TOKEN, BATON_HOLDER.
set -u

: "${BATON_URL:?BATON_URL must point at a batond replica}"
: "${BATON_TOKEN:?BATON_TOKEN must be one of the batond API tokens}"
# Docker and Kubernetes put HOSTNAME in every container's environment.
# shellcheck disable=SC3028
BATON_HOLDER="${BATON_HOLDER:-${HOSTNAME:-pod}}"
export BATON_URL BATON_TOKEN BATON_HOLDER

echo "[$BATON_HOLDER] waiting for $BATON_URL"
until batonctl health --url "$BATON_URL" >/dev/null 2>&1; do
    sleep 1
done
echo "[$BATON_HOLDER] $BATON_URL is up"

while :; do
    slot="$(date -u +%Y-%m-%dT%H:%M)"
    # The inner shell expands $HOSTNAME, so the single quotes are intended.
    # shellcheck disable=SC2016
    if batonctl claim --task demo-scan --slot "$slot" --at-least 30s -- \
        sh -c 'echo "running on $HOSTNAME"; sleep 5'; then
        echo "[$BATON_HOLDER] slot $slot: ran here"
    else
        # Not claimed (another pod ran or is running this slot) or Baton unavailable:
        # batonctl has printed the reason.
        echo "[$BATON_HOLDER] slot $slot: not run here (batonctl exit $?)"
    fi
    sleep 10
done
