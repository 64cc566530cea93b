#!/usr/bin/env bash
# bench.sh - pgbench side by side: direct PostgreSQL, PgBouncer (session mode) and pgward,
# interleaved in one run so that the noise of a shared machine hits every target alike.
#
# Usage: tests/bench/bench.sh            (as root or as an ordinary user)
#
# One command: builds pgward (Release, incremental), starts a throwaway PostgreSQL 15,
# PgBouncer in session mode and pgward on loopback, runs every workload on every target
# (A B C, then B C A, ...: the order rotates by one each round), prints a table and stops
# everything it started (trap), including on Ctrl-C. It never touches anything it did not
# start: it refuses to run if one of its ports is already taken.
#
# Workloads (pgbench -n -c $CLIENTS -j $THREADS -T $DURATION, database "bench", scale $SCALE):
#   S          -S -M simple      select-only, simple protocol
#   S-prep     -S -M prepared    select-only, extended protocol with prepared statements
#   tpcb       -M simple         TPC-B-like read/write
#   tpcb-prep  -M prepared       TPC-B-like, prepared statements
#   S-C        -S -M simple -C   select-only with a new connection per transaction (what
#                                pooling is for: with PGB_POOL=warm and, for pgward,
#                                PGWARD_CONF="auth_type = trust", both pool their servers)
#   (before each tpcb run pgbench_history is truncated and branches/tellers vacuumed,
#    directly on the server, not through the target)
#
# Output: a markdown table on stdout (median TPS over rounds, mean latency, ratio to direct,
# ratio pgward/PgBouncer, CPU-seconds of the proxy process per 10k transactions from
# /proc/PID/stat utime+stime sampled before and after each run, machine-wide minor page
# faults per transaction from /proc/vmstat), and in $OUT: results.csv (one row per run),
# summary.md, meta.txt, logs/ (pgbench output, server/proxy logs).
#
# Server backends: direct and pgward give every pgbench client a new PostgreSQL backend;
# PgBouncer keeps its server connections between runs, and a backend that has run before
# has already mapped the shared buffers it touched (about 0.04 minor faults per select-only
# transaction against 0.7 for a new one, which on this VM made PgBouncer's -S runs 1.5-1.8x faster).
# So that every target starts from the same server state, PGB_POOL=fresh (the default)
# closes PgBouncer's server connections (admin console KILL + RESUME) after the warm-up and
# before each measured run; PGB_POOL=warm keeps them, which measures pooling, not relaying.
#
# Environment (all optional):
#   ROUNDS=3            rounds; each round runs every workload on every target
#   DURATION=20         seconds per measured pgbench run
#   WARMUP=3            seconds of unmeasured warm-up before each measured run (0 = none)
#   CLIENTS=16          pgbench -c
#   THREADS=2           pgbench -j
#   WORKLOADS="S S-prep tpcb tpcb-prep"   subset/order of the workloads above
#   TARGETS="direct pgbouncer pgward"     subset/order of the targets
#   SCALE=10            pgbench -i scale factor
#   PG_PORT=5510  PGB_PORT=5511  PGWARD_PORT=5512   loopback ports (must be free)
#   PGWARD_CONF=        extra lines for the "pgward" target's pgward.ini (e.g. a [guard] section)
#   PGWARD_OFF_PORT=5513  target "pgward-off": a second pgward, same binary, [guard] rules = none
#   RATIO=pgward:pgbouncer  the two targets whose per-round TPS ratio the table shows
#   PGB_POOL=fresh      fresh: PgBouncer's server connections are closed before each measured
#                       run (new backends, as for direct and pgward); warm: kept (see above)
#   BENCH_DIR=/tmp/pgward-bench    runtime state (cluster, configs, pid files, results)
#   OUT=$BENCH_DIR/results/<timestamp>
#   BUILD_DIR=<repo>/build-rel     pgward Release build directory
#   PGWARD_CMAKE_ARGS=  extra cmake configure arguments, e.g.
#                       "-DCMAKE_C_FLAGS=-Wno-error=maybe-uninitialized" (cached in BUILD_DIR)
#   PGWARD_BIN=...      use this pgward binary instead of building one
#   PGBIN=/usr/lib/postgresql/15/bin   PostgreSQL 15 binaries (initdb, pg_ctl, pgbench, psql)
#   PGBOUNCER_BIN=/usr/sbin/pgbouncer
#   BENCH_USER=bench    unprivileged OS user that runs PostgreSQL and PgBouncer when this
#                       script runs as root (both refuse root); created if missing. As an
#                       ordinary user everything runs as that user.
#   SHARED_BENCH=auto   auto: as root, use <repo>/../shared/bench/{pgcluster,poolers}.sh when
#                       they exist; 0: always use the built-in setup (same settings)
#   KEEP_DATA=0         1: keep the cluster's data directory (and reuse it next time)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-20}
WARMUP=${WARMUP:-3}
CLIENTS=${CLIENTS:-16}
THREADS=${THREADS:-2}
WORKLOADS=${WORKLOADS:-"S S-prep tpcb tpcb-prep"}
TARGETS=${TARGETS:-"direct pgbouncer pgward"}
SCALE=${SCALE:-10}
PG_PORT=${PG_PORT:-5510}
PGB_PORT=${PGB_PORT:-5511}
PGWARD_PORT=${PGWARD_PORT:-5512}
PGWARD_OFF_PORT=${PGWARD_OFF_PORT:-5513}
PGWARD_CONF=${PGWARD_CONF:-}
RATIO=${RATIO:-pgward:pgbouncer}
PGB_POOL=${PGB_POOL:-fresh}
PGW_PIDS=()
BENCH_DIR=${BENCH_DIR:-/tmp/pgward-bench}
OUT=${OUT:-$BENCH_DIR/results/$(date +%Y%m%d-%H%M%S)}
BUILD_DIR=${BUILD_DIR:-$ROOT/build-rel}
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
PGBOUNCER_BIN=${PGBOUNCER_BIN:-/usr/sbin/pgbouncer}
if [ "$(id -u)" -eq 0 ]; then BENCH_USER=${BENCH_USER:-bench}; else BENCH_USER=$(id -un); fi
SHARED_BENCH=${SHARED_BENCH:-auto}
KEEP_DATA=${KEEP_DATA:-0}
PGBENCH=$PGBIN/pgbench
PGWARD_GIVEN=${PGWARD_BIN:-}
HZ=$(getconf CLK_TCK)

