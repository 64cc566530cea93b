/*
 * SQL inspection: turns SQL text into a compact, immutable, reference-counted
 * classification (statement kinds, detections, target relations, GUC writes, INSERT
 * values, fingerprint), cached by exact text and by statement shape (literals left out).
 * Pure library: no sockets, no event loop.
 *
 * What it sees: the whole parse tree of every statement in the text (CTEs, subqueries,
 * FROM functions, PREPARE <stmt>, EXPLAIN ANALYZE <stmt>, CREATE RULE actions, VIEW and
 * SQL-standard function bodies). What it cannot see: string bodies of functions and DO
 * blocks, dynamic SQL, triggers, rules and views that already exist, search_path
 * resolution (names are as written), and what a later EXECUTE of a prepared name runs.
 *
 * Not thread-safe: a cache and the infos it returns belong to one thread.
 */
#ifndef PGWARD_SQL_H
#define PGWARD_SQL_H

#include "pgward/common.h"

enum pgw_sql_status {
	PGW_SQL_OK = 0,
	PGW_SQL_PARSE_ERROR,  /* the parser refused the text: error, error_cursor */
	PGW_SQL_TOO_LARGE,    /* longer than max_parse_bytes: never handed to the parser */
	PGW_SQL_BAD_ENCODING, /* invalid UTF-8 or a NUL byte (the server says 22021) */
	PGW_SQL_TOO_COMPLEX,  /* parsed, but nested deeper than the walker takes: fail closed */
	PGW_SQL_NO_MEMORY,    /* an allocation failed: fail closed (never cached) */
};

/* Kind of a top-level statement. */
enum pgw_sql_kind {
	PGW_SQL_KIND_SELECT = 0, /* SELECT, VALUES, TABLE */
	PGW_SQL_KIND_INSERT,
	PGW_SQL_KIND_UPDATE,
	PGW_SQL_KIND_DELETE,
	PGW_SQL_KIND_MERGE,
	PGW_SQL_KIND_DDL, /* what log_statement = 'ddl' logs, incl. SELECT INTO */
	PGW_SQL_KIND_UTILITY,
	PGW_SQL_KIND_COPY,
	PGW_SQL_KIND_TRANSACTION,
	PGW_SQL_KIND_SET, /* SET, RESET */
	PGW_SQL_KIND_OTHER,
};

/* Coarser kind for per-statement metrics. */
enum pgw_sql_mkind {
	PGW_SQL_MKIND_SELECT = 0,
	PGW_SQL_MKIND_INSERT,
	PGW_SQL_MKIND_UPDATE,
	PGW_SQL_MKIND_DELETE,
	PGW_SQL_MKIND_DDL,
	PGW_SQL_MKIND_UTILITY, /* also transaction control and SET */
	PGW_SQL_MKIND_COPY,
	PGW_SQL_MKIND_OTHER, /* also MERGE */
};

/*
 * Detections. Each is a bit in pgw_sql_info.flags (PGW_SQL_BIT) and has a stable name
 * (pgw_sql_flag_name), the rule names of the unsafe-statement guard. Every one is raised
 * wherever its statement sits in the tree (a CTE, PREPARE, EXPLAIN ANALYZE, a rule, view
 * or SQL-standard function body), except under EXPLAIN without ANALYZE, which runs
 * nothing: there no flag, relation, GUC write or INSERT is reported.
 */
