/*
 * startup_view.c: a StartupMessage read as PostgreSQL 15 reads it (keys, options split by
 * pg_split_opts and walked like the server's getopt, names cut to 63 bytes), the refusals
 * of what the server would read another way, and the rebuilt packet. No network.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <event2/buffer.h>

#include "pgward/startup.h"
#include "pgward/startup_view.h"

/* A StartupMessage (3.0) from a parameter area given as a literal with embedded NULs. */
static size_t packet(uint8_t *out, size_t cap, const char *params, size_t len)
{
	size_t total = 8 + len + 1;

	assert_true(total <= cap);
	out[0] = (uint8_t)(total >> 24);
	out[1] = (uint8_t)(total >> 16);
	out[2] = (uint8_t)(total >> 8);
	out[3] = (uint8_t)total;
	out[4] = 0;
	out[5] = 3;
	out[6] = 0;
	out[7] = 0;
	memcpy(out + 8, params, len);
	out[8 + len] = '\0';
	return total;
}

struct built {
	uint8_t pkt[PGW_STARTUP_MAX_LEN];
	struct pgw_startup st;
	struct pgw_startup_view v;
	struct pgw_startup_error err;
	int rc;
};

/* Parses and builds the view of <params> (<len> bytes, the final NUL not included). */
static struct built *build(const char *params, size_t len)
{
	struct built *b = calloc(1, sizeof(*b));
	size_t n;

	assert_non_null(b);
	n = packet(b->pkt, sizeof(b->pkt), params, len);
	assert_int_equal(pgw_startup_parse(b->pkt, n, &b->st), PGW_INIT_STARTUP);
	b->rc = pgw_startup_view_build(&b->st, &b->v, &b->err);
	return b;
}

#define BUILD(lit) build((lit), sizeof(lit) - 1)

static void done(struct built *b)
{
	pgw_startup_view_free(&b->v);
	pgw_startup_free(&b->st);
	free(b);
}

static void assert_setting(const struct built *b, const char *name, const char *value)
{
	int i = pgw_startup_view_find(&b->v, name);

	assert_true(i >= 0);
	assert_string_equal(b->v.settings[i].value, value);
}

static void assert_refused(const char *params, size_t len, const char *sqlstate, const char *words)
{
	struct built *b = build(params, len);

	assert_int_equal(b->rc, -1);
	assert_string_equal(b->err.sqlstate, sqlstate);
	if (strstr(b->err.message, words) == NULL)
		fail_msg("\"%s\" does not say \"%s\"", b->err.message, words);
	done(b);
}

#define REFUSED(lit, sqlstate, words) assert_refused((lit), sizeof(lit) - 1, (sqlstate), (words))

static void test_keys_and_defaults(void **state)
{
	struct built *b;

	(void)state;
	b = BUILD("user\0alice\0application_name\0psql\0");
	assert_int_equal(b->rc, 0);
	assert_string_equal(b->v.user, "alice");
	assert_string_equal(b->v.database, "alice"); /* defaults to the user */
	assert_int_equal(b->v.replication, PGW_REPL_NONE);
	assert_int_equal(b->v.nsettings, 1);
	assert_setting(b, "APPLICATION_NAME", "psql");
	done(b);

	b = BUILD("database\0\0user\0bob\0");
	assert_int_equal(b->rc, 0);
	assert_string_equal(b->v.database, "bob"); /* an empty database is the user's too */
	done(b);

	b = BUILD("user\0bob\0_pq_.x\0y\0");
	assert_int_equal(b->rc, 0);
	assert_int_equal(b->v.nproto, 1); /* protocol options are passed on, not settings */
	assert_int_equal(b->v.nsettings, 0);
	assert_string_equal(b->v.proto[0].name, "_pq_.x");
	done(b);
	/* The server reads _pq_. case-sensitively; a setting spelt like one in another case is
	 * refused rather than guessed about. */
	REFUSED("user\0bob\0_PQ_.z\0w\0", "42704", "\"_PQ_.z\"");
}

static void test_names_cut_to_63_bytes(void **state)
{
	char params[400];
	struct built *b;
	int n;

	(void)state;
	n = snprintf(params, sizeof(params), "user%c%s%cdatabase%c%s", 0,
		     "u123456789012345678901234567890123456789012345678901234567890123XYZ", 0, 0,
		     "d123456789012345678901234567890123456789012345678901234567890123XYZ");
	b = build(params, (size_t)n + 1);
	assert_int_equal(b->rc, 0);
	assert_int_equal(strlen(b->v.user), 63);
	assert_memory_equal(b->v.user,
			    "u12345678901234567890123456789012345678901234567890123456789012", 63);
	assert_int_equal(strlen(b->v.database), 63);
	done(b);
}