log() { printf 'bench.sh: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

SHARED=""
# The shared scripts run the servers through runuser, so they need root.
if [ "$SHARED_BENCH" != 0 ] && [ "$(id -u)" -eq 0 ] && [ -x "$ROOT/../shared/bench/pgcluster.sh" ] &&
	[ -x "$ROOT/../shared/bench/poolers.sh" ]; then
	SHARED=$(cd "$ROOT/../shared/bench" && pwd)
fi
# Both the shared scripts and the built-in setup keep the cluster in $BENCH_DIR/pg-$PG_PORT.
CDIR=$BENCH_DIR/pg-$PG_PORT
PGSOCK=$CDIR/sock
PGB_DIR=$BENCH_DIR/run/pgb-session
PGW_DIR=$BENCH_DIR/run/pgward
export BENCH_DIR BENCH_USER PGBIN SCALE PG_PORT PGBOUNCER_BIN
export PGB_SESSION_PORT=$PGB_PORT PG_HOST=127.0.0.1

# ---------- helpers ----------

is_root() { [ "$(id -u)" -eq 0 ]; }
as_owner() { if is_root; then runuser -u "$BENCH_USER" -- "$@"; else "$@"; fi; }
pg_direct() { as_owner "$PGBIN/psql" -X -q -A -t -h "$PGSOCK" -p "$PG_PORT" -U bench -d bench "$@"; }

port_busy() { ss -Hltn "sport = :$1" | grep -q LISTEN; }

# Waits until PID itself listens on PORT: a port taken by someone else in the meantime
# must not be mistaken for our server. Fails if PID exits.
wait_listener() { # port pid seconds
	local i
	for ((i = 0; i < $3 * 10; i++)); do
		kill -0 "$2" 2>/dev/null || return 1
		ss -Hltnp "sport = :$1" 2>/dev/null | grep -q "pid=$2," && return 0
		sleep 0.1
	done
	return 1
}

# utime+stime of one process, in clock ticks (comm may contain blanks: cut at the last ')').
proc_ticks() {
	local s
	[ -n "$1" ] && s=$(cat "/proc/$1/stat" 2>/dev/null) || {
		echo 0
		return
	}
	s=${s##*) }
	set -- $s
	echo $((${12} + ${13}))
}
# Machine-wide busy ticks: user+nice+system+irq+softirq+steal.
busy_ticks() { awk 'NR == 1 { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }
# Machine-wide page faults so far (nearly all of them minor faults of the server backends).
page_faults() { awk '$1 == "pgfault" { print $2 }' /proc/vmstat; }

# Waits (up to 10 s) until the postmaster has no more children than when idle: backends of
# the warm-up run still exiting (unmapping shared memory: page faults and CPU) must not load
# the measured run. A backend leaves pg_stat_activity before that work, hence the process count.
pg_children() { pgrep -c -P "$PG_PID" || true; }
wait_backends_gone() {
	local i n limit=$PG_IDLE_CHILDREN
	# PGB_POOL=warm: PgBouncer keeps up to one backend per client of its last run.
	if [ "$PGB_POOL" = warm ] && has_target pgbouncer; then limit=$((limit + CLIENTS)); fi
	for ((i = 0; i < 100; i++)); do
		n=$(pg_children)
		[ "$n" -le "$limit" ] && return 0
		sleep 0.1
	done
	log "warning: postgres still has $n child processes after 10 s (expected at most $limit)"
}

# PGB_POOL=fresh: PgBouncer drops its server connections, so the next run gets new backends.
pgb_drop_servers() {
	as_owner "$PGBIN/psql" -X -q -h 127.0.0.1 -p "$PGB_PORT" -U bench -d pgbouncer \
		-c 'KILL bench' -c 'RESUME bench' >/dev/null ||
		die "cannot reset PgBouncer's pool through its admin console (admin_users = bench)"
}

# ---------- setup: build ----------

build_pgward() {
	if [ -n "${PGWARD_BIN:-}" ]; then
		[ -x "$PGWARD_BIN" ] || die "PGWARD_BIN=$PGWARD_BIN is not executable"
		return
	fi
	log "building pgward (Release) in $BUILD_DIR"
	# shellcheck disable=SC2086 # PGWARD_CMAKE_ARGS is a list of words
	cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release ${PGWARD_CMAKE_ARGS:-} >/dev/null
	cmake --build "$BUILD_DIR" --parallel "$(nproc)" >"$OUT/logs/build.log" 2>&1 || {
		tail -20 "$OUT/logs/build.log" >&2
		die "build failed (log: $OUT/logs/build.log; PGWARD_CMAKE_ARGS or PGWARD_BIN may help)"
	}
	PGWARD_BIN=$BUILD_DIR/pgward
}

# ---------- setup: PostgreSQL (built-in fallback mirrors ../shared/bench/pgcluster.sh) ----------

ensure_user() {
	is_root || return 0
	id "$BENCH_USER" >/dev/null 2>&1 ||
		useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$BENCH_USER"
}

own_pg_start() {
	ensure_user
	mkdir -p "$BENCH_DIR" "$CDIR/sock"
	chmod 755 "$BENCH_DIR"
	is_root && chown -R "$BENCH_USER": "$CDIR"
	chmod 700 "$CDIR"
	local fresh=0
	if [ ! -f "$CDIR/data/PG_VERSION" ]; then
		as_owner "$PGBIN/initdb" -D "$CDIR/data" -U bench -E UTF8 --locale=C \
			--auth-local=trust --auth-host=trust >"$CDIR/initdb.log" 2>&1 ||
			die "initdb failed: $CDIR/initdb.log"
		cat >>"$CDIR/data/postgresql.conf" <<-EOF

			# ---- benchmark settings (tests/bench/bench.sh) ----
			listen_addresses = '127.0.0.1'
			port = $PG_PORT
			unix_socket_directories = '$PGSOCK'
			max_connections = 300
			shared_buffers = 256MB
			fsync = off
			synchronous_commit = off
			full_page_writes = off
			wal_level = minimal
			max_wal_senders = 0
			max_wal_size = 4GB
			checkpoint_timeout = 30min
			logging_collector = off
			log_min_messages = warning
		EOF
		printf 'local all all trust\nhost all all 127.0.0.1/32 trust\n' >"$CDIR/data/pg_hba.conf"
		fresh=1
	fi
	as_owner "$PGBIN/pg_ctl" -D "$CDIR/data" -l "$CDIR/postgres.log" -w -t 60 start >/dev/null ||
		die "PostgreSQL did not start: $CDIR/postgres.log"
	if [ "$fresh" = 1 ]; then
		as_owner "$PGBIN/psql" -X -q -h "$PGSOCK" -p "$PG_PORT" -U bench -d postgres -c 'CREATE DATABASE bench'
		as_owner "$PGBENCH" -h "$PGSOCK" -p "$PG_PORT" -U bench -i -s "$SCALE" -q bench \
			>"$CDIR/pgbench-init.log" 2>&1 || die "pgbench -i failed: $CDIR/pgbench-init.log"
		pg_direct -c 'VACUUM ANALYZE' -c 'CHECKPOINT'
	fi
}

pg_start() {
	PG_STARTED=1 # from here on, cleanup stops whatever part of it came up
	if [ -n "$SHARED" ]; then
		"$SHARED/pgcluster.sh" start "$PG_PORT" >&2
	else
		own_pg_start
	fi
	PG_PID=$(head -1 "$CDIR/data/postmaster.pid")
	wait_listener "$PG_PORT" "$PG_PID" 10 || die "PostgreSQL (pid $PG_PID) is not the one listening on $PG_PORT"
}

pg_stop() {
	[ -f "$CDIR/data/postmaster.pid" ] || return 0
	as_owner "$PGBIN/pg_ctl" -D "$CDIR/data" -m fast -w -t 60 stop >/dev/null || true
}

# ---------- setup: PgBouncer (fallback mirrors ../shared/bench/poolers.sh pgb-session) ----------

own_pgb_start() {
	ensure_user
	mkdir -p "$PGB_DIR"
	chmod 755 "$BENCH_DIR/run" "$PGB_DIR"
	printf '"bench" ""\n' >"$PGB_DIR/userlist.txt"
	cat >"$PGB_DIR/pgbouncer.ini" <<-EOF
		[databases]
		bench = host=127.0.0.1 port=$PG_PORT dbname=bench
		postgres = host=127.0.0.1 port=$PG_PORT dbname=postgres

		[pgbouncer]
		listen_addr = 127.0.0.1
		listen_port = $PGB_PORT
		unix_socket_dir = $PGB_DIR
		auth_type = trust
		auth_file = $PGB_DIR/userlist.txt
		admin_users = bench
		pool_mode = session
		max_client_conn = 1000
		default_pool_size = 200
		min_pool_size = 0
		reserve_pool_size = 0
		server_idle_timeout = 10
		server_reset_query = DISCARD ALL
		server_reset_query_always = 0
		ignore_startup_parameters = extra_float_digits
		pidfile = $PGB_DIR/pgb-session.pid
		logfile = $PGB_DIR/pgbouncer.log
		log_connections = 0
		log_disconnections = 0
		log_pooler_errors = 1
		stats_period = 60
	EOF
	is_root && chown -R "$BENCH_USER": "$PGB_DIR"
	as_owner "$PGBOUNCER_BIN" -d "$PGB_DIR/pgbouncer.ini"
}

pgb_start() {
	PGB_STARTED=1
	if [ -n "$SHARED" ]; then
		"$SHARED/poolers.sh" start pgb-session >&2
	else
		own_pgb_start
	fi
	local i
	for ((i = 0; i < 100; i++)); do
		[ -s "$PGB_DIR/pgb-session.pid" ] && break
		sleep 0.1
	done
	PGB_PID=$(tr -dc '0-9' <"$PGB_DIR/pgb-session.pid" 2>/dev/null) || die "PgBouncer wrote no pid file"
	wait_listener "$PGB_PORT" "$PGB_PID" 10 || die "PgBouncer (pid $PGB_PID) is not listening on $PGB_PORT"
}

pgb_stop() {
	local pid i
	pid=$(tr -dc '0-9' <"$PGB_DIR/pgb-session.pid" 2>/dev/null) || return 0
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
	kill -INT "$pid" # PgBouncer: SIGINT = safe shutdown
	for ((i = 0; i < 50; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
	rm -f "$PGB_DIR/pgb-session.pid"
}

# ---------- setup: pgward ----------

# pgward_start_one NAME PORT EXTRA-CONFIG: starts one pgward, its pid appended to PGW_PIDS.
pgward_start_one() {
	local name=$1 port=$2 dir=$PGW_DIR/$1 pid
	mkdir -p "$dir"
	cat >"$dir/pgward.ini" <<-EOF
		[pgward]
		listen_addr = 127.0.0.1
		listen_port = $port
		server_host = 127.0.0.1
		server_port = $PG_PORT
		server_tls_sslmode = disable
		log_level = warning
		$3
	EOF
	# Its own session, as PgBouncer gets by daemonizing: otherwise the scheduler's autogroup
	# puts pgward in one group with this script's pgbench and it gets a share of that group.
	setsid "$PGWARD_BIN" -c "$dir/pgward.ini" >"$OUT/logs/$name.log" 2>&1 </dev/null &
	pid=$!
	wait_listener "$port" "$pid" 10 ||
		die "$name (pid $pid) is not listening on $port (log: $OUT/logs/$name.log)"
	PGW_PIDS+=("$pid")
}

pgward_start() {
	PGW_PIDS=()
	if has_target pgward; then
		pgward_start_one pgward "$PGWARD_PORT" "$PGWARD_CONF"
		PGW_PID=${PGW_PIDS[-1]}
	fi
	if has_target pgward-off; then
		pgward_start_one pgward-off "$PGWARD_OFF_PORT" $'[guard]\nrules = none'
		PGW_OFF_PID=${PGW_PIDS[-1]}
	fi
}

pgward_stop() {
	local i pid
	for pid in "${PGW_PIDS[@]}"; do
		kill -0 "$pid" 2>/dev/null || continue
		kill -INT "$pid" # SIGINT: exit at once
		for ((i = 0; i < 50; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
		wait "$pid" 2>/dev/null || true
	done
}

has_target() { [[ " $TARGETS " == *" $1 "* ]]; }

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	set +e
	[ -n "${PGBENCH_PID:-}" ] && kill -TERM "$PGBENCH_PID" 2>/dev/null && wait "$PGBENCH_PID" 2>/dev/null
	pgward_stop
	[ "${PGB_STARTED:-0}" = 1 ] && pgb_stop
	if [ "${PG_STARTED:-0}" = 1 ]; then
		[ -f "$CDIR/postgres.log" ] && cp "$CDIR/postgres.log" "$OUT/logs/" 2>/dev/null
		pg_stop
		[ "$KEEP_DATA" = 1 ] || rm -rf "$CDIR"
	fi
	[ -f "$PGB_DIR/pgbouncer.log" ] && cp "$PGB_DIR/pgbouncer.log" "$OUT/logs/" 2>/dev/null
	exit "$rc"
}

# ---------- workloads and targets ----------

wl_flags() {
	case "$1" in
	S) echo "-S -M simple" ;;
	S-prep) echo "-S -M prepared" ;;
	tpcb) echo "-M simple" ;;
	tpcb-prep) echo "-M prepared" ;;
	S-C) echo "-S -M simple -C" ;;
	*) die "unknown workload '$1'" ;;
	esac
}

