/*
 * What a pooled client is told at login when pgward answers it without a server: the
 * ParameterStatus a client of the same database, user and startup settings saw last time
 * a server was set up for it. A client with a welcome on record is logged in at once and
 * gets its server at its first message (checkout.c), so an idle client holds none; the
 * server's own settings, once it has one, correct whatever changed since (a promoted
 * standby's in_hot_standby, a role altered in between).
 */
#ifndef PGWARD_WELCOME_H
#define PGWARD_WELCOME_H

#include "pgward/common.h"
#include "pgward/server.h"
#include "pgward/startup_view.h"

#include <uthash.h>

struct pgw_welcome {
	char *key; /* database, user, then name and value of each setting: each NUL-ended */
	size_t keylen;
	struct pgw_server_param *params;
	size_t nparams;
	uint64_t version;		 /* changes whenever the parameters do */
	uint64_t params_hash;		 /* of params, as server.h's params_hash */
	struct pgw_welcome *prev, *next; /* most recently stored first */
	UT_hash_handle hh;
};

/* The key of a client with startup view <v> into <*key> (malloc'd); -1 out of memory. */
int pgw_welcome_key(const struct pgw_startup_view *v, char **key, size_t *keylen);
/* The welcome on record for <key>, or NULL. Valid until the next store or forget. */
const struct pgw_welcome *pgw_welcome_find(const char *key, size_t keylen);
/* What a client with <key> was told once its server was set up: recorded for the next
 * one (the oldest record goes beyond a fixed number). 0, or -1 out of memory. */
int pgw_welcome_store(const char *key, size_t keylen, const struct pgw_server_param *params,
		      size_t nparams, uint64_t params_hash);
/* The record <w> (pgw_welcome_find's) was used again: it is the last to go. */
void pgw_welcome_touch(const struct pgw_welcome *w);
/* Forgets every record (a reload may have changed the server). */
void pgw_welcome_forget_all(void);

#endif
