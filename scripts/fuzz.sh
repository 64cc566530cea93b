#!/usr/bin/env bash
# fuzz.sh - builds the libFuzzer targets (tests/fuzz/fuzz_*.c, clang, ASan+UBSan) and runs
# each for FUZZ_SECONDS (default 30) on a scratch copy of its seed corpus. A crash, leak or
# sanitizer report fails the run; the input that caused it is left in build-fuzz/artifacts/
# and belongs in tests/fuzz/regressions/<target>/ once fixed (every file there is replayed).
#
#   scripts/fuzz.sh                   every target, 30 s each (what scripts/test.sh runs)
#   FUZZ_SECONDS=3600 scripts/fuzz.sh fuzz_sql   one target, for an hour (developers)
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$PGWARD_ROOT"

FUZZ_SECONDS=${FUZZ_SECONDS:-30}
BUILD=$PGWARD_ROOT/build-fuzz
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
	mapfile -t targets < <(find tests/fuzz -maxdepth 1 -name 'fuzz_*.c' -printf '%f\n' | sed 's/\.c$//' | sort)
fi
CC=clang cmake -S . -B "$BUILD" -DPGWARD_FUZZ=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
# Only the fuzzers: the library is instrumented for them, the binary and unit tests are not.
cmake --build "$BUILD" -j2 --target "${targets[@]}" >/dev/null
mkdir -p "$BUILD/artifacts"
failed=()
for t in "${targets[@]}"; do
	seeds=tests/fuzz/corpus/${t#fuzz_}
	work=$BUILD/corpus/${t#fuzz_}
	mkdir -p "$work"
	[ -d "$seeds" ] && cp -n "$seeds"/* "$work"/ 2>/dev/null || true
	regress=tests/fuzz/regressions/$t
	if [ -d "$regress" ] && ! "$BUILD/$t" -runs=0 "$regress"/* >"$BUILD/$t.regress.log" 2>&1; then
		log "$t: a regression input fails again (see $BUILD/$t.regress.log)"
		failed+=("$t")
		continue
	fi
	log "$t: ${FUZZ_SECONDS}s from $(find "$work" -type f | wc -l) inputs"
	if ! "$BUILD/$t" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
		-print_final_stats=1 -artifact_prefix="$BUILD/artifacts/$t-" "$work" >"$BUILD/$t.log" 2>&1; then
		log "$t: FAILED; last lines of $BUILD/$t.log:"
		tail -40 "$BUILD/$t.log" >&2
		failed+=("$t")
		continue
	fi
	grep -E '^stat::(number_of_executed_units|peak_rss_mb)' "$BUILD/$t.log" | tr '\n' ' ' >&2
	echo >&2
done
if [ ${#failed[@]} -gt 0 ]; then
	log "failed: ${failed[*]}"
	exit 1
fi
log "all ${#targets[@]} targets ran ${FUZZ_SECONDS}s each without a finding"
