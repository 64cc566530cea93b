/*
 * Private to src/sql: the info builder that the tree walk fills, the big-stack runner,
 * and the entry points the cache calls. Only the files of src/sql (and the module's
 * unit test) include this file; only they include pg_query.h and cJSON.h.
 */
#ifndef PGWARD_SQL_INT_H
#define PGWARD_SQL_INT_H

#include "pgward/sql.h"

struct cJSON;
struct sql_stmt_type;
struct sql_slots;

struct pgw_sql_hit {
	enum pgw_sql_flag flag;
	const char *desc;
};

/* ---- info memory: a chunk list owned by the info, so one free releases it all ---- */

struct sql_chunk {
	struct sql_chunk *next;
	size_t size, used;
	max_align_t data[];
};

/* A growable array used while walking; copied into the info's chunks at the end. */
struct sql_vec {
	void *p;
	size_t n, cap;
};

/* Everything the walk learns about one text. */
struct sql_builder {
	const char *text; /* NUL-terminated */
	size_t len;
	struct pgw_sql_info *info; /* owns the chunks strings are put in */
	struct sql_vec stmts, rels, gucs, inserts, values, cols, hits, updates, notifies,
		deallocates, holds, stmt_refs;
	struct sql_vec created; /* "schema.name" of tables created so far, for CREATE INDEX */
	uint64_t flags;		/* all statements */
	uint64_t stmt_flags;	/* the current top-level statement */
	bool stmt_makes_temp;	/* ...is one that makes a temporary relation */
	uint64_t fp;		/* fingerprint state */
	unsigned stmt_index;
	int stmt_depth;		   /* *Stmt nodes above the current one inside this statement */
	int suppress;		   /* > 0 below EXPLAIN without ANALYZE: nothing there runs */
	int in_prepare;		   /* > 0 below PREPARE */
	int in_definition;	   /* > 0 below CREATE VIEW/RULE/FUNCTION: runs later */
	int guc_route;		   /* -1, or the route of a SET below ALTER ROLE/FUNCTION/... */
	int in_func_ref;	   /* > 0 below a definition that names functions it calls later */
	const char *func_ref_what; /* that definition, e.g. "CREATE AGGREGATE" (static) */
	struct sql_slots *slots;   /* the text's literals, to learn what the walk reads of
				      them (shape.c); NULL when nobody asks */
	bool set_replayable;	   /* the last VariableSetStmt walked is a session SET pgward can
				      write again elsewhere (guc.c: its gucs entry's replay) */
	bool oom;
	bool too_complex;
};

/* Caps that keep one adversarial text from making the walk quadratic. */
#define SQL_MAX_CREATED	   64 /* remembered CREATE TABLEs; more: CREATE INDEX flagged */
#define SQL_MAX_DESC	   160
#define SQL_MAX_WALK_DEPTH 1200 /* above cJSON's own nesting limit: a second fence */

/* info.c */
void *sql_alloc(struct sql_builder *b, size_t size);
const char *sql_strdup(struct sql_builder *b, const char *s, size_t n);
void *sql_vec_push(struct sql_builder *b, struct sql_vec *v, size_t elem);
struct pgw_sql_info *sql_info_new(size_t hint);
struct pgw_sql_info *sql_info_error(enum pgw_sql_status status, const char *msg, int cursor);
const struct pgw_sql_info *sql_info_static(enum pgw_sql_status status);
void sql_builder_init(struct sql_builder *b, const char *text, size_t len);
/* Returns the finished info, or a static NO_MEMORY/TOO_COMPLEX one; frees the builder. */
struct pgw_sql_info *sql_builder_finish(struct sql_builder *b);
void sql_builder_discard(struct sql_builder *b);
void sql_flag(struct sql_builder *b, enum pgw_sql_flag flag, const char *desc);
void sql_flagf(struct sql_builder *b, enum pgw_sql_flag flag, const char *fmt, ...)
	PGW_PRINTF(3, 4);

/* walk.c: the whole-tree walk of one top-level statement */
void sql_walk_stmt(struct sql_builder *b, const struct cJSON *raw_stmt);

/* rules.c */
void sql_stmt_fields(struct sql_builder *b, const char *type, const struct cJSON *body);
/* Whether the text created table <qualified> earlier (CREATE TABLE without IF NOT EXISTS and
 * not renamed since): it has no rows nor readers yet. */
bool sql_created_earlier(struct sql_builder *b, const char *qualified);
void sql_forget_created(struct sql_builder *b, const char *qualified);

/* migrations.c: ALTER TABLE sub-commands, renames, VACUUM, CLUSTER, REINDEX, LOCK, policies,
 * MERGE; <rel> is the statement's "relation" (qualified NULL when it has none) */
