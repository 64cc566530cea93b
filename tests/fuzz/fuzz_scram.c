/*
 * libFuzzer target for SCRAM, both halves on peer bytes. The input is a flags byte, then
 * parts cut at 0xff (SCRAM text never holds that byte): a client-first-message (or a whole
 * SASLInitialResponse body) and a client-final-message for the server half; a mechanism list,
 * a server-first-message and a server-final-message for the client half. Nonces are fixed to
 * RFC 7677's, so seeds with that exchange reach DONE. Invariants: an error is a SQLSTATE and a
 * message, output is text of the length returned, DONE means the proof or signature was
 * right, and strict base64 and secrets read back to the very bytes they came from.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/sha.h>

#include "pgward/scram.h"
#include "../../src/auth/scram-int.h"

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond))                                                                       \
			abort();                                                                   \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RFC_SECRET                                                                                 \
	"SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=" \
	":"                                                                                        \
	"wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU="
#define RFC_CNONCE "rOprNGfwEbeRWgbNEkqO"
#define RFC_SNONCE "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"

/* flags */
#define F_TLS	     0x01 /* pgward's client link is TLS: -PLUS offered */
#define F_PLUS	     0x02 /* the client picks SCRAM-SHA-256-PLUS */
#define F_OTHER_MECH 0x04 /* ... or a name that is no mechanism */
#define F_NO_DATA    0x08 /* SASLInitialResponse without data (length -1) */
#define F_BODY	     0x10 /* part 0 is a whole SASLInitialResponse body */
#define F_UNKNOWN    0x20 /* the role does not exist */
#define F_KEY	     0x40 /* the client half logs in with a ClientKey, not the password */
#define F_SERVER_TLS 0x80 /* pgward's server link is TLS */

#define NPARTS 5

static const uint8_t cb[32] = "0123456789abcdef0123456789abcdef";

static void check_error(enum pgw_scram_step step, const struct pgw_auth_error *err)
{
	if (step != PGW_SCRAM_FAILED)
		return;
	CHECK(strlen(err->sqlstate) == 5 && err->message[0] != '\0');
}

static void check_text(const char *out, size_t outlen)
{
	CHECK(outlen < PGW_SCRAM_OUT_MAX && strlen(out) == outlen);
	for (size_t i = 0; i < outlen; i++)
		CHECK(out[i] >= 0x20 && out[i] <= 0x7e);
}

static void fuzz_server(uint8_t flags, const uint8_t *part[], const size_t len[],
			const struct pgw_scram_secret *secret)
{
	const char *mech = flags & F_OTHER_MECH ? "SCRAM-SHA-1"
			   : flags & F_PLUS	? "SCRAM-SHA-256-PLUS"
						: "SCRAM-SHA-256";
	struct pgw_scram_server st;
	struct pgw_auth_error err = {0};
	char out[PGW_SCRAM_OUT_MAX];
	uint8_t mechs[64], stored[32];
	size_t outlen = 0;
	enum pgw_scram_step step;

	pgw_scram_server_init(&st, "user", flags & F_UNKNOWN ? NULL : secret, cb,
			      flags & F_TLS ? sizeof(cb) : 0);
	pgw_scram_server_set_nonce(&st, RFC_SNONCE);
	CHECK(pgw_scram_server_mechanisms(&st, mechs, sizeof(mechs)) ==
	      (flags & F_TLS ? 34u : 15u));
	if (flags & F_BODY)
		step = pgw_scram_server_start_msg(&st, part[0], len[0], out, sizeof(out), &outlen,
						  &err);
	else
		step = pgw_scram_server_start(&st, mech, flags & F_NO_DATA ? NULL : part[0], len[0],
					      out, sizeof(out), &outlen, &err);
	check_error(step, &err);
	CHECK(step != PGW_SCRAM_DONE);
	/* after an empty challenge the client-first comes again, then the client-final */
	for (int i = 1; step == PGW_SCRAM_CONTINUE && i <= 2; i++) {
		check_text(out, outlen);
		CHECK(outlen == 0 || strncmp(out, "r=", 2) == 0);
		step = pgw_scram_server_finish(&st, part[i], len[i], out, sizeof(out), &outlen,
					       &err);
		check_error(step, &err);
	}
	if (step == PGW_SCRAM_DONE) {
		/* only the one who knows the password gets here, never for an unknown role */
		CHECK(!(flags & F_UNKNOWN) && !st.doomed);
		check_text(out, outlen);
		CHECK(outlen == 46 && strncmp(out, "v=", 2) == 0);
		CHECK(pgw_scram_server_client_key(&st) != NULL);
		SHA256(pgw_scram_server_client_key(&st), 32, stored);
		CHECK(memcmp(stored, secret->stored_key, 32) == 0);
	} else {
		CHECK(pgw_scram_server_client_key(&st) == NULL);
	}
	pgw_scram_server_clear(&st);
}

/* The i= a server-first-message asks for (PBKDF2's cost is the server's choice), or 0. */
static unsigned long long iterations_asked(const uint8_t *p, size_t n)
{
	unsigned long long v = 0;

	for (size_t i = 0; i + 2 < n; i++) {
		if (p[i] != ',' || p[i + 1] != 'i' || p[i + 2] != '=')
			continue;
		for (i += 3; i < n && p[i] >= '0' && p[i] <= '9' && v < 1000000; i++)
			v = v * 10 + (p[i] - '0');
		return v;
	}
	return 0;
}

