#!/usr/bin/env bash
# metrics.sh - what per-tenant metrics cost: pgbench -S against pgward with [metrics] off
# and on, two tenants (login roles bench_a and bench_b, half the clients each), rounds
# interleaved (off/on, then on/off, ...) in one run so machine noise hits both alike.
#
# Usage: tests/bench/metrics.sh     (root or an ordinary user; figures, not pass/fail)
#
# Environment: ROUNDS=6 DURATION=15 CLIENTS=16 SCALE=10 MODE=simple (pgbench -M)
#   PG_PORT=5530 (then +1, +2, +3 for pgward off, on, and on's metrics listener)
#   DIR=/tmp/pgward-metrics-bench  PGWARD_BIN=<repo>/build/pgward (Release)
# Prints one line per run, then per side the median TPS and the median CPU time pgward
# spent per 10k queries (utime+stime from /proc; steadier than TPS on a shared machine),
# with the ratios on / off.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=../../scripts/lib.sh
. "$ROOT/scripts/lib.sh"
ROUNDS=${ROUNDS:-6}
DURATION=${DURATION:-15}
CLIENTS=${CLIENTS:-16}
SCALE=${SCALE:-10}
MODE=${MODE:-simple}
PG_PORT=${PG_PORT:-5530}
OFF_PORT=$((PG_PORT + 1)) ON_PORT=$((PG_PORT + 2)) HTTP_PORT=$((PG_PORT + 3))
DIR=${DIR:-/tmp/pgward-metrics-bench}
PGWARD_BIN=${PGWARD_BIN:-$ROOT/build/pgward}
PIDS=()

cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill -INT "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	pg_stop "$DIR/pg" || true
}
trap cleanup EXIT

for p in "$PG_PORT" "$OFF_PORT" "$ON_PORT" "$HTTP_PORT"; do
	! port_listening "$p" || die "port $p is in use; set PG_PORT"
done
[ -x "$PGWARD_BIN" ] || die "no pgward at $PGWARD_BIN (build Release, or set PGWARD_BIN)"
mkdir -p "$DIR"
pg_start "$DIR/pg" "$PG_PORT"
psql_pg() { "$PGBIN/psql" -X -q -h 127.0.0.1 -p "$PG_PORT" -U postgres "$@"; }
if ! psql_pg -d postgres -Atc "SELECT 1 FROM pg_database WHERE datname = 'bench'" | grep -q 1; then
	psql_pg -d postgres -c "CREATE DATABASE bench"
	"$PGBIN/pgbench" -h 127.0.0.1 -p "$PG_PORT" -U postgres -i -q -s "$SCALE" bench >"$DIR/init.log" 2>&1
fi
for r in bench_a bench_b; do
	psql_pg -d postgres -c "DO \$\$ BEGIN CREATE ROLE $r LOGIN SUPERUSER; EXCEPTION WHEN duplicate_object THEN END \$\$"
done

start_pgward() { # name port extra-ini
	printf '[pgward]\nlisten_port = %s\nserver_port = %s\nserver_tls_sslmode = disable\nlog_level = warning\n%b' \
		"$2" "$PG_PORT" "$3" >"$DIR/$1.ini"
	setsid "$PGWARD_BIN" -c "$DIR/$1.ini" >"$DIR/$1.log" 2>&1 </dev/null &
	PIDS+=($!)
	eval "PID_$1=$!"
	wait_port "$2" 10 || die "pgward $1 did not start: $DIR/$1.log"
}
start_pgward off "$OFF_PORT" ""
start_pgward on "$ON_PORT" "[metrics]\nlisten_port = $HTTP_PORT\n"

# utime+stime of a process in clock ticks (fields after the command name's last ')').
ticks() { local s; s=$(cat "/proc/$1/stat"); s=${s##*) }; set -- $s; echo $((${12} + ${13})); }

# Both tenants at once, CLIENTS/2 each; prints the summed TPS and transactions.
run() { # port
	local half=$((CLIENTS / 2)) r
	for r in bench_a bench_b; do
		"$PGBIN/pgbench" -n -S -M "$MODE" -c "$half" -j 1 -T "$DURATION" -h 127.0.0.1 -p "$1" \
			-U "$r" bench >"$DIR/run-$r.log" 2>&1 &
	done
	wait
	sed -nE 's/^tps = ([0-9.]+).*/\1/p' "$DIR"/run-bench_a.log "$DIR"/run-bench_b.log |
		awk '{ s += $1 } END { printf "%.0f ", s }'
	sed -nE 's/^number of transactions actually processed: ([0-9]+).*/\1/p' \
		"$DIR"/run-bench_a.log "$DIR"/run-bench_b.log | awk '{ s += $1 } END { print s }'
}

echo "pgbench -S -M $MODE -c $CLIENTS (two tenants x $((CLIENTS / 2))) -T $DURATION, $ROUNDS rounds, $(nproc) cpus"
off=() on=() cpu_off=() cpu_on=()
hz=$(getconf CLK_TCK)
for ((i = 1; i <= ROUNDS; i++)); do
	order="off on"
	[ $((i % 2)) = 0 ] && order="on off"
	for side in $order; do
		port=$OFF_PORT pid=$PID_off
		[ "$side" = on ] && port=$ON_PORT pid=$PID_on
		t0=$(ticks "$pid")
		read -r tps txns < <(run "$port")
		cpu=$(awk -v t="$(($(ticks "$pid") - t0))" -v n="$txns" -v hz="$hz" \
			'BEGIN { printf "%.3f", t / hz / n * 1e4 }')
		echo "round $i metrics $side: $tps tps, pgward cpu ${cpu}s / 10k queries"
		if [ "$side" = on ]; then
			on+=("$tps") cpu_on+=("$cpu")
		else
			off+=("$tps") cpu_off+=("$cpu")
		fi
	done
done
curl -s "http://127.0.0.1:$HTTP_PORT/metrics" | grep -E '^pgward_queries_total' || true
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
m_off=$(median "${off[@]}") m_on=$(median "${on[@]}")
c_off=$(median "${cpu_off[@]}") c_on=$(median "${cpu_on[@]}")
awk -v a="$m_off" -v b="$m_on" 'BEGIN { printf "median tps: off %.0f, on %.0f, on/off %.3f\n", a, b, b / a }'
awk -v a="$c_off" -v b="$c_on" \
	'BEGIN { printf "median pgward cpu s / 10k queries: off %.3f, on %.3f, on/off %.3f\n", a, b, b / a }'
