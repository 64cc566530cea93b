/*
 * pgward.ini: one table drives parsing, defaults, validation and reload rules for every
 * key. Loading never touches the running configuration; the caller swaps it in.
 */
#ifndef PGWARD_CONFIG_H
#define PGWARD_CONFIG_H

#include "pgward/common.h"
#include "pgward/log.h"

/* TLS modes, named as in libpq's sslmode and PgBouncer's *_tls_sslmode. */
enum pgw_sslmode {
	PGW_SSL_DISABLE = 0,
	PGW_SSL_ALLOW,
	PGW_SSL_PREFER,
	PGW_SSL_REQUIRE,
	PGW_SSL_VERIFY_CA,
	PGW_SSL_VERIFY_FULL,
};

enum pgw_guard_mode {
	PGW_GUARD_ENFORCE = 0, /* refuse */
	PGW_GUARD_DETECT,      /* log and count what would be refused, refuse nothing */
};

enum pgw_parse_error_action {
	PGW_PARSE_ERROR_FORWARD = 0, /* the server reports its own syntax error */
	PGW_PARSE_ERROR_REFUSE,	     /* fail closed: 42601 from pgward (rule parse_error) */
};

/* [metrics] tenant_label: what the tenant="..." label names. */
enum pgw_metrics_label {
	PGW_MLABEL_IDENTITY = 0, /* the tenant identity, else the login role */
	PGW_MLABEL_ORGANIZATION, /* the session's first organization id */
};

struct pgw_guard_role;
struct pgw_job_table;

enum pgw_tenant_mode { PGW_TENANT_MODE_OFF = 0, PGW_TENANT_MODE_ON };
enum pgw_tenant_identity { PGW_TENANT_ID_LOGIN_ROLE = 0, PGW_TENANT_ID_STARTUP_OPTION };
enum pgw_tenant_source { PGW_TENANT_SRC_MAP = 0, PGW_TENANT_SRC_QUERY };
enum pgw_tenant_fallback { PGW_TENANT_REFUSE = 0, PGW_TENANT_EMPTY };
/* [tenant] query's default: $1 compared with a uuid column, so it suits UUID identities. */
#define PGW_TENANT_DEFAULT_QUERY                                                                   \
	"SELECT organization_id FROM organization_members WHERE user_id = $1"

struct pgw_column_limit;

/* auth_type: who checks a client's login. passthrough: the server, through pgward; the
 * others are pgward's own (src/auth/), with PgBouncer's names; hba: per auth_hba_file. */
enum pgw_auth_type {
	PGW_AUTH_TYPE_PASSTHROUGH = 0,
	PGW_AUTH_TYPE_TRUST,
	PGW_AUTH_TYPE_PASSWORD,
	PGW_AUTH_TYPE_MD5,
	PGW_AUTH_TYPE_SCRAM,
	PGW_AUTH_TYPE_CERT,
	PGW_AUTH_TYPE_HBA,
};
/* pool_mode: none, one server per client for its whole life; session, a server goes back
 * to its pool of (database, user) when its client leaves; transaction, when its client's
 * transaction ends (both need pgward's own auth). */
enum pgw_pool_mode {
	PGW_POOL_NONE = 0,
	PGW_POOL_SESSION,
	PGW_POOL_TRANSACTION,
};
/* auth_query's default, PgBouncer's: pg_shadow lists only roles that may log in. */
#define PGW_AUTH_DEFAULT_QUERY "SELECT usename, passwd FROM pg_shadow WHERE usename=$1"

struct pgw_config {
	char *path; /* the file it was loaded from */

	/* [pgward] listener */
	char *listen_addr;
	int listen_port;
	int max_client_conn;

	/* [pgward] the PostgreSQL server behind pgward */
	char *server_host;
	int server_port;

	/* [pgward] TLS towards clients */
	enum pgw_sslmode
		client_tls_sslmode; /* disable, allow, prefer, require, verify-ca, verify-full */
	char *client_tls_cert_file;
	char *client_tls_key_file;
	char *client_tls_ca_file;

	/* [pgward] TLS towards the server */
	enum pgw_sslmode server_tls_sslmode; /* disable, prefer, require, verify-ca, verify-full */
	char *server_tls_ca_file;
	char *server_tls_cert_file;
	char *server_tls_key_file;

	/* [pgward] authentication (src/auth/) */
	enum pgw_auth_type auth_type;
	char *auth_file;       /* PgBouncer's userlist.txt format */
	char *auth_hba_file;   /* pg_hba.conf format, for auth_type hba */
	char *auth_ident_file; /* pg_ident.conf format, for cert rules with map= */
	char *auth_user;       /* runs auth_query; its password comes from auth_file */
	char *auth_query;
	char *auth_dbname;     /* NULL: the database the client asks for */
	double auth_cache_ttl; /* seconds an auth_query answer is reused */
	double auth_query_timeout;
	int auth_failure_limit;	    /* failed logins per address and period; 0: no limit */
	double auth_failure_period; /* seconds */

