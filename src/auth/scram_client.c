/*
 * The client half of SCRAM-SHA-256(-PLUS): pgward logging in to a server, with a password or
 * with the ClientKey a client's proof revealed (the server half's pgw_scram_server_client_key)
 * and that role's secret. It trusts the server with nothing: the server must prove that it
 * knows the secret before the login counts, and its bytes are read as strictly as libpq does.
 */
#include "scram-int.h"

#include "pgward/codec.h"
#include "pgward/random.h"

#include <stdio.h>
#include <string.h>
#include <openssl/crypto.h>

enum cli_state {
	CLI_UNSET = 0,	/* never initialised: every step fails */
	CLI_INIT,	/* waiting for AuthenticationSASL */
	CLI_FIRST_SENT, /* client-first sent, waiting for server-first */
	CLI_PROOF_SENT, /* client-final sent, waiting for server-final */
	CLI_DONE,
	CLI_FAILED,
};

#define MECH_PLUS "SCRAM-SHA-256-PLUS"
#define MECH	  "SCRAM-SHA-256"

static enum pgw_scram_step fail(struct pgw_scram_client *c)
{
	c->state = CLI_FAILED;
	OPENSSL_cleanse(c->password, sizeof(c->password));
	return PGW_SCRAM_FAILED;
}

static enum pgw_scram_step bad_server(struct pgw_scram_client *c, struct pgw_auth_error *err,
				      const char *detail)
{
	pgw_auth_error_set(err, "08P01", detail, "pgward: malformed SCRAM message from the server");
	return fail(c);
}

static enum pgw_scram_step internal(struct pgw_scram_client *c, struct pgw_auth_error *err,
				    const char *what)
{
	pgw_auth_error_set(err, "XX000", NULL, "%s", what);
	return fail(c);
}

/* A step called out of order is the caller's bug: it fails, and changes nothing. */
static enum pgw_scram_step out_of_order(struct pgw_auth_error *err)
{
	pgw_auth_error_set(err, "XX000", NULL, "pgward: SCRAM step out of order");
	return PGW_SCRAM_FAILED;
}

int pgw_scram_client_init(struct pgw_scram_client *c, const char *password,
			  const uint8_t *client_key, const struct pgw_scram_secret *secret,
			  const uint8_t *cb, size_t cb_len)
{
	uint8_t stored[PGW_SCRAM_KEY_LEN];
	size_t n;

	memset(c, 0, sizeof(*c));
	if (cb_len > sizeof(c->cb) || (cb_len > 0 && cb == NULL))
		return -1;
	if (password != NULL) {
		n = strlen(password);
		if (client_key != NULL || secret != NULL || n > PGW_SCRAM_PASSWORD_MAX)
			return -1;
		memcpy(c->password, password, n + 1);
	} else {
		/* a key that is not the secret's would only fail later, at the server */
		if (client_key == NULL || secret == NULL || secret->iterations < 1 ||
		    secret->salt_len == 0 || secret->salt_len > sizeof(secret->salt) ||
		    pgw_scram_hash(client_key, PGW_SCRAM_KEY_LEN, stored) < 0 ||
		    CRYPTO_memcmp(stored, secret->stored_key, PGW_SCRAM_KEY_LEN) != 0)
			return -1;
		c->with_key = true;
		memcpy(c->client_key, client_key, PGW_SCRAM_KEY_LEN);
		c->secret = *secret;
	}
	if (cb_len > 0)
		memcpy(c->cb, cb, cb_len);
	c->cb_len = cb_len;
	c->state = CLI_INIT;
	return 0;
}

void pgw_scram_client_set_first(struct pgw_scram_client *c, const char *user, const char *nonce)
{
	snprintf(c->nonce, sizeof(c->nonce), "%s", nonce);
	snprintf(c->first_bare, sizeof(c->first_bare), "n=%s,r=%s", user, c->nonce);
}

enum pgw_scram_step pgw_scram_client_start(struct pgw_scram_client *c, const uint8_t *mechs,
					   size_t len, uint8_t *out, size_t cap, size_t *outlen,
					   struct pgw_auth_error *err)
{
	bool plus = false, plain = false;
	const char *m, *mech, *gs2;
	char first[PGW_SCRAM_NONCE_MAX + 40];
	struct pgw_reader r;
	size_t mlen, flen;
	int n;