prep_workload() { # housekeeping directly on the server, never through the target
	case "$1" in
	tpcb*) pg_direct -c 'TRUNCATE pgbench_history' -c 'VACUUM pgbench_branches, pgbench_tellers' >/dev/null ;;
	esac
}

t_port() {
	case "$1" in
	direct) echo "$PG_PORT" ;;
	pgbouncer) echo "$PGB_PORT" ;;
	pgward) echo "$PGWARD_PORT" ;;
	pgward-off) echo "$PGWARD_OFF_PORT" ;;
	*) die "unknown target '$1'" ;;
	esac
}
t_pid() {
	case "$1" in
	pgbouncer) echo "$PGB_PID" ;;
	pgward) echo "$PGW_PID" ;;
	pgward-off) echo "$PGW_OFF_PID" ;;
	*) echo "" ;;
	esac
}

# pgbench runs in the background and the script waits for it: a trapped signal interrupts
# `wait` at once (it would not interrupt a foreground command), and cleanup stops pgbench.
run_pgbench() { # limit_seconds logfile pgbench-args...
	local limit=$1 out=$2 rc=0
	shift 2
	timeout "$limit" "$PGBENCH" "$@" >"$out" 2>&1 &
	PGBENCH_PID=$!
	wait "$PGBENCH_PID" || rc=$?
	PGBENCH_PID=""
	return "$rc"
}

