/*
 * config/config.c: defaults, the shipped conf/pgward.ini, every fixture under tests/data/config
 * (invalid ones carry their expected error on line 1 as "# expect: <substring>"), units,
 * quoting, restart rules. Files only; no network.
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
#include <unistd.h>

#include "pgward/config.h"
#include "pgward/sql.h"

#define ERRLEN 512

#define assert_near(a, b) assert_true((a) - (b) < 1e-9 && (b) - (a) < 1e-9)

static const char *data_dir(void)
{
	const char *dir = getenv("PGWARD_TEST_DATA");

	return dir != NULL ? dir : "tests/data";
}

static void assert_zeroed(const struct pgw_config *cfg)
{
	struct pgw_config zero;

	memset(&zero, 0, sizeof(zero));
	assert_memory_equal(cfg, &zero, sizeof(zero));
}

/* Writes <len> bytes to a temporary file, loads it, removes it. */
static int load_bytes(const char *data, size_t len, struct pgw_config *cfg, char *err)
{
	char path[] = "/tmp/pgward-test-config-XXXXXX";
	int fd = mkstemp(path);
	int rc;

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
	rc = pgw_config_load(path, cfg, err, ERRLEN);
	unlink(path);
	return rc;
}

static int load_text(const char *text, struct pgw_config *cfg, char *err)
{
	return load_bytes(text, strlen(text), cfg, err);
}

/* Loads "[pgward]\n<key> = <value>\n" and expects success. */
static void load_one(const char *key, const char *value, struct pgw_config *cfg)
{
	char text[256], err[ERRLEN];

	snprintf(text, sizeof(text), "[pgward]\n%s = %s\n", key, value);
	if (load_text(text, cfg, err) != 0)
		fail_msg("%s = %s: %s", key, value, err);
}

static void assert_defaults(const struct pgw_config *c)
{
	assert_string_equal(c->listen_addr, "127.0.0.1");
	assert_int_equal(c->listen_port, 6432);
	assert_int_equal(c->max_client_conn, 1000);
	assert_string_equal(c->server_host, "127.0.0.1");
	assert_int_equal(c->server_port, 5432);
	assert_int_equal(c->client_tls_sslmode, PGW_SSL_DISABLE);
	assert_null(c->client_tls_cert_file);
	assert_null(c->client_tls_key_file);
	assert_null(c->client_tls_ca_file);
	assert_int_equal(c->server_tls_sslmode, PGW_SSL_PREFER);
	assert_null(c->server_tls_ca_file);
	assert_null(c->server_tls_cert_file);
	assert_null(c->server_tls_key_file);
	assert_near(c->client_login_timeout, 60);
	assert_near(c->client_idle_timeout, 0);
	assert_near(c->server_connect_timeout, 15);
	assert_near(c->shutdown_timeout, 30);
	assert_int_equal(c->max_packet_size, 1073741823);
	assert_int_equal(c->log_level, PGW_LOG_INFO);
	/* [limits] */
	/* PostgreSQL's own caps: without [limits], nothing the server accepts is refused */
	assert_int_equal(c->max_message_size, 1073741823);
	assert_int_equal(c->max_query_size, 1073741823);
	assert_int_equal(c->max_bind_param_size, 1073741823);
	assert_int_equal(c->max_bind_params, 65535);
	assert_int_equal(c->max_copy_data_size, 1073741823);
	assert_int_equal(c->guard_mode, PGW_GUARD_ENFORCE);
}

static void test_defaults(void **state)
{
	struct pgw_config cfg;

	pgw_config_defaults(&cfg);
	assert_null(cfg.path);
	assert_defaults(&cfg);
	/* [guard]: enforce, but no rules for anyone (the shipped example turns them on) */
	assert_null(cfg.rules);
	assert_null(cfg.role_rules);
	assert_int_equal(cfg.guard_default_rules, 0);
	assert_null(cfg.guard_roles);
	assert_int_equal(cfg.nguard_roles, 0);
	assert_int_equal(pgw_config_guard_rules(&cfg, "app"), 0);
	pgw_config_free(&cfg);
	assert_zeroed(&cfg);
}

static void count_warning(const char *key, const char *message, void *arg)
{
	/* only the two keys set below 4 MB, each with a sentence that names it */
	assert_true(strcmp(key, "max_query_size") == 0 || strcmp(key, "max_bind_param_size") == 0);
	assert_non_null(strstr(message, key));
	assert_non_null(strstr(message, "smaller than a typical bulk insert"));
	(*(int *)arg)++;
}

static void no_warning(const char *key, const char *message, void *arg)
{
	(void)arg;
	fail_msg("%s: %s", key, message);
}

