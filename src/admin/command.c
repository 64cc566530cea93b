/*
 * Reads one console command as PgBouncer's console does: a word, then at most one argument,
 * an optional final semicolon. A word is letters, digits and underscores, or a name in
 * double quotes ("" for a quote in it). The command's word is case-insensitive; an argument
 * keeps its case, because it may name a database. Pure: it sees only the text.
 */
#include "admin-int.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

static bool word_char(char c)
{
	return isalnum((unsigned char)c) || c == '_';
}

/*
 * One word at <p> (before <end>) into <buf>: 0 and *next past it, or -1 with <err> set.
 * Quotes are removed; a bare word stays as written.
 */
static int read_word(const char *p, const char *end, char *buf, size_t cap, const char **next,
		     char *err, size_t errlen)
{
	size_t n = 0;

	if (p < end && *p == '"') {
		for (p++;; p++) {
			if (p >= end) {
				snprintf(err, errlen, "a quoted name is not closed");
				return -1;
			}
			if (*p == '"' && (p + 1 >= end || p[1] != '"'))
				break;
			if (*p == '\0') {
				snprintf(err, errlen, "a name cannot hold a NUL byte");
				return -1;
			}
			if (*p == '"')
				p++; /* "" is one quote */
			if (n + 1 >= cap) {
				snprintf(err, errlen, "a name is longer than %zu bytes", cap - 1);
				return -1;
			}
			buf[n++] = *p;
		}
		if (n == 0) {
			snprintf(err, errlen, "a quoted name is empty");
			return -1;
		}
		*next = p + 1;
	} else {
		for (; p < end && word_char(*p); p++) {
			if (n + 1 >= cap) {
				snprintf(err, errlen, "a word is longer than %zu bytes", cap - 1);
				return -1;
			}
			buf[n++] = *p;
		}
		if (n == 0) {
			snprintf(err, errlen, "unexpected \"%c\"", *p);
			return -1;
		}
		*next = p;
	}
	buf[n] = '\0';
	return 0;
}

static const char *skip_space(const char *p, const char *end)
{
	while (p < end && isspace((unsigned char)*p))
		p++;
	return p;
}

int pgw_admin_parse(const char *sql, size_t len, struct pgw_admin_cmd *cmd, char *err,
		    size_t errlen)
{
	const char *p = sql, *end = sql + len;

	memset(cmd, 0, sizeof(*cmd));
	while (end > p && isspace((unsigned char)end[-1]))
		end--;
	if (end > p && end[-1] == ';')
		end--;
	p = skip_space(p, end);
	if (p == end)
		return 0; /* an empty query */
	if (*p == '"') {
		snprintf(err, errlen, "a command begins with a word, not a quoted name");
		return -1;
	}
	if (read_word(p, end, cmd->verb, sizeof(cmd->verb), &p, err, errlen) < 0)
		return -1;
	for (char *c = cmd->verb; *c != '\0'; c++)
		*c = (char)toupper((unsigned char)*c);
	if (p < end && !isspace((unsigned char)*p)) {
		snprintf(err, errlen, "unexpected \"%c\" after %s", *p, cmd->verb);
		return -1;
	}
	p = skip_space(p, end);
	if (p == end)
		return 0;
	if (read_word(p, end, cmd->arg, sizeof(cmd->arg), &p, err, errlen) < 0)
		return -1;
	cmd->has_arg = true;
	if (p < end && !isspace((unsigned char)*p)) {
		snprintf(err, errlen,
			 "unexpected \"%c\" in the argument of %s (a name with characters other "
			 "than letters, digits and _ is double-quoted)",
			 *p, cmd->verb);
		return -1;
	}
	if (skip_space(p, end) != end) {
		snprintf(err, errlen, "%s takes at most one argument", cmd->verb);
		return -1;
	}
	return 0;
}
