#!/usr/bin/env bash
# instructions.sh - user-space instructions per transaction of pgward and of PgBouncer
# (session mode), counted by valgrind's callgrind while pgbench runs through each. Unlike
# CPU time, the count does not depend on what else the machine is doing, so a change to the
# relay shows up in one run, without rounds and medians. It leaves out the kernel (the
# sends and receives, the same for both proxies: docs/PERFORMANCE.md) and says nothing
# about latency; bench.sh measures those.
#
#   tests/bench/instructions.sh                  # both protocols, 8000 transactions each
#   MODES=prepared TXNS=500 tests/bench/instructions.sh
#   WORKLOAD=tpcb-like MODES=simple tests/bench/instructions.sh   # writes: UPDATEs, INSERT
#   CONFIG=demo WORKLOAD=tpcb-like tests/bench/instructions.sh      # every policy on
#   POOL_MODE=transaction POOL_SIZE=4 tests/bench/instructions.sh     # both pool per transaction
#
# CONFIG=default runs pgward with nothing but its addresses; CONFIG=demo adds every policy of
# docker/pgward.ini, fitted to pgbench's tables: guard rules = all, column limits on
# pgbench_history.filler and pgbench_accounts.filler, tenant mode for role bench (static map),
# the demo's two job tables (pgbench inserts into neither, so each INSERT is checked, none
# serialized) and the metrics listener. PGWARD_CONF adds lines of your own. POOL_MODE (session
# or transaction) makes both proxies pool in that mode with POOL_SIZE servers (default 200:
# every client has one), pgward authenticating the clients itself (trust, as PgBouncer);
# unset, pgward runs its default (passthrough, a server per client) and PgBouncer session
# pooling.
# Needs a PostgreSQL with pgbench tables in database "bench", user "bench", trust auth, as
# ../shared/bench/pgcluster.sh starts it (PG_PORT, default 5500). Runs as root (the
# proxies and pgbench as user bench). Installs valgrind if missing.
#
#   PG_PORT=5500  PGWARD_PORT=6461  PGB_PORT=6462  MODES="simple prepared"
#   TXNS=500 (per client; 16 clients)  BUILD_DIR=<repo>/build-rel  WORK=/tmp/pgward-instructions
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PG_PORT=${PG_PORT:-5500}
PGWARD_PORT=${PGWARD_PORT:-6461}
PGB_PORT=${PGB_PORT:-6462}
MODES=${MODES:-simple prepared}
WORKLOAD=${WORKLOAD:-select-only} # a pgbench built-in script (-b)
TXNS=${TXNS:-500}
BUILD_DIR=${BUILD_DIR:-$ROOT/build-rel}
BUILD_TYPE=${BUILD_TYPE:-Release} # RelWithDebInfo: no LTO, so callgrind_annotate can name functions
WORK=${WORK:-/tmp/pgward-instructions}
CONFIG=${CONFIG:-default}
PGWARD_CONF=${PGWARD_CONF:-}
METRICS_PORT=${METRICS_PORT:-6463}
PGBENCH=/usr/lib/postgresql/15/bin/pgbench
CLIENTS=16
POOL_MODE=${POOL_MODE:-}
POOL_SIZE=${POOL_SIZE:-200}

log() { printf 'instructions.sh: %s\n' "$*" >&2; }
die() {
	log "$*"
	exit 1
}
as_bench() { runuser -u bench -- "$@"; }

[ "$(id -u)" -eq 0 ] || die "run as root (the proxies run as user bench)"
as_bench "$PGBENCH" -n -S -t 1 -h 127.0.0.1 -p "$PG_PORT" bench >/dev/null 2>&1 ||
	die "no PostgreSQL with pgbench tables on 127.0.0.1:$PG_PORT (../shared/bench/pgcluster.sh start)"
cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE="$BUILD_TYPE" >/dev/null
cmake --build "$BUILD_DIR" -j2 --target pgward >/dev/null

