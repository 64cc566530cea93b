/*
 * How long one /metrics scrape takes to render with N tenants, each with samples in every
 * of KINDS query kinds (all 8 by default: the worst case) with every outcome, a transaction
 * histogram, bytes and refusals. Renders in-process (no HTTP), as the event loop does for
 * a request.
 *
 *   TENANTS=1000 ROUNDS=50 KINDS=8 tests/bench/scrape/run.sh
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../../src/metrics/metrics-int.h"
#include "pgward/proxy.h"
#include "pgward/sql.h"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	int tenants = argc > 1 ? atoi(argv[1]) : 1000, rounds = argc > 2 ? atoi(argv[2]) : 50;
	int kinds = argc > 3 ? atoi(argv[3]) : PGW_MK__COUNT;
	double best = 1e9, total = 0;
	size_t bytes = 0;

	pgw_sql_tune_malloc(); /* as main() does: big buffers come from the heap, reused */
	pgw_config_defaults(&pgw.cfg);
	pgw.cfg.metrics_listen_port = 1; /* on; nothing listens in this program */
	pgw.cfg.metrics_max_tenants = tenants + 1;
	pgw_metrics_init();
	for (int i = 0; i < tenants; i++) {
		char name[64];
		struct pgw_mtenant *t;

		snprintf(name, sizeof(name), "%08x-0000-4000-8000-%012d", i, i);
		t = pgw_mreg_acquire(&pgw_mg.reg, name, (unsigned)tenants + 1);
		for (int k = 0; k < kinds && k < PGW_MK__COUNT; k++) {
			for (int o = 0; o < PGW_MO__COUNT; o++)
				t->queries[k][o] = (uint64_t)(i + k + o);
			for (uint64_t ns = 40000; ns < 20000000000ull; ns *= 3)
				pgw_hist_observe(&t->query[k], ns);
		}
		pgw_hist_observe(&t->tx, 1000000);
		t->bytes[0] = t->bytes[1] = 12345;
		pgw_mtenant_refused(t, "drop_table");
	}
	for (int r = 0; r < rounds; r++) {
		struct pgw_mbuf b = {0};
		double t0 = now(), dt;

		pgw_metrics_render(&b);
		dt = now() - t0;
		if (b.oom) {
			fprintf(stderr, "out of memory\n");
			return 1;
		}
		bytes = b.len;
		pgw_mbuf_free(&b);
		total += dt;
		if (dt < best)
			best = dt;
	}
	printf("tenants=%d kinds=%d rounds=%d render_ms_best=%.2f render_ms_mean=%.2f bytes=%zu\n",
	       tenants, kinds, rounds, best * 1e3, total / rounds * 1e3, bytes);
	pgw_metrics_shutdown();
	return 0;
}
