/*
 * hba.c, hba_tokens.c, hba_match.c and ident.c: every fixture under tests/data/hba (invalid
 * ones carry their exact error on line 1 as "# expect: <line>: <message>"), PostgreSQL's
 * tokenizer quirks, which rule a login falls under, and pg_ident maps. Files only.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgward/hba.h"

#define ERRLEN 1024

static const char *data_dir(void)
{
	const char *dir = getenv("PGWARD_TEST_DATA");

	return dir != NULL ? dir : "tests/data";
}

/* Calls <fn> for every file of tests/data/hba/<sub> named *<ext>; returns how many. */
static int for_each_fixture(const char *sub, const char *ext, void (*fn)(const char *path))
{
	char dir[1024], path[2048];
	struct dirent *de;
	DIR *d;
	int n = 0;

	snprintf(dir, sizeof(dir), "%s/hba/%s", data_dir(), sub);
	d = opendir(dir);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);

		if (len <= strlen(ext) || strcmp(de->d_name + len - strlen(ext), ext) != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		fn(path);
		n++;
	}
	closedir(d);
	return n;
}

/*
 * The error a fixture expects, from its first line "<tag><where>: <message>": a line number
 * for the fixture itself, else a path (an included file), where {dir} is the fixture's
 * directory.
 */
static void expected_error(const char *path, const char *tag, char *out, size_t len)
{
	char line[ERRLEN], dir[1024], *at, *s;
	FILE *f = fopen(path, "r");
	size_t n = 0;

	assert_non_null(f);
	if (fgets(line, sizeof(line), f) == NULL || strncmp(line, tag, strlen(tag)) != 0)
		fail_msg("%s: line 1 must be \"%s<line>: <message>\"", path, tag);
	fclose(f);
	line[strcspn(line, "\r\n")] = '\0';
	snprintf(dir, sizeof(dir), "%s", path);
	*strrchr(dir, '/') = '\0';
	s = line + strlen(tag);
	if (isdigit((unsigned char)*s))
		n = (size_t)snprintf(out, len, "%s:", path);
	while ((at = strstr(s, "{dir}")) != NULL) {
		n += (size_t)snprintf(out + n, len - n, "%.*s%s", (int)(at - s), s, dir);
		s = at + 5;
	}
	snprintf(out + n, len - n, "%s", s);
}

static void check_valid_hba(const char *path)
{
	char err[ERRLEN];
	struct pgw_hba *h = pgw_hba_load(path, err, sizeof(err));

	if (h == NULL)
		fail_msg("%s should load: %s", path, err);
	pgw_hba_free(h);
}

static void check_invalid_hba(const char *path)
{
	char expect[ERRLEN], err[ERRLEN] = "";
	struct pgw_hba *h;

	expected_error(path, "# expect: ", expect, sizeof(expect));
	h = pgw_hba_load(path, err, sizeof(err));
	if (h != NULL)
		fail_msg("%s loaded, expected: %s", path, expect);
	if (strcmp(err, expect) != 0)
		fail_msg("%s\n  expected: %s\n  got:      %s", path, expect, err);
}

static void check_invalid_ident(const char *path)
{
	char expect[ERRLEN], err[ERRLEN] = "";
	struct pgw_ident *m;

	expected_error(path, "# expect: ", expect, sizeof(expect));
	m = pgw_ident_load(path, err, sizeof(err));
	if (m != NULL)
		fail_msg("%s loaded, expected: %s", path, expect);
	if (strcmp(err, expect) != 0)
		fail_msg("%s\n  expected: %s\n  got:      %s", path, expect, err);
}

static void test_valid_fixtures(void **state)
{
	assert_int_equal(for_each_fixture("valid", ".conf", check_valid_hba), 6);
}

static void test_invalid_fixtures(void **state)
{
	assert_true(for_each_fixture("invalid", ".conf", check_invalid_hba) >= 50);
}

static void test_invalid_ident_fixtures(void **state)
{
	assert_true(for_each_fixture("ident_invalid", ".conf", check_invalid_ident) >= 7);
}

static struct pgw_hba *parse(const char *text)
{
	char err[ERRLEN];
	struct pgw_hba *h = pgw_hba_parse(text, strlen(text), "test.conf", err, sizeof(err));

