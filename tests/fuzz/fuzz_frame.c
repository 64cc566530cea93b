/*
 * libFuzzer target for the typed-message codec: the input is a client byte stream, fed
 * to a connection's input buffer (rbuf.h) in pieces and framed the way the relay frames
 * it, with every header and every buffered byte checked against the flat input. Also the
 * SASL rewriter and the reader getters.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <event2/buffer.h>

#include "pgward/codec.h"
#include "pgward/rbuf.h"

#define MAX_LEN	  0x3fffffffu
#define SMALL_MAX 8192u /* a second limit, so BAD_LENGTH on "too long" is reached */

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond))                                                                       \
			abort();                                                                   \
	} while (0)

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/*
 * One relay pass over <in>: frames whole or partial messages from offset 0 and drains
 * them. <pos> is the stream position of <in>'s first byte; <left> the bytes of a message
 * still to come. Returns false when the relay would close the session.
 */
static bool relay_pass(struct pgw_rbuf *in, const uint8_t *data, size_t size, size_t *pos,
		       size_t *left, uint32_t max_len)
{
	size_t avail = pgw_rbuf_len(in), run = 0;
	bool ok = true;

	CHECK(*pos + avail <= size);
	CHECK(avail == 0 || memcmp(pgw_rbuf_data(in), data + *pos, avail) == 0);
	if (*left > 0) {
		run = avail < *left ? avail : *left;
		*left -= run;
	}
	while (*left == 0 && run < avail) {
		struct pgw_msg_hdr h;
		size_t at = *pos + run, total, take;
		enum pgw_frame_status st =
			pgw_frame_peek(pgw_rbuf_data(in) + run, avail - run, max_len, &h);

		if (st == PGW_FRAME_NEED_MORE) {
			CHECK(avail - run < PGW_HDR_LEN);
			break;
		}
		CHECK(avail - run >= PGW_HDR_LEN);
		CHECK(h.type == (char)data[at] && h.len == be32(data + at + 1));
		if (st == PGW_FRAME_BAD_LENGTH) {
			CHECK(h.len < 4 || h.len > max_len);
			ok = false;
			break;
		}
		CHECK(st == PGW_FRAME_OK && h.len >= 4 && h.len <= max_len);
		if (!pgw_frontend_type_valid(h.type)) {
			ok = false;
			break;
		}
		total = (size_t)h.len + 1;
		take = avail - run < total ? avail - run : total;
		run += take;
		*left = total - take;
		if (h.type == 'X') {
			ok = false; /* Terminate: the session ends here */
			break;
		}
	}
	CHECK(run <= avail);
	pgw_rbuf_drain(in, run);
	*pos += run;
	CHECK(pgw_rbuf_len(in) == avail - run);
	return ok;
}

/* Feeds <data> in pieces whose sizes derive from data[0], one read each. */
static void fuzz_stream(const uint8_t *data, size_t size, uint32_t max_len)
{
	struct pgw_rbuf in = {0};
	uint32_t seed = size > 0 ? data[0] * 2654435761u + 1 : 1;
	size_t fed = 0, pos = 0, left = 0;

	while (fed < size) {
		size_t n;

		seed = seed * 1103515245u + 12345u;
		n = 1 + (seed >> 16) % (size < 64 ? size : 64);
		if (n > size - fed)
			n = size - fed;
		CHECK(pgw_rbuf_add(&in, data + fed, n) == 0);
		fed += n;
		if (!relay_pass(&in, data, size, &pos, &left, max_len))
			break;
		pgw_rbuf_trim(&in);
	}
	pgw_rbuf_free(&in);
}

static size_t count_mechs(const uint8_t *body, size_t len, bool skip_plus)
{
	size_t n = 0;

	for (size_t i = 4; i < len && body[i] != 0; i += strlen((const char *)body + i) + 1)
		if (!skip_plus || strcmp((const char *)body + i, "SCRAM-SHA-256-PLUS") != 0)
			n++;
	return n;
}

