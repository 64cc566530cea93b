/*
 * pg_hba.conf into rules, line by line as PostgreSQL 15's parse_hba_line reads it, with its
 * error messages. What pgward cannot honour exactly is refused here, naming the line, never
 * matched differently later: role membership (+group, samerole), host names (no DNS), methods
 * other than trust, reject, md5, password, scram-sha-256 and cert, and clientname=DN.
 */
#include "hba-int.h"
#include "pgward/hba.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pgw_hba {
	struct pgw_hba_rule *rules;
	size_t n;
};

/* The line being parsed, for its error messages. */
struct line_ctx {
	const char *name;
	int line;
	char *err;
	size_t errlen;
};

#define FAIL(c, ...) pgw_hba_fail((c)->err, (c)->errlen, (c)->name, (c)->line, __VA_ARGS__)

static const char *const method_names[] = {
	[PGW_AUTH_TRUST] = "trust",
	[PGW_AUTH_REJECT] = "reject",
	[PGW_AUTH_MD5] = "md5",
	[PGW_AUTH_PASSWORD] = "password",
	[PGW_AUTH_SCRAM] = "scram-sha-256",
	[PGW_AUTH_CERT] = "cert",
};

const char *pgw_auth_method_name(enum pgw_auth_method m)
{
	return (unsigned)m < PGW_ARRAY_LEN(method_names) ? method_names[m] : "?";
}

static const char *const conn_names[] = {
	[PGW_HBA_LOCAL] = "local",	     [PGW_HBA_HOST] = "host",
	[PGW_HBA_HOSTSSL] = "hostssl",	     [PGW_HBA_HOSTNOSSL] = "hostnossl",
	[PGW_HBA_HOSTGSSENC] = "hostgssenc", [PGW_HBA_HOSTNOGSSENC] = "hostnogssenc",
};

/* Methods PostgreSQL 15 knows and pgward does not implement. */
static const char *const other_methods[] = {"ident", "peer", "gss",  "sspi",
					    "pam",   "bsd",  "ldap", "radius"};

/* Options of PostgreSQL 15 for methods pgward refuses, with the methods it names for them. */
static const struct {
	const char *name, *methods;
} other_options[] = {
	{"pamservice", "pam"},
	{"pam_use_hostname", "pam"},
	{"ldapurl", "ldap"},
	{"ldaptls", "ldap"},
	{"ldapscheme", "ldap"},
	{"ldapserver", "ldap"},
	{"ldapport", "ldap"},
	{"ldapbinddn", "ldap"},
	{"ldapbindpasswd", "ldap"},
	{"ldapsearchattribute", "ldap"},
	{"ldapsearchfilter", "ldap"},
	{"ldapbasedn", "ldap"},
	{"ldapprefix", "ldap"},
	{"ldapsuffix", "ldap"},
	{"krb_realm", "gssapi and sspi"},
	{"include_realm", "gssapi and sspi"},
	{"compat_realm", "sspi"},
	{"upn_username", "sspi"},
	{"radiusservers", "radius"},
	{"radiusports", "radius"},
	{"radiussecrets", "radius"},
	{"radiusidentifiers", "radius"},
};

static bool is_keyword(const struct hba_token *t, const char *kw)
{
	return !t->quoted && strcmp(t->s, kw) == 0;
}

static void rule_free(struct pgw_hba_rule *r)
{
	for (size_t i = 0; i < r->ndatabases; i++)
		free(r->databases[i].name);
	free(r->databases);
	for (size_t i = 0; i < r->nusers; i++)
		free(r->users[i].name);
	free(r->users);
	free(r->map);
	memset(r, 0, sizeof(*r));
}

static int parse_conn(struct line_ctx *c, const struct hba_field *f, struct pgw_hba_rule *r)
{
	if (f->n > 1)
		return FAIL(c, "multiple values specified for connection type");
	for (size_t i = 0; i < PGW_ARRAY_LEN(conn_names); i++) {
		if (strcmp(f->tok[0].s, conn_names[i]) == 0) {
			r->conn = (enum pgw_hba_conn)i;
			return 0;
		}
	}
	return FAIL(c, "invalid connection type \"%s\"", f->tok[0].s);
}

/* A database (<db>) or user list. A leading quote makes a keyword a name, as in check_db. */
static int parse_names(struct line_ctx *c, const struct hba_field *f, bool db,
		       struct pgw_hba_name **out, size_t *nout)
{
	const struct hba_token *t;
	struct pgw_hba_name *names = calloc(f->n, sizeof(*names));

