/*
 * Per-column size limits (report finding 3.3.2): a value written to a column named in
 * [limits] column_limits, by INSERT ... VALUES or UPDATE ... SET (also ON CONFLICT DO
 * UPDATE), is measured before it reaches the server: a literal from the classification at
 * Query/Parse time, a bound parameter at Bind time through the session's prepared-statement
 * map. Over the limit: 54000, rule column_size. Expressions (lower($1), a || b, subqueries)
 * are not measured: only what is sent as the value itself.
 */
#include "pgward/codec.h"
#include "pgward/policy.h"
#include "pgward/sql.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const hint =
	"Send a smaller value, or raise the limit in column_limits of [limits] in pgward.ini.";

/* ---- which statements can touch a limited column ---- */

static bool mentions(const char *text, size_t len, const char *name)
{
	size_t n = strlen(name);
	char first = name[0];

	for (size_t i = 0; i + n <= len; i++) {
		char c = text[i];

		if ((c | 0x20) == (first | 0x20) && strncasecmp(text + i, name, n) == 0)
			return true;
	}
	return false;
}

/*
 * Cheap pre-filter: a statement can write a limited column only if its text says INSERT or
 * UPDATE (keywords cannot be escaped or quoted) and names the table (any case, maybe quoted
 * or schema-qualified) or spells a name with U& escapes. Reads of the table are not parsed.
 */
static bool may_touch(const struct pgw_config *c, const char *text, size_t len)
{
	if (!mentions(text, len, "insert") && !mentions(text, len, "update"))
		return false;
	for (size_t i = 0; i < c->ncol_limits; i++)
		if (mentions(text, len, c->col_limits[i].table))
			return true;
	return mentions(text, len, "u&");
}

/* Names as written are unresolved: an unqualified table may be in any schema. */
static bool table_matches(const struct pgw_column_limit *l, const struct pgw_sql_rel *r)
{
	return strcmp(l->table, r->name) == 0 &&
	       (l->schema == NULL || r->schema == NULL || strcmp(l->schema, r->schema) == 0);
}

/* ---- measuring ---- */

static uint64_t utf8_chars(const uint8_t *p, size_t n)
{
	uint64_t chars = 0;

	for (size_t i = 0; i < n; i++)
		chars += (p[i] & 0xc0) != 0x80; /* every byte but continuation bytes */
	return chars;
}

static enum pgw_verdict measure(struct pgw_policy_ctx *ctx, const struct pgw_column_limit *l,
				const uint8_t *p, size_t n, const char *where)
{
	uint64_t seen = l->chars ? utf8_chars(p, n) : n;
	const char *unit = l->chars ? "characters" : "bytes";

	if (seen <= l->max)
		return PGW_PASS;
	return pgw_refuse(ctx, "column_size", "54000", hint,
			  "pgward: value of %llu %s for %s%s%s.%s (%s) exceeds the limit of %u %s "
			  "(rule column_size)",
			  (unsigned long long)seen, unit, l->schema ? l->schema : "",
			  l->schema ? "." : "", l->table, l->column, where, l->max, unit);
}

/* ---- the assignments of a classification, as (column, value) pairs ---- */

/*
 * Calls <fn> for every value assigned to a limited column. An INSERT without a column
 * list gives positions, not names: without the table's definition each value is held to
 * every limit of that table (strict rather than blind).
 */
typedef enum pgw_verdict (*value_fn)(struct pgw_policy_ctx *ctx, const struct pgw_column_limit *l,
				     const struct pgw_sql_value *v, size_t row, void *arg);

