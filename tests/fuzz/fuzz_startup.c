/*
 * libFuzzer target for the first packets a client sends: pgw_startup_parse on the input
 * (a StartupMessage pgward accepts must rebuild to a packet that reads back to the same
 * canonical view), then pgw_startup_read on
 * the same bytes fed in pieces, which must agree with the parse of the declared packet.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <event2/buffer.h>

#include "pgward/rbuf.h"
#include "pgward/startup.h"
#include "pgward/startup_view.h"

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond))                                                                       \
			abort();                                                                   \
	} while (0)

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static bool consumes(enum pgw_initial_kind k)
{
	return k == PGW_INIT_STARTUP || k == PGW_INIT_SSL || k == PGW_INIT_GSSENC ||
	       k == PGW_INIT_CANCEL;
}

static bool same_view(const struct pgw_startup_view *a, const struct pgw_startup_view *b)
{
	if (strcmp(a->user, b->user) != 0 || strcmp(a->database, b->database) != 0 ||
	    a->replication != b->replication || a->nsettings != b->nsettings ||
	    a->nproto != b->nproto || a->version != b->version)
		return false;
	for (size_t i = 0; i < a->nsettings; i++) {
		int j = pgw_startup_view_find(b, a->settings[i].name);

		if (j < 0 || strcmp(a->settings[i].value, b->settings[j].value) != 0)
			return false;
	}
	for (size_t i = 0; i < a->nproto; i++)
		if (strcmp(a->proto[i].name, b->proto[i].name) != 0 ||
		    strcmp(a->proto[i].value, b->proto[i].value) != 0)
			return false;
	return true;
}

/*
 * The canonical view of a parsed StartupMessage: when pgward accepts the packet, the packet
 * it rebuilds (what the server gets) is no longer than the client's, carries no options,
 * and reads back to the very same view.
 */
static void check_view(const struct pgw_startup *st, size_t len, struct evbuffer *out)
{
	struct pgw_startup_view v, again;
	struct pgw_startup_error err;
	struct pgw_startup back;
	size_t n;

	if (pgw_startup_view_build(st, &v, &err) < 0) {
		CHECK(err.sqlstate != NULL && strlen(err.sqlstate) == 5 && err.message[0] != '\0');
		pgw_startup_view_free(&v);
		return;
	}
	CHECK(v.user[0] != '\0' && strlen(v.user) <= PGW_NAME_MAX);
	CHECK(strlen(v.database) <= PGW_NAME_MAX);
	pgw_startup_view_write(&v, out);
	n = evbuffer_get_length(out);
	CHECK(n <= len);
	CHECK(pgw_startup_parse(evbuffer_pullup(out, -1), n, &back) == PGW_INIT_STARTUP);
	CHECK(pgw_startup_get(&back, "options") == NULL);
	CHECK(pgw_startup_view_build(&back, &again, &err) == 0);
	CHECK(same_view(&v, &again));
	pgw_startup_view_free(&again);
	pgw_startup_free(&back);
	pgw_startup_view_free(&v);
}

/* Parses <pkt> and checks everything the result promises. Returns the kind. */
static enum pgw_initial_kind parse_checked(const uint8_t *pkt, size_t len)
{
	struct pgw_startup st;
	enum pgw_initial_kind kind = pgw_startup_parse(pkt, len, &st);
	struct evbuffer *out;

	switch (kind) {
	case PGW_INIT_STARTUP:
		CHECK(len >= 9 && len <= PGW_STARTUP_MAX_LEN && be32(pkt) == len);
		CHECK(PGW_PROTO_MAJOR(st.version) == 3 && st.version == be32(pkt + 4));
		CHECK(st.nparams <= PGW_STARTUP_MAX_PARAMS);
		for (size_t i = 0; i < st.nparams; i++) {
			CHECK(st.params[i].name[0] != '\0');
			CHECK(pgw_startup_get(&st, st.params[i].name) != NULL);
		}
		out = evbuffer_new();
		CHECK(out != NULL);
		check_view(&st, len, out);
		evbuffer_free(out);
		pgw_startup_free(&st);
		break;
	case PGW_INIT_SSL:
		CHECK(len == 8 && be32(pkt) == 8 && be32(pkt + 4) == PGW_CODE_SSL);
		break;
	case PGW_INIT_GSSENC:
		CHECK(len == 8 && be32(pkt) == 8 && be32(pkt + 4) == PGW_CODE_GSSENC);
		break;
	case PGW_INIT_CANCEL:
		CHECK(len == 16 && be32(pkt) == 16 && be32(pkt + 4) == PGW_CODE_CANCEL);
		CHECK(st.cancel_pid == be32(pkt + 8) && st.cancel_key == be32(pkt + 12));
		break;
	case PGW_INIT_BAD_VERSION:
		CHECK(len >= 8 && PGW_PROTO_MAJOR(st.version) != 3 && st.version == be32(pkt + 4));
		break;
	case PGW_INIT_BAD_LENGTH:
	case PGW_INIT_MALFORMED:
		break;
	case PGW_INIT_NEED_MORE:
	default:
		abort(); /* parse has the whole packet: it never needs more */
	}
	if (kind != PGW_INIT_STARTUP)
		CHECK(st.buf == NULL && st.nparams == 0);
	return kind;
}

/*
 * Reads every packet waiting in <in>, as handshake.c would, checking each result against
 * parse_checked on the declared packet. Returns false when the session would close.
 */
static bool read_all(struct pgw_rbuf *in, const uint8_t *data, size_t *pos)
{
	for (;;) {
		size_t avail = pgw_rbuf_len(in);
		enum pgw_initial_kind kind, want;
		struct pgw_startup st;
		uint32_t declared = 0;

		if (avail < 4) {
			want = PGW_INIT_NEED_MORE;
		} else {
			declared = be32(data + *pos);
			if (declared < 8 || declared > PGW_STARTUP_MAX_LEN)
				want = PGW_INIT_BAD_LENGTH;
			else if (avail < declared)
				want = PGW_INIT_NEED_MORE;
			else
				want = parse_checked(data + *pos, declared);
		}
		kind = pgw_startup_read(in, &st);
		CHECK(kind == want);
		if (kind == PGW_INIT_STARTUP)
			pgw_startup_free(&st);
		if (!consumes(kind)) {
			CHECK(pgw_rbuf_len(in) == avail);
			return kind == PGW_INIT_NEED_MORE;
		}
		CHECK(pgw_rbuf_len(in) == avail - declared);
		*pos += declared;
	}
}

/* Feeds <data> in pieces whose sizes derive from data[0], one read each. */
static void fuzz_read(const uint8_t *data, size_t size)
{
	struct pgw_rbuf in = {0};
	uint32_t seed = size > 0 ? data[0] * 2654435761u + 7 : 7;
	size_t fed = 0, pos = 0;

	while (fed < size) {
		size_t n;

		seed = seed * 1103515245u + 12345u;
		n = 1 + (seed >> 16) % 32;
		if (n > size - fed)
			n = size - fed;
		CHECK(pgw_rbuf_add(&in, data + fed, n) == 0);
		fed += n;
		CHECK(pos + pgw_rbuf_len(&in) == fed);
		if (!read_all(&in, data, &pos))
			break;
	}
	pgw_rbuf_free(&in);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	parse_checked(data, size);
	fuzz_read(data, size);
	return 0;
}