/* --check-config's warnings: every size under 4 MB, named; none for the defaults. */
static void test_limit_warnings(void **state)
{
	struct pgw_config cfg;
	char err[ERRLEN];
	int seen = 0;

	(void)state;
	pgw_config_defaults(&cfg);
	assert_int_equal(pgw_config_warnings(&cfg, no_warning, NULL), 0);
	pgw_config_free(&cfg);
	if (load_text("[limits]\nmax_query_size = 1MB\nmax_copy_data_size = 4MB\n"
		      "max_bind_param_size = 4194303\n",
		      &cfg, err) != 0)
		fail_msg("%s", err);
	assert_int_equal(pgw_config_warnings(&cfg, count_warning, &seen), 2);
	assert_int_equal(seen, 2);
	pgw_config_free(&cfg);
}

static void test_shipped_example(void **state)
{
	struct pgw_config cfg;
	char path[1024], err[ERRLEN];

	snprintf(path, sizeof(path), "%s/../../conf/pgward.ini", data_dir());
	if (pgw_config_load(path, &cfg, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	/* The example documents the defaults: it must not drift from them. Only [limits] sets
	 * the sizes we suggest, each above what a bulk insert sends. */
	assert_string_equal(cfg.path, path);
	assert_int_equal(cfg.max_message_size, 64 << 20);
	assert_int_equal(cfg.max_query_size, 32 << 20);
	assert_int_equal(cfg.max_bind_param_size, 64 << 20);
	assert_int_equal(cfg.max_copy_data_size, 64 << 20);
	assert_int_equal(pgw_config_warnings(&cfg, no_warning, NULL), 0);
	cfg.max_message_size = cfg.max_query_size = 1073741823;
	cfg.max_bind_param_size = cfg.max_copy_data_size = 1073741823;
	assert_defaults(&cfg);
	pgw_config_free(&cfg);
}

/* Calls <fn> for every *.ini in tests/data/config/<sub>; returns how many. */
static int for_each_fixture(const char *sub, void (*fn)(const char *path))
{
	char dir[1024], path[2048];
	struct dirent *de;
	DIR *d;
	int n = 0;

	snprintf(dir, sizeof(dir), "%s/config/%s", data_dir(), sub);
	d = opendir(dir);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);

		if (len < 5 || strcmp(de->d_name + len - 4, ".ini") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		fn(path);
		n++;
	}
	closedir(d);
	return n;
}

static void check_valid(const char *path)
{
	struct pgw_config cfg;
	char err[ERRLEN];

	if (pgw_config_load(path, &cfg, err, sizeof(err)) != 0)
		fail_msg("%s should load: %s", path, err);
	pgw_config_free(&cfg);
}

static void check_invalid(const char *path)
{
	static const char tag[] = "# expect: ";
	struct pgw_config cfg;
	char expect[512], err[ERRLEN];
	FILE *f = fopen(path, "r");

	assert_non_null(f);
	if (fgets(expect, sizeof(expect), f) == NULL || strncmp(expect, tag, strlen(tag)) != 0)
		fail_msg("%s: line 1 must be \"%s<substring>\"", path, tag);
	fclose(f);
	expect[strcspn(expect, "\r\n")] = '\0';

	if (pgw_config_load(path, &cfg, err, sizeof(err)) == 0)
		fail_msg("%s loaded, expected error containing: %s", path, expect + strlen(tag));
	if (strstr(err, expect + strlen(tag)) == NULL)
		fail_msg("%s\n  expected: %s\n  got:      %s", path, expect + strlen(tag), err);
	/* "file:line: message", with the path exactly as given. */
	assert_int_equal(strncmp(err, path, strlen(path)), 0);
	assert_int_equal(err[strlen(path)], ':');
	assert_zeroed(&cfg);
}

static void test_valid_fixtures(void **state)
{
	assert_true(for_each_fixture("valid", check_valid) >= 5);
}

static void test_invalid_fixtures(void **state)
{
	assert_true(for_each_fixture("invalid", check_invalid) >= 8);
}

static void test_full_fixture(void **state)
{
	struct pgw_config c;
	char path[1024], err[ERRLEN];

	snprintf(path, sizeof(path), "%s/config/valid/full.ini", data_dir());
	if (pgw_config_load(path, &c, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_string_equal(c.listen_addr, "0.0.0.0");
	assert_int_equal(c.listen_port, 7432);
	assert_int_equal(c.max_client_conn, 5000);
	assert_string_equal(c.server_host, "db.internal");
	assert_int_equal(c.server_port, 5433);
	assert_int_equal(c.client_tls_sslmode, PGW_SSL_VERIFY_FULL);
	assert_string_equal(c.client_tls_cert_file, "/etc/pgward/server.crt");
	assert_string_equal(c.client_tls_key_file, "/etc/pgward/server.key");
	assert_string_equal(c.client_tls_ca_file, "/etc/pgward/client-ca.crt");
	assert_int_equal(c.server_tls_sslmode, PGW_SSL_VERIFY_FULL);
	assert_string_equal(c.server_tls_ca_file, "/etc/pgward/server-ca.crt");
	assert_string_equal(c.server_tls_cert_file, "/etc/pgward/pgward-client.crt");
	assert_string_equal(c.server_tls_key_file, "/etc/pgward/pgward-client.key");
	assert_near(c.client_login_timeout, 30);
	assert_near(c.client_idle_timeout, 600);
	assert_near(c.server_connect_timeout, 2.5);
	assert_near(c.shutdown_timeout, 3600);
	assert_int_equal(c.max_packet_size, 64 << 20);
	assert_int_equal(c.log_level, PGW_LOG_DEBUG);
	pgw_config_free(&c);
}

static void test_size_units(void **state)
{
	static const struct {
		const char *text;
		uint32_t bytes;
	} cases[] = {
		{"1024", 1024},
		{"4096B", 4096},
		{"4096 b", 4096},
		{"1kB", 1024},
		{"1KB", 1024},
		{"64 kb", 65536},
		{"2MB", 2097152},
		{"16mb", 16777216},
		{"1GB", 1073741824},
		{"1gB", 1073741824},
		{"'8kB'", 8192},
		{"1073741823", 1073741823},
		{"\"1048576\"", 1048576},
	};
	struct pgw_config cfg;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		load_one("max_packet_size", cases[i].text, &cfg);
		assert_int_equal(cfg.max_packet_size, cases[i].bytes);
		pgw_config_free(&cfg);
	}
}

static void test_duration_units(void **state)
{
	static const struct {
		const char *text;
		double seconds;
	} cases[] = {
		{"0", 0},    {"1.5", 1.5},     {".5", 0.5},  {"250ms", 0.25},
		{"30s", 30}, {"2min", 120},    {"1h", 3600}, {"1.5 h", 5400},
		{"0ms", 0},  {"'10min'", 600}, {"7", 7},     {"100 ms", 0.1},
	};
	struct pgw_config cfg;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		load_one("client_idle_timeout", cases[i].text, &cfg);
		assert_near(cfg.client_idle_timeout, cases[i].seconds);
		pgw_config_free(&cfg);
	}
}

/* Spellings that strtod/strtoll would accept but a config file should not. */
static void test_bad_numbers(void **state)
{
	static const struct {
		const char *key, *value;
	} cases[] = {
		{"client_idle_timeout", "inf"},
		{"client_idle_timeout", "nan"},
		{"client_idle_timeout", "1e3"},
		{"client_idle_timeout", "0x10"},
		{"client_idle_timeout", "."},
		{"client_idle_timeout", "5 sec"},
		{"client_idle_timeout", ""},
		{"client_idle_timeout", "1.2.3"},
		{"client_idle_timeout", "5H"},
		{"max_packet_size", "0x400"},
		{"max_packet_size", "-1024"},
		{"max_packet_size", "4 KiB"},
		{"max_packet_size", ""},
		{"listen_port", "+5432"},
		{"listen_port", " 5432x"},
		{"listen_port", "5432.0"},
		{"listen_port", ""},
		{"log_level", ""},
	};
	struct pgw_config cfg;
	char text[256], err[ERRLEN];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(text, sizeof(text), "[pgward]\n%s = '%s'\n", cases[i].key, cases[i].value);
		if (load_text(text, &cfg, err) == 0)
			fail_msg("%s = '%s' was accepted", cases[i].key, cases[i].value);
		assert_non_null(strstr(err, ":2: invalid value"));
		assert_zeroed(&cfg);
	}
}