enum pgw_sql_flag {
	PGW_SQL_DROP_TABLE = 0,
	PGW_SQL_DROP_SCHEMA,
	PGW_SQL_DROP_DATABASE,
	PGW_SQL_TRUNCATE,
	PGW_SQL_DELETE_WITHOUT_WHERE, /* no WHERE, or one constant true after folding (WHERE
					 1=1); USING is no WHERE; MERGE ... WHEN MATCHED THEN
					 DELETE without AND (UPDATE likewise) */
	PGW_SQL_UPDATE_WITHOUT_WHERE,
	PGW_SQL_ALTER_DROP_COLUMN,
	PGW_SQL_ALTER_DROP_CONSTRAINT,
	PGW_SQL_ALTER_COLUMN_TYPE,
	PGW_SQL_CREATE_INDEX_BLOCKING, /* no CONCURRENTLY, table not created earlier in the text */
	PGW_SQL_DROP_INDEX_BLOCKING,   /* DROP INDEX without CONCURRENTLY */
	PGW_SQL_SET_ROLE,	       /* SET/RESET ROLE or SESSION AUTHORIZATION, by any route */
	PGW_SQL_ROW_SECURITY_OFF,      /* row_security set to anything not surely "on" */
	PGW_SQL_CASCADE,	       /* DROP/TRUNCATE/ALTER TABLE ... DROP ... CASCADE */
	PGW_SQL_GRANT_REVOKE,	       /* GRANT/REVOKE, role grants, ALTER DEFAULT PRIVILEGES */
	PGW_SQL_ALTER_SYSTEM,
	PGW_SQL_DO_BLOCK,
	/* migrations.c: what locks or rewrites a live table, breaks running code or opens RLS;
	   the lock and rewrite ones spare a table created earlier in the text */
	PGW_SQL_RLS_WEAKENING,	  /* DISABLE / NO FORCE ROW LEVEL SECURITY, DROP POLICY, a
				     permissive policy whose USING/WITH CHECK is always true */
	PGW_SQL_DROP_VIEW,	  /* DROP VIEW, DROP MATERIALIZED VIEW */
	PGW_SQL_DETACH_PARTITION, /* DETACH PARTITION without CONCURRENTLY */
	PGW_SQL_RENAME_TABLE,	  /* ALTER TABLE/VIEW/MATERIALIZED VIEW/FOREIGN TABLE RENAME TO */
	PGW_SQL_RENAME_COLUMN,	  /* ... RENAME COLUMN */
	PGW_SQL_VACUUM_FULL,
	PGW_SQL_CLUSTER,
	PGW_SQL_REINDEX_BLOCKING, /* REINDEX without CONCURRENTLY */
	PGW_SQL_LOCK_EXCLUSIVE,	  /* LOCK in ACCESS EXCLUSIVE (the default) or EXCLUSIVE mode */
	PGW_SQL_ADD_UNIQUE_CONSTRAINT, /* ALTER TABLE adds UNIQUE/PRIMARY KEY, no USING INDEX */
	PGW_SQL_ADD_FOREIGN_KEY,       /* FOREIGN KEY added by ALTER TABLE without NOT VALID */
	PGW_SQL_ADD_CHECK_CONSTRAINT,  /* CHECK added by ALTER TABLE without NOT VALID */
	PGW_SQL_ADD_COLUMN_DEFAULT_VOLATILE, /* ADD COLUMN whose default may differ per row:
						fold.c's allow-list, serial, identity, stored */
	PGW_SQL_ADD_REQUIRED_COLUMN, /* ADD COLUMN NOT NULL (or PRIMARY KEY) without DEFAULT */
	PGW_SQL_SET_NOT_NULL,	     /* ALTER COLUMN ... SET NOT NULL */
	PGW_SQL_SET_UNLOGGED,	     /* SET UNLOGGED */
	PGW_SQL_DROP_NOT_NULL,	   /* ALTER COLUMN ... DROP NOT NULL: readers relying on it break */
	PGW_SQL_DOMAIN_CONSTRAINT, /* CREATE DOMAIN with a CHECK, ALTER DOMAIN ... ADD CONSTRAINT */
	PGW_SQL_DDL,		   /* any statement of kind DDL, at any depth */
	PGW_SQL_RESET_ALL,	   /* RESET ALL (in a session, not ALTER ROLE ... RESET ALL) */
	PGW_SQL_DISCARD_ALL,	   /* DISCARD ALL */
	PGW_SQL_SET_CONFIG_DYNAMIC, /* set_config() name not a constant, UPDATE pg_settings, a
				       view or rule over pg_settings; since any GUC may be hit,
				       also raises set_role and row_security_off */
	PGW_SQL_ALTER_ROLE_SET,	    /* ALTER ROLE/USER/DATABASE ... SET/RESET */
	PGW_SQL_TEXT_FORM_UNSEEN,   /* a change of client_encoding or standard_conforming_strings
				       pgward would not see when it happens: ALTER SYSTEM (a
				       reload), a definition that calls set_config later */
	PGW_SQL_SQL_FROM_STRING,    /* a built-in that runs SQL given as text (query_to_xml,
				       ts_stat, ...: calls.c), called or named by an aggregate,
				       operator, cast or other definition that calls it later */
	PGW_SQL_CREATE_FUNCTION,    /* CREATE [OR REPLACE] FUNCTION/PROCEDURE, CREATE EXTENSION,
				       ALTER EXTENSION ... UPDATE: code pgward cannot inspect */
	PGW_SQL_NOTIFY_DYNAMIC,	    /* pg_notify() whose channel is not a constant, or named by a
				       definition that calls it later */
	PGW_SQL_CONCURRENTLY,	    /* CREATE/DROP INDEX, REINDEX or DETACH PARTITION
				       CONCURRENTLY: the server refuses it in a transaction block
				       or next to other statements of an extended-protocol batch */
	PGW_SQL_SESSION_STATE,	    /* leaves something in the session past its transaction:
				       SET or RESET (not LOCAL), set_config() not surely local,
				       LOAD, a dblink connection, setseed()
				       (session_state.c); under pool_mode = transaction it pins
				       the client to its server */
	PGW_SQL_OUTLIVES_RESET,	    /* what DISCARD ALL leaves in a backend: LOAD, a dblink
				       connection (session_state.c) */
	PGW_SQL_SESSION_SET,	    /* SET or RESET of the session that pgward can write again on
				       another backend (its gucs entry is replayable): under
				       pool_mode = transaction it follows the client instead of
				       pinning it (src/session/sets.c) */
	PGW_SQL_SESSION_HOLD,	    /* leaves in the session what a later statement can take
				       back (info->holds): LISTEN, a cursor WITH HOLD, a temporary
				       relation, a session advisory lock; it pins like
				       SESSION_STATE, until UNLISTEN, CLOSE, DISCARD TEMP or
				       pg_advisory_unlock_all() takes all of it back
				       (src/session/pin.c) */
	PGW_SQL_PREPARE,	    /* PREPARE (info->stmt_refs): under pool_mode = transaction
				       it follows the client, renamed on servers, where
				       src/session/sql_prepared.c can, and pins otherwise */
	PGW_SQL_NFLAGS,
};