	/* [pgward] pools (src/pool/), PgBouncer's names and meanings */
	enum pgw_pool_mode pool_mode;
	int default_pool_size; /* servers per (database, user) at most */
	int min_pool_size;     /* servers a pool that has served a client keeps open (pool_min.c) */
	int max_prepared_statements; /* per server, pool_mode = transaction; 0: a named Parse
					pins its client (src/session/renamed.c) */
	char *server_reset_query;    /* run when a client leaves its server; NULL: none */
	double server_idle_timeout;  /* an idle pooled server older than this closes */
	double server_lifetime;	     /* a server this old closes when it is next idle */
	double query_wait_timeout;   /* a client waiting this long for a server gets 08P01 */
	int reserve_pool_size;	     /* more servers for a pool whose client waited... */
	double reserve_pool_timeout; /* ...this long */
	int max_db_connections;	     /* servers per database over all its pools; 0: no limit */
	int max_user_connections;    /* servers per user over all its pools; 0: no limit */
	double server_login_retry;   /* after a server could not be reached, wait this long */
	char *server_check_query;    /* run on a server idle past server_check_delay; NULL: none */
	double server_check_delay;

	/* [pgward] timeouts, in seconds; 0 disables the ones documented as optional */
	double client_login_timeout;
	double client_idle_timeout;
	double query_timeout; /* a request unanswered this long ends the session (57014) */
	double server_connect_timeout;
	double shutdown_timeout;

	/* [pgward] limits */
	uint32_t max_packet_size; /* largest frontend message accepted, header length included */

	enum pgw_log_level log_level;

	/* [limits] payload limits, each refused with 54000 under its own rule name; the
	 * session goes on. Sizes are message bodies, without the 5-byte header. */
	uint32_t max_message_size;    /* any frontend message (rule message_size) */
	uint32_t max_query_size;      /* Query and Parse messages (rule query_size) */
	uint32_t max_bind_param_size; /* one Bind parameter value (rule bind_param_size) */
	int max_bind_params;	      /* parameters in one Bind (rule bind_param_count) */
	uint32_t max_copy_data_size;  /* one CopyData message (rule copy_data_size) */
	char *column_limits; /* "[schema.]table.column: N chars|bytes, ..." (rule column_size) */
	struct pgw_column_limit *col_limits; /* derived from column_limits at load */
	size_t ncol_limits;

	/* [guard] the unsafe-statement guard */
	enum pgw_guard_mode guard_mode;
	enum pgw_parse_error_action on_parse_error; /* text the parser rejects */
	double ddl_lock_timeout; /* seconds of lock_timeout around a DDL statement; 0: off */
	int sql_cache_entries;	 /* the shared classification cache's bounds */
	uint32_t sql_cache_size;
	char *rules;	  /* rule list for roles without their own entry in role_rules */
	char *role_rules; /* "role: rule, rule; role2: none" */
	/* roles that may create functions and run DO blocks in a session with a tenant
	 * context, comma-separated; NULL: none */
	char *function_roles;
	/* derived from the two above when the file is loaded */
	uint64_t guard_default_rules;
	struct pgw_guard_role *guard_roles;
	size_t nguard_roles;

	/* [admin] the admin console (src/admin/) */
	char *admin_database;	   /* the virtual database name clients connect to */
	char *admin_users;	   /* roles allowed in, comma-separated; empty: console off */
	char *admin_auth_database; /* the real database their login is checked against */