	if (h == NULL)
		fail_msg("%s: %s", text, err);
	return h;
}

static void assert_parse_error(const char *text, size_t len, const char *expect)
{
	char err[ERRLEN] = "";
	struct pgw_hba *h = pgw_hba_parse(text, len, "test.conf", err, sizeof(err));

	if (h != NULL)
		fail_msg("%s: parsed, expected %s", text, expect);
	if (strcmp(err, expect) != 0)
		fail_msg("%s\n  expected: %s\n  got:      %s", text, expect, err);
}

static void test_typical_fields(void **state)
{
	char path[1024], err[ERRLEN];
	const struct pgw_hba_rule *r;
	struct pgw_hba *h;

	snprintf(path, sizeof(path), "%s/hba/valid/typical.conf", data_dir());
	h = pgw_hba_load(path, err, sizeof(err));
	assert_non_null(h);
	assert_int_equal(pgw_hba_count(h), 11);
	r = pgw_hba_rule_at(h, 0);
	assert_int_equal(r->line, 4);
	assert_int_equal(r->conn, PGW_HBA_LOCAL);
	assert_int_equal(r->addr_kind, PGW_HBA_ADDR_NONE);
	r = pgw_hba_rule_at(h, 3);
	assert_int_equal(r->conn, PGW_HBA_HOSTSSL);
	assert_int_equal(r->method, PGW_AUTH_CERT);
	assert_int_equal(r->clientcert, PGW_CLIENTCERT_VERIFY_FULL); /* implied by cert */
	assert_string_equal(r->map, "services");
	assert_int_equal(r->ndatabases, 2);
	assert_string_equal(r->databases[1].name, "reports");
	r = pgw_hba_rule_at(h, 4);
	assert_int_equal(r->clientcert, PGW_CLIENTCERT_VERIFY_CA);
	assert_null(r->map);
	r = pgw_hba_rule_at(h, 5);
	assert_int_equal(r->databases[0].kind, PGW_HBA_SAMEUSER);
	assert_int_equal(r->addr_kind, PGW_HBA_ADDR_SAMENET);
	r = pgw_hba_rule_at(h, 8);
	assert_int_equal(r->databases[0].kind, PGW_HBA_REPLICATION);
	assert_int_equal(r->method, PGW_AUTH_PASSWORD);
	r = pgw_hba_rule_at(h, 9);
	assert_int_equal(r->databases[0].kind, PGW_HBA_NAME);
	assert_string_equal(r->databases[0].name, "all");
	assert_string_equal(r->users[0].name, "+literal");
	assert_null(pgw_hba_rule_at(h, 11));
	pgw_hba_free(h);
}

