/*
 * The record of what pooled clients were told at login (welcome.h): a hash by key with a
 * bound on its size, the oldest record going first. A record costs its parameters, about
 * half a kilobyte; clients whose settings differ each time (an application_name per
 * process) only ever miss, and are served as if there were no record.
 */
#include "pgward/welcome.h"

#include <stdlib.h>
#include <string.h>
#include <utlist.h>

#define WELCOME_MAX 1024

static struct pgw_welcome *by_key;
static struct pgw_welcome *recent; /* most recently stored first */
static unsigned count;
static uint64_t versions;

static void put(char *out, size_t *len, const char *s)
{
	size_t n = strlen(s) + 1;

	if (out != NULL)
		memcpy(out + *len, s, n);
	*len += n;
}

static size_t key_bytes(const struct pgw_startup_view *v, char *out)
{
	size_t len = 0;

	put(out, &len, v->database);
	put(out, &len, v->user);
	for (size_t i = 0; i < v->nsettings; i++) {
		put(out, &len, v->settings[i].name);
		put(out, &len, v->settings[i].value);
	}
	return len;
}

int pgw_welcome_key(const struct pgw_startup_view *v, char **key, size_t *keylen)
{
	size_t len = key_bytes(v, NULL);

	if ((*key = malloc(len)) == NULL)
		return -1;
	*keylen = key_bytes(v, *key);
	return 0;
}

const struct pgw_welcome *pgw_welcome_find(const char *key, size_t keylen)
{
	struct pgw_welcome *w = NULL;

	HASH_FIND(hh, by_key, key, keylen, w);
	return w;
}

static void params_free(struct pgw_server_param *params, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(params[i].name);
		free(params[i].value);
	}
	free(params);
}

static void drop(struct pgw_welcome *w)
{
	HASH_DELETE(hh, by_key, w);
	DL_DELETE(recent, w);
	count--;
	params_free(w->params, w->nparams);
	free(w->key);
	free(w);
}

static bool same_params(const struct pgw_welcome *w, const struct pgw_server_param *params,
			size_t n)
{
	if (w->nparams != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (strcmp(w->params[i].name, params[i].name) != 0 ||
		    strcmp(w->params[i].value, params[i].value) != 0)
			return false;
	return true;
}

static struct pgw_server_param *params_copy(const struct pgw_server_param *params, size_t n)
{
	struct pgw_server_param *copy = calloc(n > 0 ? n : 1, sizeof(*copy));

	if (copy == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		copy[i].name = strdup(params[i].name);
		copy[i].value = strdup(params[i].value);
		if (copy[i].name == NULL || copy[i].value == NULL) {
			params_free(copy, i + 1);
			return NULL;
		}
	}
	return copy;
}

void pgw_welcome_touch(const struct pgw_welcome *w)
{
	struct pgw_welcome *rw = (struct pgw_welcome *)w;

	DL_DELETE(recent, rw);
	DL_PREPEND(recent, rw);
}

int pgw_welcome_store(const char *key, size_t keylen, const struct pgw_server_param *params,
		      size_t nparams, uint64_t params_hash)
{
	struct pgw_welcome *w = (struct pgw_welcome *)pgw_welcome_find(key, keylen);
	struct pgw_server_param *copy;

	if (w != NULL && same_params(w, params, nparams)) {
		pgw_welcome_touch(w);
		return 0;
	}
	if ((copy = params_copy(params, nparams)) == NULL)
		return -1;
	if (w == NULL) {
		if ((w = calloc(1, sizeof(*w))) == NULL || (w->key = malloc(keylen)) == NULL) {
			free(w);
			params_free(copy, nparams);
			return -1;
		}
		memcpy(w->key, key, keylen);
		w->keylen = keylen;
		HASH_ADD_KEYPTR(hh, by_key, w->key, w->keylen, w);
		count++;
	} else {
		params_free(w->params, w->nparams);
		DL_DELETE(recent, w);
	}
	w->params = copy;
	w->nparams = nparams;
	w->params_hash = params_hash;
	w->version = ++versions;
	DL_PREPEND(recent, w);
	if (count > WELCOME_MAX)
		drop(recent->prev); /* the oldest */
	return 0;
}

void pgw_welcome_forget_all(void)
{
	while (recent != NULL)
		drop(recent);
}
