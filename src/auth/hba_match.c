/*
 * Which pg_hba.conf rule a login falls under: the first whose connection type, address,
 * database and user all match, in file order, as PostgreSQL 15's check_hba decides. No match
 * is no entry, never a default. Reads the machine's interfaces for samehost and samenet only.
 */
#include "pgward/hba.h"

#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

/* The machine's interfaces, read at most once per match and only if a rule needs them. */
struct ifaces {
	const struct pgw_hba_ifaddr *given;
	size_t ngiven;
	struct ifaddrs *sys;
	bool read;
	bool failed;
};

/* PostgreSQL's pg_range_sockaddr: the bits of <mask> agree in <peer> and <addr>. */
static bool check_ip(const struct sockaddr *peer, const struct sockaddr *addr,
		     const struct sockaddr *mask)
{
	if (peer->sa_family != addr->sa_family || mask->sa_family != addr->sa_family)
		return false;
	if (peer->sa_family == AF_INET) {
		const struct sockaddr_in *p = (const void *)peer, *a = (const void *)addr,
					 *m = (const void *)mask;

		return ((p->sin_addr.s_addr ^ a->sin_addr.s_addr) & m->sin_addr.s_addr) == 0;
	}
	if (peer->sa_family == AF_INET6) {
		const struct sockaddr_in6 *p = (const void *)peer, *a = (const void *)addr,
					  *m = (const void *)mask;

		for (int i = 0; i < 16; i++)
			if ((p->sin6_addr.s6_addr[i] ^ a->sin6_addr.s6_addr[i]) &
			    m->sin6_addr.s6_addr[i])
				return false;
		return true;
	}
	return false;
}

/* An all-ones mask of <family>. */
static void full_mask(struct sockaddr_storage *m, int family)
{
	memset(m, 0, sizeof(*m));
	m->ss_family = (sa_family_t)family;
	if (family == AF_INET)
		((struct sockaddr_in *)m)->sin_addr.s_addr = 0xffffffffu;
	else if (family == AF_INET6)
		memset(&((struct sockaddr_in6 *)m)->sin6_addr, 0xff, 16);
}

static bool zero_mask(const struct sockaddr *m)
{
	static const uint8_t zero[16];

	if (m->sa_family == AF_INET)
		return ((const struct sockaddr_in *)(const void *)m)->sin_addr.s_addr == 0;
	return memcmp(&((const struct sockaddr_in6 *)(const void *)m)->sin6_addr, zero, 16) == 0;
}

/*
 * PostgreSQL's check_network_callback, with run_ifaddr_callback's care for the mask: an
 * interface without a usable netmask (none, another family, all zeros) stands for its own
 * address only, or samenet would let the whole Internet in.
 */
static bool check_iface(const struct sockaddr *peer, const struct sockaddr *addr,
			const struct sockaddr *netmask, bool samehost)
{
	struct sockaddr_storage full;

	if (addr == NULL || (addr->sa_family != AF_INET && addr->sa_family != AF_INET6))
		return false;
	if (samehost || netmask == NULL || netmask->sa_family != addr->sa_family ||
	    zero_mask(netmask)) {
		full_mask(&full, addr->sa_family);
		netmask = (const struct sockaddr *)&full;
	}
	return check_ip(peer, addr, netmask);
}

static bool same_host_or_net(struct ifaces *ifs, const struct sockaddr *peer, bool samehost)
{
	if (ifs->given != NULL) {
		for (size_t i = 0; i < ifs->ngiven; i++)
			if (check_iface(peer, ifs->given[i].addr, ifs->given[i].netmask, samehost))
				return true;
		return false;
	}
	if (!ifs->read) {
		ifs->read = true;
		/* PostgreSQL logs and matches nothing: the same, without the log */
		ifs->failed = getifaddrs(&ifs->sys) != 0;
	}
	if (ifs->failed)
		return false;
	for (const struct ifaddrs *i = ifs->sys; i != NULL; i = i->ifa_next)
		if (check_iface(peer, i->ifa_addr, i->ifa_netmask, samehost))
			return true;
	return false;
}

static bool check_address(const struct pgw_hba_rule *r, const struct pgw_hba_query *q,
			  struct ifaces *ifs)
{
	if (r->addr_kind == PGW_HBA_ADDR_ALL)
		return true;
	if (q->peer == NULL || (q->peer->sa_family != AF_INET && q->peer->sa_family != AF_INET6))
		return false;
	switch (r->addr_kind) {
	case PGW_HBA_ADDR_MASK:
		return check_ip(q->peer, (const struct sockaddr *)&r->addr,
				(const struct sockaddr *)&r->mask);
	case PGW_HBA_ADDR_SAMEHOST:
	case PGW_HBA_ADDR_SAMENET:
		return same_host_or_net(ifs, q->peer, r->addr_kind == PGW_HBA_ADDR_SAMEHOST);
	default:
		return false;
	}
}

static bool check_conn(const struct pgw_hba_rule *r, const struct pgw_hba_query *q)
{
	if (r->conn == PGW_HBA_LOCAL || q->unix_socket)
		return r->conn == PGW_HBA_LOCAL && q->unix_socket;
	switch (r->conn) {
	case PGW_HBA_HOSTSSL:
		return q->tls;
	case PGW_HBA_HOSTNOSSL:
		return !q->tls;
	case PGW_HBA_HOSTGSSENC:
		return false; /* no connection to pgward is GSSAPI-encrypted */
	default:
		return true;
	}
}

static bool streq(const char *a, const char *b)
{
	return a != NULL && b != NULL && strcmp(a, b) == 0;
}

/* PostgreSQL's check_db. */
static bool check_db(const struct pgw_hba_rule *r, const struct pgw_hba_query *q)
{
	for (size_t i = 0; i < r->ndatabases; i++) {
		const struct pgw_hba_name *n = &r->databases[i];

		/* a physical walsender has no database: it matches the keyword alone */
		if (q->replication) {
			if (n->kind == PGW_HBA_REPLICATION)
				return true;
			continue;
		}
		switch (n->kind) {
		case PGW_HBA_ALL:
			return true;
		case PGW_HBA_SAMEUSER:
			if (streq(q->database, q->user))
				return true;
			break;
		case PGW_HBA_REPLICATION:
			break;
		case PGW_HBA_NAME:
			if (streq(n->name, q->database))
				return true;
			break;
		}
	}
	return false;
}

/* PostgreSQL's check_role, without +group (refused at load). */
static bool check_role(const struct pgw_hba_rule *r, const struct pgw_hba_query *q)
{
	for (size_t i = 0; i < r->nusers; i++)
		if (r->users[i].kind == PGW_HBA_ALL || streq(r->users[i].name, q->user))
			return true;
	return false;
}

const struct pgw_hba_rule *pgw_hba_match(const struct pgw_hba *h, const struct pgw_hba_query *q)
{
	struct ifaces ifs = {.given = q->ifaddrs, .ngiven = q->nifaddrs};
	const struct pgw_hba_rule *found = NULL;

	for (size_t i = 0; i < pgw_hba_count(h) && found == NULL; i++) {
		const struct pgw_hba_rule *r = pgw_hba_rule_at(h, i);

		if (check_conn(r, q) && (r->conn == PGW_HBA_LOCAL || check_address(r, q, &ifs)) &&
		    check_db(r, q) && check_role(r, q))
			found = r;
	}
	if (ifs.sys != NULL)
		freeifaddrs(ifs.sys);
	return found;
}
