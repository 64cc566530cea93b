/*
 * auth.c and throttle.c: which method a login must pass (auth_type, or the first hba rule),
 * the forms of a secret, and failed logins per address (limit, period, one key for an IPv4
 * address and its IPv6-mapped spelling, other addresses unaffected).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <string.h>

#include "pgward/auth.h"
#include "pgward/random.h"

static struct sockaddr_storage v4(const char *ip)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *in = (struct sockaddr_in *)&ss;

	memset(&ss, 0, sizeof(ss));
	in->sin_family = AF_INET;
	assert_int_equal(inet_pton(AF_INET, ip, &in->sin_addr), 1);
	return ss;
}

static struct sockaddr_storage v6(const char *ip)
{
	struct sockaddr_storage ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

	memset(&ss, 0, sizeof(ss));
	in6->sin6_family = AF_INET6;
	assert_int_equal(inet_pton(AF_INET6, ip, &in6->sin6_addr), 1);
	return ss;
}

#define SA(ss) ((const struct sockaddr *)&(ss))

static void test_throttle_after_limit_until_period_ends(void **state)
{
	struct sockaddr_storage a = v4("10.0.0.1"), b = v4("10.0.0.2");
	double retry = 0;

	for (int i = 0; i < 3; i++) {
		assert_false(pgw_auth_throttled(SA(a), 100.0 + i, 3, 60, &retry));
		pgw_auth_failure(SA(a), 100.0 + i, 3, 60);
	}
	assert_true(pgw_auth_throttled(SA(a), 110.0, 3, 60, &retry));
	assert_true(retry > 49.9 && retry < 50.1); /* the period began at 100 */
	/* another address is not affected */
	assert_false(pgw_auth_throttled(SA(b), 110.0, 3, 60, &retry));
	/* the period is over: counting starts again */
	assert_false(pgw_auth_throttled(SA(a), 160.5, 3, 60, &retry));
	pgw_auth_failure(SA(a), 161.0, 3, 60);
	assert_false(pgw_auth_throttled(SA(a), 161.5, 3, 60, &retry));
	pgw_auth_throttle_free();
}

static void test_throttle_mapped_ipv4_is_the_same_address(void **state)
{
	struct sockaddr_storage a = v4("192.0.2.7"), mapped = v6("::ffff:192.0.2.7"),
				other = v6("2001:db8::7");
	double retry = 0;

	pgw_auth_failure(SA(a), 1.0, 2, 60);
	pgw_auth_failure(SA(mapped), 2.0, 2, 60);
	assert_true(pgw_auth_throttled(SA(a), 3.0, 2, 60, &retry));
	assert_true(pgw_auth_throttled(SA(mapped), 3.0, 2, 60, &retry));
	assert_false(pgw_auth_throttled(SA(other), 3.0, 2, 60, &retry));
	pgw_auth_throttle_free();
}

static void test_throttle_off_with_limit_zero(void **state)
{
	struct sockaddr_storage a = v4("10.9.9.9");
	double retry = 0;

	for (int i = 0; i < 100; i++)
		pgw_auth_failure(SA(a), 1.0, 0, 60);
	assert_false(pgw_auth_throttled(SA(a), 1.0, 0, 60, &retry));
	pgw_auth_throttle_free();
}

static void test_throttle_memory_is_bounded(void **state)
{
	double retry = 0;
	struct sockaddr_storage first = v4("10.0.0.0");

	pgw_auth_failure(SA(first), 1.0, 1, 1000);
	assert_true(pgw_auth_throttled(SA(first), 2.0, 1, 1000, &retry));
	/* 70,000 addresses: the table makes room by forgetting the oldest periods */
	for (uint32_t i = 1; i <= 70000; i++) {
		struct sockaddr_storage ss;
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;

		memset(&ss, 0, sizeof(ss));
		in->sin_family = AF_INET;
		in->sin_addr.s_addr = htonl(0x0a000000u + i);
		pgw_auth_failure(SA(ss), 3.0, 1, 1000);
	}
	assert_false(pgw_auth_throttled(SA(first), 4.0, 1, 1000, &retry));
	pgw_auth_throttle_free();
}

