/*
 * The server half of SCRAM-SHA-256(-PLUS): pgward verifying a client exactly as PostgreSQL 15
 * does (auth-sasl.c, auth-scram.c), down to the order of its checks and the words of its
 * errors, since the client sees them. A user without a secret gets a mock one and fails only
 * at the proof, with the error of a wrong password, so no reply tells which roles exist.
 *
 * Messages are parsed in a NUL-terminated copy, ',' turned into NUL as each attribute is
 * read, the way PostgreSQL parses them, so its corner cases (a trailing ',', extensions,
 * an empty client nonce) fall out the same.
 */
#include "scram-int.h"

#include "pgward/codec.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <openssl/crypto.h>

enum srv_state {
	SRV_UNSET = 0,	/* never initialised: every step fails */
	SRV_INIT,	/* waiting for SASLInitialResponse */
	SRV_WANT_FIRST, /* SASLInitialResponse had no data: client-first comes in SASLResponse */
	SRV_SALT_SENT,	/* server-first sent, waiting for client-final */
	SRV_DONE,
	SRV_FAILED,
};

#define MECH_PLUS "SCRAM-SHA-256-PLUS"
#define MECH	  "SCRAM-SHA-256"

static enum pgw_scram_step fail(struct pgw_scram_server *st)
{
	st->state = SRV_FAILED;
	return PGW_SCRAM_FAILED;
}

static void malformed(struct pgw_auth_error *err, const char *fmt, ...) PGW_PRINTF(2, 3);
static void malformed(struct pgw_auth_error *err, const char *fmt, ...)
{
	va_list ap;

	pgw_auth_error_set(err, "08P01", NULL, "malformed SCRAM message");
	va_start(ap, fmt);
	vsnprintf(err->detail, sizeof(err->detail), fmt, ap);
	va_end(ap);
}

/* What ClientAuthentication reports for any failed SCRAM exchange that is not an ERROR. */
static enum pgw_scram_step auth_failed(struct pgw_scram_server *st, struct pgw_auth_error *err)
{
	pgw_auth_error_set(err, "28P01", NULL, "password authentication failed for user \"%s\"",
			   st->user);
	return fail(st);
}

static enum pgw_scram_step internal(struct pgw_scram_server *st, struct pgw_auth_error *err,
				    const char *what)
{
	pgw_auth_error_set(err, "XX000", NULL, "%s", what);
	return fail(st);
}

/* A step called out of order is the caller's bug: it fails, and changes nothing. */
static enum pgw_scram_step out_of_order(struct pgw_auth_error *err)
{
	pgw_auth_error_set(err, "XX000", NULL, "invalid SCRAM exchange state");
	return PGW_SCRAM_FAILED;
}

/* PostgreSQL's sanitize_char: a printable byte quoted, anything else in hex. */
static const char *show_char(char c, char buf[8])
{
	if (c >= 0x21 && c <= 0x7e)
		snprintf(buf, 8, "'%c'", c);
	else
		snprintf(buf, 8, "0x%02x", (unsigned char)c);
	return buf;
}

/* PostgreSQL's sanitize_str: the first 30 bytes, '?' for anything not printable. */
static const char *show_str(const char *s, char buf[31])
{
	size_t i;

	for (i = 0; i < 30 && s[i] != '\0'; i++)
		buf[i] = s[i] >= 0x21 && s[i] <= 0x7e ? s[i] : '?';
	buf[i] = '\0';
	return buf;
}

/* Ends the value at the next ',' (or the end) and moves *input past it. */
static char *cut_value(char **input, char *begin)
{
	char *end = begin;

	while (*end != '\0' && *end != ',')
		end++;
	if (*end != '\0') {
		*end = '\0';
		*input = end + 1;
	} else {
		*input = end;
	}
	return begin;
}

/* The value of attribute <attr>, which must come next. NULL (and <err>) if it does not. */
static char *read_attr_value(char **input, char attr, struct pgw_auth_error *err)
{
	char *begin = *input;
	char b[8];

	if (*begin != attr) {
		malformed(err, "Expected attribute \"%c\" but found \"%s\".", attr,
			  show_char(*begin, b));
		return NULL;
	}
	begin++;
	if (*begin != '=') {
		malformed(err, "Expected character \"=\" for attribute \"%c\".", attr);
		return NULL;
	}
	return cut_value(input, begin + 1);
}