	if (names == NULL)
		return FAIL(c, "out of memory");
	*out = names;
	for (size_t i = 0; i < f->n; i++, (*nout)++) {
		t = &f->tok[i];
		if (is_keyword(t, "all")) {
			names[i].kind = PGW_HBA_ALL;
		} else if (db && is_keyword(t, "sameuser")) {
			names[i].kind = PGW_HBA_SAMEUSER;
		} else if (db && (is_keyword(t, "samerole") || is_keyword(t, "samegroup"))) {
			return FAIL(c,
				    "pgward does not support %s (role membership is known only to "
				    "the server)",
				    t->s);
		} else if (db && is_keyword(t, "replication")) {
			names[i].kind = PGW_HBA_REPLICATION;
		} else if (!db && !t->quoted && t->s[0] == '+') {
			return FAIL(
				c,
				"pgward does not support group \"%s\" (role membership is known "
				"only to the server)",
				t->s);
		} else if ((names[i].name = strdup(t->s)) == NULL) {
			return FAIL(c, "out of memory");
		}
	}
	return 0;
}

/* PostgreSQL's pg_sockaddr_cidr_mask: <numbits> NULL is the whole address. */
static int cidr_mask(struct sockaddr_storage *mask, const char *numbits, int family)
{
	long bits;
	char *end;

	memset(mask, 0, sizeof(*mask));
	if (numbits == NULL) {
		bits = family == AF_INET ? 32 : 128;
	} else {
		bits = strtol(numbits, &end, 10);
		if (*numbits == '\0' || *end != '\0')
			return -1;
	}
	if (family == AF_INET) {
		struct sockaddr_in *m = (struct sockaddr_in *)mask;

		if (bits < 0 || bits > 32)
			return -1;
		m->sin_family = AF_INET;
		m->sin_addr.s_addr = htonl(bits ? 0xffffffffu << (32 - bits) : 0);
		return 0;
	}
	if (family == AF_INET6) {
		struct sockaddr_in6 *m = (struct sockaddr_in6 *)mask;

		if (bits < 0 || bits > 128)
			return -1;
		m->sin6_family = AF_INET6;
		for (int i = 0; i < 16; i++, bits -= 8)
			m->sin6_addr.s6_addr[i] = bits <= 0   ? 0
						  : bits >= 8 ? 0xff
							      : (0xff << (8 - bits)) & 0xff;
		return 0;
	}
	return -1;
}

/* Numeric only (AI_NUMERICHOST): 0, or getaddrinfo's error. */
static int numeric_addr(const char *s, struct sockaddr_storage *out)
{
	struct addrinfo hints = {.ai_flags = AI_NUMERICHOST, .ai_family = AF_UNSPEC};
	struct addrinfo *res = NULL;
	int rc = getaddrinfo(s, NULL, &hints, &res);

	if (rc == 0 && res != NULL && res->ai_addrlen <= sizeof(*out)) {
		memset(out, 0, sizeof(*out));
		memcpy(out, res->ai_addr, res->ai_addrlen);
	} else if (rc == 0) {
		rc = EAI_FAMILY;
	}
	if (res != NULL)
		freeaddrinfo(res);
	return rc;
}

/* The address column, and the netmask column after it when the address has no /bits. */
static int parse_address(struct line_ctx *c, const struct hba_line *l, size_t *fi,
			 struct pgw_hba_rule *r)
{
	const struct hba_field *f = &l->field[*fi];
	const struct hba_token *t = &f->tok[0];
	char *str, *slash;
	int rc;