void sql_alter_table_cmd(struct sql_builder *b, const struct cJSON *cmd, const char *word,
			 const struct pgw_sql_rel *rel);
void sql_migration_stmt(struct sql_builder *b, const char *type, const struct cJSON *body,
			const struct pgw_sql_rel *rel);

/* fold.c */
/* True only when the boolean expression holds for every row: true, 't'::boolean, 1 = 1,
 * x OR true, NOT false, ... Column references and calls are never folded. The constants
 * whose values it reads are marked as deciding (sql_slot_read). */
bool sql_always_true(struct sql_builder *b, const struct cJSON *wrapper);
/* A column DEFAULT the server evaluates once for ADD COLUMN (constants, STABLE built-ins on a
 * short list, operators over those); false for anything it may evaluate per row. */
bool sql_default_is_stable(const struct cJSON *wrapper);
const char *sql_stmt_tag(const char *type, const struct cJSON *body, const struct sql_stmt_type *t);

/* node.c */
/* {"Type": {...}} -> the body, and *type = "Type"; NULL if not a node */
const struct cJSON *sql_node_body(const struct cJSON *wrapper, const char **type);
const struct cJSON *sql_json_item(const struct cJSON *obj, const char *key);
const char *sql_json_str(const struct cJSON *obj, const char *key);
bool sql_json_bool(const struct cJSON *obj, const char *key);
int sql_json_int(const struct cJSON *obj, const char *key);
/*
 * An A_Const body in text form: a string from the tree, a static one, or a thread-local
 * buffer valid until the next call (copy it to keep it). NULL for NULL (*isnull set)
 * and for a constant that cannot be read exactly. The constant counts as one a decision
 * was made on (sql_slot_read); sql_const_value_text is for values only reported, and
 * gives the slot the text came from (0: none).
 */
const char *sql_const_text(struct sql_builder *b, const struct cJSON *aconst, bool *isnull);
const char *sql_const_value_text(struct sql_builder *b, const struct cJSON *aconst, bool *isnull,
				 uint32_t *slot);
/* Fills <out> from a bare RangeVar object; false if it has no relname. */
bool sql_rel_from_rangevar(struct sql_builder *b, const struct cJSON *rv, struct pgw_sql_rel *out);
void sql_add_rel(struct sql_builder *b, const struct pgw_sql_rel *rel,
		 enum pgw_sql_rel_action action);
/* "a.b, c" from a DropStmt's objects, bounded by <outsz> */
void sql_describe_objects(const struct cJSON *objects, char *out, size_t outsz);
void sql_drop_rels(struct sql_builder *b, const char *objtype, const struct cJSON *objects);

static inline const char *sql_nz(const char *s, const char *dflt)
{
	return s ? s : dflt;
}

static inline bool sql_streq(const char *a, const char *b)
{
	return a && __builtin_strcmp(a, b) == 0;
}

/* guc.c */
void sql_guc_setstmt(struct sql_builder *b, const struct cJSON *vss, int route);
/* The last part of a FuncCall's name (set_config for pg_catalog.set_config), or NULL. */
const char *sql_funccall_name(const struct cJSON *fc);
void sql_guc_funccall(struct sql_builder *b, const struct cJSON *fc);
/* Something that may write any GUC with a name pgward cannot read (UPDATE pg_settings, an
 * aggregate over set_config, ...): every rule about settings applies. */
void sql_guc_dynamic(struct sql_builder *b, const char *how);

/* calls.c: functions that run SQL from text, pg_notify(), and definitions naming them */
void sql_calls_funccall(struct sql_builder *b, const struct cJSON *fc);
/* (expr).name: attribute notation, a call of a one-argument function */
void sql_calls_indirection(struct sql_builder *b, const struct cJSON *ind);
/* Called for each statement node: records NOTIFY's channel, and enters a definition that
 * names functions (a String node below it is then a function name: sql_calls_named). */
void sql_calls_stmt(struct sql_builder *b, const char *type, const struct cJSON *body);
void sql_calls_named(struct sql_builder *b, const char *name);

/* constants.c */
/* A number as numeric_in reads it, exactly: 0.d1d2...dn x 10^pos, no leading or trailing zero
 * digit (n = 0: zero). */
struct sql_decimal {
	bool neg;
	int pos;
	size_t n;
	char d[128];
};
/*
 * <s> as int4in (<int_only>: optional sign, digits, within 32 bits) or numeric_in (also a
 * fraction and an exponent; NaN and Infinity are not read) reads it, blanks around allowed.
 * False for anything else, or more significant digits than kept.
 */