#define PGW_SQL_BIT(flag) (UINT64_C(1) << (flag))

/* A relation as written: components case-folded by the parser, unresolved. */
enum pgw_sql_rel_action {
	PGW_SQL_REL_INSERT = 0,
	PGW_SQL_REL_UPDATE,
	PGW_SQL_REL_DELETE,
	PGW_SQL_REL_MERGE,
	PGW_SQL_REL_TRUNCATE,
	PGW_SQL_REL_DROP, /* DROP TABLE/VIEW/MATERIALIZED VIEW/INDEX/SEQUENCE/FOREIGN TABLE */
	PGW_SQL_REL_ALTER,
	PGW_SQL_REL_COPY_FROM,
};

struct pgw_sql_rel {
	const char *schema;    /* NULL when not written (the catalog part, if any, is dropped) */
	const char *name;      /* relname, e.g. "users" for Users, "Users" for "Users" */
	const char *qualified; /* "public.users", parts double-quoted where SQL needs it */
	enum pgw_sql_rel_action action;
};

/* How a GUC is written. Names are lower-cased (GUC names are case-insensitive). */
enum pgw_sql_guc_route {
	PGW_SQL_GUC_SESSION = 0, /* SET [SESSION] name, RESET name, SET name TO DEFAULT */
	PGW_SQL_GUC_LOCAL,	 /* SET LOCAL name */
	PGW_SQL_GUC_SET_CONFIG,	 /* set_config('name', ...) anywhere in the tree */
	PGW_SQL_GUC_ALTER_ROLE,	 /* ALTER ROLE/USER ... SET/RESET */
	PGW_SQL_GUC_ALTER_DATABASE,
	PGW_SQL_GUC_ALTER_SYSTEM,
	PGW_SQL_GUC_FUNCTION, /* CREATE/ALTER FUNCTION/PROCEDURE ... SET: applies on each call */
};

struct pgw_sql_guc {
	const char *name; /* "all" for ALTER ROLE/DATABASE/FUNCTION ... RESET ALL */
	enum pgw_sql_guc_route route;
	bool reset;	   /* RESET, SET ... TO DEFAULT, set_config(name, NULL, ...) */
	const char *value; /* the value set, when one constant; NULL otherwise */
	/* SET/RESET of the session only: what set_config(name, replay, false) needs to write
	 * the same on another backend (NULL with reset: a RESET), valid when <replayable> */
	bool replayable;
	const char *replay;
};

