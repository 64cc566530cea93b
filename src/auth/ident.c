/*
 * pg_ident.conf: which system user (for pgward, a client certificate's CN) may log in as
 * which role, per map, as PostgreSQL 15's parse_ident_line and check_ident_usermap read and
 * apply it. Regular expressions are POSIX extended ones (regcomp), not PostgreSQL's own.
 */
#include "hba-int.h"
#include "pgward/hba.h"

#include <errno.h>
#include <limits.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>

struct ident_line {
	int line;
	char *map, *system, *pg;
	bool is_re;	     /* <system> starts with '/': the rest is a regular expression */
	regex_t re;	     /* ... compiled once, at load */
	const char *backref; /* "\1" in <pg>, replaced by the first subexpression; or NULL */
};

struct pgw_ident {
	struct ident_line *lines;
	size_t n;
};

static void line_free(struct ident_line *l)
{
	if (l->is_re)
		regfree(&l->re);
	free(l->map);
	free(l->system);
	free(l->pg);
	memset(l, 0, sizeof(*l));
}

void pgw_ident_free(struct pgw_ident *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->n; i++)
		line_free(&m->lines[i]);
	free(m->lines);
	free(m);
}

/* Field <fi> of <l>, which must be one token: PostgreSQL's IDENT_FIELD_ABSENT and
 * IDENT_MULTI_VALUE. */
static int take_field(const struct hba_line *l, size_t fi, const char *name, char **out, char *err,
		      size_t errlen)
{
	if (fi >= l->n)
		return pgw_hba_fail(err, errlen, name, l->line, "missing entry at end of line");
	if (l->field[fi].n > 1)
		return pgw_hba_fail(err, errlen, name, l->line, "multiple values in ident field");
	if ((*out = strdup(l->field[fi].tok[0].s)) == NULL)
		return pgw_hba_fail(err, errlen, name, l->line, "out of memory");
	return 0;
}

/*
 * Past this many atoms once bounds are expanded, a regex is refused before regcomp sees it:
 * glibc's regexec slows down more than linearly with them (16,000 take a third of a second
 * on a 14-byte name), and pgward matches on its event loop. Real maps need a few dozen.
 */
#define RE_WEIGHT_MAX 1000

/* The end of the bracket expression that starts at <p> ('['), or NULL. */
static const char *bracket_end(const char *p)
{
	p += 1 + (p[1] == '^');
	if (*p == ']')
		p++; /* a leading ']' is a member */
	for (; *p != '\0' && *p != ']'; p++) {
		if (*p == '[' && (p[1] == ':' || p[1] == '.' || p[1] == '=')) {
			const char *close = strchr(p + 2, p[1]);

			while (close != NULL && close[1] != ']')
				close = strchr(close + 1, p[1]);
			if (close == NULL)
				return NULL;
			p = close + 1;
		}
	}
	return *p == ']' ? p : NULL;
}

/* The last atom, of <last> atoms, repeated <factor> times in all; false past the limit. */
static bool repeat(unsigned long *cur, unsigned long *last, unsigned long factor)
{
	if (factor == 0)
		factor = 1;
	if (*last > RE_WEIGHT_MAX || factor > RE_WEIGHT_MAX)
		return false;
	*cur += *last * (factor - 1);
	*last *= factor;
	return *cur <= RE_WEIGHT_MAX;
}

/* What regex_weight finds besides the weight. */
struct regex_traits {
	bool backref; /* \1 to \9 in the expression itself: matching turns exponential */
	bool stacked; /* a quantifier on a quantifier ("a**", "a{2}+"), as PostgreSQL refuses */
};

/*
 * How many atoms glibc's regcomp makes of <re> once it has copied out every bounded
 * repetition, at most: it copies "{m,n}" n times, so "((a{255}){255}){255}", 21 bytes,
 * takes it seconds and gigabytes. A star or '?' over a group counts double, since each
 * nested one doubles the closures regcomp works out for what is inside ("((((x{2})*)*)*)*"
 * with sixteen stars takes it 14 s). PostgreSQL's own engine does not expand bounds;
 * pgward refuses what would. A syntax error is left for regcomp to report.
 */
