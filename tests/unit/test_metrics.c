/*
 * The metrics module without a network: histogram bucketing, label values (valid UTF-8
 * and escaped whatever bytes a name holds) and the exposition text, the tenant bound with
 * "_other" aggregation and idle expiry, the kind and shape of SQL texts, and the request
 * accounting of the relay hooks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "../../src/metrics/metrics-int.h"
#include "pgward/policy.h"
#include "pgward/proxy.h"
#include "pgward/sql.h"

static char *render(void)
{
	struct pgw_mbuf b = {0};

	pgw_metrics_render(&b);
	assert_false(b.oom);
	pgw_mbuf_put(&b, "", 1);
	return b.p;
}

static void test_bucketing(void **state)
{
	struct pgw_hist h = {0};

	assert_int_equal(pgw_hist_bucket(0), 0);
	assert_int_equal(pgw_hist_bucket(50000), 0); /* le is inclusive */
	assert_int_equal(pgw_hist_bucket(50001), 1);
	assert_int_equal(pgw_hist_bucket(999999), 4);
	assert_int_equal(pgw_hist_bucket(1000000), 4);
	assert_int_equal(pgw_hist_bucket(10000000000ull), PGW_HIST_BOUNDS - 1);
	assert_int_equal(pgw_hist_bucket(10000000001ull), PGW_HIST_BOUNDS);
	for (unsigned i = 1; i < PGW_HIST_BOUNDS; i++)
		assert_true(pgw_hist_bound_ns[i] > pgw_hist_bound_ns[i - 1]);
	pgw_hist_observe(&h, 30000);
	pgw_hist_observe(&h, 700000);
	pgw_hist_observe(&h, 20000000000ull);
	assert_int_equal(pgw_hist_count(&h), 3);
	assert_int_equal(h.sum_ns, 30000 + 700000 + 20000000000ull);
	assert_int_equal(h.counts[0], 1);
	assert_int_equal(h.counts[4], 1);
	assert_int_equal(h.counts[PGW_HIST_BOUNDS], 1);
}

/*
 * Whether <s> is valid UTF-8, decided apart from the code under test: each sequence is
 * decoded to its code point, which must not be overlong, a surrogate or above U+10FFFF.
 */
