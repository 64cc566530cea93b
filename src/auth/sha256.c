/*
 * SHA-256 and HMAC-SHA-256 on one fetched digest and one reused context (sha256.h).
 * pgward runs one thread: the context is never shared between two computations.
 */
#include "pgward/sha256.h"

#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#define BLOCK 64 /* SHA-256's block: an HMAC key pads to it */

static EVP_MD *md;
static EVP_MD_CTX *ctx;

static bool ready(void)
{
	if (md == NULL)
		md = EVP_MD_fetch(NULL, "SHA256", NULL);
	if (ctx == NULL)
		ctx = EVP_MD_CTX_new();
	return md != NULL && ctx != NULL;
}

/* SHA-256 of <a> then <b>. */
static int digest2(const void *a, size_t alen, const void *b, size_t blen,
		   uint8_t out[PGW_SHA256_LEN])
{
	unsigned int n = 0;

	if (!ready() || EVP_DigestInit_ex(ctx, md, NULL) != 1 ||
	    EVP_DigestUpdate(ctx, a, alen) != 1 ||
	    (blen > 0 && EVP_DigestUpdate(ctx, b, blen) != 1) ||
	    EVP_DigestFinal_ex(ctx, out, &n) != 1 || n != PGW_SHA256_LEN)
		return -1;
	return 0;
}

int pgw_sha256(const void *data, size_t len, uint8_t out[PGW_SHA256_LEN])
{
	return digest2(data, len, NULL, 0, out);
}

int pgw_hmac_sha256(const void *key, size_t keylen, const void *data, size_t len,
		    uint8_t out[PGW_SHA256_LEN])
{
	uint8_t k[BLOCK] = {0}, pad[BLOCK], inner[PGW_SHA256_LEN];
	int rc;

	/* a key longer than the block is hashed first (RFC 2104 2) */
	if (keylen > BLOCK) {
		if (pgw_sha256(key, keylen, k) < 0)
			return -1;
	} else {
		memcpy(k, key, keylen);
	}
	for (size_t i = 0; i < BLOCK; i++)
		pad[i] = k[i] ^ 0x36;
	rc = digest2(pad, BLOCK, data, len, inner);
	for (size_t i = 0; i < BLOCK; i++)
		pad[i] = k[i] ^ 0x5c;
	if (rc == 0)
		rc = digest2(pad, BLOCK, inner, sizeof(inner), out);
	OPENSSL_cleanse(k, sizeof(k));
	OPENSSL_cleanse(pad, sizeof(pad));
	OPENSSL_cleanse(inner, sizeof(inner));
	return rc;
}