bool sql_parse_decimal(const char *s, bool int_only, struct sql_decimal *out);
/* -1, 0, 1 as a < b, a = b, a > b. */
int sql_decimal_cmp(const struct sql_decimal *a, const struct sql_decimal *b);
/* boolin(): the string, blanks around it dropped, as parse_bool reads it (1, 0 or -1). */
int sql_bool_of_text(const char *s);

/* session_state.c: PGW_SQL_SESSION_STATE, for a statement node and for a FuncCall */
/* session_state.c: a VariableSetStmt, after guc.c's sql_guc_setstmt walked it. */
void sql_session_setstmt(struct sql_builder *b, const struct cJSON *body);
void sql_session_stmt(struct sql_builder *b, const char *type, const struct cJSON *body);
void sql_session_funccall(struct sql_builder *b, const struct cJSON *fc);

/* casts.c: string constants that keep their value, and what could change that */
/* The A_Const under a node, looked through casts that cannot change a string (to text or
 * varchar, no length), or NULL if it is anything else. */
const struct cJSON *sql_const_under(const struct cJSON *wrapper);
/* Statements that would make a later cast to text read differently: a type named text. */
void sql_casts_stmt(struct sql_builder *b, const char *type, const struct cJSON *body);

/* insert_keys.c */
void sql_insert_extract(struct sql_builder *b, const struct cJSON *ins,
			const struct pgw_sql_rel *rel);
/* One value expression: a literal, $n, NULL or DEFAULT, casts looked through; else unknown. */
void sql_value_of(struct sql_builder *b, const struct cJSON *wrapper, struct pgw_sql_value *v);
/* Where the statement being walked sits: top level, PREPARE body or nested. */
enum pgw_sql_insert_where sql_where_now(const struct sql_builder *b);

/* update_sets.c: the SET list (a list of ResTarget nodes) of an UPDATE or ON CONFLICT */
void sql_update_extract(struct sql_builder *b, const struct cJSON *target_list,
			const struct pgw_sql_rel *rel);

/* stmt_table.c */
struct sql_stmt_type {
	const char *name; /* JSON node name, e.g. "CreateStmt" */
	enum pgw_sql_kind kind;
	const char *tag;
};
const struct sql_stmt_type *sql_stmt_type(const char *name);
/* "TABLE", "MATERIALIZED VIEW", ... for an ObjectType enum string; NULL if unknown. */
const char *sql_object_word(const char *objtype);
const char *sql_drop_tag(const char *objtype);
/* "ALTER TABLE", "ALTER INDEX", ... for an ObjectType, or <dflt>. */
const char *sql_alter_tag(const char *objtype, const char *dflt);

/* stack.c: runs a function on a large private stack, synchronously */
struct sql_stack {
	void *map;
	size_t map_size; /* guard page included */
	bool use_ucontext;
};
int sql_stack_init(struct sql_stack *s, size_t size) PGW_MUSTCHECK;
void sql_stack_free(struct sql_stack *s);
void sql_stack_run(struct sql_stack *s, void (*fn)(void *), void *arg);
size_t sql_stack_size_for(size_t max_parse_bytes);
/* Returns all but the top 1 MB of the stack to the kernel (after a deep parse). */
void sql_stack_trim(struct sql_stack *s);
/* Texts above this may recurse deep enough to be worth a trim afterwards. */
#define SQL_TRIM_ABOVE (64 * 1024)

/* json.c: libpg_query's JSON as cJSON_Parse reads it, into an arena: call between
 * sql_json_arena_begin and sql_json_arena_end, which frees the tree. NULL: malformed, nested
 * beyond CJSON_NESTING_LIMIT, or no memory. */
void sql_json_arena_begin(void);
void sql_json_arena_end(void);
struct cJSON *sql_json_parse(const char *json);

/* inspect.c: validates, parses and walks one NUL-terminated text on <stack>; with <slots>
 * (sql_shape_scan's of the same text) the walk records what it reads of each literal */
struct pgw_sql_info *sql_analyze(struct sql_stack *stack, const char *text, size_t len,
				 struct sql_slots *slots);

/*
 * shape.c: a text's literals ("slots") and its shape, the text with each literal replaced by
 * one byte naming its class. Two texts of one shape parse to the same tree but for the
 * constants' values and locations, because the grammar reads a literal by its token class
 * only: an integer that fits 32 bits, another number, each kind of string constant.
 */
