/*
 * The response tracker against the v3 protocol's answer rules: each case is a list of
 * client requests and the server's answers, with the verdict expected for each answer.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "pgward/tracker.h"

/* Pushes every type in <types> with <action>. */
static void push_all(struct pgw_tracker *t, const char *types, enum pgw_resp_action action)
{
	for (const char *p = types; *p; p++)
		assert_int_equal(pgw_tracker_push(t, *p, action, NULL, 0), 0);
}

/*
 * Feeds server message types in <answers>; <expect> has one letter per answer:
 * 'p' pass, 'P' pass and completes, 's' swallow, 'S' swallow and completes.
 */
static void feed(struct pgw_tracker *t, const char *answers, const char *expect)
{
	assert_int_equal(strlen(answers), strlen(expect));
	for (size_t i = 0; answers[i]; i++) {
		struct pgw_resp_verdict v = pgw_tracker_on_backend(t, answers[i]);
		char got = v.action == PGW_RESP_SWALLOW ? 's' : 'p';

		if (v.completes)
			got = (char)(got - 'a' + 'A');
		if (got != expect[i])
			fail_msg("answer %zu ('%c'): expected '%c', got '%c'", i, answers[i],
				 expect[i], got);
		free(v.error);
	}
}

static void test_simple_query(void **state)
{
	struct pgw_tracker t = {0};

	push_all(&t, "Q", PGW_RESP_PASS);
	feed(&t, "TDDCZ", "ppppP");
	assert_int_equal(pgw_tracker_pending(&t), 0);
	pgw_tracker_free(&t);
}

static void test_extended_batch(void **state)
{
	struct pgw_tracker t = {0};

	push_all(&t, "PBDES", PGW_RESP_PASS);
	feed(&t, "12TDDCZ", "PPPppPP");
	assert_int_equal(pgw_tracker_pending(&t), 0);
	pgw_tracker_free(&t);
}

static void test_describe_statement(void **state)
{
	struct pgw_tracker t = {0};

	push_all(&t, "PDS", PGW_RESP_PASS);
	feed(&t, "1tnZ", "PpPP");
	pgw_tracker_free(&t);
}

static void test_error_skips_to_sync(void **state)
{
	struct pgw_tracker t = {0};

	/* Parse fails: Bind, Execute, Close are skipped by the server; Sync answers. */
	push_all(&t, "PBECS", PGW_RESP_PASS);
	feed(&t, "E", "P");
	assert_int_equal(pgw_tracker_pending(&t), 1);
	feed(&t, "Z", "P");
	assert_int_equal(pgw_tracker_pending(&t), 0);
	pgw_tracker_free(&t);
}

/* A batch without its Sync leaves nothing owed once a Flush got its answers, or once an
 * error made the server skip the rest: only batch_open says the server is not at rest. */
static void test_batch_open_until_sync(void **state)
{
	struct pgw_tracker t = {0};

	push_all(&t, "Q", PGW_RESP_PASS);
	feed(&t, "CZ", "pP");
	assert_false(t.batch_open);
	push_all(&t, "P", PGW_RESP_PASS);
	feed(&t, "E", "P");
	assert_int_equal(pgw_tracker_pending(&t), 0);
	assert_true(t.batch_open);
	push_all(&t, "Q", PGW_RESP_PASS); /* a Query inside the batch does not end it */
	assert_true(t.batch_open);
	push_all(&t, "S", PGW_RESP_PASS);
	assert_false(t.batch_open);
	feed(&t, "CZZ", "pPP");
	push_all(&t, "BE", PGW_RESP_PASS); /* answered through a Flush, no Sync */
	feed(&t, "2C", "PP");
	assert_int_equal(pgw_tracker_pending(&t), 0);
	assert_true(t.batch_open);
	pgw_tracker_free(&t);
}

static void test_error_in_query_waits_for_z(void **state)
{
	struct pgw_tracker t = {0};

	push_all(&t, "QQ", PGW_RESP_PASS);
	feed(&t, "EZ", "pP");
	feed(&t, "CZ", "pP");
	pgw_tracker_free(&t);
}

static void test_swallow_injected(void **state)
{
	struct pgw_tracker t = {0};

	push_all(&t, "Q", PGW_RESP_SWALLOW);
	push_all(&t, "Q", PGW_RESP_PASS);
	feed(&t, "CZ", "sS");
	feed(&t, "TDCZ", "pppP");
	/* Notifications and ParameterStatus belong to no request. */
	push_all(&t, "PBES", PGW_RESP_SWALLOW);
	feed(&t, "A", "p");
	feed(&t, "12DDCSZ", "SSssSpS");
	pgw_tracker_free(&t);
}

/*
 * EXECUTE p alone behind pgward's own PREPARE of p (a Sync, then a Query of its own): when
 * the PREPARE fails, its error is the client's and the EXECUTE's is swallowed; when it
 * succeeds, the EXECUTE's own error passes. A Query not muted passes its error always.
 */
