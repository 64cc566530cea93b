/*
 * The static organization map: one "identity = uuid, uuid, ..." per line. Every UUID is
 * checked when the file is read, so what reaches the server is always a valid uuid[]
 * literal; a file with one bad line is refused whole (the caller keeps the old map).
 */
#include "pgward/tenant.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#define MAP_MAX_LINE 65536

struct map_entry {
	char *identity;
	char *org_ids; /* "{uuid,uuid}" */
	UT_hash_handle hh;
};

struct pgw_orgmap {
	struct map_entry *entries;
	size_t count;
};

static int fail(char *err, size_t errlen, const char *path, unsigned line, const char *fmt, ...)
	PGW_PRINTF(5, 6);

static int fail(char *err, size_t errlen, const char *path, unsigned line, const char *fmt, ...)
{
	int n = snprintf(err, errlen, "%s:%u: ", path, line);
	va_list ap;

	if (n > 0 && (size_t)n < errlen) {
		va_start(ap, fmt);
		vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* "a, b" into "{a,b}" (lower-cased), checking each is a UUID. NULL: <bad> names the item. */
static char *org_list(char *list, const char **bad)
{
	char *out = malloc(strlen(list) + 3), *w = out, *save = NULL;

	if (out == NULL) {
		*bad = "(out of memory)";
		return NULL;
	}
	*w++ = '{';
	for (char *item = strtok_r(list, ",", &save); item != NULL;
	     item = strtok_r(NULL, ",", &save)) {
		item = pgw_config_trim(item);
		if (*item == '\0')
			continue;
		if (!pgw_uuid_valid(item)) {
			*bad = item;
			free(out);
			return NULL;
		}
		if (w[-1] != '{')
			*w++ = ',';
		for (; *item; item++)
			*w++ = (char)tolower((unsigned char)*item);
	}
	*w++ = '}';
	*w = '\0';
	return out;
}

static int add_line(struct pgw_orgmap *m, char *line, const char *path, unsigned lineno, char *err,
		    size_t errlen)
{
	char *eq = strchr(line, '='), *identity, *orgs;
	const char *bad = NULL;
	struct map_entry *e;

	if (eq == NULL)
		return fail(err, errlen, path, lineno, "expected \"identity = uuid, uuid, ...\"");
	*eq = '\0';
	identity = pgw_config_trim(line);
	if (*identity == '\0' || strlen(identity) >= PGW_IDENTITY_MAX)
		return fail(err, errlen, path, lineno, "identity must be 1 to %d bytes",
			    PGW_IDENTITY_MAX - 1);
	HASH_FIND_STR(m->entries, identity, e);
	if (e != NULL)
		return fail(err, errlen, path, lineno, "identity \"%s\" is listed twice", identity);
	orgs = org_list(eq + 1, &bad);
	if (orgs == NULL)
		return fail(err, errlen, path, lineno, "\"%s\" is not a UUID", bad);
	e = calloc(1, sizeof(*e));
	if (e == NULL || (e->identity = strdup(identity)) == NULL) {
		free(e);
		free(orgs);
		return fail(err, errlen, path, lineno, "out of memory");
	}
	e->org_ids = orgs;
	HASH_ADD_KEYPTR(hh, m->entries, e->identity, strlen(e->identity), e);
	m->count++;
	return 0;
}

int pgw_orgmap_load(const char *path, struct pgw_orgmap **out, char *err, size_t errlen)
{
	struct pgw_orgmap *m = calloc(1, sizeof(*m));
	char *buf = malloc(MAP_MAX_LINE + 2);
	unsigned lineno = 0;
	FILE *f = NULL;
	int rc = -1;

	*out = NULL;
	if (m == NULL || buf == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		goto out;
	}
	f = fopen(path, "r");
	if (f == NULL) {
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		goto out;
	}
	while (fgets(buf, MAP_MAX_LINE + 2, f) != NULL) {
		char *line, *comment;

		lineno++;
		if (strlen(buf) > MAP_MAX_LINE) {
			fail(err, errlen, path, lineno, "line longer than %d bytes", MAP_MAX_LINE);
			goto out;
		}
		comment = strpbrk(buf, "#;");
		if (comment != NULL)
			*comment = '\0';
		line = pgw_config_trim(buf);
		if (*line != '\0' && add_line(m, line, path, lineno, err, errlen) < 0)
			goto out;
	}
	*out = m;
	m = NULL;
	rc = 0;
out:
	if (f != NULL)
		fclose(f);
	free(buf);
	pgw_orgmap_free(m);
	return rc;
}

const char *pgw_orgmap_get(const struct pgw_orgmap *m, const char *identity)
{
	struct map_entry *e = NULL;

	if (m == NULL)
		return NULL;
	HASH_FIND_STR(m->entries, identity, e);
	return e ? e->org_ids : NULL;
}

size_t pgw_orgmap_count(const struct pgw_orgmap *m)
{
	return m ? m->count : 0;
}

void pgw_orgmap_free(struct pgw_orgmap *m)
{
	struct map_entry *e, *tmp;

	if (m == NULL)
		return;
	HASH_ITER (hh, m->entries, e, tmp) {
		HASH_DEL(m->entries, e);
		free(e->identity);
		free(e->org_ids);
		free(e);
	}
	free(m);
}