static void test_out_of_range_saturates(void **state)
{
	struct pgw_config cfg;
	char err[ERRLEN];

	/* Beyond long long / unsigned long long: must be "out of range", not wrapped. */
	assert_int_equal(load_text("[pgward]\nlisten_port = 99999999999999999999999\n", &cfg, err),
			 -1);
	assert_non_null(strstr(err, ":2: value \"99999999999999999999999\" for listen_port is "
				    "out of range (expected 1..65535)"));
	assert_int_equal(load_text("[pgward]\nmax_packet_size = 99999999999999999GB\n", &cfg, err),
			 -1);
	assert_non_null(strstr(err, "out of range (expected 1024..1073741824 bytes)"));
	assert_int_equal(load_text("[pgward]\nshutdown_timeout = 1e400\n", &cfg, err), -1);
	assert_int_equal(load_text("[pgward]\nshutdown_timeout = 999999999999999h\n", &cfg, err),
			 -1);
	assert_non_null(strstr(err, "out of range (expected 0..2147483647 seconds)"));
}

static void test_quoting_and_comments(void **state)
{
	static const char text[] =
		"; comment\n"
		"   # indented comment\n"
		"\n"
		"  [ pgward ]  ; comment after a header\n"
		"listen_addr = \"0.0.0.0\"   # double quotes\n"
		"server_host='db.internal'\t; single quotes, no blanks around '='\n"
		"client_tls_ca_file = \"/etc/ca # not a comment.crt\"\n"
		"server_tls_ca_file = /etc/ca#1.crt\n"
		"server_tls_cert_file = \"it's\"#comment right after the quote\n"
		"server_tls_key_file = 'say \"hi\" '\n"
		"log_level = warning # comment\n"
		"client_tls_cert_file =\n"
		"client_tls_key_file = # only a comment\n"
		"server_tls_sslmode = \"verify-ca\"\n";
	struct pgw_config c;
	char err[ERRLEN];

	if (load_text(text, &c, err) != 0)
		fail_msg("%s", err);
	assert_string_equal(c.listen_addr, "0.0.0.0");
	assert_string_equal(c.server_host, "db.internal");
	assert_string_equal(c.client_tls_ca_file, "/etc/ca # not a comment.crt");
	assert_string_equal(c.server_tls_ca_file, "/etc/ca#1.crt");
	assert_string_equal(c.server_tls_cert_file, "it's");
	assert_string_equal(c.server_tls_key_file, "say \"hi\" ");
	assert_int_equal(c.log_level, PGW_LOG_WARNING);
	assert_null(c.client_tls_cert_file);
	assert_null(c.client_tls_key_file);
	assert_int_equal(c.server_tls_sslmode, PGW_SSL_VERIFY_CA);
	pgw_config_free(&c);
}