/* The next attribute, whatever its letter (set in *attr). */
static char *read_any_attr(char **input, char *attr, struct pgw_auth_error *err)
{
	char *begin = *input;
	char b[8];

	*attr = *begin;
	if (*begin == '\0') {
		malformed(err, "Attribute expected, but found end of string.");
		return NULL;
	}
	if (!((*begin >= 'A' && *begin <= 'Z') || (*begin >= 'a' && *begin <= 'z'))) {
		malformed(err, "Attribute expected, but found invalid character \"%s\".",
			  show_char(*begin, b));
		return NULL;
	}
	begin++;
	if (*begin != '=') {
		malformed(err, "Expected character \"=\" for attribute \"%c\".", *attr);
		return NULL;
	}
	return cut_value(input, begin + 1);
}

/* pg_be_scram_exchange's first checks: the data must be one C string, and not empty. */
static bool read_input(const uint8_t *data, size_t len, char *buf, struct pgw_auth_error *err)
{
	if (len == 0) {
		malformed(err, "The message is empty.");
		return false;
	}
	if (memchr(data, '\0', len) != NULL) {
		malformed(err, "Message length does not match input length.");
		return false;
	}
	memcpy(buf, data, len);
	buf[len] = '\0';
	return true;
}

static bool copy_out(const char *msg, size_t n, char *out, size_t cap, size_t *outlen)
{
	if (n + 1 > cap)
		return false;
	memcpy(out, msg, n + 1);
	*outlen = n;
	return true;
}

void pgw_scram_server_init(struct pgw_scram_server *st, const char *user,
			   const struct pgw_scram_secret *secret, const uint8_t *cb, size_t cb_len)
{
	size_t n = strnlen(user, PGW_SCRAM_USER_MAX);

	memset(st, 0, sizeof(*st));
	memcpy(st->user, user, n);
	/* a secret that cannot be used is no secret, as for PostgreSQL's unparsable ones */
	if (secret != NULL && secret->iterations > 0 && secret->salt_len > 0 &&
	    secret->salt_len <= sizeof(secret->salt)) {
		st->secret = *secret;
	} else {
		pgw_scram_mock_secret(user, &st->secret);
		st->doomed = true;
	}
	if (cb != NULL && cb_len > 0 && cb_len <= sizeof(st->cb)) {
		memcpy(st->cb, cb, cb_len);
		st->cb_len = cb_len;
	}
	st->state = SRV_INIT;
}

void pgw_scram_server_set_nonce(struct pgw_scram_server *st, const char *nonce)
{
	snprintf(st->nonce, sizeof(st->nonce), "%s", nonce);
}

size_t pgw_scram_server_mechanisms(const struct pgw_scram_server *st, uint8_t *out, size_t cap)
{
	size_t n = 0;

	/* decreasing preference, as PostgreSQL lists them; -PLUS only on TLS */
	if (st->cb_len > 0) {
		if (cap < sizeof(MECH_PLUS))
			return 0;
		memcpy(out, MECH_PLUS, sizeof(MECH_PLUS));
		n = sizeof(MECH_PLUS);
	}
	if (cap - n < sizeof(MECH) + 1)
		return 0;
	memcpy(out + n, MECH, sizeof(MECH));
	n += sizeof(MECH);
	out[n++] = '\0';
	return n;
}

/*
 * read_client_first_message. <p> is the NUL-terminated copy of the message; the bare part
 * is kept in st->first_bare before any ',' in it is cut.
 */
