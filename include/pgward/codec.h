/*
 * Protocol v3 framing and message building. Framing reads only the 5-byte header, so
 * a bad length is refused before any body is buffered. Builders append to an evbuffer.
 */
#ifndef PGWARD_CODEC_H
#define PGWARD_CODEC_H

#include "pgward/common.h"
#include "pgward/rbuf.h"

struct evbuffer;

#define PGW_HDR_LEN 5 /* type byte + int32 length (which counts itself, not the type) */

struct pgw_msg_hdr {
	char type;
	uint32_t len; /* as on the wire: body length + 4 */
};

enum pgw_frame_status {
	PGW_FRAME_NEED_MORE = 0, /* fewer than PGW_HDR_LEN bytes available */
	PGW_FRAME_OK,
	PGW_FRAME_BAD_LENGTH, /* len < 4 or above the limit: the stream cannot be trusted */
};

/*
 * Reads the header at <p>, where <avail> bytes have arrived (the message's first bytes,
 * perhaps not all of it). <max_len> bounds hdr->len.
 */
enum pgw_frame_status pgw_frame_peek(const uint8_t *p, size_t avail, uint32_t max_len,
				     struct pgw_msg_hdr *hdr);
/*
 * The message at the front of <in>, once all of it has arrived: PGW_FRAME_OK with its
 * header in *hdr and its bytes from pgw_rbuf_data(in); PGW_FRAME_NEED_MORE until then.
 */
enum pgw_frame_status pgw_frame_whole(const struct pgw_rbuf *in, uint32_t max_len,
				      struct pgw_msg_hdr *hdr);

/* True for the message types a client may send after startup (protocol 3.0). */
static inline bool pgw_frontend_type_valid(char type)
{
	switch (type) {
	case 'B': /* Bind */
	case 'C': /* Close */
	case 'd': /* CopyData */
	case 'c': /* CopyDone */
	case 'f': /* CopyFail */
	case 'D': /* Describe */
	case 'E': /* Execute */
	case 'H': /* Flush */
	case 'F': /* FunctionCall */
	case 'P': /* Parse */
	case 'p': /* PasswordMessage, SASLInitialResponse, SASLResponse, GSSResponse */
	case 'Q': /* Query */
	case 'S': /* Sync */
	case 'X': /* Terminate */
		return true;
	default:
		return false;
	}
}

/*
 * Bounded reader over one message body, in the manner of PostgreSQL's pqformat.c: every
 * getter checks what is left and sets <bad> instead of reading past the end.
 */
struct pgw_reader {
	const uint8_t *p;
	size_t left;
	bool bad;
};

void pgw_reader_init(struct pgw_reader *r, const void *body, size_t len);
uint8_t pgw_read_u8(struct pgw_reader *r);
uint16_t pgw_read_u16(struct pgw_reader *r);
uint32_t pgw_read_u32(struct pgw_reader *r);
/* A NUL-terminated string inside the body, borrowed; NULL (and bad) if unterminated. */
const char *pgw_read_cstr(struct pgw_reader *r);
/* <n> raw bytes, borrowed; NULL (and bad) if fewer are left. */
const uint8_t *pgw_read_bytes(struct pgw_reader *r, size_t n);

/* What pgward reads of an ErrorResponse (or NoticeResponse) body: its fields are (type
 * byte, string) pairs up to a 0. */
struct pgw_error_fields {
	char code[6];	     /* the SQLSTATE (C), "" when absent or not 5 characters */
	const char *message; /* the primary message (M), borrowed from the body; NULL if none */
};
/* Fills <f> from the <len> bytes of <body>; false if the field list is malformed (what was
 * read before the fault is kept). */
bool pgw_read_error_fields(const uint8_t *body, size_t len, struct pgw_error_fields *f);

/* PasswordMessage of the cleartext and md5 methods: one string that fills the message, or
 * NULL (PostgreSQL's "invalid password packet size"). */
const char *pgw_read_password_message(const uint8_t *body, size_t len);

/* Message builders; each appends one whole message to <out>. */
void pgw_msg_error(struct evbuffer *out, const char *severity, const char *sqlstate,
		   const char *message, const char *hint);
/* The same with a DETAIL field (NULL: none). */
void pgw_msg_error_detail(struct evbuffer *out, const char *severity, const char *sqlstate,
			  const char *message, const char *detail, const char *hint);
void pgw_msg_ready(struct evbuffer *out, char tx_status);
/* ParameterStatus <name> = <value>. */
void pgw_msg_parameter_status(struct evbuffer *out, const char *name, const char *value);
/* An Authentication message ('R'): <code> (0 Ok, 3 cleartext, 5 md5, 10 SASL, 11 SASL
 * continue, 12 SASL final) and its <data>. */
enum {
	PGW_AUTHREQ_OK = 0,
	PGW_AUTHREQ_CLEARTEXT = 3,
	PGW_AUTHREQ_MD5 = 5,
	PGW_AUTHREQ_SASL = 10,
	PGW_AUTHREQ_SASL_CONTINUE = 11,
	PGW_AUTHREQ_SASL_FINAL = 12,
};
void pgw_msg_auth(struct evbuffer *out, uint32_t code, const void *data, size_t len);
void pgw_msg_backend_key(struct evbuffer *out, uint32_t pid, uint32_t secret);
/* Appends the 5-byte header of a message whose body (<body_len> bytes) follows. */
void pgw_msg_header(struct evbuffer *out, char type, uint32_t body_len);
/* Message fields, in the protocol's byte order: a NUL-terminated string, Int16, Int32. */
void pgw_put_cstr(struct evbuffer *out, const char *s);
void pgw_put_u16(struct evbuffer *out, uint16_t v);
void pgw_put_u32(struct evbuffer *out, uint32_t v);

/*
 * AuthenticationSASL ('R', code 10) with the mechanism SCRAM-SHA-256-PLUS removed: a
 * client whose TLS ends at pgward cannot bind to the server's TLS channel. <body> is the
 * original body (after the header). Returns 0, or -1 if the body is malformed.
 */
int pgw_msg_sasl_without_plus(struct evbuffer *out, const uint8_t *body, size_t len) PGW_MUSTCHECK;

#endif
