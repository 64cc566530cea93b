/*
 * pgward.ini: one key table per section drives defaults, parsing, validation and reload rules.
 * Loading only ever writes into the caller's struct, never into the running configuration, so
 * a reload that fails leaves pgward exactly as it was.
 */
#include "config-int.h"
#include "pgward/sql.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Longest accepted line, newline excluded. */
#define PGW_CONFIG_MAX_LINE 4096
/* Durations become time_t seconds later on, and time_t may be 32-bit. */
#define PGW_CONFIG_MAX_SECONDS 2147483647LL

/* Enum keys are stored through an int lvalue. */
_Static_assert(sizeof(enum pgw_sslmode) == sizeof(int), "sslmode must be int-sized");
_Static_assert(sizeof(enum pgw_log_level) == sizeof(int), "log level must be int-sized");

static const char *const sslmode_names[] = {"disable", "allow",	    "prefer",
					    "require", "verify-ca", "verify-full"};

const char *pgw_sslmode_name(enum pgw_sslmode mode)
{
	return (unsigned)mode < PGW_ARRAY_LEN(sslmode_names) ? sslmode_names[mode] : "?";
}

static int sslmode_parse(const char *name)
{
	for (size_t i = 0; i < PGW_ARRAY_LEN(sslmode_names); i++)
		if (strcasecmp(name, sslmode_names[i]) == 0)
			return (int)i;
	return -1;
}

static const char *sslmode_name(int value)
{
	return pgw_sslmode_name((enum pgw_sslmode)value);
}

static const char *log_level_name(int value)
{
	return pgw_log_level_name((enum pgw_log_level)value);
}

static const struct config_enum sslmode_enum = {PGW_SSL_VERIFY_FULL + 1, sslmode_parse,
						sslmode_name};
static const struct config_enum log_level_enum = {PGW_LOG_ERROR + 1, pgw_log_level_parse,
						  log_level_name};

/* Enums spelled by a table of names, the value being the index. */
static int names_parse(const char *const *names, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(name, names[i]) == 0)
			return (int)i;
	return -1;
}

/* An enum key whose values are the positions of <names>: its parse and name functions. */
#define NAMES_ENUM(id, names)                                                                      \
	static int id##_parse(const char *name)                                                    \
	{                                                                                          \
		return names_parse(names, PGW_ARRAY_LEN(names), name);                             \
	}                                                                                          \
	static const char *id##_name(int v)                                                        \
	{                                                                                          \
		return (unsigned)v < PGW_ARRAY_LEN(names) ? names[v] : "?";                        \
	}                                                                                          \
	static const struct config_enum id##_enum = {(int)PGW_ARRAY_LEN(names), id##_parse,        \
						     id##_name}

static const char *const guard_mode_names[] = {"enforce", "detect"};
static const char *const parse_error_names[] = {"forward", "refuse"};

NAMES_ENUM(guard_mode, guard_mode_names);
NAMES_ENUM(parse_error, parse_error_names);

/* offsetof that refuses to compile when field <f> is not a <T>: a row cannot lie about it. */
#define FIELD(f, T)                                                                                \
	(offsetof(struct pgw_config, f) + 0 * sizeof(_Generic(((struct pgw_config *)0)->f, T : 1)))

