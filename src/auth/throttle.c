/*
 * Failed logins counted per client address, so that guessing passwords costs an address its
 * access for a while instead of costing pgward CPU and the server nothing. Knows only
 * addresses and clocks: the session decides what a failure is.
 */
#include "pgward/auth.h"

#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <uthash.h>

#define THROTTLE_MAX 65536 /* addresses remembered; beyond, the oldest periods go first */
/* An address is an IPv4 address or an IPv6 /64. */

struct failures {
	uint8_t addr[16]; /* IPv6, or IPv4 mapped into it: one key for both spellings */
	double since;	  /* start of the period being counted */
	int count;
	UT_hash_handle hh;
};

static struct failures *table;

static bool key_of(const struct sockaddr *sa, uint8_t key[16])
{
	memset(key, 0, 16);
	if (sa->sa_family == AF_INET) {
		key[10] = key[11] = 0xff;
		memcpy(key + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		return true;
	}
	if (sa->sa_family == AF_INET6) {
		const uint8_t *a = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;

		memcpy(key, a, 16);
		/* One IPv6 host holds a whole /64 (SLAAC, privacy addresses): counted per
		 * address, a single attacker would have no limit. IPv4-mapped stays whole. */
		if (!IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)a))
			memset(key + 8, 0, 8);
		return true;
	}
	return false;
}

static struct failures *find(const struct sockaddr *peer, double now, double period)
{
	struct failures *f;
	uint8_t key[16];

	if (!key_of(peer, key))
		return NULL;
	HASH_FIND(hh, table, key, sizeof(key), f);
	if (f != NULL && now - f->since >= period) {
		HASH_DEL(table, f);
		free(f);
		f = NULL;
	}
	return f;
}

bool pgw_auth_throttled(const struct sockaddr *peer, double now, int limit, double period,
			double *retry_in)
{
	struct failures *f;

	if (limit <= 0 || (f = find(peer, now, period)) == NULL || f->count < limit)
		return false;
	*retry_in = period - (now - f->since);
	return true;
}

/* Makes room by dropping the entries in insertion order: the oldest periods. */
static void evict(void)
{
	struct failures *f, *tmp;
	unsigned drop = THROTTLE_MAX / 8;

	HASH_ITER (hh, table, f, tmp) {
		if (drop-- == 0)
			break;
		HASH_DEL(table, f);
		free(f);
	}
}

void pgw_auth_failure(const struct sockaddr *peer, double now, int limit, double period)
{
	struct failures *f;

	if (limit <= 0)
		return;
	if ((f = find(peer, now, period)) == NULL) {
		if (HASH_COUNT(table) >= THROTTLE_MAX)
			evict();
		if ((f = calloc(1, sizeof(*f))) == NULL)
			return; /* out of memory: this failure goes uncounted */
		key_of(peer, f->addr);
		f->since = now;
		HASH_ADD(hh, table, addr, sizeof(f->addr), f);
	}
	f->count++;
}

void pgw_auth_throttle_free(void)
{
	struct failures *f, *tmp;

	HASH_ITER (hh, table, f, tmp) {
		HASH_DEL(table, f);
		free(f);
	}
}