static bool read_client_first(struct pgw_scram_server *st, char *p, struct pgw_auth_error *err)
{
	char *bare, *nonce, *cb_type;
	char b[31], attr;

	st->cbind_flag = *p;
	switch (*p) {
	case 'n':
	case 'y':
		if (st->cb_in_use) {
			malformed(err,
				  "The client selected SCRAM-SHA-256-PLUS, but the SCRAM message "
				  "does not include channel binding data.");
			return false;
		}
		/* 'y': the client could bind but believes this server cannot, which is false */
		if (*p == 'y' && st->cb_len > 0) {
			pgw_auth_error_set(
				err, "28000",
				"The client supports SCRAM channel binding but thinks the "
				"server does not.  However, this server does support "
				"channel binding.",
				"SCRAM channel binding negotiation error");
			return false;
		}
		p++;
		if (*p != ',') {
			malformed(err, "Comma expected, but found character \"%s\".",
				  show_char(*p, b));
			return false;
		}
		p++;
		break;
	case 'p':
		if (!st->cb_in_use) {
			malformed(err, "The client selected SCRAM-SHA-256 without channel binding, "
				       "but the SCRAM message includes channel binding data.");
			return false;
		}
		if ((cb_type = read_attr_value(&p, 'p', err)) == NULL)
			return false;
		if (strcmp(cb_type, "tls-server-end-point") != 0) {
			pgw_auth_error_set(err, "08P01", NULL,
					   "unsupported SCRAM channel-binding type \"%s\"",
					   show_str(cb_type, b));
			return false;
		}
		break;
	default:
		malformed(err, "Unexpected channel-binding flag \"%s\".", show_char(*p, b));
		return false;
	}
	if (*p == 'a') {
		pgw_auth_error_set(err, "0A000", NULL,
				   "client uses authorization identity, but it is not supported");
		return false;
	}
	if (*p != ',') {
		malformed(err, "Unexpected attribute \"%s\" in client-first-message.",
			  show_char(*p, b));
		return false;
	}
	bare = ++p;
	snprintf(st->first_bare, sizeof(st->first_bare), "%s", bare);
	/* RFC 5802's e=extensions-not-supported could only come in the server-final-message;
	 * PostgreSQL fails at once instead */
	if (*p == 'm') {
		pgw_auth_error_set(err, "0A000", NULL,
				   "client requires an unsupported SCRAM extension");
		return false;
	}
	/* n= names the user, but the startup packet's user is the one that counts */
	if (read_attr_value(&p, 'n', err) == NULL ||
	    (nonce = read_attr_value(&p, 'r', err)) == NULL)
		return false;
	if (!pgw_scram_printable(nonce, strlen(nonce))) {
		pgw_auth_error_set(err, "08P01", NULL, "non-printable characters in SCRAM nonce");
		return false;
	}
	st->client_nonce_off = (size_t)(nonce - bare);
	st->client_nonce_len = strlen(nonce);
	/* extensions: none is supported, each must still be well formed */
	while (*p != '\0')
		if (read_any_attr(&p, &attr, err) == NULL)
			return false;
	return true;
}

/* The client-first-message arrived (in SASLInitialResponse, or in SASLResponse after an
 * empty one): answer with the server-first-message. */
static enum pgw_scram_step first_message(struct pgw_scram_server *st, const uint8_t *data,
					 size_t len, char *out, size_t cap, size_t *outlen,
					 struct pgw_auth_error *err)
{
	char buf[PGW_SASL_BODY_MAX + 1], salt[PGW_SCRAM_SALT_MAX / 3 * 4 + 5];
	int n;

	if (len > PGW_SASL_BODY_MAX)
		return auth_failed(st, err);
	if (!read_input(data, len, buf, err) || !read_client_first(st, buf, err))
		return fail(st);
	if (st->nonce[0] == '\0' && pgw_scram_random_nonce(st->nonce) < 0)
		return internal(st, err, "could not generate random nonce");
	pgw_base64_encode(st->secret.salt, st->secret.salt_len, salt);
	n = snprintf(st->server_first, sizeof(st->server_first), "r=%.*s%s,s=%s,i=%d",
		     (int)st->client_nonce_len, st->first_bare + st->client_nonce_off, st->nonce,
		     salt, st->secret.iterations);
	if (n < 0 || (size_t)n >= sizeof(st->server_first) ||
	    !copy_out(st->server_first, (size_t)n, out, cap, outlen))
		return internal(st, err, "pgward: SCRAM output buffer too small");
	st->state = SRV_SALT_SENT;
	return PGW_SCRAM_CONTINUE;
}

enum pgw_scram_step pgw_scram_server_start(struct pgw_scram_server *st, const char *mechanism,
					   const uint8_t *data, size_t len, char *out, size_t cap,
					   size_t *outlen, struct pgw_auth_error *err)
{
	size_t body = mechanism ? strlen(mechanism) + 1 + 4 + (data ? len : 0) : 0;

	*outlen = 0;
	if (cap > 0)
		out[0] = '\0';
	if (st->state != SRV_INIT)
		return out_of_order(err);
	/* PostgreSQL refuses an overlong message before reading any of it */
	if (body > PGW_SASL_BODY_MAX)
		return auth_failed(st, err);
	/* -PLUS is an invalid choice when it was not offered, like any unknown name */
	if (mechanism != NULL && strcmp(mechanism, MECH_PLUS) == 0 && st->cb_len > 0) {
		st->cb_in_use = true;
	} else if (mechanism == NULL || strcmp(mechanism, MECH) != 0) {
		pgw_auth_error_set(err, "08P01", NULL,
				   "client selected an invalid SASL authentication mechanism");
		return fail(st);
	}
	if (data == NULL) {
		st->state = SRV_WANT_FIRST;
		return PGW_SCRAM_CONTINUE;
	}
	return first_message(st, data, len, out, cap, outlen, err);
}

