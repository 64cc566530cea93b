/*
 * auth_file: PgBouncer's userlist.txt, one "username" "password" pair per line, the
 * password plain, "md5<32 hex>" or a "SCRAM-SHA-256$..." secret, stored as written. Only
 * parsing and lookup: what a secret is good for is the authentication code's business.
 */
#ifndef PGWARD_AUTH_FILE_H
#define PGWARD_AUTH_FILE_H

#include "pgward/common.h"

/* PgBouncer's limits (MAX_USERNAME, MAX_PASSWORD), as written in the file, quotes doubled. */
#define PGW_AUTH_FILE_USER_MAX	   127
#define PGW_AUTH_FILE_PASSWORD_MAX 65530

struct pgw_auth_file;

/*
 * Parses <text> (the contents of file <name>, used in messages): lines starting with ';' are
 * comments, every other non-blank line is "user" "password" followed by anything; inside
 * quotes "" is a quote. A user listed twice keeps the last password, as in PgBouncer. NULL
 * with "<name>:<line>: <message>" in <err> where PgBouncer would stop reading and keep the
 * users before the bad line: pgward refuses the whole file instead.
 */
struct pgw_auth_file *pgw_auth_file_parse(const char *text, size_t len, const char *name, char *err,
					  size_t errlen) PGW_MUSTCHECK;
struct pgw_auth_file *pgw_auth_file_load(const char *path, char *err, size_t errlen) PGW_MUSTCHECK;
/* The user's password or secret (plain, "md5…" or "SCRAM-SHA-256$…"; "" if the file gives
 * none), or NULL. Borrowed until free. Case-sensitive, as role names are. */
const char *pgw_auth_file_lookup(const struct pgw_auth_file *f, const char *user);
size_t pgw_auth_file_count(const struct pgw_auth_file *f);
void pgw_auth_file_free(struct pgw_auth_file *f); /* zeroes the secrets before freeing */

#endif