# ---------- main ----------

mkdir -p "$OUT/logs"
for w in $WORKLOADS; do wl_flags "$w" >/dev/null; done
case "$PGB_POOL" in fresh | warm) ;; *) die "PGB_POOL must be fresh or warm, not '$PGB_POOL'" ;; esac
for t in $TARGETS; do t_port "$t" >/dev/null; done
for p in "$PG_PORT" "$PGB_PORT" "$PGWARD_PORT" "$PGWARD_OFF_PORT"; do
	! port_busy "$p" || die "port $p is already in use; set PG_PORT/PGB_PORT/PGWARD_PORT/PGWARD_OFF_PORT"
done
[ -x "$PGBIN/postgres" ] || die "no PostgreSQL 15 in $PGBIN (apt-get install postgresql-15)"
[ -x "$PGBOUNCER_BIN" ] || die "no PgBouncer at $PGBOUNCER_BIN (apt-get install pgbouncer)"
[ -e "$CDIR" ] && [ "$KEEP_DATA" != 1 ] && die "$CDIR exists (left by KEEP_DATA=1?); remove it or set KEEP_DATA=1"

trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

build_pgward
log "setup: $([ -n "$SHARED" ] && echo "scripts in $SHARED" || echo built-in); state in $BENCH_DIR"
pg_start
PGW_PIDS=()
if has_target pgbouncer; then pgb_start; fi
pgward_start
PG_IDLE_CHILDREN=$(pg_children)
log "postgres pid $PG_PID :$PG_PORT, pgbouncer pid ${PGB_PID:--} :$PGB_PORT, pgward pids ${PGW_PIDS[*]:--}"

