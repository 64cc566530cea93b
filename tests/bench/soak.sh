#!/usr/bin/env bash
# soak.sh - long-running leak check: pgbench with a new connection per transaction (-C),
# select-only and TPC-B-like clients at once, through pgward with the guard (all rules),
# payload and column limits, the job serializer (on pgbench_history) and metrics on, for
# $DURATION seconds. The SQL cache is bounded to 2000 entries so it fills during warm-up.
# pgward's RSS is sampled every 10 s; the figure that matters is RSS at the end versus
# RSS after the warm-up (target: within 10%).
#
# Usage: tests/bench/soak.sh     (needs ../shared/bench/pgcluster.sh, as the other benches)
# Environment: DURATION=1800  WARMUP=120  PG_PORT=5520  PGWARD_PORT=5521
#              SELECT_CLIENTS=6  TPCB_CLIENTS=2
#              PGWARD_BIN=<repo>/build/pgward (built Release if missing)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DURATION=${DURATION:-1800}
WARMUP=${WARMUP:-120}
PG_PORT=${PG_PORT:-5520}
PGWARD_PORT=${PGWARD_PORT:-5521}
PGWARD_BIN=${PGWARD_BIN:-$ROOT/build/pgward}
CLUSTER=$ROOT/../shared/bench/pgcluster.sh
WORK=$(mktemp -d /tmp/pgward-soak.XXXXXX)
PGBIN=/usr/lib/postgresql/15/bin

[ -x "$PGWARD_BIN" ] || { cmake -S "$ROOT" -B "$ROOT/build" -DCMAKE_BUILD_TYPE=Release >/dev/null &&
	cmake --build "$ROOT/build" -j2 >/dev/null; }
SCALE=10 "$CLUSTER" start "$PG_PORT" >/dev/null
cat >"$WORK/pgward.ini" <<INI
[pgward]
listen_port = $PGWARD_PORT
server_port = $PG_PORT
max_client_conn = 200
[limits]
max_query_size = 64kB
column_limits = pgbench_history.filler: 22 chars
[guard]
rules = all
; small, so the cache is full (and evicting) within the warm-up
sql_cache_entries = 2000
[job pgbench_history]
key_columns = aid
on_conflict = skip
[metrics]
listen_port = $((PGWARD_PORT + 1))
INI
setsid "$PGWARD_BIN" -c "$WORK/pgward.ini" >"$WORK/pgward.log" 2>&1 &
PW=$!
cleanup() {
	kill "$PW" 2>/dev/null || true
	"$CLUSTER" stop "$PG_PORT" >/dev/null 2>&1 || true
}
trap cleanup EXIT
sleep 1
rss() { awk '/^VmRSS:/ {print $2}' "/proc/$PW/status"; }
bench() { "$PGBIN/pgbench" -h 127.0.0.1 -p "$PGWARD_PORT" -U bench -n -C -T "$DURATION" "$@" bench; }
bench -S -c "${SELECT_CLIENTS:-6}" -j 1 >"$WORK/select.out" 2>&1 &
B1=$!
bench -c "${TPCB_CLIENTS:-2}" -j 1 >"$WORK/tpcb.out" 2>&1 &
B2=$!
start=$SECONDS warm=""
echo "seconds rss_kb" >"$WORK/rss.txt"
while kill -0 "$B1" 2>/dev/null || kill -0 "$B2" 2>/dev/null; do
	now=$((SECONDS - start))
	r=$(rss)
	echo "$now $r" >>"$WORK/rss.txt"
	[ -z "$warm" ] && [ "$now" -ge "$WARMUP" ] && warm=$r
	sleep 10
done
wait "$B1" "$B2" || true
end=$(rss)
echo "pgward soak: ${DURATION}s, RSS after ${WARMUP}s warm-up ${warm} kB, at the end ${end} kB" \
	"($(awk -v a="$warm" -v b="$end" 'BEGIN {printf "%+.1f%%", (b - a) * 100 / a}'))"
grep -hE "^(number of transactions actually processed|tps)" "$WORK/select.out" "$WORK/tpcb.out"
echo "samples: $WORK/rss.txt; logs: $WORK"