	if (f->n > 1)
		return FAIL(c, "multiple values specified for host address");
	if (is_keyword(t, "all")) {
		r->addr_kind = PGW_HBA_ADDR_ALL;
		return 0;
	}
	if (is_keyword(t, "samehost") || is_keyword(t, "samenet")) {
		r->addr_kind = t->s[4] == 'h' ? PGW_HBA_ADDR_SAMEHOST : PGW_HBA_ADDR_SAMENET;
		return 0;
	}
	r->addr_kind = PGW_HBA_ADDR_MASK;
	if ((str = strdup(t->s)) == NULL)
		return FAIL(c, "out of memory");
	if ((slash = strchr(str, '/')) != NULL)
		*slash = '\0';
	rc = numeric_addr(str, &r->addr);
	if (rc == EAI_NONAME) {
		/* PostgreSQL takes it for a host name and resolves it at every connection */
		FAIL(c,
		     "invalid IP address \"%s\": pgward does not look up host names (write an IP "
		     "address or a CIDR range)",
		     str);
		goto fail;
	}
	if (rc != 0) {
		FAIL(c, "invalid IP address \"%s\": %s", str, gai_strerror(rc));
		goto fail;
	}
	if (slash != NULL) {
		if (cidr_mask(&r->mask, slash + 1, r->addr.ss_family) < 0) {
			FAIL(c, "invalid CIDR mask in address \"%s\"", t->s);
			goto fail;
		}
		free(str);
		return 0;
	}
	free(str);
	if (++*fi >= l->n)
		return FAIL(c, "end-of-line before netmask specification");
	f = &l->field[*fi];
	if (f->n > 1)
		return FAIL(c, "multiple values specified for netmask");
	if ((rc = numeric_addr(f->tok[0].s, &r->mask)) != 0)
		return FAIL(c, "invalid IP mask \"%s\": %s", f->tok[0].s, gai_strerror(rc));
	if (r->mask.ss_family != r->addr.ss_family)
		return FAIL(c, "IP address and mask do not match");
	return 0;
fail:
	free(str);
	return -1;
}

static int parse_method(struct line_ctx *c, const struct hba_field *f, struct pgw_hba_rule *r)
{
	const char *s = f->tok[0].s;

	if (f->n > 1)
		return FAIL(c, "multiple values specified for authentication type");
	for (size_t i = 0; i < PGW_ARRAY_LEN(method_names); i++) {
		if (strcmp(s, method_names[i]) == 0) {
			r->method = (enum pgw_auth_method)i;
			if (r->method == PGW_AUTH_CERT && r->conn != PGW_HBA_HOSTSSL)
				return FAIL(c, "cert authentication is only supported on hostssl "
					       "connections");
			return 0;
		}
	}
	for (size_t i = 0; i < PGW_ARRAY_LEN(other_methods); i++)
		if (strcmp(s, other_methods[i]) == 0)
			return FAIL(c, "authentication method \"%s\" is not supported by pgward",
				    s);
	return FAIL(c, "invalid authentication method \"%s\"", s);
}

/* PostgreSQL's parse_hba_auth_opt, for what pgward supports: map, clientcert, clientname. */
static int parse_option(struct line_ctx *c, const char *name, const char *val,
			struct pgw_hba_rule *r)
{
	if (strcmp(name, "map") == 0) {
		if (r->method != PGW_AUTH_CERT)
			return FAIL(c,
				    "authentication option \"map\" is only valid for "
				    "authentication methods ident, peer, gssapi, sspi, and cert");
		free(r->map);
		r->map = NULL;
		/* map= with nothing is no map, as check_usermap reads it */
		if (val[0] != '\0' && (r->map = strdup(val)) == NULL)
			return FAIL(c, "out of memory");
		return 0;
	}
	if (strcmp(name, "clientcert") == 0 || strcmp(name, "clientname") == 0) {
		if (r->conn != PGW_HBA_HOSTSSL)
			return FAIL(c, "%s can only be configured for \"hostssl\" rows", name);
		if (name[6] == 'n') {
			if (strcmp(val, "DN") == 0)
				return FAIL(c, "pgward does not support clientname=DN (cert rules "
					       "and maps see the certificate's CN)");
			if (strcmp(val, "CN") != 0)
				return FAIL(c, "invalid value for clientname: \"%s\"", val);
			return 0;
		}
		if (strcmp(val, "verify-full") == 0) {
			r->clientcert = PGW_CLIENTCERT_VERIFY_FULL;
		} else if (strcmp(val, "verify-ca") == 0) {
			if (r->method == PGW_AUTH_CERT)
				return FAIL(c, "clientcert only accepts \"verify-full\" when using "
					       "\"cert\" authentication");
			r->clientcert = PGW_CLIENTCERT_VERIFY_CA;
		} else {
			return FAIL(c, "invalid value for clientcert: \"%s\"", val);
		}
		return 0;
	}
	for (size_t i = 0; i < PGW_ARRAY_LEN(other_options); i++)
		if (strcmp(name, other_options[i].name) == 0)
			return FAIL(c,
				    "authentication option \"%s\" is only valid for authentication "
				    "methods %s",
				    name, other_options[i].methods);
	return FAIL(c, "unrecognized authentication option name: \"%s\"", name);
}

