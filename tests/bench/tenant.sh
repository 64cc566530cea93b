#!/usr/bin/env bash
# tenant.sh - the tenant context's two benchmarks (figures go to docs/PERFORMANCE.md):
#
#   1. RLS cost (report finding 5.2.1): one query over scraped_pages ($ROWS rows, $ORGS
#      organizations, the user a member of $MEMBER_OF of them), through pgward with the
#      context injected, under three policies in turn:
#        nested      the report's policy: IN (domains JOIN customer_configs WHERE
#                    organization_id IN (SELECT ... FROM organization_members WHERE user_id = ...))
#        correlated  the same test written as a per-row EXISTS
#        injected    conf/tenant/schema.sql's policy: the ids pgward set, read once per
#                    statement through pgward.org_ids() (signature checked)
#   2. Connection cost: pgbench -C (a new connection per transaction, -S) directly, through
#      pgward with [tenant] off, with it on (cache hit) and with cache_ttl = 0 (a lookup
#      query for every connection).
#
# Usage: tests/bench/tenant.sh   (as root or an ordinary user; starts and stops its own
# throwaway PostgreSQL 15 and pgward on loopback, refuses ports already taken)
# Environment: ROWS=200000 ORGS=50 MEMBER_OF=5 DURATION=10 CLIENTS=4 THREADS=2
#   PG_PORT=5520 PGWARD_PORT=5521 BENCH_DIR=/tmp/pgward-bench-tenant PGWARD_BIN=<build>/pgward
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=../../scripts/lib.sh
. "$ROOT/scripts/lib.sh"

ROWS=${ROWS:-200000}
ORGS=${ORGS:-50}
MEMBER_OF=${MEMBER_OF:-5}
DURATION=${DURATION:-10}
CLIENTS=${CLIENTS:-4}
THREADS=${THREADS:-2}
PG_PORT=${PG_PORT:-5520}
PGWARD_PORT=${PGWARD_PORT:-5521}
BENCH_DIR=${BENCH_DIR:-/tmp/pgward-bench-tenant}
PGWARD_BIN=${PGWARD_BIN:-$ROOT/build/pgward}
USER_ID=aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa
SECRET=bench-signing-secret-0123456789
PGWARD_PID=

for p in "$PG_PORT" "$PGWARD_PORT"; do
	port_listening "$p" && die "port $p is already in use"
done
[ -x "$PGWARD_BIN" ] || build Release "$ROOT/build"
mkdir -p "$BENCH_DIR"
chmod 755 "$BENCH_DIR"

stop_all() {
	[ -n "$PGWARD_PID" ] && kill "$PGWARD_PID" 2>/dev/null && wait "$PGWARD_PID" 2>/dev/null
	PGWARD_PID=
	pg_stop "$BENCH_DIR/pg"
}
trap stop_all EXIT