	/* [metrics] Prometheus exposition and per-tenant stats (src/metrics, src/http) */
	char *metrics_listen_addr;
	int metrics_listen_port;	    /* 0: the whole module is off */
	int metrics_max_tenants;	    /* tracked by name; the rest count as tenant="_other" */
	double metrics_tenant_idle_expiry;  /* seconds without sessions before a tenant goes */
	double metrics_slow_statement_time; /* seconds; 0: no slow-statement log */
	int metrics_statements_top;	    /* /statements size; 0: statement stats off */
	int metrics_statements_max;	    /* (tenant, fingerprint) entries kept */
	double metrics_health_check_interval;	     /* seconds between reachability probes */
	enum pgw_metrics_label metrics_tenant_label; /* what the tenant label names */
	/* [tenant] tenant context for row-level security */
	enum pgw_tenant_mode tenant_mode;
	enum pgw_tenant_identity tenant_identity; /* login_role, startup_option */
	char *tenant_trusted_roles;		  /* roles that may pass the user id option */
	char *tenant_databases;			  /* NULL: every database */
	enum pgw_tenant_source tenant_source;	  /* map, query */
	char *tenant_map_file;
	char *tenant_conninfo; /* pgward's own connection: lookup and LISTEN */
	char *tenant_query;    /* $1 is the identity; first column: organization ids */
	char *tenant_listen_channel;
	char *tenant_notify_roles; /* NULL: only superusers and the lookup role invalidate */
	double tenant_cache_ttl;
	int tenant_cache_size;
	double tenant_lookup_timeout;
	enum pgw_tenant_fallback tenant_on_lookup_failure;
	enum pgw_tenant_fallback tenant_no_identity;
	char *tenant_org_ids_setting;
	char *tenant_user_id_setting;
	char *tenant_signature_setting;
	char *tenant_signing_secret; /* NULL: no signature */

	/* [job <table>] sections: job tables whose inserts are serialized by key */
	struct pgw_job_table *jobs;
	size_t njobs;
};

enum pgw_job_conflict {
	PGW_JOB_ERROR = 0, /* 23505, as a unique index would answer */
	PGW_JOB_SKIP,	   /* nothing inserted: INSERT 0 0, the transaction goes on */
};

/* One [job <table>] section. */
struct pgw_job_table {
	char *table;	   /* from the header: "scrape_jobs" or "public.scrape_jobs" */
	char *key_columns; /* "domain, job_type" */
	char *active;	   /* SQL over the table's columns; NULL: every row is an active job */
	enum pgw_job_conflict on_conflict;
	/* derived when the file is loaded; names folded as SQL folds unquoted identifiers */
	char *schema; /* NULL: the table matches in any schema */
	char *name;
	char **cols;
	size_t ncols;
};

struct pgw_guard_role {
	char *role;
	uint64_t rules; /* PGW_SQL_GUARD_RULES bits */
};

/* One entry of [limits] column_limits; names as PostgreSQL folds them. */
struct pgw_column_limit {
	char *schema; /* NULL: the table in any schema */
	char *table;
	char *column;
	uint32_t max;
	bool chars; /* max counts characters; otherwise bytes */
};

/* The guard rules (a mask of PGW_SQL_GUARD_RULES bits) that apply to login role <role>. */
uint64_t pgw_config_guard_rules(const struct pgw_config *cfg, const char *role);

/* Strips leading and trailing blanks in place; returns the first kept character. For
 * pgward.ini and the files with the same line syntax (the tenant map file). */
char *pgw_config_trim(char *s);

/* Fills <cfg> with every key's default (strings are heap copies). */
void pgw_config_defaults(struct pgw_config *cfg);

/*
 * Parses <path> over the defaults into <cfg>. On error returns -1 and writes
 * "file:line: problem" into <err>; <cfg> is then freed and zeroed.
 */
int pgw_config_load(const char *path, struct pgw_config *cfg, char *err,
		    size_t errlen) PGW_MUSTCHECK;

/* Frees the strings of <cfg> (not <cfg> itself) and zeroes it. */
void pgw_config_free(struct pgw_config *cfg);

/*
 * For a reload: calls <report> once for every key whose value differs between <old> and
 * <fresh> but which cannot change without a restart. Returns how many there were.
 */
typedef void (*pgw_config_report_fn)(const char *key, const char *old_value, const char *new_value,
				     void *arg);
int pgw_config_restart_changes(const struct pgw_config *old, const struct pgw_config *fresh,
			       pgw_config_report_fn report, void *arg);

const char *pgw_sslmode_name(enum pgw_sslmode mode);
const char *pgw_auth_type_name(enum pgw_auth_type type);
/* pool_mode's name in pgward.ini. */
const char *pgw_pool_mode_name(enum pgw_pool_mode mode);

/*
 * Settings that are valid but that will refuse ordinary work: a [limits] size below what a
 * bulk insert sends (psycopg2 sends 1 MB of bytea as a 2 MB hex literal; ORMs batch many
 * rows in one statement). Calls <warn> with one sentence per such key; returns how many.
 */
typedef void (*pgw_config_warn_fn)(const char *key, const char *message, void *arg);
int pgw_config_warnings(const struct pgw_config *cfg, pgw_config_warn_fn warn, void *arg);

/* Calls <fn> for every key of every section, in file order, with its current value. */
typedef void (*pgw_config_key_fn)(const char *section, const char *key, const char *value,
				  bool reloadable, void *arg);
void pgw_config_foreach(const struct pgw_config *cfg, pgw_config_key_fn fn, void *arg);

#endif