static void test_line_length_limit(void **state)
{
	char text[8192], err[ERRLEN];
	struct pgw_config cfg;
	int head = snprintf(text, sizeof(text), "[pgward]\nserver_host = ");
	const int prefix = (int)strlen("server_host = ");

	/* Exactly 4096 bytes before the newline is fine; one more is not. */
	memset(text + head, 'h', 4096 - prefix);
	strcpy(text + head + 4096 - prefix, "\n");
	if (load_text(text, &cfg, err) != 0)
		fail_msg("%s", err);
	assert_int_equal(strlen(cfg.server_host), 4096 - prefix);
	pgw_config_free(&cfg);

	memset(text + head, 'h', 4097 - prefix);
	strcpy(text + head + 4097 - prefix, "\n");
	assert_int_equal(load_text(text, &cfg, err), -1);
	assert_non_null(strstr(err, ":2: line longer than 4096 bytes"));
}

static void test_nul_byte(void **state)
{
	static const char data[] = "[pgward]\nserver_host = a\0b\n";
	struct pgw_config cfg;
	char err[ERRLEN];

	assert_int_equal(load_bytes(data, sizeof(data) - 1, &cfg, err), -1);
	assert_non_null(strstr(err, ":2: NUL byte"));
	assert_zeroed(&cfg);
}

struct report_log {
	int calls;
	char key[64], old_value[64], new_value[64];
};

static void record_report(const char *key, const char *old_value, const char *new_value, void *arg)
{
	struct report_log *log = arg;

	log->calls++;
	snprintf(log->key, sizeof(log->key), "%s", key);
	snprintf(log->old_value, sizeof(log->old_value), "%s", old_value);
	snprintf(log->new_value, sizeof(log->new_value), "%s", new_value);
}