	*outlen = 0;
	if (c->state != CLI_INIT)
		return out_of_order(err);
	pgw_reader_init(&r, mechs, len);
	while ((m = pgw_read_cstr(&r)) != NULL && m[0] != '\0') {
		plus |= strcmp(m, MECH_PLUS) == 0;
		plain |= strcmp(m, MECH) == 0;
	}
	if (r.bad || r.left != 0) {
		pgw_auth_error_set(err, "08P01", NULL,
				   "pgward: malformed AuthenticationSASL message from the server");
		return fail(c);
	}
	if (plus && c->cb_len > 0) {
		mech = MECH_PLUS;
		gs2 = SCRAM_CB_HEADER;
	} else if (plain) {
		/* "y": pgward could bind; a server that could too will see the downgrade */
		mech = MECH;
		gs2 = c->cb_len > 0 ? "y,," : "n,,";
	} else {
		pgw_auth_error_set(
			err, "08006",
			plus ? "The server offers only SCRAM-SHA-256-PLUS, which needs TLS "
			       "between pgward and the server."
			     : "pgward supports SCRAM-SHA-256 and SCRAM-SHA-256-PLUS.",
			"pgward: the server offers no SASL mechanism pgward supports");
		return fail(c);
	}
	c->cbind_flag = gs2[0];
	if (c->nonce[0] == '\0' && pgw_scram_random_nonce(c->nonce) < 0)
		return internal(c, err, "could not generate random nonce");
	/* n= stays empty, as libpq sends it: the startup packet names the user */
	if (c->first_bare[0] == '\0')
		snprintf(c->first_bare, sizeof(c->first_bare), "n=,r=%s", c->nonce);
	n = snprintf(first, sizeof(first), "%s%s", gs2, c->first_bare);
	mlen = strlen(mech) + 1;
	flen = (size_t)n;
	if (n < 0 || flen >= sizeof(first) || mlen + 4 + flen > cap)
		return internal(c, err, "pgward: SCRAM output buffer too small");
	memcpy(out, mech, mlen);
	out[mlen] = (uint8_t)(flen >> 24);
	out[mlen + 1] = (uint8_t)(flen >> 16);
	out[mlen + 2] = (uint8_t)(flen >> 8);
	out[mlen + 3] = (uint8_t)flen;
	memcpy(out + mlen + 4, first, flen);
	*outlen = mlen + 4 + flen;
	c->state = CLI_FIRST_SENT;
	return PGW_SCRAM_CONTINUE;
}

/* "<attr>=value" at *p, up to the next ',' (cut) or the end. NULL if <attr> is not next. */
static char *attr_value(char **p, char attr)
{
	char *begin = *p, *end;

	if (begin[0] != attr || begin[1] != '=')
		return NULL;
	begin += 2;
	end = begin + strcspn(begin, ",");
	*p = *end ? end + 1 : end;
	*end = '\0';
	return begin;
}

/* The password mode's keys, from the server's salt and iteration count. */
static int derive_keys(struct pgw_scram_client *c, const uint8_t *salt, size_t salt_len,
		       int iterations)
{
	uint8_t salted[PGW_SCRAM_KEY_LEN];
	int rc = -1;

	if (pgw_scram_salted_password(c->password, salt, salt_len, iterations, salted) < 0 ||
	    pgw_scram_hmac(salted, "Client Key", 10, c->client_key) < 0 ||
	    pgw_scram_hash(c->client_key, PGW_SCRAM_KEY_LEN, c->secret.stored_key) < 0 ||
	    pgw_scram_hmac(salted, "Server Key", 10, c->secret.server_key) < 0)
		goto out;
	c->secret.iterations = iterations;
	/* kept for pgw_scram_client_keys when it fits the secret; the login needs none of it */
	if (salt_len <= sizeof(c->secret.salt)) {
		memcpy(c->secret.salt, salt, salt_len);
		c->secret.salt_len = salt_len;
	}
	rc = 0;
out:
	OPENSSL_cleanse(salted, sizeof(salted));
	OPENSSL_cleanse(c->password, sizeof(c->password));
	return rc;
}