static unsigned long regex_weight(const char *re, struct regex_traits *t)
{
	unsigned long outer[64], cur = 0, last = 0, factor;
	const char *close;
	size_t depth = 0;
	char *end;
	/* after an atom 0, after a quantifier 1, after its non-greedy '?' 2 */
	int quantified = 0;

	for (const char *p = re; *p != '\0'; p++) {
		bool quantifier = true;

		switch (*p) {
		case '(':
			if (depth == PGW_ARRAY_LEN(outer))
				return ULONG_MAX;
			outer[depth++] = cur;
			cur = last = 0;
			quantified = 0;
			continue;
		case ')':
			if (depth == 0) {
				quantifier = false; /* unmatched: glibc takes it for a character */
				break;
			}
			last = cur > 0 ? cur : 1;
			cur = outer[--depth] + last;
			quantified = 0;
			continue;
		case '{':
			/* not a bound ("{x"): a character, or an error for regcomp */
			if ((p[1] < '0' || p[1] > '9') && p[1] != ',') {
				quantifier = false;
				break;
			}
			factor = strtoul(p + 1, &end, 10);
			if (*end == ',')
				factor = end[1] == '}' ? factor + 1 : strtoul(end + 1, &end, 10);
			if (*end == '}')
				p = end;
			break;
		case '+': /* a+ is aa* */
		case '*':
			factor = 2;
			break;
		case '?':
			if (quantified == 1) { /* PostgreSQL's non-greedy mark */
				quantified = 2;
				continue;
			}
			factor = 2;
			break;
		case '|':
		case '^':
		case '$':
			quantified = 0;
			continue;
		case '[':
			if ((close = bracket_end(p)) == NULL)
				return cur;
			p = close;
			quantifier = false;
			break;
		case '\\':
			t->backref |= p[1] >= '1' && p[1] <= '9';
			p += p[1] != '\0';
			quantifier = false;
			break;
		default:
			quantifier = false;
			break;
		}
		if (quantifier) { /* on the last atom */
			t->stacked |= quantified != 0;
			quantified = 1;
			if (!repeat(&cur, &last, factor))
				return ULONG_MAX;
			continue;
		}
		cur++; /* one atom */
		last = 1;
		quantified = 0;
	}
	while (depth > 0)
		cur += outer[--depth];
	return cur;
}

/* Fields past the third are ignored, as PostgreSQL 15 ignores them. */
static int parse_line(const struct hba_line *l, const char *name, struct ident_line *out, char *err,
		      size_t errlen)
{
	struct regex_traits traits = {false, false};
	char msg[256];
	int rc;

	out->line = l->line;
	if (take_field(l, 0, name, &out->map, err, errlen) != 0 ||
	    take_field(l, 1, name, &out->system, err, errlen) != 0 ||
	    take_field(l, 2, name, &out->pg, err, errlen) != 0)
		return -1;
	if (out->system[0] != '/')
		return 0;
	if (regex_weight(out->system + 1, &traits) > RE_WEIGHT_MAX && !traits.stacked)
		return pgw_hba_fail(err, errlen, name, l->line,
				    "invalid regular expression \"%s\": regular expression is too "
				    "complex",
				    out->system + 1);
	if (traits.stacked)
		return pgw_hba_fail(err, errlen, name, l->line,
				    "invalid regular expression \"%s\": quantifier operand invalid",
				    out->system + 1);
	if (traits.backref)
		return pgw_hba_fail(
			err, errlen, name, l->line,
			"invalid regular expression \"%s\": pgward does not support back "
			"references in the expression (\\1 belongs in the PG user name)",
			out->system + 1);
	if ((rc = regcomp(&out->re, out->system + 1, REG_EXTENDED)) != 0) {
		regerror(rc, &out->re, msg, sizeof(msg));
		return pgw_hba_fail(err, errlen, name, l->line,
				    "invalid regular expression \"%s\": %s", out->system + 1, msg);
	}
	out->is_re = true;
	out->backref = strstr(out->pg, "\\1");
	/* PostgreSQL finds this at the first login through the line; the load is the time */
	if (out->backref != NULL && out->re.re_nsub < 1)
		return pgw_hba_fail(err, errlen, name, l->line,
				    "regular expression \"%s\" has no subexpressions as requested "
				    "by backreference in \"%s\"",
				    out->system + 1, out->pg);
	return 0;
}

