/*
 * Per-statement stats per tenant: calls, total and max time, errors and rows, keyed by
 * (tenant, libpg_query fingerprint), plus the slow-statement log (rate-limited). Bounded:
 * a shape cache (texts that differ only in constants share one fingerprint computation),
 * a table of normalized texts, and a statement table pruned to its top half by total time
 * when full. Normalized texts have every constant replaced by $n, so nothing here ever
 * holds or logs a literal value.
 */
#include "metrics-int.h"

#include "pgward/log.h"
#include "pgward/proxy.h"
#include "pgward/sql.h"
#include "pgward/sql_fingerprint.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SHAPES_MAX	  10000 /* shape -> fingerprint, FIFO */
#define TEXTS_MAX	  10000 /* fingerprint -> normalized text, FIFO */
#define TEXT_MAX_LEN	  2048	/* longer normalized texts are cut (with "...") */
#define SLOW_LOG_BURST	  100	/* slow_statement lines per SLOW_LOG_INTERVAL seconds */
#define SLOW_LOG_INTERVAL 10

struct shape {
	UT_hash_handle hh;
	uint64_t shape;
	uint64_t fp; /* 0: the text has none (does not parse, too long) */
};

struct text {
	UT_hash_handle hh;
	uint64_t fp;
	char *sql;
};

struct stmt_key {
	uint64_t tenant_id;
	uint64_t fp;
};

struct stmt {
	UT_hash_handle hh;
	struct stmt_key key;
	char tenant[PGW_MT_NAME_MAX];
	char *sql; /* normalized; NULL until known */
	uint64_t calls, errors, rows;
	uint64_t total_ns, max_ns;
};

static struct shape *shapes;
static unsigned nshapes;
static struct text *texts;
static unsigned ntexts;
static struct stmt *stmts;
static unsigned nstmts;
static uint64_t evicted, fingerprints, shape_hits;

bool pgw_mstmt_active(void)
{
	return pgw.cfg.metrics_statements_top > 0 || pgw.cfg.metrics_slow_statement_time > 0;
}

/* Takes <sql> (malloc'd); keeps it clean (label.c) and at most TEXT_MAX_LEN bytes. */
static void text_add(uint64_t fp, char *sql)
{
	char clean[TEXT_MAX_LEN + 1];
	struct text *t;

	HASH_FIND(hh, texts, &fp, sizeof(fp), t);
	if (t != NULL) {
		free(sql);
		return;
	}
	/* libpg_query is only given valid UTF-8, but its output is cut here, and a cut must
	 * fall between characters for /statements to stay JSON */
	if (!pgw_mtext_clean(sql, clean, TEXT_MAX_LEN - 2))
		strcat(clean, "...");
	free(sql);
	if ((sql = strdup(clean)) == NULL)
		return;
	if (ntexts >= TEXTS_MAX) {
		t = texts; /* the oldest */
		HASH_DEL(texts, t);
		free(t->sql);
		free(t);
		ntexts--;
	}
	t = malloc(sizeof(*t));
	if (t == NULL) {
		free(sql);
		return;
	}
	t->fp = fp;
	t->sql = sql;
	HASH_ADD(hh, texts, fp, sizeof(t->fp), t);
	ntexts++;
}

static const char *text_of(uint64_t fp)
{
	struct text *t;

	HASH_FIND(hh, texts, &fp, sizeof(fp), t);
	return t != NULL ? t->sql : NULL;
}

uint64_t pgw_mstmt_fingerprint(const char *sql, size_t len)
{
	uint64_t key, fp = 0;
	struct shape *s;
	char *normalized;

	if (!pgw_mstmt_active())
		return 0;
	key = pgw_sql_shape_hash(sql, len);
	HASH_FIND(hh, shapes, &key, sizeof(key), s);
	if (s != NULL) {
		shape_hits++;
		return s->fp;
	}
	fingerprints++;
	if (pgw_sql_fingerprint(sql, len, &fp, &normalized) == 0)
		text_add(fp, normalized);
	else
		fp = 0;
	if (nshapes >= SHAPES_MAX) {
		s = shapes;
		HASH_DEL(shapes, s);
		free(s);
		nshapes--;
	}
	s = malloc(sizeof(*s));
	if (s != NULL) {
		s->shape = key;
		s->fp = fp;
		HASH_ADD(hh, shapes, shape, sizeof(s->shape), s);
		nshapes++;
	}
	return fp;
}

static int by_total_desc(const void *a, const void *b)
{
	const struct stmt *x = a, *y = b;

	return x->total_ns < y->total_ns ? 1 : x->total_ns > y->total_ns ? -1 : 0;
}

static void stmt_free(struct stmt *e)
{
	HASH_DEL(stmts, e);
	free(e->sql);
	free(e);
	nstmts--;
}

/* Full: keeps the top half by total time (amortised: one sort per max/2 new entries). */
static void prune(unsigned keep)
{
	struct stmt *e, *tmp;
	unsigned i = 0;

	HASH_SORT(stmts, by_total_desc);
	HASH_ITER (hh, stmts, e, tmp) {
		if (i++ >= keep) {
			stmt_free(e);
			evicted++;
		}
	}
}

static struct stmt *stmt_get(const struct pgw_mtenant *t, uint64_t fp)
{
	struct stmt_key key = {t->id, fp};
	unsigned max = (unsigned)PGW_MAX(pgw.cfg.metrics_statements_max, 2);
	struct stmt *e;