#define KEY(f, ctype, ktype, dflt, rl, lo, hi, e)                                                  \
	KEY_NAMED(#f, f, ctype, ktype, dflt, rl, lo, hi, e)
#define KEY_NAMED(n, f, ctype, ktype, dflt, rl, lo, hi, e)                                         \
	{                                                                                          \
		.name = n, .type = ktype, .offset = FIELD(f, ctype), .def = dflt,                  \
		.reloadable = rl, .min = lo, .max = hi, .enum_type = e                             \
	}
/* For strings, min is the shortest allowed length: 1 makes the key mandatory. */
#define STRING_KEY(f, dflt, minlen, rl) KEY(f, char *, KEY_STRING, dflt, rl, minlen, 0, NULL)
#define INT_KEY(f, dflt, lo, hi, rl)	KEY(f, int, KEY_INT, dflt, rl, lo, hi, NULL)
#define ENUM_KEY(f, T, e, dflt, rl)	KEY(f, T, KEY_ENUM, dflt, rl, 0, 0, &e)
#define DURATION_KEY(f, dflt, rl)                                                                  \
	KEY(f, double, KEY_DURATION, dflt, rl, 0, PGW_CONFIG_MAX_SECONDS, NULL)
#define SIZE_KEY(f, dflt, lo, hi, rl) KEY(f, uint32_t, KEY_SIZE, dflt, rl, lo, hi, NULL)
#define RELOAD			      true
#define RESTART			      false

static const struct config_key pgward_keys[] = {
	/* The listening socket is bound once, before privileges are dropped. */
	STRING_KEY(listen_addr, "127.0.0.1", 1, RESTART),
	INT_KEY(listen_port, "6432", 1, 65535, RESTART),
	INT_KEY(max_client_conn, "1000", 1, 1000000, RELOAD),
	STRING_KEY(server_host, "127.0.0.1", 1, RELOAD),
	INT_KEY(server_port, "5432", 1, 65535, RELOAD),
	ENUM_KEY(client_tls_sslmode, enum pgw_sslmode, sslmode_enum, "disable", RELOAD),
	STRING_KEY(client_tls_cert_file, "", 0, RELOAD),
	STRING_KEY(client_tls_key_file, "", 0, RELOAD),
	STRING_KEY(client_tls_ca_file, "", 0, RELOAD),
	ENUM_KEY(server_tls_sslmode, enum pgw_sslmode, sslmode_enum, "prefer", RELOAD),
	STRING_KEY(server_tls_ca_file, "", 0, RELOAD),
	STRING_KEY(server_tls_cert_file, "", 0, RELOAD),
	STRING_KEY(server_tls_key_file, "", 0, RELOAD),
	DURATION_KEY(client_login_timeout, "60", RELOAD),
	DURATION_KEY(client_idle_timeout, "0", RELOAD),
	DURATION_KEY(query_timeout, "0", RELOAD),
	DURATION_KEY(server_connect_timeout, "15", RELOAD),
	DURATION_KEY(shutdown_timeout, "30", RELOAD),
	/* PostgreSQL itself never sends or accepts a message over 1 GB - 1. */
	SIZE_KEY(max_packet_size, "1073741823", 1024, 1073741824, RELOAD),
	ENUM_KEY(log_level, enum pgw_log_level, log_level_enum, "info", RELOAD),
};

/*
 * Payload limits (report finding 3.3.2). Query, Parse, Bind and FunctionCall messages are
 * read whole before they are forwarded, so max_message_size also bounds what one session
 * may hold in memory.
 */
static const struct config_key limits_keys[] = {
	SIZE_KEY(max_message_size, "16MB", 1024, 1073741823, RELOAD),
	SIZE_KEY(max_query_size, "1MB", 64, 1073741823, RELOAD),
	SIZE_KEY(max_bind_param_size, "8MB", 1, 1073741823, RELOAD),
	INT_KEY(max_bind_params, "65535", 0, 65535, RELOAD),
	SIZE_KEY(max_copy_data_size, "16MB", 1, 1073741823, RELOAD),
	STRING_KEY(column_limits, "", 0, RELOAD),
};

/* The unsafe-statement guard; rule names are those of sql.h's detections. */
static const struct config_key guard_keys[] = {
	KEY_NAMED("mode", guard_mode, enum pgw_guard_mode, KEY_ENUM, "enforce", RELOAD, 0, 0,
		  &guard_mode_enum),
	STRING_KEY(rules, "", 0, RELOAD),
	STRING_KEY(role_rules, "", 0, RELOAD),
	ENUM_KEY(on_parse_error, enum pgw_parse_error_action, parse_error_enum, "forward", RELOAD),
	DURATION_KEY(ddl_lock_timeout, "0", RELOAD),
	INT_KEY(sql_cache_entries, "20000", 0, 10000000, RELOAD),
	SIZE_KEY(sql_cache_size, "64MB", 0, 1073741823, RELOAD),
};

/* Tenant context for row-level security (src/tenant/). */
static const char *const tenant_mode_names[] = {"off", "on"};
static const char *const tenant_identity_names[] = {"login_role", "startup_option"};
static const char *const tenant_source_names[] = {"map", "query"};
static const char *const tenant_fallback_names[] = {"refuse", "empty"};

NAMES_ENUM(tenant_mode, tenant_mode_names);
NAMES_ENUM(tenant_identity, tenant_identity_names);
NAMES_ENUM(tenant_source, tenant_source_names);
NAMES_ENUM(tenant_fallback, tenant_fallback_names);

#define TENANT_STRING(n, f, dflt)     KEY_NAMED(n, f, char *, KEY_STRING, dflt, RELOAD, 0, 0, NULL)
#define TENANT_ENUM(n, f, T, e, dflt) KEY_NAMED(n, f, T, KEY_ENUM, dflt, RELOAD, 0, 0, &e)

static const struct config_key tenant_keys[] = {
	TENANT_ENUM("mode", tenant_mode, enum pgw_tenant_mode, tenant_mode_enum, "off"),
	TENANT_ENUM("identity", tenant_identity, enum pgw_tenant_identity, tenant_identity_enum,
		    "login_role"),
	TENANT_STRING("trusted_roles", tenant_trusted_roles, ""),
	TENANT_STRING("databases", tenant_databases, ""),
	TENANT_ENUM("source", tenant_source, enum pgw_tenant_source, tenant_source_enum, "map"),
	TENANT_STRING("map_file", tenant_map_file, ""),
	TENANT_STRING("conninfo", tenant_conninfo, ""),
	TENANT_STRING("query", tenant_query,
		      "SELECT organization_id FROM organization_members WHERE user_id = $1"),
	TENANT_STRING("listen_channel", tenant_listen_channel, "pgward_tenant_changed"),
	KEY_NAMED("cache_ttl", tenant_cache_ttl, double, KEY_DURATION, "60", RELOAD, 0,
		  PGW_CONFIG_MAX_SECONDS, NULL),
	KEY_NAMED("cache_size", tenant_cache_size, int, KEY_INT, "10000", RELOAD, 1, 10000000,
		  NULL),
	KEY_NAMED("lookup_timeout", tenant_lookup_timeout, double, KEY_DURATION, "5", RELOAD, 0,
		  PGW_CONFIG_MAX_SECONDS, NULL),
	TENANT_ENUM("on_lookup_failure", tenant_on_lookup_failure, enum pgw_tenant_fallback,
		    tenant_fallback_enum, "refuse"),
	TENANT_ENUM("no_identity", tenant_no_identity, enum pgw_tenant_fallback,
		    tenant_fallback_enum, "refuse"),
	TENANT_STRING("org_ids_setting", tenant_org_ids_setting, "app.user_org_ids"),
	TENANT_STRING("user_id_setting", tenant_user_id_setting, "app.user_id"),
	TENANT_STRING("signature_setting", tenant_signature_setting, "app.tenant_sig"),
	TENANT_STRING("signing_secret", tenant_signing_secret, ""),
};

/* The admin console: a virtual database answered by pgward itself (src/admin/). */
static const struct config_key admin_keys[] = {
	KEY_NAMED("database", admin_database, char *, KEY_STRING, "pgward", RELOAD, 1, 0, NULL),
	KEY_NAMED("users", admin_users, char *, KEY_STRING, "", RELOAD, 0, 0, NULL),
	KEY_NAMED("auth_database", admin_auth_database, char *, KEY_STRING, "postgres", RELOAD, 1,
		  0, NULL),
};

static const char *const job_conflict_names[] = {"error", "skip"};

NAMES_ENUM(job_conflict, job_conflict_names);

/* [job <table>]: one per job table; offsets are into struct pgw_job_table. */
#define JOB_KEY(f, ktype, dflt, lo, e)                                                             \
	{                                                                                          \
		.name = #f, .type = ktype, .offset = offsetof(struct pgw_job_table, f),            \
		.def = dflt, .reloadable = RELOAD, .min = lo, .enum_type = e                       \
	}
static const struct config_key job_keys[] = {
	JOB_KEY(key_columns, KEY_STRING, "", 0, NULL),
	JOB_KEY(active, KEY_STRING, "", 0, NULL),
	JOB_KEY(on_conflict, KEY_ENUM, "error", 0, &job_conflict_enum),
};

static const char *const metrics_label_names[] = {"identity", "organization"};

NAMES_ENUM(metrics_label, metrics_label_names);

/* Metrics: the HTTP listener (/metrics, /healthz, /statements) and its bounds. */
#define METRICS_KEY(n, f, ctype, ktype, dflt, rl, lo, hi)                                          \
	KEY_NAMED(n, metrics_##f, ctype, ktype, dflt, rl, lo, hi, NULL)
static const struct config_key metrics_keys[] = {
	METRICS_KEY("listen_addr", listen_addr, char *, KEY_STRING, "127.0.0.1", RESTART, 1, 0),
	METRICS_KEY("listen_port", listen_port, int, KEY_INT, "0", RESTART, 0, 65535),
	METRICS_KEY("max_tenants", max_tenants, int, KEY_INT, "1000", RELOAD, 0, 1000000),
	METRICS_KEY("tenant_idle_expiry", tenant_idle_expiry, double, KEY_DURATION, "10min", RELOAD,
		    0, PGW_CONFIG_MAX_SECONDS),
	METRICS_KEY("slow_statement_time", slow_statement_time, double, KEY_DURATION, "0", RELOAD,
		    0, PGW_CONFIG_MAX_SECONDS),
	METRICS_KEY("statements_top", statements_top, int, KEY_INT, "100", RELOAD, 0, 100000),
	METRICS_KEY("statements_max", statements_max, int, KEY_INT, "5000", RELOAD, 2, 1000000),
	METRICS_KEY("health_check_interval", health_check_interval, double, KEY_DURATION, "5",
		    RELOAD, 0, 3600),
	KEY_NAMED("tenant_label", metrics_tenant_label, enum pgw_metrics_label, KEY_ENUM,
		  "identity", RELOAD, 0, 0, &metrics_label_enum),
};

/* A new section is one more key table and one more line here. */
static const struct config_section sections[] = {
	{"pgward", pgward_keys, PGW_ARRAY_LEN(pgward_keys), pgw_config_check_pgward, NULL},
	{"limits", limits_keys, PGW_ARRAY_LEN(limits_keys), pgw_config_check_limits, NULL},
	{"guard", guard_keys, PGW_ARRAY_LEN(guard_keys), pgw_config_check_guard, NULL},
	{"job", job_keys, PGW_ARRAY_LEN(job_keys), pgw_config_check_jobs, pgw_config_job_open},
	{"tenant", tenant_keys, PGW_ARRAY_LEN(tenant_keys), pgw_config_check_tenant, NULL},
	{"admin", admin_keys, PGW_ARRAY_LEN(admin_keys), NULL, NULL},
	{"metrics", metrics_keys, PGW_ARRAY_LEN(metrics_keys), NULL, NULL},
};

static void *field_of(void *base, const struct config_key *key)
{
	return (char *)base + key->offset;
}

static const void *cfield_of(const struct pgw_config *cfg, const struct config_key *key)
{
	return (const char *)cfg + key->offset;
}

/* Index of <key> in one array holding every key of every section. */
size_t pgw_config_key_slot(const struct config_section *sec, const struct config_key *key)
{
	size_t slot = (size_t)(key - sec->keys);

	for (const struct config_section *s = sections; s < sec; s++)
		slot += s->nkeys;
	return slot;
}

static size_t total_keys(void)
{
	size_t n = 0;

	for (size_t i = 0; i < PGW_ARRAY_LEN(sections); i++)
		n += sections[i].nkeys;
	return n;
}

static const struct config_section *find_section(const char *name)
{
	for (size_t i = 0; i < PGW_ARRAY_LEN(sections); i++)
		if (strcasecmp(name, sections[i].name) == 0)
			return &sections[i];
	return NULL;
}

const struct config_key *pgw_config_find_key(const struct config_section *sec, const char *name)
{
	for (size_t i = 0; i < sec->nkeys; i++)
		if (strcasecmp(name, sec->keys[i].name) == 0)
			return &sec->keys[i];
	return NULL;
}

/* "a, b, c" of an enum's names, for error messages. */
static const char *enum_names(const struct config_enum *e, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	for (int v = 0; v < e->nvalues && n < len; v++)
		n += (size_t)snprintf(buf + n, len - n, "%s%s", v ? ", " : "", e->name(v));
	return buf;
}

/* The parsers below accept only plain digits, so "inf", "0x10", "1e3" and signs fail. */
static int parse_int(const char *s, long long *out)
{
	char *end;

	if (!isdigit((unsigned char)s[s[0] == '-']))
		return -1;
	*out = strtoll(s, &end, 10); /* saturates on overflow: the range check rejects it */
	return *end == '\0' ? 0 : -1;
}

static int parse_duration(const char *s, double *out)
{
	static const struct {
		const char *unit;
		double seconds;
	} units[] = {{"", 1}, {"ms", 0.001}, {"s", 1}, {"min", 60}, {"h", 3600}};
	size_t len = strspn(s, "0123456789.");
	char *end;

	if (len == 0 || strspn(s, ".") == len)
		return -1;
	*out = strtod(s, &end);
	if (end != s + len)
		return -1;
	while (isspace((unsigned char)*end))
		end++;
	for (size_t i = 0; i < PGW_ARRAY_LEN(units); i++) {
		if (strcmp(end, units[i].unit) == 0) {
			*out *= units[i].seconds;
			return 0;
		}
	}
	return -1;
}

static int parse_size(const char *s, unsigned long long *out)
{
	static const struct {
		const char *unit;
		unsigned long long bytes;
	} units[] = {{"", 1}, {"B", 1}, {"kB", 1ULL << 10}, {"MB", 1ULL << 20}, {"GB", 1ULL << 30}};
	size_t len = strspn(s, "0123456789");
	char *end;

	if (len == 0)
		return -1;
	*out = strtoull(s, &end, 10); /* saturates on overflow: the range check rejects it */
	while (isspace((unsigned char)*end))
		end++;
	for (size_t i = 0; i < PGW_ARRAY_LEN(units); i++) {
		if (strcasecmp(end, units[i].unit) == 0) {
			if (*out > ULLONG_MAX / units[i].bytes)
				*out = ULLONG_MAX;
			else
				*out *= units[i].bytes;
			return 0;
		}
	}
	return -1;
}

/* What each type accepts and its unit, for error messages. */
static const struct {
	const char *expected, *unit;
} type_info[] = {
	[KEY_STRING] = {"a non-empty string", ""},
	[KEY_INT] = {"an integer", ""},
	[KEY_ENUM] = {"one of: ", ""},
	[KEY_DURATION] =
		{"a non-negative number of seconds, optionally followed by ms, s, min or h",
		 " seconds"},
	[KEY_SIZE] = {"a whole number of bytes, optionally followed by B, kB, MB or GB", " bytes"},
};

static int bad_value(const struct config_key *key, const char *value, char *msg, size_t len)
{
	char q[96], names[128] = "";

	if (key->type == KEY_ENUM)
		enum_names(key->enum_type, names, sizeof(names));
	snprintf(msg, len, "invalid value %s for %s (expected %s%s)",
		 pgw_log_quote(value, q, sizeof(q)), key->name, type_info[key->type].expected,
		 names);
	return -1;
}

static int out_of_range(const struct config_key *key, const char *value, char *msg, size_t len)
{
	char q[96];

	snprintf(msg, len, "value %s for %s is out of range (expected %lld..%lld%s)",
		 pgw_log_quote(value, q, sizeof(q)), key->name, key->min, key->max,
		 type_info[key->type].unit);
	return -1;
}

static int set_string(void *base, const struct config_key *key, const char *value, char *msg,
		      size_t len)
{
	char **dst = field_of(base, key);
	char *copy = NULL;

	if (strlen(value) < (size_t)key->min)
		return bad_value(key, value, msg, len);
	/* Empty means unset: users of optional keys test for NULL only. */
	if (value[0] != '\0' && (copy = strdup(value)) == NULL) {
		snprintf(msg, len, "out of memory");
		return -1;
	}
	free(*dst);
	*dst = copy;
	return 0;
}

/* Parses <value> for <key> into <cfg> (or a repeated section's instance); on error writes a
 * message without "file:line: ". */
static int set_value(void *cfg, const struct config_key *key, const char *value, char *msg,
		     size_t len)
{
	long long i;
	unsigned long long u;
	double d;

	switch (key->type) {
	case KEY_STRING:
		return set_string(cfg, key, value, msg, len);
	case KEY_INT:
		if (parse_int(value, &i) != 0)
			return bad_value(key, value, msg, len);
		if (i < key->min || i > key->max)
			return out_of_range(key, value, msg, len);
		*(int *)field_of(cfg, key) = (int)i;
		return 0;
	case KEY_ENUM:
		if ((i = key->enum_type->parse(value)) < 0)
			return bad_value(key, value, msg, len);
		*(int *)field_of(cfg, key) = (int)i;
		return 0;
	case KEY_DURATION:
		if (parse_duration(value, &d) != 0)
			return bad_value(key, value, msg, len);
		if (d < (double)key->min || d > (double)key->max)
			return out_of_range(key, value, msg, len);
		*(double *)field_of(cfg, key) = d;
		return 0;
	case KEY_SIZE:
		if (parse_size(value, &u) != 0)
			return bad_value(key, value, msg, len);
		if (u < (unsigned long long)key->min || u > (unsigned long long)key->max)
			return out_of_range(key, value, msg, len);
		*(uint32_t *)field_of(cfg, key) = (uint32_t)u;
		return 0;
	}
	snprintf(msg, len, "%s: key type %d unknown", key->name, (int)key->type);
	return -1;
}

/* The value of <key> in <base> (the config, or a section instance), as the file spells it. */
static const char *format_value(const void *base, const struct config_key *key, char *buf,
				size_t len)
{
	const void *f = (const char *)base + key->offset;

	switch (key->type) {
	case KEY_STRING:
		snprintf(buf, len, "%s", *(char *const *)f ? *(char *const *)f : "");
		break;
	case KEY_INT:
		snprintf(buf, len, "%d", *(const int *)f);
		break;
	case KEY_ENUM:
		snprintf(buf, len, "%s", key->enum_type->name(*(const int *)f));
		break;
	case KEY_DURATION:
		snprintf(buf, len, "%gs", *(const double *)f);
		break;
	case KEY_SIZE:
		snprintf(buf, len, "%" PRIu32, *(const uint32_t *)f);
		break;
	}
	return buf;
}

static bool values_equal(const struct pgw_config *a, const struct pgw_config *b,
			 const struct config_key *key)
{
	const void *fa = cfield_of(a, key), *fb = cfield_of(b, key);
	const char *sa, *sb;

	switch (key->type) {
	case KEY_STRING:
		sa = *(char *const *)fa;
		sb = *(char *const *)fb;
		return strcmp(sa ? sa : "", sb ? sb : "") == 0;
	case KEY_INT:
	case KEY_ENUM:
		return *(const int *)fa == *(const int *)fb;
	case KEY_DURATION:
		return *(const double *)fa == *(const double *)fb;
	case KEY_SIZE:
		return *(const uint32_t *)fa == *(const uint32_t *)fb;
	}
	return false;
}

void pgw_config_defaults(struct pgw_config *cfg)
{
	char msg[256];

	memset(cfg, 0, sizeof(*cfg));
	for (size_t s = 0; s < PGW_ARRAY_LEN(sections); s++) {
		for (size_t k = 0; k < sections[s].nkeys && sections[s].open == NULL; k++) {
			if (set_value(cfg, &sections[s].keys[k], sections[s].keys[k].def, msg,
				      sizeof(msg)) == 0)
				continue;
			/* Out of memory or a broken table: nothing sane is left to run with. */
			fprintf(stderr, "pgward: default of %s: %s\n", sections[s].keys[k].name,
				msg);
			abort();
		}
	}
}

void pgw_config_free(struct pgw_config *cfg)
{
	free(cfg->path);
	for (size_t i = 0; i < cfg->nguard_roles; i++)
		free(cfg->guard_roles[i].role);
	free(cfg->guard_roles);
	pgw_config_jobs_free(cfg);
	pgw_column_limits_free(cfg->col_limits, cfg->ncol_limits);
	for (size_t s = 0; s < PGW_ARRAY_LEN(sections); s++)
		for (size_t k = 0; k < sections[s].nkeys && sections[s].open == NULL; k++)
			if (sections[s].keys[k].type == KEY_STRING)
				free(*(char **)field_of(cfg, &sections[s].keys[k]));
	memset(cfg, 0, sizeof(*cfg));
}

int pgw_config_restart_changes(const struct pgw_config *old, const struct pgw_config *fresh,
			       pgw_config_report_fn report, void *arg)
{
	char a[256], b[256];
	int n = 0;

	for (size_t s = 0; s < PGW_ARRAY_LEN(sections); s++) {
		for (size_t k = 0; k < sections[s].nkeys; k++) {
			const struct config_key *key = &sections[s].keys[k];

			if (key->reloadable || sections[s].open != NULL ||
			    values_equal(old, fresh, key))
				continue;
			n++;
			if (report != NULL)
				report(key->name, format_value(old, key, a, sizeof(a)),
				       format_value(fresh, key, b, sizeof(b)), arg);
		}
	}
	return n;
}

/* Writes "file:line: message" into the caller's buffer; always returns -1. */
int pgw_config_fail(struct parser *p, unsigned line, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (p->err == NULL || p->errlen == 0)
		return -1;
	n = snprintf(p->err, p->errlen, "%s:%u: ", p->path, line);
	if (n >= 0 && (size_t)n < p->errlen) {
		va_start(ap, fmt);
		vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -1;
}

char *pgw_config_trim(char *s)
{
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

static bool is_comment(const char *s)
{
	return *s == '#' || *s == ';';
}

/*
 * Turns the text after '=' into the value, in place. Quoted text is taken literally. Unquoted,
 * '#' or ';' starts a comment only after a blank, so a path like /tmp/a#b survives.
 */
static int extract_value(struct parser *p, const struct config_key *key, char *raw, char **value)
{
	char *s = raw, *close;

	while (isspace((unsigned char)*s))
		s++;
	if (*s == '"' || *s == '\'') {
		close = strchr(s + 1, *s);
		if (close == NULL)
			return pgw_config_fail(p, p->lineno, "unterminated quote in value of %s",
					       key->name);
		*close = '\0';
		close = pgw_config_trim(close + 1);
		if (*close != '\0' && !is_comment(close))
			return pgw_config_fail(p, p->lineno,
					       "unexpected text after the quoted value of %s",
					       key->name);
		*value = s + 1;
		return 0;
	}
	/* raw[-1] held the '=', now '\0', so c[-1] is always readable. Only '#' ends a value:
	 * ';' separates entries inside values (role_rules), and cutting there would fail open. */
	for (char *c = raw; *c != '\0'; c++) {
		if (*c == '#' && isspace((unsigned char)c[-1])) {
			*c = '\0';
			break;
		}
	}
	*value = pgw_config_trim(s);
	return 0;
}

/* "[job scrape_jobs]": a new instance with its keys' defaults, and none of them set yet. */
static int open_instance(struct parser *p, const char *arg)
{
	const struct config_section *sec = p->section;
	char msg[256];

	p->instance = sec->open(p, arg);
	if (p->instance == NULL)
		return -1;
	for (size_t k = 0; k < sec->nkeys; k++) {
		p->key_lines[pgw_config_key_slot(sec, &sec->keys[k])] = 0;
		if (set_value(p->instance, &sec->keys[k], sec->keys[k].def, msg, sizeof(msg)) != 0)
			return pgw_config_fail(p, p->lineno, "%s", msg);
	}
	return 0;
}

static int parse_section_header(struct parser *p, char *s)
{
	char *close = strchr(s, ']'), *name, *rest, q[96];

	if (close == NULL)
		return pgw_config_fail(p, p->lineno, "malformed section header (expected [name])");
	*close = '\0';
	rest = pgw_config_trim(close + 1);
	if (*rest != '\0' && !is_comment(rest))
		return pgw_config_fail(p, p->lineno, "unexpected text after section header");
	name = pgw_config_trim(s + 1);
	rest = name + strcspn(name, " \t");
	if (*rest != '\0') {
		*rest = '\0';
		rest = pgw_config_trim(rest + 1);
	}
	p->section = find_section(name);
	p->instance = NULL;
	if (p->section == NULL || (p->section->open == NULL) != (*rest == '\0'))
		return pgw_config_fail(p, p->lineno, "unknown section %s%s",
				       pgw_log_quote(name, q, sizeof(q)),
				       p->section != NULL && *rest == '\0'
					       ? " without a name (e.g. [job scrape_jobs])"
					       : "");
	return p->section->open != NULL ? open_instance(p, rest) : 0;
}

static int parse_assignment(struct parser *p, char *s)
{
	char *eq = strchr(s, '='), *name, *value = NULL, q[96], msg[512];
	const struct config_key *key;
	size_t slot;

	if (eq == NULL)
		return pgw_config_fail(p, p->lineno,
				       "malformed line (expected key = value or [section])");
	*eq = '\0';
	name = pgw_config_trim(s);
	if (*name == '\0')
		return pgw_config_fail(p, p->lineno, "malformed line (no key before '=')");
	pgw_log_quote(name, q, sizeof(q));
	if (p->section == NULL)
		return pgw_config_fail(p, p->lineno,
				       "key %s is outside any section (put it under [pgward])", q);
	key = pgw_config_find_key(p->section, name);
	if (key == NULL)
		return pgw_config_fail(p, p->lineno, "unknown key %s in section [%s]", q,
				       p->section->name);
	slot = pgw_config_key_slot(p->section, key);
	if (p->key_lines[slot] != 0)
		return pgw_config_fail(p, p->lineno,
				       "duplicate key %s in section [%s] (first set on line %u)", q,
				       p->section->name, p->key_lines[slot]);
	p->key_lines[slot] = p->lineno;
	if (extract_value(p, key, eq + 1, &value) != 0)
		return -1;
	if (set_value(p->instance ? p->instance : (void *)p->cfg, key, value, msg, sizeof(msg)) !=
	    0)
		return pgw_config_fail(p, p->lineno, "%s", msg);
	return 0;
}

static int parse_line(struct parser *p, char *line)
{
	char *s = pgw_config_trim(line);

	if (*s == '\0' || is_comment(s))
		return 0;
	if (*s == '[')
		return parse_section_header(p, s);
	return parse_assignment(p, s);
}

enum line_status { LINE_OK, LINE_EOF, LINE_TOO_LONG, LINE_NUL, LINE_IO_ERROR };

/*
 * Reads one line, newline dropped, into <buf> of PGW_CONFIG_MAX_LINE + 1 bytes. Byte by byte,
 * so that an overlong line or a NUL byte is reported instead of being split or cut short.
 */
static enum line_status read_line(FILE *f, char *buf)
{
	size_t n = 0;
	int c;

	while ((c = getc(f)) != EOF && c != '\n') {
		if (c == '\0')
			return LINE_NUL;
		if (n == PGW_CONFIG_MAX_LINE)
			return LINE_TOO_LONG;
		buf[n++] = (char)c;
	}
	buf[n] = '\0';
	if (c == EOF && ferror(f))
		return LINE_IO_ERROR;
	return c == EOF && n == 0 ? LINE_EOF : LINE_OK;
}

static int parse_file(struct parser *p, FILE *f)
{
	char line[PGW_CONFIG_MAX_LINE + 1];
	enum line_status st;
	char *s;

	while ((st = read_line(f, line)) != LINE_EOF) {
		p->lineno++;
		if (st == LINE_TOO_LONG)
			return pgw_config_fail(p, p->lineno, "line longer than %d bytes",
					       PGW_CONFIG_MAX_LINE);
		if (st == LINE_NUL)
			return pgw_config_fail(p, p->lineno, "NUL byte in line");
		if (st == LINE_IO_ERROR)
			return pgw_config_fail(p, p->lineno, "read error: %s", strerror(errno));
		s = line;
		/* Editors on Windows like to start the file with a UTF-8 byte order mark. */
		if (p->lineno == 1 && strncmp(s, "\xef\xbb\xbf", 3) == 0)
			s += 3;
		if (parse_line(p, s) != 0)
			return -1;
	}
	return 0;
}

int pgw_config_load(const char *path, struct pgw_config *cfg, char *err, size_t errlen)
{
	struct parser p = {.cfg = cfg, .path = path, .err = err, .errlen = errlen};
	FILE *f = NULL;
	int rc = -1;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	pgw_config_defaults(cfg);
	cfg->path = strdup(path);
	p.key_lines = calloc(total_keys(), sizeof(*p.key_lines));
	if (cfg->path == NULL || p.key_lines == NULL) {
		pgw_config_fail(&p, 0, "out of memory");
		goto out;
	}
	/* "e": O_CLOEXEC, so a child we might exec never inherits the descriptor. */
	f = fopen(path, "re");
	if (f == NULL) {
		pgw_config_fail(&p, 0, "cannot open config file: %s", strerror(errno));
		goto out;
	}
	if (parse_file(&p, f) != 0)
		goto out;
	for (size_t i = 0; i < PGW_ARRAY_LEN(sections); i++)
		if (sections[i].check != NULL && sections[i].check(&p, &sections[i]) != 0)
			goto out;
	rc = 0;
out:
	if (f != NULL)
		fclose(f);
	free(p.key_lines);
	if (rc != 0)
		pgw_config_free(cfg);
	return rc;
}

static void foreach_key(const struct config_section *sec, const char *name, const void *base,
			pgw_config_key_fn fn, void *arg)
{
	char value[1024];

	for (size_t k = 0; k < sec->nkeys; k++) {
		const struct config_key *key = &sec->keys[k];

		fn(name, key->name, format_value(base, key, value, sizeof(value)), key->reloadable,
		   arg);
	}
}

void pgw_config_foreach(const struct pgw_config *cfg, pgw_config_key_fn fn, void *arg)
{
	char name[300];

	for (size_t s = 0; s < PGW_ARRAY_LEN(sections); s++) {
		if (sections[s].open == NULL) {
			foreach_key(&sections[s], sections[s].name, cfg, fn, arg);
			continue;
		}
		/* [job <table>] is the one repeating section: one block per instance */
		for (size_t j = 0; j < cfg->njobs; j++) {
			snprintf(name, sizeof(name), "%s %s", sections[s].name, cfg->jobs[j].table);
			foreach_key(&sections[s], name, &cfg->jobs[j], fn, arg);
		}
	}
}
