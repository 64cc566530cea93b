/*
 * Framing and building of protocol v3 messages. Never trusts a length it has not
 * checked, never reads past a body's end.
 */
#include "pgward/codec.h"

#include <arpa/inet.h>
#include <string.h>
#include <event2/buffer.h>

enum pgw_frame_status pgw_frame_peek(const uint8_t *p, size_t avail, uint32_t max_len,
				     struct pgw_msg_hdr *hdr)
{
	uint32_t len;

	if (avail < PGW_HDR_LEN)
		return PGW_FRAME_NEED_MORE;
	memcpy(&len, p + 1, 4);
	hdr->type = (char)p[0];
	hdr->len = ntohl(len);
	if (hdr->len < 4 || hdr->len > max_len)
		return PGW_FRAME_BAD_LENGTH;
	return PGW_FRAME_OK;
}

enum pgw_frame_status pgw_frame_whole(const struct pgw_rbuf *in, uint32_t max_len,
				      struct pgw_msg_hdr *hdr)
{
	size_t avail = pgw_rbuf_len(in);
	enum pgw_frame_status st = pgw_frame_peek(pgw_rbuf_data(in), avail, max_len, hdr);

	if (st == PGW_FRAME_OK && avail < (size_t)hdr->len + 1)
		return PGW_FRAME_NEED_MORE;
	return st;
}

void pgw_reader_init(struct pgw_reader *r, const void *body, size_t len)
{
	r->p = body;
	r->left = len;
	r->bad = false;
}

const uint8_t *pgw_read_bytes(struct pgw_reader *r, size_t n)
{
	const uint8_t *at = r->p;

	if (r->bad || r->left < n) {
		r->bad = true;
		return NULL;
	}
	r->p += n;
	r->left -= n;
	return at;
}

uint8_t pgw_read_u8(struct pgw_reader *r)
{
	const uint8_t *b = pgw_read_bytes(r, 1);

	return b ? b[0] : 0;
}

uint16_t pgw_read_u16(struct pgw_reader *r)
{
	const uint8_t *b = pgw_read_bytes(r, 2);

	return b ? (uint16_t)(b[0] << 8 | b[1]) : 0;
}

uint32_t pgw_read_u32(struct pgw_reader *r)
{
	const uint8_t *b = pgw_read_bytes(r, 4);

	return b ? (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3] : 0;
}

const char *pgw_read_cstr(struct pgw_reader *r)
{
	const uint8_t *nul;

	if (r->bad)
		return NULL;
	nul = memchr(r->p, '\0', r->left);
	if (nul == NULL) {
		r->bad = true;
		return NULL;
	}
	return (const char *)pgw_read_bytes(r, (size_t)(nul - r->p) + 1);
}

bool pgw_read_error_fields(const uint8_t *body, size_t len, struct pgw_error_fields *f)
{
	struct pgw_reader r;
	uint8_t field;

	f->code[0] = '\0';
	f->message = NULL;
	pgw_reader_init(&r, body, len);
	while ((field = pgw_read_u8(&r)) != 0 && !r.bad) {
		const char *value = pgw_read_cstr(&r);

		if (value == NULL)
			break;
		if (field == 'C' && strlen(value) == 5)
			memcpy(f->code, value, 6);
		else if (field == 'M')
			f->message = value;
	}
	return !r.bad;
}

void pgw_put_cstr(struct evbuffer *out, const char *s)
{
	evbuffer_add(out, s, strlen(s) + 1);
}

void pgw_put_u16(struct evbuffer *out, uint16_t v)
{
	uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};

	evbuffer_add(out, b, 2);
}

void pgw_put_u32(struct evbuffer *out, uint32_t v)
{
	uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};

	evbuffer_add(out, b, 4);
}

void pgw_msg_header(struct evbuffer *out, char type, uint32_t body_len)
{
	unsigned char hdr[PGW_HDR_LEN];
	uint32_t n = htonl(body_len + 4);

	hdr[0] = (unsigned char)type;
	memcpy(hdr + 1, &n, 4);
	evbuffer_add(out, hdr, sizeof(hdr));
}

static void add_field(struct evbuffer *out, char code, const char *value)
{
	evbuffer_add(out, &code, 1);
	evbuffer_add(out, value, strlen(value) + 1);
}