rm -rf "$WORK" && mkdir -p "$WORK" && chown bench "$WORK"
cat >"$WORK/pgward.ini" <<EOF
[pgward]
listen_addr = 127.0.0.1
listen_port = $PGWARD_PORT
server_host = 127.0.0.1
server_port = $PG_PORT
server_tls_sslmode = disable
log_level = warning
EOF
if [ -n "$POOL_MODE" ]; then
	cat >>"$WORK/pgward.ini" <<EOF
auth_type = trust
pool_mode = $POOL_MODE
default_pool_size = $POOL_SIZE
EOF
fi
case $CONFIG in
default) ;;
demo)
	echo 'bench = 6f9619ff-8b86-d011-b42d-00cf4fc964ff, 1b4e28ba-2fa1-11d2-883f-0016d3cca427' \
		>"$WORK/tenants.map"
	cat >>"$WORK/pgward.ini" <<EOF
[limits]
column_limits = pgbench_history.filler: 22 bytes, pgbench_accounts.filler: 84 chars
[guard]
mode = enforce
rules = all
[tenant]
mode = on
identity = login_role
source = map
map_file = $WORK/tenants.map
[job scrape_jobs]
key_columns = domain, job_type
active = status IN ('pending', 'running')
on_conflict = error
[job embedding_queue]
key_columns = page_id
active = status = 'pending'
on_conflict = skip
[metrics]
listen_addr = 127.0.0.1
listen_port = $METRICS_PORT
EOF
	;;
*) die "CONFIG is default or demo, not $CONFIG" ;;
esac
printf '%s\n' "$PGWARD_CONF" >>"$WORK/pgward.ini"
cat >"$WORK/pgbouncer.ini" <<EOF
[databases]
bench = host=127.0.0.1 port=$PG_PORT dbname=bench
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $PGB_PORT
unix_socket_dir = $WORK
auth_type = trust
auth_file = $WORK/userlist.txt
pool_mode = ${POOL_MODE:-session}
default_pool_size = $POOL_SIZE
server_reset_query = DISCARD ALL
logfile = $WORK/pgbouncer.log
EOF
echo '"bench" ""' >"$WORK/userlist.txt"
chown bench "$WORK"/*

# shellcheck source=tests/bench/callgrind.sh
. "$ROOT/tests/bench/callgrind.sh"

# count NAME PORT PID MODE: instructions per transaction over TXNS x CLIENTS transactions
count() {
	local name=$1 port=$2 pid=$3 mode=$4 total
	as_bench "$PGBENCH" -n -b "$WORKLOAD" -M "$mode" -c 4 -j 2 -t 100 -h 127.0.0.1 -p "$port" \
		bench >/dev/null
	callgrind_zero "$pid"
	as_bench "$PGBENCH" -n -b "$WORKLOAD" -M "$mode" -c $CLIENTS -j 2 -t "$TXNS" -h 127.0.0.1 -p "$port" \
		bench >"$WORK/$name-$mode.pgbench" 2>&1
	total=$(callgrind_total "$name" "$pid")
	echo $((total / (TXNS * CLIENTS)))
}

callgrind_start pgward "$PGWARD_PORT" "$BUILD_DIR/pgward" -c "$WORK/pgward.ini"
PW_PID=$STARTED
callgrind_start pgbouncer "$PGB_PORT" /usr/sbin/pgbouncer "$WORK/pgbouncer.ini"
PGB_PID=$STARTED
log "pgward $(git -C "$ROOT" rev-parse --short HEAD) (pid $PW_PID), $(as_bench /usr/sbin/pgbouncer --version | sed -n 1p) (pid $PGB_PID)"

echo "| pgbench -b $WORKLOAD | pgward instructions / tx | PgBouncer instructions / tx | pgward / PgBouncer |"
echo "|---|---|---|---|"
for mode in $MODES; do
	pw=$(count pgward "$PGWARD_PORT" "$PW_PID" "$mode")
	pgb=$(count pgbouncer "$PGB_PORT" "$PGB_PID" "$mode")
	echo "| -M $mode | $pw | $pgb | $(awk -v a="$pw" -v b="$pgb" 'BEGIN { printf "%.2f", a / b }') |"
done
