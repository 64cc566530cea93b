/*
 * The tokenizer of pg_hba.conf and pg_ident.conf, a port of PostgreSQL 15's
 * tokenize_auth_file, next_field_expand and next_token (src/backend/libpq/hba.c), so that a
 * file means to pgward what it means to the server: same quoting, same comments, same
 * continuation lines, same "@file" expansion. It only splits; it never interprets a token.
 */
#include "hba-int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int pgw_hba_fail(char *err, size_t errlen, const char *name, int line, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (err == NULL || errlen == 0)
		return -1;
	n = snprintf(err, errlen, "%s:%d: ", name, line);
	if (n >= 0 && (size_t)n < errlen) {
		va_start(ap, fmt);
		vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -1;
}

size_t pgw_hba_bom_len(const char *text, size_t len)
{
	return len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0 ? 3 : 0;
}

void pgw_hba_free_secret(void *p, size_t len)
{
	if (p == NULL)
		return;
	explicit_bzero(p, len);
	free(p);
}

int pgw_hba_read_file(const char *path, char **text, size_t *len)
{
	size_t n = 0, cap = 0;
	char *buf = NULL, *bigger;
	ssize_t got;
	int fd, saved;

	*text = NULL;
	*len = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	for (;;) {
		if (cap - n < 2) {
			if (cap > PGW_HBA_FILE_MAX) {
				errno = EFBIG;
				goto fail;
			}
			/* not realloc: the old block may hold secrets, so zero it first */
			cap = cap ? cap * 2 : 4096;
			if ((bigger = malloc(cap)) == NULL)
				goto fail;
			if (n > 0)
				memcpy(bigger, buf, n);
			pgw_hba_free_secret(buf, n);
			buf = bigger;
		}
		got = read(fd, buf + n, cap - n - 1);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			goto fail;
		if (got == 0)
			break;
		n += (size_t)got;
	}
	close(fd);
	buf[n] = '\0';
	*text = buf;
	*len = n;
	return 0;
fail:
	saved = errno;
	close(fd);
	pgw_hba_free_secret(buf, n);
	errno = saved;
	return -1;
}

/* State of one file being tokenized: where errors go, how deep in "@file" includes. */
struct tokenizer {
	const char *name;
	int depth;
	int line;
	char *err;
	size_t errlen;
};

static int oom(struct tokenizer *t)
{
	return pgw_hba_fail(t->err, t->errlen, t->name, t->line, "out of memory");
}

