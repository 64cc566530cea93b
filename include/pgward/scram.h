/*
 * SCRAM-SHA-256 and SCRAM-SHA-256-PLUS (tls-server-end-point), both halves: pgward verifying
 * a client as PostgreSQL 15 would, with its exact SQLSTATEs and texts, and pgward logging in
 * to a server. Pure: bytes in, bytes out, no sockets and no allocation.
 *
 * Passwords are used as given, never SASLprep-normalised. That is what PostgreSQL computes
 * for every ASCII password, for any UTF-8 password already in NFKC that has none of the
 * characters SASLprep maps to nothing or to a space (soft hyphen, zero-width joiners,
 * non-ASCII spaces...), and for any password SASLprep refuses (invalid UTF-8, control
 * characters), which PostgreSQL uses as given too. Only such passwords may be given to
 * pgw_scram_secret_from_password, pgw_scram_secret_new and pgw_scram_client_init; secrets
 * PostgreSQL made are always exact.
 */
#ifndef PGWARD_SCRAM_H
#define PGWARD_SCRAM_H

#include "pgward/common.h"

#include <openssl/ossl_typ.h>

#define PGW_SCRAM_KEY_LEN  32
#define PGW_SCRAM_CB_MAX   64 /* tls-server-end-point hash, up to SHA-512 */
#define PGW_SCRAM_SALT_MAX 64
/*
 * PostgreSQL reads SASLInitialResponse and SASLResponse with a limit of 1024 bytes
 * (PG_MAX_SASL_MESSAGE_LENGTH, the length word included): a longer one ends the login with
 * 28P01, which both server steps return for data longer than this.
 */
#define PGW_SASL_BODY_MAX      1020
#define PGW_SCRAM_NONCE_MAX    64   /* server part of the nonce, and pgward's client nonce */
#define PGW_SCRAM_USER_MAX     63   /* PostgreSQL cuts role names to NAMEDATALEN - 1 bytes */
#define PGW_SCRAM_PASSWORD_MAX 1023 /* a longer password: pgw_scram_client_init fails */
/* Iterations pgward computes when it logs in with a password: PostgreSQL's default is 4096;
 * 100,000 costs about 15 ms of the event loop. */
#define PGW_SCRAM_ITERATIONS_MAX 100000
#define PGW_SCRAM_OUT_MAX	 2048 /* room for any message this module writes */

/* A role's SCRAM secret as PostgreSQL stores it in pg_authid.rolpassword:
 * "SCRAM-SHA-256$<iterations>:<salt base64>$<StoredKey base64>:<ServerKey base64>" */
struct pgw_scram_secret {
	int iterations;
	uint8_t salt[PGW_SCRAM_SALT_MAX];
	size_t salt_len;
	uint8_t stored_key[PGW_SCRAM_KEY_LEN];
	uint8_t server_key[PGW_SCRAM_KEY_LEN];
};

/*
 * False: not that format. Stricter than PostgreSQL, which would also take a non-canonical
 * base64 salt, iterations < 1 or a salt above 64 bytes (none of which it ever writes).
 */
bool pgw_scram_parse_secret(const char *text, struct pgw_scram_secret *out) PGW_MUSTCHECK;
/* Starts like one ("SCRAM-SHA-256$"): such a text is never a plaintext password. */
bool pgw_scram_is_secret(const char *text);
/* The secret PostgreSQL would store for <password> with <salt>/<iterations>. 0/-1. */
int pgw_scram_secret_from_password(const char *password, const uint8_t *salt, size_t salt_len,
				   int iterations, struct pgw_scram_secret *out) PGW_MUSTCHECK;
/* Same with a random 16-byte salt and 4096 iterations (PostgreSQL's defaults). */
int pgw_scram_secret_new(const char *password, struct pgw_scram_secret *out) PGW_MUSTCHECK;
/* Formats a secret as PostgreSQL's text (for tests and tools). -1 if <outlen> is too small. */
int pgw_scram_format_secret(const struct pgw_scram_secret *s, char *out,
			    size_t outlen) PGW_MUSTCHECK;
/*
 * A believable secret for a user that does not exist (or has no SCRAM secret), so the
 * exchange looks the same and fails only at the proof, as PostgreSQL does: the salt is the
 * first 16 bytes of HMAC-SHA-256(key, user), 4096 iterations, random keys (never matchable).
 * The key is random per process unless pgw_scram_mock_key_set gave one: without a stable
 * key, a client that sees pgward restart sees the salts of unknown users change, and those
 * of real users not.
 */
void pgw_scram_mock_secret(const char *user, struct pgw_scram_secret *out);
/* Makes the mock key SHA-256(<seed>) (e.g. a secret from the configuration). */
void pgw_scram_mock_key_set(const uint8_t *seed, size_t len);

