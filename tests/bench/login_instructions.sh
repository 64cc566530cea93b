#!/usr/bin/env bash
# login_instructions.sh - user-space instructions per login of pgward and of PgBouncer (both
# authenticating the client themselves and pooling their servers, in the same mode), counted
# by valgrind's callgrind while `pgbench -S -C` opens a connection per transaction. What each
# proxy spends on a connection apart from the kernel; bench.sh's S-C measures the rest.
#
#   AUTH=scram ../shared/bench/pgcluster.sh start 5500 && tests/bench/login_instructions.sh
#   AUTH=trust POOL_MODE=transaction tests/bench/login_instructions.sh   # no password
#
# Needs a PostgreSQL with pgbench tables in database "bench"; with AUTH=scram (the default)
# its role "bench" logs in with SCRAM and password $BENCH_PASSWORD over TCP (pgcluster.sh
# with AUTH=scram), with AUTH=trust the proxies ask no password. Runs as root (the proxies
# and pgbench as user bench).
#
#   PG_PORT=5500  PGWARD_PORT=6463  PGB_PORT=6464  CONNS=200 (per client; 4 clients)
#   POOL_MODE=session  POOL_SIZE=200 (20 in transaction mode)
#   BENCH_PASSWORD=bench  BUILD_DIR=<repo>/build-rel  WORK=/tmp/pgward-login-instructions
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PG_PORT=${PG_PORT:-5500}
PGWARD_PORT=${PGWARD_PORT:-6463}
PGB_PORT=${PGB_PORT:-6464}
CONNS=${CONNS:-200}
BENCH_PASSWORD=${BENCH_PASSWORD:-bench}
BUILD_DIR=${BUILD_DIR:-$ROOT/build-rel}
WORK=${WORK:-/tmp/pgward-login-instructions}
PGBIN=/usr/lib/postgresql/15/bin
CLIENTS=4
AUTH=${AUTH:-scram}
POOL_MODE=${POOL_MODE:-session}
if [ "$POOL_MODE" = transaction ]; then POOL_SIZE=${POOL_SIZE:-20}; else POOL_SIZE=${POOL_SIZE:-200}; fi

log() { printf 'login_instructions.sh: %s\n' "$*" >&2; }
die() {
	log "$*"
	exit 1
}
as_bench() { runuser -u bench -- env PGPASSWORD="$BENCH_PASSWORD" "$@"; }

[ "$(id -u)" -eq 0 ] || die "run as root (the proxies run as user bench)"
secret=$(as_bench "$PGBIN/psql" -h 127.0.0.1 -p "$PG_PORT" -d bench -Atc \
	"SELECT rolpassword FROM pg_authid WHERE rolname = 'bench'" 2>/dev/null) ||
	die "no PostgreSQL with pgbench tables on 127.0.0.1:$PG_PORT (../shared/bench/pgcluster.sh start)"
case $AUTH in
scram)
	case $secret in SCRAM-SHA-256\$*) ;; *) die "role bench has no SCRAM secret (AUTH=scram)" ;; esac
	proxy_auth=scram-sha-256
	;;
trust) proxy_auth=trust ;;
*) die "AUTH is scram or trust" ;;
esac
cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD_DIR" -j2 --target pgward >/dev/null

rm -rf "$WORK" && mkdir -p "$WORK"
printf '"bench" "%s"\n' "$secret" >"$WORK/userlist.txt"
cat >"$WORK/pgward.ini" <<CONF
[pgward]
listen_addr = 127.0.0.1
listen_port = $PGWARD_PORT
server_host = 127.0.0.1
server_port = $PG_PORT
server_tls_sslmode = disable
auth_type = $proxy_auth
auth_file = $WORK/userlist.txt
pool_mode = $POOL_MODE
default_pool_size = $POOL_SIZE
server_idle_timeout = 600
log_level = warning
CONF
cat >"$WORK/pgbouncer.ini" <<CONF
[databases]
bench = host=127.0.0.1 port=$PG_PORT dbname=bench
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $PGB_PORT
unix_socket_dir = $WORK
auth_type = $proxy_auth
auth_file = $WORK/userlist.txt
pool_mode = $POOL_MODE
default_pool_size = $POOL_SIZE
server_idle_timeout = 600
server_reset_query = DISCARD ALL
logfile = $WORK/pgbouncer.log
log_connections = 0
log_disconnections = 0
CONF
chown -R bench "$WORK"

# shellcheck source=tests/bench/callgrind.sh
. "$ROOT/tests/bench/callgrind.sh"

# count NAME PORT CMD...: instructions per login over CONNS x CLIENTS connections, after a
# warm-up that fills the pool (every later client gets a server without a server login)
count() {
	local name=$1 port=$2 pid total
	shift 2
	callgrind_start "$name" "$port" "$@"
	pid=$STARTED
	as_bench "$PGBIN/pgbench" -n -S -C -c $CLIENTS -j 2 -t 50 -h 127.0.0.1 -p "$port" bench >/dev/null
	callgrind_zero "$pid"
	as_bench "$PGBIN/pgbench" -n -S -C -c $CLIENTS -j 2 -t "$CONNS" -h 127.0.0.1 -p "$port" \
		bench >"$WORK/$name.pgbench" 2>&1
	total=$(callgrind_total "$name" "$pid")
	kill "$pid"
	echo $((total / (CONNS * CLIENTS)))
}

pw=$(count pgward "$PGWARD_PORT" "$BUILD_DIR/pgward" -c "$WORK/pgward.ini")
pgb=$(count pgbouncer "$PGB_PORT" /usr/sbin/pgbouncer "$WORK/pgbouncer.ini")
log "pgward $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'), $(/usr/sbin/pgbouncer --version | sed -n 1p)"
echo "| pgbench -S -C, $AUTH, pool_mode = $POOL_MODE | pgward instructions / login | PgBouncer instructions / login | pgward / PgBouncer |"
echo "|---|---|---|---|"
echo "| $((CONNS * CLIENTS)) logins | $pw | $pgb | $(awk -v a="$pw" -v b="$pgb" 'BEGIN { printf "%.2f", a / b }') |"