/* Builds client-final-message into <out>, and the server signature to expect. */
static enum pgw_scram_step write_final(struct pgw_scram_client *c, const char *server_first,
				       const char *nonce, char *out, size_t cap, size_t *outlen,
				       struct pgw_auth_error *err)
{
	uint8_t input[sizeof(SCRAM_CB_HEADER) - 1 + PGW_SCRAM_CB_MAX];
	uint8_t sig[PGW_SCRAM_KEY_LEN], proof[PGW_SCRAM_KEY_LEN];
	char cbind[sizeof(input) / 3 * 4 + 5], proof64[48];
	char without_proof[PGW_SASL_BODY_MAX + sizeof(cbind) + 8];
	size_t in_len;
	int n;
	enum pgw_scram_step step = PGW_SCRAM_CONTINUE;

	/* c= repeats the gs2 header, and with -PLUS the certificate hash after it */
	if (c->cbind_flag == 'p') {
		in_len = sizeof(SCRAM_CB_HEADER) - 1;
		memcpy(input, SCRAM_CB_HEADER, in_len);
		memcpy(input + in_len, c->cb, c->cb_len);
		in_len += c->cb_len;
	} else {
		input[0] = (uint8_t)c->cbind_flag;
		input[1] = ',';
		input[2] = ',';
		in_len = 3;
	}
	pgw_base64_encode(input, in_len, cbind);
	n = snprintf(without_proof, sizeof(without_proof), "c=%s,r=%s", cbind, nonce);
	if (n < 0 || (size_t)n >= sizeof(without_proof))
		return internal(c, err, "pgward: SCRAM output buffer too small");
	if (pgw_scram_signature(c->secret.stored_key, c->first_bare, server_first, without_proof,
				sig) < 0 ||
	    pgw_scram_signature(c->secret.server_key, c->first_bare, server_first, without_proof,
				c->server_signature) < 0) {
		step = internal(c, err, "could not calculate client proof");
		goto out;
	}
	for (size_t i = 0; i < PGW_SCRAM_KEY_LEN; i++)
		proof[i] = c->client_key[i] ^ sig[i];
	pgw_base64_encode(proof, sizeof(proof), proof64);
	n = snprintf(out, cap, "%s,p=%s", without_proof, proof64);
	if (n < 0 || (size_t)n >= cap) {
		step = internal(c, err, "pgward: SCRAM output buffer too small");
		goto out;
	}
	*outlen = (size_t)n;
	c->state = CLI_PROOF_SENT;
out:
	OPENSSL_cleanse(sig, sizeof(sig));
	OPENSSL_cleanse(proof, sizeof(proof));
	OPENSSL_cleanse(proof64, sizeof(proof64));
	return step;
}

enum pgw_scram_step pgw_scram_client_continue(struct pgw_scram_client *c, const uint8_t *data,
					      size_t len, char *out, size_t cap, size_t *outlen,
					      struct pgw_auth_error *err)
{
	char server_first[PGW_SASL_BODY_MAX + 1], buf[PGW_SASL_BODY_MAX + 1];
	char *p = buf, *nonce, *salt64, *iter;
	uint8_t salt[PGW_SASL_BODY_MAX];
	size_t salt_len, ours = strlen(c->nonce);
	int iterations;

