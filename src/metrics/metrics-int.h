/*
 * What the files of src/metrics share: histograms, the tenant registry, statement stats
 * and the text helpers of the exposition. Not for use outside src/metrics/ (and its unit
 * tests).
 */
#ifndef PGWARD_METRICS_INT_H
#define PGWARD_METRICS_INT_H

#include "pgward/metrics.h"

#include <uthash.h>

/* ---- hist.c: fixed buckets from 50 µs to 10 s, 1-2-5 per decade ---- */

#define PGW_HIST_BOUNDS 17

struct pgw_hist {
	uint64_t counts[PGW_HIST_BOUNDS + 1]; /* per bucket, not cumulative; last: above 10 s */
	uint64_t sum_ns;
};

/* Upper bounds in nanoseconds, and as the `le` label text. */
extern const uint64_t pgw_hist_bound_ns[PGW_HIST_BOUNDS];
extern const char *const pgw_hist_bound_label[PGW_HIST_BOUNDS];

/* Index of the bucket <ns> falls in: the first bound >= ns, or PGW_HIST_BOUNDS. */
static inline unsigned pgw_hist_bucket(uint64_t ns)
{
	unsigned i = 0;

	while (i < PGW_HIST_BOUNDS && ns > pgw_hist_bound_ns[i])
		i++;
	return i;
}

static inline void pgw_hist_observe(struct pgw_hist *h, uint64_t ns)
{
	h->counts[pgw_hist_bucket(ns)]++;
	h->sum_ns += ns;
}

uint64_t pgw_hist_count(const struct pgw_hist *h);

/* Monotonic nanoseconds (CLOCK_MONOTONIC: sub-microsecond, unlike pgw_now()). */
uint64_t pgw_metrics_now_ns(void);

/* ---- registry.c: tenants, bounded ---- */

#define PGW_MT_RULES	 16 /* refusal rules counted per tenant; more fold into "other" */
#define PGW_MT_NAME_MAX	 128
#define PGW_MT_OTHER	 "_other"
#define PGW_MT_LABEL_MAX (PGW_MT_NAME_MAX * 2 + 1)

struct pgw_mrule_count {
	char rule[40]; /* empty: slot free */
	uint64_t n;
};

struct pgw_mtenant {
	UT_hash_handle hh;
	char name[PGW_MT_NAME_MAX];
	char label[PGW_MT_LABEL_MAX]; /* name escaped for a label value */
	uint64_t id;		      /* never reused: keys statement stats */
	unsigned conns;		      /* sessions counted under it */
	double idle_since;	      /* pgw_now() when conns last dropped to 0 */
	struct pgw_hist query[PGW_MK__COUNT];
	struct pgw_hist tx;
	struct pgw_hist pool_wait; /* waits for a pool's server */
	uint64_t queries[PGW_MK__COUNT][PGW_MO__COUNT];
	uint64_t bytes[2]; /* [0] from clients, [1] from the server */
	struct pgw_mrule_count refused[PGW_MT_RULES];
	uint64_t refused_other;
};

struct pgw_mregistry {
	struct pgw_mtenant *by_name; /* uthash; named tenants, in creation order */
	struct pgw_mtenant *other;   /* "_other": never expires */
	unsigned count;		     /* named tenants */
	uint64_t next_id;
	uint64_t expired;  /* tenants dropped for idleness */
	uint64_t overflow; /* logins counted under _other because the table was full */
};

/* Limits are read on every call, so a reload takes effect at once. */
int pgw_mreg_init(struct pgw_mregistry *r) PGW_MUSTCHECK;
/* The tenant for <name> with one more connection, or _other past <max_tenants>. */
struct pgw_mtenant *pgw_mreg_acquire(struct pgw_mregistry *r, const char *name,
				     unsigned max_tenants);
void pgw_mreg_release(struct pgw_mregistry *r, struct pgw_mtenant *t, double now);
/* Drops tenants without connections idle for more than <idle> seconds. */
void pgw_mreg_expire(struct pgw_mregistry *r, double now, double idle);
void pgw_mreg_free(struct pgw_mregistry *r);
void pgw_mtenant_refused(struct pgw_mtenant *t, const char *rule);

/* ---- classify.c ---- */

/* The kind of a SQL text, from its first keyword (comments and blanks skipped). */
enum pgw_mkind pgw_mkind_of_sql(const char *sql, size_t len);
extern const char *const pgw_mkind_names[PGW_MK__COUNT];
extern const char *const pgw_moutcome_names[PGW_MO__COUNT];

/* ---- label.c: the only way text a peer chose leaves src/metrics ---- */

/*
 * Copies the string <in> (any bytes) into <out> as valid UTF-8: each invalid sequence (its
 * maximal subpart, see pgw_log_utf8_seq) becomes U+FFFD. Writes at most outlen-1 bytes and
 * a NUL, cutting only between characters. Returns true when all of <in> fit.
 */
bool pgw_mtext_clean(const char *in, char *out, size_t outlen);
/*
 * pgw_mtext_clean, and the Prometheus text format's escapes (\\, \", \n): the one way a
 * label value is made. Never cuts inside an escape or a character.
 */
bool pgw_mlabel_escape(const char *in, char *out, size_t outlen);

/* ---- text.c: exposition helpers ---- */

void pgw_mbuf_put(struct pgw_mbuf *b, const char *s, size_t n);
void pgw_mbuf_puts(struct pgw_mbuf *b, const char *s);
void pgw_mbuf_u64(struct pgw_mbuf *b, uint64_t v);
void pgw_mbuf_double(struct pgw_mbuf *b, double v);
/* "# HELP name help\n# TYPE name type\n" */
void pgw_mbuf_family(struct pgw_mbuf *b, const char *name, const char *type, const char *help);
/* name{labels} v, or name v when <labels> is "" */
void pgw_mbuf_sample(struct pgw_mbuf *b, const char *name, const char *labels, uint64_t v);
/* A family of one unlabelled sample. */
void pgw_mbuf_scalar(struct pgw_mbuf *b, const char *name, const char *type, const char *help,
		     uint64_t v);
/* One histogram's _bucket, _sum and _count lines; <labels> is "" or `a="b",...`. */
void pgw_mbuf_hist(struct pgw_mbuf *b, const char *name, const char *labels,
		   const struct pgw_hist *h);

/* ---- statements.c ---- */

struct pgw_mstmt_cfg {
	int top;	     /* 0: statement stats off */
	int max;	     /* entries kept */
	double slow_seconds; /* 0: no slow-statement log */
};

/* The fingerprint for a text (computed once per shape), 0 if none or off. */
uint64_t pgw_mstmt_fingerprint(const char *sql, size_t len);
/* A completed request of tenant <t>. */
void pgw_mstmt_record(const struct pgw_mtenant *t, const struct pgw_mreq *r, uint64_t ns);
bool pgw_mstmt_active(void);
void pgw_mstmt_render(struct pgw_mbuf *b);
char *pgw_mstmt_json(void);
void pgw_mstmt_free(void);

/* ---- process.c ---- */

void pgw_mprocess_render(struct pgw_mbuf *b);

/* ---- metrics.c: the state shared by the renderers ---- */

struct pgw_mglobal {
	bool on;
	struct pgw_mregistry reg;
	struct pgw_hist connect;
	uint64_t connect_failed;
};
extern struct pgw_mglobal pgw_mg;

void pgw_mjob_render(struct pgw_mbuf *b);
void pgw_mjob_free(void);

#endif