/*
 * tls-server-end-point channel binding data (RFC 5929) of <cert>: its hash with the
 * certificate's signature digest, SHA-256 when that is MD5 or SHA-1. -1 on failure, e.g. for
 * an Ed25519 or RSA-PSS certificate, as in PostgreSQL (then -PLUS cannot be offered).
 */
int pgw_scram_cert_hash(X509 *cert, uint8_t out[PGW_SCRAM_CB_MAX], size_t *outlen) PGW_MUSTCHECK;
/* The same as a length: 0 when there is no <cert> (no TLS) or it has no usable hash, so
 * channel binding is not offered. */
size_t pgw_scram_cb_data(X509 *cert, uint8_t out[PGW_SCRAM_CB_MAX]);

/* An error as the client will see it: PostgreSQL's SQLSTATE and texts. */
struct pgw_auth_error {
	char sqlstate[6];
	char message[200];
	char detail[200]; /* "" if none */
};

enum pgw_scram_step { PGW_SCRAM_CONTINUE = 0, PGW_SCRAM_DONE, PGW_SCRAM_FAILED };

/*
 * pgward verifying a client (the server side of the exchange). Every error this half returns
 * is one PostgreSQL 15 sends as FATAL during authentication, with the same SQLSTATE, message
 * and detail; after FAILED every further step fails again.
 */
struct pgw_scram_server {
	uint8_t state;	 /* enum srv_state of scram_server.c */
	bool doomed;	 /* mock secret: fails at the proof whatever the proof */
	bool cb_in_use;	 /* the client chose SCRAM-SHA-256-PLUS */
	char cbind_flag; /* gs2 header: 'n', 'y' or 'p' */
	char user[PGW_SCRAM_USER_MAX + 1];
	struct pgw_scram_secret secret;
	uint8_t cb[PGW_SCRAM_CB_MAX];
	size_t cb_len;
	char nonce[PGW_SCRAM_NONCE_MAX + 1];	   /* the server's part of the nonce */
	size_t client_nonce_off, client_nonce_len; /* inside first_bare */
	char first_bare[PGW_SASL_BODY_MAX + 1];
	char server_first[PGW_SASL_BODY_MAX + 256];
	uint8_t client_key[PGW_SCRAM_KEY_LEN];
};

/*
 * <secret> NULL: unknown user (mock secret for <user> is used, the exchange fails at the proof
 * with the same error as a wrong password). <cb>/<cb_len>: the tls-server-end-point hash of
 * pgward's own certificate when the client is on TLS, else cb_len 0 (then -PLUS is not
 * offered). <user> is the startup packet's, the one the errors name; copied.
 */
void pgw_scram_server_init(struct pgw_scram_server *st, const char *user,
			   const struct pgw_scram_secret *secret, const uint8_t *cb, size_t cb_len);
/*
 * The body of AuthenticationSASL to send after its int32 10: mechanism names, each
 * NUL-terminated, then a NUL ("SCRAM-SHA-256-PLUS" first when cb_len > 0, then
 * "SCRAM-SHA-256"). Returns its length, 0 if <cap> is too small.
 */
size_t pgw_scram_server_mechanisms(const struct pgw_scram_server *st, uint8_t *out, size_t cap);
/*
 * SASLInitialResponse's mechanism and data. On CONTINUE, <out>/<outlen> is the
 * server-first-message for AuthenticationSASLContinue (not NUL-terminated in the protocol;
 * <out> gets a NUL after it all the same).
 *
 * <data> NULL is a SASLInitialResponse without data (length -1): PostgreSQL then sends an
 * empty AuthenticationSASLContinue and reads the client-first-message from the next
 * SASLResponse. So does this: CONTINUE with *outlen 0, and pgw_scram_server_finish takes the
 * client-first-message and answers CONTINUE with the server-first-message. A caller that
 * loops "send AuthenticationSASLContinue and call finish while CONTINUE" needs no special
 * case.
 */
enum pgw_scram_step pgw_scram_server_start(struct pgw_scram_server *st, const char *mechanism,
					   const uint8_t *data, size_t len, char *out, size_t cap,
					   size_t *outlen, struct pgw_auth_error *err);
/*
 * The same from a whole SASLInitialResponse body (after the type byte and length word),
 * read as PostgreSQL reads it, errors included: "invalid string in message", the
 * mechanism checked before the data length, "insufficient data left in message",
 * "invalid message format".
 */
enum pgw_scram_step pgw_scram_server_start_msg(struct pgw_scram_server *st, const uint8_t *body,
					       size_t len, char *out, size_t cap, size_t *outlen,
					       struct pgw_auth_error *err);
