/*
 * The prepared-statement map: what a Bind finds for a statement name after Parse, Close
 * and DISCARD ALL, and that the classifications it holds stay alive after the cache lets
 * them go.
 */
#include "policy_test_util.h"

static const struct pgw_sql_info *classify(struct pgw_policy_ctx *ctx, const char *sql)
{
	const struct pgw_sql_info *info = pgw_policy_inspect(ctx, sql, strlen(sql));

	assert_non_null(info);
	return info;
}

static void statements_follow_parse_and_close(void **state)
{
	struct pgw_config cfg;
	struct pgw_policy_ctx ctx = {0};
	struct pgw_stmt_map map = {0};
	const struct pgw_sql_info *info;

	(void)state;
	pgw_config_defaults(&cfg);
	ctx.cfg = &cfg;
	info = classify(&ctx, "DELETE FROM t");
	assert_int_equal(pgw_stmt_map_put(&map, "s1", info), 0);
	pgw_policy_ctx_release(&ctx);
	assert_int_equal(pgw_stmt_map_put(&map, "", NULL), 0);
	assert_int_equal(pgw_stmt_map_count(&map), 2);

	/* the cache is gone; the map's reference keeps the classification */
	pgw_policy_shutdown();
	info = pgw_stmt_map_get(&map, "s1");
	assert_non_null(info);
	assert_true(info->flags & PGW_SQL_BIT(PGW_SQL_DELETE_WITHOUT_WHERE));
	assert_null(pgw_stmt_map_get(&map, ""));
	assert_null(pgw_stmt_map_get(&map, "s2"));

	/* a new Parse of the unnamed statement replaces what it was */
	info = classify(&ctx, "UPDATE t SET a = 1");
	assert_int_equal(pgw_stmt_map_put(&map, "", info), 0);
	pgw_policy_ctx_release(&ctx);
	assert_true(pgw_stmt_map_get(&map, "")->flags & PGW_SQL_BIT(PGW_SQL_UPDATE_WITHOUT_WHERE));

	pgw_stmt_map_remove(&map, "s1");
	pgw_stmt_map_remove(&map, "nothing");
	assert_null(pgw_stmt_map_get(&map, "s1"));
	assert_int_equal(pgw_stmt_map_count(&map), 1);
	pgw_stmt_map_clear(&map);
	assert_int_equal(pgw_stmt_map_count(&map), 0);
	pgw_config_free(&cfg);
}

static void one_inspection_per_message(void **state)
{
	struct pgw_config cfg;
	struct pgw_policy_ctx ctx = {0};
	struct pgw_sql_cache_stats before, after;
	const struct pgw_sql_info *a, *b;

	(void)state;
	pgw_config_defaults(&cfg);
	ctx.cfg = &cfg;
	pgw_policy_sql_stats(&before);
	a = classify(&ctx, "DROP TABLE t1");
	b = classify(&ctx, "DROP TABLE t1");
	assert_ptr_equal(a, b);
	pgw_policy_sql_stats(&after);
	assert_int_equal(after.misses, before.misses + 1);
	assert_int_equal(after.hits, before.hits);
	pgw_policy_ctx_release(&ctx);
	assert_null(ctx.info);
	/* the next message's lookup is a cache hit */
	classify(&ctx, "DROP TABLE t1");
	pgw_policy_ctx_release(&ctx);
	pgw_policy_sql_stats(&after);
	assert_int_equal(after.hits, before.hits + 1);
	pgw_config_free(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(statements_follow_parse_and_close, teardown_guard),
		cmocka_unit_test_teardown(one_inspection_per_message, teardown_guard),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