/* What next_token makes of quotes, commas, comments and continuations. */
static void test_tokenizer_quirks(void **state)
{
	char long_ok[400], long_bad[400];
	struct pgw_hba *h;
	const struct pgw_hba_rule *r;

	/* only a quote at the start makes a keyword a name: al"l" is still all */
	h = parse("host al\"l\" \"all\" all md5\n");
	r = pgw_hba_rule_at(h, 0);
	assert_int_equal(r->databases[0].kind, PGW_HBA_ALL);
	assert_int_equal(r->users[0].kind, PGW_HBA_NAME);
	pgw_hba_free(h);

	/* "" is a quote inside quotes; an empty quoted token is a name; commas and blanks */
	h = parse("host \"a\"\"b\",\"\",c,,d x\"y z\" 10.0.0.1/32 trust # comment, \"ignored\n");
	r = pgw_hba_rule_at(h, 0);
	assert_int_equal(r->ndatabases, 4);
	assert_string_equal(r->databases[0].name, "a\"b");
	assert_string_equal(r->databases[1].name, "");
	assert_string_equal(r->databases[2].name, "c");
	assert_string_equal(r->databases[3].name, "d");
	assert_string_equal(r->users[0].name, "xy z");
	pgw_hba_free(h);

	/* only a comma right after a token continues the list: "db1 ,db2" is two columns */
	assert_parse_error("host db1 ,db2 all all md5\n", 26,
			   "test.conf:1: invalid authentication method \"all\"");

	/* a comment may start inside a token, and a continued comment swallows a line */
	assert_parse_error("host db#x all all md5\n", 22,
			   "test.conf:1: end-of-line before role specification");
	h = parse("# comment \\\nhost all all all md5\nhost all all all trust\n");
	assert_int_equal(pgw_hba_count(h), 1);
	assert_int_equal(pgw_hba_rule_at(h, 0)->line, 3);
	assert_int_equal(pgw_hba_rule_at(h, 0)->method, PGW_AUTH_TRUST);
	pgw_hba_free(h);

	/* a backslash continues only once: "\\" then an empty line is a lone "\" token */
	assert_parse_error("host all all all md5 \\\\\n\n", 25,
			   "test.conf:1: authentication option not in name=value format: \\");

	/* 255 bytes fit PostgreSQL's token buffer, 256 do not */
	snprintf(long_ok, sizeof(long_ok), "host %0255d all all md5\n", 0);
	h = parse(long_ok);
	assert_int_equal(strlen(pgw_hba_rule_at(h, 0)->databases[0].name), 255);
	pgw_hba_free(h);
	snprintf(long_bad, sizeof(long_bad), "host %0256d all all md5\n", 0);
	assert_parse_error(long_bad, strlen(long_bad),
			   "test.conf:1: authentication file token too long");

	/* NUL bytes, byte order mark, no final newline, keyword case */
	assert_parse_error("host all all all md5\n\nhost all\0 all all md5\n", 43,
			   "test.conf:3: NUL byte in line");
	h = parse("\xef\xbb\xbfhost all all all md5");
	assert_int_equal(pgw_hba_count(h), 1);
	pgw_hba_free(h);
	h = parse("host ALL all all md5\n");
	assert_int_equal(pgw_hba_rule_at(h, 0)->databases[0].kind, PGW_HBA_NAME);
	pgw_hba_free(h);

	/* options: the last map= wins, map= alone is none, quoted values keep their blanks */
	h = parse("hostssl all all all cert map=a map=\"b c\"\nhostssl all all all cert map=\n");
	assert_string_equal(pgw_hba_rule_at(h, 0)->map, "b c");
	assert_null(pgw_hba_rule_at(h, 1)->map);
	pgw_hba_free(h);
}

static void test_empty(void **state)
{
	struct pgw_hba_query q = {.database = "db", .user = "u"};
	struct sockaddr_in sin = {.sin_family = AF_INET};
	struct pgw_hba *h = pgw_hba_parse("", 0, "empty.conf", NULL, 0);

	assert_non_null(h);
	q.peer = (struct sockaddr *)&sin;
	assert_int_equal(pgw_hba_count(h), 0);
	assert_null(pgw_hba_match(h, &q));
	pgw_hba_free(h);
	assert_null(pgw_hba_match(NULL, &q));
	pgw_hba_free(NULL);
}

static void test_load_errors(void **state)
{
	char err[ERRLEN];

	assert_null(pgw_hba_load("/nonexistent/pg_hba.conf", err, sizeof(err)));
	assert_string_equal(err, "/nonexistent/pg_hba.conf:0: could not open configuration "
				 "file: No such file or directory");
	assert_null(pgw_ident_load("/nonexistent/pg_ident.conf", err, sizeof(err)));
	assert_string_equal(err, "/nonexistent/pg_ident.conf:0: could not open usermap file: No "
				 "such file or directory");
	/* a directory opens but cannot be read */
	assert_null(pgw_hba_load(data_dir(), err, sizeof(err)));
	assert_non_null(strstr(err, ":0: could not open configuration file: Is a directory"));
}

