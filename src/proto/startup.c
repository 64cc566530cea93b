/*
 * Initial-packet parsing. Bounded by PGW_STARTUP_MAX_LEN before anything is buffered
 * whole; every string is checked for its terminator.
 */
#include "pgward/startup.h"
#include "pgward/codec.h"
#include "pgward/rbuf.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

static enum pgw_initial_kind parse_params(const uint8_t *body, size_t len, struct pgw_startup *out)
{
	struct pgw_reader r;

	out->buf = malloc(len ? len : 1);
	if (out->buf == NULL)
		return PGW_INIT_MALFORMED;
	memcpy(out->buf, body, len);
	pgw_reader_init(&r, out->buf, len);
	for (;;) {
		const char *name = pgw_read_cstr(&r);
		const char *value;

		if (name == NULL)
			goto bad;
		if (name[0] == '\0')
			break;
		value = pgw_read_cstr(&r);
		if (value == NULL || out->nparams == PGW_STARTUP_MAX_PARAMS)
			goto bad;
		out->params[out->nparams].name = name;
		out->params[out->nparams].value = value;
		out->nparams++;
	}
	if (r.left != 0)
		goto bad;
	return PGW_INIT_STARTUP;
bad:
	pgw_startup_free(out);
	return PGW_INIT_MALFORMED;
}

enum pgw_initial_kind pgw_startup_parse(const uint8_t *pkt, size_t len, struct pgw_startup *out)
{
	struct pgw_reader r;
	uint32_t declared, code;

	memset(out, 0, sizeof(*out));
	pgw_reader_init(&r, pkt, len);
	declared = pgw_read_u32(&r);
	code = pgw_read_u32(&r);
	if (r.bad || declared != len || len < 8 || len > PGW_STARTUP_MAX_LEN)
		return PGW_INIT_BAD_LENGTH;
	switch (code) {
	case PGW_CODE_SSL:
		return len == 8 ? PGW_INIT_SSL : PGW_INIT_BAD_LENGTH;
	case PGW_CODE_GSSENC:
		return len == 8 ? PGW_INIT_GSSENC : PGW_INIT_BAD_LENGTH;
	case PGW_CODE_CANCEL:
		if (len != 16)
			return PGW_INIT_BAD_LENGTH;
		out->cancel_pid = pgw_read_u32(&r);
		out->cancel_key = pgw_read_u32(&r);
		return PGW_INIT_CANCEL;
	default:
		break;
	}
	if (PGW_PROTO_MAJOR(code) != 3) {
		out->version = code;
		return PGW_INIT_BAD_VERSION;
	}
	out->version = code;
	return parse_params(pkt + 8, len - 8, out);
}

enum pgw_initial_kind pgw_startup_read(struct pgw_rbuf *in, struct pgw_startup *out)
{
	size_t avail = pgw_rbuf_len(in);
	enum pgw_initial_kind kind;
	uint32_t len;

	if (avail < 4)
		return PGW_INIT_NEED_MORE;
	memcpy(&len, pgw_rbuf_data(in), 4);
	len = ntohl(len);
	if (len < 8 || len > PGW_STARTUP_MAX_LEN)
		return PGW_INIT_BAD_LENGTH;
	if (avail < len)
		return PGW_INIT_NEED_MORE;
	kind = pgw_startup_parse(pgw_rbuf_data(in), len, out);
	if (kind == PGW_INIT_STARTUP || kind == PGW_INIT_SSL || kind == PGW_INIT_GSSENC ||
	    kind == PGW_INIT_CANCEL)
		pgw_rbuf_drain(in, len);
	return kind;
}

const char *pgw_startup_get(const struct pgw_startup *st, const char *name)
{
	for (size_t i = 0; i < st->nparams; i++)
		if (strcmp(st->params[i].name, name) == 0)
			return st->params[i].value;
	return NULL;
}

void pgw_startup_free(struct pgw_startup *st)
{
	free(st->buf);
	memset(st, 0, sizeof(*st));
}
