/*
 * The untyped packets a client sends first: StartupMessage, SSLRequest, GSSENCRequest,
 * CancelRequest. Parsing copies what it keeps, so the packet may be freed afterwards. What
 * the parameters mean is startup_view.h's: nothing here is sent on to a server.
 */
#ifndef PGWARD_STARTUP_H
#define PGWARD_STARTUP_H

#include "pgward/common.h"

struct pgw_rbuf;

#define PGW_STARTUP_MAX_LEN    10000 /* PostgreSQL's MAX_STARTUP_PACKET_LENGTH */
#define PGW_STARTUP_MAX_PARAMS 64
#define PGW_CODE_CANCEL	       80877102u
#define PGW_CODE_SSL	       80877103u
#define PGW_CODE_GSSENC	       80877104u
#define PGW_PROTO_MAJOR(v)     ((v) >> 16)
#define PGW_PROTO_3_0	       0x00030000u

enum pgw_initial_kind {
	PGW_INIT_NEED_MORE = 0,
	PGW_INIT_STARTUP,
	PGW_INIT_SSL,
	PGW_INIT_GSSENC,
	PGW_INIT_CANCEL,
	PGW_INIT_BAD_LENGTH,  /* < 8, > PGW_STARTUP_MAX_LEN, or wrong for the code */
	PGW_INIT_BAD_VERSION, /* a protocol other than 3.x */
	PGW_INIT_MALFORMED,   /* parameters not NUL-terminated pairs */
};

struct pgw_startup_param {
	const char *name; /* both point into pgw_startup.buf */
	const char *value;
};

struct pgw_startup {
	uint32_t version; /* StartupMessage: the protocol the client asked for */
	char *buf;	  /* owned copy of the parameter area */
	size_t nparams;
	struct pgw_startup_param params[PGW_STARTUP_MAX_PARAMS];
	uint32_t cancel_pid; /* CancelRequest */
	uint32_t cancel_key;
};

/*
 * Looks at the first packet waiting in <in>; consumes it only when the result is
 * STARTUP, SSL, GSSENC or CANCEL. On STARTUP fills <out> (free with pgw_startup_free).
 */
enum pgw_initial_kind pgw_startup_read(struct pgw_rbuf *in, struct pgw_startup *out);

/* Parses one whole packet (length word included) from memory: the core of the above. */
enum pgw_initial_kind pgw_startup_parse(const uint8_t *pkt, size_t len, struct pgw_startup *out);

/* Value of the first parameter <name>, or NULL. For tests and fuzzers only: every decision
 * reads the canonical view (startup_view.h), which refuses a repeated key. */
const char *pgw_startup_get(const struct pgw_startup *st, const char *name);

void pgw_startup_free(struct pgw_startup *st);

#endif
