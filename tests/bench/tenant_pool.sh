#!/usr/bin/env bash
# tenant_pool.sh - select-only TPS of 100 pgbench processes (-c 2 -j 1 each, 200 clients in
# all) through a pgward pooling per transaction, with a tenant context per process or none:
# one pgbench cannot give its clients different identities. Prints the sum of their TPS.
# docs/PERFORMANCE.md, "the tenant context with 100 tenants", runs it interleaved against two
# pgwards on the same PostgreSQL (../shared/bench/pgcluster.sh, database and role bench):
#
#   [pgward] auth_type = trust, pool_mode = transaction, default_pool_size = 20
#   [tenant] mode = on, identity = startup_option, trusted_roles = bench, source = map,
#            map_file = a file of "<uuid i> = <org uuid i>" lines for i = 1..TENANTS, the
#            uuids as below
#
#   tests/bench/tenant_pool.sh PORT TENANTS SECONDS     # TENANTS = 0: no identity passed
# Runs pgbench as user bench (as root) or as the caller.
set -euo pipefail

port=$1 tenants=$2 seconds=$3
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
as_bench() { if [ "$(id -u)" = 0 ]; then runuser -u bench -- "$@"; else "$@"; fi; }

for i in $(seq 1 100); do
	opt=""
	if [ "$tenants" -gt 0 ]; then
		t=$(((i - 1) % tenants + 1))
		opt=$(printf -- "-c app.user_id=%08x-0000-4000-8000-%012x" "$t" "$t")
	fi
	as_bench env PGOPTIONS="$opt" pgbench -n -S -c 2 -j 1 -T "$seconds" -h 127.0.0.1 \
		-p "$port" bench >"$dir/$i.out" 2>&1 &
done
wait
grep -h "tps = " "$dir"/*.out | awk '{ s += $3 } END { printf "%.0f\n", s }'
