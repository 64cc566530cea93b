/*
 * Every way a statement can write a GUC, for the tenant guard and the session-safety
 * rules: SET/RESET (session, LOCAL), set_config() anywhere in a tree, ALTER ROLE/
 * DATABASE/SYSTEM ... SET, CREATE/ALTER FUNCTION ... SET, and UPDATE pg_settings (whose
 * rule calls set_config()); calls.c adds definitions that name set_config (an aggregate's
 * state function). A value we cannot read is treated as the dangerous one.
 */
#include "sql-int.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <cJSON.h>

int pgw_sql_parse_bool(const char *v)
{
	size_t len = strlen(v);

	switch (v[0]) {
	case 't':
	case 'T':
		return strncasecmp(v, "true", len) == 0 ? 1 : -1;
	case 'f':
	case 'F':
		return strncasecmp(v, "false", len) == 0 ? 0 : -1;
	case 'y':
	case 'Y':
		return strncasecmp(v, "yes", len) == 0 ? 1 : -1;
	case 'n':
	case 'N':
		return strncasecmp(v, "no", len) == 0 ? 0 : -1;
	case 'o':
	case 'O':
		/* "o" alone is ambiguous, as in the server */
		if (strncasecmp(v, "on", len > 2 ? len : 2) == 0)
			return 1;
		if (strncasecmp(v, "off", len > 2 ? len : 2) == 0)
			return 0;
		return -1;
	case '1':
		return len == 1 ? 1 : -1;
	case '0':
		return len == 1 ? 0 : -1;
	default:
		return -1;
	}
}

static const char *route_prefix(enum pgw_sql_guc_route route, bool reset)
{
	switch (route) {
	case PGW_SQL_GUC_LOCAL:
		return "SET LOCAL"; /* a LOCAL reset is SET LOCAL name TO DEFAULT */
	case PGW_SQL_GUC_SET_CONFIG:
		return "set_config";
	case PGW_SQL_GUC_ALTER_ROLE:
		return reset ? "ALTER ROLE ... RESET" : "ALTER ROLE ... SET";
	case PGW_SQL_GUC_ALTER_DATABASE:
		return reset ? "ALTER DATABASE ... RESET" : "ALTER DATABASE ... SET";
	case PGW_SQL_GUC_ALTER_SYSTEM:
		return reset ? "ALTER SYSTEM RESET" : "ALTER SYSTEM SET";
	case PGW_SQL_GUC_FUNCTION:
		return "FUNCTION ... SET";
	default:
		return reset ? "RESET" : "SET";
	}
}

static void describe(char *out, size_t outsz, const char *name, enum pgw_sql_guc_route route,
		     bool reset)
{
	const char *shown = name;

	if (route == PGW_SQL_GUC_SET_CONFIG) {
		snprintf(out, outsz, "set_config('%s')", name);
		return;
	}
	if (strcmp(name, "role") == 0)
		shown = "ROLE";
	else if (strcmp(name, "session_authorization") == 0)
		shown = "SESSION AUTHORIZATION";
	snprintf(out, outsz, "%s %s", route_prefix(route, reset), shown);
}

/*
 * What writing <name> means for the rules. <setting> is true when a value is given
 * (not RESET/DEFAULT/FROM CURRENT); <value> is its text, or NULL when not a constant.
 * client_encoding and standard_conforming_strings change how the session's next texts
 * read: the relay follows them (the gucs list), except through ALTER SYSTEM, whose
 * reload reaches running sessions unannounced.
 */
static void effects(struct sql_builder *b, const char *name, enum pgw_sql_guc_route route,
		    bool reset, bool setting, const char *value)
{
	char desc[SQL_MAX_DESC];

	describe(desc, sizeof(desc), name, route, reset);
	if (strcmp(name, "role") == 0 || strcmp(name, "session_authorization") == 0)
		sql_flag(b, PGW_SQL_SET_ROLE, desc);
	if (route == PGW_SQL_GUC_ALTER_SYSTEM &&
	    (strcmp(name, "client_encoding") == 0 ||
	     strcmp(name, "standard_conforming_strings") == 0 || strcmp(name, "all") == 0))
		sql_flag(b, PGW_SQL_TEXT_FORM_UNSEEN, desc);
	/* set_config of either kept for later: a view, rule, function body, column default or
	 * constraint (any DDL), a PREPARE; it runs where pgward reads no set_config */
	if (route == PGW_SQL_GUC_SET_CONFIG &&
	    (strcmp(name, "client_encoding") == 0 ||
	     strcmp(name, "standard_conforming_strings") == 0) &&
	    (b->in_definition > 0 || b->in_prepare > 0 || b->in_func_ref > 0 ||
	     (b->stmt_flags & PGW_SQL_BIT(PGW_SQL_DDL))))
		sql_flag(b, PGW_SQL_TEXT_FORM_UNSEEN, desc);
	if (!setting)
		return;
	if (strcmp(name, "row_security") == 0 && !(value && pgw_sql_parse_bool(value) == 1))
		sql_flag(b, PGW_SQL_ROW_SECURITY_OFF, desc);
}

