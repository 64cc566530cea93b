/*
 * pgward.ini: one key table per section (keys.c) drives defaults, parsing, validation
 * and reload rules.
 * Loading only ever writes into the caller's struct, never into the running configuration, so
 * a reload that fails leaves pgward exactly as it was.
 */
#include "config-int.h"
#include "pgward/sql.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Longest accepted line, newline excluded. */
#define PGW_CONFIG_MAX_LINE 4096
static void *field_of(void *base, const struct config_key *key)
{
	return (char *)base + key->offset;
}

static const void *cfield_of(const struct pgw_config *cfg, const struct config_key *key)
{
	return (const char *)cfg + key->offset;
}

/* Index of <key> in one array holding every key of every section. */
size_t pgw_config_key_slot(const struct config_section *sec, const struct config_key *key)
{
	size_t slot = (size_t)(key - sec->keys);

	for (const struct config_section *s = pgw_config_sections; s < sec; s++)
		slot += s->nkeys;
	return slot;
}

static size_t total_keys(void)
{
	size_t n = 0;

	for (size_t i = 0; i < pgw_config_nsections; i++)
		n += pgw_config_sections[i].nkeys;
	return n;
}

static const struct config_section *find_section(const char *name)
{
	for (size_t i = 0; i < pgw_config_nsections; i++)
		if (strcasecmp(name, pgw_config_sections[i].name) == 0)
			return &pgw_config_sections[i];
	return NULL;
}

const struct config_key *pgw_config_find_key(const struct config_section *sec, const char *name)
{
	for (size_t i = 0; i < sec->nkeys; i++)
		if (strcasecmp(name, sec->keys[i].name) == 0)
			return &sec->keys[i];
	return NULL;
}

/* "a, b, c" of an enum's names, for error messages. */
static const char *enum_names(const struct config_enum *e, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	for (int v = 0; v < e->nvalues && n < len; v++)
		n += (size_t)snprintf(buf + n, len - n, "%s%s", v ? ", " : "", e->name(v));
	return buf;
}

/* The parsers below accept only plain digits, so "inf", "0x10", "1e3" and signs fail. */
static int parse_int(const char *s, long long *out)
{
	char *end;

	if (!isdigit((unsigned char)s[s[0] == '-']))
		return -1;
	*out = strtoll(s, &end, 10); /* saturates on overflow: the range check rejects it */
	return *end == '\0' ? 0 : -1;
}

static int parse_duration(const char *s, double *out)
{
	static const struct {
		const char *unit;
		double seconds;
	} units[] = {{"", 1}, {"ms", 0.001}, {"s", 1}, {"min", 60}, {"h", 3600}};
	size_t len = strspn(s, "0123456789.");
	char *end;

	if (len == 0 || strspn(s, ".") == len)
		return -1;
	*out = strtod(s, &end);
	if (end != s + len)
		return -1;
	while (isspace((unsigned char)*end))
		end++;
	for (size_t i = 0; i < PGW_ARRAY_LEN(units); i++) {
		if (strcmp(end, units[i].unit) == 0) {
			*out *= units[i].seconds;
			return 0;
		}
	}
	return -1;
}

static int parse_size(const char *s, unsigned long long *out)
{
	static const struct {
		const char *unit;
		unsigned long long bytes;
	} units[] = {{"", 1}, {"B", 1}, {"kB", 1ULL << 10}, {"MB", 1ULL << 20}, {"GB", 1ULL << 30}};
	size_t len = strspn(s, "0123456789");
	char *end;

	if (len == 0)
		return -1;
	*out = strtoull(s, &end, 10); /* saturates on overflow: the range check rejects it */
	while (isspace((unsigned char)*end))
		end++;
	for (size_t i = 0; i < PGW_ARRAY_LEN(units); i++) {
		if (strcasecmp(end, units[i].unit) == 0) {
			if (*out > ULLONG_MAX / units[i].bytes)
				*out = ULLONG_MAX;
			else
				*out *= units[i].bytes;
			return 0;
		}
	}
	return -1;
}

