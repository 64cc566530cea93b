/*
 * auth_file (PgBouncer's userlist.txt), read as PgBouncer's load_auth_file reads it, except
 * that a line it would stop at fails the load with its line number, rather than silently
 * dropping every user after it. Secrets are zeroed before their memory is given back.
 */
#include "hba-int.h"
#include "pgward/auth_file.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

struct user {
	char *name;
	char *secret;
	size_t secret_len;
	UT_hash_handle hh;
};

struct pgw_auth_file {
	struct user *users; /* uthash head */
};

/* The text being read, for error messages. */
struct reader {
	const char *p, *end;
	int line;
	const char *name;
	char *err;
	size_t errlen;
};

#define FAIL(r, ...) pgw_hba_fail((r)->err, (r)->errlen, (r)->name, (r)->line, __VA_ARGS__)

static void user_free(struct user *u)
{
	pgw_hba_free_secret(u->secret, u->secret_len);
	free(u->name);
	free(u);
}

void pgw_auth_file_free(struct pgw_auth_file *f)
{
	struct user *u, *tmp;

	if (f == NULL)
		return;
	HASH_ITER (hh, f->users, u, tmp) {
		HASH_DEL(f->users, u);
		user_free(u);
	}
	free(f);
}

/*
 * PgBouncer's find_quote: the quote that closes a field whose text starts at <p>, a doubled
 * quote being part of the text. NULL if the line ends first: PgBouncer would read on into
 * the next lines, which is never what a missing quote meant.
 */
static const char *closing_quote(const char *p, const char *end)
{
	for (; p < end && *p != '\n'; p++) {
		if (*p != '"')
			continue;
		if (p + 1 < end && p[1] == '"') {
			p++;
			continue;
		}
		return p;
	}
	return NULL;
}

/* The text of a quoted field, "" made ", as PgBouncer's copy_quoted does. */
static char *unquote(const char *s, size_t len)
{
	char *out = malloc(len + 1), *d = out;

	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '"' && i + 1 < len)
			i++;
		*d++ = s[i];
	}
	*d = '\0';
	return out;
}

/* Takes <name> and <secret>; a user already known gets the new secret. */
static int add_user(struct pgw_auth_file *f, char *name, char *secret)
{
	struct user *u;

	HASH_FIND_STR(f->users, name, u);
	if (u != NULL) {
		free(name);
		pgw_hba_free_secret(u->secret, u->secret_len);
		u->secret = secret;
		u->secret_len = strlen(secret);
		return 0;
	}
	if ((u = calloc(1, sizeof(*u))) == NULL) {
		free(name);
		pgw_hba_free_secret(secret, strlen(secret));
		return -1;
	}
	u->name = name;
	u->secret = secret;
	u->secret_len = strlen(secret);
	HASH_ADD_KEYPTR(hh, f->users, u->name, strlen(u->name), u);
	return 0;
}

/* One entry, <r->p> on its opening quote: "user" "password", then anything to the end of
 * the line. */
static int parse_entry(struct pgw_auth_file *f, struct reader *r)
{
	const char *user = r->p + 1, *user_end, *pw, *pw_end;
	char *name, *secret;

	if ((user_end = closing_quote(user, r->end)) == NULL)
		return FAIL(r, "unterminated quoted user name");
	if (user_end - user > PGW_AUTH_FILE_USER_MAX)
		return FAIL(r, "username too long in auth file");
	for (pw = user_end + 1; pw < r->end && *pw != '"' && *pw != '\n'; pw++)
		;
	if (pw == r->end || *pw != '"')
		return FAIL(r, "no password for user \"%.*s\" (expected \"user\" \"password\")",
			    (int)(user_end - user), user);
	pw++;
	if ((pw_end = closing_quote(pw, r->end)) == NULL)
		return FAIL(r, "unterminated quoted password");
	if (pw_end - pw > PGW_AUTH_FILE_PASSWORD_MAX)
		return FAIL(r, "password too long in auth file");
	name = unquote(user, (size_t)(user_end - user));
	secret = unquote(pw, (size_t)(pw_end - pw));
	if (name == NULL || secret == NULL) {
		free(name);
		pgw_hba_free_secret(secret, secret != NULL ? strlen(secret) : 0);
		return FAIL(r, "out of memory");
	}
	if (add_user(f, name, secret) != 0)
		return FAIL(r, "out of memory");
	for (r->p = pw_end + 1; r->p < r->end && *r->p != '\n'; r->p++)
		;
	return 0;
}

struct pgw_auth_file *pgw_auth_file_parse(const char *text, size_t len, const char *name, char *err,
					  size_t errlen)
{
	struct reader r = {.p = text,
			   .end = text + len,
			   .line = 1,
			   .name = name,
			   .err = err,
			   .errlen = errlen};
	struct pgw_auth_file *f;
	const char *nul = memchr(text, '\0', len);

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (nul != NULL) {
		for (const char *p = text; p < nul; p++)
			r.line += *p == '\n';
		FAIL(&r, "NUL byte in line");
		return NULL;
	}
	if ((f = calloc(1, sizeof(*f))) == NULL) {
		FAIL(&r, "out of memory");
		return NULL;
	}
	r.p += pgw_hba_bom_len(text, len);
	while (r.p < r.end) {
		if (isspace((unsigned char)*r.p)) {
			r.line += *r.p++ == '\n';
			continue;
		}
		if (*r.p == ';') {
			while (r.p < r.end && *r.p != '\n')
				r.p++;
			continue;
		}
		if (*r.p != '"') {
			FAIL(&r, "broken auth file: a line must start with \"username\" (comments "
				 "start with ;)");
			goto fail;
		}
		if (parse_entry(f, &r) != 0)
			goto fail;
	}
	return f;
fail:
	pgw_auth_file_free(f);
	return NULL;
}

struct pgw_auth_file *pgw_auth_file_load(const char *path, char *err, size_t errlen)
{
	struct pgw_auth_file *f;
	char *text;
	size_t len;

	if (pgw_hba_read_file(path, &text, &len) != 0) {
		pgw_hba_fail(err, errlen, path, 0, "could not open auth_file: %s", strerror(errno));
		return NULL;
	}
	f = pgw_auth_file_parse(text, len, path, err, errlen);
	pgw_hba_free_secret(text, len);
	return f;
}

const char *pgw_auth_file_lookup(const struct pgw_auth_file *f, const char *user)
{
	struct user *u;

	if (f == NULL || user == NULL)
		return NULL;
	HASH_FIND_STR(f->users, user, u);
	return u != NULL ? u->secret : NULL;
}

size_t pgw_auth_file_count(const struct pgw_auth_file *f)
{
	return f != NULL ? HASH_COUNT(f->users) : 0;
}