static void fuzz_client(uint8_t flags, const uint8_t *part[], const size_t len[],
			const struct pgw_scram_secret *secret)
{
	/* RFC 7677's ClientKey for "pencil" */
	static const uint8_t key[32] = {0xa6, 0x0f, 0xc9, 0x23, 0xd6, 0x7e, 0x86, 0x44,
					0xa9, 0x2d, 0x16, 0xb9, 0x6e, 0xda, 0x5e, 0xf4,
					0x65, 0x6b, 0x0c, 0x72, 0x5c, 0x48, 0x43, 0x74,
					0xbe, 0x25, 0x53, 0x55, 0x76, 0x99, 0x6e, 0x8b};
	struct pgw_scram_client c;
	struct pgw_auth_error err = {0};
	struct pgw_scram_secret derived;
	char out[PGW_SCRAM_OUT_MAX], text[PGW_SASL_BODY_MAX + 2];
	uint8_t body[256], got_key[32];
	size_t outlen = 0, name;
	enum pgw_scram_step step;
	bool tls = flags & F_SERVER_TLS;

	CHECK(pgw_scram_client_init(&c, flags & F_KEY ? NULL : "pencil", flags & F_KEY ? key : NULL,
				    flags & F_KEY ? secret : NULL, tls ? cb : NULL,
				    tls ? sizeof(cb) : 0) == 0);
	pgw_scram_client_set_first(&c, "user", RFC_CNONCE);
	step = pgw_scram_client_start(&c, part[2], len[2], body, sizeof(body), &outlen, &err);
	check_error(step, &err);
	if (step != PGW_SCRAM_CONTINUE)
		goto out;
	/* mechanism name, int32 length, client-first-message */
	name = strnlen((const char *)body, outlen) + 1;
	CHECK(name + 4 <= outlen);
	CHECK(strcmp((const char *)body, tls ? "SCRAM-SHA-256-PLUS" : "SCRAM-SHA-256") == 0 ||
	      strcmp((const char *)body, "SCRAM-SHA-256") == 0);
	CHECK(((size_t)body[name + 2] << 8 | body[name + 3]) == outlen - name - 4);
	if (!(flags & F_KEY) && iterations_asked(part[3], len[3]) > 4096)
		goto out;
	step = pgw_scram_client_continue(&c, part[3], len[3], out, sizeof(out), &outlen, &err);
	check_error(step, &err);
	if (step != PGW_SCRAM_CONTINUE)
		goto out;
	check_text(out, outlen);
	CHECK(strncmp(out, "c=", 2) == 0);
	step = pgw_scram_client_finish(&c, part[4], len[4], &err);
	check_error(step, &err);
	if (step == PGW_SCRAM_DONE) {
		/* the server proved it knows ServerKey: the RFC's, for the RFC's salt */
		CHECK(pgw_scram_client_keys(&c, got_key, &derived) == 0);
		CHECK(memcmp(got_key, key, 32) == 0);
		CHECK(memcmp(derived.server_key, secret->server_key, 32) == 0);
	} else {
		CHECK(pgw_scram_client_keys(&c, got_key, &derived) == -1);
	}
out:
	/* the same bytes as a secret and as base64: what is accepted is the one spelling */
	if (len[3] < sizeof(text)) {
		struct pgw_scram_secret s;
		uint8_t raw[PGW_SASL_BODY_MAX];
		size_t n;

		memcpy(text, part[3], len[3]);
		text[len[3]] = '\0';
		if (pgw_scram_parse_secret(text, &s)) {
			char again[sizeof(text) + 200];
			struct pgw_scram_secret back;

			/* the one spelling, but for zeros before the count PostgreSQL takes too */
			CHECK(pgw_scram_format_secret(&s, again, sizeof(again)) == 0);
			CHECK(pgw_scram_parse_secret(again, &back));
			CHECK(back.iterations == s.iterations && back.salt_len == s.salt_len &&
			      memcmp(back.salt, s.salt, s.salt_len) == 0 &&
			      memcmp(back.stored_key, s.stored_key, 32) == 0 &&
			      memcmp(back.server_key, s.server_key, 32) == 0);
			CHECK(text[strlen("SCRAM-SHA-256$")] == '0' || strcmp(again, text) == 0);
		}
		if (pgw_base64_decode(text, len[3], raw, sizeof(raw), &n)) {
			char again[sizeof(text) + 4];

			CHECK(pgw_base64_encode(raw, n, again) == len[3]);
			CHECK(memcmp(again, text, len[3]) == 0);
		}
	}
	pgw_scram_client_clear(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct pgw_scram_secret secret;
	static bool ready;
	const uint8_t *part[NPARTS];
	size_t len[NPARTS], at = 1;
	uint8_t flags;

	if (!ready) {
		CHECK(pgw_scram_parse_secret(RFC_SECRET, &secret));
		ready = true;
	}
	if (size == 0)
		return 0;
	flags = data[0];
	for (int i = 0; i < NPARTS; i++) {
		const uint8_t *end = at < size ? memchr(data + at, 0xff, size - at) : NULL;
		size_t n = end ? (size_t)(end - (data + at)) : size - PGW_MIN(at, size);

		part[i] = data + PGW_MIN(at, size);
		len[i] = n;
		at += n + 1;
	}
	fuzz_server(flags, part, len, &secret);
	fuzz_client(flags, part, len, &secret);
	return 0;
}
