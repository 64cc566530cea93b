/*
 * md5 authentication: secrets PostgreSQL stored (its regression suite's and a 15.20
 * server's), the salted response libpq sends, and the checks a response must pass.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "pgward/md5_auth.h"

static const struct {
	const char *password, *user, *secret;
} secrets[] = {
	/* src/test/regress/expected/password.out */
	{"role_pwd2", "regress_passwd2", "md54044304ba511dd062133eb5b4b84a2a3"},
	{"role_pwd3", "regress_passwd3", "md50e5699b6911d87f17a08b8d76a21e8b8"},
	{"foo", "regress_passwd3", "md5530de4c298af94b3b9f7d20305d2a1bf"},
	/* PostgreSQL 15.20: SET password_encryption = 'md5'; ALTER ROLE md5_user PASSWORD 'foo' */
	{"foo", "md5_user", "md591334fcda28129398a9cdb3f551e3cc8"},
	{"foo", "bar", "md53858f62230ac3c915f300c664312c63f"},
	{"", "", "md5d41d8cd98f00b204e9800998ecf8427e"},
};

static void test_md5_secret(void **state)
{
	char out[36];

	(void)state;
	for (size_t i = 0; i < PGW_ARRAY_LEN(secrets); i++) {
		memset(out, 'x', sizeof(out));
		pgw_md5_secret(secrets[i].password, secrets[i].user, out);
		assert_string_equal(out, secrets[i].secret);
		assert_true(pgw_md5_is_secret(out));
	}
}

static void test_md5_is_secret(void **state)
{
	static const char *const no[] = {
		"",
		"md5",
		"md53858f62230ac3c915f300c664312c63",	/* 31 digits */
		"md53858f62230ac3c915f300c664312c63f0", /* 33 */
		"md53858F62230AC3C915F300C664312C63F",	/* upper case: not what PostgreSQL writes */
		"MD53858f62230ac3c915f300c664312c63f",
		"md53858f62230ac3c915f300c664312c63g",
		"md5 858f62230ac3c915f300c664312c63f",
		"SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$",
		"foo",
	};

	(void)state;
	assert_true(pgw_md5_is_secret("md53858f62230ac3c915f300c664312c63f"));
	for (size_t i = 0; i < PGW_ARRAY_LEN(no); i++)
		assert_false(pgw_md5_is_secret(no[i]));
}

/* What libpq sends for AuthenticationMD5Password: md5(md5(password || user) hex || salt). */
static void test_md5_response(void **state)
{
	static const uint8_t salt[4] = {1, 2, 3, 4}, other[4] = {1, 2, 3, 5};
	const char *secret = "md53858f62230ac3c915f300c664312c63f"; /* foo / bar */
	char out[36];

	(void)state;
	pgw_md5_response(secret, salt, out);
	assert_string_equal(out, "md56e4f0b50f7277feb74acbf2a7734c9cb");
	pgw_md5_response(secret, other, out);
	assert_string_not_equal(out, "md56e4f0b50f7277feb74acbf2a7734c9cb");
	/* from a secret that is none: nothing */
	memset(out, 'x', sizeof(out));
	pgw_md5_response("foo", salt, out);
	assert_string_equal(out, "");
}

static void test_md5_verify(void **state)
{
	static const uint8_t salt[4] = {1, 2, 3, 4}, other[4] = {0xff, 0, 0, 0};
	const char *secret = "md53858f62230ac3c915f300c664312c63f";

	(void)state;
	assert_true(pgw_md5_verify(secret, salt, "md56e4f0b50f7277feb74acbf2a7734c9cb"));
	assert_false(pgw_md5_verify(secret, other, "md56e4f0b50f7277feb74acbf2a7734c9cb"));
	assert_false(pgw_md5_verify(secret, salt, "md56e4f0b50f7277feb74acbf2a7734c9cc"));
	assert_false(pgw_md5_verify(secret, salt, "md56E4F0B50F7277FEB74ACBF2A7734C9CB"));
	assert_false(pgw_md5_verify(secret, salt, "md56e4f0b50f7277feb74acbf2a7734c9cb0"));
	assert_false(pgw_md5_verify(secret, salt, "md56e4f0b50f7277feb74acbf2a7734c9c"));
	assert_false(pgw_md5_verify(secret, salt, ""));
	/* the stored secret itself is no answer, nor is the password */
	assert_false(pgw_md5_verify(secret, salt, secret));
	assert_false(pgw_md5_verify(secret, salt, "foo"));
	/* a stored secret that is not md5 verifies nothing, not even its own response */
	assert_false(pgw_md5_verify("foo", salt, ""));
	assert_false(pgw_md5_verify("SCRAM-SHA-256$4096:x", salt,
				    "md56e4f0b50f7277feb74acbf2a7734c9cb"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_md5_secret),
		cmocka_unit_test(test_md5_is_secret),
		cmocka_unit_test(test_md5_response),
		cmocka_unit_test(test_md5_verify),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