enum pgw_scram_step pgw_scram_server_start_msg(struct pgw_scram_server *st, const uint8_t *body,
					       size_t len, char *out, size_t cap, size_t *outlen,
					       struct pgw_auth_error *err)
{
	struct pgw_reader r;
	const char *mech;
	const uint8_t *data;
	uint32_t n;

	*outlen = 0;
	if (cap > 0)
		out[0] = '\0';
	if (st->state != SRV_INIT)
		return out_of_order(err);
	if (len > PGW_SASL_BODY_MAX)
		return auth_failed(st, err);
	pgw_reader_init(&r, body, len);
	/* pq_getmsgrawstring: the name must end before the body does */
	if ((mech = pgw_read_cstr(&r)) == NULL) {
		pgw_auth_error_set(err, "08P01", NULL, "invalid string in message");
		return fail(st);
	}
	/* the mechanism is checked before the length is read */
	if (!(strcmp(mech, MECH) == 0 || (strcmp(mech, MECH_PLUS) == 0 && st->cb_len > 0))) {
		pgw_auth_error_set(err, "08P01", NULL,
				   "client selected an invalid SASL authentication mechanism");
		return fail(st);
	}
	n = pgw_read_u32(&r);
	if (r.bad || (n != UINT32_MAX && n > r.left)) {
		pgw_auth_error_set(err, "08P01", NULL, "insufficient data left in message");
		return fail(st);
	}
	data = n == UINT32_MAX ? NULL : pgw_read_bytes(&r, n);
	if (r.left != 0) {
		pgw_auth_error_set(err, "08P01", NULL, "invalid message format");
		return fail(st);
	}
	return pgw_scram_server_start(st, mech, data, data ? n : 0, out, cap, outlen, err);
}

/*
 * read_client_final_message up to the proof. Sets <proof> and the length of the
 * client-final-message-without-proof, the prefix of the message up to the ',' before p=.
 */
static bool read_client_final(struct pgw_scram_server *st, char *begin, char **final_nonce,
			      uint8_t proof[PGW_SCRAM_KEY_LEN], size_t *without_proof_len,
			      struct pgw_auth_error *err)
{
	char *p = begin, *cbind, *value, *proof_at, attr;
	size_t n;

	if ((cbind = read_attr_value(&p, 'c', err)) == NULL)
		return false;
	if (st->cb_in_use) {
		uint8_t input[sizeof(SCRAM_CB_HEADER) - 1 + PGW_SCRAM_CB_MAX];
		char want[sizeof(input) / 3 * 4 + 5];

		memcpy(input, SCRAM_CB_HEADER, sizeof(SCRAM_CB_HEADER) - 1);
		memcpy(input + sizeof(SCRAM_CB_HEADER) - 1, st->cb, st->cb_len);
		pgw_base64_encode(input, sizeof(SCRAM_CB_HEADER) - 1 + st->cb_len, want);
		if (strcmp(cbind, want) != 0) {
			pgw_auth_error_set(err, "28000", NULL,
					   "SCRAM channel binding check failed");
			return false;
		}
	} else if (!(strcmp(cbind, "biws") == 0 && st->cbind_flag == 'n') &&
		   !(strcmp(cbind, "eSws") == 0 && st->cbind_flag == 'y')) {
		/* "n,," or "y,," in base64, and the same flag as in client-first */
		pgw_auth_error_set(err, "08P01", NULL,
				   "unexpected SCRAM channel-binding attribute in "
				   "client-final-message");
		return false;
	}
	if ((*final_nonce = read_attr_value(&p, 'r', err)) == NULL)
		return false;
	/* extensions may come before the proof; they are skipped */
	do {
		proof_at = p - 1;
		if ((value = read_any_attr(&p, &attr, err)) == NULL)
			return false;
	} while (attr != 'p');
	if (!pgw_base64_decode(value, strlen(value), proof, PGW_SCRAM_KEY_LEN, &n) ||
	    n != PGW_SCRAM_KEY_LEN) {
		malformed(err, "Malformed proof in client-final-message.");
		return false;
	}
	/* a trailing ',' after the proof leaves nothing here, and PostgreSQL takes it */
	if (*p != '\0') {
		malformed(err, "Garbage found at the end of client-final-message.");
		return false;
	}
	*without_proof_len = (size_t)(proof_at - begin);
	return true;
}