/* One VALUES item of an INSERT. A cast around a literal, NULL or $n is looked through. */
enum pgw_sql_value_type {
	PGW_SQL_VAL_LITERAL = 0, /* text: the constant in text form (string unescaped) */
	PGW_SQL_VAL_PARAM,	 /* param: $n, n >= 1, its value comes in Bind */
	PGW_SQL_VAL_NULL,
	PGW_SQL_VAL_DEFAULT,
	PGW_SQL_VAL_UNKNOWN, /* an expression: lower($1), a subquery, ... */
};

struct pgw_sql_value {
	enum pgw_sql_value_type type;
	int param;
	const char *text;
	const char *cast; /* the outermost cast's type name ("int4", "text") or NULL */
	uint32_t slot;	  /* private to src/sql: 1 + the literal of the text it was read from */
};

enum pgw_sql_insert_where {
	PGW_SQL_INS_TOP = 0, /* the top-level statement itself */
	PGW_SQL_INS_PREPARE, /* the body of PREPARE name AS INSERT ... */
	PGW_SQL_INS_NESTED,  /* in a CTE, EXPLAIN ANALYZE, a rule or function body */
};

struct pgw_sql_insert {
	struct pgw_sql_rel rel;
	unsigned stmt; /* index of the top-level statement */
	enum pgw_sql_insert_where where;
	bool values_known; /* false: INSERT ... SELECT, DEFAULT VALUES, ragged VALUES rows */
	bool default_values;
	bool on_conflict;
	bool returning;
	size_t ncols; /* 0: no column list, values are in table order */
	const char *const *cols;
	size_t nrows, rowlen; /* row r, item c at values[r * rowlen + c] */
	const struct pgw_sql_value *values;
};

/*
 * The SET list of an UPDATE, or of INSERT ... ON CONFLICT DO UPDATE (rel is then the
 * INSERT's target): each assigned column with its value, read as INSERT values are.
 * SET (a, b) = ($1, $2) gives two entries; a column written with a subscript or field
 * (SET a[1] = ...) is reported under its column name.
 */
struct pgw_sql_update {
	struct pgw_sql_rel rel;
	unsigned stmt; /* index of the top-level statement */
	enum pgw_sql_insert_where where;
	size_t nsets;
	const char *const *cols;
	const struct pgw_sql_value *values;
};

/*
 * A notification the text sends: NOTIFY's channel as the parser reads it (folded to lower
 * case unless quoted, cut to 63 bytes), pg_notify()'s exactly as written (the server folds
 * nothing there). A pg_notify() whose channel is not a constant raises
 * PGW_SQL_NOTIFY_DYNAMIC instead.
 */
struct pgw_sql_notify {
	const char *channel;
	bool function; /* pg_notify(); false: NOTIFY */
};

/* What a statement leaves in the session, or takes back, that pinning keeps count of. */
enum pgw_sql_hold_kind {
	PGW_SQL_HOLD_LISTEN = 0, /* LISTEN channel; UNLISTEN channel or * */
	PGW_SQL_HOLD_CURSOR,	 /* DECLARE name ... WITH HOLD; CLOSE name or ALL */
	PGW_SQL_HOLD_TEMP,	 /* a temporary relation; DISCARD TEMP */
	PGW_SQL_HOLD_ADVISORY,	 /* a session advisory lock; pg_advisory_unlock_all() */
	PGW_SQL_HOLD_NKINDS,
};

struct pgw_sql_hold {
	enum pgw_sql_hold_kind kind;
	bool take;	  /* true: left in the session; false: taken back */
	const char *name; /* the channel or cursor; NULL: every one (or a kind without names) */
};

/* A prepared statement a text names in SQL. */
enum pgw_sql_stmt_op {
	PGW_SQL_STMT_PREPARE = 0,
	PGW_SQL_STMT_EXECUTE, /* EXECUTE, also under EXPLAIN or CREATE TABLE AS */
	PGW_SQL_STMT_DEALLOCATE,
};

