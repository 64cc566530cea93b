/*
 * pool_mode = transaction: the statements pgward prepares on servers for its clients' named
 * Parses. A client's name means nothing to a server it may not hold tomorrow, so each
 * distinct statement (its text and parameter types, byte for byte) is interned once,
 * gets a name of pgward's on every server (pgward_<id>), and is shared by every client and
 * server that has it. Each server keeps a bounded set of the ones it holds, least recently
 * used first out. Pure: no sockets; what a server holds is what pgward sent it.
 */
#ifndef PGWARD_PREPARED_H
#define PGWARD_PREPARED_H

#include "pgward/common.h"

#include <uthash.h>

/* The prefix of pgward's own names on servers: a client's name with it is never sent. */
#define PGW_PREPARED_PREFIX   "pgward"
#define PGW_PREPARED_NAME_MAX 32

struct pgw_prepared {
	uint64_t id;			  /* its name on every server: pgward_<id> */
	char name[PGW_PREPARED_NAME_MAX]; /* ...that name, made once */
	uint32_t refs;
	uint32_t len;	     /* of body */
	const uint8_t *body; /* a Parse's body after the statement name: text, NUL, types;
				sql: name_at (4 bytes), then the PREPARE's text without its name,
				which goes at name_at */
	bool sql;	     /* prepared by a PREPARE in SQL (pgw_prepared_intern_sql) */
	uint32_t name_at;
	uint32_t keylen;
	UT_hash_handle hh;
	uint8_t key[]; /* the scope's length (4 bytes), the scope, then the body */
};

/*
 * The statement whose Parse body is the <len> bytes at <body>, among those of <scope> (the
 * <scope_len> bytes naming a database, a user and a tenant context: two pools or tenants
 * never share one, nor learn whether the other prepared a text), referenced; NULL out of
 * memory.
 */
struct pgw_prepared *pgw_prepared_intern(const char *scope, size_t scope_len, const uint8_t *body,
					 size_t len);
/*
 * The statement a client's PREPARE <text> (<len> bytes, its name the <name_len> bytes at
 * <name_at>) makes, among those of <scope>; never one a Parse makes. Referenced; NULL out of
 * memory.
 */
struct pgw_prepared *pgw_prepared_intern_sql(const char *scope, size_t scope_len, const char *text,
					     size_t len, size_t name_at, size_t name_len);
/* The PREPARE that makes a statement of pgw_prepared_intern_sql's under pgward's name:
 * malloc'd, NUL-terminated; NULL out of memory. */
char *pgw_prepared_sql_text(const struct pgw_prepared *p);

/* The name on servers of the statement numbered <id>. */
void pgw_prepared_format_name(uint64_t id, char buf[PGW_PREPARED_NAME_MAX]);
struct pgw_prepared *pgw_prepared_ref(struct pgw_prepared *p);
/* Drops a reference; the last one frees it. NULL is fine. */
void pgw_prepared_unref(struct pgw_prepared *p);
/* Statements interned now (for tests and SHOW). */
size_t pgw_prepared_count(void);

/* One statement a server holds. */
struct pgw_held_stmt {
	struct pgw_prepared *stmt;	   /* referenced */
	struct pgw_held_stmt *prev, *next; /* most recently used first */
	UT_hash_handle hh;		   /* by stmt->id */
};

/* The statements of pgward's a server holds; zero-initialised is empty. */
struct pgw_held_stmts {
	struct pgw_held_stmt *by_id;
	struct pgw_held_stmt *lru;
	size_t count;
	size_t bytes; /* of their bodies: what keeps them alive in pgward's memory */
	/* closed by pgward, but the server skipped the Close (an error earlier in its batch):
	 * closed again with the next Parse of pgward's */
	uint64_t lost[16];
	uint8_t nlost;
};
/* A server keeps no more than this many bytes of statements, whatever their number. */
#define PGW_HELD_BYTES_MAX (4u << 20)

/* Whether the server holds <p>; if so it becomes the most recently used. */
bool pgw_held_use(struct pgw_held_stmts *h, const struct pgw_prepared *p);
/* Records that the server was sent <p>'s Parse. 0, or -1 out of memory (nothing recorded). */
int pgw_held_add(struct pgw_held_stmts *h, struct pgw_prepared *p) PGW_MUSTCHECK;
/* The least recently used one, which the caller closes on the server, when more than <max>
 * are held or they weigh more than PGW_HELD_BYTES_MAX; forgotten here, and the caller's
 * reference. NULL: none to close. */
struct pgw_prepared *pgw_held_evict(struct pgw_held_stmts *h, size_t max);
/* Forgets the statement with <id> (the server did not prepare it after all). */
void pgw_held_forget(struct pgw_held_stmts *h, uint64_t id);
/* Forgets all: the server's statements may be gone (DISCARD ALL, DEALLOCATE ALL). A
 * statement forgotten while the server still holds it is harmless: pgward closes a name
 * before it prepares it. */
void pgw_held_clear(struct pgw_held_stmts *h);

#endif
