#!/usr/bin/env bash
# idle_clients.sh - what N idle client connections cost pgward in memory, next to PgBouncer:
# each pooler in session mode with the same small pool, N clients log in (idle_clients.py)
# and stay idle; the pooler's VmRSS (/proc/PID/status) before and after gives bytes per
# client. Figures, not pass/fail; not part of CI.
#
# Usage: tests/bench/idle_clients.sh                        10,000 clients, each to ReadyForQuery
#        N=200 POOL_SIZE=200 tests/bench/idle_clients.sh    every client gets a server
#        UNTIL=sent tests/bench/idle_clients.sh             a client counts once its startup
#                                                           message is sent
#
# Environment: N=10000 clients; POOL_SIZE=20 (default_pool_size of both; PostgreSQL gets
#   max_connections = POOL_SIZE + 50); UNTIL=ready|authok|sent (idle_clients.py's --until);
#   TARGETS="pgward pgbouncer"; PARALLEL=100 logins under way at once; SETTLE=3 seconds
#   between the last login and the reading; TIMEOUT=300 seconds for all logins;
#   PG_PORT=5560 (then +1 pgward, +2 PgBouncer); DIR=/tmp/pgward-idle-bench;
#   PGWARD_BIN=<repo>/build-rel/pgward (Release); PGBOUNCER_BIN=/usr/sbin/pgbouncer.
# Both authenticate the clients themselves (auth_type = trust; PgBouncer's user in its
# auth_file) and send each client's first ReadyForQuery without a query of the client's:
# both log a client in without a server and give it one at its first query (pgward once it
# has served a client of the same database, user and settings: the warm-up login).
# Needs an open-files limit above N (ulimit -n, raised here up to the hard limit).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=../../scripts/lib.sh
. "$ROOT/scripts/lib.sh"
N=${N:-10000}
POOL_SIZE=${POOL_SIZE:-20}
UNTIL=${UNTIL:-ready}
TARGETS=${TARGETS:-"pgward pgbouncer"}
PARALLEL=${PARALLEL:-100}
SETTLE=${SETTLE:-3}
TIMEOUT=${TIMEOUT:-300}
PG_PORT=${PG_PORT:-5560}
PGW_PORT=$((PG_PORT + 1)) PGB_PORT=$((PG_PORT + 2))
DIR=${DIR:-/tmp/pgward-idle-bench}
PGWARD_BIN=${PGWARD_BIN:-$ROOT/build-rel/pgward}
PGBOUNCER_BIN=${PGBOUNCER_BIN:-/usr/sbin/pgbouncer}
HELPER=$ROOT/tests/bench/idle_clients.py
PIDS=()

cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	[ ! -f "$DIR/pgbouncer.pid" ] || kill "$(cat "$DIR/pgbouncer.pid")" 2>/dev/null || true
	pg_stop "$DIR/pg" || true
}
trap cleanup EXIT

case "$UNTIL" in ready | authok | sent) ;; *) die "UNTIL is ready, authok or sent" ;; esac
for p in "$PG_PORT" "$PGW_PORT" "$PGB_PORT"; do
	! port_listening "$p" || die "port $p is in use; set PG_PORT"
done
[ -x "$PGWARD_BIN" ] || die "no pgward at $PGWARD_BIN (build Release, or set PGWARD_BIN)"
want_fds=$((N + POOL_SIZE + 200))
[ "$(ulimit -n)" -ge "$want_fds" ] || ulimit -n "$(ulimit -Hn)"
[ "$(ulimit -n)" -ge "$want_fds" ] || die "open files limit $(ulimit -n) is below $want_fds (N=$N)"
mkdir -p "$DIR"
chmod 755 "$DIR"

pg_start "$DIR/pg" "$PG_PORT"
psql_pg() { "$PGBIN/psql" -X -q -At -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres "$@"; }
if [ "$(psql_pg -c 'SHOW max_connections')" -lt $((POOL_SIZE + 50)) ]; then
	psql_pg -c "ALTER SYSTEM SET max_connections = $((POOL_SIZE + 50))"
	pg_as_owner "$PGBIN/pg_ctl" -D "$DIR/pg/data" -m fast -w -t 60 restart -l "$DIR/pg/postgres.log" >/dev/null
fi

# VmRSS of PID in bytes.
rss() { awk '$1 == "VmRSS:" { print $2 * 1024 }' "/proc/$1/status"; }

start_pgward() {
	cat >"$DIR/pgward.ini" <<-EOF
		[pgward]
		listen_port = $PGW_PORT
		server_port = $PG_PORT
		server_tls_sslmode = disable
		auth_type = trust
		pool_mode = session
		default_pool_size = $POOL_SIZE
		max_client_conn = $((N + 100))
		query_wait_timeout = 0
		log_level = warning
	EOF
	setsid "$PGWARD_BIN" -c "$DIR/pgward.ini" >"$DIR/pgward.log" 2>&1 </dev/null &
	PIDS+=($!)
	PID=$!
	wait_port "$PGW_PORT" 10 || die "pgward did not start: $DIR/pgward.log"
}