static void test_restart_changes(void **state)
{
	struct pgw_config old, fresh;
	struct report_log log = {0};
	char err[ERRLEN];

	pgw_config_defaults(&old);

	if (load_text("[pgward]\nlisten_port = 7000\nlog_level = debug\n", &fresh, err) != 0)
		fail_msg("%s", err);
	assert_int_equal(pgw_config_restart_changes(&old, &fresh, record_report, &log), 1);
	assert_int_equal(log.calls, 1);
	assert_string_equal(log.key, "listen_port");
	assert_string_equal(log.old_value, "6432");
	assert_string_equal(log.new_value, "7000");
	pgw_config_free(&fresh);

	/* Reloadable keys, even all of them changed at once, need no restart. */
	memset(&log, 0, sizeof(log));
	if (load_text("[pgward]\nlog_level = error\nserver_port = 5433\nmax_packet_size = 1MB\n"
		      "client_idle_timeout = 5min\nserver_host = db\n",
		      &fresh, err) != 0)
		fail_msg("%s", err);
	assert_int_equal(pgw_config_restart_changes(&old, &fresh, record_report, &log), 0);
	assert_int_equal(log.calls, 0);
	pgw_config_free(&fresh);

	memset(&log, 0, sizeof(log));
	if (load_text("[pgward]\nlisten_addr = 0.0.0.0\n", &fresh, err) != 0)
		fail_msg("%s", err);
	assert_int_equal(pgw_config_restart_changes(&old, &fresh, NULL, NULL), 1);
	assert_int_equal(pgw_config_restart_changes(&old, &fresh, record_report, &log), 1);
	assert_string_equal(log.key, "listen_addr");
	assert_string_equal(log.old_value, "127.0.0.1");
	assert_string_equal(log.new_value, "0.0.0.0");
	assert_int_equal(pgw_config_restart_changes(&fresh, &fresh, record_report, &log), 0);
	pgw_config_free(&fresh);

	pgw_config_free(&old);
}

static void test_missing_file(void **state)
{
	static const char path[] = "/nonexistent-pgward-dir/pgward.ini";
	struct pgw_config cfg;
	char err[ERRLEN];

	assert_int_equal(pgw_config_load(path, &cfg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "No such file or directory"));
	assert_zeroed(&cfg);
}

static void test_small_error_buffer(void **state)
{
	struct pgw_config cfg;
	char err[8];

	memset(err, 'x', sizeof(err));
	assert_int_equal(pgw_config_load("/nonexistent-pgward-dir/p.ini", &cfg, err, sizeof(err)),
			 -1);
	assert_int_equal(strlen(err), sizeof(err) - 1);
	assert_int_equal(pgw_config_load("/nonexistent-pgward-dir/p.ini", &cfg, NULL, 0), -1);
	assert_zeroed(&cfg);
}

/* Loads "[<section>]\n<key> = <value>\n" and expects success. */
static void load_in(const char *section, const char *key, const char *value, struct pgw_config *cfg)
{
	char text[1024], err[ERRLEN];

	snprintf(text, sizeof(text), "[%s]\n%s = %s\n", section, key, value);
	if (load_text(text, cfg, err) != 0)
		fail_msg("[%s] %s = %s: %s", section, key, value, err);
}

static void test_limits(void **state)
{
	static const struct {
		const char *key, *value;
		uint32_t want;
	} cases[] = {
		{"max_message_size", "1024", 1024},
		{"max_message_size", "1kB", 1024},
		{"max_message_size", "32 MB", 32 << 20},
		{"max_message_size", "1073741823", 1073741823},
		{"max_query_size", "64", 64},
		{"max_query_size", "64B", 64},
		{"max_query_size", "'256kB'", 256 << 10},
		{"max_query_size", "2mb", 2 << 20},
		{"max_bind_param_size", "1", 1},
		{"max_bind_param_size", "100MB", 100 << 20},
		{"max_bind_params", "0", 0},
		{"max_bind_params", "100", 100},
		{"max_bind_params", "65535", 65535},
		{"max_copy_data_size", "1B", 1},
		{"max_copy_data_size", "64kb", 64 << 10},
	};
	static const struct {
		const char *key, *value, *err;
	} bad[] = {
		{"max_message_size", "1023", "out of range (expected 1024..1073741823 bytes)"},
		{"max_message_size", "1GB", "out of range (expected 1024..1073741823 bytes)"},
		{"max_query_size", "63", "out of range (expected 64..1073741823 bytes)"},
		{"max_bind_param_size", "0", "out of range (expected 1..1073741823 bytes)"},
		{"max_bind_params", "65536", "out of range (expected 0..65535)"},
		{"max_bind_params", "-1", "out of range (expected 0..65535)"},
		{"max_bind_params", "1kB", "invalid value \"1kB\" for max_bind_params"},
		{"max_copy_data_size", "0", "out of range (expected 1..1073741823 bytes)"},
		{"max_copy_data_size", "\"1GB\"", "out of range (expected 1..1073741823 bytes)"},
		{"max_copy_data_size", "16 MiB", "invalid value \"16 MiB\" for max_copy_data_size"},
	};
	struct pgw_config cfg;
	char text[256], err[ERRLEN];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const uint32_t *u = NULL;

		load_in("limits", cases[i].key, cases[i].value, &cfg);
		if (strcmp(cases[i].key, "max_message_size") == 0)
			u = &cfg.max_message_size;
		else if (strcmp(cases[i].key, "max_query_size") == 0)
			u = &cfg.max_query_size;
		else if (strcmp(cases[i].key, "max_bind_param_size") == 0)
			u = &cfg.max_bind_param_size;
		else if (strcmp(cases[i].key, "max_copy_data_size") == 0)
			u = &cfg.max_copy_data_size;
		if (u != NULL)
			assert_int_equal(*u, cases[i].want);
		else
			assert_int_equal(cfg.max_bind_params, (int)cases[i].want);
		pgw_config_free(&cfg);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "[limits]\n%s = %s\n", bad[i].key, bad[i].value);
		if (load_text(text, &cfg, err) == 0)
			fail_msg("%s = %s was accepted", bad[i].key, bad[i].value);
		if (strstr(err, bad[i].err) == NULL || strstr(err, ":2: ") == NULL)
			fail_msg("%s = %s\n  expected: %s\n  got:      %s", bad[i].key,
				 bad[i].value, bad[i].err, err);
		assert_zeroed(&cfg);
	}
}

