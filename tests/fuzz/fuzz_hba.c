/*
 * libFuzzer target for the authentication files: the same bytes as pg_hba.conf,
 * pg_ident.conf and userlist.txt. Each either parses, and then answers every question
 * consistently, or fails with "file:line: message"; nothing leaks or reads out of bounds.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pgward/auth_file.h"
#include "pgward/hba.h"

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond))                                                                       \
			abort();                                                                   \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Relative "@file" includes resolve into a directory that does not exist. */
static const char name[] = "/nonexistent-pgward-fuzz/pg_hba.conf";

/* "<file>:<line>: <message>", the file being ours or one it included. */
static void check_error(const char *err)
{
	const char *colon = strchr(err, ':');

	CHECK(colon != NULL && colon > err);
	CHECK(colon[1] >= '0' && colon[1] <= '9');
	CHECK(strstr(colon + 1, ": ") != NULL);
}

static const char *const names[] = {
	"", "all", "alice", "postgres", "replication", "sameuser", "app.example.com", "\\1", "x"};
#define NNAMES (sizeof(names) / sizeof(names[0]))

static void check_hba(const struct pgw_hba *h, size_t size)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6};
	struct sockaddr_in mask = {.sin_family = AF_INET};
	struct pgw_hba_ifaddr ifs[1] = {{(struct sockaddr *)&sin, (struct sockaddr *)&mask}};
	const struct sockaddr *peers[] = {(struct sockaddr *)&sin, (struct sockaddr *)&sin6};
	const struct pgw_hba_rule *r, *again;

	inet_pton(AF_INET, "10.1.2.3", &sin.sin_addr);
	inet_pton(AF_INET, "255.255.0.0", &mask.sin_addr);
	inet_pton(AF_INET6, "fe80::1", &sin6.sin6_addr);
	for (size_t i = 0; i < pgw_hba_count(h); i++) {
		r = pgw_hba_rule_at(h, i);
		/* a line number within the text, in file order */
		CHECK(r->line >= 1 && (size_t)r->line <= size + 1);
		CHECK(i == 0 || r->line > pgw_hba_rule_at(h, i - 1)->line);
		CHECK(r->ndatabases > 0 && r->nusers > 0);
		CHECK(r->method != PGW_AUTH_CERT ||
		      (r->conn == PGW_HBA_HOSTSSL && r->clientcert == PGW_CLIENTCERT_VERIFY_FULL));
		CHECK(r->map == NULL || r->method == PGW_AUTH_CERT);
		CHECK((r->conn == PGW_HBA_LOCAL) == (r->addr_kind == PGW_HBA_ADDR_NONE));
	}
	for (unsigned v = 0; v < 64; v++) {
		struct pgw_hba_query q = {
			.tls = v & 1,
			.replication = (v >> 1) & 1,
			.peer = peers[(v >> 2) & 1],
			.database = names[v % NNAMES],
			.user = names[(v / 3) % NNAMES],
			.ifaddrs = ifs,
			.nifaddrs = 1,
		};

		r = pgw_hba_match(h, &q);
		again = pgw_hba_match(h, &q);
		CHECK(r == again);
		if (r == NULL)
			continue;
		CHECK(r->conn != PGW_HBA_LOCAL && r->conn != PGW_HBA_HOSTGSSENC);
		CHECK(r->conn != PGW_HBA_HOSTSSL || q.tls);
		CHECK(r->conn != PGW_HBA_HOSTNOSSL || !q.tls);
	}
}

static void check_ident(const struct pgw_ident *m)
{
	for (size_t i = 0; i < NNAMES; i++) {
		(void)pgw_ident_has_map(m, names[i]);
		for (size_t j = 0; j < NNAMES; j++)
			CHECK(pgw_ident_allows(m, names[i], names[j], names[(i + j) % NNAMES]) ==
			      pgw_ident_allows(m, names[i], names[j], names[(i + j) % NNAMES]));
	}
	CHECK(pgw_ident_allows(m, NULL, "alice", "alice"));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	char err[1024] = "";
	struct pgw_hba *h;
	struct pgw_ident *m;
	struct pgw_auth_file *f;
	const char *s;

	h = pgw_hba_parse(text, size, name, err, sizeof(err));
	if (h == NULL)
		check_error(err);
	else
		check_hba(h, size);
	pgw_hba_free(h);

	m = pgw_ident_parse(text, size, name, err, sizeof(err));
	if (m == NULL)
		check_error(err);
	else
		check_ident(m);
	pgw_ident_free(m);

	f = pgw_auth_file_parse(text, size, "userlist.txt", err, sizeof(err));
	if (f == NULL) {
		CHECK(strncmp(err, "userlist.txt:", 13) == 0);
		return 0;
	}
	/* every entry takes at least 4 bytes: "" "" */
	CHECK(pgw_auth_file_count(f) <= size / 4);
	for (size_t i = 0; i < NNAMES; i++)
		if ((s = pgw_auth_file_lookup(f, names[i])) != NULL)
			CHECK(strlen(s) <= PGW_AUTH_FILE_PASSWORD_MAX);
	pgw_auth_file_free(f);
	return 0;
}