static void fuzz_sasl(const uint8_t *body, size_t len)
{
	struct evbuffer *out = evbuffer_new();
	struct pgw_reader r;
	const uint8_t *msg;
	size_t olen;

	if (out == NULL)
		abort();
	if (pgw_msg_sasl_without_plus(out, body, len) < 0) {
		CHECK(evbuffer_get_length(out) == 0);
		goto out;
	}
	/* Accepted: it was code 10, a NUL-terminated list, and a final NUL, nothing more. */
	CHECK(len >= 5 && be32(body) == 10 && body[len - 1] == 0);
	olen = evbuffer_get_length(out);
	msg = evbuffer_pullup(out, -1);
	CHECK(olen >= 10 && msg[0] == 'R' && be32(msg + 1) == olen - 1 && be32(msg + 5) == 10);
	CHECK(msg[olen - 1] == 0);
	CHECK(count_mechs(msg + 5, olen - 5, false) == count_mechs(body, len, true));
	pgw_reader_init(&r, msg + 9, olen - 9);
	for (;;) {
		const char *m = pgw_read_cstr(&r);

		CHECK(m != NULL);
		if (m[0] == '\0')
			break;
		CHECK(strcmp(m, "SCRAM-SHA-256-PLUS") != 0);
	}
	CHECK(r.left == 0 && !r.bad);
out:
	evbuffer_free(out);
}

/* Drives the getters with ops taken from the input itself. */
static void fuzz_reader(const uint8_t *data, size_t size)
{
	struct pgw_reader r;

	pgw_reader_init(&r, data, size);
	while (!r.bad) {
		uint8_t op = pgw_read_u8(&r);
		size_t before = r.left, n;
		const uint8_t *p = r.p, *b;
		const char *s;

		if (r.bad)
			break;
		switch (op % 5) {
		case 0:
			(void)pgw_read_u8(&r);
			CHECK(r.bad || r.left + 1 == before);
			break;
		case 1:
			if (pgw_read_u16(&r) != 0)
				CHECK(!r.bad);
			CHECK(r.bad || r.left + 2 == before);
			break;
		case 2:
			if (pgw_read_u32(&r) != 0)
				CHECK(!r.bad);
			CHECK(r.bad ? before < 4 : r.left + 4 == before);
			break;
		case 3:
			s = pgw_read_cstr(&r);
			if (s == NULL) {
				CHECK(r.bad && memchr(p, 0, before) == NULL);
			} else {
				CHECK((const uint8_t *)s == p);
				CHECK(r.left + strlen(s) + 1 == before);
			}
			break;
		default:
			n = op >> 3;
			b = pgw_read_bytes(&r, n);
			CHECK(b == NULL ? r.bad && n > before : b == p && r.left + n == before);
			break;
		}
		if (r.bad) {
			/* Stays bad, and nothing more is read. */
			CHECK(pgw_read_u8(&r) == 0 && pgw_read_cstr(&r) == NULL);
			CHECK(pgw_read_bytes(&r, 0) == NULL && r.bad);
		}
	}
}

/* PasswordMessage (cleartext and md5 methods): one string exactly filling the body. */
static void fuzz_password_message(const uint8_t *body, size_t len)
{
	const char *pw = pgw_read_password_message(body, len);

	if (pw != NULL)
		CHECK((const uint8_t *)pw == body && strlen(pw) + 1 == len);
	else /* no NUL, or the first one is not the last byte */
		CHECK(len == 0 || memchr(body, '\0', len) != body + len - 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_stream(data, size, MAX_LEN);
	fuzz_stream(data, size, SMALL_MAX);
	fuzz_sasl(data, size);
	if (size >= PGW_HDR_LEN)
		fuzz_sasl(data + PGW_HDR_LEN, size - PGW_HDR_LEN); /* a whole 'R' message */
	fuzz_reader(data, size);
	fuzz_password_message(data, size);
	return 0;
}