static void test_an_own_failure_mutes_the_query_it_served(void **state)
{
	struct pgw_tracker t = {0};

	for (int fails = 1; fails >= 0; fails--) {
		push_all(&t, "S", PGW_RESP_SWALLOW);
		push_all(&t, "Q", PGW_RESP_HIDE);
		push_all(&t, "Q", PGW_RESP_PASS);
		pgw_tracker_mute_newest(&t);
		feed(&t, "Z", "S");
		feed(&t, fails ? "EZ" : "CZ", fails ? "pS" : "sS");
		feed(&t, "EZ", fails ? "sP" : "pP");
	}
	push_all(&t, "Q", PGW_RESP_HIDE);
	push_all(&t, "Q", PGW_RESP_PASS);
	feed(&t, "EZ", "pS");
	feed(&t, "EZ", "pP");
	pgw_tracker_free(&t);
}

static void test_portal_suspended_and_copy(void **state)
{
	struct pgw_tracker t = {0};

	push_all(&t, "BEES", PGW_RESP_PASS);
	feed(&t, "2DDsDDCZ", "PppPppPP");
	/* COPY FROM STDIN by a simple Query: CopyInResponse, then CommandComplete, Z. */
	push_all(&t, "Q", PGW_RESP_PASS);
	feed(&t, "GCZ", "ppP");
	pgw_tracker_free(&t);
}

static uint8_t *error_bytes(const char *text)
{
	uint8_t *e = malloc(strlen(text) + 1);

	memcpy(e, text, strlen(text) + 1);
	return e;
}

static void test_replace_error(void **state)
{
	struct pgw_tracker t = {0};
	struct pgw_resp_verdict v;

	/* A refused Query: its ErrorResponse is replaced, its ReadyForQuery passes. */
	assert_int_equal(pgw_tracker_push(&t, 'Q', PGW_RESP_REPLACE, error_bytes("ours"), 5), 0);
	v = pgw_tracker_on_backend(&t, 'E');
	assert_non_null(v.error);
	assert_string_equal((char *)v.error, "ours");
	assert_false(v.completes);
	free(v.error);
	v = pgw_tracker_on_backend(&t, 'Z');
	assert_null(v.error);
	assert_true(v.completes);

	/* A refused Parse behind a failing one is skipped by the server: no replacement. */
	push_all(&t, "P", PGW_RESP_PASS);
	assert_int_equal(pgw_tracker_push(&t, 'P', PGW_RESP_REPLACE, error_bytes("x"), 2), 0);
	push_all(&t, "S", PGW_RESP_PASS);
	v = pgw_tracker_on_backend(&t, 'E');
	assert_null(v.error);
	assert_true(v.completes);
	assert_int_equal(pgw_tracker_pending(&t), 1);
	feed(&t, "Z", "P");
	pgw_tracker_free(&t);
}

static void test_unexpected_z_resynchronises(void **state)
{
	struct pgw_tracker t = {0};

	push_all(&t, "PBS", PGW_RESP_PASS);
	feed(&t, "Z", "P");
	assert_int_equal(pgw_tracker_pending(&t), 0);
	/* Nothing pending: everything passes, nothing completes. */
	feed(&t, "NEZ", "ppp");
	pgw_tracker_free(&t);
}

static void test_grows_past_initial_capacity(void **state)
{
	struct pgw_tracker t = {0};

	for (int i = 0; i < 1000; i++)
		push_all(&t, "PBES", PGW_RESP_PASS);
	assert_int_equal(pgw_tracker_pending(&t), 4000);
	for (int i = 0; i < 1000; i++)
		feed(&t, "12CZ", "PPPP");
	assert_int_equal(pgw_tracker_pending(&t), 0);
	pgw_tracker_free(&t);
}

static void test_expects_answer(void **state)
{
	for (const char *p = "QFSPBCDE"; *p; p++)
		assert_true(pgw_tracker_expects_answer(*p));
	for (const char *p = "HdcfpX"; *p; p++)
		assert_false(pgw_tracker_expects_answer(*p));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simple_query),
		cmocka_unit_test(test_extended_batch),
		cmocka_unit_test(test_describe_statement),
		cmocka_unit_test(test_error_skips_to_sync),
		cmocka_unit_test(test_batch_open_until_sync),
		cmocka_unit_test(test_error_in_query_waits_for_z),
		cmocka_unit_test(test_swallow_injected),
		cmocka_unit_test(test_portal_suspended_and_copy),
		cmocka_unit_test(test_replace_error),
		cmocka_unit_test(test_unexpected_z_resynchronises),
		cmocka_unit_test(test_grows_past_initial_capacity),
		cmocka_unit_test(test_expects_answer),
		cmocka_unit_test(test_an_own_failure_mutes_the_query_it_served),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