/* What each type accepts and its unit, for error messages. */
static const struct {
	const char *expected, *unit;
} type_info[] = {
	[KEY_STRING] = {"a non-empty string", ""},
	[KEY_INT] = {"an integer", ""},
	[KEY_ENUM] = {"one of: ", ""},
	[KEY_DURATION] =
		{"a non-negative number of seconds, optionally followed by ms, s, min or h",
		 " seconds"},
	[KEY_SIZE] = {"a whole number of bytes, optionally followed by B, kB, MB or GB", " bytes"},
};

static int bad_value(const struct config_key *key, const char *value, char *msg, size_t len)
{
	char q[96], names[128] = "";

	if (key->type == KEY_ENUM)
		enum_names(key->enum_type, names, sizeof(names));
	snprintf(msg, len, "invalid value %s for %s (expected %s%s)",
		 pgw_log_quote(value, q, sizeof(q)), key->name, type_info[key->type].expected,
		 names);
	return -1;
}

static int out_of_range(const struct config_key *key, const char *value, char *msg, size_t len)
{
	char q[96];

	snprintf(msg, len, "value %s for %s is out of range (expected %lld..%lld%s)",
		 pgw_log_quote(value, q, sizeof(q)), key->name, key->min, key->max,
		 type_info[key->type].unit);
	return -1;
}

static int set_string(void *base, const struct config_key *key, const char *value, char *msg,
		      size_t len)
{
	char **dst = field_of(base, key);
	char *copy = NULL;

	if (strlen(value) < (size_t)key->min)
		return bad_value(key, value, msg, len);
	/* Empty means unset: users of optional keys test for NULL only. */
	if (value[0] != '\0' && (copy = strdup(value)) == NULL) {
		snprintf(msg, len, "out of memory");
		return -1;
	}
	free(*dst);
	*dst = copy;
	return 0;
}

/* Parses <value> for <key> into <cfg> (or a repeated section's instance); on error writes a
 * message without "file:line: ". */
static int set_value(void *cfg, const struct config_key *key, const char *value, char *msg,
		     size_t len)
{
	long long i;
	unsigned long long u;
	double d;

	switch (key->type) {
	case KEY_STRING:
		return set_string(cfg, key, value, msg, len);
	case KEY_INT:
		if (parse_int(value, &i) != 0)
			return bad_value(key, value, msg, len);
		if (i < key->min || i > key->max)
			return out_of_range(key, value, msg, len);
		*(int *)field_of(cfg, key) = (int)i;
		return 0;
	case KEY_ENUM:
		if ((i = key->enum_type->parse(value)) < 0)
			return bad_value(key, value, msg, len);
		*(int *)field_of(cfg, key) = (int)i;
		return 0;
	case KEY_DURATION:
		if (parse_duration(value, &d) != 0)
			return bad_value(key, value, msg, len);
		if (d < (double)key->min || d > (double)key->max)
			return out_of_range(key, value, msg, len);
		*(double *)field_of(cfg, key) = d;
		return 0;
	case KEY_SIZE:
		if (parse_size(value, &u) != 0)
			return bad_value(key, value, msg, len);
		if (u < (unsigned long long)key->min || u > (unsigned long long)key->max)
			return out_of_range(key, value, msg, len);
		*(uint32_t *)field_of(cfg, key) = (uint32_t)u;
		return 0;
	}
	snprintf(msg, len, "%s: key type %d unknown", key->name, (int)key->type);
	return -1;
}

/* The value of <key> in <base> (the config, or a section instance), as the file spells it. */
static const char *format_value(const void *base, const struct config_key *key, char *buf,
				size_t len)
{
	const void *f = (const char *)base + key->offset;

	switch (key->type) {
	case KEY_STRING:
		snprintf(buf, len, "%s", *(char *const *)f ? *(char *const *)f : "");
		break;
	case KEY_INT:
		snprintf(buf, len, "%d", *(const int *)f);
		break;
	case KEY_ENUM:
		snprintf(buf, len, "%s", key->enum_type->name(*(const int *)f));
		break;
	case KEY_DURATION:
		snprintf(buf, len, "%gs", *(const double *)f);
		break;
	case KEY_SIZE:
		snprintf(buf, len, "%" PRIu32, *(const uint32_t *)f);
		break;
	}
	return buf;
}