static void test_limits_and_guard_fixture(void **state)
{
	struct pgw_config c;
	char path[1024], err[ERRLEN];
	const uint64_t four = PGW_SQL_BIT(PGW_SQL_DROP_TABLE) | PGW_SQL_BIT(PGW_SQL_DROP_SCHEMA) |
			      PGW_SQL_BIT(PGW_SQL_DROP_DATABASE) | PGW_SQL_BIT(PGW_SQL_TRUNCATE);

	snprintf(path, sizeof(path), "%s/config/valid/guard.ini", data_dir());
	if (pgw_config_load(path, &c, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_int_equal(c.max_message_size, 1024);
	assert_int_equal(c.max_query_size, 64);
	assert_int_equal(c.max_bind_param_size, 1);
	assert_int_equal(c.max_bind_params, 0);
	assert_int_equal(c.max_copy_data_size, 1);
	assert_int_equal(c.guard_mode, PGW_GUARD_DETECT);
	assert_string_equal(c.rules, "drop_table, drop_schema,drop_database truncate");
	assert_string_equal(c.role_rules, "migrator: drop_database; admin: none; ops: all");
	assert_int_equal(c.guard_default_rules, four);
	assert_int_equal(c.nguard_roles, 3);
	assert_string_equal(c.guard_roles[0].role, "migrator");
	assert_string_equal(c.guard_roles[1].role, "admin");
	assert_string_equal(c.guard_roles[2].role, "ops");
	assert_int_equal(pgw_config_guard_rules(&c, "migrator"),
			 PGW_SQL_BIT(PGW_SQL_DROP_DATABASE));
	assert_int_equal(pgw_config_guard_rules(&c, "admin"), 0);
	assert_int_equal(pgw_config_guard_rules(&c, "ops"), PGW_SQL_GUARD_RULES);
	assert_int_equal(pgw_config_guard_rules(&c, "app"), four);
	assert_int_equal(pgw_config_guard_rules(&c, "Migrator"), four);
	assert_int_equal(pgw_config_guard_rules(&c, ""), four);
	assert_int_equal(pgw_config_guard_rules(&c, NULL), four);
	pgw_config_free(&c);
	assert_zeroed(&c);

	snprintf(path, sizeof(path), "%s/config/valid/guard_empty.ini", data_dir());
	if (pgw_config_load(path, &c, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_null(c.rules);
	assert_null(c.role_rules);
	assert_int_equal(c.guard_default_rules, 0);
	assert_int_equal(c.nguard_roles, 0);
	pgw_config_free(&c);
}

static void test_guard_mode(void **state)
{
	static const struct {
		const char *value;
		enum pgw_guard_mode mode;
	} cases[] = {
		{"enforce", PGW_GUARD_ENFORCE},		{"detect", PGW_GUARD_DETECT},
		{"DETECT", PGW_GUARD_DETECT},		{"'Enforce'", PGW_GUARD_ENFORCE},
		{"detect # comment", PGW_GUARD_DETECT},
	};
	struct pgw_config cfg;
	char err[ERRLEN];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		load_in("guard", "mode", cases[i].value, &cfg);
		assert_int_equal(cfg.guard_mode, cases[i].mode);
		pgw_config_free(&cfg);
	}
	assert_int_equal(load_text("[guard]\nmode = refuse\n", &cfg, err), -1);
	assert_non_null(strstr(err, ":2: invalid value \"refuse\" for mode (expected one of: "
				    "enforce, detect)"));
	assert_int_equal(load_text("[guard]\nmode =\n", &cfg, err), -1);
	assert_non_null(strstr(err, ":2: invalid value \"\" for mode"));
}

static void test_guard_rule_lists(void **state)
{
	const uint64_t dt = PGW_SQL_BIT(PGW_SQL_DROP_TABLE), tr = PGW_SQL_BIT(PGW_SQL_TRUNCATE),
		       db = PGW_SQL_BIT(PGW_SQL_DO_BLOCK);
	const struct {
		const char *value;
		uint64_t mask;
	} cases[] = {
		{"all", PGW_SQL_GUARD_RULES},
		{"none", 0},
		{"''", 0},
		{"drop_table", dt},
		{"drop_table,truncate", dt | tr},
		{"drop_table, truncate", dt | tr},
		{"  drop_table ,  truncate  ", dt | tr},
		{"drop_table truncate", dt | tr},
		{"drop_table\ttruncate", dt | tr},
		{"'drop_table,,truncate,'", dt | tr},
		{"', drop_table'", dt},
		{"drop_table, drop_table", dt},
		{"do_block", db},
		{"none, do_block", db},
		{"all, none", PGW_SQL_GUARD_RULES},
		{"truncate, all", PGW_SQL_GUARD_RULES},
		{"drop_table, drop_schema, drop_database, truncate, delete_without_where, "
		 "update_without_where, alter_drop_column, alter_drop_constraint, "
		 "alter_column_type, create_index_blocking, drop_index_blocking, set_role, "
		 "row_security_off, cascade, grant_revoke, alter_system, do_block, rls_weakening, "
		 "drop_view, detach_partition, rename_table, rename_column, vacuum_full, cluster, "
		 "reindex_blocking, lock_exclusive, add_unique_constraint, add_foreign_key, "
		 "add_check_constraint, add_column_default_volatile, add_required_column, "
		 "set_not_null, set_unlogged, drop_not_null, domain_constraint",
		 PGW_SQL_GUARD_RULES},
	};
	struct pgw_config cfg;

	/* "all" is exactly the 35 rules drop_table .. domain_constraint */
	assert_int_equal(PGW_SQL_GUARD_RULES, (UINT64_C(1) << 35) - 1);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		load_in("guard", "rules", cases[i].value, &cfg);
		if (cfg.guard_default_rules != cases[i].mask)
			fail_msg("rules = %s: mask %#llx, expected %#llx", cases[i].value,
				 (unsigned long long)cfg.guard_default_rules,
				 (unsigned long long)cases[i].mask);
		assert_int_equal(cfg.nguard_roles, 0);
		assert_int_equal(pgw_config_guard_rules(&cfg, "anyone"), cases[i].mask);
		pgw_config_free(&cfg);
	}
}

static void test_guard_role_rules(void **state)
{
	const uint64_t dd = PGW_SQL_BIT(PGW_SQL_DROP_DATABASE),
		       dt = PGW_SQL_BIT(PGW_SQL_DROP_TABLE);
	struct pgw_config c;
	char err[ERRLEN];

	/* the brief's example, unquoted: ';' right after a word is no comment */
	if (load_text("[guard]\nrules = all\nrole_rules = migrator: drop_database; admin: none\n",
		      &c, err) != 0)
		fail_msg("%s", err);
	assert_int_equal(c.nguard_roles, 2);
	assert_int_equal(pgw_config_guard_rules(&c, "migrator"), dd);
	assert_int_equal(pgw_config_guard_rules(&c, "admin"), 0);
	assert_int_equal(pgw_config_guard_rules(&c, "app"), PGW_SQL_GUARD_RULES);
	pgw_config_free(&c);

	/* blanks, empty entries, a trailing ';', a role with an empty list (no rules) */
	if (load_text("[guard]\nrole_rules = ' migrator :drop_database,drop_table ;; admin:;"
		      "ops : all ; '\n",
		      &c, err) != 0)
		fail_msg("%s", err);
	assert_int_equal(c.nguard_roles, 3);
	assert_string_equal(c.guard_roles[0].role, "migrator");
	assert_string_equal(c.guard_roles[1].role, "admin");
	assert_string_equal(c.guard_roles[2].role, "ops");
	assert_int_equal(pgw_config_guard_rules(&c, "migrator"), dd | dt);
	assert_int_equal(pgw_config_guard_rules(&c, "admin"), 0);
	assert_int_equal(pgw_config_guard_rules(&c, "ops"), PGW_SQL_GUARD_RULES);
	assert_int_equal(pgw_config_guard_rules(&c, "app"), 0); /* rules left empty */
	pgw_config_free(&c);

	/* role_rules before rules, in a repeated section: the order of keys does not matter */
	if (load_text("[guard]\nrole_rules = admin: none\n[limits]\n[guard]\nrules = drop_table\n",
		      &c, err) != 0)
		fail_msg("%s", err);
	assert_int_equal(pgw_config_guard_rules(&c, "admin"), 0);
	assert_int_equal(pgw_config_guard_rules(&c, "app"), dt);
	pgw_config_free(&c);
}

static void test_guard_errors(void **state)
{
	static const struct {
		const char *text, *err;
	} cases[] = {
		{"[guard]\nrules = all, bogus\n", ":2: unknown rule \"bogus\" in rules"},
		{"[guard]\nrules = reset_all\n", ":2: unknown rule \"reset_all\" in rules"},
		{"[guard]\nrules = encoding_not_utf8\n",
		 ":2: unknown rule \"encoding_not_utf8\" in rules"},
		{"[guard]\nrules = drop_table;truncate\n",
		 ":2: unknown rule \"drop_table;truncate\" in rules"},
		{"[guard]\nmode = detect\n\nrole_rules = a: drop_table; b: nope\n",
		 ":4: unknown rule \"nope\" for role b in role_rules"},
		{"[guard]\nrole_rules = a: ddl\n",
		 ":2: unknown rule \"ddl\" for role a in role_rules"},
		{"[guard]\nrole_rules = admin\n",
		 ":2: role_rules entry \"admin\" is not \"role: rule, ...\""},
		{"[guard]\nrole_rules = 'a: none; b all'\n",
		 ":2: role_rules entry \"b all\" is not \"role: rule, ...\""},
		{"[guard]\nrole_rules = ': all'\n", ":2: role_rules entry without a role name"},
		/* the rules key is checked first, and blamed on its own line */
		{"[guard]\nrole_rules = admin\nrules = bogus\n",
		 ":3: unknown rule \"bogus\" in rules"},
	};
	struct pgw_config cfg;
	char err[ERRLEN];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (load_text(cases[i].text, &cfg, err) == 0)
			fail_msg("accepted:\n%s", cases[i].text);
		if (strstr(err, cases[i].err) == NULL)
			fail_msg("%s\n  expected: %s\n  got:      %s", cases[i].text, cases[i].err,
				 err);
		assert_zeroed(&cfg);
	}
}

/* Every [limits] and [guard] key takes effect on SIGHUP. */
static void test_limits_and_guard_reload(void **state)
{
	struct pgw_config old, fresh;
	char path[1024], err[ERRLEN];

	pgw_config_defaults(&old);
	snprintf(path, sizeof(path), "%s/config/valid/guard.ini", data_dir());
	if (pgw_config_load(path, &fresh, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_int_equal(pgw_config_restart_changes(&old, &fresh, NULL, NULL), 0);
	pgw_config_free(&fresh);
	pgw_config_free(&old);
}

static void test_sslmode_names(void **state)
{
	assert_string_equal(pgw_sslmode_name(PGW_SSL_DISABLE), "disable");
	assert_string_equal(pgw_sslmode_name(PGW_SSL_ALLOW), "allow");
	assert_string_equal(pgw_sslmode_name(PGW_SSL_PREFER), "prefer");
	assert_string_equal(pgw_sslmode_name(PGW_SSL_REQUIRE), "require");
	assert_string_equal(pgw_sslmode_name(PGW_SSL_VERIFY_CA), "verify-ca");
	assert_string_equal(pgw_sslmode_name(PGW_SSL_VERIFY_FULL), "verify-full");
	assert_string_equal(pgw_sslmode_name((enum pgw_sslmode)42), "?");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_shipped_example),
		cmocka_unit_test(test_limit_warnings),
		cmocka_unit_test(test_valid_fixtures),
		cmocka_unit_test(test_invalid_fixtures),
		cmocka_unit_test(test_full_fixture),
		cmocka_unit_test(test_size_units),
		cmocka_unit_test(test_duration_units),
		cmocka_unit_test(test_bad_numbers),
		cmocka_unit_test(test_out_of_range_saturates),
		cmocka_unit_test(test_quoting_and_comments),
		cmocka_unit_test(test_line_length_limit),
		cmocka_unit_test(test_nul_byte),
		cmocka_unit_test(test_restart_changes),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_small_error_buffer),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_limits_and_guard_fixture),
		cmocka_unit_test(test_guard_mode),
		cmocka_unit_test(test_guard_rule_lists),
		cmocka_unit_test(test_guard_role_rules),
		cmocka_unit_test(test_guard_errors),
		cmocka_unit_test(test_limits_and_guard_reload),
		cmocka_unit_test(test_sslmode_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
