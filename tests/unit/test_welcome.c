/*
 * The record of what pooled clients were told at login (welcome.c): keys that tell clients
 * of other settings apart, a record replaced with a new version only when the parameters
 * change, and the bound on the number of records (the oldest goes).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgward/welcome.h"

static struct pgw_startup_setting app_a[] = {{"application_name", "a", false}};
static struct pgw_startup_setting app_b[] = {{"application_name", "b", false}};

static struct pgw_startup_view view(const char *user, struct pgw_startup_setting *settings,
				    size_t n)
{
	struct pgw_startup_view v = {.version = 3u << 16, .nsettings = n, .settings = settings};

	snprintf(v.user, sizeof(v.user), "%s", user);
	snprintf(v.database, sizeof(v.database), "%s", "db");
	return v;
}

static const struct pgw_welcome *find(const struct pgw_startup_view *v)
{
	char *key;
	size_t len;
	const struct pgw_welcome *w;

	assert_int_equal(pgw_welcome_key(v, &key, &len), 0);
	w = pgw_welcome_find(key, len);
	free(key);
	return w;
}

static void store(const struct pgw_startup_view *v, const char *timezone)
{
	struct pgw_server_param params[] = {{"TimeZone", (char *)timezone},
					    {"application_name", "x"}};
	char *key;
	size_t len;

	assert_int_equal(pgw_welcome_key(v, &key, &len), 0);
	assert_int_equal(pgw_welcome_store(key, len, params, 2, (uint64_t)strlen(timezone)), 0);
	free(key);
}

static void test_keys_tell_clients_apart(void **state)
{
	struct pgw_startup_view a = view("u", app_a, 1), b = view("u", app_b, 1);
	struct pgw_startup_view none = view("u", NULL, 0), other_user = view("v", app_a, 1);
	/* "u" + "a" and "ua" + "": the NULs keep the fields apart */
	struct pgw_startup_view split = view("ua", NULL, 0);

	(void)state;
	store(&a, "UTC");
	assert_non_null(find(&a));
	assert_null(find(&b));
	assert_null(find(&none));
	assert_null(find(&other_user));
	assert_null(find(&split));
	assert_string_equal(find(&a)->params[0].value, "UTC");
	pgw_welcome_forget_all();
	assert_null(find(&a));
}

static void test_version_changes_with_the_parameters(void **state)
{
	struct pgw_startup_view a = view("u", app_a, 1);
	uint64_t v1, v2;

	(void)state;
	store(&a, "UTC");
	v1 = find(&a)->version;
	store(&a, "UTC");
	assert_int_equal(find(&a)->version, v1); /* the same: the clients told it still match */
	store(&a, "Europe/Paris");
	v2 = find(&a)->version;
	assert_true(v2 != v1);
	assert_string_equal(find(&a)->params[0].value, "Europe/Paris");
	/* the hash of what it holds now, which clients compare their server's with */
	assert_int_equal(find(&a)->params_hash, strlen("Europe/Paris"));
	pgw_welcome_forget_all();
}

/* 1,100 records for 1,024 places: user0's, used again (<touch>) or stored again after the
 * 100th, stays; user1's goes. */
static void oldest_goes(bool touch)
{
	char users[1100][16];
	struct pgw_startup_view v;

	for (int i = 0; i < 1100; i++) {
		snprintf(users[i], sizeof(users[i]), "user%d", i);
		v = view(users[i], NULL, 0);
		store(&v, "UTC");
		if (i == 100) {
			v = view(users[0], NULL, 0);
			if (touch)
				pgw_welcome_touch(find(&v));
			else
				store(&v, "UTC");
		}
	}
	v = view(users[0], NULL, 0);
	assert_non_null(find(&v));
	v = view(users[1], NULL, 0);
	assert_null(find(&v));
	v = view(users[1099], NULL, 0);
	assert_non_null(find(&v));
	pgw_welcome_forget_all();
}

static void test_the_oldest_record_goes(void **state)
{
	(void)state;
	oldest_goes(false);
}

static void test_a_record_used_again_is_the_last_to_go(void **state)
{
	(void)state;
	oldest_goes(true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keys_tell_clients_apart),
		cmocka_unit_test(test_version_changes_with_the_parameters),
		cmocka_unit_test(test_the_oldest_record_goes),
		cmocka_unit_test(test_a_record_used_again_is_the_last_to_go),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
