/*
 * The tracker for pgward's own statements: HIDE entries swallow their answers but relay
 * an error, a Query's leading own statements are hidden, and errors with a chosen
 * SQLSTATE are swapped for pgward's own, once, with their notes reported.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "pgward/tracker.h"

static struct pgw_swap *swap_of(const char *sqlstate, const char *text, uint8_t note)
{
	struct pgw_swap *sw = calloc(1, sizeof(*sw));

	assert_non_null(sw);
	strcpy(sw->alt[0].sqlstate, sqlstate);
	sw->alt[0].error = (uint8_t *)strdup(text);
	sw->alt[0].len = (uint32_t)strlen(text);
	sw->alt[0].note = note;
	sw->n = 1;
	return sw;
}

/* Pushes pgward's Parse/Bind/Execute, then the client's Bind/Execute/Sync. */
static void push_batch(struct pgw_tracker *t, struct pgw_swap *sw)
{
	assert_int_equal(pgw_tracker_push_own(t, 'P', 0, NULL, 0, 1.0), 0);
	assert_int_equal(pgw_tracker_push_own(t, 'B', 0, NULL, 0, 1.0), 0);
	assert_int_equal(pgw_tracker_push_own(t, 'E', 0, sw, 7, 1.5), 0);
	assert_int_equal(pgw_tracker_push(t, 'B', PGW_RESP_PASS, NULL, 0), 0);
	assert_int_equal(pgw_tracker_push(t, 'E', PGW_RESP_PASS, NULL, 0), 0);
	assert_int_equal(pgw_tracker_push(t, 'S', PGW_RESP_PASS, NULL, 0), 0);
}

static void test_hidden_answers(void **state)
{
	struct pgw_tracker t = {0};
	struct pgw_resp_verdict v;
	(void)state;

	push_batch(&t, NULL);
	assert_int_equal(pgw_tracker_on_backend(&t, '1').action, PGW_RESP_SWALLOW);
	assert_int_equal(pgw_tracker_on_backend(&t, '2').action, PGW_RESP_SWALLOW);
	assert_int_equal(pgw_tracker_on_backend(&t, 'D').action, PGW_RESP_SWALLOW);
	v = pgw_tracker_on_backend(&t, 'C');
	assert_int_equal(v.action, PGW_RESP_SWALLOW);
	assert_int_equal(v.note, 7);
	assert_true(v.sent_at == 1.5);
	assert_int_equal(pgw_tracker_on_backend(&t, '2').action, PGW_RESP_PASS);
	assert_int_equal(pgw_tracker_on_backend(&t, 'C').action, PGW_RESP_PASS);
	assert_int_equal(pgw_tracker_on_backend(&t, 'Z').action, PGW_RESP_PASS);
	assert_int_equal(pgw_tracker_pending(&t), 0);
	pgw_tracker_free(&t);
}

static void test_own_error_swapped_or_relayed(void **state)
{
	struct pgw_tracker t = {0};
	struct pgw_resp_verdict v;
	(void)state;

	/* the chosen code: swapped, and the client's messages are skipped to Sync */
	push_batch(&t, swap_of("22P02", "ours", 3));
	pgw_tracker_on_backend(&t, '1');
	pgw_tracker_on_backend(&t, '2');
	assert_true(pgw_tracker_wants_sqlstate(&t));
	v = pgw_tracker_on_error(&t, "22P02");
	assert_int_equal(v.action, PGW_RESP_PASS);
	assert_non_null(v.error);
	assert_memory_equal(v.error, "ours", 4);
	assert_int_equal(v.swap_note, 3);
	free(v.error);
	assert_int_equal(pgw_tracker_pending(&t), 1); /* the Sync */
	assert_int_equal(pgw_tracker_on_backend(&t, 'Z').action, PGW_RESP_PASS);

	/* any other error (a deadlock, a timeout) reaches the client as it is */
	push_batch(&t, swap_of("22P02", "ours", 3));
	pgw_tracker_on_backend(&t, '1');
	pgw_tracker_on_backend(&t, '2');
	v = pgw_tracker_on_error(&t, "40P01");
	assert_int_equal(v.action, PGW_RESP_PASS);
	assert_null(v.error);
	assert_int_equal(pgw_tracker_pending(&t), 1);
	pgw_tracker_free(&t);
}

static void test_query_with_own_statements(void **state)
{
	struct pgw_tracker t = {0};
	struct pgw_resp_verdict v;
	const char *own = "TDCTDC", *client = "TDDC";
	(void)state;

	assert_int_equal(pgw_tracker_push_own(&t, 'Q', 2, swap_of("22012", "rr", 0), 5, 2.0), 0);
	for (const char *p = own; *p; p++)
		assert_int_equal(pgw_tracker_on_backend(&t, *p).action, PGW_RESP_SWALLOW);
	assert_false(pgw_tracker_wants_sqlstate(&t)); /* the client's own errors are its own */
	for (const char *p = client; *p; p++)
		assert_int_equal(pgw_tracker_on_backend(&t, *p).action, PGW_RESP_PASS);
	v = pgw_tracker_on_backend(&t, 'Z');
	assert_true(v.completes);

	/* an error in the first own statement is swapped; the note came with it */
	assert_int_equal(pgw_tracker_push_own(&t, 'Q', 2, swap_of("22012", "rr", 0), 5, 2.0), 0);
	v = pgw_tracker_on_error(&t, "22012");
	assert_non_null(v.error);
	assert_int_equal(v.note, 5);
	free(v.error);
	assert_true(pgw_tracker_on_backend(&t, 'Z').completes);
	assert_int_equal(pgw_tracker_pending(&t), 0);
	pgw_tracker_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hidden_answers),
		cmocka_unit_test(test_own_error_swapped_or_relayed),
		cmocka_unit_test(test_query_with_own_statements),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
