/*
 * Text of the Prometheus exposition format 0.0.4: a growable buffer, numbers without
 * printf on the common path (a scrape of 1,000 tenants is hundreds of thousands of
 * numbers), and whole histograms. Label values are made in label.c.
 */
#include "metrics-int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool pgw_mbuf_reserve(struct pgw_mbuf *b, size_t n)
{
	size_t cap;
	char *p;

	if (b->oom)
		return false;
	if (b->len + n <= b->cap)
		return true;
	/* A first reservation is taken as asked (a size hint), not rounded up to a power of
	 * two, which could push it over malloc's mmap threshold and fault it in anew. */
	cap = b->cap ? b->cap : PGW_MAX(4096, n);
	while (cap < b->len + n)
		cap *= 2;
	p = realloc(b->p, cap);
	if (p == NULL) {
		b->oom = true;
		return false;
	}
	b->p = p;
	b->cap = cap;
	return true;
}

void pgw_mbuf_put(struct pgw_mbuf *b, const char *s, size_t n)
{
	if (!pgw_mbuf_reserve(b, n))
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

void pgw_mbuf_puts(struct pgw_mbuf *b, const char *s)
{
	pgw_mbuf_put(b, s, strlen(s));
}

void pgw_mbuf_u64(struct pgw_mbuf *b, uint64_t v)
{
	char tmp[24];
	size_t i = sizeof(tmp);

	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	pgw_mbuf_put(b, tmp + i, sizeof(tmp) - i);
}

void pgw_mbuf_double(struct pgw_mbuf *b, double v)
{
	char tmp[40];
	int n;

	if (isnan(v)) {
		pgw_mbuf_puts(b, "NaN");
		return;
	}
	if (isinf(v)) {
		pgw_mbuf_puts(b, v > 0 ? "+Inf" : "-Inf");
		return;
	}
	n = snprintf(tmp, sizeof(tmp), "%.17g", v);
	pgw_mbuf_put(b, tmp, (size_t)n);
}

void pgw_mbuf_free(struct pgw_mbuf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
	b->oom = false;
}

void pgw_mbuf_family(struct pgw_mbuf *b, const char *name, const char *type, const char *help)
{
	pgw_mbuf_puts(b, "# HELP ");
	pgw_mbuf_puts(b, name);
	pgw_mbuf_put(b, " ", 1);
	pgw_mbuf_puts(b, help);
	pgw_mbuf_puts(b, "\n# TYPE ");
	pgw_mbuf_puts(b, name);
	pgw_mbuf_put(b, " ", 1);
	pgw_mbuf_puts(b, type);
	pgw_mbuf_put(b, "\n", 1);
}

/* name{labels,le="..."} or name{le="..."} */
static void bucket_line(struct pgw_mbuf *b, const char *name, const char *labels, const char *le,
			uint64_t v)
{
	pgw_mbuf_puts(b, name);
	pgw_mbuf_puts(b, "_bucket{");
	if (labels[0] != '\0') {
		pgw_mbuf_puts(b, labels);
		pgw_mbuf_put(b, ",", 1);
	}
	pgw_mbuf_puts(b, "le=\"");
	pgw_mbuf_puts(b, le);
	pgw_mbuf_puts(b, "\"} ");
	pgw_mbuf_u64(b, v);
	pgw_mbuf_put(b, "\n", 1);
}

/* "name<suffix>{labels} " or "name<suffix> ": a sample up to its value */
static void suffix_line(struct pgw_mbuf *b, const char *name, const char *suffix,
			const char *labels)
{
	pgw_mbuf_puts(b, name);
	pgw_mbuf_puts(b, suffix);
	if (labels[0] != '\0') {
		pgw_mbuf_put(b, "{", 1);
		pgw_mbuf_puts(b, labels);
		pgw_mbuf_put(b, "}", 1);
	}
	pgw_mbuf_put(b, " ", 1);
}

void pgw_mbuf_hist(struct pgw_mbuf *b, const char *name, const char *labels,
		   const struct pgw_hist *h)
{
	uint64_t cum = 0;

	for (unsigned i = 0; i < PGW_HIST_BOUNDS; i++) {
		cum += h->counts[i];
		bucket_line(b, name, labels, pgw_hist_bound_label[i], cum);
	}
	cum += h->counts[PGW_HIST_BOUNDS];
	bucket_line(b, name, labels, "+Inf", cum);
	suffix_line(b, name, "_sum", labels);
	pgw_mbuf_double(b, (double)h->sum_ns / 1e9);
	pgw_mbuf_put(b, "\n", 1);
	suffix_line(b, name, "_count", labels);
	pgw_mbuf_u64(b, cum);
	pgw_mbuf_put(b, "\n", 1);
}

void pgw_mbuf_sample(struct pgw_mbuf *b, const char *name, const char *labels, uint64_t v)
{
	suffix_line(b, name, "", labels);
	pgw_mbuf_u64(b, v);
	pgw_mbuf_put(b, "\n", 1);
}

void pgw_mbuf_scalar(struct pgw_mbuf *b, const char *name, const char *type, const char *help,
		     uint64_t v)
{
	pgw_mbuf_family(b, name, type, help);
	pgw_mbuf_sample(b, name, "", v);
}
