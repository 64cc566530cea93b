/*
 * md5 authentication as PostgreSQL does it (libpq/crypt.c, common/md5_common.c). The
 * stored secret is password-equivalent for this scheme, so every buffer derived from it is
 * cleansed, and a response is compared in constant time.
 */
#include "pgward/md5_auth.h"

#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

/* "md5" + hex(md5(<a> || <b>)) into <out>; "" if the digest cannot be had (FIPS mode). */
static void md5_hex(const void *a, size_t alen, const void *b, size_t blen, char out[36])
{
	static const char hex[] = "0123456789abcdef";
	uint8_t digest[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	bool ok = ctx != NULL && EVP_DigestInit_ex(ctx, EVP_md5(), NULL) == 1 &&
		  EVP_DigestUpdate(ctx, a, alen) == 1 && EVP_DigestUpdate(ctx, b, blen) == 1 &&
		  EVP_DigestFinal_ex(ctx, digest, &n) == 1 && n == 16;

	EVP_MD_CTX_free(ctx);
	out[0] = '\0';
	if (!ok)
		return;
	memcpy(out, "md5", 3);
	for (int i = 0; i < 16; i++) {
		out[3 + 2 * i] = hex[digest[i] >> 4];
		out[4 + 2 * i] = hex[digest[i] & 15];
	}
	out[PGW_MD5_LEN] = '\0';
	OPENSSL_cleanse(digest, sizeof(digest));
}

void pgw_md5_secret(const char *password, const char *user, char out[36])
{
	md5_hex(password, strlen(password), user, strlen(user), out);
}

bool pgw_md5_is_secret(const char *text)
{
	return strncmp(text, "md5", 3) == 0 && strlen(text) == PGW_MD5_LEN &&
	       strspn(text + 3, "0123456789abcdef") == PGW_MD5_LEN - 3;
}

void pgw_md5_response(const char *md5_secret, const uint8_t salt[4], char out[36])
{
	out[0] = '\0';
	if (pgw_md5_is_secret(md5_secret))
		md5_hex(md5_secret + 3, PGW_MD5_LEN - 3, salt, 4, out);
}

bool pgw_md5_verify(const char *md5_secret, const uint8_t salt[4], const char *response)
{
	char want[36];
	bool ok;

	pgw_md5_response(md5_secret, salt, want);
	/* lengths are no secret; the bytes are compared in constant time */
	ok = want[0] != '\0' && strnlen(response, PGW_MD5_LEN + 1) == PGW_MD5_LEN &&
	     CRYPTO_memcmp(want, response, PGW_MD5_LEN) == 0;
	OPENSSL_cleanse(want, sizeof(want));
	return ok;
}
