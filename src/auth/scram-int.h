/*
 * Shared by the SCRAM files of src/auth: the strict RFC 4648 codec, the RFC 5802 key
 * arithmetic on OpenSSL, error filling, and the hooks unit tests use to fix nonces.
 * Nothing outside src/auth and the tests includes this.
 */
#ifndef PGWARD_SCRAM_INT_H
#define PGWARD_SCRAM_INT_H

#include "pgward/scram.h"

#define SCRAM_RAW_NONCE_LEN	 18 /* as PostgreSQL and libpq: 24 base64 characters */
#define SCRAM_DEFAULT_SALT_LEN	 16
#define SCRAM_DEFAULT_ITERATIONS 4096
#define SCRAM_CB_HEADER		 "p=tls-server-end-point,,"

/* Base64 length of <n> bytes, with padding, without the NUL. */
size_t pgw_base64_enc_len(size_t n);
/* Writes <n> bytes as base64 and a NUL to <out> (pgw_base64_enc_len(n) + 1). */
size_t pgw_base64_encode(const uint8_t *in, size_t n, char *out);
/*
 * Strict decoding: the standard alphabet only, a length that is a multiple of 4, '=' only as
 * the last one or two characters, and zero padding bits. False if <in> is not that or would
 * decode to more than <cap> bytes. PostgreSQL's decoder also skips whitespace and ignores
 * padding bits; no client sends either.
 */
bool pgw_base64_decode(const char *in, size_t n, uint8_t *out, size_t cap,
		       size_t *outlen) PGW_MUSTCHECK;

/* SaltedPassword := Hi(password, salt, i), PBKDF2-HMAC-SHA-256. 0/-1. */
int pgw_scram_salted_password(const char *password, const uint8_t *salt, size_t salt_len,
			      int iterations, uint8_t out[PGW_SCRAM_KEY_LEN]) PGW_MUSTCHECK;
/* HMAC-SHA-256 with a 32-byte key. 0/-1. */
int pgw_scram_hmac(const uint8_t key[PGW_SCRAM_KEY_LEN], const void *data, size_t len,
		   uint8_t out[PGW_SCRAM_KEY_LEN]) PGW_MUSTCHECK;
/* SHA-256. 0/-1. */
int pgw_scram_hash(const uint8_t *data, size_t len, uint8_t out[PGW_SCRAM_KEY_LEN]) PGW_MUSTCHECK;
/*
 * ClientSignature or ServerSignature: HMAC(key, AuthMessage) where AuthMessage is
 * client-first-message-bare "," server-first-message "," client-final-message-without-proof.
 */
int pgw_scram_signature(const uint8_t key[PGW_SCRAM_KEY_LEN], const char *first_bare,
			const char *server_first, const char *final_without_proof,
			uint8_t out[PGW_SCRAM_KEY_LEN]) PGW_MUSTCHECK;
/* 18 random bytes in base64 (24 characters + NUL). 0/-1. */
int pgw_scram_random_nonce(char out[PGW_SCRAM_NONCE_MAX + 1]) PGW_MUSTCHECK;
/*
 * An iteration count: decimal digits only (leading zeros allowed, as PostgreSQL's strtol
 * allows them), 1 to INT_MAX. No sign, no space.
 */
bool pgw_scram_read_iterations(const char *p, size_t n, int *out) PGW_MUSTCHECK;
/* RFC 5802 "printable": %x21-2B / %x2D-7E (printable ASCII but ','), over <n> bytes. */
bool pgw_scram_printable(const char *s, size_t n);

/* Fills <err>; <detail> NULL for none. */
void pgw_auth_error_set(struct pgw_auth_error *err, const char *sqlstate, const char *detail,
			const char *fmt, ...) PGW_PRINTF(4, 5);

/*
 * Tests only, to replay RFC 7677 and recorded exchanges: the nonce the start step uses instead
 * of a random one (printable), and for the client the n= it sends instead of an empty one.
 */
void pgw_scram_server_set_nonce(struct pgw_scram_server *st, const char *nonce);
void pgw_scram_client_set_first(struct pgw_scram_client *c, const char *user, const char *nonce);

#endif
