/*
 * The arithmetic of RFC 5802 both halves share, on OpenSSL primitives, and error filling.
 * Every buffer that held key material is cleansed before it goes out of scope.
 */
#include "scram-int.h"

#include "pgward/random.h"
#include "pgward/sha256.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

int pgw_scram_salted_password(const char *password, const uint8_t *salt, size_t salt_len,
			      int iterations, uint8_t out[PGW_SCRAM_KEY_LEN])
{
	size_t len = strlen(password);

	if (iterations < 1 || salt_len > INT32_MAX || len > INT32_MAX)
		return -1;
	if (PKCS5_PBKDF2_HMAC(password, (int)len, salt, (int)salt_len, iterations, EVP_sha256(),
			      PGW_SCRAM_KEY_LEN, out) != 1)
		return -1;
	return 0;
}

int pgw_scram_hmac(const uint8_t key[PGW_SCRAM_KEY_LEN], const void *data, size_t len,
		   uint8_t out[PGW_SCRAM_KEY_LEN])
{
	return pgw_hmac_sha256(key, PGW_SCRAM_KEY_LEN, data, len, out);
}

int pgw_scram_hash(const uint8_t *data, size_t len, uint8_t out[PGW_SCRAM_KEY_LEN])
{
	return pgw_sha256(data, len, out);
}

int pgw_scram_signature(const uint8_t key[PGW_SCRAM_KEY_LEN], const char *first_bare,
			const char *server_first, const char *final_without_proof,
			uint8_t out[PGW_SCRAM_KEY_LEN])
{
	/* each part is bounded by PGW_SASL_BODY_MAX or the server-first buffer */
	char msg[3 * PGW_SCRAM_OUT_MAX];
	int n = snprintf(msg, sizeof(msg), "%s,%s,%s", first_bare, server_first,
			 final_without_proof);
	int rc;

	if (n < 0 || (size_t)n >= sizeof(msg))
		return -1;
	rc = pgw_scram_hmac(key, msg, (size_t)n, out);
	OPENSSL_cleanse(msg, (size_t)n);
	return rc;
}

int pgw_scram_random_nonce(char out[PGW_SCRAM_NONCE_MAX + 1])
{
	uint8_t raw[SCRAM_RAW_NONCE_LEN];

	if (pgw_random_bytes(raw, sizeof(raw)) < 0)
		return -1;
	pgw_base64_encode(raw, sizeof(raw), out);
	return 0;
}

bool pgw_scram_read_iterations(const char *p, size_t n, int *out)
{
	long long v = 0;
	size_t i = 0;

	if (n == 0)
		return false;
	while (i + 1 < n && p[i] == '0')
		i++;
	if (n - i > 10)
		return false;
	for (; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		v = v * 10 + (p[i] - '0');
	}
	if (v < 1 || v > INT32_MAX)
		return false;
	*out = (int)v;
	return true;
}

bool pgw_scram_printable(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x21 || c > 0x7e || c == ',')
			return false;
	}
	return true;
}

void pgw_auth_error_set(struct pgw_auth_error *err, const char *sqlstate, const char *detail,
			const char *fmt, ...)
{
	va_list ap;

	snprintf(err->sqlstate, sizeof(err->sqlstate), "%s", sqlstate);
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	snprintf(err->detail, sizeof(err->detail), "%s", detail ? detail : "");
}
