# shellcheck shell=bash
# callgrind.sh - sourced by instructions.sh and login_instructions.sh: a proxy run under
# valgrind's callgrind, and the user-space instructions it ran between a zero and a dump.
# The caller defines WORK (owned by user bench), die and as_bench; proxies started here are
# killed when the caller exits.

command -v valgrind >/dev/null || apt-get install -y -q valgrind >/dev/null

PIDS=()
callgrind_cleanup() { [ ${#PIDS[@]} -eq 0 ] || kill "${PIDS[@]}" 2>/dev/null || true; }
trap callgrind_cleanup EXIT

# callgrind_start NAME PORT CMD...: CMD as user bench under callgrind, once it listens on
# 127.0.0.1:PORT; sets STARTED to valgrind's pid
callgrind_start() {
	local name=$1 port=$2
	shift 2
	(cd "$WORK" && exec setsid runuser -u bench -- valgrind --tool=callgrind \
		--callgrind-out-file="$WORK/$name.%p" "$@" >"$WORK/$name.valgrind.log" 2>&1 </dev/null) &
	for _ in $(seq 100); do
		ss -Hltn "sport = :$port" | grep -q LISTEN && break
		sleep 0.1
	done
	STARTED=$(pgrep -u bench -f "callgrind-out-file=$WORK/$name" | sed -n '$p')
	[ -n "$STARTED" ] || die "$name did not start under valgrind (see $WORK/$name.valgrind.log)"
	PIDS+=("$STARTED")
}

# callgrind_zero PID: counting starts again from here
callgrind_zero() { as_bench callgrind_control -z "$1" >/dev/null 2>&1; }

# callgrind_total NAME PID: the instructions PID ran since its last zero
callgrind_total() {
	local name=$1 pid=$2 file
	as_bench callgrind_control -d "$pid" >/dev/null 2>&1
	# shellcheck disable=SC2012 # names made here: <name>.<pid>.<n>
	file=$(ls -t "$WORK/$name.$pid".* | sed -n 1p)
	callgrind_annotate "$file" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }'
}
