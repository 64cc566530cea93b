/*
 * pgward logging in to a server as a role it has authenticated: each Authentication
 * request of the server answered with what a client's login left (or auth_file's
 * password), never with anything a client could choose. SCRAM uses the ClientKey recovered
 * from a client's proof (or a cleartext password), bound to pgward's TLS session with the
 * server when the server offers SCRAM-SHA-256-PLUS; md5 uses the stored md5 secret.
 * A client's session logs its server in with it, and the pool the servers it opens on its
 * own (min_pool_size) with the credentials of the pool's last client.
 */
#ifndef PGWARD_SERVER_AUTH_H
#define PGWARD_SERVER_AUTH_H

#include "pgward/auth.h"
#include "pgward/common.h"
#include "pgward/conn.h"
#include "pgward/scram.h"

/* What pgward logs in to the server with. */
struct pgw_login_creds {
	char *password;		       /* cleartext: the client's own, or auth_file's; or NULL */
	struct pgw_auth_secret secret; /* the role's secret, as auth_file or auth_query gave it */
	bool has_client_key;
	uint8_t client_key[PGW_SCRAM_KEY_LEN]; /* from a client's SCRAM proof */
};

/* A copy of <from> into cleared <to>; -1 out of memory (<to> is then cleared). */
int pgw_login_creds_copy(struct pgw_login_creds *to,
			 const struct pgw_login_creds *from) PGW_MUSTCHECK;
/* Zeroes and frees everything <c> holds. */
void pgw_login_creds_clear(struct pgw_login_creds *c);

/* One login exchange with a server. Zeroed at the start. */
struct pgw_server_auth {
	struct pgw_scram_client *scram; /* allocated at the first SCRAM request */
	bool sasl;			/* a SCRAM exchange is under way */
};

struct pgw_server_auth_error {
	char sqlstate[6];
	char message[512]; /* without "pgward: " */
};

enum pgw_server_auth_result {
	PGW_SAUTH_ANSWERED, /* the answer is in <conn>'s output, to be flushed */
	PGW_SAUTH_PROVEN,   /* the server's SASLFinal proved it knows the secret */
	PGW_SAUTH_FAILED,   /* <err> says why: no suitable secret, a failed or malformed step */
};

/*
 * Answers the server's Authentication message <body> (its code and data; not
 * AuthenticationOk) on <conn>, the server's connection. <id> is for logs.
 */
enum pgw_server_auth_result pgw_server_auth_answer(struct pgw_server_auth *a,
						   const struct pgw_login_creds *c,
						   const char *user, struct pgw_conn *conn,
						   uint64_t id, const uint8_t *body, size_t len,
						   struct pgw_server_auth_error *err);
/* Whether an AuthenticationOk may come now: not in the middle of a SCRAM exchange (an
 * impostor skipping the proof that it knows the secret). */
bool pgw_server_auth_ok_allowed(const struct pgw_server_auth *a);
/* Zeroes and frees the exchange's state. */
void pgw_server_auth_clear(struct pgw_server_auth *a);

#endif