static void test_replication(void **state)
{
	struct built *b;

	(void)state;
	b = BUILD("user\0r\0database\0db\0replication\0database\0");
	assert_int_equal(b->rc, 0);
	assert_int_equal(b->v.replication, PGW_REPL_LOGICAL);
	assert_string_equal(b->v.database, "db");
	done(b);
	b = BUILD("user\0r\0database\0db\0replication\0Tr\0");
	assert_int_equal(b->rc, 0);
	assert_int_equal(b->v.replication, PGW_REPL_PHYSICAL);
	assert_string_equal(b->v.database, ""); /* the server drops it */
	done(b);
	b = BUILD("user\0r\0replication\0of\0");
	assert_int_equal(b->rc, 0);
	assert_int_equal(b->v.replication, PGW_REPL_NONE);
	done(b);
	REFUSED("user\0r\0replication\0o\0", "22023", "\"replication\"");
	REFUSED("user\0r\0replication\0Database\0", "22023", "\"replication\"");
}

static void test_options_split_like_the_server(void **state)
{
	struct built *b;

	(void)state;
	/* every whitespace byte separates; a backslash takes the next byte literally */
	b = BUILD("user\0u\0options\0 \t-c\nwork_mem=7MB\v\f-capplication\\_name=a\\ b\\\\c\r"
		  "--statement-timeout=5s  -c\\\nx.y=1 \0");
	assert_int_equal(b->rc, 0);
	assert_int_equal(b->v.nsettings, 4);
	assert_setting(b, "work_mem", "7MB");
	assert_setting(b, "application_name", "a b\\c");
	assert_setting(b, "statement_timeout", "5s");
	assert_true(b->v.settings[2].from_options);
	/* "-c\<newline>x.y=1": the escaped newline belongs to the token, so "-c" has an
	 * attached argument starting with a newline */
	assert_setting(b, "\nx.y", "1");
	done(b);

	/* no length cut-off: a setting after 2,000 bytes of padding is read */
	{
		char params[2400];
		size_t n = 0;

		memcpy(params + n, "user\0u\0options\0", 15);
		n += 15;
		memset(params + n, ' ', 2000);
		n += 2000;
		memcpy(params + n, "-c app.x=1", 11);
		n += 11;
		b = build(params, n);
		assert_int_equal(b->rc, 0);
		assert_setting(b, "app.x", "1");
		done(b);
	}
}

static void test_options_switches(void **state)
{
	(void)state;
	REFUSED("user\0u\0options\0-e\0", "0A000", "-e");
	REFUSED("user\0u\0options\0-B 10\0", "0A000", "-B");
	REFUSED("user\0u\0options\0-Fc a=b\0", "0A000", "-F");
	REFUSED("user\0u\0options\0word\0", "42601", "word");
	REFUSED("user\0u\0options\0-c a=b word\0", "42601", "word");
	REFUSED("user\0u\0options\0-\0", "42601", "-");
	REFUSED("user\0u\0options\0-- -c a=b\0", "42601", "-c");
	REFUSED("user\0u\0options\0-c\0", "42601", "requires an argument");
	REFUSED("user\0u\0options\0-c work_mem\0", "42601", "-c work_mem requires a value");
	REFUSED("user\0u\0options\0--work_mem\0", "42601", "--work_mem requires a value");
	{
		struct built *b = BUILD("user\0u\0options\0-c a.b=1 --\0");

		assert_int_equal(b->rc, 0); /* a final "--" ends the switches */
		assert_int_equal(b->v.nsettings, 1);
		done(b);
	}
	{
		/* the argument of -c is the next token whatever it looks like */
		struct built *b = BUILD("user\0u\0options\0-c -x-y=1\0");

		assert_int_equal(b->rc, 0);
		assert_setting(b, "_x_y", "1");
		done(b);
	}
}