static bool values_equal(const struct pgw_config *a, const struct pgw_config *b,
			 const struct config_key *key)
{
	const void *fa = cfield_of(a, key), *fb = cfield_of(b, key);
	const char *sa, *sb;

	switch (key->type) {
	case KEY_STRING:
		sa = *(char *const *)fa;
		sb = *(char *const *)fb;
		return strcmp(sa ? sa : "", sb ? sb : "") == 0;
	case KEY_INT:
	case KEY_ENUM:
		return *(const int *)fa == *(const int *)fb;
	case KEY_DURATION:
		return *(const double *)fa == *(const double *)fb;
	case KEY_SIZE:
		return *(const uint32_t *)fa == *(const uint32_t *)fb;
	}
	return false;
}

void pgw_config_defaults(struct pgw_config *cfg)
{
	char msg[256];

	memset(cfg, 0, sizeof(*cfg));
	for (size_t s = 0; s < pgw_config_nsections; s++) {
		for (size_t k = 0;
		     k < pgw_config_sections[s].nkeys && pgw_config_sections[s].open == NULL; k++) {
			if (set_value(cfg, &pgw_config_sections[s].keys[k],
				      pgw_config_sections[s].keys[k].def, msg, sizeof(msg)) == 0)
				continue;
			/* Out of memory or a broken table: nothing sane is left to run with. */
			fprintf(stderr, "pgward: default of %s: %s\n",
				pgw_config_sections[s].keys[k].name, msg);
			abort();
		}
	}
}

void pgw_config_free(struct pgw_config *cfg)
{
	free(cfg->path);
	for (size_t i = 0; i < cfg->nguard_roles; i++)
		free(cfg->guard_roles[i].role);
	free(cfg->guard_roles);
	pgw_config_jobs_free(cfg);
	pgw_column_limits_free(cfg->col_limits, cfg->ncol_limits);
	for (size_t s = 0; s < pgw_config_nsections; s++)
		for (size_t k = 0;
		     k < pgw_config_sections[s].nkeys && pgw_config_sections[s].open == NULL; k++)
			if (pgw_config_sections[s].keys[k].type == KEY_STRING)
				free(*(char **)field_of(cfg, &pgw_config_sections[s].keys[k]));
	memset(cfg, 0, sizeof(*cfg));
}

int pgw_config_restart_changes(const struct pgw_config *old, const struct pgw_config *fresh,
			       pgw_config_report_fn report, void *arg)
{
	char a[256], b[256];
	int n = 0;

	for (size_t s = 0; s < pgw_config_nsections; s++) {
		for (size_t k = 0; k < pgw_config_sections[s].nkeys; k++) {
			const struct config_key *key = &pgw_config_sections[s].keys[k];

			if (key->reloadable || pgw_config_sections[s].open != NULL ||
			    values_equal(old, fresh, key))
				continue;
			n++;
			if (report != NULL)
				report(key->name, format_value(old, key, a, sizeof(a)),
				       format_value(fresh, key, b, sizeof(b)), arg);
		}
	}
	return n;
}

