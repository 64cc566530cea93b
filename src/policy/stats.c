/*
 * One "stats" log line with the counters of the policies: the classification cache's hits,
 * misses and size, and what detect mode let through per rule. Logged on SIGHUP and at
 * exit; the metrics endpoint reads the same counters through pgw_policy_sql_stats and
 * pgw_guard_detected.
 */
#include "pgward/log.h"
#include "pgward/policy.h"
#include "pgward/sql.h"

#include <stdio.h>

void pgw_policy_log_stats(void)
{
	struct pgw_sql_cache_stats st;
	char detected[512];
	size_t n = 0;

	detected[0] = '\0';
	for (int f = 0; f < PGW_SQL_NFLAGS; f++) {
		uint64_t c = pgw_guard_detected(f);

		if (c > 0 && n < sizeof(detected))
			n += (size_t)snprintf(
				detected + n, sizeof(detected) - n, " detected_%s=%llu",
				pgw_sql_flag_name((enum pgw_sql_flag)f), (unsigned long long)c);
	}
	pgw_policy_sql_stats(&st);
	pgw_info(0, "stats",
		 "sql_cache_hits=%llu sql_cache_misses=%llu sql_parses=%llu "
		 "sql_cache_evictions=%llu sql_too_large=%llu sql_cache_entries=%zu "
		 "sql_cache_bytes=%zu sql_shape_hits=%llu sql_shape_misses=%llu "
		 "sql_shape_entries=%zu%s",
		 (unsigned long long)st.hits, (unsigned long long)st.misses,
		 (unsigned long long)st.parses, (unsigned long long)st.evictions,
		 (unsigned long long)st.too_large, st.entries, st.bytes,
		 (unsigned long long)st.shape_hits, (unsigned long long)st.shape_misses,
		 st.shape_entries, detected);
}
