/*
 * Constant folding, just far enough to see that a WHERE, USING or WITH CHECK clause holds for
 * every row (WHERE 1=1, USING (x OR true)), and whether a column DEFAULT can change from row to
 * row. It must only err towards "unknown" for conditions and towards "volatile" for defaults:
 * a wrong "always true" would refuse a legitimate statement, a wrong "stable" would let a
 * table rewrite through.
 */
#include "sql-int.h"

#include <string.h>
#include <cJSON.h>

/* Deeper expressions are "unknown": the walk has its own depth fence, this one is cheaper. */
#define FOLD_MAX_DEPTH 64

enum { K_UNKNOWN = -1, K_FALSE = 0, K_TRUE = 1 };

/*
 * What a constant is to folding, from its token (const_of) before any value is read: a
 * number (an Integer or a Float: numeric comparisons are exact), a string (of unknown type:
 * PostgreSQL reads it as the type the other side or the context asks for) or a boolean
 * (TRUE, FALSE).
 */
enum kind { C_INT, C_FLOAT, C_STRING, C_BOOL };

/* The non-NULL constant at <wrapper> and its kind, without reading its value (a value may
 * then change without changing what is folded); NULL if it is no such constant. */
static const cJSON *const_of(const cJSON *wrapper, enum kind *kind)
{
	const char *type = NULL;
	const cJSON *ac = sql_node_body(wrapper, &type);

	if (!ac || strcmp(type, "A_Const") != 0 || sql_json_bool(ac, "isnull"))
		return NULL;
	if (sql_json_item(ac, "ival"))
		*kind = C_INT;
	else if (sql_json_item(ac, "fval"))
		*kind = C_FLOAT;
	else if (sql_json_item(ac, "sval"))
		*kind = C_STRING;
	else if (sql_json_item(ac, "boolval"))
		*kind = C_BOOL;
	else
		return NULL;
	return ac;
}

/* The text of a constant const_of() found (what folding decides on), or NULL if it cannot be
 * read exactly. */
static const char *const_read(struct sql_builder *b, const cJSON *ac)
{
	bool isnull;

	return sql_const_text(b, ac, &isnull); /* marks it decided on */
}

/* A constant as the given type reads it: number (<as_int>: int4) or boolean. */
static bool const_number(struct sql_builder *b, const cJSON *ac, bool as_int, struct sql_decimal *d)
{
	const char *text = const_read(b, ac);

	return text && sql_parse_decimal(text, as_int, d);
}

static int const_bool(struct sql_builder *b, const cJSON *ac, enum kind kind)
{
	const char *text;

	if (kind == C_BOOL)
		return sql_json_bool(sql_json_item(ac, "boolval"), "boolval") ? K_TRUE : K_FALSE;
	text = const_read(b, ac);
	if (!text)
		return K_UNKNOWN;
	if (kind == C_STRING)
		return sql_bool_of_text(text);
	if (kind == C_INT) { /* int4 to boolean: anything but 0 is true */
		struct sql_decimal d;

		return sql_parse_decimal(text, true, &d) ? d.n != 0 : K_UNKNOWN;
	}
	return K_UNKNOWN; /* no cast from numeric to boolean */
}

/* A type name that is boolean: bool, boolean (pg_catalog.bool after the grammar). */
static bool is_bool_type(const cJSON *tn)
{
	const cJSON *names = sql_json_item(tn, "names"), *last = NULL, *w;
	const char *type = NULL, *s;

	cJSON_ArrayForEach(w, names)
	{
		last = w;
	}
	s = last ? sql_json_str(sql_node_body(last, &type), "sval") : NULL;
	return s && (strcmp(s, "bool") == 0 || strcmp(s, "boolean") == 0) &&
	       !sql_json_item(tn, "arrayBounds");
}

static int fold(struct sql_builder *b, const cJSON *wrapper, int depth);

static int fold_cast(struct sql_builder *b, const cJSON *tc, int depth)
{
	const cJSON *arg = sql_json_item(tc, "arg"), *ac;
	enum kind kind;

	if (!is_bool_type(sql_json_item(tc, "typeName")))
		return K_UNKNOWN;
	if ((ac = const_of(arg, &kind)))
		return const_bool(b, ac, kind); /* ' t'::boolean, 1::boolean, (-1)::boolean */
	return fold(b, arg, depth + 1);		/* (1 = 1)::boolean */
}

static int compare(long long cmp, const char *op)
{
	if (strcmp(op, "=") == 0)
		return cmp == 0;
	if (strcmp(op, "<>") == 0 || strcmp(op, "!=") == 0)
		return cmp != 0;
	if (strcmp(op, "<") == 0)
		return cmp < 0;
	if (strcmp(op, "<=") == 0)
		return cmp <= 0;
	if (strcmp(op, ">") == 0)
		return cmp > 0;
	if (strcmp(op, ">=") == 0)
		return cmp >= 0;
	return K_UNKNOWN;
}