/* Writes "file:line: message" into the caller's buffer; always returns -1. */
int pgw_config_fail(struct parser *p, unsigned line, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (p->err == NULL || p->errlen == 0)
		return -1;
	n = snprintf(p->err, p->errlen, "%s:%u: ", p->path, line);
	if (n >= 0 && (size_t)n < p->errlen) {
		va_start(ap, fmt);
		vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -1;
}

char *pgw_config_trim(char *s)
{
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

static bool is_comment(const char *s)
{
	return *s == '#' || *s == ';';
}

/*
 * Turns the text after '=' into the value, in place. Quoted text is taken literally. Unquoted,
 * '#' or ';' starts a comment only after a blank, so a path like /tmp/a#b survives.
 */
static int extract_value(struct parser *p, const struct config_key *key, char *raw, char **value)
{
	char *s = raw, *close;

	while (isspace((unsigned char)*s))
		s++;
	if (*s == '"' || *s == '\'') {
		close = strchr(s + 1, *s);
		if (close == NULL)
			return pgw_config_fail(p, p->lineno, "unterminated quote in value of %s",
					       key->name);
		*close = '\0';
		close = pgw_config_trim(close + 1);
		if (*close != '\0' && !is_comment(close))
			return pgw_config_fail(p, p->lineno,
					       "unexpected text after the quoted value of %s",
					       key->name);
		*value = s + 1;
		return 0;
	}
	/* raw[-1] held the '=', now '\0', so c[-1] is always readable. Only '#' ends a value:
	 * ';' separates entries inside values (role_rules), and cutting there would fail open. */
	for (char *c = raw; *c != '\0'; c++) {
		if (*c == '#' && isspace((unsigned char)c[-1])) {
			*c = '\0';
			break;
		}
	}
	*value = pgw_config_trim(s);
	return 0;
}

/* "[job scrape_jobs]": a new instance with its keys' defaults, and none of them set yet. */
static int open_instance(struct parser *p, const char *arg)
{
	const struct config_section *sec = p->section;
	char msg[256];

	p->instance = sec->open(p, arg);
	if (p->instance == NULL)
		return -1;
	for (size_t k = 0; k < sec->nkeys; k++) {
		p->key_lines[pgw_config_key_slot(sec, &sec->keys[k])] = 0;
		if (set_value(p->instance, &sec->keys[k], sec->keys[k].def, msg, sizeof(msg)) != 0)
			return pgw_config_fail(p, p->lineno, "%s", msg);
	}
	return 0;
}

static int parse_section_header(struct parser *p, char *s)
{
	char *close = strchr(s, ']'), *name, *rest, q[96];

	if (close == NULL)
		return pgw_config_fail(p, p->lineno, "malformed section header (expected [name])");
	*close = '\0';
	rest = pgw_config_trim(close + 1);
	if (*rest != '\0' && !is_comment(rest))
		return pgw_config_fail(p, p->lineno, "unexpected text after section header");
	name = pgw_config_trim(s + 1);
	rest = name + strcspn(name, " \t");
	if (*rest != '\0') {
		*rest = '\0';
		rest = pgw_config_trim(rest + 1);
	}
	p->section = find_section(name);
	p->instance = NULL;
	if (p->section == NULL || (p->section->open == NULL) != (*rest == '\0'))
		return pgw_config_fail(p, p->lineno, "unknown section %s%s",
				       pgw_log_quote(name, q, sizeof(q)),
				       p->section != NULL && *rest == '\0'
					       ? " without a name (e.g. [job scrape_jobs])"
					       : "");
	return p->section->open != NULL ? open_instance(p, rest) : 0;
}

static int parse_assignment(struct parser *p, char *s)
{
	char *eq = strchr(s, '='), *name, *value = NULL, q[96], msg[512];
	const struct config_key *key;
	size_t slot;

	if (eq == NULL)
		return pgw_config_fail(p, p->lineno,
				       "malformed line (expected key = value or [section])");
	*eq = '\0';
	name = pgw_config_trim(s);
	if (*name == '\0')
		return pgw_config_fail(p, p->lineno, "malformed line (no key before '=')");
	pgw_log_quote(name, q, sizeof(q));
	if (p->section == NULL)
		return pgw_config_fail(p, p->lineno,
				       "key %s is outside any section (put it under [pgward])", q);
	key = pgw_config_find_key(p->section, name);
	if (key == NULL)
		return pgw_config_fail(p, p->lineno, "unknown key %s in section [%s]", q,
				       p->section->name);
	slot = pgw_config_key_slot(p->section, key);
	if (p->key_lines[slot] != 0)
		return pgw_config_fail(p, p->lineno,
				       "duplicate key %s in section [%s] (first set on line %u)", q,
				       p->section->name, p->key_lines[slot]);
	p->key_lines[slot] = p->lineno;
	if (extract_value(p, key, eq + 1, &value) != 0)
		return -1;
	if (set_value(p->instance ? p->instance : (void *)p->cfg, key, value, msg, sizeof(msg)) !=
	    0)
		return pgw_config_fail(p, p->lineno, "%s", msg);
	return 0;
}

static int parse_line(struct parser *p, char *line)
{
	char *s = pgw_config_trim(line);

	if (*s == '\0' || is_comment(s))
		return 0;
	if (*s == '[')
		return parse_section_header(p, s);
	return parse_assignment(p, s);
}

enum line_status { LINE_OK, LINE_EOF, LINE_TOO_LONG, LINE_NUL, LINE_IO_ERROR };

/*
 * Reads one line, newline dropped, into <buf> of PGW_CONFIG_MAX_LINE + 1 bytes. Byte by byte,
 * so that an overlong line or a NUL byte is reported instead of being split or cut short.
 */
static enum line_status read_line(FILE *f, char *buf)
{
	size_t n = 0;
	int c;

	while ((c = getc(f)) != EOF && c != '\n') {
		if (c == '\0')
			return LINE_NUL;
		if (n == PGW_CONFIG_MAX_LINE)
			return LINE_TOO_LONG;
		buf[n++] = (char)c;
	}
	buf[n] = '\0';
	if (c == EOF && ferror(f))
		return LINE_IO_ERROR;
	return c == EOF && n == 0 ? LINE_EOF : LINE_OK;
}

static int parse_file(struct parser *p, FILE *f)
{
	char line[PGW_CONFIG_MAX_LINE + 1];
	enum line_status st;
	char *s;

	while ((st = read_line(f, line)) != LINE_EOF) {
		p->lineno++;
		if (st == LINE_TOO_LONG)
			return pgw_config_fail(p, p->lineno, "line longer than %d bytes",
					       PGW_CONFIG_MAX_LINE);
		if (st == LINE_NUL)
			return pgw_config_fail(p, p->lineno, "NUL byte in line");
		if (st == LINE_IO_ERROR)
			return pgw_config_fail(p, p->lineno, "read error: %s", strerror(errno));
		s = line;
		/* Editors on Windows like to start the file with a UTF-8 byte order mark. */
		if (p->lineno == 1 && strncmp(s, "\xef\xbb\xbf", 3) == 0)
			s += 3;
		if (parse_line(p, s) != 0)
			return -1;
	}
	return 0;
}

int pgw_config_load(const char *path, struct pgw_config *cfg, char *err, size_t errlen)
{
	struct parser p = {.cfg = cfg, .path = path, .err = err, .errlen = errlen};
	FILE *f = NULL;
	int rc = -1;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	pgw_config_defaults(cfg);
	cfg->path = strdup(path);
	p.key_lines = calloc(total_keys(), sizeof(*p.key_lines));
	if (cfg->path == NULL || p.key_lines == NULL) {
		pgw_config_fail(&p, 0, "out of memory");
		goto out;
	}
	/* "e": O_CLOEXEC, so a child we might exec never inherits the descriptor. */
	f = fopen(path, "re");
	if (f == NULL) {
		pgw_config_fail(&p, 0, "cannot open config file: %s", strerror(errno));
		goto out;
	}
	if (parse_file(&p, f) != 0)
		goto out;
	for (size_t i = 0; i < pgw_config_nsections; i++)
		if (pgw_config_sections[i].check != NULL &&
		    pgw_config_sections[i].check(&p, &pgw_config_sections[i]) != 0)
			goto out;
	rc = 0;
out:
	if (f != NULL)
		fclose(f);
	free(p.key_lines);
	if (rc != 0)
		pgw_config_free(cfg);
	return rc;
}

static void foreach_key(const struct config_section *sec, const char *name, const void *base,
			pgw_config_key_fn fn, void *arg)
{
	char value[1024];

	for (size_t k = 0; k < sec->nkeys; k++) {
		const struct config_key *key = &sec->keys[k];

		fn(name, key->name, format_value(base, key, value, sizeof(value)), key->reloadable,
		   arg);
	}
}

void pgw_config_foreach(const struct pgw_config *cfg, pgw_config_key_fn fn, void *arg)
{
	char name[300];

	for (size_t s = 0; s < pgw_config_nsections; s++) {
		if (pgw_config_sections[s].open == NULL) {
			foreach_key(&pgw_config_sections[s], pgw_config_sections[s].name, cfg, fn,
				    arg);
			continue;
		}
		/* [job <table>] is the one repeating section: one block per instance */
		for (size_t j = 0; j < cfg->njobs; j++) {
			snprintf(name, sizeof(name), "%s %s", pgw_config_sections[s].name,
				 cfg->jobs[j].table);
			foreach_key(&pgw_config_sections[s], name, &cfg->jobs[j], fn, arg);
		}
	}
}