/* One IPv6 host has a /64 to pick addresses from: they count as one. */
static void test_throttle_ipv6_counts_per_64(void **state)
{
	struct sockaddr_storage a = v6("2001:db8:1:2::1"), b = v6("2001:db8:1:2:ffff::9"),
				other = v6("2001:db8:1:3::1");
	double retry = 0;

	pgw_auth_failure(SA(a), 1.0, 2, 60);
	pgw_auth_failure(SA(b), 2.0, 2, 60);
	assert_true(pgw_auth_throttled(SA(a), 3.0, 2, 60, &retry));
	assert_true(pgw_auth_throttled(SA(b), 3.0, 2, 60, &retry));
	assert_false(pgw_auth_throttled(SA(other), 3.0, 2, 60, &retry));
	pgw_auth_throttle_free();
}

static void test_auth_query_database(void **state)
{
	assert_string_equal(pgw_auth_query_database("authdb", "app"), "authdb");
	assert_string_equal(pgw_auth_query_database(NULL, "app"), "app");
	/* a physical replication login names no database */
	assert_string_equal(pgw_auth_query_database(NULL, ""), "postgres");
}

static void test_secret_forms(void **state)
{
	struct pgw_auth_secret s = {0};

	assert_int_equal(pgw_auth_secret_set(&s, "md5"
						 "0123456789abcdef0123456789abcdef"),
			 0);
	assert_int_equal(s.kind, PGW_SECRET_MD5);
	assert_int_equal(pgw_auth_secret_set(&s, "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$"
						 "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
						 "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU="),
			 0);
	assert_int_equal(s.kind, PGW_SECRET_SCRAM);
	assert_int_equal(s.scram.iterations, 4096);
	/* anything else is a password, even one that looks almost like a secret */
	assert_int_equal(pgw_auth_secret_set(&s, "md5notahash"), 0);
	assert_int_equal(s.kind, PGW_SECRET_PLAIN);
	assert_string_equal(s.text, "md5notahash");
	assert_int_equal(pgw_auth_secret_set(&s, ""), 0);
	assert_int_equal(s.kind, PGW_SECRET_NONE);
	assert_null(s.text);
	assert_int_equal(pgw_auth_secret_set(&s, NULL), 0);
	assert_int_equal(s.kind, PGW_SECRET_NONE);
	pgw_auth_secret_clear(&s);
}

/* A plain password's SCRAM secret is derived once per role, with the salt an unknown role's
 * mock exchange shows; a changed password derives a new secret. */
static void test_plain_scram_kept_per_role(void **state)
{
	struct pgw_auth_files files = {0};
	struct pgw_scram_secret a, b, c, other, mock;

	assert_int_equal(pgw_auth_plain_scram(&files, "alice", "pw1", &a), 0);
	assert_int_equal(pgw_auth_plain_scram(&files, "alice", "pw1", &b), 0);
	assert_memory_equal(&a, &b, sizeof(a));
	assert_int_equal(pgw_auth_plain_scram(&files, "bob", "pw1", &other), 0);
	assert_memory_not_equal(a.salt, other.salt, a.salt_len);
	assert_int_equal(pgw_auth_plain_scram(&files, "alice", "pw2", &c), 0);
	assert_memory_not_equal(a.stored_key, c.stored_key, PGW_SCRAM_KEY_LEN);
	pgw_scram_mock_secret("alice", &mock);
	assert_memory_equal(a.salt, mock.salt, mock.salt_len);
	assert_memory_equal(c.salt, mock.salt, mock.salt_len);
	pgw_auth_files_free(&files);
}

static void test_plan_from_auth_type(void **state)
{
	struct pgw_config cfg = {0};
	struct pgw_auth_files files = {0};
	struct sockaddr_storage peer = v4("127.0.0.1");
	struct pgw_hba_query q = {.peer = SA(peer), .database = "db", .user = "u"};
	struct pgw_auth_plan plan;

	cfg.auth_type = PGW_AUTH_TYPE_SCRAM;
	assert_int_equal(pgw_auth_plan(&cfg, &files, &q, &plan), PGW_AUTH_PLANNED);
	assert_int_equal(plan.method, PGW_AUTH_SCRAM);
	assert_int_equal(plan.clientcert, PGW_CLIENTCERT_NONE);
	cfg.auth_type = PGW_AUTH_TYPE_CERT;
	assert_int_equal(pgw_auth_plan(&cfg, &files, &q, &plan), PGW_AUTH_PLANNED);
	assert_int_equal(plan.method, PGW_AUTH_CERT);
	assert_int_equal(plan.clientcert, PGW_CLIENTCERT_VERIFY_FULL);
	/* hba without a loaded file matches nothing */
	cfg.auth_type = PGW_AUTH_TYPE_HBA;
	assert_int_equal(pgw_auth_plan(&cfg, &files, &q, &plan), PGW_AUTH_NO_ENTRY);
	assert_int_equal(plan.method, PGW_AUTH_REJECT); /* counted as PostgreSQL sees it */
}

