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

/* The stand-in for a refused message of <type> into <m>; false if there is none. */
static bool substitute(char type, const char *stmt_name, struct pgw_own_msg *m)
{
	switch (type) {
	case 'Q':
	case 'd': /* a CopyFail ends the COPY with an error */
		*m = (struct pgw_own_msg){.type = type == 'd' ? 'f' : 'Q', .text = refused_sql};
		return true;
	case 'P': /* the client's statement name, so no other statement is touched */
		*m = (struct pgw_own_msg){.type = 'P', .name = stmt_name, .text = refused_sql};
		return true;
	case 'B':
		*m = (struct pgw_own_msg){.type = 'B', .stmt = refused_name};
		return true;
	case 'D':
	case 'C': /* closing a missing statement is no error, describing one is */
		*m = (struct pgw_own_msg){.type = 'D', .kind = 'S', .name = refused_name};
		return true;
	case 'E':
		*m = (struct pgw_own_msg){.type = 'E', .name = refused_name};
		return true;
	case 'F': /* function OID 0 does not exist */
		*m = (struct pgw_own_msg){.type = 'F'};
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
	struct pgw_own_answer a = {.action = PGW_RESP_REPLACE};
	struct pgw_own_msg m;

	pgw_info(s->id, "refused", "rule=%s sqlstate=%s type=%c", r->rule, r->sqlstate, type);
	s->refused++;
	pgw_metrics_refused(&s->metrics, type, r->rule);
	if (!substitute(type, stmt_name ? stmt_name : "", &m)) {
		pgw_sess_fail(s, r->sqlstate, "%s", r->message);
		return false;
	}
	if ((a.error = error_bytes(r, &a.error_len)) == NULL ||
	    pgw_server_own(s->srv, &m, &a) < 0) {
		pgw_sess_fail(s, "53200", "pgward: out of memory");
		return false;
	}
	s->copy_refused |= type == 'd';
	return true;
}