static bool is_equality(const char *op)
{
	return strcmp(op, "=") == 0 || strcmp(op, "<>") == 0 || strcmp(op, "!=") == 0;
}

/*
 * Two constants compared: 1 = 1, -1 < 0, 1.5 > 1, '1' = 1, 'a' = 'a', true = 't'. Only
 * unqualified built-in operators, and a string against a number read as the number's type
 * reads it (int4 against an Integer, numeric against a Float), as the server resolves the
 * operator. Strings are compared for equality only (order depends on the collation).
 */
static int fold_op(struct sql_builder *b, const cJSON *ae)
{
	const cJSON *name = sql_json_item(ae, "name"), *lc, *rc;
	const char *type = NULL, *op;
	enum kind lk, rk;
	struct sql_decimal l, r;

	if (!sql_streq(sql_json_str(ae, "kind"), "AEXPR_OP") || cJSON_GetArraySize(name) != 1)
		return K_UNKNOWN;
	op = sql_json_str(sql_node_body(cJSON_GetArrayItem(name, 0), &type), "sval");
	/* both sides must be constants before either value is read: aid = 5 is unknown
	 * whatever the 5 */
	if (!op || !(lc = const_of(sql_json_item(ae, "lexpr"), &lk)) ||
	    !(rc = const_of(sql_json_item(ae, "rexpr"), &rk)))
		return K_UNKNOWN;
	if (lk == C_BOOL || rk == C_BOOL) {
		int a, c;

		if (!is_equality(op) || lk == C_INT || lk == C_FLOAT || rk == C_INT ||
		    rk == C_FLOAT)
			return K_UNKNOWN;
		a = const_bool(b, lc, lk);
		c = const_bool(b, rc, rk);
		return a < 0 || c < 0 ? K_UNKNOWN : compare(a != c, op);
	}
	if (lk == C_STRING && rk == C_STRING) {
		const char *a, *c;

		if (!is_equality(op))
			return K_UNKNOWN;
		a = const_read(b, lc);
		c = const_read(b, rc);
		return a && c ? compare(strcmp(a, c) != 0, op) : K_UNKNOWN;
	}
	/* numbers, or a string read as the number on the other side reads */
	if (!const_number(b, lc, lk == C_INT || (lk == C_STRING && rk == C_INT), &l) ||
	    !const_number(b, rc, rk == C_INT || (rk == C_STRING && lk == C_INT), &r))
		return K_UNKNOWN;
	return compare(sql_decimal_cmp(&l, &r), op);
}

/* AND, OR, NOT in three-valued logic: NULL and unknown both stay "not surely true". */
static int fold_bool(struct sql_builder *b, const cJSON *be, int depth)
{
	const char *op = sql_json_str(be, "boolop");
	const cJSON *w;
	bool is_and = sql_streq(op, "AND_EXPR"), is_or = sql_streq(op, "OR_EXPR");
	int acc = is_and ? K_TRUE : K_FALSE;

	if (sql_streq(op, "NOT_EXPR")) {
		int v = fold(b, cJSON_GetArrayItem(sql_json_item(be, "args"), 0), depth + 1);

		return v == K_UNKNOWN ? K_UNKNOWN : !v;
	}
	if (!is_and && !is_or)
		return K_UNKNOWN;
	cJSON_ArrayForEach(w, sql_json_item(be, "args"))
	{
		int v = fold(b, w, depth + 1);

		if (is_or && v == K_TRUE)
			return K_TRUE;
		if (is_and && v == K_FALSE)
			return K_FALSE;
		if (v == K_UNKNOWN)
			acc = K_UNKNOWN;
	}
	return acc;
}

