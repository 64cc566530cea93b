/*
 * The authentication files as one unit, the method each login must pass, and the forms of a
 * role's password. Loading never touches what sessions use: main.c swaps the whole set in.
 */
#include "pgward/auth.h"

#include "pgward/auth_file.h"
#include "pgward/md5_auth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <uthash.h>

struct pgw_derived_secret {
	char *user;
	uint8_t password_hash[SHA256_DIGEST_LENGTH]; /* which password it was derived from */
	struct pgw_scram_secret secret;
	UT_hash_handle hh;
};

static void derived_free_all(struct pgw_derived_secret **table)
{
	struct pgw_derived_secret *d, *tmp;

	HASH_ITER (hh, *table, d, tmp) {
		HASH_DEL(*table, d);
		free(d->user);
		OPENSSL_cleanse(d, sizeof(*d));
		free(d);
	}
}

int pgw_auth_plain_scram(struct pgw_auth_files *f, const char *user, const char *password,
			 struct pgw_scram_secret *out)
{
	struct pgw_derived_secret *d;
	struct pgw_scram_secret mock;
	uint8_t hash[SHA256_DIGEST_LENGTH];
	int rc;

	SHA256((const unsigned char *)password, strlen(password), hash);
	HASH_FIND_STR(f->derived, user, d);
	if (d != NULL && CRYPTO_memcmp(d->password_hash, hash, sizeof(hash)) == 0) {
		*out = d->secret;
		return 0;
	}
	/* the salt an unknown role's mock exchange shows: a plain entry looks like no entry */
	pgw_scram_mock_secret(user, &mock);
	rc = pgw_scram_secret_from_password(password, mock.salt, mock.salt_len, mock.iterations,
					    out);
	OPENSSL_cleanse(&mock, sizeof(mock));
	if (rc < 0)
		return -1;
	if (d == NULL) {
		if ((d = calloc(1, sizeof(*d))) == NULL || (d->user = strdup(user)) == NULL) {
			free(d);
			return 0; /* not kept: derived again next time */
		}
		HASH_ADD_KEYPTR(hh, f->derived, d->user, strlen(d->user), d);
	}
	memcpy(d->password_hash, hash, sizeof(hash));
	d->secret = *out;
	return 0;
}

uint64_t pgw_login_counts[PGW_LOGIN_METHODS][PGW_LOGIN__COUNT];

int pgw_auth_files_load(const struct pgw_config *cfg, struct pgw_auth_files *out, char *err,
			size_t errlen)
{
	memset(out, 0, sizeof(*out));
	if (cfg->auth_type == PGW_AUTH_TYPE_PASSTHROUGH)
		return 0; /* the server decides: nothing of pgward's is read */
	if (cfg->auth_type == PGW_AUTH_TYPE_HBA &&
	    (out->hba = pgw_hba_load(cfg->auth_hba_file, err, errlen)) == NULL)
		goto fail;
	if (cfg->auth_ident_file != NULL &&
	    (out->ident = pgw_ident_load(cfg->auth_ident_file, err, errlen)) == NULL)
		goto fail;
	if (cfg->auth_file != NULL &&
	    (out->users = pgw_auth_file_load(cfg->auth_file, err, errlen)) == NULL)
		goto fail;
	return 0;
fail:
	pgw_auth_files_free(out);
	return -1;
}

void pgw_auth_files_free(struct pgw_auth_files *f)
{
	pgw_hba_free(f->hba);
	pgw_ident_free(f->ident);
	pgw_auth_file_free(f->users);
	derived_free_all(&f->derived);
	memset(f, 0, sizeof(*f));
}

static const enum pgw_auth_method type_methods[] = {
	[PGW_AUTH_TYPE_TRUST] = PGW_AUTH_TRUST, [PGW_AUTH_TYPE_PASSWORD] = PGW_AUTH_PASSWORD,
	[PGW_AUTH_TYPE_MD5] = PGW_AUTH_MD5,	[PGW_AUTH_TYPE_SCRAM] = PGW_AUTH_SCRAM,
	[PGW_AUTH_TYPE_CERT] = PGW_AUTH_CERT,
};

enum pgw_auth_verdict pgw_auth_plan(const struct pgw_config *cfg, const struct pgw_auth_files *f,
				    const struct pgw_hba_query *q, struct pgw_auth_plan *out)
{
	const struct pgw_hba_rule *rule;

	memset(out, 0, sizeof(*out));
	if (cfg->auth_type != PGW_AUTH_TYPE_HBA) {
		out->method = type_methods[cfg->auth_type];
		/* PgBouncer's auth_type cert: the certificate's CN is the role */
		out->clientcert = out->method == PGW_AUTH_CERT ? PGW_CLIENTCERT_VERIFY_FULL
							       : PGW_CLIENTCERT_NONE;
		return PGW_AUTH_PLANNED;
	}
	rule = f->hba != NULL ? pgw_hba_match(f->hba, q) : NULL;
	if (rule == NULL) {
		out->method = PGW_AUTH_REJECT; /* PostgreSQL: no entry is an implicit reject */
		return PGW_AUTH_NO_ENTRY;
	}
	out->method = rule->method;
	out->clientcert =
		rule->method == PGW_AUTH_CERT ? PGW_CLIENTCERT_VERIFY_FULL : rule->clientcert;
	if (rule->map != NULL)
		snprintf(out->map, sizeof(out->map), "%s", rule->map);
	out->hba_line = rule->line;
	return PGW_AUTH_PLANNED;
}

int pgw_auth_secret_set(struct pgw_auth_secret *s, const char *text)
{
	pgw_auth_secret_clear(s);
	if (text == NULL || text[0] == '\0')
		return 0;
	if ((s->text = strdup(text)) == NULL)
		return -1;
	if (pgw_scram_parse_secret(text, &s->scram))
		s->kind = PGW_SECRET_SCRAM;
	else if (pgw_md5_is_secret(text))
		s->kind = PGW_SECRET_MD5;
	else
		s->kind = PGW_SECRET_PLAIN;
	return 0;
}

void pgw_auth_secret_clear(struct pgw_auth_secret *s)
{
	if (s->text != NULL) {
		OPENSSL_cleanse(s->text, strlen(s->text));
		free(s->text);
	}
	OPENSSL_cleanse(s, sizeof(*s));
	s->text = NULL;
	s->kind = PGW_SECRET_NONE;
}

const char *pgw_auth_query_database(const char *auth_dbname, const char *database)
{
	if (auth_dbname != NULL)
		return auth_dbname;
	return database[0] != '\0' ? database : "postgres";
}

const char *pgw_login_method_name(int method)
{
	if (method == PGW_LOGIN_PASSTHROUGH)
		return "passthrough";
	return pgw_auth_method_name((enum pgw_auth_method)method);
}

const char *pgw_login_outcome_name(enum pgw_login_outcome o)
{
	static const char *const names[PGW_LOGIN__COUNT] = {"ok", "failed", "throttled", "error"};

	return (unsigned)o < PGW_LOGIN__COUNT ? names[o] : "?";
}
