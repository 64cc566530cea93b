/*
 * auth_file.c: PgBouncer's userlist.txt format, from tests/data/hba/userlist (invalid files
 * carry their exact error on line 1 as "; expect: <line>: <message>"), and the limits and
 * quoting rules of PgBouncer's load_auth_file. Files only.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgward/auth_file.h"

#define ERRLEN 1024

static const char *data_dir(void)
{
	const char *dir = getenv("PGWARD_TEST_DATA");

	return dir != NULL ? dir : "tests/data";
}

static struct pgw_auth_file *parse(const char *text, size_t len)
{
	char err[ERRLEN];
	struct pgw_auth_file *f = pgw_auth_file_parse(text, len, "userlist.txt", err, sizeof(err));

	if (f == NULL)
		fail_msg("%s: %s", text, err);
	return f;
}

static void assert_parse_error(const char *text, size_t len, const char *expect)
{
	char err[ERRLEN] = "";
	struct pgw_auth_file *f = pgw_auth_file_parse(text, len, "userlist.txt", err, sizeof(err));

	if (f != NULL)
		fail_msg("parsed, expected %s", expect);
	if (strcmp(err, expect) != 0)
		fail_msg("\n  expected: %s\n  got:      %s", expect, err);
}

static void test_userlist_fixture(void **state)
{
	static const struct {
		const char *user, *secret;
	} want[] = {
		{"alice", "plain secret"},
		{"bob", "md545f2603610af569b6155c45067268c6b"},
		{"carol", "SCRAM-SHA-256$4096:c2FsdA==$c3RvcmVka2V5c3RvcmVka2V5c3RvcmVrZXk=:"
			  "c2VydmVya2V5c2VydmVya2V5c2VydmVya2V5"},
		{"o\"brien", "say \"hi\""},
		{"dave", "second"}, /* listed twice: the last wins, as in PgBouncer */
		{"spaces in name", ""},
		{"tabs", "x"},
		{"crlf", "y"},
		{"windows", "z"},
	};
	char path[1024], err[ERRLEN];
	struct pgw_auth_file *f;

	snprintf(path, sizeof(path), "%s/hba/userlist/userlist.txt", data_dir());
	f = pgw_auth_file_load(path, err, sizeof(err));
	if (f == NULL)
		fail_msg("%s", err);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		const char *got = pgw_auth_file_lookup(f, want[i].user);

		if (got == NULL || strcmp(got, want[i].secret) != 0)
			fail_msg("%s: got %s, expected %s", want[i].user, got ? got : "(none)",
				 want[i].secret);
	}
	assert_int_equal(pgw_auth_file_count(f), sizeof(want) / sizeof(want[0]));
	assert_null(pgw_auth_file_lookup(f, "Alice"));
	assert_null(pgw_auth_file_lookup(f, "o\"\"brien"));
	assert_null(pgw_auth_file_lookup(f, ";Commented out line should be ignored."));
	assert_null(pgw_auth_file_lookup(f, NULL));
	assert_null(pgw_auth_file_lookup(NULL, "alice"));
	pgw_auth_file_free(f);
	pgw_auth_file_free(NULL);
}

static void check_invalid(const char *path)
{
	static const char tag[] = "; expect: ";
	char line[ERRLEN], expect[4 * ERRLEN], err[ERRLEN] = "";
	FILE *fp = fopen(path, "r");
	struct pgw_auth_file *f;

	assert_non_null(fp);
	if (fgets(line, sizeof(line), fp) == NULL || strncmp(line, tag, strlen(tag)) != 0)
		fail_msg("%s: line 1 must be \"%s<line>: <message>\"", path, tag);
	fclose(fp);
	line[strcspn(line, "\r\n")] = '\0';
	snprintf(expect, sizeof(expect), "%s:%s", path, line + strlen(tag));
	f = pgw_auth_file_load(path, err, sizeof(err));
	if (f != NULL)
		fail_msg("%s loaded, expected: %s", path, expect);
	if (strcmp(err, expect) != 0)
		fail_msg("%s\n  expected: %s\n  got:      %s", path, expect, err);
}

static void test_invalid_fixtures(void **state)
{
	char dir[1024], path[2048];
	struct dirent *de;
	DIR *d;
	int n = 0;

	snprintf(dir, sizeof(dir), "%s/hba/userlist_invalid", data_dir());
	assert_non_null(d = opendir(dir));
	while ((de = readdir(d)) != NULL) {
		if (strstr(de->d_name, ".txt") == NULL)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		check_invalid(path);
		n++;
	}
	closedir(d);
	assert_true(n >= 7);
}

