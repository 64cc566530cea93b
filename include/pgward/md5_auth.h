/*
 * PostgreSQL's md5 password scheme: the stored secret "md5" + hex(md5(password || user)) and
 * the salted response of AuthenticationMD5Password. Pure functions on strings; a response is
 * checked in constant time.
 */
#ifndef PGWARD_MD5_AUTH_H
#define PGWARD_MD5_AUTH_H

#include "pgward/common.h"

#define PGW_MD5_LEN 35 /* "md5" + 32 hex digits */

/* "md5" + hex(md5(password || user)), as PostgreSQL stores md5 secrets (35 chars + NUL). */
void pgw_md5_secret(const char *password, const char *user, char out[36]);
/* "md5" + 32 lowercase hex, exactly PostgreSQL's test (get_password_type). */
bool pgw_md5_is_secret(const char *text);
/*
 * The PasswordMessage a client sends for AuthenticationMD5Password with <salt>, given the
 * stored md5 secret: "md5" + hex(md5(secret_hex_part || salt)). <out> is "" if <md5_secret>
 * is not an md5 secret.
 */
void pgw_md5_response(const char *md5_secret, const uint8_t salt[4], char out[36]);
/* Constant-time check of a client's response against the stored secret. False if the
 * secret is not an md5 secret. */
bool pgw_md5_verify(const char *md5_secret, const uint8_t salt[4], const char *response);

#endif