/* Matches <peer> ("local" for a Unix socket) against <h>; the rule's line, 0 for none. */
static int match(const struct pgw_hba *h, const char *peer, bool tls, const char *db,
		 const char *user, bool repl, const struct pgw_hba_ifaddr *ifs, size_t nifs)
{
	struct pgw_hba_query q = {.tls = tls,
				  .database = db,
				  .user = user,
				  .replication = repl,
				  .ifaddrs = ifs,
				  .nifaddrs = nifs};
	struct sockaddr_in sin = {.sin_family = AF_INET};
	struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6};
	const struct pgw_hba_rule *r;

	if (strcmp(peer, "local") == 0) {
		q.unix_socket = true;
	} else if (strchr(peer, ':') != NULL) {
		assert_int_equal(inet_pton(AF_INET6, peer, &sin6.sin6_addr), 1);
		q.peer = (struct sockaddr *)&sin6;
	} else {
		assert_int_equal(inet_pton(AF_INET, peer, &sin.sin_addr), 1);
		q.peer = (struct sockaddr *)&sin;
	}
	r = pgw_hba_match(h, &q);
	return r != NULL ? r->line : 0;
}

#define V4_24  "host all all 192.168.1.0/24 md5\n"
#define TLS_OR "hostssl all all all scram-sha-256\nhostnossl all all all reject\n"
#define REPL   "host replication all all md5\nhost all all all trust\n"

