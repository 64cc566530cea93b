/*
 * The tenants that metrics are kept for. Cardinality is bounded: at most max_tenants are
 * tracked by name and every later one is counted under "_other"; a tenant without
 * sessions for longer than the idle expiry is dropped (its series disappear and restart
 * from zero if it returns). Lookups happen at login only: a session keeps its tenant's
 * pointer, so a query never hashes a name. Names are kept as valid UTF-8 (label.c), since
 * a peer chooses them.
 */
#include "metrics-int.h"

#include <stdlib.h>
#include <string.h>

static struct pgw_mtenant *tenant_new(struct pgw_mregistry *r, const char *name)
{
	struct pgw_mtenant *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return NULL;
	pgw_mtext_clean(name, t->name, sizeof(t->name));
	pgw_mlabel_escape(t->name, t->label, sizeof(t->label));
	t->id = ++r->next_id;
	return t;
}

int pgw_mreg_init(struct pgw_mregistry *r)
{
	memset(r, 0, sizeof(*r));
	r->other = tenant_new(r, PGW_MT_OTHER);
	return r->other != NULL ? 0 : -1;
}

struct pgw_mtenant *pgw_mreg_acquire(struct pgw_mregistry *r, const char *name,
				     unsigned max_tenants)
{
	struct pgw_mtenant *t = NULL;
	char key[PGW_MT_NAME_MAX];

	/* Looked up by its clean form, the one stored and shown: names that differ only in
	 * invalid bytes, or past PGW_MT_NAME_MAX, share an entry rather than two entries
	 * sharing one label (a duplicate series Prometheus would drop). */
	pgw_mtext_clean(name, key, sizeof(key));
	if (strcmp(key, PGW_MT_OTHER) != 0) {
		HASH_FIND_STR(r->by_name, key, t);
		if (t == NULL && r->count < max_tenants && (t = tenant_new(r, key)) != NULL) {
			HASH_ADD_STR(r->by_name, name, t);
			r->count++;
		}
	}
	if (t == NULL) {
		t = r->other;
		r->overflow++;
	}
	t->conns++;
	return t;
}

void pgw_mreg_release(struct pgw_mregistry *r, struct pgw_mtenant *t, double now)
{
	if (t->conns > 0 && --t->conns == 0)
		t->idle_since = now;
}

void pgw_mreg_expire(struct pgw_mregistry *r, double now, double idle)
{
	struct pgw_mtenant *t, *tmp;

	if (idle <= 0)
		return;
	HASH_ITER (hh, r->by_name, t, tmp) {
		if (t->conns == 0 && now - t->idle_since > idle) {
			HASH_DEL(r->by_name, t);
			free(t);
			r->count--;
			r->expired++;
		}
	}
}

void pgw_mreg_free(struct pgw_mregistry *r)
{
	struct pgw_mtenant *t, *tmp;

	HASH_ITER (hh, r->by_name, t, tmp) {
		HASH_DEL(r->by_name, t);
		free(t);
	}
	free(r->other);
	memset(r, 0, sizeof(*r));
}

void pgw_mtenant_refused(struct pgw_mtenant *t, const char *rule)
{
	char key[sizeof(t->refused[0].rule)];

	pgw_mtext_clean(rule, key, sizeof(key));
	for (unsigned i = 0; i < PGW_MT_RULES; i++) {
		struct pgw_mrule_count *c = &t->refused[i];

		if (c->rule[0] == '\0')
			memcpy(c->rule, key, sizeof(c->rule));
		if (strcmp(c->rule, key) == 0) {
			c->n++;
			return;
		}
	}
	t->refused_other++;
}
