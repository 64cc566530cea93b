/*
 * Interned statements and a server's set of them (prepared.h), and the tracker's undo of a
 * Parse under pgward's name that the server did not run.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "pgward/prepared.h"
#include "pgward/tracker.h"

static struct pgw_prepared *intern(const char *text)
{
	return pgw_prepared_intern("", 0, (const uint8_t *)text, strlen(text) + 1);
}

static void test_same_bytes_same_statement(void **state)
{
	struct pgw_prepared *a = intern("SELECT 1"), *b = intern("SELECT 1"), *c;
	(void)state;
	assert_ptr_equal(a, b);
	assert_int_equal(a->refs, 2);
	c = pgw_prepared_intern("", 0, (const uint8_t *)"SELECT 1\0\0\1", 11); /* a type */
	assert_ptr_not_equal(a, c);
	assert_true(c->id != a->id);
	assert_memory_equal(c->body, "SELECT 1\0\0\1", 11);
	{
		/* the same bytes of another tenant: another statement */
		struct pgw_prepared *t = pgw_prepared_intern("alice", 5, a->body, a->len);

		assert_ptr_not_equal(t, a);
		assert_int_equal(t->len, a->len);
		pgw_prepared_unref(t);
	}
	assert_int_equal(strncmp(a->name, "pgward_", 7), 0);
	assert_string_not_equal(a->name, c->name);
	assert_int_equal(pgw_prepared_count(), 2);
	pgw_prepared_unref(b);
	pgw_prepared_unref(a);
	pgw_prepared_unref(c);
	assert_int_equal(pgw_prepared_count(), 0);
}

static void test_least_recently_used_goes_first(void **state)
{
	struct pgw_held_stmts h = {0};
	struct pgw_prepared *p[4], *out;

	(void)state;
	for (int i = 0; i < 4; i++) {
		char text[32];

		snprintf(text, sizeof(text), "SELECT %d", i);
		p[i] = intern(text);
	}
	for (int i = 0; i < 3; i++)
		assert_int_equal(pgw_held_add(&h, p[i]), 0);
	assert_int_equal(h.count, 3);
	assert_null(pgw_held_evict(&h, 3));
	assert_true(pgw_held_use(&h, p[0])); /* p[1] is now the oldest */
	assert_int_equal(pgw_held_add(&h, p[3]), 0);
	out = pgw_held_evict(&h, 3);
	assert_ptr_equal(out, p[1]);
	pgw_prepared_unref(out);
	assert_false(pgw_held_use(&h, p[1]));
	assert_int_equal(pgw_held_add(&h, p[0]), 0); /* held already: no second entry */
	assert_int_equal(h.count, 3);
	pgw_held_forget(&h, p[2]->id);
	assert_false(pgw_held_use(&h, p[2]));
	assert_int_equal(h.count, 2);
	assert_int_equal(h.bytes, p[0]->len + p[3]->len);
	pgw_held_clear(&h);
	assert_int_equal(h.count, 0);
	assert_int_equal(h.bytes, 0);
	assert_null(h.lru);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(p[i]->refs, 1); /* the set let go of every reference */
		pgw_prepared_unref(p[i]);
	}
	assert_int_equal(pgw_prepared_count(), 0);
}

struct undone {
	int n;
	uint64_t server[8], client[8];
};

static void on_undo(void *arg, uint64_t server_id, uint64_t client_gen)
{
	struct undone *u = arg;

	u->server[u->n] = server_id;
	u->client[u->n] = client_gen;
	u->n++;
}

/* Parse(1) Parse(2) Bind Sync Parse(3) Sync: the first Parse fails, the second is skipped,
 * the third runs. */
static void test_undo_of_failed_and_skipped_parses(void **state)
{
	struct pgw_tracker t = {0};
	struct undone u = {0};
	struct pgw_resp_verdict v;

	(void)state;
	t.undo = on_undo;
	t.undo_arg = &u;
	assert_int_equal(pgw_tracker_push(&t, 'P', PGW_RESP_PASS, NULL, 0), 0);
	pgw_tracker_set_undo(&t, 11, 1);
	assert_int_equal(pgw_tracker_push_own(&t, 'P', 0, NULL, 0, 0), 0);
	pgw_tracker_set_undo(&t, 12, 0);
	assert_int_equal(pgw_tracker_push(&t, 'B', PGW_RESP_PASS, NULL, 0), 0);
	assert_int_equal(pgw_tracker_push(&t, 'S', PGW_RESP_PASS, NULL, 0), 0);
	assert_int_equal(pgw_tracker_push(&t, 'P', PGW_RESP_PASS, NULL, 0), 0);
	pgw_tracker_set_undo(&t, 13, 3);
	assert_int_equal(pgw_tracker_push(&t, 'S', PGW_RESP_PASS, NULL, 0), 0);
	v = pgw_tracker_on_backend(&t, 'E');
	assert_int_equal(v.action, PGW_RESP_PASS);
	assert_int_equal(u.n, 2);
	assert_int_equal(u.server[0], 11);
	assert_int_equal(u.client[0], 1);
	assert_int_equal(u.server[1], 12);
	assert_int_equal(u.client[1], 0);
	pgw_tracker_on_backend(&t, 'Z');
	pgw_tracker_on_backend(&t, '1');
	pgw_tracker_on_backend(&t, 'Z');
	assert_int_equal(u.n, 2); /* the third ran: nothing to undo */
	assert_int_equal(pgw_tracker_pending(&t), 0);
	pgw_tracker_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_bytes_same_statement),
		cmocka_unit_test(test_least_recently_used_goes_first),
		cmocka_unit_test(test_undo_of_failed_and_skipped_parses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