static const struct match_case {
	const char *rules, *peer;
	bool tls;
	const char *db, *user;
	bool repl;
	int line;
} match_cases[] = {
	/* IPv4 CIDR edges */
	{V4_24, "192.168.1.0", false, "d", "u", false, 1},
	{V4_24, "192.168.1.255", false, "d", "u", false, 1},
	{V4_24, "192.168.2.0", false, "d", "u", false, 0},
	{V4_24, "192.168.0.255", false, "d", "u", false, 0},
	{V4_24, "::1", false, "d", "u", false, 0},
	/* host bits in the rule's address are ignored under the mask, as pg_range_sockaddr does */
	{"host all all 192.168.1.77/24 md5\n", "192.168.1.5", false, "d", "u", false, 1},
	{"host all all 10.0.0.1/32 md5\n", "10.0.0.1", false, "d", "u", false, 1},
	{"host all all 10.0.0.1/32 md5\n", "10.0.0.2", false, "d", "u", false, 0},
	{"host all all 10.0.0.0/31 md5\n", "10.0.0.1", false, "d", "u", false, 1},
	{"host all all 10.0.0.0/31 md5\n", "10.0.0.2", false, "d", "u", false, 0},
	{"host all all 0.0.0.0/0 md5\n", "203.0.113.9", false, "d", "u", false, 1},
	{"host all all 0.0.0.0/0 md5\n", "2001:db8::1", false, "d", "u", false, 0},
	{"host all all 8.0.0.0/+8 md5\n", "8.8.8.8", false, "d", "u", false, 1},
	/* IPv6 */
	{"host all all fe80::/10 md5\n", "fe80::1", false, "d", "u", false, 1},
	{"host all all fe80::/10 md5\n", "febf:ffff::1", false, "d", "u", false, 1},
	{"host all all fe80::/10 md5\n", "fec0::1", false, "d", "u", false, 0},
	{"host all all ::1/128 md5\n", "::1", false, "d", "u", false, 1},
	{"host all all ::1/128 md5\n", "::2", false, "d", "u", false, 0},
	{"host all all ::1/128 md5\n", "127.0.0.1", false, "d", "u", false, 0},
	{"host all all 2001:db8::/32 md5\n", "2001:db8:ffff:ffff::1", false, "d", "u", false, 1},
	{"host all all 2001:db8::/32 md5\n", "2001:db9::", false, "d", "u", false, 0},
	{"host all all 2001:db8::/63 md5\n", "2001:db8:0:1:ffff::", false, "d", "u", false, 1},
	{"host all all 2001:db8::/63 md5\n", "2001:db8:0:2::", false, "d", "u", false, 0},
	{"host all all ::/0 md5\n", "2001:db8::1", false, "d", "u", false, 1},
	{"host all all ::/0 md5\n", "10.0.0.1", false, "d", "u", false, 0},
	/* IPv4-mapped IPv6 addresses match IPv6 rules only, as in PostgreSQL 15 */
	{"host all all 10.0.0.0/8 md5\n", "::ffff:10.1.2.3", false, "d", "u", false, 0},
	{"host all all ::ffff:10.0.0.0/104 md5\n", "::ffff:10.1.2.3", false, "d", "u", false, 1},
	{"host all all ::ffff:10.0.0.0/104 md5\n", "10.1.2.3", false, "d", "u", false, 0},
	/* netmask column, contiguous or not */
	{"host all all 10.1.0.0 255.255.0.0 md5\n", "10.1.200.3", false, "d", "u", false, 1},
	{"host all all 10.1.0.0 255.255.0.0 md5\n", "10.2.0.1", false, "d", "u", false, 0},
	{"host all all 10.0.0.1 255.0.0.255 md5\n", "10.9.9.1", false, "d", "u", false, 1},
	{"host all all 10.0.0.1 255.0.0.255 md5\n", "10.9.9.2", false, "d", "u", false, 0},
	{"host all all 2001:db8:: ffff:ffff:: md5\n", "2001:db8:1::1", false, "d", "u", false, 1},
	{"host all all 2001:db8:: ffff:ffff:: md5\n", "2001:db9::1", false, "d", "u", false, 0},
	/* connection types */
	{TLS_OR, "10.0.0.1", true, "d", "u", false, 1},
	{TLS_OR, "10.0.0.1", false, "d", "u", false, 2},
	{"host all all all md5\n", "10.0.0.1", true, "d", "u", false, 1},
	{"host all all all md5\n", "10.0.0.1", false, "d", "u", false, 1},
	{"hostgssenc all all all md5\n", "10.0.0.1", false, "d", "u", false, 0},
	{"hostgssenc all all all md5\n", "10.0.0.1", true, "d", "u", false, 0},
	{"hostnogssenc all all all md5\n", "10.0.0.1", true, "d", "u", false, 1},
	{"local all all trust\nhost all all all md5\n", "10.0.0.1", false, "d", "u", false, 2},
	{"local all all trust\nhost all all all md5\n", "local", false, "d", "u", false, 1},
	{"host all all all md5\n", "local", false, "d", "u", false, 0},
	{"host all all all md5\n", "::", false, "d", "u", false, 1},
	/* database and user lists */
	{"host db1,db2 all all md5\n", "10.0.0.1", false, "db2", "u", false, 1},
	{"host db1,db2 all all md5\n", "10.0.0.1", false, "db3", "u", false, 0},
	{"host db1, db2 all all md5\n", "10.0.0.1", false, "db2", "u", false, 1},
	{"host all alice,bob all md5\n", "10.0.0.1", false, "d", "bob", false, 1},
	{"host all alice,bob all md5\n", "10.0.0.1", false, "d", "carol", false, 0},
	{"host all alice all md5\n", "10.0.0.1", false, "d", "Alice", false, 0},
	{"host DB all all md5\n", "10.0.0.1", false, "db", "u", false, 0},
	{"host all \"+admins\" all md5\n", "10.0.0.1", false, "d", "+admins", false, 1},
	/* sameuser; quoted keywords are names */
	{"host sameuser all all md5\n", "10.0.0.1", false, "alice", "alice", false, 1},
	{"host sameuser all all md5\n", "10.0.0.1", false, "bob", "alice", false, 0},
	{"host \"sameuser\" all all md5\n", "10.0.0.1", false, "alice", "alice", false, 0},
	{"host \"sameuser\" all all md5\n", "10.0.0.1", false, "sameuser", "x", false, 1},
	{"host \"all\" all all md5\n", "10.0.0.1", false, "all", "u", false, 1},
	{"host \"all\" all all md5\n", "10.0.0.1", false, "x", "u", false, 0},
	{"host all \"all\" all md5\n", "10.0.0.1", false, "x", "u", false, 0},
	{"host all \"all\" all md5\n", "10.0.0.1", false, "x", "all", false, 1},
	/* replication: physical walsenders match the keyword only; others never match it */
	{REPL, "10.0.0.1", false, "", "u", true, 1},
	{REPL, "10.0.0.1", false, "replication", "u", false, 2},
	{"host replication all all md5\n", "10.0.0.1", false, "replication", "u", false, 0},
	{"host all all all md5\n", "10.0.0.1", false, "", "u", true, 0},
	{"host sameuser all all md5\n", "10.0.0.1", false, "", "", true, 0},
	{"host \"replication\" all all md5\n", "10.0.0.1", false, "", "u", true, 0},
	{"host \"replication\" all all md5\n", "10.0.0.1", false, "replication", "u", false, 1},
	{"host db,replication all all md5\n", "10.0.0.1", false, "db", "u", false, 1},
	/* first match wins, reject included */
	{"host all alice all reject\nhost all all all md5\n", "10.0.0.1", false, "d", "alice",
	 false, 1},
	{"host all alice all reject\nhost all all all md5\n", "10.0.0.1", false, "d", "bob", false,
	 2},
	{"host all all 10.0.0.0/8 trust\nhost all all 10.1.0.0/16 reject\n", "10.1.0.1", false, "d",
	 "u", false, 1},
	{"host all all 10.1.0.0/16 reject\nhost all all 10.0.0.0/8 trust\n", "10.1.0.1", false, "d",
	 "u", false, 1},
	{"host all all 10.1.0.0/16 reject\nhost all all 10.0.0.0/8 trust\n", "10.2.0.1", false, "d",
	 "u", false, 2},
	{"hostssl all all all cert\nhost all all all md5\n", "10.0.0.1", false, "d", "u", false, 2},
};

