#!/usr/bin/env bash
# test.sh - everything CI checks, in order: dependencies, clang-format, Release and Asan
# builds, unit tests (ctest) in both, the integration suite (tests/integration,
# a real PostgreSQL 15; it also runs scripts/demo.sh and its tour) against build/pgward and
# build-asan/pgward, the clients' part of it again through session pooling, docker/ checked without an engine (scripts/docker-check.sh), and every
# fuzz target for 30 s (scripts/fuzz.sh).
# Every step runs even after a failure (unless it needs a build that failed); the exit
# status is non-zero when any step failed.
#
# Environment: PGWARD_IT_ARGS  extra pytest arguments (e.g. "-k cancel -x")
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$PGWARD_ROOT"

PYTHON=/usr/bin/python3 # not the first python3 on PATH: only this one sees python3-* debs
failed=()
passed=()

step() {
	local name=$1 rc=0 start=$SECONDS
	shift
	printf '\n===== %s =====\n' "$name"
	"$@" || rc=$?
	if [ "$rc" -eq 0 ]; then
		passed+=("$name")
		printf '===== %s: ok (%ss)\n' "$name" "$((SECONDS - start))"
	else
		failed+=("$name")
		printf '===== %s: FAILED rc=%s (%ss)\n' "$name" "$rc" "$((SECONDS - start))"
	fi
	return 0
}

format_check() {
	local files=()
	mapfile -t files < <(find src include tests -type f \( -name '*.c' -o -name '*.h' \) | sort)
	if [ ${#files[@]} -eq 0 ]; then
		echo "no C files to check"
		return 0
	fi
	clang-format --version
	# "|| return": a step runs in an || list, where set -e does not stop a failure
	clang-format --dry-run --Werror "${files[@]}" || return 1
	echo "${#files[@]} files formatted"
}

unit_tests() {
	ctest --test-dir "$1" --output-on-failure --timeout 300
}

integration() {
	local bin=$1
	shift
	# The Asan pass skips the direct-to-PostgreSQL variants: they do not involve pgward.
	# shellcheck disable=SC2086
	PGWARD_BIN=$PGWARD_ROOT/$bin timeout -k 10 1200 "$PYTHON" -m pytest -v -p no:cacheprovider \
		-rfE --durations=15 "$@" ${PGWARD_IT_ARGS:-} ${PGWARD_IT_PATHS:-tests/integration}
}

# What clients see through session pooling (PGWARD_TEST_POOLED=1: every pgward a test starts
# without an auth_type of its own authenticates as the server would and pools its servers),
# then through transaction pooling (PGWARD_TEST_POOL_MODE=transaction): psql, pgbench,
# psycopg2, node-postgres, pgJDBC, COPY, NOTIFY, cancel, TLS and the policies.
POOLED_SUITE="tests/integration/test_basic.py tests/integration/test_protocol.py
	tests/integration/test_copy.py tests/integration/test_notify.py tests/integration/test_cancel.py
	tests/integration/test_pgbench.py tests/integration/test_text_form.py
	tests/integration/test_auth_clients.py tests/integration/test_backpressure.py
	tests/integration/test_hostile.py tests/integration/test_limits.py tests/integration/test_guard.py
	tests/integration/test_ddl_lock.py tests/integration/test_jobs.py
	tests/integration/test_startup_view.py"

built() { [ -x "$1" ]; }

step "install dependencies" install_deps
step "install squawk" install_squawk
step "install node-postgres" install_node_pg
step "clang-format" format_check
step "build Release" build Release build
step "build Asan" build Asan build-asan
if [[ " ${passed[*]} " == *" build Release "* ]]; then
	step "unit tests (Release)" unit_tests build
	step "integration (Release)" integration build/pgward
	PGWARD_TEST_POOLED=1 PGWARD_SKIP_DIRECT=1 PGWARD_IT_PATHS=$POOLED_SUITE \
		step "integration pooled (Release)" integration build/pgward
	PGWARD_TEST_POOLED=1 PGWARD_TEST_POOL_MODE=transaction PGWARD_SKIP_DIRECT=1 \
		PGWARD_IT_PATHS=$POOLED_SUITE \
		step "integration transaction-pooled (Release)" integration build/pgward
fi
if [[ " ${passed[*]} " == *" build Asan "* ]]; then
	step "unit tests (Asan)" unit_tests build-asan
	PGWARD_SKIP_DIRECT=1 step "integration (Asan)" integration build-asan/pgward
fi
# The Dockerfile's build stage run on this host, runtime libraries, configs, HEALTHCHECK,
# compose, Prometheus and Grafana files (scripts/docker-check.sh).
step "docker/ (no engine)" bash scripts/docker-check.sh
# Every libFuzzer target for FUZZ_SECONDS (30 s) from its committed seeds (scripts/fuzz.sh).
step "fuzz" bash scripts/fuzz.sh

printf '\n===== summary =====\n'
for s in "${passed[@]}"; do printf 'ok      %s\n' "$s"; done
for s in "${failed[@]}"; do printf 'FAILED  %s\n' "$s"; done
if [ ${#failed[@]} -ne 0 ]; then
	echo "test.sh: ${#failed[@]} step(s) failed"
	exit 1
fi
echo "test.sh: all ${#passed[@]} steps succeeded"
