#!/usr/bin/env bash
# lib.sh - shared helpers for scripts/demo.sh and scripts/test.sh (source it, do not run it).
#
#   install_deps            apt-get install whatever of the project's packages is missing
#   build TYPE DIR          cmake configure + build (TYPE: Release or Asan) into DIR
#   pg_start DIR PORT       initdb (once) + start a throwaway PostgreSQL 15 in DIR/data
#   pg_stop DIR             fast shutdown of the cluster in DIR/data
#   ini_override IN OUT section.key=value...   copy an INI file with some values replaced
#   install_squawk          npm install squawk-cli (pinned) into .cache/npm, for the differential tests
#   install_node_pg         npm install pg (node-postgres, pinned) into .cache/npm, for test_auth_clients.py
#
# Everything is idempotent. PostgreSQL refuses to run as root, so as root the cluster
# runs as the unprivileged system user $PGWARD_PG_USER (created when missing).
set -euo pipefail

PGWARD_ROOT=${PGWARD_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
PGWARD_PG_USER=${PGWARD_PG_USER:-pgward}

PGWARD_DEPS=(build-essential cmake pkg-config clang clang-format libevent-dev libssl-dev
	libpg-query-dev libpq-dev libcjson-dev libxxhash-dev uthash-dev libcmocka-dev postgresql-15 postgresql-client-15 pgbouncer
	python3-pytest python3-psycopg2 openssl procps prometheus curl libpostgresql-jdbc-java openjdk-17-jdk-headless
	prometheus-pgbouncer-exporter)

log() { printf '%s: %s\n' "$(basename "$0")" "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

pkg_installed() { dpkg -s "$1" 2>/dev/null | grep -q '^Status: install ok installed'; }

install_deps() {
	local missing=() p
	for p in "${PGWARD_DEPS[@]}"; do
		pkg_installed "$p" || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	[ "$(id -u)" -eq 0 ] || die "missing packages (${missing[*]}); run as root to install them"
	log "installing: ${missing[*]}"
	# Packages such as postgresql-15 and pgbouncer start a service of their own on install
	# (pgbouncer on 6432, the demo's port). We only want their binaries: forbid service starts
	# for the duration of the install unless the machine already has a policy.
	local policy=/usr/sbin/policy-rc.d added_policy=0
	if [ ! -e "$policy" ]; then
		printf '#!/bin/sh\nexit 101\n' >"$policy"
		chmod 755 "$policy"
		added_policy=1
	fi
	local rc=0
	export DEBIAN_FRONTEND=noninteractive
	{ apt-get update -q && apt-get install -y -q --no-install-recommends "${missing[@]}"; } || rc=$?
	[ "$added_policy" = 1 ] && rm -f "$policy"
	[ "$rc" -eq 0 ] || die "apt-get install failed (rc=$rc)"
}

# The squawk linter, the reference of tests/integration/test_squawk_differential.py: pinned, so
# its rule set (and the test's mapping of it) only changes on purpose. Project-local and ignored
# by git; the test finds it at $SQUAWK_BIN (default .cache/npm/node_modules/.bin/squawk).
SQUAWK_VERSION=2.66.0
SQUAWK_PREFIX=$PGWARD_ROOT/.cache/npm
# node-postgres, one of the real clients of tests/integration/test_auth_clients.py (pgward's
# own authentication: SCRAM, SCRAM-PLUS with enableChannelBinding, md5, password, cert).
NODE_PG_VERSION=8.16.3

# Every npm package of the tests goes into the one prefix, and each install names them all:
# an "npm install --no-save" removes from node_modules whatever it was not told to install.
npm_install_test_packages() {
	command -v npm >/dev/null || die "npm is missing"
	mkdir -p "$SQUAWK_PREFIX"
	npm install --prefix "$SQUAWK_PREFIX" --no-audit --no-fund --no-save --loglevel=error \
		"squawk-cli@$SQUAWK_VERSION" "pg@$NODE_PG_VERSION"
}

install_squawk() {
	local bin=$SQUAWK_PREFIX/node_modules/.bin/squawk
	if [ -x "$bin" ] && [ "$("$bin" --version 2>/dev/null)" = "squawk $SQUAWK_VERSION" ]; then
		return 0
	fi
	log "installing squawk-cli@$SQUAWK_VERSION (and pg@$NODE_PG_VERSION) into $SQUAWK_PREFIX"
	npm_install_test_packages || return 1
	"$bin" --version
}

# The test finds it at $NODE_PG_DIR (default .cache/npm/node_modules/pg).
install_node_pg() {
	local pkg=$SQUAWK_PREFIX/node_modules/pg/package.json
	command -v node >/dev/null || die "install_node_pg: node is missing"
	if [ -f "$pkg" ] && [ "$(node -p "require('$pkg').version" 2>/dev/null)" = "$NODE_PG_VERSION" ]; then
		return 0
	fi
	log "installing pg@$NODE_PG_VERSION (and squawk-cli@$SQUAWK_VERSION) into $SQUAWK_PREFIX"
	npm_install_test_packages || return 1
	node -p "'pg ' + require('$pkg').version"
}

# build TYPE DIR: configure once, rebuild incrementally afterwards.
build() {
	local type=$1 dir=$2
	case "$type" in
	Release | Asan | Debug) ;;
	*) die "build: unknown build type '$type' (Release, Asan or Debug)" ;;
	esac
	[[ "$dir" = /* ]] || dir=$PGWARD_ROOT/$dir
	log "building $type into $dir"
	cmake -S "$PGWARD_ROOT" -B "$dir" -DCMAKE_BUILD_TYPE="$type" >/dev/null
	cmake --build "$dir" --parallel "$(nproc)"
}

# Runs a command as the cluster's owner (or as ourselves when not root).
pg_as_owner() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u "$PGWARD_PG_USER" -- "$@"
	else
		"$@"
	fi
}

pg_ensure_user() {
	[ "$(id -u)" -eq 0 ] || return 0
	id "$PGWARD_PG_USER" >/dev/null 2>&1 ||
		useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$PGWARD_PG_USER"
}

# pg_start DIR PORT: cluster in DIR/data, log in DIR/postgres.log, socket in DIR/data.
# Superuser "postgres", trusted on 127.0.0.1 and the socket: a throwaway, never a real one.
pg_start() {
	local dir=$1 port=$2 data
	[[ "$dir" = /* ]] || dir=$PWD/$dir
	data=$dir/data
	pg_ensure_user
	mkdir -p "$dir"
	if [ "$(id -u)" -eq 0 ]; then
		chown "$PGWARD_PG_USER": "$dir"
		# The owner must be able to reach the directory through every parent.
		local p=$dir
		while [ "$p" != / ]; do
			p=$(dirname "$p")
			runuser -u "$PGWARD_PG_USER" -- test -x "$p" || chmod o+x "$p"
		done
	fi
	if [ ! -f "$data/PG_VERSION" ]; then
		rm -rf "$data"
		pg_as_owner "$PGBIN/initdb" -N -D "$data" -U postgres -E UTF8 --locale=C \
			--auth-local=trust --auth-host=trust >"$dir/initdb.log" 2>&1 ||
			die "initdb failed, see $dir/initdb.log"
		pg_as_owner tee -a "$data/postgresql.conf" >/dev/null <<CONF

# ---- throwaway cluster (scripts/lib.sh) ----
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$data'
fsync = off
synchronous_commit = off
full_page_writes = off
logging_collector = off
CONF
	fi
	# The port may differ from the one the cluster was created with.
	pg_as_owner sed -i "s/^port = .*/port = $port/" "$data/postgresql.conf"
	if pg_as_owner "$PGBIN/pg_ctl" -D "$data" status >/dev/null 2>&1; then
		log "PostgreSQL already running in $data"
		return 0
	fi
	pg_as_owner "$PGBIN/pg_ctl" -D "$data" -l "$dir/postgres.log" -w -t 60 start >/dev/null ||
		die "PostgreSQL did not start, see $dir/postgres.log"
	log "PostgreSQL 15 running on 127.0.0.1:$port (data $data)"
}

pg_stop() {
	local dir=$1 data
	[[ "$dir" = /* ]] || dir=$PWD/$dir
	data=$dir/data
	[ -f "$data/PG_VERSION" ] || return 0
	if pg_as_owner "$PGBIN/pg_ctl" -D "$data" status >/dev/null 2>&1; then
		pg_as_owner "$PGBIN/pg_ctl" -D "$data" -m fast -w -t 60 stop >/dev/null
		log "PostgreSQL in $data stopped"
	fi
}

# port_listening PORT: some socket listens on PORT (read from /proc: no probe connection,
# so pgward does not log a client that went away during startup).
port_listening() {
	local hex files=(/proc/net/tcp)
	hex=$(printf '%04X' "$1")
	[ -r /proc/net/tcp6 ] && files+=(/proc/net/tcp6)
	awk -v p=":$hex" 'FNR > 1 && substr($2, length($2) - 4) == p && $4 == "0A" { found = 1 }
		END { exit !found }' "${files[@]}"
}

# wait_port PORT SECONDS: until something listens on PORT.
wait_port() {
	local port=$1 secs=${2:-10} i
	for ((i = 0; i < secs * 10; i++)); do
		port_listening "$port" && return 0
		sleep 0.1
	done
	return 1
}

# ini_override IN OUT section.key=value...: writes IN to OUT with the value of each named
# key replaced in its section (key and section must exist in IN; a missing one is an error,
# so a renamed key cannot silently drop an override). "job scrape_jobs.active=..." works too.
ini_override() {
	local in=$1 out=$2
	shift 2
	awk -v overrides="$(printf '%s\n' "$@")" '
	BEGIN {
		n = split(overrides, lines, "\n")
		for (i = 1; i <= n; i++) {
			if (lines[i] == "") continue
			eq = index(lines[i], "=")
			want[substr(lines[i], 1, eq - 1)] = substr(lines[i], eq + 1)
		}
	}
	/^[[:space:]]*\[/ { section = $0; gsub(/^[[:space:]]*\[|\][[:space:]]*$/, "", section) }
	/^[[:space:]]*[A-Za-z_]+[[:space:]]*=/ {
		key = $0; sub(/[[:space:]]*=.*/, "", key); gsub(/^[[:space:]]+/, "", key)
		if ((section "." key) in want) {
			print key " = " want[section "." key]
			done[section "." key] = 1
			next
		}
	}
	{ print }
	END {
		for (k in want) if (!(k in done)) { print "ini_override: no key " k > "/dev/stderr"; bad = 1 }
		exit bad
	}' "$in" >"$out"
}