static enum pgw_verdict each_value(struct pgw_policy_ctx *ctx, const struct pgw_sql_info *info,
				   bool bound_only, value_fn fn, void *arg)
{
	const struct pgw_config *c = ctx->cfg;

	for (size_t li = 0; li < c->ncol_limits; li++) {
		const struct pgw_column_limit *l = &c->col_limits[li];

		for (size_t i = 0; i < info->ninserts; i++) {
			const struct pgw_sql_insert *ins = &info->inserts[i];

			/* PREPARE's $n are EXECUTE's arguments, not this Bind's */
			if (!ins->values_known || !table_matches(l, &ins->rel) ||
			    (bound_only && ins->where == PGW_SQL_INS_PREPARE))
				continue;
			for (size_t col = 0; col < ins->rowlen; col++) {
				if (ins->ncols > 0 &&
				    (col >= ins->ncols || strcmp(ins->cols[col], l->column) != 0))
					continue;
				for (size_t r = 0; r < ins->nrows; r++)
					if (fn(ctx, l, &ins->values[r * ins->rowlen + col], r + 1,
					       arg) != PGW_PASS)
						return PGW_REFUSE;
			}
		}
		for (size_t i = 0; i < info->nupdates; i++) {
			const struct pgw_sql_update *u = &info->updates[i];

			if (!table_matches(l, &u->rel) ||
			    (bound_only && u->where == PGW_SQL_INS_PREPARE))
				continue;
			for (size_t s = 0; s < u->nsets; s++)
				if (strcmp(u->cols[s], l->column) == 0 &&
				    fn(ctx, l, &u->values[s], 0, arg) != PGW_PASS)
					return PGW_REFUSE;
		}
	}
	return PGW_PASS;
}

static enum pgw_verdict literal_value(struct pgw_policy_ctx *ctx, const struct pgw_column_limit *l,
				      const struct pgw_sql_value *v, size_t row, void *arg)
{
	char where[48];

	if (v->type != PGW_SQL_VAL_LITERAL)
		return PGW_PASS;
	if (row > 0)
		snprintf(where, sizeof(where), "a literal in VALUES row %zu", row);
	else
		snprintf(where, sizeof(where), "a literal");
	return measure(ctx, l, (const uint8_t *)v->text, strlen(v->text), where);
}

/* ---- Bind ---- */

#define JSONB_OID 3802

struct bound {
	const struct pgw_stmt_map *map;
	const char *stmt;
	uint16_t nparams;
	const uint8_t **val; /* NULL for a NULL value */
	uint32_t *len;
	bool *binary;
};

static enum pgw_verdict param_value(struct pgw_policy_ctx *ctx, const struct pgw_column_limit *l,
				    const struct pgw_sql_value *v, size_t row, void *arg)
{
	const struct bound *b = arg;
	const uint8_t *p;
	size_t n;
	char where[32];

	if (v->type != PGW_SQL_VAL_PARAM || v->param > b->nparams || !b->val[v->param - 1])
		return PGW_PASS; /* too few parameters: the server refuses the Bind itself */
	p = b->val[v->param - 1];
	n = b->len[v->param - 1];
	/* binary jsonb is a version byte and the JSON text; binary text and json are the text */
	if (b->binary[v->param - 1] && n > 0 &&
	    ((v->cast && strcmp(v->cast, "jsonb") == 0) ||
	     pgw_stmt_map_param_type(b->map, b->stmt, v->param) == JSONB_OID)) {
		p++;
		n--;
	}
	snprintf(where, sizeof(where), "parameter $%d", v->param);
	return measure(ctx, l, p, n, where);
}

/* Fills <b> from a Bind body whose header the caller has read with <r>; -1 if malformed. */
static int read_params(struct pgw_reader *r, struct bound *b)
{
	uint16_t nformats = pgw_read_u16(r);
	const uint8_t *formats = pgw_read_bytes(r, 2u * nformats);

	b->nparams = pgw_read_u16(r);
	if (r->bad || (nformats > 1 && nformats != b->nparams))
		return -1;
	for (unsigned i = 0; i < b->nparams; i++) {
		uint32_t len = pgw_read_u32(r);
		unsigned f = nformats == 1 ? 0 : i;

		b->binary[i] = nformats > 0 && (formats[2 * f] << 8 | formats[2 * f + 1]) == 1;
		b->val[i] = NULL;
		b->len[i] = 0;
		if (len == 0xffffffffu)
			continue;
		if (len > 0x7fffffffu)
			return -1;
		b->val[i] = pgw_read_bytes(r, len);
		b->len[i] = len;
		if (r->bad)
			return -1;
	}
	return 0;
}