static void test_quoting(void **state)
{
	static const char text[] = "\"\"\"\" \"\"\"\"\"\"\n" /* " and "" */
				   "\"\" \"empty name\"\n"
				   "\"a\"junk\"b\" rest\n" /* PgBouncer skips to the next quote */
				   "  \"indented\"\t\"pw\" ; not a comment here\n"
				   "\"last\" \"no newline\"";
	struct pgw_auth_file *f = parse(text, strlen(text));

	assert_string_equal(pgw_auth_file_lookup(f, "\""), "\"\"");
	assert_string_equal(pgw_auth_file_lookup(f, ""), "empty name");
	assert_string_equal(pgw_auth_file_lookup(f, "a"), "b");
	assert_string_equal(pgw_auth_file_lookup(f, "indented"), "pw");
	assert_string_equal(pgw_auth_file_lookup(f, "last"), "no newline");
	assert_int_equal(pgw_auth_file_count(f), 5);
	pgw_auth_file_free(f);

	/* empty, blank, comments only, a byte order mark */
	f = parse("", 0);
	assert_int_equal(pgw_auth_file_count(f), 0);
	pgw_auth_file_free(f);
	f = parse("\n \t\n;x\n;\"a\" \"b\"\n", 16);
	assert_int_equal(pgw_auth_file_count(f), 0);
	pgw_auth_file_free(f);
	f = parse("\xef\xbb\xbf\"u\" \"p\"\n", 11);
	assert_string_equal(pgw_auth_file_lookup(f, "u"), "p");
	pgw_auth_file_free(f);

	assert_parse_error("\"a\" \"b\"\n\"c\0\" \"d\"", 16, "userlist.txt:2: NUL byte in line");
	assert_parse_error("\"a\" \"b\"\n\n  x", 12,
			   "userlist.txt:3: broken auth file: a line must start with "
			   "\"username\" (comments start with ;)");
	assert_parse_error("\"a\" junk", 8,
			   "userlist.txt:1: no password for user \"a\" (expected \"user\" "
			   "\"password\")");
	/* a doubled quote at the end leaves the field open */
	assert_parse_error("\"a\"\" \"b\"\n", 9, "userlist.txt:1: unterminated quoted password");
}

/* PgBouncer's limits, counted on the text as written (quotes still doubled). */
static void test_limits(void **state)
{
	size_t big = PGW_AUTH_FILE_PASSWORD_MAX + 200;
	char *text = malloc(big), *name;
	struct pgw_auth_file *f;
	int n;

	assert_non_null(text);
	n = snprintf(text, big, "\"%0*d\" \"pw\"\n", PGW_AUTH_FILE_USER_MAX, 7);
	f = parse(text, (size_t)n);
	name = strndup(text + 1, PGW_AUTH_FILE_USER_MAX);
	assert_string_equal(pgw_auth_file_lookup(f, name), "pw");
	free(name);
	pgw_auth_file_free(f);

	n = snprintf(text, big, "\"%0*d\" \"pw\"\n", PGW_AUTH_FILE_USER_MAX + 1, 7);
	assert_parse_error(text, (size_t)n, "userlist.txt:1: username too long in auth file");
	/* 126 characters, one of them a doubled quote: 127 as written */
	n = snprintf(text, big, "\"\"\"%0*d\" \"pw\"\n", PGW_AUTH_FILE_USER_MAX - 2, 7);
	f = parse(text, (size_t)n);
	assert_int_equal(pgw_auth_file_count(f), 1);
	pgw_auth_file_free(f);
	n = snprintf(text, big, "\"\"\"%0*d\" \"pw\"\n", PGW_AUTH_FILE_USER_MAX - 1, 7);
	assert_parse_error(text, (size_t)n, "userlist.txt:1: username too long in auth file");

	n = snprintf(text, big, "\"u\" \"%0*d\"\n", PGW_AUTH_FILE_PASSWORD_MAX, 7);
	f = parse(text, (size_t)n);
	assert_int_equal(strlen(pgw_auth_file_lookup(f, "u")), PGW_AUTH_FILE_PASSWORD_MAX);
	pgw_auth_file_free(f);
	n = snprintf(text, big, "\"u\" \"%0*d\"\n", PGW_AUTH_FILE_PASSWORD_MAX + 1, 7);
	assert_parse_error(text, (size_t)n, "userlist.txt:1: password too long in auth file");
	free(text);
}

/* Many users, each found again; a user listed twice keeps the last secret. */
static void test_many_users(void **state)
{
	size_t cap = 64 * 4096, n = 0;
	char *text = malloc(cap), user[32], secret[48];
	struct pgw_auth_file *f;

	assert_non_null(text);
	for (int i = 0; i < 4000; i++)
		n += (size_t)snprintf(text + n, cap - n, "\"user%d\" \"md5%032x\"\n", i,
				      (unsigned)i);
	n += (size_t)snprintf(text + n, cap - n, "\"user7\" \"SCRAM-SHA-256$changed\"\n");
	f = parse(text, n);
	assert_int_equal(pgw_auth_file_count(f), 4000);
	for (int i = 0; i < 4000; i++) {
		snprintf(user, sizeof(user), "user%d", i);
		snprintf(secret, sizeof(secret), "md5%032x", (unsigned)i);
		if (i == 7)
			assert_string_equal(pgw_auth_file_lookup(f, user), "SCRAM-SHA-256$changed");
		else
			assert_string_equal(pgw_auth_file_lookup(f, user), secret);
	}
	pgw_auth_file_free(f);
	free(text);
}

static void test_load_missing(void **state)
{
	char err[ERRLEN];

	assert_null(pgw_auth_file_load("/nonexistent/userlist.txt", err, sizeof(err)));
	assert_string_equal(err, "/nonexistent/userlist.txt:0: could not open auth_file: No such "
				 "file or directory");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_userlist_fixture), cmocka_unit_test(test_invalid_fixtures),
		cmocka_unit_test(test_quoting),		 cmocka_unit_test(test_limits),
		cmocka_unit_test(test_many_users),	 cmocka_unit_test(test_load_missing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
