#!/bin/bash
# Job serializer benchmark: pgbench inserting jobs with random keys (little conflict) and with
# 8 hot keys (heavy conflict), directly and through pgward ([job scrape_jobs], on_conflict = skip),
# simple and prepared protocol. Prints TPS and the duplicate active jobs each run left behind.
# Usage: run.sh PGPORT PGWARD_PORT [seconds] [clients]
set -eu
pgport=$1 pwport=$2 secs=${3:-15} clients=${4:-8}
here=$(cd "$(dirname "$0")" && pwd)
psql_() { psql -X -q -At -h 127.0.0.1 -p "$pgport" -U postgres -d postgres "$@"; }
psql_ -c "DROP TABLE IF EXISTS scrape_jobs" -c "CREATE TABLE scrape_jobs (id bigserial PRIMARY KEY,
  domain text NOT NULL, job_type text NOT NULL, status text NOT NULL DEFAULT 'pending',
  created_at timestamptz NOT NULL DEFAULT now())" \
  -c "CREATE INDEX ON scrape_jobs (domain, job_type)"
printf "%-8s %-8s %-9s %10s %10s %11s\n" keys mode via tps inserted duplicates
for script in random hot; do
	for mode in simple prepared; do
		for via in direct pgward; do
			port=$pgport; [ "$via" = pgward ] && port=$pwport
			psql_ -c "TRUNCATE scrape_jobs"
			tps=$(pgbench -n -h 127.0.0.1 -p "$port" -U postgres -M "$mode" -c "$clients" -j 2 \
				-T "$secs" -f "$here/insert_$script.sql" postgres 2>/dev/null |
				awk '/^tps/ {print $3; exit}')
			read -r rows dups < <(psql_ -F ' ' -c "SELECT count(*), count(*) - count(DISTINCT
			  (domain, job_type)) FROM scrape_jobs WHERE status IN ('pending', 'running')")
			printf "%-8s %-8s %-9s %10.0f %10s %11s\n" "$script" "$mode" "$via" "$tps" "$rows" "$dups"
		done
	done
done
