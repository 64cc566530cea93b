/*
 * pgward's own authentication of clients, the parts that talk to nobody: the files as loaded
 * (auth_file, auth_hba_file, auth_ident_file), the method a login must pass, and what is
 * known of a role's password. The exchanges themselves are the session's
 * (src/session/client_auth.c with the client, server_login.c with the server).
 */
#ifndef PGWARD_AUTH_H
#define PGWARD_AUTH_H

#include "pgward/common.h"
#include "pgward/config.h"
#include "pgward/hba.h"
#include "pgward/scram.h"

#include <sys/socket.h>

struct pgw_auth_file;
struct pgw_ident;

struct pgw_derived_secret;

/* The files a configuration names, loaded together so a reload swaps them together. */
struct pgw_auth_files {
	struct pgw_hba *hba;		    /* NULL unless auth_type is hba */
	struct pgw_ident *ident;	    /* NULL without auth_ident_file */
	struct pgw_auth_file *users;	    /* NULL without auth_file */
	struct pgw_derived_secret *derived; /* SCRAM secrets of plain passwords, by role */
};

/* Loads what <cfg> names; -1 with "<file>:<line>: <message>" in <err>. */
int pgw_auth_files_load(const struct pgw_config *cfg, struct pgw_auth_files *out, char *err,
			size_t errlen) PGW_MUSTCHECK;
void pgw_auth_files_free(struct pgw_auth_files *f);

/* Which method a login must pass. */
enum pgw_auth_verdict {
	PGW_AUTH_PLANNED = 0, /* <plan> says */
	PGW_AUTH_NO_ENTRY,    /* no hba rule matches: 28000 "no pg_hba.conf entry ..." */
};
struct pgw_auth_plan {
	enum pgw_auth_method method;
	enum pgw_clientcert clientcert;
	char map[64]; /* cert rules' map=, "" if none */
	int hba_line; /* 0 without an hba file */
};
enum pgw_auth_verdict pgw_auth_plan(const struct pgw_config *cfg, const struct pgw_auth_files *f,
				    const struct pgw_hba_query *q, struct pgw_auth_plan *out);

/* What pgward knows of a role's password, in the three forms PostgreSQL stores or a client
 * sends. Owns its memory; pgw_auth_secret_clear zeroes it. */
enum pgw_secret_kind {
	PGW_SECRET_NONE = 0, /* unknown role, or no password */
	PGW_SECRET_PLAIN,    /* the password itself */
	PGW_SECRET_MD5,	     /* "md5" + hex(md5(password || user)) */
	PGW_SECRET_SCRAM,    /* SCRAM-SHA-256$... */
};
struct pgw_auth_secret {
	enum pgw_secret_kind kind;
	char *text;		       /* as stored; NULL for NONE */
	struct pgw_scram_secret scram; /* parsed, for SCRAM */
};
/* Takes <text> as auth_file or auth_query gave it (NULL or "": none). -1: out of memory. */
int pgw_auth_secret_set(struct pgw_auth_secret *s, const char *text) PGW_MUSTCHECK;
void pgw_auth_secret_clear(struct pgw_auth_secret *s);

/*
 * A SCRAM secret for <user>'s plain <password>, derived once and kept with <f> (PBKDF2 costs
 * milliseconds of the event loop), with the salt an unknown role's mock exchange would show:
 * a role with a plain password looks like any other. A different password for the same role
 * derives anew. -1 if it cannot be derived.
 */
int pgw_auth_plain_scram(struct pgw_auth_files *f, const char *user, const char *password,
			 struct pgw_scram_secret *out) PGW_MUSTCHECK;

/* The database auth_query runs in: <auth_dbname>, else the client's <database>, else (a
 * physical replication login names none) "postgres". */
const char *pgw_auth_query_database(const char *auth_dbname, const char *database);

/* Failed logins per client address (an IPv4 address, an IPv6 /64): after <limit> failures
 * within <period> seconds, an address is refused before any secret is looked at, until the period
 * that saw the first of them is over (<retry_in> seconds). Memory is bounded: past THROTTLE_MAX
 * addresses, the oldest periods are forgotten first. <limit> 0: no throttling. */
bool pgw_auth_throttled(const struct sockaddr *peer, double now, int limit, double period,
			double *retry_in);
void pgw_auth_failure(const struct sockaddr *peer, double now, int limit, double period);
void pgw_auth_throttle_free(void);

/* Logins by method and outcome, for SHOW AUTH and /metrics. */
enum pgw_login_outcome {
	PGW_LOGIN_OK = 0,
	PGW_LOGIN_FAILED,    /* wrong password, unknown role, no hba entry, rejected */
	PGW_LOGIN_THROTTLED, /* refused unchecked: too many failures from the address */
	PGW_LOGIN_ERROR,     /* auth_query or the server could not answer */
	PGW_LOGIN__COUNT
};
#define PGW_LOGIN_METHODS     (PGW_AUTH_CERT + 2) /* every pgw_auth_method, and passthrough */
#define PGW_LOGIN_PASSTHROUGH (PGW_AUTH_CERT + 1)
extern uint64_t pgw_login_counts[PGW_LOGIN_METHODS][PGW_LOGIN__COUNT];
const char *pgw_login_method_name(int method);
const char *pgw_login_outcome_name(enum pgw_login_outcome o);

#endif