static void test_match_table(void **state)
{
	for (size_t i = 0; i < sizeof(match_cases) / sizeof(match_cases[0]); i++) {
		const struct match_case *c = &match_cases[i];
		struct pgw_hba *h;
		int got;

		h = parse(c->rules);
		got = match(h, c->peer, c->tls, c->db, c->user, c->repl, NULL, 0);
		if (got != c->line)
			fail_msg("case %zu: %s from %s%s db=%s user=%s%s: line %d, expected %d", i,
				 c->rules, c->peer, c->tls ? " (tls)" : "", c->db, c->user,
				 c->repl ? " replication" : "", got, c->line);
		pgw_hba_free(h);
	}
}

static void test_include(void **state)
{
	char path[1024], err[ERRLEN];
	struct pgw_hba *h;

	snprintf(path, sizeof(path), "%s/hba/valid/include.conf", data_dir());
	h = pgw_hba_load(path, err, sizeof(err));
	if (h == NULL)
		fail_msg("%s", err);
	assert_int_equal(match(h, "10.1.1.1", false, "sales", "alice", false, NULL, 0), 2);
	assert_int_equal(match(h, "10.1.1.1", false, "Quoted DB", "bob", false, NULL, 0), 2);
	assert_int_equal(match(h, "10.1.1.1", false, "all", "bob", false, NULL, 0), 2);
	assert_int_equal(match(h, "10.1.1.1", false, "inventory", "all_of_them", false, NULL, 0),
			 2);
	assert_int_equal(match(h, "10.1.1.1", false, "other", "alice", false, NULL, 0), 0);
	assert_int_equal(match(h, "10.1.1.1", false, "sales", "carol", false, NULL, 0), 0);
	/* a quoted "@x" and a lone @ are names */
	assert_int_equal(match(h, "10.1.1.1", false, "@lists/dbs.txt", "carol", false, NULL, 0), 3);
	assert_int_equal(match(h, "10.1.1.1", false, "@", "carol", false, NULL, 0), 4);
	pgw_hba_free(h);

	/* parsed from memory, includes are relative to the directory of the name given */
	snprintf(path, sizeof(path), "%s/hba/valid/in-memory.conf", data_dir());
	h = pgw_hba_parse("host @lists/more.txt all all md5", 32, path, err, sizeof(err));
	if (h == NULL)
		fail_msg("%s", err);
	assert_string_equal(pgw_hba_rule_at(h, 0)->databases[0].name, "inventory");
	pgw_hba_free(h);
}