static bool nonce_matches(const struct pgw_scram_server *st, const char *final_nonce)
{
	size_t cn = st->client_nonce_len, sn = strlen(st->nonce);

	return strlen(final_nonce) == cn + sn &&
	       memcmp(final_nonce, st->first_bare + st->client_nonce_off, cn) == 0 &&
	       memcmp(final_nonce + cn, st->nonce, sn) == 0;
}

/*
 * verify_client_proof: ClientKey = proof XOR HMAC(StoredKey, AuthMessage) must hash to
 * StoredKey. Computed for mock secrets too, so an unknown user costs the same time.
 */
static bool proof_ok(struct pgw_scram_server *st, const char *without_proof,
		     const uint8_t proof[PGW_SCRAM_KEY_LEN])
{
	uint8_t sig[PGW_SCRAM_KEY_LEN], key[PGW_SCRAM_KEY_LEN], stored[PGW_SCRAM_KEY_LEN];
	bool ok = false;

	if (pgw_scram_signature(st->secret.stored_key, st->first_bare, st->server_first,
				without_proof, sig) < 0)
		goto out;
	for (size_t i = 0; i < PGW_SCRAM_KEY_LEN; i++)
		key[i] = proof[i] ^ sig[i];
	if (pgw_scram_hash(key, sizeof(key), stored) < 0)
		goto out;
	ok = CRYPTO_memcmp(stored, st->secret.stored_key, PGW_SCRAM_KEY_LEN) == 0;
	if (ok)
		memcpy(st->client_key, key, sizeof(key));
out:
	OPENSSL_cleanse(sig, sizeof(sig));
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(stored, sizeof(stored));
	return ok;
}

enum pgw_scram_step pgw_scram_server_finish(struct pgw_scram_server *st, const uint8_t *data,
					    size_t len, char *out, size_t cap, size_t *outlen,
					    struct pgw_auth_error *err)
{
	char buf[PGW_SASL_BODY_MAX + 1], without_proof[PGW_SASL_BODY_MAX + 1], *final_nonce;
	char v[2 + 44 + 1];
	uint8_t proof[PGW_SCRAM_KEY_LEN], sig[PGW_SCRAM_KEY_LEN];
	size_t wp_len;
	enum pgw_scram_step step;

	*outlen = 0;
	if (cap > 0)
		out[0] = '\0';
	if (st->state == SRV_WANT_FIRST)
		return first_message(st, data, len, out, cap, outlen, err);
	if (st->state != SRV_SALT_SENT)
		return out_of_order(err);
	if (len > PGW_SASL_BODY_MAX)
		return auth_failed(st, err);
	if (!read_input(data, len, buf, err) ||
	    !read_client_final(st, buf, &final_nonce, proof, &wp_len, err))
		return fail(st);
	if (!nonce_matches(st, final_nonce)) {
		pgw_auth_error_set(err, "08P01", "Nonce does not match.", "invalid SCRAM response");
		return fail(st);
	}
	memcpy(without_proof, data, wp_len);
	without_proof[wp_len] = '\0';
	/* the proof is checked even when doomed: the same work whether the user exists */
	if (!proof_ok(st, without_proof, proof) || st->doomed) {
		step = auth_failed(st, err);
		goto out;
	}
	memcpy(v, "v=", 2);
	if (pgw_scram_signature(st->secret.server_key, st->first_bare, st->server_first,
				without_proof, sig) < 0) {
		step = internal(st, err, "could not calculate server signature");
		goto out;
	}
	pgw_base64_encode(sig, sizeof(sig), v + 2);
	if (!copy_out(v, strlen(v), out, cap, outlen)) {
		step = internal(st, err, "pgward: SCRAM output buffer too small");
		goto out;
	}
	st->state = SRV_DONE;
	step = PGW_SCRAM_DONE;
out:
	OPENSSL_cleanse(proof, sizeof(proof));
	OPENSSL_cleanse(sig, sizeof(sig));
	if (step != PGW_SCRAM_DONE)
		OPENSSL_cleanse(st->client_key, sizeof(st->client_key));
	return step;
}

const uint8_t *pgw_scram_server_client_key(const struct pgw_scram_server *st)
{
	return st->state == SRV_DONE ? st->client_key : NULL;
}

void pgw_scram_server_clear(struct pgw_scram_server *st)
{
	OPENSSL_cleanse(st, sizeof(*st));
}