static int fold(struct sql_builder *b, const cJSON *wrapper, int depth)
{
	const char *type = NULL;
	const cJSON *body = sql_node_body(wrapper, &type);

	if (!body || depth > FOLD_MAX_DEPTH)
		return K_UNKNOWN;
	if (strcmp(type, "A_Const") == 0) {
		enum kind kind;

		/* TRUE, FALSE; a string of unknown type is read as a boolean ('on', ' t '); a
		 * number alone is refused by the server */
		if (!const_of(wrapper, &kind) || (kind != C_BOOL && kind != C_STRING))
			return K_UNKNOWN;
		return const_bool(b, body, kind);
	}
	if (strcmp(type, "TypeCast") == 0)
		return fold_cast(b, body, depth);
	if (strcmp(type, "BoolExpr") == 0)
		return fold_bool(b, body, depth);
	if (strcmp(type, "A_Expr") == 0)
		return fold_op(b, body);
	if (strcmp(type, "NullTest") == 0) {
		bool not_null = sql_streq(sql_json_str(body, "nulltesttype"), "IS_NOT_NULL");
		enum kind kind;

		/* 1 IS NOT NULL, 'x' IS NOT NULL: whatever the value */
		if (const_of(sql_json_item(body, "arg"), &kind))
			return not_null ? K_TRUE : K_FALSE;
		return K_UNKNOWN;
	}
	if (strcmp(type, "BooleanTest") == 0) {
		const char *t = sql_json_str(body, "booltesttype");
		int a = fold(b, sql_json_item(body, "arg"), depth + 1);

		if (a == K_UNKNOWN || !t)
			return K_UNKNOWN;
		if (strcmp(t, "IS_TRUE") == 0 || strcmp(t, "IS_NOT_FALSE") == 0)
			return a;
		if (strcmp(t, "IS_FALSE") == 0 || strcmp(t, "IS_NOT_TRUE") == 0)
			return !a;
		return K_UNKNOWN;
	}
	return K_UNKNOWN;
}

bool sql_always_true(struct sql_builder *b, const cJSON *wrapper)
{
	return wrapper && fold(b, wrapper, 0) == K_TRUE;
}

/*
 * Functions a DEFAULT may call without making the server rewrite the table: STABLE or
 * IMMUTABLE ones (PostgreSQL 11+ evaluates those once and stores the value in the catalog).
 * Kept short on purpose: anything else, random(), gen_random_uuid(), clock_timestamp(),
 * nextval(), a user function, counts as volatile.
 */
static const char *const stable_funcs[] = {
	"now",
	"transaction_timestamp",
	"statement_timestamp",
	"current_date",
	"lower",
	"upper",
	"length",
	"btrim",
	"concat",
	"to_timestamp",
	"make_date",
	"make_interval",
	"abs",
	"jsonb_build_object",
	"json_build_object",
	"jsonb_build_array",
};

static bool stable_call(const cJSON *fc)
{
	const cJSON *names = sql_json_item(fc, "funcname"), *w;
	const char *type = NULL, *schema = NULL, *fname = NULL;
	int n = cJSON_GetArraySize(names);

	if (n < 1 || n > 2 || sql_json_item(fc, "over") || sql_json_bool(fc, "agg_star"))
		return false;
	fname = sql_json_str(sql_node_body(cJSON_GetArrayItem(names, n - 1), &type), "sval");
	if (n == 2)
		schema = sql_json_str(sql_node_body(cJSON_GetArrayItem(names, 0), &type), "sval");
	/* a function of the same name in another schema could be anything */
	if (!fname || (n == 2 && !sql_streq(schema, "pg_catalog")))
		return false;
	for (size_t i = 0; i < PGW_ARRAY_LEN(stable_funcs); i++)
		if (strcmp(fname, stable_funcs[i]) == 0)
			goto args;
	return false;
args:
	cJSON_ArrayForEach(w, sql_json_item(fc, "args"))
	{
		if (!sql_default_is_stable(w))
			return false;
	}
	return true;
}

bool sql_default_is_stable(const cJSON *wrapper)
{
	const char *type = NULL;
	const cJSON *body = sql_node_body(wrapper, &type), *w;

	if (!body)
		return false;
	if (strcmp(type, "A_Const") == 0 || strcmp(type, "SQLValueFunction") == 0)
		return true; /* CURRENT_TIMESTAMP, CURRENT_USER, ...: all STABLE */
	if (strcmp(type, "TypeCast") == 0)
		return sql_default_is_stable(sql_json_item(body, "arg"));
	if (strcmp(type, "FuncCall") == 0)
		return stable_call(body);
	if (strcmp(type, "A_Expr") == 0) {
		/* -1, 1 + 2, 'a' || 'b': built-in operators on stable operands */
		const cJSON *l = sql_json_item(body, "lexpr"), *r = sql_json_item(body, "rexpr");

		return sql_streq(sql_json_str(body, "kind"), "AEXPR_OP") &&
		       cJSON_GetArraySize(sql_json_item(body, "name")) == 1 &&
		       (!l || sql_default_is_stable(l)) && (!r || sql_default_is_stable(r));
	}
	if (strcmp(type, "A_ArrayExpr") == 0 || strcmp(type, "RowExpr") == 0 ||
	    strcmp(type, "BoolExpr") == 0) {
		const char *key = type[0] == 'B' || type[0] == 'R' ? "args" : "elements";

		cJSON_ArrayForEach(w, sql_json_item(body, key))
		{
			if (!sql_default_is_stable(w))
				return false;
		}
		return true;
	}
	return false;
}