psql_su() { "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres "$@"; }

pg_start "$BENCH_DIR/pg" "$PG_PORT"
psql_su -d postgres -c "DROP DATABASE IF EXISTS tenant WITH (FORCE)" -c "CREATE DATABASE tenant" \
	-c "DROP ROLE IF EXISTS bench_app" -c "CREATE ROLE bench_app LOGIN"
psql_su -d tenant -f "$ROOT/conf/tenant/signing.sql" -f "$ROOT/conf/tenant/schema.sql" \
	-f "$ROOT/conf/tenant/notify.sql" -c "INSERT INTO pgward.secret VALUES ('$SECRET')" >/dev/null
log "loading $ROWS pages over $ORGS organizations"
psql_su -d tenant >/dev/null <<SQL
INSERT INTO organizations (id, name)
	SELECT ('00000000-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid, 'org ' || g
	FROM generate_series(1, $ORGS) g;
INSERT INTO domains (organization_id, domain) SELECT id, name || '.example' FROM organizations;
INSERT INTO customer_configs (organization_id, domain_id) SELECT organization_id, id FROM domains;
-- 20 members per organization; the bench user in the first $MEMBER_OF
INSERT INTO organization_members (organization_id, user_id)
	SELECT o.id, gen_random_uuid() FROM organizations o, generate_series(1, 20);
INSERT INTO organization_members (organization_id, user_id)
	SELECT id, '$USER_ID' FROM organizations ORDER BY id LIMIT $MEMBER_OF;
INSERT INTO scraped_pages (domain_id, url, content)
	SELECT d.id, 'https://x/' || g, repeat('x', 200)
	FROM generate_series(1, $ROWS) g
	JOIN (SELECT id, row_number() OVER (ORDER BY id) - 1 AS n FROM domains) d ON d.n = g % $ORGS;
VACUUM ANALYZE;
-- the policies under test
CREATE FUNCTION bench_policy(kind text) RETURNS void LANGUAGE plpgsql AS \$\$
BEGIN
	DROP POLICY IF EXISTS tenant ON scraped_pages;
	IF kind = 'nested' THEN
		CREATE POLICY tenant ON scraped_pages USING (domain_id IN (
			SELECT d.id FROM domains d JOIN customer_configs cc ON cc.domain_id = d.id
			WHERE cc.organization_id IN (
				SELECT organization_id FROM organization_members
				WHERE user_id = current_setting('app.user_id')::uuid)));
	ELSIF kind = 'correlated' THEN
		CREATE POLICY tenant ON scraped_pages USING (EXISTS (
			SELECT 1 FROM domains d JOIN organization_members om
				ON om.organization_id = d.organization_id
			WHERE d.id = scraped_pages.domain_id
			AND om.user_id = current_setting('app.user_id')::uuid));
	ELSE
		CREATE POLICY tenant ON scraped_pages USING (domain_id = ANY (ARRAY(
			SELECT id FROM domains
			WHERE organization_id = ANY ((SELECT pgward.org_ids())::uuid[]))));
	END IF;
END \$\$;
SQL
# pgbench -i as the owner, read by the application role
"$PGBIN/pgbench" -q -i -s 1 -h 127.0.0.1 -p "$PG_PORT" -U postgres tenant >/dev/null 2>&1
psql_su -d tenant -c "GRANT SELECT ON ALL TABLES IN SCHEMA public TO bench_app" >/dev/null

start_pgward() { # start_pgward MODE CACHE_TTL
	stop_pgward
	cat >"$BENCH_DIR/pgward.ini" <<INI
[pgward]
listen_port = $PGWARD_PORT
server_port = $PG_PORT
server_tls_sslmode = disable
log_level = warning
[tenant]
mode = $1
identity = startup_option
trusted_roles = bench_app
source = query
conninfo = host=127.0.0.1 port=$PG_PORT user=postgres dbname=tenant
cache_ttl = $2
signing_secret = $SECRET
INI
	"$PGWARD_BIN" -c "$BENCH_DIR/pgward.ini" 2>>"$BENCH_DIR/pgward.log" &
	PGWARD_PID=$!
	wait_port "$PGWARD_PORT" 10 || die "pgward did not start, see $BENCH_DIR/pgward.log"
}
stop_pgward() {
	[ -n "$PGWARD_PID" ] && kill "$PGWARD_PID" 2>/dev/null && wait "$PGWARD_PID" 2>/dev/null
	PGWARD_PID=
	return 0
}

# pgbench_run PORT ARGS...: prints "tps latency_ms"
pgbench_run() {
	local port=$1
	shift
	PGOPTIONS="-c app.user_id=$USER_ID" "$PGBIN/pgbench" -n -h 127.0.0.1 -p "$port" \
		-U bench_app "$@" tenant 2>&1 |
		awk '/^latency average/ { lat = $4 } /^tps/ { tps = $3 } END { printf "%.1f %.3f\n", tps, lat }'
}

echo "## RLS policy cost: SELECT count(*) FROM scraped_pages ($ROWS rows, user in $MEMBER_OF of $ORGS organizations), through pgward"
echo
echo "| policy | rows seen | mean latency (ms) | TPS (1 client) |"
echo "|---|---|---|---|"
start_pgward on 1h
echo "SELECT count(*) FROM scraped_pages;" >"$BENCH_DIR/count.sql"
for kind in nested correlated injected; do
	psql_su -d tenant -c "SELECT bench_policy('$kind')" >/dev/null
	seen=$(PGOPTIONS="-c app.user_id=$USER_ID" "$PGBIN/psql" -X -At -h 127.0.0.1 \
		-p "$PGWARD_PORT" -U bench_app -d tenant -f "$BENCH_DIR/count.sql")
	read -r tps lat < <(pgbench_run "$PGWARD_PORT" -f "$BENCH_DIR/count.sql" -c 1 -j 1 -T "$DURATION")
	echo "| $kind | $seen | $lat | $tps |"
done

echo
echo "## New connection per transaction: pgbench -C -S -c $CLIENTS -j $THREADS -T $DURATION"
echo
echo "| target | TPS | mean latency (ms) |"
echo "|---|---|---|"
read -r tps lat < <(pgbench_run "$PG_PORT" -C -S -c "$CLIENTS" -j "$THREADS" -T "$DURATION")
echo "| direct | $tps | $lat |"
for mode in "off 1h" "on 1h" "on 0"; do
	# shellcheck disable=SC2086
	start_pgward $mode
	read -r tps lat < <(pgbench_run "$PGWARD_PORT" -C -S -c "$CLIENTS" -j "$THREADS" -T "$DURATION")
	case "$mode" in
	"off 1h") name="pgward, [tenant] off" ;;
	"on 1h") name="pgward, context injected (cache hit)" ;;
	*) name="pgward, context injected, lookup query per connection (cache_ttl = 0)" ;;
	esac
	echo "| $name | $tps | $lat |"
done
