/*
 * SHA-256 and HMAC-SHA-256 with the digest fetched from OpenSSL once. OpenSSL 3 looks an
 * algorithm up by name (locks, string compares, parameter lists) at every implicit fetch:
 * a one-shot HMAC() cost about 20,000 instructions, ten times the hashing, and a SCRAM
 * login computes several.
 */
#ifndef PGWARD_SHA256_H
#define PGWARD_SHA256_H

#include "pgward/common.h"

#define PGW_SHA256_LEN 32

/* SHA-256 of <len> bytes at <data>. 0, or -1 if OpenSSL fails. */
int pgw_sha256(const void *data, size_t len, uint8_t out[PGW_SHA256_LEN]) PGW_MUSTCHECK;
/* HMAC-SHA-256 (RFC 2104) of <len> bytes at <data> with a key of <keylen> bytes. */
int pgw_hmac_sha256(const void *key, size_t keylen, const void *data, size_t len,
		    uint8_t out[PGW_SHA256_LEN]) PGW_MUSTCHECK;

#endif