/* PostgreSQL's pg_isblank: '\r' counts, so CRLF files need no special case. */
static bool blank(int c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

static void field_free(struct hba_field *f)
{
	for (size_t i = 0; i < f->n; i++)
		free(f->tok[i].s);
	free(f->tok);
	memset(f, 0, sizeof(*f));
}

static void line_free(struct hba_line *l)
{
	for (size_t i = 0; i < l->n; i++)
		field_free(&l->field[i]);
	free(l->field);
	memset(l, 0, sizeof(*l));
}

void pgw_hba_lines_free(struct hba_lines *l)
{
	for (size_t i = 0; i < l->n; i++)
		line_free(&l->line[i]);
	free(l->line);
	memset(l, 0, sizeof(*l));
}

/* Makes room for one more element of <size> bytes in *<arr>. */
static int grow(void **arr, size_t n, size_t *cap, size_t size)
{
	void *bigger;
	size_t c = *cap ? *cap * 2 : 4;

	if (n < *cap)
		return 0;
	if ((bigger = realloc(*arr, c * size)) == NULL)
		return -1;
	*arr = bigger;
	*cap = c;
	return 0;
}

/* Takes <s> (malloc'd) into <f>; frees it on failure. */
static int field_add(struct hba_field *f, char *s, bool quoted)
{
	if (s == NULL || grow((void **)&f->tok, f->n, &f->cap, sizeof(*f->tok)) != 0) {
		free(s);
		return -1;
	}
	f->tok[f->n].s = s;
	f->tok[f->n].quoted = quoted;
	f->n++;
	return 0;
}

/*
 * PostgreSQL's next_token: one token from *<lineptr> into <buf> (PGW_HBA_TOKEN_MAX bytes).
 * 1: a token (maybe an empty quoted one), 0: end of line, -1: too long (error written).
 * <initial_quote> says whether the token began with a quote, which alone keeps a keyword
 * from being one; <terminating_comma> whether a comma ended it, i.e. the list goes on.
 */
static int next_token(struct tokenizer *t, const char **lineptr, char *buf, bool *initial_quote,
		      bool *terminating_comma)
{
	char *start = buf, *end = buf + (PGW_HBA_TOKEN_MAX - 1);
	bool in_quote = false, was_quote = false, saw_quote = false;
	int c;

	*initial_quote = false;
	*terminating_comma = false;
	while ((c = (unsigned char)*(*lineptr)++) != '\0' && (blank(c) || c == ','))
		;
	while (c != '\0' && (!blank(c) || in_quote)) {
		if (c == '#' && !in_quote) {
			while ((c = (unsigned char)*(*lineptr)++) != '\0')
				;
			break;
		}
		if (buf >= end)
			return pgw_hba_fail(t->err, t->errlen, t->name, t->line,
					    "authentication file token too long");
		if (c == ',' && !in_quote) {
			*terminating_comma = true;
			break;
		}
		if (c != '"' || was_quote)
			*buf++ = (char)c;
		/* a literal double quote is two double quotes */
		if (in_quote && c == '"')
			was_quote = !was_quote;
		else
			was_quote = false;
		if (c == '"') {
			in_quote = !in_quote;
			saw_quote = true;
			if (buf == start)
				*initial_quote = true;
		}
		c = (unsigned char)*(*lineptr)++;
	}
	(*lineptr)--; /* back onto the character after the token, maybe the '\0' */
	*buf = '\0';
	return saw_quote || buf > start;
}

static int tokenize(const char *text, size_t len, struct tokenizer *t, struct hba_lines *out);

/* "@<inc>" relative to the directory of <outer>, as PostgreSQL resolves it. */
static char *include_path(const char *outer, const char *inc)
{
	const char *slash = strrchr(outer, '/');
	size_t dirlen;
	char *path;

	if (inc[0] == '/' || slash == NULL)
		return strdup(inc);
	dirlen = slash == outer ? 1 : (size_t)(slash - outer);
	if ((path = malloc(dirlen + 1 + strlen(inc) + 1)) == NULL)
		return NULL;
	memcpy(path, outer, dirlen);
	path[dirlen] = '\0';
	if (path[dirlen - 1] != '/')
		strcat(path, "/");
	strcat(path, inc);
	return path;
}

/* PostgreSQL's tokenize_inc_file: every token of every line of <inc>, appended to <f>. */
static int include_file(struct tokenizer *t, const char *inc, struct hba_field *f)
{
	struct tokenizer sub = {.depth = t->depth + 1, .err = t->err, .errlen = t->errlen};
	struct hba_lines lines = {0};
	char *path, *text;
	size_t len;
	int rc = -1;

	if ((path = include_path(t->name, inc)) == NULL)
		return oom(t);
	if (sub.depth > PGW_HBA_INCLUDE_DEPTH) {
		pgw_hba_fail(t->err, t->errlen, t->name, t->line,
			     "could not open file \"%s\": maximum nesting depth exceeded", path);
		goto out;
	}
	if (pgw_hba_read_file(path, &text, &len) != 0) {
		pgw_hba_fail(t->err, t->errlen, t->name, t->line,
			     "could not open secondary authentication file \"@%s\" as \"%s\": %s",
			     inc, path, strerror(errno));
		goto out;
	}
	sub.name = path;
	rc = tokenize(text, len, &sub, &lines);
	free(text);
	for (size_t i = 0; rc == 0 && i < lines.n; i++) {
		for (size_t j = 0; rc == 0 && j < lines.line[i].n; j++) {
			struct hba_field *inc_f = &lines.line[i].field[j];

			for (size_t k = 0; k < inc_f->n; k++) {
				rc = field_add(f, inc_f->tok[k].s, inc_f->tok[k].quoted);
				inc_f->tok[k].s = NULL;
				if (rc != 0) {
					oom(t);
					break;
				}
			}
		}
	}
	pgw_hba_lines_free(&lines);
out:
	free(path);
	return rc;
}

/* PostgreSQL's next_field_expand: one field, a comma list with "@file" expanded in place. */
static int next_field(struct tokenizer *t, const char **lineptr, struct hba_field *f)
{
	char buf[PGW_HBA_TOKEN_MAX];
	bool initial_quote, trailing_comma;
	int r;

	do {
		if ((r = next_token(t, lineptr, buf, &initial_quote, &trailing_comma)) <= 0)
			return r;
		/* a quoted "@x" is a name; a lone @ is one too */
		if (!initial_quote && buf[0] == '@' && buf[1] != '\0') {
			if (include_file(t, buf + 1, f) != 0)
				return -1;
		} else if (field_add(f, strdup(buf), initial_quote) != 0) {
			return oom(t);
		}
	} while (trailing_comma);
	return 0;
}

/* Splits the logical line <s> (continuations joined) into fields; keeps it unless empty. */
static int tokenize_line(struct tokenizer *t, const char *s, struct hba_lines *out)
{
	struct hba_line line = {.line = t->line};
	struct hba_field f;

	while (*s != '\0') {
		memset(&f, 0, sizeof(f));
		if (next_field(t, &s, &f) != 0)
			goto fail;
		if (f.n == 0)
			continue;
		if (grow((void **)&line.field, line.n, &line.cap, sizeof(*line.field)) != 0) {
			oom(t);
			goto fail;
		}
		line.field[line.n++] = f;
	}
	if (line.n == 0)
		return 0;
	if (grow((void **)&out->line, out->n, &out->cap, sizeof(*out->line)) != 0) {
		oom(t);
		line_free(&line);
		return -1;
	}
	out->line[out->n++] = line;
	return 0;
fail:
	field_free(&f);
	line_free(&line);
	return -1;
}

/* Appends <len> bytes to the growing line in *<buf>. */
static int append(char **buf, size_t *n, size_t *cap, const char *s, size_t len)
{
	char *bigger;

	if (*n + len + 1 > *cap) {
		size_t c = *cap ? *cap : 256;

		while (c < *n + len + 1)
			c *= 2;
		if ((bigger = realloc(*buf, c)) == NULL)
			return -1;
		*buf = bigger;
		*cap = c;
	}
	memcpy(*buf + *n, s, len);
	*n += len;
	(*buf)[*n] = '\0';
	return 0;
}

/* PostgreSQL's tokenize_auth_file, reading from memory. */
static int tokenize(const char *text, size_t len, struct tokenizer *t, struct hba_lines *out)
{
	size_t pos = pgw_hba_bom_len(text, len), n, cap = 0, last_backslash, continuations;
	int lineno = 1;
	char *buf = NULL;

	memset(out, 0, sizeof(*out));
	while (pos < len) {
		n = 0;
		last_backslash = 0;
		continuations = 0;
		t->line = lineno;
		/* collect one logical line: a backslash at the end of a line continues it */
		while (pos < len) {
			const char *nl = memchr(text + pos, '\n', len - pos);
			size_t plen = nl != NULL ? (size_t)(nl - (text + pos)) : len - pos;

			if (memchr(text + pos, '\0', plen) != NULL) {
				pgw_hba_fail(t->err, t->errlen, t->name,
					     lineno + (int)continuations, "NUL byte in line");
				goto fail;
			}
			if (append(&buf, &n, &cap, text + pos, plen) != 0) {
				oom(t);
				goto fail;
			}
			pos += plen + (nl != NULL);
			while (n > 0 && (buf[n - 1] == '\r' || buf[n - 1] == '\n'))
				buf[--n] = '\0';
			/* after the last continuation only, or "\\" then two newlines would join */
			if (n > last_backslash && buf[n - 1] == '\\') {
				buf[--n] = '\0';
				last_backslash = n;
				continuations++;
				continue;
			}
			break;
		}
		if (tokenize_line(t, buf, out) != 0)
			goto fail;
		lineno += (int)continuations + 1;
	}
	free(buf);
	return 0;
fail:
	free(buf);
	pgw_hba_lines_free(out);
	return -1;
}

int pgw_hba_tokenize(const char *text, size_t len, const char *name, struct hba_lines *out,
		     char *err, size_t errlen)
{
	struct tokenizer t = {.name = name, .err = err, .errlen = errlen};

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	return tokenize(text, len, &t, out);
}