void pgw_msg_error(struct evbuffer *out, const char *severity, const char *sqlstate,
		   const char *message, const char *hint)
{
	pgw_msg_error_detail(out, severity, sqlstate, message, NULL, hint);
}

void pgw_msg_error_detail(struct evbuffer *out, const char *severity, const char *sqlstate,
			  const char *message, const char *detail, const char *hint)
{
	/* S and V carry the severity (V is the untranslated one since 9.6), C the SQLSTATE. */
	size_t body = 1 + strlen(severity) + 1 + 1 + strlen(severity) + 1 + 1 + strlen(sqlstate) +
		      1 + 1 + strlen(message) + 1 + 1;

	if (detail != NULL)
		body += 1 + strlen(detail) + 1;
	if (hint != NULL)
		body += 1 + strlen(hint) + 1;
	pgw_msg_header(out, 'E', (uint32_t)body);
	add_field(out, 'S', severity);
	add_field(out, 'V', severity);
	add_field(out, 'C', sqlstate);
	add_field(out, 'M', message);
	if (detail != NULL)
		add_field(out, 'D', detail);
	if (hint != NULL)
		add_field(out, 'H', hint);
	evbuffer_add(out, "", 1);
}

void pgw_msg_auth(struct evbuffer *out, uint32_t code, const void *data, size_t len)
{
	pgw_msg_header(out, 'R', (uint32_t)(4 + len));
	pgw_put_u32(out, code);
	if (len > 0)
		evbuffer_add(out, data, len);
}

void pgw_msg_parameter_status(struct evbuffer *out, const char *name, const char *value)
{
	size_t nlen = strlen(name) + 1, vlen = strlen(value) + 1;
	unsigned char msg[256];
	uint32_t n = htonl((uint32_t)(4 + nlen + vlen));

	if (PGW_HDR_LEN + nlen + vlen > sizeof(msg)) {
		pgw_msg_header(out, 'S', (uint32_t)(nlen + vlen));
		pgw_put_cstr(out, name);
		pgw_put_cstr(out, value);
		return;
	}
	/* one evbuffer_add, not three: a login writes a dozen of these */
	msg[0] = 'S';
	memcpy(msg + 1, &n, 4);
	memcpy(msg + PGW_HDR_LEN, name, nlen);
	memcpy(msg + PGW_HDR_LEN + nlen, value, vlen);
	evbuffer_add(out, msg, PGW_HDR_LEN + nlen + vlen);
}

void pgw_msg_ready(struct evbuffer *out, char tx_status)
{
	pgw_msg_header(out, 'Z', 1);
	evbuffer_add(out, &tx_status, 1);
}

void pgw_msg_backend_key(struct evbuffer *out, uint32_t pid, uint32_t secret)
{
	uint32_t v[2] = {htonl(pid), htonl(secret)};

	pgw_msg_header(out, 'K', 8);
	evbuffer_add(out, v, sizeof(v));
}

int pgw_msg_sasl_without_plus(struct evbuffer *out, const uint8_t *body, size_t len)
{
	static const char plus[] = "SCRAM-SHA-256-PLUS";
	struct pgw_reader r;
	const char *mechs[16];
	size_t n = 0, body_len = 4 + 1;
	const char *m;

	pgw_reader_init(&r, body, len);
	if (pgw_read_u32(&r) != 10)
		return -1;
	while ((m = pgw_read_cstr(&r)) != NULL && m[0] != '\0') {
		if (strcmp(m, plus) == 0)
			continue;
		if (n == PGW_ARRAY_LEN(mechs))
			return -1;
		mechs[n++] = m;
		body_len += strlen(m) + 1;
	}
	if (r.bad || r.left != 0)
		return -1;
	pgw_msg_header(out, 'R', (uint32_t)body_len);
	evbuffer_add(out, "\0\0\0\n", 4); /* int32 10: AuthenticationSASL */
	for (size_t i = 0; i < n; i++)
		evbuffer_add(out, mechs[i], strlen(mechs[i]) + 1);
	evbuffer_add(out, "", 1);
	return 0;
}

const char *pgw_read_password_message(const uint8_t *body, size_t len)
{
	const uint8_t *nul = memchr(body, '\0', len);

	return nul != NULL && (size_t)(nul - body) + 1 == len ? (const char *)body : NULL;
}
