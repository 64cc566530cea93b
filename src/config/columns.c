/*
 * [limits] column_limits: "messages.content: 100000 chars, public.conversations.metadata:
 * 100000 bytes". Names are folded as PostgreSQL folds identifiers (unquoted: ASCII
 * lower-cased; "Quoted": kept as written), so they compare equal to what the parser reports.
 */
#include "config-int.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define IDENT_MAX 63 /* NAMEDATALEN - 1: PostgreSQL truncates longer names */

static void limit_free(struct pgw_column_limit *lim)
{
	free(lim->schema);
	free(lim->table);
	free(lim->column);
}

void pgw_column_limits_free(struct pgw_column_limit *limits, size_t n)
{
	for (size_t i = 0; i < n; i++)
		limit_free(&limits[i]);
	free(limits);
}

/* One identifier at *pp into <out>; advances *pp. -1 if malformed or too long. */
static int read_ident(const char **pp, char *out)
{
	const char *p = *pp;
	size_t n = 0;

	if (*p == '"') {
		for (p++;; p++) {
			if (*p == '\0')
				return -1;
			if (*p == '"' && p[1] != '"')
				break;
			if (*p == '"')
				p++; /* "" is one quote */
			if (n == IDENT_MAX)
				return -1;
			out[n++] = *p;
		}
		p++;
	} else {
		for (; isalnum((unsigned char)*p) || *p == '_' || *p == '$' || (*p & 0x80); p++) {
			if (n == IDENT_MAX)
				return -1;
			out[n++] = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
		}
	}
	out[n] = '\0';
	*pp = p;
	return n > 0 ? 0 : -1;
}

/* "N chars" or "N bytes" (or N with B, kB, MB). */
static int read_amount(const char *p, struct pgw_column_limit *lim)
{
	static const struct {
		const char *unit;
		unsigned long long mult;
		bool chars;
	} units[] = {{"chars", 1, true}, {"characters", 1, true}, {"bytes", 1, false},
		     {"B", 1, false},	 {"kB", 1024, false},	  {"MB", 1024 * 1024, false}};
	unsigned long long v;
	char *end;

	while (isspace((unsigned char)*p))
		p++;
	if (!isdigit((unsigned char)*p))
		return -1;
	v = strtoull(p, &end, 10);
	while (isspace((unsigned char)*end))
		end++;
	for (size_t i = 0; i < PGW_ARRAY_LEN(units); i++) {
		if (strcasecmp(end, units[i].unit) != 0)
			continue;
		if (v == 0 || v > 0x3fffffffULL / units[i].mult)
			return -1;
		lim->max = (uint32_t)(v * units[i].mult);
		lim->chars = units[i].chars;
		return 0;
	}
	return -1;
}

/* One "[schema.]table.column: amount" entry, trimmed; fills <lim>. */
static int parse_entry(const char *e, struct pgw_column_limit *lim, const char **why)
{
	char parts[3][IDENT_MAX + 1];
	const char *p = e;
	int n = 0;

	for (;;) {
		while (isspace((unsigned char)*p))
			p++;
		if (n == 3 || read_ident(&p, parts[n]) < 0) {
			*why = "expected [schema.]table.column";
			return -1;
		}
		n++;
		while (isspace((unsigned char)*p))
			p++;
		if (*p != '.')
			break;
		p++;
	}
	if (n < 2 || *p != ':') {
		*why = "expected [schema.]table.column: N chars|bytes";
		return -1;
	}
	if (read_amount(p + 1, lim) < 0) {
		*why = "expected a positive size below 1 GB in chars or bytes (B, kB, MB)";
		return -1;
	}
	lim->schema = n == 3 ? strdup(parts[0]) : NULL;
	lim->table = strdup(parts[n - 2]);
	lim->column = strdup(parts[n - 1]);
	if ((n == 3 && !lim->schema) || !lim->table || !lim->column) {
		*why = "out of memory";
		return -1;
	}
	return 0;
}

/* Splits on commas outside double quotes; <s> is modified. Returns the next entry or NULL. */
static char *next_entry(char **s)
{
	char *start = *s, *p = start;
	bool quoted = false;

	if (start == NULL)
		return NULL;
	for (; *p != '\0'; p++) {
		if (*p == '"')
			quoted = !quoted;
		else if ((*p == ',' || *p == ';') && !quoted)
			break;
	}
	*s = *p != '\0' ? p + 1 : NULL;
	*p = '\0';
	return start;
}

int pgw_config_check_limits(struct parser *p, const struct config_section *sec)
{
	struct pgw_config *c = p->cfg;
	const struct config_key *key = pgw_config_find_key(sec, "column_limits");
	unsigned line = key != NULL ? p->key_lines[pgw_config_key_slot(sec, key)] : 0;
	char *copy, *rest, *e;
	int rc = 0;

	if (c->column_limits == NULL)
		return 0;
	copy = rest = strdup(c->column_limits);
	if (copy == NULL)
		return pgw_config_fail(p, line, "out of memory");
	while (rc == 0 && (e = next_entry(&rest)) != NULL) {
		struct pgw_column_limit lim = {0}, *all;
		const char *why = NULL;

		e = pgw_config_trim(e);
		if (*e == '\0')
			continue;
		if (parse_entry(e, &lim, &why) < 0) {
			rc = pgw_config_fail(p, line, "column_limits entry \"%s\": %s", e, why);
			limit_free(&lim);
			break;
		}
		all = realloc(c->col_limits, (c->ncol_limits + 1) * sizeof(*all));
		if (all == NULL) {
			limit_free(&lim);
			rc = pgw_config_fail(p, line, "out of memory");
			break;
		}
		c->col_limits = all;
		all[c->ncol_limits++] = lim;
	}
	free(copy);
	return rc;
}