	*outlen = 0;
	if (cap > 0)
		out[0] = '\0';
	if (c->state != CLI_FIRST_SENT)
		return out_of_order(err);
	if (len == 0 || len > PGW_SASL_BODY_MAX || memchr(data, '\0', len) != NULL)
		return bad_server(c, err,
				  "The server-first-message is empty, too long or not text.");
	memcpy(server_first, data, len);
	server_first[len] = '\0';
	memcpy(buf, server_first, len + 1);
	if ((nonce = attr_value(&p, 'r')) == NULL)
		return bad_server(c, err, "Expected the nonce (r=) in server-first-message.");
	/* the server's nonce must extend ours, or it answers some other exchange */
	if (strlen(nonce) <= ours || memcmp(nonce, c->nonce, ours) != 0)
		return bad_server(c, err, "The server's nonce does not extend pgward's.");
	if (!pgw_scram_printable(nonce, strlen(nonce)))
		return bad_server(c, err, "Non-printable characters in the server's nonce.");
	if ((salt64 = attr_value(&p, 's')) == NULL ||
	    !pgw_base64_decode(salt64, strlen(salt64), salt, sizeof(salt), &salt_len) ||
	    salt_len == 0)
		return bad_server(c, err, "Invalid salt in server-first-message.");
	if ((iter = attr_value(&p, 'i')) == NULL ||
	    !pgw_scram_read_iterations(iter, strlen(iter), &iterations))
		return bad_server(c, err, "Invalid iteration count in server-first-message.");
	if (*p != '\0')
		return bad_server(c, err, "Garbage at the end of server-first-message.");
	if (c->with_key) {
		/*
		 * The key is only good for the salt and count it was made with. Another salt means
		 * the server will not take this key: its password changed since the secret was
		 * read, or the server runs a mock exchange (an expired role). A proof that cannot
		 * pass lets the server refuse in its own words, which the caller forwards (and
		 * then forgets the stale secret).
		 */
		c->key_stale = salt_len != c->secret.salt_len ||
			       memcmp(salt, c->secret.salt, salt_len) != 0 ||
			       iterations != c->secret.iterations;
		if (c->key_stale && pgw_random_bytes(c->client_key, sizeof(c->client_key)) < 0)
			return internal(c, err, "could not calculate client proof");
	} else if (iterations > PGW_SCRAM_ITERATIONS_MAX) {
		/* PBKDF2 runs on pgward's one thread: a server (or whoever sits on a plain leg)
		 * announcing 2^31 iterations would stop every session for minutes */
		pgw_auth_error_set(
			err, "08006", NULL,
			"pgward: the server asks for %d SCRAM iterations; pgward computes "
			"at most %d",
			iterations, PGW_SCRAM_ITERATIONS_MAX);
		return fail(c);
	} else if (derive_keys(c, salt, salt_len, iterations) < 0) {
		return internal(c, err, "could not calculate client proof");
	}
	return write_final(c, server_first, nonce, out, cap, outlen, err);
}

/* The server's text, safe to show: printable ASCII, at most 64 characters. */
static void show_server_text(const char *s, char buf[65])
{
	size_t i;

	for (i = 0; i < 64 && s[i] != '\0'; i++)
		buf[i] = s[i] >= 0x20 && s[i] <= 0x7e ? s[i] : '?';
	buf[i] = '\0';
}

enum pgw_scram_step pgw_scram_client_finish(struct pgw_scram_client *c, const uint8_t *data,
					    size_t len, struct pgw_auth_error *err)
{
	char buf[PGW_SASL_BODY_MAX + 1], shown[65], *p = buf, *value;
	uint8_t sig[PGW_SCRAM_KEY_LEN];
	size_t n;
	bool ok;

	if (c->state != CLI_PROOF_SENT)
		return out_of_order(err);
	if (len == 0 || len > PGW_SASL_BODY_MAX || memchr(data, '\0', len) != NULL)
		return bad_server(c, err,
				  "The server-final-message is empty, too long or not text.");
	memcpy(buf, data, len);
	buf[len] = '\0';
	if ((value = attr_value(&p, 'e')) != NULL) {
		show_server_text(value, shown);
		pgw_auth_error_set(
			err, "08006", NULL,
			"pgward: error received from the server in the SCRAM exchange: %s", shown);
		return fail(c);
	}
	if ((value = attr_value(&p, 'v')) == NULL ||
	    !pgw_base64_decode(value, strlen(value), sig, sizeof(sig), &n) || n != sizeof(sig) ||
	    *p != '\0')
		return bad_server(c, err, "Invalid server signature in server-final-message.");
	ok = CRYPTO_memcmp(sig, c->server_signature, sizeof(sig)) == 0;
	OPENSSL_cleanse(sig, sizeof(sig));
	if (!ok) {
		pgw_auth_error_set(err, "08006",
				   "The server could not prove that it knows the role's secret.",
				   "pgward: the server's SCRAM signature is wrong");
		return fail(c);
	}
	c->state = CLI_DONE;
	return PGW_SCRAM_DONE;
}

int pgw_scram_client_keys(const struct pgw_scram_client *c, uint8_t client_key[PGW_SCRAM_KEY_LEN],
			  struct pgw_scram_secret *secret)
{
	if (c->state != CLI_DONE || c->secret.salt_len == 0)
		return -1;
	memcpy(client_key, c->client_key, PGW_SCRAM_KEY_LEN);
	*secret = c->secret;
	return 0;
}

void pgw_scram_client_clear(struct pgw_scram_client *c)
{
	OPENSSL_cleanse(c, sizeof(*c));
}