static bool utf8_ok(const char *s)
{
	static const uint32_t least[] = {0, 0, 0x80, 0x800, 0x10000};
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		uint32_t cp;
		int n;

		if (*p < 0x80) {
			p++;
			continue;
		}
		if ((*p & 0xe0) == 0xc0)
			n = 2, cp = *p & 0x1fu;
		else if ((*p & 0xf0) == 0xe0)
			n = 3, cp = *p & 0x0fu;
		else if ((*p & 0xf8) == 0xf0)
			n = 4, cp = *p & 0x07u;
		else
			return false;
		for (int k = 1; k < n; k++) {
			if ((p[k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (p[k] & 0x3fu);
		}
		if (cp < least[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		p += n;
	}
	return true;
}

/*
 * Undoes the label escapes of <label> into <out>; false if <label> is not a well-formed
 * Prometheus label value (a bare quote or newline, an unknown or dangling escape).
 */
static bool label_unescape(const char *label, char *out)
{
	for (; *label; label++) {
		if (*label == '"' || *label == '\n')
			return false;
		if (*label != '\\') {
			*out++ = *label;
			continue;
		}
		label++;
		if (*label == '\\' || *label == '"')
			*out++ = *label;
		else if (*label == 'n')
			*out++ = '\n';
		else
			return false;
	}
	*out = '\0';
	return true;
}

#define FFFD "\xef\xbf\xbd"

static void test_label_escaping(void **state)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
		/* the text format's three escapes; other control characters are valid as they are
		 */
		{"a\"b\\c\nd", "a\\\"b\\\\c\\nd"},
		{"plain_tenant-1", "plain_tenant-1"},
		{"tab\there\rcr\x01", "tab\there\rcr\x01"},
		/* valid UTF-8 passes, the edges of each length included */
		{"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
		 "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"},
		{"\xc2\x80\xdf\xbf", "\xc2\x80\xdf\xbf"},		  /* U+0080, U+07FF */
		{"\xe0\xa0\x80\xed\x9f\xbf", "\xe0\xa0\x80\xed\x9f\xbf"}, /* U+0800, U+D7FF */
		{"\xee\x80\x80\xef\xbf\xbf", "\xee\x80\x80\xef\xbf\xbf"}, /* U+E000, U+FFFF */
		{"\xf0\x90\x80\x80\xf4\x8f\xbf\xbf",
		 "\xf0\x90\x80\x80\xf4\x8f\xbf\xbf"}, /* U+10000.. */
		/* 0xff, 0xfe and the other bytes that never start a sequence */
		{"\xff", FFFD},
		{"\xff\xfe", FFFD FFFD},
		{"a\xf5\x80\x80\x80z", "a" FFFD FFFD FFFD FFFD "z"},
		/* lone continuation bytes: one U+FFFD each */
		{"\x80", FFFD},
		{"a\xbf\xbf"
		 "b",
		 "a" FFFD FFFD "b"},
		/* overlong forms: the lead byte cannot start one, so each byte is replaced */
		{"\xc0\xaf", FFFD FFFD},
		{"\xc1\xbf", FFFD FFFD},
		{"\xe0\x80\xaf", FFFD FFFD FFFD},
		{"\xf0\x80\x80\xaf", FFFD FFFD FFFD FFFD},
		/* surrogates (U+D800, U+DFFF) and a code point above U+10FFFF */
		{"\xed\xa0\x80", FFFD FFFD FFFD},
		{"\xed\xbf\xbf", FFFD FFFD FFFD},
		{"\xf4\x90\x80\x80", FFFD FFFD FFFD FFFD},
		/* sequences cut short: one U+FFFD for the whole valid prefix (maximal subpart) */
		{"\xe2\x82", FFFD},
		{"\xe2\x82z", FFFD "z"},
		{"\xf0\x9f\x98", FFFD},
		{"\xf0\x9f\x98\"", FFFD "\\\""},
		{"\xc3", FFFD},
		{"\xe2\x82\xe2\x82\xac", FFFD "\xe2\x82\xac"},
		/* invalid bytes next to what must be escaped */
		{"\"\xff\\\n\xc3", "\\\"" FFFD "\\\\\\n" FFFD},
	};
	char out[128], back[128];

	for (size_t i = 0; i < PGW_ARRAY_LEN(cases); i++) {
		print_message("case %zu\n", i);
		assert_true(pgw_mlabel_escape(cases[i].in, out, sizeof(out)));
		assert_string_equal(out, cases[i].want);
		assert_true(utf8_ok(out));
		/* pgw_mtext_clean is the same without the escapes */
		assert_true(label_unescape(out, back));
		assert_true(pgw_mtext_clean(cases[i].in, out, sizeof(out)));
		assert_string_equal(out, back);
	}
}

static void test_label_truncation(void **state)
{
	char out[64];

	/* cut before an escape pair rather than through it */
	assert_false(pgw_mlabel_escape("ab\"", out, 4));
	assert_string_equal(out, "ab");
	/* and before a character: "a€" needs 4 bytes and a NUL */
	assert_false(pgw_mlabel_escape("a\xe2\x82\xac", out, 4));
	assert_string_equal(out, "a");
	assert_true(pgw_mlabel_escape("a\xe2\x82\xac", out, 5));
	assert_string_equal(out, "a\xe2\x82\xac");
	assert_false(pgw_mtext_clean("\xf0\x9f\x98\x80", out, 4));
	assert_string_equal(out, "");
	/* nor through the U+FFFD that stands for an invalid byte */
	assert_false(pgw_mtext_clean("x\xff", out, 4));
	assert_string_equal(out, "x");
	assert_true(pgw_mtext_clean("x\xff", out, 5));
	assert_string_equal(out, "x" FFFD);
	assert_false(pgw_mtext_clean("x", out, 0));
	assert_true(pgw_mtext_clean("", out, 0));
	assert_true(pgw_mtext_clean("", out, 1));
	assert_string_equal(out, "");
}

/* A byte likely to matter: sequence starts and ends, escapes, and anything at all. */
static unsigned char interesting_byte(void)
{
	static const unsigned char picks[] = {'a',  '"',  '\\', '\n', 0x7f, 0x80, 0x8f, 0x90,
					      0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0,
					      0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xfe, 0xff};
	unsigned r = (unsigned)rand();

	if (r % 4 == 0)
		return (unsigned char)(1 + (r >> 2) % 255);
	return picks[(r >> 2) % sizeof(picks)];
}

/*
 * Random bytes, every buffer size: the result is always valid UTF-8 and a well-formed
 * label value, a cut one is a prefix of the whole one, and nothing is written past outlen.
 */
static void test_label_any_bytes(void **state)
{
	srand(20240611);
	for (int round = 0; round < 3000; round++) {
		char in[48], full[200], clean[200], back[200], out[220];
		size_t len = (size_t)rand() % (sizeof(in) - 1);

		for (size_t i = 0; i < len; i++)
			in[i] = (char)interesting_byte();
		in[len] = '\0';
		assert_true(pgw_mlabel_escape(in, full, sizeof(full)));
		assert_true(pgw_mtext_clean(in, clean, sizeof(clean)));
		if (!utf8_ok(full) || !label_unescape(full, back) || strcmp(back, clean) != 0)
			fail_msg("round %d: bad label for input of %zu bytes", round, len);
		if (utf8_ok(in))
			assert_string_equal(clean, in); /* valid text is left alone */
		for (size_t outlen = 1; outlen <= strlen(full) + 1; outlen++) {
			memset(out, '#', sizeof(out));
			assert_int_equal(pgw_mlabel_escape(in, out, outlen), outlen > strlen(full));
			for (size_t j = outlen; j < sizeof(out); j++)
				if (out[j] != '#')
					fail_msg("round %d outlen %zu: byte %zu written", round,
						 outlen, j);
			if (strncmp(out, full, strlen(out)) != 0 || !utf8_ok(out) ||
			    !label_unescape(out, back))
				fail_msg("round %d outlen %zu: bad cut", round, outlen);
		}
	}
}

static void test_histogram_text(void **state)
{
	struct pgw_mbuf b = {0};
	struct pgw_hist h = {0};

	pgw_hist_observe(&h, 60000);   /* 0.0001 bucket */
	pgw_hist_observe(&h, 1500000); /* 0.002 bucket */
	pgw_mbuf_hist(&b, "x_seconds", "tenant=\"t\"", &h);
	pgw_mbuf_put(&b, "", 1);
	assert_non_null(strstr(b.p, "x_seconds_bucket{tenant=\"t\",le=\"5e-05\"} 0\n"
				    "x_seconds_bucket{tenant=\"t\",le=\"0.0001\"} 1\n"));
	assert_non_null(strstr(b.p, "x_seconds_bucket{tenant=\"t\",le=\"0.002\"} 2\n"));
	assert_non_null(strstr(b.p, "x_seconds_bucket{tenant=\"t\",le=\"+Inf\"} 2\n"
				    "x_seconds_sum{tenant=\"t\"} 0.00156\n"
				    "x_seconds_count{tenant=\"t\"} 2\n"));
	pgw_mbuf_free(&b);
	pgw_mbuf_hist(&b, "y", "", &h);
	pgw_mbuf_put(&b, "", 1);
	assert_non_null(strstr(b.p,
			       "y_bucket{le=\"10\"} 2\ny_bucket{le=\"+Inf\"} 2\ny_sum 0.00156\n"
			       "y_count 2\n"));
	pgw_mbuf_free(&b);
}

static void test_cardinality_bound(void **state)
{
	struct pgw_mregistry r;
	struct pgw_mtenant *t[6];
	char name[16];

	assert_int_equal(pgw_mreg_init(&r), 0);
	for (int i = 0; i < 5; i++) {
		snprintf(name, sizeof(name), "user%d", i);
		t[i] = pgw_mreg_acquire(&r, name, 3);
	}
	assert_int_equal(r.count, 3);
	assert_ptr_not_equal(t[0], t[1]);
	assert_ptr_equal(t[3], r.other);
	assert_ptr_equal(t[4], r.other);
	assert_int_equal(r.other->conns, 2);
	assert_int_equal(r.overflow, 2);
	/* a tracked tenant is found again; nobody can claim _other's name */
	assert_ptr_equal(pgw_mreg_acquire(&r, "user1", 3), t[1]);
	assert_int_equal(t[1]->conns, 2);
	t[5] = pgw_mreg_acquire(&r, PGW_MT_OTHER, 3);
	assert_ptr_equal(t[5], r.other);
	/* a million distinct names never grow the table past the bound */
	for (int i = 0; i < 100000; i++) {
		snprintf(name, sizeof(name), "many%d", i);
		pgw_mreg_release(&r, pgw_mreg_acquire(&r, name, 3), 0);
	}
	assert_int_equal(r.count, 3);
	assert_int_equal(HASH_COUNT(r.by_name), 3);
	pgw_mreg_free(&r);
}

static void test_idle_expiry(void **state)
{
	struct pgw_mregistry r;
	struct pgw_mtenant *busy, *idle;

	assert_int_equal(pgw_mreg_init(&r), 0);
	busy = pgw_mreg_acquire(&r, "busy", 10);
	idle = pgw_mreg_acquire(&r, "idle", 10);
	pgw_mreg_release(&r, idle, 100.0);
	pgw_mreg_expire(&r, 150.0, 60.0);
	assert_int_equal(r.count, 2);
	pgw_mreg_expire(&r, 161.0, 60.0);
	assert_int_equal(r.count, 1);
	assert_int_equal(r.expired, 1);
	pgw_mreg_expire(&r, 1e9, 60.0); /* a tenant with sessions never expires */
	assert_int_equal(r.count, 1);
	assert_int_equal(busy->conns, 1);
	/* an expired name comes back as a new tenant, from zero */
	idle = pgw_mreg_acquire(&r, "idle", 10);
	assert_int_equal(pgw_hist_count(&idle->query[PGW_MK_SELECT]), 0);
	assert_int_equal(r.count, 2);
	pgw_mreg_free(&r);
}

static void test_kind_of_sql(void **state)
{
	static const struct {
		const char *sql;
		enum pgw_mkind kind;
	} cases[] = {
		{"SELECT 1", PGW_MK_SELECT},
		{"  \n\t-- c\n/* a /* nested */ b */ (select 1)", PGW_MK_SELECT},
		{"with x as (select 1) select * from x", PGW_MK_SELECT},
		{"VALUES (1)", PGW_MK_SELECT},
		{"TABLE t", PGW_MK_SELECT},
		{"show work_mem", PGW_MK_SELECT},
		{"Insert into t values (1)", PGW_MK_INSERT},
		{"UPDATE t SET a = 1", PGW_MK_UPDATE},
		{"delete from t", PGW_MK_DELETE},
		{"CREATE TABLE t (a int)", PGW_MK_DDL},
		{"alter table t add b int", PGW_MK_DDL},
		{"DROP TABLE t", PGW_MK_DDL},
		{"TRUNCATE t", PGW_MK_DDL},
		{"COPY t FROM STDIN", PGW_MK_COPY},
		{"BEGIN", PGW_MK_UTILITY},
		{"commit", PGW_MK_UTILITY},
		{"SET search_path = x", PGW_MK_UTILITY},
		{"MERGE INTO t USING s ON true WHEN MATCHED THEN DO NOTHING", PGW_MK_OTHER},
		{"", PGW_MK_OTHER},
		{"/* unterminated", PGW_MK_OTHER},
		{"selection", PGW_MK_OTHER},
	};

	for (size_t i = 0; i < PGW_ARRAY_LEN(cases); i++)
		if (pgw_mkind_of_sql(cases[i].sql, strlen(cases[i].sql)) != cases[i].kind)
			fail_msg("%s: expected %s", cases[i].sql, pgw_mkind_names[cases[i].kind]);
}

static uint64_t shape(const char *s)
{
	return pgw_sql_shape_hash(s, strlen(s));
}

/* The statements' shapes (pgw_sql_shape_hash), by which fingerprints are kept. */
static void test_shape(void **state)
{
	/* the same shape: only the constants' values differ */
	assert_int_equal(shape("SELECT * FROM t WHERE a = 1"),
			 shape("SELECT * FROM t WHERE a = 12345"));
	assert_int_equal(shape("SELECT 'a', 1.5e3"), shape("SELECT 'b''c', .5"));
	assert_int_equal(shape("SELECT $$a'b$$"), shape("SELECT $q$x$q$"));
	/* different shapes */
	assert_int_not_equal(shape("SELECT a1 FROM t"), shape("SELECT a2 FROM t"));
	assert_int_not_equal(shape("SELECT $1"), shape("SELECT $2"));
	assert_int_not_equal(shape("SELECT \"A\""), shape("SELECT \"a\""));
	assert_int_not_equal(shape("SELECT 1"), shape("SELECT 1, 2"));
	assert_int_not_equal(shape("SELECT 1"), shape("SELECT '1'"));
	assert_int_not_equal(shape("SELECT 1"), shape("SELECT 1.0"));
	/* broken texts end safely */
	assert_int_not_equal(shape("SELECT 'unterminated"), shape("SELECT 'other"));
	assert_int_not_equal(shape("SELECT $tag$ unterminated"), 0);
	assert_int_not_equal(shape(""), 0);
}

static void query(struct pgw_msess *m, const char *sql)
{
	pgw_metrics_client_msg(m, 'Q', (const uint8_t *)sql, strlen(sql) + 1, false, NULL, NULL);
	pgw_metrics_sent(m, 'Q');
}

static void metrics_on(unsigned max_tenants)
{
	memset(&pgw.cfg, 0, sizeof(pgw.cfg));
	pgw.cfg.metrics_listen_port = 9187;
	pgw.cfg.metrics_max_tenants = (int)max_tenants;
	pgw_metrics_init();
	assert_true(pgw_metrics_enabled());
}

static void test_other_aggregation(void **state)
{
	struct pgw_msess a = {0}, b = {0}, c = {0};
	char *text;

	metrics_on(1);
	pgw_metrics_login(&a, "alice");
	pgw_metrics_login(&b, "bob\n\"x\"");
	pgw_metrics_login(&c, "carol");
	query(&a, "SELECT 1");
	query(&b, "SELECT 2");
	query(&c, "insert into t values (1)");
	pgw_metrics_ready(&a, 'I');
	pgw_metrics_ready(&b, 'I');
	pgw_metrics_ready(&c, 'I');
	text = render();
	assert_non_null(strstr(text, "pgward_queries_total{tenant=\"alice\",kind=\"select\","
				     "outcome=\"ok\"} 1\n"));
	assert_non_null(strstr(text, "pgward_queries_total{tenant=\"_other\",kind=\"select\","
				     "outcome=\"ok\"} 1\n"));
	assert_non_null(strstr(text, "pgward_queries_total{tenant=\"_other\",kind=\"insert\","
				     "outcome=\"ok\"} 1\n"));
	assert_non_null(strstr(text, "pgward_client_connections{tenant=\"_other\"} 2\n"));
	assert_null(strstr(text, "bob"));
	free(text);
	pgw_metrics_session_end(&a);
	pgw_metrics_session_end(&b);
	pgw_metrics_session_end(&c);
	pgw_metrics_shutdown();
}

static void test_escaped_tenant_in_exposition(void **state)
{
	struct pgw_msess a = {0};
	char *text;

	metrics_on(10);
	pgw_metrics_login(&a, "evil\"} 1\nfake_metric{x=\"\\");
	query(&a, "SELECT 1");
	pgw_metrics_ready(&a, 'I');
	text = render();
	assert_non_null(strstr(text, "pgward_client_connections{tenant=\"evil\\\"} 1\\nfake_metric"
				     "{x=\\\"\\\\\"} 1\n"));
	/* every line is a comment or one sample: no injected line starts with fake_metric */
	assert_null(strstr(text, "\nfake_metric"));
	free(text);
	pgw_metrics_session_end(&a);
	pgw_metrics_shutdown();
}

static void test_clean_tenant_names(void **state)
{
	struct pgw_mregistry r;
	struct pgw_mtenant *a, *d;
	char longname[401] = "";

	assert_int_equal(pgw_mreg_init(&r), 0);
	/* names equal once cleaned are one tenant, so never two series with one label */
	a = pgw_mreg_acquire(&r, "a\xff", 10);
	assert_ptr_equal(pgw_mreg_acquire(&r, "a\xfe", 10), a);
	assert_ptr_equal(pgw_mreg_acquire(&r, "a" FFFD, 10), a);
	assert_string_equal(a->name, "a" FFFD);
	assert_string_equal(a->label, "a" FFFD);
	assert_int_equal(a->conns, 3);
	assert_int_equal(r.count, 1);
	/* 200 two-byte characters: cut between characters, and found again by the same name */
	for (int i = 0; i < 200; i++)
		strcat(longname, "\xc3\xa9");
	d = pgw_mreg_acquire(&r, longname, 10);
	assert_int_equal(strlen(d->name), PGW_MT_NAME_MAX - 2);
	assert_true(utf8_ok(d->name) && utf8_ok(d->label));
	assert_ptr_equal(pgw_mreg_acquire(&r, longname, 10), d);
	assert_int_equal(r.count, 2);
	/* a name of nothing but quotes still fits its label whole */
	memset(longname, '"', 400);
	longname[400] = '\0';
	d = pgw_mreg_acquire(&r, longname, 10);
	assert_int_equal(strlen(d->label), 2 * (PGW_MT_NAME_MAX - 1));
	pgw_mreg_free(&r);
}

/* name, optional {k="v",...}, one blank, a value: the only shape a sample line may have */
static bool sample_line_ok(const char *p)
{
	char value[PGW_MT_LABEL_MAX + 64], back[sizeof(value)];

	if (!(*p == '_' || *p == ':' || ((*p | 0x20) >= 'a' && (*p | 0x20) <= 'z')))
		return false;
	while (*p == '_' || *p == ':' || ((*p | 0x20) >= 'a' && (*p | 0x20) <= 'z') ||
	       (*p >= '0' && *p <= '9'))
		p++;
	if (*p == '{') {
		do {
			size_t n = 0;

			p++;
			while (*p == '_' || ((*p | 0x20) >= 'a' && (*p | 0x20) <= 'z'))
				p++;
			if (p[0] != '=' || p[1] != '"')
				return false;
			for (p += 2; *p != '"'; p++) {
				if (*p == '\0' || n + 2 >= sizeof(value))
					return false;
				if (*p == '\\')
					value[n++] = *p++;
				value[n++] = *p;
			}
			value[n] = '\0';
			if (!label_unescape(value, back))
				return false;
			p++;
		} while (*p == ',');
		if (*p++ != '}')
			return false;
	}
	return *p == ' ' && p[1] != '\0' && strchr(p + 1, ' ') == NULL;
}

/* The whole exposition is valid UTF-8, and every line a comment or one sample. */
static void check_exposition(char *text)
{
	char *save = NULL;

	assert_true(utf8_ok(text));
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		if (strncmp(line, "# HELP ", 7) != 0 && strncmp(line, "# TYPE ", 7) != 0 &&
		    !sample_line_ok(line))
			fail_msg("not a sample line: %s", line);
}

static size_t count_of(const char *text, const char *what)
{
	size_t n = 0;

	for (const char *p = text; (p = strstr(p, what)) != NULL; p += strlen(what))
		n++;
	return n;
}

static void test_exposition_is_utf8(void **state)
{
	static const char *const names[] = {
		"\xff\xfe", "\xc0\xaf", "\xed\xa0\x80", "x\xe2\x82", "q\"b\\n\nl\xff\"} 1\nfake 2",
	};
	struct pgw_msess m[PGW_ARRAY_LEN(names) + 1] = {0};
	char euros[301] = "", want[320];
	char *text;

	metrics_on(100);
	for (int i = 0; i < 100; i++)
		strcat(euros, "\xe2\x82\xac");
	for (size_t i = 0; i < PGW_ARRAY_LEN(names); i++)
		pgw_metrics_login(&m[i], names[i]);
	pgw_metrics_login(&m[PGW_ARRAY_LEN(names)], euros);
	for (size_t i = 0; i < PGW_ARRAY_LEN(m); i++) {
		query(&m[i], "SELECT 1");
		pgw_metrics_ready(&m[i], 'I');
	}
	pgw_metrics_client_msg(&m[0], 'Q', (const uint8_t *)"DROP TABLE t", 13, true, NULL, NULL);
	pgw_metrics_refused(&m[0], 'Q', "rule\xc3");
	pgw_metrics_ready(&m[0], 'I');
	pgw_metrics_job_lock_wait("jobs\xff\"\\", 0.01);
	text = render();
	/* "\xff\xfe" and "\xc0\xaf" are both two U+FFFD: one tenant, one series */
	assert_int_equal(count_of(text, "pgward_client_connections{tenant=\"" FFFD FFFD "\"} 2\n"),
			 1);
	assert_int_equal(
		count_of(text, "{tenant=\"" FFFD FFFD "\",kind=\"select\",outcome=\"ok\"} 2\n"), 1);
	assert_non_null(strstr(text, "{tenant=\"" FFFD FFFD FFFD "\"} 1\n"));
	assert_non_null(strstr(text, "{tenant=\"x" FFFD "\"} 1\n"));
	assert_non_null(strstr(text, "{tenant=\"q\\\"b\\\\n\\nl" FFFD "\\\"} 1\\nfake 2\"} 1\n"));
	assert_non_null(strstr(text, "rule=\"rule" FFFD "\"} 1\n"));
	assert_non_null(strstr(text, "table=\"jobs" FFFD "\\\"\\\\\",le=\"+Inf\"} 1\n"));
	/* 100 euro signs cut to 42 (126 bytes), not through the 43rd */
	euros[42 * 3] = '\0';
	snprintf(want, sizeof(want), "{tenant=\"%s\"}", euros);
	assert_non_null(strstr(text, want));
	check_exposition(text);
	free(text);
	for (size_t i = 0; i < PGW_ARRAY_LEN(m); i++)
		pgw_metrics_session_end(&m[i]);
	pgw_metrics_shutdown();
}

/* /statements is JSON, so valid UTF-8: texts are cut between characters, names cleaned. */
static void test_statements_stay_utf8(void **state)
{
	struct pgw_msess m = {0};
	char *sql = malloc(8192), *json;
	cJSON *arr, *e;
	const char *q;

	metrics_on(10);
	pgw.cfg.metrics_statements_top = 10;
	pgw.cfg.metrics_statements_max = 100;
	pgw_metrics_login(&m, "t\xff");
	/* 2-byte characters from byte 8 on: a cut at byte 2045 falls inside one */
	strcpy(sql, "SELECT \"");
	for (int i = 0; i < 1100; i++)
		strcat(sql, "\xc3\xa9");
	strcat(sql, "\" FROM t WHERE a = 42");
	query(&m, sql);
	pgw_metrics_ready(&m, 'I');
	json = pgw_metrics_statements_json();
	assert_non_null(json);
	assert_true(utf8_ok(json));
	arr = cJSON_Parse(json);
	assert_int_equal(cJSON_GetArraySize(arr), 1);
	e = cJSON_GetArrayItem(arr, 0);
	assert_string_equal(cJSON_GetObjectItem(e, "tenant")->valuestring, "t" FFFD);
	q = cJSON_GetObjectItem(e, "query")->valuestring;
	assert_true(utf8_ok(q));
	assert_int_equal(strncmp(q, "SELECT \"\xc3\xa9", 10), 0);
	assert_true(strlen(q) <= 2048 && strlen(q) >= 2040);
	assert_string_equal(q + strlen(q) - 3, "...");
	cJSON_Delete(arr);
	free(json);
	free(sql);
	pgw_metrics_session_end(&m);
	pgw_metrics_shutdown();
}

/* Every statement slow: the log takes the first 100 of a burst and counts the rest. */
static void test_slow_log_is_rate_limited(void **state)
{
	struct pgw_msess m = {0};
	char text[65536];
	size_t len = 0;
	ssize_t n;
	int fds[2], saved;

	metrics_on(10);
	pgw.cfg.metrics_slow_statement_time = 1e-9;
	pgw_metrics_login(&m, "slow");
	assert_int_equal(pipe(fds), 0);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	dup2(fds[1], STDERR_FILENO);
	close(fds[1]);
	for (int i = 0; i < 150; i++) {
		query(&m, "SELECT 1");
		pgw_metrics_ready(&m, 'I');
	}
	dup2(saved, STDERR_FILENO);
	close(saved);
	fcntl(fds[0], F_SETFL, O_NONBLOCK);
	while ((n = read(fds[0], text + len, sizeof(text) - 1 - len)) > 0)
		len += (size_t)n;
	text[len] = '\0';
	close(fds[0]);
	assert_int_equal(count_of(text, "event=slow_statement tenant=\"slow\""), 100);
	assert_int_equal(m.tenant->queries[PGW_MK_SELECT][PGW_MO_OK], 150);
	pgw_metrics_session_end(&m);
	pgw_metrics_shutdown();
}

static void test_request_accounting(void **state)
{
	struct pgw_msess m = {0};
	struct pgw_mtenant *t;
	struct pgw_stmt_map stmts = {0};
	struct pgw_stmt_tag tag = {0};
	static const uint8_t parse_ins[] = "ins\0INSERT INTO t VALUES ($1)\0\0";
	static const uint8_t bind_ins[] = "\0ins\0\0\0\0\0\0";

	metrics_on(10);
	pgw_metrics_login(&m, "app");
	t = m.tenant;
	/* 40 pipelined queries: the ring grows, every one is counted once, in order */
	for (int i = 0; i < 40; i++)
		query(&m, i % 2 ? "SELECT 1" : "UPDATE t SET a = 1 WHERE b");
	for (int i = 0; i < 40; i++)
		pgw_metrics_ready(&m, 'I');
	assert_int_equal(t->queries[PGW_MK_SELECT][PGW_MO_OK], 20);
	assert_int_equal(t->queries[PGW_MK_UPDATE][PGW_MO_OK], 20);
	pgw_metrics_ready(&m, 'I'); /* no request pending: not counted */
	assert_int_equal(pgw_hist_count(&t->query[PGW_MK_SELECT]), 20);

	/* extended protocol: a named statement's kind comes back at Bind from the tag kept in the
	 * session's map of statements; an error counts */
	pgw_metrics_client_msg(&m, 'P', parse_ins, sizeof(parse_ins) - 1, false, &stmts, &tag);
	assert_int_equal(tag.kind, PGW_MK_INSERT);
	assert_int_equal(
		pgw_stmt_map_put_parse(&stmts, parse_ins, sizeof(parse_ins) - 1, NULL, &tag), 0);
	pgw_metrics_sent(&m, 'P');
	pgw_metrics_sent(&m, 'S');
	pgw_metrics_ready(&m, 'I');
	pgw_metrics_client_msg(&m, 'B', bind_ins, sizeof(bind_ins) - 1, false, &stmts, NULL);
	pgw_metrics_sent(&m, 'B');
	pgw_metrics_sent(&m, 'E');
	pgw_metrics_server_error(&m);
	pgw_metrics_sent(&m, 'S');
	pgw_metrics_ready(&m, 'I');
	assert_int_equal(t->queries[PGW_MK_INSERT][PGW_MO_OK], 1);
	assert_int_equal(t->queries[PGW_MK_INSERT][PGW_MO_ERROR], 1);

	/* a refusal; then a transaction block I -> T -> I */
	pgw_metrics_client_msg(&m, 'Q', (const uint8_t *)"DROP TABLE t", 13, true, NULL, NULL);
	pgw_metrics_refused(&m, 'Q', "drop_table");
	pgw_metrics_ready(&m, 'I');
	assert_int_equal(t->queries[PGW_MK_DDL][PGW_MO_REFUSED], 1);
	assert_string_equal(t->refused[0].rule, "drop_table");
	assert_int_equal(t->refused[0].n, 1);
	query(&m, "BEGIN");
	pgw_metrics_ready(&m, 'T');
	query(&m, "COMMIT");
	pgw_metrics_ready(&m, 'I');
	assert_int_equal(pgw_hist_count(&t->tx), 1);

	pgw_metrics_bytes(&m, true, 100);
	pgw_metrics_bytes(&m, false, 250);
	assert_int_equal(t->bytes[0], 100);
	assert_int_equal(t->bytes[1], 250);
	pgw_stmt_map_clear(&stmts);
	pgw_metrics_session_end(&m);
	assert_int_equal(t->conns, 0);
	pgw_metrics_shutdown();
}

static void test_off_is_inert(void **state)
{
	struct pgw_msess m = {0};

	memset(&pgw.cfg, 0, sizeof(pgw.cfg));
	pgw_metrics_init();
	assert_false(pgw_metrics_enabled());
	pgw_metrics_login(&m, "app");
	assert_null(m.tenant);
	query(&m, "SELECT 1");
	pgw_metrics_ready(&m, 'I');
	assert_null(m.ring);
	pgw_metrics_session_end(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bucketing),
		cmocka_unit_test(test_label_escaping),
		cmocka_unit_test(test_label_truncation),
		cmocka_unit_test(test_label_any_bytes),
		cmocka_unit_test(test_histogram_text),
		cmocka_unit_test(test_cardinality_bound),
		cmocka_unit_test(test_idle_expiry),
		cmocka_unit_test(test_kind_of_sql),
		cmocka_unit_test(test_shape),
		cmocka_unit_test(test_other_aggregation),
		cmocka_unit_test(test_escaped_tenant_in_exposition),
		cmocka_unit_test(test_clean_tenant_names),
		cmocka_unit_test(test_exposition_is_utf8),
		cmocka_unit_test(test_statements_stay_utf8),
		cmocka_unit_test(test_slow_log_is_rate_limited),
		cmocka_unit_test(test_request_accounting),
		cmocka_unit_test(test_off_is_inert),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
