/*
 * Latency histograms with fixed buckets: 1-2-5 per decade from 50 µs to 10 s, fine enough
 * for sub-millisecond queries and identical for every series, so quantiles can be
 * aggregated across tenants. Observing is a few integer compares and two increments.
 */
#include "metrics-int.h"

#include <time.h>

const uint64_t pgw_hist_bound_ns[PGW_HIST_BOUNDS] = {
	50000,	   100000,     200000,	   500000,     1000000,	    2000000,
	5000000,   10000000,   20000000,   50000000,   100000000,   200000000,
	500000000, 1000000000, 2000000000, 5000000000, 10000000000,
};

const char *const pgw_hist_bound_label[PGW_HIST_BOUNDS] = {
	"5e-05", "0.0001", "0.0002", "0.0005", "0.001", "0.002", "0.005", "0.01", "0.02",
	"0.05",	 "0.1",	   "0.2",    "0.5",    "1",	"2",	 "5",	  "10",
};

uint64_t pgw_hist_count(const struct pgw_hist *h)
{
	uint64_t n = 0;

	for (unsigned i = 0; i <= PGW_HIST_BOUNDS; i++)
		n += h->counts[i];
	return n;
}

uint64_t pgw_metrics_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