static void test_samehost_samenet(void **state)
{
	struct sockaddr_in a1 = {.sin_family = AF_INET}, m1 = {.sin_family = AF_INET};
	struct sockaddr_in a2 = {.sin_family = AF_INET}, m2 = {.sin_family = AF_INET};
	struct sockaddr_in a3 = {.sin_family = AF_INET};
	struct sockaddr_in6 a4 = {.sin6_family = AF_INET6}, m4 = {.sin6_family = AF_INET6};
	struct pgw_hba_ifaddr ifs[4];
	struct pgw_hba *host = parse("host all all samehost md5\n");
	struct pgw_hba *net = parse("host all all samenet md5\n");
	struct pgw_hba *quoted;
	size_t n = 4;

	inet_pton(AF_INET, "10.1.2.3", &a1.sin_addr);
	inet_pton(AF_INET, "255.255.0.0", &m1.sin_addr);
	inet_pton(AF_INET, "192.168.7.7", &a2.sin_addr);
	inet_pton(AF_INET, "0.0.0.0", &m2.sin_addr); /* unusable: the address alone */
	inet_pton(AF_INET, "172.16.0.1", &a3.sin_addr);
	inet_pton(AF_INET6, "fe80::1", &a4.sin6_addr);
	inet_pton(AF_INET6, "ffff:ffff:ffff:ffff::", &m4.sin6_addr);
	ifs[0] = (struct pgw_hba_ifaddr){(struct sockaddr *)&a1, (struct sockaddr *)&m1};
	ifs[1] = (struct pgw_hba_ifaddr){(struct sockaddr *)&a2, (struct sockaddr *)&m2};
	ifs[2] = (struct pgw_hba_ifaddr){(struct sockaddr *)&a3, NULL};
	ifs[3] = (struct pgw_hba_ifaddr){(struct sockaddr *)&a4, (struct sockaddr *)&m4};

	assert_int_equal(match(host, "10.1.2.3", false, "d", "u", false, ifs, n), 1);
	assert_int_equal(match(host, "10.1.2.4", false, "d", "u", false, ifs, n), 0);
	assert_int_equal(match(host, "192.168.7.7", false, "d", "u", false, ifs, n), 1);
	assert_int_equal(match(host, "172.16.0.1", false, "d", "u", false, ifs, n), 1);
	assert_int_equal(match(host, "fe80::1", false, "d", "u", false, ifs, n), 1);
	assert_int_equal(match(host, "fe80::2", false, "d", "u", false, ifs, n), 0);
	assert_int_equal(match(net, "10.1.9.9", false, "d", "u", false, ifs, n), 1);
	assert_int_equal(match(net, "10.2.0.1", false, "d", "u", false, ifs, n), 0);
	assert_int_equal(match(net, "192.168.7.8", false, "d", "u", false, ifs, n), 0);
	assert_int_equal(match(net, "172.16.0.2", false, "d", "u", false, ifs, n), 0);
	assert_int_equal(match(net, "fe80::abcd", false, "d", "u", false, ifs, n), 1);
	assert_int_equal(match(net, "fe81::1", false, "d", "u", false, ifs, n), 0);
	assert_int_equal(match(net, "10.1.9.9", false, "d", "u", false, ifs, 0), 0);

	/* the machine's own interfaces: every Linux network namespace has lo */
	assert_int_equal(match(host, "127.0.0.1", false, "d", "u", false, NULL, 0), 1);
	assert_int_equal(match(host, "192.0.2.1", false, "d", "u", false, NULL, 0), 0);

	/* quoted, they are host names */
	assert_null(pgw_hba_parse("host all all \"samehost\" md5", 27, "t", NULL, 0));
	quoted = pgw_hba_parse("host all all samehost md5", 25, "t", NULL, 0);
	assert_non_null(quoted);
	pgw_hba_free(quoted);
	pgw_hba_free(host);
	pgw_hba_free(net);
}

static void test_method_names(void **state)
{
	static const char *const names[] = {"trust",	"reject",	 "md5",
					    "password", "scram-sha-256", "cert"};

	for (int m = PGW_AUTH_TRUST; m <= PGW_AUTH_CERT; m++)
		assert_string_equal(pgw_auth_method_name((enum pgw_auth_method)m), names[m]);
	assert_string_equal(pgw_auth_method_name((enum pgw_auth_method)99), "?");
}

static struct pgw_ident *load_ident(void)
{
	char path[1024], err[ERRLEN];
	struct pgw_ident *m;

	snprintf(path, sizeof(path), "%s/hba/ident/pg_ident.conf", data_dir());
	if ((m = pgw_ident_load(path, err, sizeof(err))) == NULL)
		fail_msg("%s", err);
	return m;
}

