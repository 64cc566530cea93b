#!/bin/bash
# pgward-healthcheck: the container image's HEALTHCHECK. Asks pgward's metrics listener for
# GET /healthz with bash's /dev/tcp (the slim image has no curl) and exits 0 only on
# HTTP 200, i.e. when pgward runs and its last probe of PostgreSQL succeeded.
# Environment: PGWARD_METRICS_PORT (6490), PGWARD_METRICS_HOST (127.0.0.1).
set -u
host=${PGWARD_METRICS_HOST:-127.0.0.1}
port=${PGWARD_METRICS_PORT:-6490}
exec 3<>"/dev/tcp/$host/$port" || exit 1
printf 'GET /healthz HTTP/1.0\r\nHost: %s\r\n\r\n' "$host" >&3
read -r -t 3 _ status _ <&3 || exit 1
body=$(timeout 3 cat <&3 | tail -n 1)
echo "${body:-no answer}"
[ "$status" = 200 ]