/* Lower-cased copy in the info: the server compares GUC names case-insensitively. */
static const char *guc_name(struct sql_builder *b, const char *name)
{
	char *copy = (char *)sql_strdup(b, name, strlen(name));

	for (char *p = copy; p && *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p + 32);
	return copy;
}

static struct pgw_sql_guc *add_guc(struct sql_builder *b, const char *name,
				   enum pgw_sql_guc_route route, bool reset, const char *value)
{
	struct pgw_sql_guc *g;

	if (b->suppress > 0 || !name)
		return NULL;
	g = sql_vec_push(b, &b->gucs, sizeof(*g));
	if (g) {
		g->name = name;
		g->route = route;
		g->reset = reset;
		/* the text lives in the parse tree, which goes once the walk is done */
		g->value = value ? sql_strdup(b, value, strlen(value)) : NULL;
		g->replayable = false;
		g->replay = NULL;
	}
	return g;
}

/* The settings whose list elements the server reads as identifiers (GUC_LIST_QUOTE). */
static const char *const list_quoted[] = {
	"search_path",
	"temp_tablespaces",
	"session_preload_libraries",
	"local_preload_libraries",
	"shared_preload_libraries",
};

/* Settings a SET writes that pgward does not carry to another backend: who the session is,
 * its transaction's characteristics, the random state. */
static bool not_replayed(const char *name)
{
	return strcmp(name, "role") == 0 || strcmp(name, "session_authorization") == 0 ||
	       strcmp(name, "seed") == 0 || strncmp(name, "transaction_", 12) == 0;
}

/* A value flattened into a bounded buffer; one that does not fit is not replayed. */
struct flat {
	char buf[2048];
	size_t len;
	bool full;
};

static void put(struct flat *f, char c)
{
	if (f->len + 1 < sizeof(f->buf))
		f->buf[f->len++] = c;
	else
		f->full = true;
}

static void puts_(struct flat *f, const char *s)
{
	while (*s)
		put(f, *s++);
}

/* PostgreSQL's quote_identifier for a list element, but for keywords (whose quotes the
 * server's list reader drops again): lower-case letters, digits and _ stay bare. */
static void put_identifier(struct flat *f, const char *s)
{
	bool bare = *s != '\0' && !(*s >= '0' && *s <= '9');

	for (const char *p = s; *p && bare; p++)
		bare = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_';
	if (bare) {
		puts_(f, s);
		return;
	}
	put(f, '"');
	for (const char *p = s; *p; p++) {
		if (*p == '"')
			put(f, '"');
		put(f, *p);
	}
	put(f, '"');
}

/*
 * The value SET <name> TO <args> gives the setting, as the server's
 * flatten_set_variable_args makes it: each constant in its text form (list elements of an
 * identifier list quoted), joined with ", ". NULL when an argument is not a plain constant
 * (a cast: SET TIME ZONE INTERVAL ...) or the value is long.
 */
static const char *flatten(struct sql_builder *b, const char *name, const cJSON *args)
{
	struct flat f = {.len = 0};
	bool quoted = false;
	const cJSON *arg;

	for (size_t i = 0; i < PGW_ARRAY_LEN(list_quoted); i++)
		quoted |= strcmp(name, list_quoted[i]) == 0;
	cJSON_ArrayForEach(arg, args)
	{
		const cJSON *ac = sql_json_item(arg, "A_Const");
		bool isnull = false;
		const char *text = ac != NULL ? sql_const_text(b, ac, &isnull) : NULL;

		if (text == NULL || isnull)
			return NULL;
		if (f.len > 0)
			puts_(&f, ", ");
		if (quoted && sql_json_item(ac, "sval") != NULL)
			put_identifier(&f, text);
		else
			puts_(&f, text);
	}
	if (f.full || f.len == 0)
		return NULL;
	return sql_strdup(b, f.buf, f.len);
}