static void test_duplicates_refused(void **state)
{
	(void)state;
	REFUSED("user\0app\0options\0-c app.user_id=b\0user\0alice\0", "08P01", "\"user\"");
	REFUSED("user\0a\0database\0x\0database\0y\0", "08P01", "\"database\"");
	REFUSED("user\0a\0replication\0false\0replication\0false\0", "08P01", "\"replication\"");
	REFUSED("user\0a\0options\0-c x.y=1\0options\0-c x.z=1\0", "08P01", "\"options\"");
	REFUSED("user\0a\0application_name\0p\0application_name\0q\0", "08P01",
		"\"application_name\"");
	/* the same setting by two routes or two spellings */
	REFUSED("user\0a\0options\0-c client_encoding=UTF8\0Client_Encoding\0UTF8\0", "08P01",
		"\"Client_Encoding\"");
	REFUSED("user\0a\0options\0-c work_mem=1MB --work-mem=2MB\0", "08P01", "\"work_mem\"");
	REFUSED("user\0a\0options\0-c App.X=1 -capp.x=2\0", "08P01", "\"app.x\"");
	/* the server's old names are the same settings */
	REFUSED("user\0a\0options\0-c sort_mem=1MB\0work_mem\0002MB\0", "08P01", "\"work_mem\"");
	REFUSED("user\0a\0Vacuum_Mem\0001MB\0maintenance_work_mem\0002MB\0", "08P01",
		"\"maintenance_work_mem\"");
}

static void test_reserved_names_refused(void **state)
{
	(void)state;
	REFUSED("user\0a\0options\0-c user=b\0", "42704", "\"user\"");
	REFUSED("user\0a\0options\0-c _pq_.x=1\0", "42704", "\"_pq_.x\"");
	/* an empty name would end the rebuilt packet's keys early */
	REFUSED("user\0a\0options\0-c =x\0", "42704", "\"\"");
	REFUSED("user\0a\0options\0--=x\0", "42704", "\"\"");
	REFUSED("user\0a\0User\0b\0", "42704", "\"User\"");
	REFUSED("database\0d\0", "28000", "no PostgreSQL user name");
	REFUSED("user\0\0", "28000", "no PostgreSQL user name");
}

/* The rebuilt packet parses back to the same view, without options, never longer. */
static void assert_rebuild(const char *params, size_t len)
{
	struct built *b = build(params, len), *again;
	struct evbuffer *out = evbuffer_new();
	size_t n;

	assert_int_equal(b->rc, 0);
	pgw_startup_view_write(&b->v, out);
	n = evbuffer_get_length(out);
	assert_true(n <= 8 + len + 1);
	again = calloc(1, sizeof(*again));
	memcpy(again->pkt, evbuffer_pullup(out, -1), n);
	assert_int_equal(pgw_startup_parse(again->pkt, n, &again->st), PGW_INIT_STARTUP);
	assert_null(pgw_startup_get(&again->st, "options"));
	assert_int_equal(pgw_startup_view_build(&again->st, &again->v, &again->err), 0);
	assert_string_equal(again->v.user, b->v.user);
	assert_string_equal(again->v.database, b->v.database);
	assert_int_equal(again->v.replication, b->v.replication);
	assert_int_equal(again->v.nsettings, b->v.nsettings);
	for (size_t i = 0; i < b->v.nsettings; i++)
		assert_setting(again, b->v.settings[i].name, b->v.settings[i].value);
	assert_int_equal(again->v.nproto, b->v.nproto);
	evbuffer_free(out);
	done(again);
	done(b);
}

#define REBUILD(lit) assert_rebuild((lit), sizeof(lit) - 1)

static void test_rebuild(void **state)
{
	(void)state;
	REBUILD("user\0alice\0database\0shop\0options\0-c search_path=app\\ ,public "
		"--DateStyle=ISO\0application_name\0psql\0");
	REBUILD("user\0alice\0");
	REBUILD("user\0alice\0database\0alice\0");
	REBUILD("user\0r\0replication\0on\0database\0x\0");
	REBUILD("user\0r\0replication\0database\0database\0x\0_pq_.a\0b\0");
	REBUILD("user\0r\0replication\0no\0");
}

static void test_remove(void **state)
{
	struct built *b = BUILD("user\0a\0options\0-c a.x=1 -c a.y=2\0a.z\0\0");

	(void)state;
	assert_int_equal(b->rc, 0);
	assert_int_equal(b->v.nsettings, 3);
	pgw_startup_view_remove(&b->v, 1);
	assert_int_equal(b->v.nsettings, 2);
	assert_int_equal(pgw_startup_view_find(&b->v, "a.y"), -1);
	assert_setting(b, "a.z", "");
	pgw_startup_view_remove(&b->v, 7); /* out of range: nothing */
	assert_int_equal(b->v.nsettings, 2);
	done(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keys_and_defaults),
		cmocka_unit_test(test_names_cut_to_63_bytes),
		cmocka_unit_test(test_replication),
		cmocka_unit_test(test_options_split_like_the_server),
		cmocka_unit_test(test_options_switches),
		cmocka_unit_test(test_duplicates_refused),
		cmocka_unit_test(test_reserved_names_refused),
		cmocka_unit_test(test_rebuild),
		cmocka_unit_test(test_remove),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
