/*
 * Cryptographically strong random bytes for nonces, salts and cancel keys, drawn from a
 * block that one RAND_bytes call fills. OpenSSL 3 spends some 6,000 instructions per call
 * on its DRBG's locking and parameters whatever the length, and a login asked three times
 * (SCRAM nonce, cancel key secret, the reset's random seed).
 */
#ifndef PGWARD_RANDOM_H
#define PGWARD_RANDOM_H

#include "pgward/common.h"

/* <n> random bytes into <out>. 0, or -1 if OpenSSL cannot give any. */
int pgw_random_bytes(void *out, size_t n) PGW_MUSTCHECK;

#endif