struct pgw_ident *pgw_ident_parse(const char *text, size_t len, const char *name, char *err,
				  size_t errlen)
{
	struct hba_lines lines;
	struct pgw_ident *m;

	if (pgw_hba_tokenize(text, len, name, &lines, err, errlen) != 0)
		return NULL;
	m = calloc(1, sizeof(*m));
	if (m == NULL || (lines.n > 0 && (m->lines = calloc(lines.n, sizeof(*m->lines))) == NULL)) {
		pgw_hba_fail(err, errlen, name, 0, "out of memory");
		goto fail;
	}
	for (; m->n < lines.n; m->n++) {
		if (parse_line(&lines.line[m->n], name, &m->lines[m->n], err, errlen) != 0) {
			m->n++; /* free what the failed line holds too */
			goto fail;
		}
	}
	pgw_hba_lines_free(&lines);
	return m;
fail:
	pgw_hba_lines_free(&lines);
	pgw_ident_free(m);
	return NULL;
}

struct pgw_ident *pgw_ident_load(const char *path, char *err, size_t errlen)
{
	struct pgw_ident *m;
	char *text;
	size_t len;

	if (pgw_hba_read_file(path, &text, &len) != 0) {
		pgw_hba_fail(err, errlen, path, 0, "could not open usermap file: %s",
			     strerror(errno));
		return NULL;
	}
	m = pgw_ident_parse(text, len, path, err, errlen);
	free(text);
	return m;
}

/* Whether <want> is <pg> with its "\1" (at <ref>) replaced by <sub>, <sublen> bytes. */
static bool equals_substituted(const char *want, const char *pg, const char *ref, const char *sub,
			       size_t sublen)
{
	size_t pre = (size_t)(ref - pg);

	if (strncmp(want, pg, pre) != 0 || strlen(want + pre) < sublen ||
	    memcmp(want + pre, sub, sublen) != 0)
		return false;
	return strcmp(want + pre + sublen, ref + 2) == 0;
}

/* PostgreSQL's check_ident_usermap for one line of the map: 1 allows, 0 does not, -1 is an
 * error, which ends the search as a refusal. */
static int check_line(const struct ident_line *l, const char *system_user, const char *pg_user)
{
	regmatch_t m[2];
	int rc;

	if (!l->is_re)
		return strcmp(l->pg, pg_user) == 0 && strcmp(l->system, system_user) == 0;
	rc = regexec(&l->re, system_user, 2, m, 0);
	if (rc == REG_NOMATCH)
		return 0;
	if (rc != 0)
		return -1;
	if (l->backref == NULL)
		return strcmp(l->pg, pg_user) == 0;
	if (m[1].rm_so < 0) /* the subexpression took no part in the match */
		return -1;
	return equals_substituted(pg_user, l->pg, l->backref, system_user + m[1].rm_so,
				  (size_t)(m[1].rm_eo - m[1].rm_so));
}

bool pgw_ident_allows(const struct pgw_ident *m, const char *map, const char *system_user,
		      const char *pg_user)
{
	if (system_user == NULL || pg_user == NULL)
		return false;
	if (map == NULL || map[0] == '\0')
		return strcmp(system_user, pg_user) == 0;
	for (size_t i = 0; m != NULL && i < m->n; i++) {
		if (strcmp(m->lines[i].map, map) != 0)
			continue;
		switch (check_line(&m->lines[i], system_user, pg_user)) {
		case 1:
			return true;
		case -1:
			return false;
		default:
			break;
		}
	}
	return false;
}

bool pgw_ident_has_map(const struct pgw_ident *m, const char *map)
{
	for (size_t i = 0; m != NULL && map != NULL && i < m->n; i++)
		if (strcmp(m->lines[i].map, map) == 0)
			return true;
	return false;
}
