#!/usr/bin/env bash
# run.sh - builds and runs scrape_bench.c against the Release library: the time to render
# /metrics for TENANTS tenants (default 1000) with samples in KINDS statement kinds
# (default 8, all), best and mean over ROUNDS renders.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
BUILD=${BUILD:-$ROOT/build}
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" -j2 --target pgward_core >/dev/null
# shellcheck disable=SC2046
cc -O2 -std=c11 -D_GNU_SOURCE -I"$ROOT/include" -o "$BUILD/scrape_bench" \
	"$ROOT/tests/bench/scrape/scrape_bench.c" "$BUILD/libpgward_core.a" \
	$(pkg-config --libs libevent_openssl libevent_extra libevent_core libcjson libpq openssl) \
	-lpg_query -lm
"$BUILD/scrape_bench" "${TENANTS:-1000}" "${ROUNDS:-50}" "${KINDS:-8}"
