/*
 * auth_hba_file and auth_ident_file: pg_hba.conf and pg_ident.conf read exactly as
 * PostgreSQL 15 reads them (hba.c), and the first rule that matches a login picked as its
 * check_hba picks it. Pure: no sockets and no DNS; what pgward cannot decide alone (role
 * membership, host names, other methods) fails the load instead of matching differently.
 */
#ifndef PGWARD_HBA_H
#define PGWARD_HBA_H

#include "pgward/common.h"

#include <sys/socket.h>

/* pgw_login_counts (auth.h) counts by method: PGW_AUTH_CERT must stay the last. */
enum pgw_auth_method {
	PGW_AUTH_TRUST = 0,
	PGW_AUTH_REJECT,
	PGW_AUTH_MD5,
	PGW_AUTH_PASSWORD,
	PGW_AUTH_SCRAM,
	PGW_AUTH_CERT,
};
/* As pg_hba.conf spells it: "trust", "reject", "md5", "password", "scram-sha-256", "cert". */
const char *pgw_auth_method_name(enum pgw_auth_method m);

/* pgward has no GSSAPI, so it treats hostgssenc and hostnogssenc as a PostgreSQL built
 * without it does: the first never matches, the second matches as host does. */
enum pgw_hba_conn {
	PGW_HBA_LOCAL,
	PGW_HBA_HOST,
	PGW_HBA_HOSTSSL,
	PGW_HBA_HOSTNOSSL,
	PGW_HBA_HOSTGSSENC,
	PGW_HBA_HOSTNOGSSENC,
};

enum pgw_clientcert {
	PGW_CLIENTCERT_NONE = 0,
	PGW_CLIENTCERT_VERIFY_CA,
	PGW_CLIENTCERT_VERIFY_FULL
};

/* An entry of a database or user list. */
enum pgw_hba_name_kind {
	PGW_HBA_NAME = 0,    /* <name> exactly ("all" in quotes is a name too) */
	PGW_HBA_ALL,	     /* all */
	PGW_HBA_SAMEUSER,    /* sameuser: the database named as the user (databases only) */
	PGW_HBA_REPLICATION, /* replication: physical replication only (databases only) */
};
struct pgw_hba_name {
	enum pgw_hba_name_kind kind;
	char *name; /* PGW_HBA_NAME only */
};

enum pgw_hba_addr {
	PGW_HBA_ADDR_NONE = 0, /* local rules have no address */
	PGW_HBA_ADDR_ALL,
	PGW_HBA_ADDR_MASK,     /* <addr> and <mask> (CIDR or a netmask column) */
	PGW_HBA_ADDR_SAMEHOST, /* any address of this machine's interfaces */
	PGW_HBA_ADDR_SAMENET,  /* any address on the subnets of this machine's interfaces */
};

struct pgw_hba_rule {
	int line; /* in its file, for logs */
	enum pgw_hba_conn conn;
	enum pgw_auth_method method;
	enum pgw_clientcert clientcert; /* cert implies verify-full */
	char *map;			/* map=, or NULL */
	struct pgw_hba_name *databases;
	size_t ndatabases;
	struct pgw_hba_name *users;
	size_t nusers;
	enum pgw_hba_addr addr_kind;
	struct sockaddr_storage addr, mask; /* PGW_HBA_ADDR_MASK: same family */
};

struct pgw_hba;

/*
 * Parses <text> (the contents of file <name>, used in messages and to find "@file" includes,
 * which are relative to <name>'s directory). NULL with "<name>:<line>: <message>" in <err>;
 * an error inside an included file names that file and its line. A file with no rule is
 * valid and matches nothing.
 */
struct pgw_hba *pgw_hba_parse(const char *text, size_t len, const char *name, char *err,
			      size_t errlen) PGW_MUSTCHECK;
struct pgw_hba *pgw_hba_load(const char *path, char *err, size_t errlen) PGW_MUSTCHECK;
void pgw_hba_free(struct pgw_hba *h);
size_t pgw_hba_count(const struct pgw_hba *h);
/* The rules in file order: for SHOW commands and logs. */
const struct pgw_hba_rule *pgw_hba_rule_at(const struct pgw_hba *h, size_t i);

/* An address of one of this machine's interfaces, for samehost and samenet. */
struct pgw_hba_ifaddr {
	const struct sockaddr *addr;
	const struct sockaddr *netmask; /* NULL or 0.0.0.0 / :: : the address alone */
};

struct pgw_hba_query {
	bool tls;	  /* the client's connection is TLS */
	bool unix_socket; /* local connection (pgward listens on TCP only today: false) */
	const struct sockaddr *peer; /* AF_INET or AF_INET6. As in PostgreSQL, an IPv4-mapped
					IPv6 address (::ffff:a.b.c.d) matches IPv6 rules only */
	const char *database;	     /* as the server will see it ("" for physical replication) */
	const char *user;
	/* Physical replication (replication=true in the startup packet): matches only the
	 * "replication" keyword. replication=database is a logical walsender connected to
	 * <database>, which PostgreSQL matches as an ordinary connection: false. */
	bool replication;
	/* samehost and samenet: NULL reads the interfaces with getifaddrs(3) when a rule needs
	 * them, as PostgreSQL does at each connection; tests pass their own. */
	const struct pgw_hba_ifaddr *ifaddrs;
	size_t nifaddrs;
};

/* The first rule that matches, as PostgreSQL's check_hba picks it, or NULL (no match: the
 * caller refuses with 28000 "no pg_hba.conf entry for host ..."). */
const struct pgw_hba_rule *pgw_hba_match(const struct pgw_hba *h, const struct pgw_hba_query *q);

/* pg_ident.conf: MAPNAME SYSTEM-USERNAME PG-USERNAME; a system name starting with '/' is a
 * POSIX extended regular expression, and "\1" in the PG name is its first subexpression. */
struct pgw_ident;
struct pgw_ident *pgw_ident_parse(const char *text, size_t len, const char *name, char *err,
				  size_t errlen) PGW_MUSTCHECK;
struct pgw_ident *pgw_ident_load(const char *path, char *err, size_t errlen) PGW_MUSTCHECK;
void pgw_ident_free(struct pgw_ident *m);
/*
 * Does map <map> allow system user <system_user> (the certificate's CN) to log in as
 * <pg_user>? Case-sensitive, as PostgreSQL's cert method. <map> NULL or "" means no map:
 * the names must be equal. <m> may be NULL (no ident file): then no map allows anything.
 */
bool pgw_ident_allows(const struct pgw_ident *m, const char *map, const char *system_user,
		      const char *pg_user);
/* Whether <m> has a line for <map>, to warn about a map= that can never allow anyone. */
bool pgw_ident_has_map(const struct pgw_ident *m, const char *map);

#endif