struct pgw_sql_stmt_ref {
	enum pgw_sql_stmt_op op;
	const char *name; /* folded by the parser unless quoted; NULL: DEALLOCATE ALL */
};

struct pgw_sql_stmt {
	enum pgw_sql_kind kind;
	const char *tag; /* static: "SELECT", "DROP TABLE", "CREATE INDEX", ... */
	uint64_t flags;	 /* detections inside this statement */
	uint32_t offset; /* byte range in the text, leading whitespace included, ';' not */
	uint32_t len;
	bool makes_temp; /* the statement itself makes a temporary relation (a hold) */
};

struct pgw_sql_hit; /* private: the description of a flag's first occurrence */

/* Immutable once returned. Arrays are empty (n == 0) unless status is PGW_SQL_OK. */
struct pgw_sql_info {
	enum pgw_sql_status status;
	const char *error; /* parser or encoding message, NULL when OK */
	int error_cursor;  /* parse error: 1-based *character* position, 0 if none;
			      bad encoding: 0-based byte offset of the bad sequence */
	uint64_t flags;	   /* union of PGW_SQL_BIT() over all statements */
	/*
	 * Shape hash computed during the walk (XXH3 over node types, field names, enum
	 * values and identifiers in tree order; constants, $n numbers and locations left
	 * out): SELECT 1 and SELECT 2 match, comments and spacing never matter. Stable
	 * across processes. Not pg_stat_statements' queryid nor pganalyze's fingerprint.
	 * 0 unless status is PGW_SQL_OK.
	 */
	uint64_t fingerprint;
	size_t nstmts;
	const struct pgw_sql_stmt *stmts;
	size_t nrels; /* targets of INSERT/UPDATE/DELETE/MERGE/TRUNCATE/DROP/ALTER/COPY FROM */
	const struct pgw_sql_rel *rels;
	size_t ngucs; /* every GUC the text sets or resets, by any route, in order */
	const struct pgw_sql_guc *gucs;
	size_t ninserts; /* every INSERT into a named table, at any depth */
	const struct pgw_sql_insert *inserts;
	size_t nupdates; /* every UPDATE of a named table and ON CONFLICT DO UPDATE, any depth */
	const struct pgw_sql_update *updates;
	size_t nnotifies; /* every NOTIFY and pg_notify() with a constant channel, any depth */
	const struct pgw_sql_notify *notifies;
	size_t ndeallocates; /* every DEALLOCATE, in order: its name, NULL for DEALLOCATE ALL */
	const char *const *deallocates;
	size_t nholds; /* what pinning counts (enum pgw_sql_hold_kind), in text order */
	const struct pgw_sql_hold *holds;
	size_t nstmt_refs; /* every PREPARE, EXECUTE and DEALLOCATE, in text order */
	const struct pgw_sql_stmt_ref *stmt_refs;
	/* private to src/sql */
	size_t nhits;
	const struct pgw_sql_hit *hits;
	const struct pgw_sql_info *shape; /* the info of another text of this shape whose
					     memory this one shares (held), or NULL */
	size_t refcnt;			  /* 0: static, never freed */
	size_t bytes;			  /* memory held, for the cache's byte bound */
	void *chunks;
};

/* Description of the first statement that raised <flag>, e.g. "DROP TABLE public.users";
 * NULL if the flag is not set. Never contains constants. */
const char *pgw_sql_info_desc(const struct pgw_sql_info *info, enum pgw_sql_flag flag);
const struct pgw_sql_info *pgw_sql_info_ref(const struct pgw_sql_info *info);
void pgw_sql_info_unref(const struct pgw_sql_info *info); /* NULL is fine */

/* The detections the unsafe-statement guard can refuse, per role: drop_table .. set_unlogged. */
#define PGW_SQL_GUARD_RULES (PGW_SQL_BIT(PGW_SQL_DOMAIN_CONSTRAINT + 1) - 1)

/*
 * Parses a rule list ("drop_table, truncate", "all", "none" or empty) into a mask of
 * PGW_SQL_GUARD_RULES bits. -1 with the offending word in <bad> if a name is unknown.
 */
int pgw_sql_rule_list_parse(const char *list, uint64_t *mask, char *bad, size_t badlen);

/*
 * False only when <sql> cannot raise any detection (no DROP, DELETE, SET, set_config, ...
 * as a whole word, no U& escapes): the caller may then skip the parse. Cheap (one pass over
 * the bytes); errs towards true.
 */
