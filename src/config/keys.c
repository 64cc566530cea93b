/*
 * The key tables of pgward.ini, one per section, and the list of sections: what each key is
 * called, its type, default, bounds and whether SIGHUP reloads it. Adding a key is one line
 * here (and a field in config.h); config.c does the rest.
 */
#include "config-int.h"

#include <stddef.h>
#include <strings.h>

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

static const char *const auth_type_names[] = {
	"passthrough", "trust", "password", "md5", "scram-sha-256", "cert", "hba",
};

NAMES_ENUM(auth_type, auth_type_names);

const char *pgw_auth_type_name(enum pgw_auth_type t)
{
	return auth_type_name((int)t);
}

static const char *const pool_mode_names[] = {"none", "session", "transaction"};

NAMES_ENUM(pool_mode, pool_mode_names);

const char *pgw_pool_mode_name(enum pgw_pool_mode m)
{
	return pool_mode_name((int)m);
}

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
	ENUM_KEY(auth_type, enum pgw_auth_type, auth_type_enum, "passthrough", RELOAD),
	STRING_KEY(auth_file, "", 0, RELOAD),
	STRING_KEY(auth_hba_file, "", 0, RELOAD),
	STRING_KEY(auth_ident_file, "", 0, RELOAD),
	STRING_KEY(auth_user, "", 0, RELOAD),
	STRING_KEY(auth_query, PGW_AUTH_DEFAULT_QUERY, 1, RELOAD),
	STRING_KEY(auth_dbname, "", 0, RELOAD),
	DURATION_KEY(auth_cache_ttl, "60", RELOAD),
	DURATION_KEY(auth_query_timeout, "5", RELOAD),
	INT_KEY(auth_failure_limit, "20", 0, 1000000, RELOAD),
	DURATION_KEY(auth_failure_period, "60", RELOAD),
	ENUM_KEY(pool_mode, enum pgw_pool_mode, pool_mode_enum, "session", RELOAD),
	INT_KEY(default_pool_size, "20", 1, 100000, RELOAD),
	INT_KEY(min_pool_size, "0", 0, 100000, RELOAD),
	INT_KEY(max_prepared_statements, "200", 0, 100000, RELOAD),
	STRING_KEY(server_reset_query, "DISCARD ALL", 0, RELOAD),
	DURATION_KEY(server_idle_timeout, "600", RELOAD),
	DURATION_KEY(server_lifetime, "3600", RELOAD),
	DURATION_KEY(query_wait_timeout, "120", RELOAD),
	INT_KEY(reserve_pool_size, "0", 0, 100000, RELOAD),
	DURATION_KEY(reserve_pool_timeout, "5", RELOAD),
	INT_KEY(max_db_connections, "0", 0, 1000000, RELOAD),
	INT_KEY(max_user_connections, "0", 0, 1000000, RELOAD),
	DURATION_KEY(server_login_retry, "15", RELOAD),
	STRING_KEY(server_check_query, "SELECT 1", 0, RELOAD),
	DURATION_KEY(server_check_delay, "30", RELOAD),
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
 * holds of a message (under pool_mode = transaction its named statements' texts are kept
 * besides, up to 16 MB: src/session/renamed.c). The defaults are PostgreSQL's own (a
 * message under 1 GB, 65535 parameters): without [limits], pgward refuses nothing the
 * server accepts.
 */
static const struct config_key limits_keys[] = {
	SIZE_KEY(max_message_size, "1073741823", 1024, 1073741823, RELOAD),
	SIZE_KEY(max_query_size, "1073741823", 64, 1073741823, RELOAD),
	SIZE_KEY(max_bind_param_size, "1073741823", 1, 1073741823, RELOAD),
	INT_KEY(max_bind_params, "65535", 0, 65535, RELOAD),
	SIZE_KEY(max_copy_data_size, "1073741823", 1, 1073741823, RELOAD),
	STRING_KEY(column_limits, "", 0, RELOAD),
};

/* The unsafe-statement guard; rule names are those of sql.h's detections. */
static const struct config_key guard_keys[] = {
	KEY_NAMED("mode", guard_mode, enum pgw_guard_mode, KEY_ENUM, "enforce", RELOAD, 0, 0,
		  &guard_mode_enum),
	STRING_KEY(rules, "", 0, RELOAD),
	STRING_KEY(role_rules, "", 0, RELOAD),
	STRING_KEY(function_roles, "", 0, RELOAD),
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
	TENANT_STRING("query", tenant_query, PGW_TENANT_DEFAULT_QUERY),
	TENANT_STRING("listen_channel", tenant_listen_channel, "pgward_tenant_changed"),
	TENANT_STRING("notify_roles", tenant_notify_roles, ""),
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
const struct config_section pgw_config_sections[] = {
	{"pgward", pgward_keys, PGW_ARRAY_LEN(pgward_keys), pgw_config_check_pgward, NULL},
	{"limits", limits_keys, PGW_ARRAY_LEN(limits_keys), pgw_config_check_limits, NULL},
	{"guard", guard_keys, PGW_ARRAY_LEN(guard_keys), pgw_config_check_guard, NULL},
	{"job", job_keys, PGW_ARRAY_LEN(job_keys), pgw_config_check_jobs, pgw_config_job_open},
	{"tenant", tenant_keys, PGW_ARRAY_LEN(tenant_keys), pgw_config_check_tenant, NULL},
	{"admin", admin_keys, PGW_ARRAY_LEN(admin_keys), NULL, NULL},
	{"metrics", metrics_keys, PGW_ARRAY_LEN(metrics_keys), NULL, NULL},
};

const size_t pgw_config_nsections = PGW_ARRAY_LEN(pgw_config_sections);