/*
 * SASLResponse (client-final-message). DONE: <out> is the server-final-message ("v=...") for
 * AuthenticationSASLFinal and the client key is available. FAILED: <err>; a wrong proof is
 * 28P01 'password authentication failed for user "<user>"', as for an unknown user.
 */
enum pgw_scram_step pgw_scram_server_finish(struct pgw_scram_server *st, const uint8_t *data,
					    size_t len, char *out, size_t cap, size_t *outlen,
					    struct pgw_auth_error *err);
/* After DONE: ClientKey = ClientProof XOR ClientSignature (whose SHA-256 is StoredKey);
 * NULL before. Borrowed from <st>. */
const uint8_t *pgw_scram_server_client_key(const struct pgw_scram_server *st);
void pgw_scram_server_clear(struct pgw_scram_server *st); /* zeroes everything */

/* pgward logging in to the server as the client (the client side). */
struct pgw_scram_client {
	uint8_t state;	 /* enum cli_state of scram_client.c */
	bool with_key;	 /* client_key + secret rather than a password */
	bool key_stale;	 /* the server's salt is not the key's: the proof sent cannot pass */
	char cbind_flag; /* gs2 header sent: 'n', 'y' or 'p' */
	char password[PGW_SCRAM_PASSWORD_MAX + 1];
	uint8_t client_key[PGW_SCRAM_KEY_LEN];
	struct pgw_scram_secret secret; /* key mode: the secret given; password mode: derived */
	uint8_t cb[PGW_SCRAM_CB_MAX];
	size_t cb_len;
	char nonce[PGW_SCRAM_NONCE_MAX + 1];
	char first_bare[PGW_SCRAM_NONCE_MAX + 8];
	uint8_t server_signature[PGW_SCRAM_KEY_LEN];
};

/*
 * Credentials: either <password> (plaintext, copied; then <client_key> and <secret> must be
 * NULL), or <client_key> + <secret> (the secret gives ServerKey to check the server's
 * signature, and the salt/iterations the key is good for; when the server-first-message has
 * others, the server's secret changed or it runs a mock exchange, and a proof that cannot
 * pass is sent so that the server refuses in its own words). -1 if the credentials are neither, the
 * password is longer than PGW_SCRAM_PASSWORD_MAX, or SHA-256(client_key) is not the secret's
 * StoredKey. <cb>/<cb_len>: hash of the SERVER's certificate when pgward's link to the server is
 * TLS (cb_len 0 otherwise).
 */
int pgw_scram_client_init(struct pgw_scram_client *c, const char *password,
			  const uint8_t *client_key, const struct pgw_scram_secret *secret,
			  const uint8_t *cb, size_t cb_len) PGW_MUSTCHECK;
/*
 * Reads the server's AuthenticationSASL mechanism list (the body after the int32 10) and picks:
 * SCRAM-SHA-256-PLUS when offered and cb_len > 0, else SCRAM-SHA-256 (gs2 header "y,," when
 * pgward has TLS but the server offered no PLUS, "n,," without TLS). Then writes the
 * SASLInitialResponse payload: mechanism name (NUL-terminated) + int32 length + client-first
 * message, exactly the bytes of the message body. FAILED: malformed list or no SCRAM.
 */
enum pgw_scram_step pgw_scram_client_start(struct pgw_scram_client *c, const uint8_t *mechs,
					   size_t len, uint8_t *out, size_t cap, size_t *outlen,
					   struct pgw_auth_error *err);
/*
 * AuthenticationSASLContinue data (server-first) → client-final-message for SASLResponse.
 * In password mode this runs PBKDF2 with the server's iteration count (4096: a few ms).
 */
enum pgw_scram_step pgw_scram_client_continue(struct pgw_scram_client *c, const uint8_t *data,
					      size_t len, char *out, size_t cap, size_t *outlen,
					      struct pgw_auth_error *err);
/* AuthenticationSASLFinal data: DONE when the server's signature is right, FAILED otherwise
 * (a server that cannot prove it knows the secret is not the server). */
enum pgw_scram_step pgw_scram_client_finish(struct pgw_scram_client *c, const uint8_t *data,
					    size_t len, struct pgw_auth_error *err);
/*
 * After DONE in password mode: the ClientKey and the secret this login derived, so that later
 * logins as this role can use key mode and skip PBKDF2 (while the server keeps that secret).
 * -1 before DONE.
 */
int pgw_scram_client_keys(const struct pgw_scram_client *c, uint8_t client_key[PGW_SCRAM_KEY_LEN],
			  struct pgw_scram_secret *secret) PGW_MUSTCHECK;
void pgw_scram_client_clear(struct pgw_scram_client *c); /* zeroes everything */

#endif