static void test_plan_from_hba(void **state)
{
	static const char rules[] =
		"host db u 127.0.0.1/32 md5\n"
		"hostssl other all 127.0.0.1/32 scram-sha-256 clientcert=verify-ca\n"
		"hostssl all all 127.0.0.1/32 cert map=m\n"
		"host all all 0.0.0.0/0 reject\n";
	struct pgw_config cfg = {.auth_type = PGW_AUTH_TYPE_HBA};
	struct pgw_auth_files files = {0};
	struct sockaddr_storage local = v4("127.0.0.1"), far = v4("203.0.113.9");
	struct pgw_hba_query q = {.peer = SA(local), .database = "db", .user = "u"};
	struct pgw_auth_plan plan;
	char err[256];

	files.hba = pgw_hba_parse(rules, strlen(rules), "hba.conf", err, sizeof(err));
	if (files.hba == NULL)
		fail_msg("%s", err);
	assert_int_equal(pgw_auth_plan(&cfg, &files, &q, &plan), PGW_AUTH_PLANNED);
	assert_int_equal(plan.method, PGW_AUTH_MD5);
	assert_int_equal(plan.hba_line, 1);
	q.tls = true;
	q.database = "other";
	assert_int_equal(pgw_auth_plan(&cfg, &files, &q, &plan), PGW_AUTH_PLANNED);
	assert_int_equal(plan.method, PGW_AUTH_SCRAM);
	assert_int_equal(plan.clientcert, PGW_CLIENTCERT_VERIFY_CA);
	q.database = "third";
	assert_int_equal(pgw_auth_plan(&cfg, &files, &q, &plan), PGW_AUTH_PLANNED);
	assert_int_equal(plan.method, PGW_AUTH_CERT);
	assert_int_equal(plan.clientcert, PGW_CLIENTCERT_VERIFY_FULL);
	assert_string_equal(plan.map, "m");
	assert_int_equal(plan.hba_line, 3);
	q.tls = false;
	assert_int_equal(pgw_auth_plan(&cfg, &files, &q, &plan), PGW_AUTH_PLANNED);
	assert_int_equal(plan.method, PGW_AUTH_REJECT);
	q.peer = SA(far);
	q.database = "db";
	assert_int_equal(pgw_auth_plan(&cfg, &files, &q, &plan), PGW_AUTH_PLANNED);
	assert_int_equal(plan.method, PGW_AUTH_REJECT);
	pgw_auth_files_free(&files);
}

/* Random bytes from the refilled block: no two draws alike across several refills, small
 * and large requests, and the bytes spread over all values (a block handed out twice, or a
 * draw left zeroed, would fail). */
static void test_random_bytes_are_never_handed_out_twice(void **state)
{
	static uint8_t seen[3000][8];
	unsigned counts[256] = {0};
	uint8_t big[4096];

	(void)state;
	for (size_t i = 0; i < 3000; i++) {
		assert_int_equal(pgw_random_bytes(seen[i], sizeof(seen[i])), 0);
		for (size_t j = 0; j < sizeof(seen[i]); j++)
			counts[seen[i][j]]++;
		for (size_t k = 0; k < i; k += 97)
			assert_memory_not_equal(seen[i], seen[k], sizeof(seen[i]));
	}
	assert_memory_not_equal(seen[2999], seen[2998], sizeof(seen[0]));
	for (size_t v = 0; v < 256; v++)
		assert_true(counts[v] > 20 && counts[v] < 200); /* 24000 bytes: about 94 each */
	memset(big, 0, sizeof(big));
	assert_int_equal(pgw_random_bytes(big, sizeof(big)), 0);
	assert_memory_not_equal(big, big + 2048, 2048);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_throttle_after_limit_until_period_ends),
		cmocka_unit_test(test_throttle_mapped_ipv4_is_the_same_address),
		cmocka_unit_test(test_throttle_off_with_limit_zero),
		cmocka_unit_test(test_throttle_memory_is_bounded),
		cmocka_unit_test(test_throttle_ipv6_counts_per_64),
		cmocka_unit_test(test_auth_query_database),
		cmocka_unit_test(test_random_bytes_are_never_handed_out_twice),
		cmocka_unit_test(test_secret_forms),
		cmocka_unit_test(test_plain_scram_kept_per_role),
		cmocka_unit_test(test_plan_from_auth_type),
		cmocka_unit_test(test_plan_from_hba),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