static int parse_options(struct line_ctx *c, const struct hba_line *l, size_t fi,
			 struct pgw_hba_rule *r)
{
	for (; fi < l->n; fi++) {
		for (size_t i = 0; i < l->field[fi].n; i++) {
			const char *s = l->field[fi].tok[i].s, *eq = strchr(s, '=');
			char name[PGW_HBA_TOKEN_MAX];

			if (eq == NULL)
				return FAIL(c, "authentication option not in name=value format: %s",
					    s);
			snprintf(name, sizeof(name), "%.*s", (int)(eq - s), s);
			if (parse_option(c, name, eq + 1, r) != 0)
				return -1;
		}
	}
	return 0;
}

/* PostgreSQL's parse_hba_line. */
static int parse_line(struct line_ctx *c, const struct hba_line *l, struct pgw_hba_rule *r)
{
	size_t fi = 0;

	r->line = l->line;
	if (parse_conn(c, &l->field[fi], r) != 0)
		return -1;
	if (++fi >= l->n)
		return FAIL(c, "end-of-line before database specification");
	if (parse_names(c, &l->field[fi], true, &r->databases, &r->ndatabases) != 0)
		return -1;
	if (++fi >= l->n)
		return FAIL(c, "end-of-line before role specification");
	if (parse_names(c, &l->field[fi], false, &r->users, &r->nusers) != 0)
		return -1;
	if (r->conn != PGW_HBA_LOCAL) {
		if (++fi >= l->n)
			return FAIL(c, "end-of-line before IP address specification");
		if (parse_address(c, l, &fi, r) != 0)
			return -1;
	}
	if (++fi >= l->n)
		return FAIL(c, "end-of-line before authentication method");
	if (parse_method(c, &l->field[fi], r) != 0 || parse_options(c, l, fi + 1, r) != 0)
		return -1;
	/* the certificate is the credential: it must be valid and name the user */
	if (r->method == PGW_AUTH_CERT)
		r->clientcert = PGW_CLIENTCERT_VERIFY_FULL;
	return 0;
}

void pgw_hba_free(struct pgw_hba *h)
{
	if (h == NULL)
		return;
	for (size_t i = 0; i < h->n; i++)
		rule_free(&h->rules[i]);
	free(h->rules);
	free(h);
}

struct pgw_hba *pgw_hba_parse(const char *text, size_t len, const char *name, char *err,
			      size_t errlen)
{
	struct line_ctx c = {.name = name, .err = err, .errlen = errlen};
	struct hba_lines lines;
	struct pgw_hba *h;

	if (pgw_hba_tokenize(text, len, name, &lines, err, errlen) != 0)
		return NULL;
	h = calloc(1, sizeof(*h));
	if (h == NULL || (lines.n > 0 && (h->rules = calloc(lines.n, sizeof(*h->rules))) == NULL)) {
		pgw_hba_fail(err, errlen, name, 0, "out of memory");
		goto fail;
	}
	for (; h->n < lines.n; h->n++) {
		c.line = lines.line[h->n].line;
		if (parse_line(&c, &lines.line[h->n], &h->rules[h->n]) != 0) {
			h->n++; /* free what the failed rule holds too */
			goto fail;
		}
	}
	pgw_hba_lines_free(&lines);
	return h;
fail:
	pgw_hba_lines_free(&lines);
	pgw_hba_free(h);
	return NULL;
}

struct pgw_hba *pgw_hba_load(const char *path, char *err, size_t errlen)
{
	struct pgw_hba *h;
	char *text;
	size_t len;

	if (pgw_hba_read_file(path, &text, &len) != 0) {
		pgw_hba_fail(err, errlen, path, 0, "could not open configuration file: %s",
			     strerror(errno));
		return NULL;
	}
	h = pgw_hba_parse(text, len, path, err, errlen);
	free(text);
	return h;
}

size_t pgw_hba_count(const struct pgw_hba *h)
{
	return h != NULL ? h->n : 0;
}

const struct pgw_hba_rule *pgw_hba_rule_at(const struct pgw_hba *h, size_t i)
{
	return h != NULL && i < h->n ? &h->rules[i] : NULL;
}
