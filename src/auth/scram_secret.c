/*
 * SCRAM secrets as pg_authid stores them (RFC 5803 form): reading, writing, deriving one from
 * a password, the mock secret of a role that does not exist, and the certificate hash that
 * tls-server-end-point binds to. A secret read here never leaves a copy of its keys behind.
 */
#include "scram-int.h"

#include "pgward/random.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#define PREFIX "SCRAM-SHA-256$"

bool pgw_scram_is_secret(const char *text)
{
	return strncmp(text, PREFIX, strlen(PREFIX)) == 0;
}

static bool read_key(const char *p, size_t n, uint8_t out[PGW_SCRAM_KEY_LEN])
{
	size_t len;

	return pgw_base64_decode(p, n, out, PGW_SCRAM_KEY_LEN, &len) && len == PGW_SCRAM_KEY_LEN;
}

bool pgw_scram_parse_secret(const char *text, struct pgw_scram_secret *out)
{
	const char *iter, *salt, *stored, *server;
	struct pgw_scram_secret s = {0};
	bool ok;

	if (!pgw_scram_is_secret(text))
		return false;
	iter = text + strlen(PREFIX);
	salt = strchr(iter, ':');
	stored = salt ? strchr(salt + 1, '$') : NULL;
	server = stored ? strchr(stored + 1, ':') : NULL;
	if (server == NULL)
		return false;
	salt++;
	stored++;
	server++;
	ok = pgw_scram_read_iterations(iter, (size_t)(salt - 1 - iter), &s.iterations) &&
	     pgw_base64_decode(salt, (size_t)(stored - 1 - salt), s.salt, sizeof(s.salt),
			       &s.salt_len) &&
	     s.salt_len > 0 && read_key(stored, (size_t)(server - 1 - stored), s.stored_key) &&
	     read_key(server, strlen(server), s.server_key);
	if (ok)
		*out = s;
	OPENSSL_cleanse(&s, sizeof(s));
	return ok;
}

int pgw_scram_secret_from_password(const char *password, const uint8_t *salt, size_t salt_len,
				   int iterations, struct pgw_scram_secret *out)
{
	uint8_t salted[PGW_SCRAM_KEY_LEN], client_key[PGW_SCRAM_KEY_LEN];
	struct pgw_scram_secret s = {0};
	int rc = -1;

	if (salt_len == 0 || salt_len > sizeof(s.salt) || iterations < 1)
		return -1;
	s.iterations = iterations;
	memcpy(s.salt, salt, salt_len);
	s.salt_len = salt_len;
	if (pgw_scram_salted_password(password, salt, salt_len, iterations, salted) < 0 ||
	    pgw_scram_hmac(salted, "Client Key", 10, client_key) < 0 ||
	    pgw_scram_hash(client_key, sizeof(client_key), s.stored_key) < 0 ||
	    pgw_scram_hmac(salted, "Server Key", 10, s.server_key) < 0)
		goto out;
	*out = s;
	rc = 0;
out:
	OPENSSL_cleanse(salted, sizeof(salted));
	OPENSSL_cleanse(client_key, sizeof(client_key));
	OPENSSL_cleanse(&s, sizeof(s));
	return rc;
}

int pgw_scram_secret_new(const char *password, struct pgw_scram_secret *out)
{
	uint8_t salt[SCRAM_DEFAULT_SALT_LEN];

	if (pgw_random_bytes(salt, sizeof(salt)) < 0)
		return -1;
	return pgw_scram_secret_from_password(password, salt, sizeof(salt),
					      SCRAM_DEFAULT_ITERATIONS, out);
}

int pgw_scram_format_secret(const struct pgw_scram_secret *s, char *out, size_t outlen)
{
	char salt[PGW_SCRAM_SALT_MAX / 3 * 4 + 5], stored[48], server[48];
	int n;

	if (s->salt_len == 0 || s->salt_len > sizeof(s->salt))
		return -1;
	pgw_base64_encode(s->salt, s->salt_len, salt);
	pgw_base64_encode(s->stored_key, PGW_SCRAM_KEY_LEN, stored);
	pgw_base64_encode(s->server_key, PGW_SCRAM_KEY_LEN, server);
	n = snprintf(out, outlen, PREFIX "%d:%s$%s:%s", s->iterations, salt, stored, server);
	OPENSSL_cleanse(stored, sizeof(stored));
	OPENSSL_cleanse(server, sizeof(server));
	if (n < 0 || (size_t)n >= outlen) {
		if (outlen > 0)
			OPENSSL_cleanse(out, outlen);
		return -1;
	}
	return 0;
}

/*
 * The key of mock salts. pgward runs one thread, so a flag is enough to make it once;
 * PostgreSQL's counterpart is the cluster's mock_authentication_nonce.
 */
static uint8_t mock_key[PGW_SCRAM_KEY_LEN];
static bool mock_key_ready;

void pgw_scram_mock_key_set(const uint8_t *seed, size_t len)
{
	if (pgw_scram_hash(seed, len, mock_key) < 0)
		abort(); /* SHA-256 of a buffer cannot fail short of a broken OpenSSL */
	mock_key_ready = true;
}

void pgw_scram_mock_secret(const char *user, struct pgw_scram_secret *out)
{
	uint8_t digest[PGW_SCRAM_KEY_LEN];

	/* With no randomness there are no nonces either: nothing safe is left to run with. */
	if (!mock_key_ready) {
		if (pgw_random_bytes(mock_key, sizeof(mock_key)) < 0)
			abort();
		mock_key_ready = true;
	}
	memset(out, 0, sizeof(*out));
	if (pgw_scram_hmac(mock_key, user, strlen(user), digest) < 0 ||
	    pgw_random_bytes(out->stored_key, sizeof(out->stored_key)) < 0 ||
	    pgw_random_bytes(out->server_key, sizeof(out->server_key)) < 0)
		abort();
	memcpy(out->salt, digest, SCRAM_DEFAULT_SALT_LEN);
	out->salt_len = SCRAM_DEFAULT_SALT_LEN;
	out->iterations = SCRAM_DEFAULT_ITERATIONS;
	OPENSSL_cleanse(digest, sizeof(digest));
}

int pgw_scram_cert_hash(X509 *cert, uint8_t out[PGW_SCRAM_CB_MAX], size_t *outlen)
{
	const EVP_MD *md;
	unsigned int n = 0;
	int md_nid;

	/* RFC 5929 4.1: the certificate's own signature digest, but SHA-256 for MD5 and SHA-1 */
	if (cert == NULL || !OBJ_find_sigid_algs(X509_get_signature_nid(cert), &md_nid, NULL))
		return -1;
	if (md_nid == NID_md5 || md_nid == NID_sha1)
		md = EVP_sha256();
	else if ((md = EVP_get_digestbynid(md_nid)) == NULL)
		return -1;
	if (EVP_MD_get_size(md) <= 0 || EVP_MD_get_size(md) > PGW_SCRAM_CB_MAX ||
	    X509_digest(cert, md, out, &n) != 1)
		return -1;
	*outlen = n;
	return 0;
}

size_t pgw_scram_cb_data(X509 *cert, uint8_t out[PGW_SCRAM_CB_MAX])
{
	size_t len = 0;

	if (cert == NULL || pgw_scram_cert_hash(cert, out, &len) < 0)
		return 0;
	return len;
}