static enum pgw_verdict check_bind(struct pgw_policy_ctx *ctx, const struct pgw_msg_view *m)
{
	const struct pgw_sql_info *info;
	struct pgw_reader r, peek;
	struct bound b = {.map = ctx->stmts};
	const char *stmt;
	enum pgw_verdict v = PGW_PASS;
	void *small[32], *mem;
	size_t per;

	if (ctx->stmts == NULL)
		return PGW_PASS;
	pgw_reader_init(&r, m->body, m->len);
	pgw_read_cstr(&r);
	stmt = pgw_read_cstr(&r);
	if (r.bad || (info = pgw_stmt_map_get(ctx->stmts, stmt)) == NULL ||
	    info->status != PGW_SQL_OK || (info->ninserts == 0 && info->nupdates == 0))
		return PGW_PASS;
	peek = r;
	pgw_read_bytes(&peek, 2u * pgw_read_u16(&peek));
	b.nparams = pgw_read_u16(&peek);
	if (peek.bad || b.nparams == 0)
		return PGW_PASS;
	per = sizeof(*b.val) + sizeof(*b.len) + sizeof(*b.binary);
	/* the usual few parameters need no allocation */
	mem = b.nparams * per <= sizeof(small) ? (void *)small : malloc(b.nparams * per);
	if (mem == NULL)
		return pgw_refuse(ctx, "column_size", "53200", NULL, "pgward: out of memory");
	b.stmt = stmt;
	b.val = mem;
	b.len = (uint32_t *)(b.val + b.nparams);
	b.binary = (bool *)(b.len + b.nparams);
	if (read_params(&r, &b) == 0) /* malformed: the server reports it */
		v = each_value(ctx, info, true, param_value, &b);
	if (mem != small)
		free(mem);
	return v;
}

/* ---- Query and Parse ---- */

static enum pgw_verdict on_message(struct pgw_policy_ctx *ctx, const struct pgw_msg_view *m)
{
	const struct pgw_sql_info *info;
	const char *text;
	size_t len;

	if (ctx->cfg->ncol_limits == 0)
		return PGW_PASS;
	if (m->type == 'B')
		return check_bind(ctx, m);
	if (!pgw_policy_sql_text(ctx, m, &text, &len))
		return PGW_PASS;
	/* the pre-filter only spares a parse: a classification at hand answers exactly */
	if (!(ctx->info && ctx->info->status == PGW_SQL_OK) && !may_touch(ctx->cfg, text, len))
		return PGW_PASS;
	/* inspected here also so that the Parse's classification is kept for its Binds */
	info = pgw_policy_inspect(ctx, text, len);
	if (info == NULL)
		return pgw_refuse(ctx, "column_size", "53200", NULL, "pgward: out of memory");
	switch (info->status) {
	case PGW_SQL_OK:
		return each_value(ctx, info, false, literal_value, NULL);
	case PGW_SQL_PARSE_ERROR:
		return pgw_policy_parse_error(ctx, info);
	case PGW_SQL_BAD_ENCODING:
		return PGW_PASS; /* the guard refuses it for every role */
	default:
		return pgw_refuse(ctx, "column_size", "54000", NULL,
				  "pgward: statement too large or complex to check column limits "
				  "(rule column_size)");
	}
}

const struct pgw_policy pgw_column_limits = {
	.name = "column_limits",
	.on_message = on_message,
	.reads = "QPB",
	.needs = PGW_POLICY_NEEDS_COLUMN_LIMITS,
};