bool pgw_sql_may_break_rules(const char *sql, size_t len);
/* Likewise false only when <sql> can neither run DDL (but SELECT INTO) nor write lock_timeout. */
bool pgw_sql_may_run_ddl(const char *sql, size_t len);

/* The above, for the questions in <want> (PGW_SQL_MAY_BREAK_RULES, PGW_SQL_MAY_RUN_DDL,
 * PGW_SQL_MAY_CHANGE_SESSION, PGW_SQL_MAY_PIN): the bits of <want> whose answer is true. */
#define PGW_SQL_MAY_BREAK_RULES 1u
#define PGW_SQL_MAY_RUN_DDL	2u
/*
 * What the checks that hold for every role need (the guard's integrity, and how the
 * session's text reads, and which prepared statements it has): SET, RESET, ALTER, CREATE,
 * DISCARD, DEALLOCATE or DO as the first word of a statement (so UPDATE ... SET needs no
 * parse); set_config, pg_settings or a built-in that runs SQL given as text (calls.c)
 * anywhere; U&. For a role with no guard rule, outside tenant mode.
 */
#define PGW_SQL_MAY_CHANGE_SESSION 4u
/*
 * What pool_mode = transaction needs (PGW_SQL_SESSION_STATE, DDL, DISCARD ALL and what
 * writes settings unseen): the answers to PGW_SQL_MAY_CHANGE_SESSION and PGW_SQL_MAY_RUN_DDL,
 * and PREPARE, LISTEN, DECLARE, LOAD, TEMP, TEMPORARY, pg_temp, the session advisory lock
 * functions, dblink_connect and setseed anywhere.
 */
#define PGW_SQL_MAY_PIN 32u
#define PGW_SQL_MAY_ALL (7u | PGW_SQL_MAY_PIN)
unsigned pgw_sql_prefilter(const char *sql, size_t len, unsigned want);

/* What one pass over a text tells: pgw_sql_utf8_valid, whether a comment may start in it,
 * and the pgw_sql_prefilter answers to <want>. PGW_SQL_MAY_CHANGE_SESSION alone costs least:
 * it looks at the first word of each statement only. */
struct pgw_sql_scan {
	size_t valid; /* leading bytes that are UTF-8 without NUL: <len> when all are */
	bool comment; /* "--" or a slash-star occurs (in a constant too) */
	unsigned may; /* the questions of <want> answered yes */
};
void pgw_sql_scan(const char *sql, size_t len, unsigned want, struct pgw_sql_scan *out);

/* PostgreSQL's parse_bool_with_len(): 1 true, 0 false, -1 not a boolean ("o" alone is -1). */
int pgw_sql_parse_bool(const char *value);

/* True when <sql> is valid UTF-8 with no NUL byte, as the server requires. */
bool pgw_sql_utf8_valid(const char *sql, size_t len);

/* The built-ins that run SQL given as text (PGW_SQL_SQL_FROM_STRING), by index: "query_to_xml",
 * ...; NULL past the last. */
const char *pgw_sql_from_string_name(size_t i);

const char *pgw_sql_flag_name(enum pgw_sql_flag flag); /* "drop_table", ... */
int pgw_sql_flag_by_name(const char *name);	       /* the flag, or -1 if unknown */
const char *pgw_sql_status_name(enum pgw_sql_status status);
const char *pgw_sql_kind_name(enum pgw_sql_kind kind);
enum pgw_sql_mkind pgw_sql_kind_metrics(enum pgw_sql_kind kind);
const char *pgw_sql_mkind_name(enum pgw_sql_mkind mkind);
const char *pgw_sql_guc_route_name(enum pgw_sql_guc_route route);

/* ---- cache ---- */

struct pgw_sql_limits {
	size_t max_entries;	/* LRU bound by count; 0 disables caching */
	size_t max_bytes;	/* LRU bound by memory: texts, infos and entry overhead */
	size_t max_cached_text; /* longer texts are inspected but not cached (16 kB) */
	size_t max_parse_bytes; /* longer texts are not parsed: PGW_SQL_TOO_LARGE (1 MB by
				   default; the policies use max_query_size);
				   at most PGW_SQL_PARSE_BYTES_CAP */
};

