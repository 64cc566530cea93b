#!/usr/bin/env bash
# demo.sh - try pgward in one command: installs what is missing, builds build/pgward,
# starts a throwaway PostgreSQL 15 (.run/pg) holding the example multi-tenant schema of
# conf/tenant/ in database "app", and pgward in front of it with every policy of
# docker/pgward.ini on; then prints a short tour of copy-paste commands.
#
#   scripts/demo.sh          start (the database "app" is created afresh each time; pgward
#                            is restarted with the current build)
#   scripts/demo.sh tour     print the tour again
#   scripts/demo.sh stop     stop pgward and the throwaway PostgreSQL
#
# Environment: PG_PORT (5433), PGWARD_PORT (6432), METRICS_PORT (6490), DEMO_RUN (the
# state directory, .run), PGWARD_BIN (a pgward binary to run instead of building one).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$PGWARD_ROOT"

RUN=${DEMO_RUN:-$PGWARD_ROOT/.run}
PG_PORT=${PG_PORT:-5433}
PGWARD_PORT=${PGWARD_PORT:-6432}
METRICS_PORT=${METRICS_PORT:-6490}
PIDFILE=$RUN/pgward.pid
LOGFILE=$RUN/pgward.log
CONF=$RUN/pgward.ini
# conf/tenant/ in load order: signing.sql first (pgward.org_ids(), which every policy of
# schema.sql reads), demo.sql last (the demo's roles and its signing secret, the same as
# docker/pgward.ini's). docker/compose.yml loads the same files in the same order.
TENANT_SQL=(signing.sql schema.sql notify.sql seed.sql demo.sql)