void sql_guc_setstmt(struct sql_builder *b, const cJSON *vss, int route_in)
{
	const char *kind = sql_json_str(vss, "kind");
	const char *raw = sql_json_str(vss, "name");
	const cJSON *args = cJSON_GetObjectItemCaseSensitive(vss, "args");
	enum pgw_sql_guc_route route;
	const char *name, *value = NULL;
	struct pgw_sql_guc *g;
	bool reset, setting;

	b->set_replayable = false;
	if (!kind)
		return;
	if (route_in >= 0)
		route = (enum pgw_sql_guc_route)route_in;
	else
		route = sql_json_bool(vss, "is_local") ? PGW_SQL_GUC_LOCAL : PGW_SQL_GUC_SESSION;
	if (strcmp(kind, "VAR_RESET_ALL") == 0) {
		if (route == PGW_SQL_GUC_SESSION || route == PGW_SQL_GUC_LOCAL)
			sql_flag(b, PGW_SQL_RESET_ALL, "RESET ALL");
		else
			add_guc(b, "all", route, true, NULL);
		if (route == PGW_SQL_GUC_ALTER_SYSTEM)
			sql_flag(b, PGW_SQL_TEXT_FORM_UNSEEN, "ALTER SYSTEM RESET ALL");
		return;
	}
	if (!raw)
		return;
	name = guc_name(b, raw);
	if (!name)
		return;
	reset = strcmp(kind, "VAR_RESET") == 0 || strcmp(kind, "VAR_SET_DEFAULT") == 0;
	setting = strcmp(kind, "VAR_SET_VALUE") == 0;
	/* one constant argument, or the value is unknown (a list, $n) */
	if (setting && cJSON_GetArraySize(args) == 1) {
		const cJSON *ac = sql_const_under(cJSON_GetArrayItem(args, 0));
		bool isnull;

		if (ac)
			value = sql_const_text(b, ac, &isnull);
	}
	g = add_guc(b, name, route, reset, value);
	effects(b, name, route, reset, setting, value);
	if (g != NULL && route == PGW_SQL_GUC_SESSION && b->in_definition == 0 &&
	    !not_replayed(name) && (reset || setting)) {
		g->replay = setting ? flatten(b, name, args) : NULL;
		g->replayable = reset || g->replay != NULL;
		b->set_replayable = g->replayable;
	}
}

/* A set_config() whose name we cannot read may write any GUC: every rule applies. */
void sql_guc_dynamic(struct sql_builder *b, const char *desc)
{
	if (b->in_func_ref > 0 || b->in_definition > 0)
		/* runs later, where pgward sees no set_config: how the session's text reads could
		 * change unannounced */
		sql_flag(b, PGW_SQL_TEXT_FORM_UNSEEN, desc);
	sql_flag(b, PGW_SQL_SET_CONFIG_DYNAMIC, desc);
	sql_flag(b, PGW_SQL_SET_ROLE, desc);
	sql_flag(b, PGW_SQL_ROW_SECURITY_OFF, desc);
}

const char *sql_funccall_name(const cJSON *fc)
{
	const cJSON *names = cJSON_GetObjectItemCaseSensitive(fc, "funcname");
	const char *type;
	const cJSON *last =
		sql_node_body(cJSON_GetArrayItem(names, cJSON_GetArraySize(names) - 1), &type);

	return last != NULL && strcmp(type, "String") == 0 ? sql_json_str(last, "sval") : NULL;
}

void sql_guc_funccall(struct sql_builder *b, const cJSON *fc)
{
	const cJSON *args = cJSON_GetObjectItemCaseSensitive(fc, "args");
	const cJSON *ac;
	const char *fname = sql_funccall_name(fc), *raw, *name, *value = NULL;
	bool isnull = false, setting = true;

	/* any schema: pg_catalog.set_config, or a wrapper that may call it */
	if (!fname || strcasecmp(fname, "set_config") != 0)
		return;
	ac = sql_const_under(cJSON_GetArrayItem(args, 0));
	raw = ac ? sql_const_text(b, ac, &isnull) : NULL;
	if (!raw || sql_json_bool(fc, "func_variadic") || !ac ||
	    !cJSON_GetObjectItemCaseSensitive(ac, "sval")) {
		sql_guc_dynamic(b, "set_config() with a non-constant name");
		return;
	}
	name = guc_name(b, raw);
	if (!name)
		return;
	ac = sql_const_under(cJSON_GetArrayItem(args, 1));
	if (ac) {
		value = sql_const_text(b, ac, &isnull);
		if (isnull)
			setting = false; /* set_config(name, NULL, ...) resets to the default */
	}
	add_guc(b, name, PGW_SQL_GUC_SET_CONFIG, !setting, setting ? value : NULL);
	effects(b, name, PGW_SQL_GUC_SET_CONFIG, !setting, setting, value);
}