{
	echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "machine: $(nproc) cpus, $(lscpu | sed -nE 's/^Model name: *//p' | head -1), kernel $(uname -r)"
	echo "postgresql: $(pg_direct -c 'show server_version')"
	echo "pgbouncer: $("$PGBOUNCER_BIN" --version | head -1)"
	head=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
	git -C "$ROOT" diff --quiet HEAD -- src include CMakeLists.txt 2>/dev/null || head="$head + uncommitted changes"
	if [ -n "$PGWARD_GIVEN" ]; then
		echo "pgward: $("$PGWARD_BIN" --version 2>&1 | head -1), binary $PGWARD_BIN (given; repository at $head)"
	else
		echo "pgward: $("$PGWARD_BIN" --version 2>&1 | head -1), commit $head"
	fi
	echo "pgbench: $("$PGBENCH" --version)"
	echo "settings: rounds=$ROUNDS duration=${DURATION}s warmup=${WARMUP}s clients=$CLIENTS threads=$THREADS scale=$SCALE pgbouncer_pool=$PGB_POOL"
	echo "workloads: $WORKLOADS; targets: $TARGETS"
} | tee "$OUT/meta.txt" >&2

CSV=$OUT/results.csv
echo "round,workload,target,tps,lat_ms,txns,proxy_cpu_s,busy_cpu_s,page_faults,status" >"$CSV"
read -r -a TGT <<<"$TARGETS"
NT=${#TGT[@]}
for ((r = 1; r <= ROUNDS; r++)); do
	for wl in $WORKLOADS; do
		flags=$(wl_flags "$wl")
		for ((k = 0; k < NT; k++)); do
			t=${TGT[$(((k + r - 1) % NT))]}
			port=$(t_port "$t")
			pid=$(t_pid "$t")
			common="-n -c $CLIENTS -j $THREADS -h 127.0.0.1 -p $port -U bench"
			lg=$OUT/logs/r$r-$wl-$t.log
			if [ "$WARMUP" -gt 0 ]; then
				prep_workload "$wl"
				run_pgbench $((WARMUP + 60)) /dev/null $common $flags -T "$WARMUP" bench || true
			fi
			prep_workload "$wl"
			if [ "$t" = pgbouncer ] && [ "$PGB_POOL" = fresh ]; then pgb_drop_servers; fi
			wait_backends_gone
			p0=$(proc_ticks "$pid")
			b0=$(busy_ticks)
			f0=$(page_faults)
			rc=0
			run_pgbench $((DURATION + 60)) "$lg" $common $flags -T "$DURATION" bench || rc=$?
			p1=$(proc_ticks "$pid")
			b1=$(busy_ticks)
			f1=$(page_faults)
			tps=$(sed -nE 's/^tps = ([0-9.]+).*/\1/p' "$lg" | head -1)
			lat=$(sed -nE 's/^latency average = ([0-9.]+) ms.*/\1/p' "$lg" | head -1)
			txns=$(sed -nE 's/^number of transactions actually processed: ([0-9]+).*/\1/p' "$lg" | head -1)
			status=ok
			[ "$rc" = 0 ] && [ -n "$tps" ] || status=failed
			[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || [ -z "$pid" ] || status=died
			pcpu=""
			[ -n "$pid" ] && pcpu=$(awk -v a="$p0" -v b="$p1" -v hz="$HZ" 'BEGIN { printf "%.2f", (b - a) / hz }')
			bcpu=$(awk -v a="$b0" -v b="$b1" -v hz="$HZ" 'BEGIN { printf "%.2f", (b - a) / hz }')
			echo "$r,$wl,$t,${tps:-},${lat:-},${txns:-},$pcpu,$bcpu,$((f1 - f0)),$status" >>"$CSV"
			printf 'round %d  %-9s %-9s tps=%-9s lat=%-6s proxy_cpu=%-5s busy_cpu=%-5s %s\n' \
				"$r" "$wl" "$t" "${tps:--}" "${lat:--}" "${pcpu:--}" "$bcpu" "$status" >&2
			[ "$status" = died ] && die "$t (pid $pid) died during round $r $wl; see $lg"
		done
	done
done

python3 - "$CSV" "$RATIO" <<'EOF' | tee "$OUT/summary.md"
import csv, statistics, sys
from collections import OrderedDict

rows = list(csv.DictReader(open(sys.argv[1], newline="")))
def num(x):
    try:
        return float(x)
    except (TypeError, ValueError):
        return None
wls = list(OrderedDict.fromkeys(r["workload"] for r in rows))
tgts = list(OrderedDict.fromkeys(r["target"] for r in rows))
ok = lambda wl, t: [r for r in rows if r["workload"] == wl and r["target"] == t
                    and r["status"] == "ok" and num(r["tps"])]
def med(rs, key):
    v = [key(r) for r in rs]
    v = [x for x in v if x is not None]
    return statistics.median(v) if v else None
def per10k(col):
    return lambda r: (num(r[col]) / num(r["txns"]) * 1e4
                      if num(r[col]) is not None and num(r["txns"]) else None)
fmt = lambda x, p: "-" if x is None else f"{x:,.{p}f}"

num_t, den_t = sys.argv[2].split(":")
print("| workload | target | runs ok | median TPS | min-max TPS | mean latency ms | × direct "
      f"| {num_t} / {den_t} TPS (per-round range) | proxy CPU s / 10k tx | page faults / tx |")
print("|---|---|---|---|---|---|---|---|---|---|")
for wl in wls:
    base = {t: med(ok(wl, t), lambda r: num(r["tps"])) for t in tgts}
    for t in tgts:
        rs = ok(wl, t)
        n = len([r for r in rows if r["workload"] == wl and r["target"] == t])
        tps = [num(r["tps"]) for r in rs]
        m = base[t]
        lat = statistics.mean(num(r["lat_ms"]) for r in rs) if rs else None
        vs_direct = f"{m / base['direct']:.2f}" if m and base.get("direct") else "-"
        vs_pgb = "-"
        if t == num_t and m and base.get(den_t):
            pgb = {r["round"]: num(r["tps"]) for r in ok(wl, den_t)}
            pr = [num(r["tps"]) / pgb[r["round"]] for r in rs if r["round"] in pgb]
            vs_pgb = f"{m / base[den_t]:.2f}"
            if pr:
                vs_pgb += f" ({min(pr):.2f}-{max(pr):.2f})"
        cpu = med(rs, per10k("proxy_cpu_s")) if t != "direct" else None
        faults = med(rs, lambda r: num(r["page_faults"]) / num(r["txns"])
                     if num(r["page_faults"]) is not None and num(r["txns"]) else None)
        print(f"| {wl} | {t} | {len(rs)}/{n} | {fmt(m, 0)} | "
              f"{fmt(min(tps) if tps else None, 0)}-{fmt(max(tps) if tps else None, 0)} | "
              f"{fmt(lat, 3)} | {vs_direct} | {vs_pgb} | {fmt(cpu, 3)} | {fmt(faults, 2)} |")
EOF
log "results: $OUT"