pgward_pid() {
	local pid
	[ -f "$PIDFILE" ] || return 1
	pid=$(cat "$PIDFILE")
	[ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q pgward ||
		return 1
	echo "$pid"
}

stop_pgward() {
	local pid i
	if pid=$(pgward_pid); then
		kill -INT "$pid" 2>/dev/null || true
		for ((i = 0; i < 50; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			log "pgward (pid $pid) ignored SIGINT; killing it"
			kill -KILL "$pid" 2>/dev/null || true
		fi
		log "pgward (pid $pid) stopped"
	fi
	rm -f "$PIDFILE"
}

# The database "app", made afresh so the tour always starts from seed.sql's rows.
load_database() {
	local server="host=127.0.0.1 port=$PG_PORT user=postgres" args=() f
	for f in "${TENANT_SQL[@]}"; do args+=(-f "conf/tenant/$f"); done
	export PGOPTIONS='--client-min-messages=warning'
	psql -X -q -v ON_ERROR_STOP=1 "$server dbname=postgres" \
		-c 'DROP DATABASE IF EXISTS app WITH (FORCE)' -c 'CREATE DATABASE app'
	psql -X -q -v ON_ERROR_STOP=1 "$server dbname=app" "${args[@]}" >/dev/null
	unset PGOPTIONS
	log "database app loaded from conf/tenant/: ${TENANT_SQL[*]}"
}

# Every policy reads pgward.org_ids(), which shows rows only when PostgreSQL holds the secret
# pgward signs with: demo.sql stores it, docker/pgward.ini configures pgward with it.
check_secret() {
	local want got
	want=$(awk -F' *= *' '/^\[/ { s = $0 } s == "[tenant]" && $1 == "signing_secret" { print $2 }' "$CONF")
	got=$(psql -X -At "host=127.0.0.1 port=$PG_PORT user=postgres dbname=app" \
		-c 'SELECT secret FROM pgward.secret')
	if [ -z "$want" ] || [ "$want" != "$got" ]; then
		die "[tenant] signing_secret of docker/pgward.ini is not the secret conf/tenant/demo.sql" \
			"stores in pgward.secret: every table would show no rows"
	fi
}

write_config() {
	ini_override docker/pgward.ini "$CONF" \
		pgward.listen_addr=127.0.0.1 "pgward.listen_port=$PGWARD_PORT" \
		pgward.server_host=127.0.0.1 "pgward.server_port=$PG_PORT" \
		metrics.listen_addr=127.0.0.1 "metrics.listen_port=$METRICS_PORT" \
		"tenant.map_file=$PGWARD_ROOT/conf/tenant/demo.map"
	sed -i "1i ; written by scripts/demo.sh from docker/pgward.ini, local addresses" "$CONF"
}

start() {
	local bin=${PGWARD_BIN:-}
	install_deps
	if [ -z "$bin" ]; then
		build Release build
		bin=$PGWARD_ROOT/build/pgward
	fi
	mkdir -p "$RUN"
	pg_start "$RUN/pg" "$PG_PORT"
	stop_pgward
	load_database
	write_config
	check_secret
	local port
	for port in "$PGWARD_PORT" "$METRICS_PORT"; do
		if port_listening "$port"; then
			die "port $port is already in use by another program (ss -ltnp 'sport = :$port')"
		fi
	done
	setsid nohup "$bin" -c "$CONF" >>"$LOGFILE" 2>&1 </dev/null &
	echo $! >"$PIDFILE"
	if ! wait_port "$PGWARD_PORT" 10; then
		log "pgward did not start listening on $PGWARD_PORT; last lines of $LOGFILE:"
		tail -n 20 "$LOGFILE" >&2 || true
		stop_pgward
		exit 1
	fi
	cat <<MSG

pgward is running (pid $(cat "$PIDFILE"), log $LOGFILE, configuration $CONF)
in front of PostgreSQL 15 on port $PG_PORT, with every policy on. Database "app" holds the
example schema of conf/tenant/ with two organizations: Acme (user alice) and Globex (user bob).
MSG
	tour
}

# Every command is one line indented by four spaces: tests/integration/test_demo.py runs
# exactly these lines and checks what each step says it shows, and that README.md has them.
tour() {
	local alice="postgresql://alice:alice@127.0.0.1:$PGWARD_PORT/app"
	local bob="postgresql://bob:bob@127.0.0.1:$PGWARD_PORT/app"
	local acme="{11111111-1111-4111-8111-111111111111}"
	local globex="{22222222-2222-4222-8222-222222222222}"
	cat <<TOUR

Tour (copy and paste):

1. Alice sees only Acme's rows: pgward set her organizations before her first query.
    psql $alice -c "SELECT current_setting('app.user_org_ids')" -c 'SELECT name FROM organizations' -c 'SELECT content FROM messages'
   Straight to PostgreSQL, even with Acme's ids set by hand, the same role sees nothing: every
   policy reads pgward.org_ids(), which counts the ids only with pgward's signature:
    psql postgresql://alice:alice@127.0.0.1:$PG_PORT/app -c "SELECT set_config('app.user_org_ids', '$acme', false)" -c 'SELECT count(*) FROM messages'

2. DROP TABLE is refused (42501, guard rule drop_table):
    psql -v VERBOSITY=verbose $alice -c 'DROP TABLE messages'

3. Nobody may change the tenant context, by SET or set_config() (42501, rule tenant_context):
    psql -v VERBOSITY=verbose $alice -c "SET app.user_org_ids = '$globex'" -c "SELECT set_config('app.user_org_ids', '$globex', false)"

4. Globex already has a pending full_crawl job (seed.sql); a second one is refused (23505):
    psql -v VERBOSITY=verbose $bob -c "INSERT INTO scrape_jobs (domain, job_type) VALUES ('globex.example', 'full_crawl')"

5. A query over [limits] max_query_size (32MB here) is refused (54000):
    printf "SELECT '%033554432d';" 0 | psql -v VERBOSITY=verbose $alice

6. Per-tenant latency histograms for Prometheus, and the health check:
    curl -s http://127.0.0.1:$METRICS_PORT/metrics | grep 'pgward_query_duration_seconds_count{tenant="alice"'
    curl -s http://127.0.0.1:$METRICS_PORT/healthz

7. The admin console (keep a psql open elsewhere to see it listed):
    psql postgresql://postgres:postgres@127.0.0.1:$PGWARD_PORT/pgward -c 'SHOW SESSIONS' -c 'SHOW TENANTS'

Stop everything with: scripts/demo.sh stop
TOUR
}

case "${1:-start}" in
start) start ;;
tour) tour ;;
stop)
	stop_pgward
	pg_stop "$RUN/pg"
	;;
*)
	sed -n '2,14p' "$0"
	exit 2
	;;
esac