	HASH_FIND(hh, stmts, &key, sizeof(key), e);
	if (e != NULL)
		return e;
	if (nstmts >= max)
		prune(max / 2);
	e = calloc(1, sizeof(*e));
	if (e == NULL)
		return NULL;
	e->key = key;
	memcpy(e->tenant, t->name, sizeof(e->tenant));
	HASH_ADD(hh, stmts, key, sizeof(e->key), e);
	nstmts++;
	return e;
}

/* Any tenant can send slow statements in a loop, and when the server itself slows down
 * every statement is one: past this budget they are counted, not written. */
static struct pgw_log_limit slow_log_limit =
	PGW_LOG_LIMIT(PGW_LOG_WARNING, "slow_statement", SLOW_LOG_BURST, SLOW_LOG_INTERVAL);

static void slow_log(const struct pgw_mtenant *t, const struct pgw_mreq *r, uint64_t ns)
{
	char qt[160], qs[TEXT_MAX_LEN + 64];
	const char *sql = r->fp ? text_of(r->fp) : NULL;

	pgw_log_limited(&slow_log_limit, 0,
			"tenant=%s fingerprint=%016" PRIx64
			" kind=%s outcome=%s duration_ms=%.3f query=%s",
			pgw_log_quote(t->name, qt, sizeof(qt)), r->fp, pgw_mkind_names[r->kind],
			pgw_moutcome_names[r->outcome], (double)ns / 1e6,
			pgw_log_quote(sql ? sql : "", qs, sizeof(qs)));
}

void pgw_mstmt_record(const struct pgw_mtenant *t, const struct pgw_mreq *r, uint64_t ns)
{
	double slow = pgw.cfg.metrics_slow_statement_time;
	struct stmt *e;

	if (slow > 0 && (double)ns >= slow * 1e9)
		slow_log(t, r, ns);
	if (r->fp == 0 || pgw.cfg.metrics_statements_top <= 0 || (e = stmt_get(t, r->fp)) == NULL)
		return;
	e->calls++;
	e->total_ns += ns;
	if (ns > e->max_ns)
		e->max_ns = ns;
	if (r->outcome != PGW_MO_OK)
		e->errors++;
	e->rows += r->rows;
	if (e->sql == NULL) {
		const char *sql = text_of(r->fp);

		e->sql = sql != NULL ? strdup(sql) : NULL;
	}
}

void pgw_mstmt_render(struct pgw_mbuf *b)
{
	pgw_mbuf_scalar(b, "pgward_statements_tracked", "gauge",
			"Statement entries (tenant x fingerprint) held for /statements.", nstmts);
	pgw_mbuf_scalar(b, "pgward_statements_evicted_total", "counter",
			"Statement entries dropped to keep the table bounded.", evicted);
	pgw_mbuf_scalar(b, "pgward_statement_fingerprints_total", "counter",
			"Statement shapes fingerprinted with libpg_query (shape cache misses).",
			fingerprints);
	pgw_mbuf_scalar(b, "pgward_statement_shape_hits_total", "counter",
			"Statements whose fingerprint came from the shape cache.", shape_hits);
}

static char *fp_hex(uint64_t fp, char *buf, size_t len)
{
	snprintf(buf, len, "%016" PRIx64, fp);
	return buf;
}

char *pgw_mstmt_json(void)
{
	cJSON *arr = cJSON_CreateArray();
	struct stmt *e, *tmp;
	int n = 0, top = pgw.cfg.metrics_statements_top;
	char hex[24], *out;

	if (arr == NULL)
		return NULL;
	HASH_SORT(stmts, by_total_desc);
	HASH_ITER (hh, stmts, e, tmp) {
		cJSON *o;

		if (n++ >= top)
			break;
		o = cJSON_CreateObject();
		if (o == NULL)
			break;
		cJSON_AddItemToArray(arr, o);
		cJSON_AddStringToObject(o, "tenant", e->tenant);
		cJSON_AddStringToObject(o, "fingerprint", fp_hex(e->key.fp, hex, sizeof(hex)));
		if (e->sql != NULL)
			cJSON_AddStringToObject(o, "query", e->sql);
		else
			cJSON_AddNullToObject(o, "query");
		cJSON_AddNumberToObject(o, "calls", (double)e->calls);
		cJSON_AddNumberToObject(o, "errors", (double)e->errors);
		cJSON_AddNumberToObject(o, "rows", (double)e->rows);
		cJSON_AddNumberToObject(o, "total_seconds", (double)e->total_ns / 1e9);
		cJSON_AddNumberToObject(o, "max_seconds", (double)e->max_ns / 1e9);
		cJSON_AddNumberToObject(o, "mean_seconds",
					e->calls ? (double)e->total_ns / 1e9 / (double)e->calls
						 : 0);
	}
	out = cJSON_PrintUnformatted(arr);
	cJSON_Delete(arr);
	return out;
}

void pgw_mstmt_free(void)
{
	struct shape *s, *stmp;
	struct text *t, *ttmp;
	struct stmt *e, *etmp;

	HASH_ITER (hh, shapes, s, stmp) {
		HASH_DEL(shapes, s);
		free(s);
	}
	HASH_ITER (hh, texts, t, ttmp) {
		HASH_DEL(texts, t);
		free(t->sql);
		free(t);
	}
	HASH_ITER (hh, stmts, e, etmp)
		stmt_free(e);
	nshapes = ntexts = nstmts = 0;
	pgw_sql_fingerprint_shutdown();
}