enum sql_slot_class {
	SQL_SLOT_INT = 0x10,  /* up to 10 digits, at most INT32_MAX: an Integer */
	SQL_SLOT_LONG_INT,    /* an Integer written with more digits (leading zeros) */
	SQL_SLOT_NUMERIC,     /* a Float: a fraction, an exponent or beyond 32 bits */
	SQL_SLOT_STRING,      /* '...' in one piece */
	SQL_SLOT_STRING_CONT, /* '...' continued over lines */
	SQL_SLOT_STRING_N,    /* N'...': the grammar casts it to bpchar */
	SQL_SLOT_DOLLAR,      /* $tag$...$tag$ */
};

/* What the walk did with a slot: met its constant in the tree, reported its value as an
 * INSERT or UPDATE value, or decided something on its value. */
#define SQL_SLOT_SEEN	 1u
#define SQL_SLOT_VALUE	 2u
#define SQL_SLOT_DECIDES 4u

struct sql_slot {
	uint32_t start, len; /* bytes of the text */
	uint8_t cls;	     /* enum sql_slot_class */
	uint8_t use;	     /* SQL_SLOT_* */
	bool negated;	     /* its constant is the grammar's negation of it ("-" before) */
};

struct sql_slots {
	struct sql_slot *v;
	size_t n, cap;
	char *key; /* the shape: the text with each slot one class byte */
	size_t key_len, key_cap;
};

#define SQL_MAX_SLOTS 4096

/* Finds the slots of <text> and its shape into <s> (reusing its memory). False when the text
 * has no shape worth keeping: no literal; a literal the scanner judges by its value (E'...',
 * B'...', X'...', U&, unterminated); a control byte outside the literals; more than
 * SQL_MAX_SLOTS literals; no memory. */
bool sql_shape_scan(struct sql_slots *s, const char *text, size_t len);
void sql_slots_free(struct sql_slots *s);
/* The walk met an A_Const: marks its slot seen (and negated when the constant starts at a
 * minus sign before it). */
void sql_slot_seen(struct sql_builder *b, const struct cJSON *aconst);
/* The walk read an A_Const's value: marks its slot; returns 1 + its index, 0 if none. */
uint32_t sql_slot_read(struct sql_builder *b, const struct cJSON *aconst, unsigned use);
/* Why a parse of a text with <slots> cannot serve its shape, or NULL when it can: every slot
 * is a constant of the tree, none decided anything, and each reported value can be rebuilt
 * from another text's literal exactly as the parser would read it. */
const char *sql_shape_unusable(const struct pgw_sql_info *info, const struct sql_slots *slots);
/*
 * The info of <text>, whose slots <now> match (same shape as) those the template <tmpl> was
 * parsed with (<then>, <nslots> of them): the template's with statement offsets and the
 * reported values rebuilt from <text>. The result keeps a reference to <tmpl>. NULL if out
 * of memory.
 */
struct pgw_sql_info *sql_shape_info(const struct pgw_sql_info *tmpl, const struct sql_slot *then,
				    const char *text, const struct sql_slot *now, size_t nslots);
/* 0-based offset of the first byte that is not valid UTF-8 (NUL included), or len. */
size_t sql_utf8_check(const char *s, size_t len);
/*
 * prefilter.c: whether a statement of <sql> starts with a word that may change the session
 * (SET, RESET, ALTER, CREATE, DISCARD, DEALLOCATE, DO), read with the server's token
 * boundaries (the text is the one pgward inspects: standard strings). Comments and constants
 * are single tokens, so neither a SET inside them nor an UPDATE in a comment before a real
 * SET can mislead it.
 */
bool sql_statement_changes_session(const char *sql, size_t len);
/* prefilter.c: bit i of each mask says what byte i of the <n> (up to 64) at <p> is to the
 * scan: part of a word (letters, digits, '_', '$', bytes >= 0x80; only with <words>), >= 0x80,
 * or one it looks at closer (NUL, ';', '-', '/', and without <words> '_' and '&'). <before>
 * bytes before <p> may be read too. The AVX2 and SSE2 forms, and the portable one. */
struct sql_scan_block {
	uint64_t word, high, mark;
	uint64_t c, ro; /* without <words>: 'c'; 'r' or 'o' (either case) */
};
void sql_scan_block_portable(const unsigned char *p, size_t n, size_t before, bool words,
			     struct sql_scan_block *b);
#ifdef __SSE2__
void sql_scan_block_simd(const unsigned char *p, size_t n, size_t before, bool words,
			 struct sql_scan_block *b);
#if defined(__x86_64__) && defined(__GNUC__)
/* Only where __builtin_cpu_supports("avx2"). */
void sql_scan_block_avx2(const unsigned char *p, size_t n, size_t before, bool words,
			 struct sql_scan_block *b);
#endif
#endif
/* Bytes of the legal UTF-8 sequence that starts <s> (at most <avail>), or 0. */
size_t sql_utf8_char(const unsigned char *s, size_t avail);

#endif