start_pgbouncer() {
	printf '"postgres" ""\n' >"$DIR/userlist.txt"
	cat >"$DIR/pgbouncer.ini" <<-EOF
		[databases]
		postgres = host=127.0.0.1 port=$PG_PORT dbname=postgres

		[pgbouncer]
		listen_addr = 127.0.0.1
		listen_port = $PGB_PORT
		unix_socket_dir =
		auth_type = trust
		auth_file = $DIR/userlist.txt
		pool_mode = session
		default_pool_size = $POOL_SIZE
		max_client_conn = $((N + 100))
		query_wait_timeout = 0
		pidfile = $DIR/pgbouncer.pid
		logfile = $DIR/pgbouncer.log
		log_connections = 0
		log_disconnections = 0
	EOF
	rm -f "$DIR/pgbouncer.pid"
	# PgBouncer will not run as root; -d: it daemonizes and writes its pid file. setpriv,
	# not runuser: runuser's PAM session would reset the open-files limit to 1024.
	local as=()
	if [ "$(id -u)" -eq 0 ]; then
		chown "$PGWARD_PG_USER": "$DIR/pgbouncer.ini" "$DIR/userlist.txt" "$DIR"
		as=(setpriv --reuid="$PGWARD_PG_USER" --regid="$PGWARD_PG_USER" --init-groups --)
	fi
	"${as[@]}" "$PGBOUNCER_BIN" -d "$DIR/pgbouncer.ini"
	wait_port "$PGB_PORT" 10 || die "PgBouncer did not start: $DIR/pgbouncer.log"
	PID=$(cat "$DIR/pgbouncer.pid")
}

# measure NAME PORT: one warm-up login (the pool's first server, the pooler's lazy
# allocations), the reading before, N idle clients, the reading after.
measure() {
	local name=$1 port=$2 before after line fds
	fds=$(awk '/^Max open files/ { print $4 }' "/proc/$PID/limits")
	[ "$fds" -ge "$want_fds" ] || die "$name may open only $fds files"
	/usr/bin/python3 "$HELPER" -n 1 --port "$port" --until ready --timeout 10 >"$DIR/$name-warmup.out" &
	local warm=$!
	wait_done "$DIR/$name-warmup.out" 10 || die "$name: the warm-up login failed"
	kill "$warm"
	wait "$warm" 2>/dev/null || true
	sleep 1
	before=$(rss "$PID")
	/usr/bin/python3 "$HELPER" -n "$N" --port "$port" --until "$UNTIL" --parallel "$PARALLEL" \
		--timeout "$TIMEOUT" >"$DIR/$name.out" 2>"$DIR/$name.err" &
	local helper=$!
	PIDS+=("$helper")
	wait_done "$DIR/$name.out" $((TIMEOUT + 30)) || die "$name: idle_clients.py did not finish"
	sleep "$SETTLE"
	after=$(rss "$PID")
	# the latest counts: a connection lost after the logins no longer counts; the figure is
	# per open connection, which is per connected client when every login got through
	line=$(tail -n 1 "$DIR/$name.out")
	awk -v n="$name" -v b="$before" -v a="$after" -v all="$N" -v l="$line" \
		-v secs="$(sed -n 's/^done .*elapsed=//p' "$DIR/$name.out")" 'BEGIN {
		nf = split(l, f, /[ =]/)
		for (i = 2; i < nf; i += 2) v[f[i]] = f[i + 1]
		printf "%-9s VmRSS %.1f MiB -> %.1f MiB, %d of %d clients connected, %d open, %d lost " \
			"(logins took %s s): ", n, b / 1048576, a / 1048576, v["connected"], all, v["open"],
			v["lost"], secs
		if (v["open"] > 0) printf "%.0f bytes per open connection\n", (a - b) / v["open"]
		else print "no connection open"
	}'
	kill "$helper"
	wait "$helper" 2>/dev/null || true
	sed -n '1,3p' "$DIR/$name.err"
}

# wait_done FILE SECONDS: until the helper prints its "done" line.
wait_done() {
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		grep -q '^done ' "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

echo "N=$N clients until $UNTIL, default_pool_size=$POOL_SIZE, session mode, $(nproc) cpus," \
	"$("$PGBOUNCER_BIN" --version | head -n 1), pgward $PGWARD_BIN"
for t in $TARGETS; do
	case "$t" in
	pgward)
		start_pgward
		measure pgward "$PGW_PORT"
		kill -INT "$PID"
		wait "$PID" 2>/dev/null || true
		;;
	pgbouncer)
		start_pgbouncer
		measure pgbouncer "$PGB_PORT"
		kill -TERM "$PID"
		rm -f "$DIR/pgbouncer.pid"
		;;
	*) die "unknown target $t" ;;
	esac
done
