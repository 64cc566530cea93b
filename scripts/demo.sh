#!/usr/bin/env bash
# demo.sh - try pgward in one command: installs what is missing, builds build/pgward,
# starts a throwaway PostgreSQL 15 on 127.0.0.1:5433 (.run/pg) and pgward in front of it
# on 127.0.0.1:6432, then prints how to connect.
#
#   scripts/demo.sh          start (or restart pgward with the current build)
#   scripts/demo.sh stop     stop pgward and the throwaway PostgreSQL
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$PGWARD_ROOT"

RUN=$PGWARD_ROOT/.run
PG_PORT=${PG_PORT:-5433}
PGWARD_PORT=${PGWARD_PORT:-6432}
PIDFILE=$RUN/pgward.pid
LOGFILE=$RUN/pgward.log
CONF=$RUN/pgward.ini

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

start() {
	install_deps
	build Release build
	mkdir -p "$RUN"
	pg_start "$RUN/pg" "$PG_PORT"

	stop_pgward
	cat >"$CONF" <<INI
; written by scripts/demo.sh
[pgward]
listen_addr = 127.0.0.1
listen_port = $PGWARD_PORT
server_host = 127.0.0.1
server_port = $PG_PORT
server_tls_sslmode = disable
log_level = info
INI
	if port_listening "$PGWARD_PORT"; then
		die "port $PGWARD_PORT is already in use by another program (ss -ltnp 'sport = :$PGWARD_PORT')"
	fi
	setsid nohup "$PGWARD_ROOT/build/pgward" -c "$CONF" >>"$LOGFILE" 2>&1 </dev/null &
	echo $! >"$PIDFILE"
	if ! wait_port "$PGWARD_PORT" 10; then
		log "pgward did not start listening on $PGWARD_PORT; last lines of $LOGFILE:"
		tail -n 20 "$LOGFILE" >&2 || true
		stop_pgward
		exit 1
	fi
	cat <<MSG

pgward is running (pid $(cat "$PIDFILE"), log $LOGFILE) in front of PostgreSQL 15 on port $PG_PORT.
Connect through pgward with:

    psql "host=127.0.0.1 port=$PGWARD_PORT user=postgres dbname=postgres"

Stop both with: scripts/demo.sh stop
MSG
}

case "${1:-start}" in
start) start ;;
stop)
	stop_pgward
	pg_stop "$RUN/pg"
	;;
*)
	sed -n '2,8p' "$0"
	exit 2
	;;
esac