static const struct ident_case {
	const char *map, *system, *pg;
	bool allowed;
} ident_cases[] = {
	{"services", "app.example.com", "svc_app", true},
	{"services", "app.example.com", "svc_reports", false},
	{"services", "APP.example.com", "svc_app", false},
	{"services", "reports client", "svc_reports", true},
	{"nosuch", "app.example.com", "svc_app", false},
	{"corp", "alice@corp", "alice", true},
	{"corp", "alice@corp", "bob", false},
	{"corp", "alice@corpx", "alice", false},
	{"corp", "@corp", "", true},
	{"corp", "monitor-12", "monitor", true},
	{"corp", "monitor-x", "monitor", false},
	{"corp", "monitor-12", "\\1", false},
	{"prefixed", "bob.ops", "ops_bob_admin", true},
	{"prefixed", "bob.ops", "ops_bob_admi", false},
	{"prefixed", "bob.ops", "ops_bob_admin2", false},
	{"prefixed", "bob.ops", "ops__admin", false},
	{"prefixed", "Bob.ops", "ops_Bob_admin", false},
	{"optional", "xy", "y", true},
	/* the group takes no part in this match: PostgreSQL stops there, and so the next line,
	 * which would allow it, is never reached */
	{"optional", "x", "x", false},
	{"bounded", "aabaaab", "bounded", true},
	{"bounded", "aabab", "bounded", false},
	{"lazy", "aab", "aa", true},
	{NULL, "alice", "alice", true},
	{NULL, "alice", "Alice", false},
	{"", "alice", "alice", true},
};

static void test_ident_maps(void **state)
{
	struct pgw_ident *m = load_ident();

	for (size_t i = 0; i < sizeof(ident_cases) / sizeof(ident_cases[0]); i++) {
		const struct ident_case *c = &ident_cases[i];

		if (pgw_ident_allows(m, c->map, c->system, c->pg) != c->allowed)
			fail_msg("map %s: %s as %s should be %s", c->map ? c->map : "(none)",
				 c->system, c->pg, c->allowed ? "allowed" : "refused");
	}
	assert_true(pgw_ident_has_map(m, "corp"));
	assert_false(pgw_ident_has_map(m, "nosuch"));
	assert_false(pgw_ident_allows(NULL, "corp", "alice@corp", "alice"));
	assert_true(pgw_ident_allows(NULL, NULL, "alice", "alice"));
	assert_false(pgw_ident_allows(m, "corp", NULL, "alice"));
	pgw_ident_free(m);
}

static void test_ident_parse(void **state)
{
	static const char text[] = "# extra fields are ignored, as PostgreSQL 15 ignores them\n"
				   "m a b extra fields\n"
				   "m \"/^(x+)$\" \"q\"\n"
				   "m @empty\n";
	char err[ERRLEN];
	struct pgw_ident *m =
		pgw_ident_parse(text, strlen(text) - 9, "ident.conf", err, sizeof(err));

	if (m == NULL)
		fail_msg("%s", err);
	assert_true(pgw_ident_allows(m, "m", "a", "b"));
	/* a quoted regex is still one: PostgreSQL looks at the first character only */
	assert_true(pgw_ident_allows(m, "m", "xx", "q"));
	pgw_ident_free(m);
	m = pgw_ident_parse("", 0, "ident.conf", err, sizeof(err));
	assert_non_null(m);
	assert_false(pgw_ident_allows(m, "m", "a", "a"));
	pgw_ident_free(m);
	assert_null(
		pgw_ident_parse(text, strlen(text), "/nonexistent/ident.conf", err, sizeof(err)));
	assert_string_equal(err, "/nonexistent/ident.conf:4: could not open secondary "
				 "authentication file \"@empty\" as \"/nonexistent/empty\": No "
				 "such file or directory");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_fixtures),
		cmocka_unit_test(test_invalid_fixtures),
		cmocka_unit_test(test_invalid_ident_fixtures),
		cmocka_unit_test(test_typical_fields),
		cmocka_unit_test(test_tokenizer_quirks),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_load_errors),
		cmocka_unit_test(test_match_table),
		cmocka_unit_test(test_include),
		cmocka_unit_test(test_samehost_samenet),
		cmocka_unit_test(test_method_names),
		cmocka_unit_test(test_ident_maps),
		cmocka_unit_test(test_ident_parse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
