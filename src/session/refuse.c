/*
 * Refusing a client message faithfully. The message is not dropped but replaced with one
 * that the server is sure to reject, and the server's ErrorResponse to it is swapped for
 * pgward's (tracker.h). So the server itself skips to Sync in the extended protocol,
 * marks an open transaction failed, and answers with ReadyForQuery, exactly as if it had
 * refused the original; and pgward's error lands where the server's would have.
 */
#include "session-int.h"

#include "pgward/codec.h"
#include "pgward/log.h"

#include <stdlib.h>
#include <string.h>
#include <event2/buffer.h>

/* A text every parser rejects, without side effects, locks or catalog access. */
static const char refused_sql[] = "pgward refused";
/* A name no client uses: Bind, Describe and Execute of it fail with "does not exist". */
static const char refused_name[] = "pgward.refused";

/* Appends the stand-in for a refused message of <type>; false if there is none. */
static bool add_substitute(struct evbuffer *out, char type, const char *stmt_name)
{
	switch (type) {
	case 'Q':
		pgw_msg_header(out, 'Q', sizeof(refused_sql));
		pgw_put_cstr(out, refused_sql);
		return true;
	case 'P': /* the client's statement name, so no other statement is touched */
		pgw_msg_header(out, 'P',
			       (uint32_t)(strlen(stmt_name) + 1 + sizeof(refused_sql) + 2));
		pgw_put_cstr(out, stmt_name);
		pgw_put_cstr(out, refused_sql);
		pgw_put_u16(out, 0);
		return true;
	case 'B':
		pgw_msg_header(out, 'B', 1 + sizeof(refused_name) + 6);
		pgw_put_cstr(out, "");
		pgw_put_cstr(out, refused_name);
		pgw_put_u16(out, 0); /* format codes */
		pgw_put_u16(out, 0); /* parameters */
		pgw_put_u16(out, 0); /* result format codes */
		return true;
	case 'D':
	case 'C': /* closing a missing statement is no error, describing one is */
		pgw_msg_header(out, 'D', 1 + sizeof(refused_name));
		evbuffer_add(out, "S", 1);
		pgw_put_cstr(out, refused_name);
		return true;
	case 'E':
		pgw_msg_header(out, 'E', sizeof(refused_name) + 4);
		pgw_put_cstr(out, refused_name);
		evbuffer_add(out, "\0\0\0\0", 4);
		return true;
	case 'F': /* function OID 0 does not exist */
		pgw_msg_header(out, 'F', 10);
		evbuffer_add(out, "\0\0\0\0\0\0\0\0\0\0", 10);
		return true;
	case 'd': /* ends the COPY with an error */
		pgw_msg_header(out, 'f', sizeof(refused_sql));
		pgw_put_cstr(out, refused_sql);
		return true;
	default:
		return false;
	}
}

static uint8_t *error_bytes(const struct pgw_refusal *r, uint32_t *len)
{
	struct evbuffer *b = evbuffer_new();
	uint8_t *bytes = NULL;

	if (b == NULL)
		return NULL;
	pgw_msg_error(b, "ERROR", r->sqlstate, r->message, r->hint[0] ? r->hint : NULL);
	*len = (uint32_t)evbuffer_get_length(b);
	bytes = malloc(*len);
	if (bytes != NULL)
		evbuffer_remove(b, bytes, *len);
	evbuffer_free(b);
	return bytes;
}

bool pgw_sess_refuse(struct pgw_session *s, char type, const char *stmt_name,
		     const struct pgw_refusal *r)
{
	uint32_t len = 0;
	uint8_t *err;
	char tracked = type == 'C' ? 'D' : type;

	pgw_info(s->id, "refused", "rule=%s sqlstate=%s type=%c", r->rule, r->sqlstate, type);
	s->refused++;
	pgw_metrics_refused(&s->metrics, type, r->rule);
	if (!add_substitute(s->srv->conn.out, type, stmt_name ? stmt_name : "")) {
		pgw_sess_fail(s, r->sqlstate, "%s", r->message);
		return false;
	}
	err = error_bytes(r, &len);
	if (err == NULL) {
		pgw_sess_fail(s, "53200", "pgward: out of memory");
		return false;
	}
	if (type == 'd') {
		/* CopyData is answered as part of the COPY's own request. */
		pgw_tracker_replace_newest(&s->srv->tracker, err, len);
		s->copy_refused = true;
		return true;
	}
	if (pgw_tracker_push(&s->srv->tracker, tracked, PGW_RESP_REPLACE, err, len) < 0) {
		pgw_sess_fail(s, "53200", "pgward: out of memory");
		return false;
	}
	return true;
}