#define PGW_SQL_MAX_CACHED_TEXT (16 * 1024)
#define PGW_SQL_MAX_PARSE_BYTES (1024 * 1024)
#define PGW_SQL_PARSE_BYTES_CAP 1073741823u /* PostgreSQL parses what it accepts */

/*
 * Two LRU tables, each bounded by max_entries and max_bytes: exact texts, and statement shapes
 * (a text with each literal replaced by its kind, src/sql/shape.c). A text not seen before
 * whose shape is known and serves is answered from the shape, without a parse.
 */
struct pgw_sql_cache_stats {
	uint64_t hits;
	uint64_t misses; /* texts not cached (answered from a shape, or inspected) */
	uint64_t evictions;
	uint64_t parses;       /* times the parser ran */
	uint64_t too_large;    /* texts refused before any lookup */
	uint64_t shape_hits;   /* misses answered from a shape: no parse */
	uint64_t shape_misses; /* misses with literals that had to be parsed: a new shape, or
				  one that cannot serve (pgw_sql_cache_uncached) */
	uint64_t shape_evictions;
	size_t entries;
	size_t bytes;
	size_t shape_entries;
	size_t shape_bytes;
};

/* Defaults for max_cached_text and max_parse_bytes. NULL if out of memory. */
struct pgw_sql_cache *pgw_sql_cache_new(size_t max_entries, size_t max_bytes);
/* Applies new limits (e.g. on reload), evicting down to them. -1 if a limit is invalid. */
int pgw_sql_cache_set_limits(struct pgw_sql_cache *cache,
			     const struct pgw_sql_limits *limits) PGW_MUSTCHECK;
void pgw_sql_cache_get_limits(const struct pgw_sql_cache *cache, struct pgw_sql_limits *out);
/* Drops the cache's references; infos still referenced elsewhere live on. */
void pgw_sql_cache_free(struct pgw_sql_cache *cache);
void pgw_sql_cache_stats(const struct pgw_sql_cache *cache, struct pgw_sql_cache_stats *out);

/*
 * Inspects <len> bytes of SQL text (need not be NUL-terminated). A Query or Parse
 * string ends at its first NUL, as the server reads it: pass the length up to that NUL;
 * a NUL inside [0, len) yields PGW_SQL_BAD_ENCODING. Returns a referenced info (never
 * NULL): release it with pgw_sql_info_unref. A repeated text costs a hash lookup and a
 * compare; a new one is parsed on a dedicated large stack, so deep nesting yields an
 * error, never a crash.
 */
const struct pgw_sql_info *pgw_sql_inspect(struct pgw_sql_cache *cache, const char *sql,
					   size_t len);

/*
 * The shapes that cannot serve, most parsed first, at most <top> (up to 64) of them: for each,
 * the shape (its literals are bytes 0x10-0x16, one per literal), the texts of it parsed since
 * it was learnt, and why it cannot serve (static).
 */
typedef void (*pgw_sql_shape_fn)(const char *shape, size_t len, uint64_t parses, const char *why,
				 void *arg);
void pgw_sql_cache_uncached(const struct pgw_sql_cache *cache, size_t top, pgw_sql_shape_fn fn,
			    void *arg);
/*
 * A hash of <sql>'s statement shape: equal for texts whose literals differ only in value (not
 * in kind), and of the text itself where it has no shape (no literal, E'', U&, ...). Cheap (one
 * pass that skips all but the literals); not a security decision: bytes 0x10-0x16 outside the
 * literals may make two shapes one. For metrics, which fingerprint each shape once.
 */
uint64_t pgw_sql_shape_hash(const char *sql, size_t len);
/* <shape> for people: each literal shown as "?", at most <outsz> - 1 bytes (cut with "..."). */
void pgw_sql_shape_text(const char *shape, size_t len, char *out, size_t outsz);

/*
 * Sets glibc's mmap and trim thresholds (32 MB, 128 MB) so that parsing big statements
 * reuses heap instead of paying fresh page faults: 1.3-3x faster for a mix of 100 KB to
 * 900 KB INSERTs, at the price of keeping the peak heap. Process-wide, so the module does
 * not do it behind main's back: call it once from main, before threads start.
 */
void pgw_sql_tune_malloc(void);

#endif
