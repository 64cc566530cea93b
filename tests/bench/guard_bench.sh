#!/usr/bin/env bash
# guard_bench.sh - what pgward's policies cost: pgbench through pgward with every guard rule
# and policy on ("pgward": rules = all, on_parse_error = refuse, ddl_lock_timeout, column
# limits on two pgbench tables) against the same binary with the guard's rules off
# ("pgward-off": rules = none), interleaved in one run by bench.sh, for -S and TPC-B-like,
# simple and prepared. The table's ratio column is pgward / pgward-off.
#
# Usage: tests/bench/guard_bench.sh   (every bench.sh variable applies: ROUNDS, DURATION, ...)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ALL_ON=$'[limits]
column_limits = pgbench_accounts.filler: 84 chars, pgbench_history.filler: 22 chars
[guard]
rules = all
on_parse_error = refuse
ddl_lock_timeout = 2s'

export TARGETS=${TARGETS:-"pgward-off pgward"}
export RATIO=${RATIO:-pgward:pgward-off}
export WORKLOADS=${WORKLOADS:-"S S-prep tpcb tpcb-prep"}
export PGWARD_CONF=${PGWARD_CONF:-$ALL_ON}
exec "$HERE/bench.sh"
