/*
 * SCRAM: RFC 7677's vector, exchanges PostgreSQL 15.20 accepted (recorded), every error it
 * sends during SCRAM with its SQLSTATE, message and detail (the tables hold what it answered
 * when probed over the wire), and the two halves against each other: with a password and
 * with a recovered ClientKey, with and without channel binding. Memory only; no network.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "pgward/scram.h"
#include "pgward/sha256.h"
#include "../../src/auth/scram-int.h"

#define B(s)	 ((const uint8_t *)(s))
#define LIT(lit) B(lit), sizeof(lit) - 1
#define MECH	 "SCRAM-SHA-256"
#define PLUS	 "SCRAM-SHA-256-PLUS"

/* RFC 7677 section 3 (user "user", password "pencil") */
#define RFC_SALT	 "W22ZaJ0SNY7soEsUEjb6gQ=="
#define RFC_STORED	 "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY="
#define RFC_SERVER	 "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU="
#define RFC_SECRET	 "SCRAM-SHA-256$4096:" RFC_SALT "$" RFC_STORED ":" RFC_SERVER
#define RFC_CNONCE	 "rOprNGfwEbeRWgbNEkqO"
#define RFC_SNONCE	 "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
#define RFC_FIRST	 "n,,n=user,r=" RFC_CNONCE
#define RFC_SERVER_FIRST "r=" RFC_CNONCE RFC_SNONCE ",s=" RFC_SALT ",i=4096"
#define RFC_FINAL                                                                                  \
	"c=biws,r=" RFC_CNONCE RFC_SNONCE ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
#define RFC_SERVER_FINAL "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="

/* made by PostgreSQL 15.20 for CREATE ROLE scram_user PASSWORD 'pencil' */
#define PG_SECRET                                                                                  \
	"SCRAM-SHA-256$4096:SEuO8WNCdYu816+7eHM4EQ==$sUeLzgS/7IhiqqgN7NRWgi81GqUjCKPO/"            \
	"NuVnO+FN0s=:"                                                                             \
	"DIwb/uZbmSVN5m1aVkIGMinel8vZnSSMAVjzMM+uAQU="

static const uint8_t cb_a[32] = {1,  2,	 3,  4,	 5,  6,	 7,  8,	 9,  10, 11, 12, 13, 14, 15, 16,
				 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
static const uint8_t cb_b[48] = {0xaa, 0xbb};

static void assert_err(const struct pgw_auth_error *err, const char *sqlstate, const char *message,
		       const char *detail)
{
	assert_string_equal(err->sqlstate, sqlstate);
	assert_string_equal(err->message, message);
	assert_string_equal(err->detail, detail ? detail : "");
}

static void secret_of(const char *text, struct pgw_scram_secret *s)
{
	assert_true(pgw_scram_parse_secret(text, s));
}

/* Field by field: the struct has padding, which copies need not carry. */
static void assert_secret_equal(const struct pgw_scram_secret *a, const struct pgw_scram_secret *b)
{
	assert_int_equal(a->iterations, b->iterations);
	assert_int_equal(a->salt_len, b->salt_len);
	assert_memory_equal(a->salt, b->salt, a->salt_len);
	assert_memory_equal(a->stored_key, b->stored_key, PGW_SCRAM_KEY_LEN);
	assert_memory_equal(a->server_key, b->server_key, PGW_SCRAM_KEY_LEN);
}

static void hex_to_bytes(const char *hex, uint8_t *out, size_t *n)
{
	for (*n = 0; hex[2 * *n] != '\0'; (*n)++) {
		unsigned v;

		assert_int_equal(sscanf(hex + 2 * *n, "%2x", &v), 1);
		out[*n] = (uint8_t)v;
	}
}

/* ---- base64 ---- */

static void test_base64_rfc4648(void **state)
{
	static const char *const vec[][2] = {{"", ""},
					     {"f", "Zg=="},
					     {"fo", "Zm8="},
					     {"foo", "Zm9v"},
					     {"foob", "Zm9vYg=="},
					     {"fooba", "Zm9vYmE="},
					     {"foobar", "Zm9vYmFy"}};
	uint8_t all[256], back[256];
	char enc[400];
	size_t n;

	(void)state;
	for (size_t i = 0; i < PGW_ARRAY_LEN(vec); i++) {
		size_t len = strlen(vec[i][0]);
		uint8_t dec[8];

		assert_int_equal(pgw_base64_enc_len(len), strlen(vec[i][1]));
		assert_int_equal(pgw_base64_encode(B(vec[i][0]), len, enc), strlen(vec[i][1]));
		assert_string_equal(enc, vec[i][1]);
		assert_true(pgw_base64_decode(vec[i][1], strlen(vec[i][1]), dec, sizeof(dec), &n));
		assert_int_equal(n, len);
		assert_memory_equal(dec, vec[i][0], len);
	}
	for (size_t i = 0; i < sizeof(all); i++)
		all[i] = (uint8_t)i;
	for (size_t len = 0; len <= sizeof(all); len += 37) {
		size_t e = pgw_base64_encode(all, len, enc);

		assert_true(pgw_base64_decode(enc, e, back, sizeof(back), &n));
		assert_int_equal(n, len);
		assert_memory_equal(back, all, len);
	}
}

static void test_base64_strict(void **state)
{
	static const char *const bad[] = {"Zg",	      "Zg=",	  "Zg=a",     "Z===",
					  "====",     "=Zm9",	  "Zh==", /* nonzero padding bits */
					  "Zm9=",			  /* same, one '=' */
					  "Zm 9v",    "Zm9v\n",	  "Zm-v",     "Zm_v",
					  "Zm9v====", "Zg==Zg==", "Zm9vY%==", "Zm9v\x80"};
	uint8_t out[16];
	size_t n;

	(void)state;
	for (size_t i = 0; i < PGW_ARRAY_LEN(bad); i++)
		assert_false(pgw_base64_decode(bad[i], strlen(bad[i]), out, sizeof(out), &n));
	/* more bytes than the caller has room for */
	assert_false(pgw_base64_decode("Zm9v", 4, out, 2, &n));
	assert_true(pgw_base64_decode("Zm9v", 4, out, 3, &n));
}

/* ---- secrets ---- */

static const struct {
	const char *password, *secret;
} known_secrets[] = {
	/* PostgreSQL 15.20: CREATE ROLE ... PASSWORD '<password>' */
	{"pencil", PG_SECRET},
	/* UTF-8 already in NFKC: what SASLprep gives is the password itself */
	{"p\xc3\xa4ssw\xc3\xb6rd",
	 "SCRAM-SHA-256$4096:T0QV5UlPPrrZ7zXarwbEKA==$4Clwxexl7MNrEcjdLAiqhQ9pdz2BJjlRgmvAL0jK1ks=:"
	 "BgyYoxLUyMtqXIXiYlfcJtw+eOQPC7prfkwjMG0PiMA="},
	/* RFC 7677's salt and password */
	{"pencil", RFC_SECRET},
};

static void test_secret_from_password(void **state)
{
	(void)state;
	for (size_t i = 0; i < PGW_ARRAY_LEN(known_secrets); i++) {
		struct pgw_scram_secret parsed, made;
		char text[200];

		secret_of(known_secrets[i].secret, &parsed);
		assert_int_equal(parsed.iterations, 4096);
		assert_int_equal(parsed.salt_len, 16);
		assert_int_equal(pgw_scram_secret_from_password(known_secrets[i].password,
								parsed.salt, parsed.salt_len,
								parsed.iterations, &made),
				 0);
		assert_secret_equal(&made, &parsed);
		assert_int_equal(pgw_scram_format_secret(&made, text, sizeof(text)), 0);
		assert_string_equal(text, known_secrets[i].secret);
	}
}

static void test_secret_parse(void **state)
{
	/* PostgreSQL's regression suite (password.sql): a 10-byte salt, given as is */
	static const char regress[] =
		"SCRAM-SHA-256$4096:VLK4RMaQLCvNtQ==$6YtlR4t69SguDiwFvbVgVZtuz6gpJQQqUMZ7IQJK5yI=:"
		"ps75jrHeYU4lXCcXI4O8oIdJ3eO8o2jirjruw9phBTo=";
	static const char *const bad[] = {
		"",
		"pencil",
		"md5530de4c298af94b3b9f7d20305d2a1bf",
		"SCRAM-SHA-1$4096:" RFC_SALT "$" RFC_STORED ":" RFC_SERVER,
		"scram-sha-256$4096:" RFC_SALT "$" RFC_STORED ":" RFC_SERVER,
		"SCRAM-SHA-256$4096:" RFC_SALT "$" RFC_STORED,
		"SCRAM-SHA-256$4096:" RFC_SALT "$" RFC_STORED ":",
		"SCRAM-SHA-256$4096:" RFC_SALT,
		"SCRAM-SHA-256$" RFC_SALT "$" RFC_STORED ":" RFC_SERVER,
		"SCRAM-SHA-256$0:" RFC_SALT "$" RFC_STORED ":" RFC_SERVER,
		"SCRAM-SHA-256$-1:" RFC_SALT "$" RFC_STORED ":" RFC_SERVER,
		"SCRAM-SHA-256$+4096:" RFC_SALT "$" RFC_STORED ":" RFC_SERVER,
		"SCRAM-SHA-256$ 4096:" RFC_SALT "$" RFC_STORED ":" RFC_SERVER,
		"SCRAM-SHA-256$4096x:" RFC_SALT "$" RFC_STORED ":" RFC_SERVER,
		"SCRAM-SHA-256$2147483648:" RFC_SALT "$" RFC_STORED ":" RFC_SERVER,
		"SCRAM-SHA-256$00000000000:" RFC_SALT "$" RFC_STORED ":" RFC_SERVER,
		"SCRAM-SHA-256$:" RFC_SALT "$" RFC_STORED ":" RFC_SERVER,
		"SCRAM-SHA-256$4096:$" RFC_STORED ":" RFC_SERVER,
		"SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ=$" RFC_STORED ":" RFC_SERVER,
		"SCRAM-SHA-256$4096:" RFC_SALT
		"$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4g==:" RFC_SERVER,
		"SCRAM-SHA-256$4096:" RFC_SALT "$" RFC_STORED ":" RFC_SERVER "x",
		"SCRAM-SHA-256$4096:" RFC_SALT "$" RFC_STORED ":" RFC_SERVER ":",
		"SCRAM-SHA-256$4096:" RFC_SALT "$" RFC_STORED "$" RFC_SERVER,
		/* a 66-byte salt: PostgreSQL never makes one, the struct has room for 64 */
		"SCRAM-SHA-256$4096:"
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
		"AAAAAA$" RFC_STORED ":" RFC_SERVER,
	};
	struct pgw_scram_secret s, before;
	char text[200];

	(void)state;
	/* zeros before the count: PostgreSQL's strtol takes them, so does pgward */
	secret_of("SCRAM-SHA-256$0004096:" RFC_SALT "$" RFC_STORED ":" RFC_SERVER, &s);
	assert_int_equal(s.iterations, 4096);
	secret_of(regress, &s);
	assert_int_equal(s.salt_len, 10);
	assert_int_equal(pgw_scram_format_secret(&s, text, sizeof(text)), 0);
	assert_string_equal(text, regress);
	memset(&before, 0x5a, sizeof(before));
	for (size_t i = 0; i < PGW_ARRAY_LEN(bad); i++) {
		memcpy(&s, &before, sizeof(s));
		assert_false(pgw_scram_parse_secret(bad[i], &s));
		assert_memory_equal(&s, &before, sizeof(s)); /* untouched on failure */
	}
	/* too small a buffer: -1, and no half-written secret is left in it */
	secret_of(RFC_SECRET, &s);
	assert_int_equal(pgw_scram_format_secret(&s, text, 40), -1);
	assert_int_equal(pgw_scram_format_secret(&s, text, strlen(RFC_SECRET)), -1);
	assert_int_equal(pgw_scram_format_secret(&s, text, strlen(RFC_SECRET) + 1), 0);
}

static void test_secret_is_secret(void **state)
{
	(void)state;
	assert_true(pgw_scram_is_secret(RFC_SECRET));
	assert_true(pgw_scram_is_secret("SCRAM-SHA-256$"));
	assert_true(pgw_scram_is_secret("SCRAM-SHA-256$not parsable"));
	assert_false(pgw_scram_is_secret("SCRAM-SHA-256"));
	assert_false(pgw_scram_is_secret("scram-sha-256$4096:x"));
	assert_false(pgw_scram_is_secret("md5530de4c298af94b3b9f7d20305d2a1bf"));
	assert_false(pgw_scram_is_secret(""));
}

static void test_secret_new(void **state)
{
	struct pgw_scram_secret a, b, again;
	uint8_t salt[65] = {0};

	(void)state;
	assert_int_equal(pgw_scram_secret_new("pencil", &a), 0);
	assert_int_equal(pgw_scram_secret_new("pencil", &b), 0);
	assert_int_equal(a.iterations, 4096);
	assert_int_equal(a.salt_len, 16);
	assert_memory_not_equal(a.salt, b.salt, 16);
	assert_int_equal(pgw_scram_secret_from_password("pencil", a.salt, a.salt_len, 4096, &again),
			 0);
	assert_secret_equal(&again, &a);
	/* what no secret can have */
	assert_int_equal(pgw_scram_secret_from_password("pencil", salt, 0, 4096, &again), -1);
	assert_int_equal(pgw_scram_secret_from_password("pencil", salt, 65, 4096, &again), -1);
	assert_int_equal(pgw_scram_secret_from_password("pencil", salt, 16, 0, &again), -1);
	assert_int_equal(pgw_scram_secret_from_password("pencil", salt, 64, 1, &again), 0);
}

static void test_mock_secret(void **state)
{
	struct pgw_scram_secret a, b, other;
	uint8_t key[32], want[32];
	unsigned int n;

	(void)state;
	pgw_scram_mock_secret("ghost", &a);
	pgw_scram_mock_secret("ghost", &b);
	pgw_scram_mock_secret("ghost2", &other);
	assert_int_equal(a.iterations, 4096);
	assert_int_equal(a.salt_len, 16);
	/* the same salt every time for one name, as a real role's would be */
	assert_memory_equal(a.salt, b.salt, 16);
	assert_memory_not_equal(a.salt, other.salt, 16);
	/* keys are random: no proof can ever match them */
	assert_memory_not_equal(a.stored_key, b.stored_key, 32);
	assert_memory_not_equal(a.server_key, b.server_key, 32);

	/* a configured key: salt = HMAC(SHA-256(seed), user), stable across processes */
	pgw_scram_mock_key_set(LIT("a secret from pgward.ini"));
	pgw_scram_mock_secret("ghost", &b);
	assert_memory_not_equal(a.salt, b.salt, 16);
	assert_non_null(SHA256(LIT("a secret from pgward.ini"), key));
	assert_non_null(HMAC(EVP_sha256(), key, 32, LIT("ghost"), want, &n));
	assert_memory_equal(b.salt, want, 16);
}

/* ---- RFC 7677 and PostgreSQL's own exchanges ---- */

static void test_rfc7677(void **state)
{
	static const uint8_t want_body[] = MECH "\0"
						"\0\0\0\x20" RFC_FIRST;
	struct pgw_scram_server st;
	struct pgw_scram_client c;
	struct pgw_scram_secret s, derived;
	struct pgw_auth_error err;
	uint8_t mechs[64], body[256], key[32], stored[32];
	char sf[PGW_SCRAM_OUT_MAX], cf[PGW_SCRAM_OUT_MAX], fin[PGW_SCRAM_OUT_MAX];
	size_t n, blen, sflen, cflen, finlen;

	(void)state;
	secret_of(RFC_SECRET, &s);
	pgw_scram_server_init(&st, "user", &s, NULL, 0);
	pgw_scram_server_set_nonce(&st, RFC_SNONCE);
	n = pgw_scram_server_mechanisms(&st, mechs, sizeof(mechs));
	assert_int_equal(pgw_scram_client_init(&c, "pencil", NULL, NULL, NULL, 0), 0);
	pgw_scram_client_set_first(&c, "user", RFC_CNONCE);

	assert_int_equal(pgw_scram_client_start(&c, mechs, n, body, sizeof(body), &blen, &err),
			 PGW_SCRAM_CONTINUE);
	assert_int_equal(blen, sizeof(want_body) - 1);
	assert_memory_equal(body, want_body, blen);
	assert_int_equal(pgw_scram_server_start_msg(&st, body, blen, sf, sizeof(sf), &sflen, &err),
			 PGW_SCRAM_CONTINUE);
	assert_string_equal(sf, RFC_SERVER_FIRST);
	assert_int_equal(sflen, strlen(RFC_SERVER_FIRST));
	assert_int_equal(pgw_scram_client_continue(&c, B(sf), sflen, cf, sizeof(cf), &cflen, &err),
			 PGW_SCRAM_CONTINUE);
	assert_string_equal(cf, RFC_FINAL);
	assert_int_equal(cflen, strlen(RFC_FINAL));
	assert_int_equal(
		pgw_scram_server_finish(&st, B(cf), cflen, fin, sizeof(fin), &finlen, &err),
		PGW_SCRAM_DONE);
	assert_string_equal(fin, RFC_SERVER_FINAL);
	assert_int_equal(finlen, strlen(RFC_SERVER_FINAL));
	assert_int_equal(pgw_scram_client_finish(&c, B(fin), finlen, &err), PGW_SCRAM_DONE);

	/* the ClientKey the proof revealed is the one the password makes */
	assert_int_equal(pgw_scram_client_keys(&c, key, &derived), 0);
	assert_secret_equal(&derived, &s);
	assert_non_null(pgw_scram_server_client_key(&st));
	assert_memory_equal(pgw_scram_server_client_key(&st), key, 32);
	assert_non_null(SHA256(key, 32, stored));
	assert_memory_equal(stored, s.stored_key, 32);
}

/* The server's certificate of the recorded exchanges (the hash -PLUS bound to). */
static const char pg_cert_pem[] =
	"-----BEGIN CERTIFICATE-----\n"
	"MIIDCTCCAfGgAwIBAgIURUVJdP/l/+nGTTnz48LaaQUk5MEwDQYJKoZIhvcNAQEL\n"
	"BQAwFDESMBAGA1UEAwwJbG9jYWxob3N0MB4XDTI2MTIwNjE2Mzk0NFoXDTI3MDEw\n"
	"NTE2Mzk0NFowFDESMBAGA1UEAwwJbG9jYWxob3N0MIIBIjANBgkqhkiG9w0BAQEF\n"
	"AAOCAQ8AMIIBCgKCAQEAvS0IoOOwzwKJ6tBrlANMA8Kat63yqQ6/JxFu24frQ3Z5\n"
	"XYIuvD/FrjqUFMo+ZtYTz9CbAz+Xp6dEqiCFTfEdv7Wyu6itpFDSNTEOGXNCaK6Q\n"
	"fq+2z7tD9HkTQyZ/OANEQ7xuXLrB+co/c4BKuXZ1FY64s0K3g9Uqil71ZrT7iLtr\n"
	"9+70PzAVJJ6ACTroXKvRnNcCKn0UKpLEGdB7LQQMJFGzYz/QJcXqahoxm8nLYKYz\n"
	"Fngxz3NApAZqZOG1vCHqPSuYvP6myeeBqqvY4U/Kurg1JEsNz1efXIk9c37cwJ30\n"
	"ofPw7V/kTa2CsUgQFkbUREQbwlEAMZBgN5BQ91o29QIDAQABo1MwUTAdBgNVHQ4E\n"
	"FgQUaMKYetd9bxXgfbfxCJESZWgIXAowHwYDVR0jBBgwFoAUaMKYetd9bxXgfbfx\n"
	"CJESZWgIXAowDwYDVR0TAQH/BAUwAwEB/zANBgkqhkiG9w0BAQsFAAOCAQEAc1Jy\n"
	"Knzd7yZE7ED3+XgZo/lRPkQBYdxXV6AD3bMDOoA2p791ftEtK3jZ6Vzsi5ePm+yz\n"
	"tliPPuLKYWvojqp5BU2dwZyjiFN2lw70MCfTZ+9kV1RtXMRk7txqq1oznSFQ8eFD\n"
	"GwTKTZY6ki026p+qo+VV3A97Wvl+rCMeDiPXVcuDwUwQDVEIpLkhXxcpYtQ5aW0R\n"
	"qTHMDqrnOHeEi1VFctxHpazRRWPCUvBIEiINSM4NvdPyIYnGcBXDIwxcF8vuJhJ8\n"
	"g0y6kZ3KFLdzmCHh4cRBS6wp+5vt3+d7q+e9SFG3AjWil5EjTuLqFZlIrs4/CujU\n"
	"EhKuSEgP/P2tSrnAKA==\n"
	"-----END CERTIFICATE-----\n";
#define PG_CERT_HASH "a8d2ec318f91763dd295936db7719d9c24de8416a1f959daf62639305408635d"

/*
 * Exchanges PostgreSQL 15.20 ran with a client that logged in as scram_user/pencil with the
 * client nonce "pgwardtestnonce": its server-first and server-final for that client's
 * messages. Both halves must write the very same bytes.
 */
static const struct {
	const char *name, *mechs, *mech, *first, *server_nonce, *server_first, *final,
		*server_final, *cb_hex;
	size_t mechs_len;
} recorded[] = {
	{"plain", MECH "\0", MECH, "n,,n=,r=pgwardtestnonce", "ekowQbbAzk7YOZoQaG23+287",
	 "r=pgwardtestnonceekowQbbAzk7YOZoQaG23+287,s=SEuO8WNCdYu816+7eHM4EQ==,i=4096",
	 "c=biws,r=pgwardtestnonceekowQbbAzk7YOZoQaG23+287,p=thxoGy/"
	 "zr8ihNh/4ug8Utu9NoMxxRoUTiphDK3Uw+aU=",
	 "v=Nkl0Q3v02z0+OR6WyWC1MoQzVNge+0N4FgW1/lOm0zg=", NULL, sizeof(MECH "\0")},
	{"tls-server-end-point", PLUS "\0" MECH "\0", PLUS,
	 "p=tls-server-end-point,,n=,r=pgwardtestnonce", "oUqNpZG8ld1IgiY+j3Zc/cQY",
	 "r=pgwardtestnonceoUqNpZG8ld1IgiY+j3Zc/cQY,s=SEuO8WNCdYu816+7eHM4EQ==,i=4096",
	 "c=cD10bHMtc2VydmVyLWVuZC1wb2ludCwsqNLsMY+Rdj3SlZNtt3GdnCTehBah+Vna9iY5MFQIY10=,r="
	 "pgwardtestnonceoUqNpZG8ld1IgiY+j3Zc/cQY,p=NG4XTQLox/in8FueJufytHmMZm4MaRTA9IjDaQzthbo=",
	 "v=tzV52FcJ8mLjTptlC6IlSeO5i5nNLmLzVaZjkNh1uK8=", PG_CERT_HASH,
	 sizeof(PLUS "\0" MECH "\0")},
};

static void test_recorded_exchanges(void **state)
{
	struct pgw_scram_secret s;

	(void)state;
	secret_of(PG_SECRET, &s);
	for (size_t i = 0; i < PGW_ARRAY_LEN(recorded); i++) {
		struct pgw_scram_server st;
		struct pgw_scram_client c;
		struct pgw_auth_error err;
		uint8_t cb[64], body[256], mechs[64];
		char out[PGW_SCRAM_OUT_MAX];
		size_t cb_len = 0, n, first_len = strlen(recorded[i].first);

		if (recorded[i].cb_hex)
			hex_to_bytes(recorded[i].cb_hex, cb, &cb_len);
		/* pgward as the server */
		pgw_scram_server_init(&st, "scram_user", &s, cb, cb_len);
		pgw_scram_server_set_nonce(&st, recorded[i].server_nonce);
		n = pgw_scram_server_mechanisms(&st, mechs, sizeof(mechs));
		assert_int_equal(n, recorded[i].mechs_len);
		assert_memory_equal(mechs, recorded[i].mechs, n);
		assert_int_equal(pgw_scram_server_start(&st, recorded[i].mech, B(recorded[i].first),
							first_len, out, sizeof(out), &n, &err),
				 PGW_SCRAM_CONTINUE);
		assert_string_equal(out, recorded[i].server_first);
		assert_int_equal(pgw_scram_server_finish(&st, B(recorded[i].final),
							 strlen(recorded[i].final), out,
							 sizeof(out), &n, &err),
				 PGW_SCRAM_DONE);
		assert_string_equal(out, recorded[i].server_final);

		/* pgward as the client, against PostgreSQL's messages */
		assert_int_equal(pgw_scram_client_init(&c, "pencil", NULL, NULL, cb, cb_len), 0);
		pgw_scram_client_set_first(&c, "", "pgwardtestnonce");
		assert_int_equal(pgw_scram_client_start(&c, B(recorded[i].mechs),
							recorded[i].mechs_len, body, sizeof(body),
							&n, &err),
				 PGW_SCRAM_CONTINUE);
		assert_int_equal(n, strlen(recorded[i].mech) + 1 + 4 + first_len);
		assert_string_equal((const char *)body, recorded[i].mech);
		assert_int_equal(body[n - first_len - 1], first_len);
		assert_memory_equal(body + n - first_len, recorded[i].first, first_len);
		assert_int_equal(pgw_scram_client_continue(&c, B(recorded[i].server_first),
							   strlen(recorded[i].server_first), out,
							   sizeof(out), &n, &err),
				 PGW_SCRAM_CONTINUE);
		assert_string_equal(out, recorded[i].final);
		assert_int_equal(pgw_scram_client_finish(&c, B(recorded[i].server_final),
							 strlen(recorded[i].server_final), &err),
				 PGW_SCRAM_DONE);
	}
}

/* ---- tls-server-end-point ---- */

static X509 *make_cert(EVP_PKEY *key, const EVP_MD *md)
{
	X509 *x = X509_new();
	X509_NAME *name;

	assert_non_null(x);
	assert_int_equal(X509_set_version(x, 2), 1);
	assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), 1), 1);
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), 0));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 3600));
	assert_int_equal(X509_set_pubkey(x, key), 1);
	name = X509_get_subject_name(x);
	assert_int_equal(
		X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, B("pgward"), -1, -1, 0), 1);
	assert_int_equal(X509_set_issuer_name(x, name), 1);
	assert_true(X509_sign(x, key, md) > 0);
	return x;
}

static void test_cert_hash(void **state)
{
	struct {
		const EVP_MD *sign, *hash;
	} cases[] = {
		{EVP_sha256(), EVP_sha256()},
		{EVP_sha384(), EVP_sha384()},
		{EVP_sha512(), EVP_sha512()},
		{EVP_sha1(), EVP_sha256()}, /* RFC 5929: MD5 and SHA-1 become SHA-256 */
	};
	EVP_PKEY *ec = EVP_EC_gen("P-256"), *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	uint8_t got[PGW_SCRAM_CB_MAX], want[EVP_MAX_MD_SIZE];
	unsigned int want_len;
	size_t len;
	BIO *bio;
	X509 *x;

	(void)state;
	assert_non_null(ec);
	assert_non_null(ed);
	for (size_t i = 0; i < PGW_ARRAY_LEN(cases); i++) {
		x = make_cert(ec, cases[i].sign);
		assert_int_equal(pgw_scram_cert_hash(x, got, &len), 0);
		assert_int_equal(X509_digest(x, cases[i].hash, want, &want_len), 1);
		assert_int_equal(len, want_len);
		assert_memory_equal(got, want, len);
		X509_free(x);
	}
	/* Ed25519 signs without a separate digest: no tls-server-end-point, as in PostgreSQL */
	x = make_cert(ed, NULL);
	assert_int_equal(pgw_scram_cert_hash(x, got, &len), -1);
	X509_free(x);
	assert_int_equal(pgw_scram_cert_hash(NULL, got, &len), -1);

	/* the certificate of the recorded -PLUS exchange gives the hash it bound to */
	bio = BIO_new_mem_buf(pg_cert_pem, -1);
	x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	assert_non_null(x);
	assert_int_equal(pgw_scram_cert_hash(x, got, &len), 0);
	hex_to_bytes(PG_CERT_HASH, want, &len);
	assert_memory_equal(got, want, len);
	X509_free(x);
	BIO_free(bio);
	EVP_PKEY_free(ec);
	EVP_PKEY_free(ed);
}

/* ---- the server half against PostgreSQL's answers ---- */

static void test_server_mechanisms(void **state)
{
	struct pgw_scram_server st;
	uint8_t out[64];

	(void)state;
	pgw_scram_server_init(&st, "alice", NULL, NULL, 0);
	assert_int_equal(pgw_scram_server_mechanisms(&st, out, sizeof(out)), sizeof(MECH "\0"));
	assert_memory_equal(out, MECH "\0", sizeof(MECH "\0"));
	assert_int_equal(pgw_scram_server_mechanisms(&st, out, sizeof(MECH)), 0);
	pgw_scram_server_init(&st, "alice", NULL, cb_a, sizeof(cb_a));
	assert_int_equal(pgw_scram_server_mechanisms(&st, out, sizeof(out)),
			 sizeof(PLUS "\0" MECH "\0"));
	assert_memory_equal(out, PLUS "\0" MECH "\0", sizeof(PLUS "\0" MECH "\0"));
	assert_int_equal(pgw_scram_server_mechanisms(&st, out, sizeof(PLUS "\0" MECH)), 0);
	assert_int_equal(pgw_scram_server_mechanisms(&st, out, 3), 0);
	/* a hash longer than any digest is no hash: no -PLUS */
	pgw_scram_server_init(&st, "alice", NULL, cb_a, PGW_SCRAM_CB_MAX + 1);
	assert_int_equal(pgw_scram_server_mechanisms(&st, out, sizeof(out)), sizeof(MECH "\0"));
}

#define CHANNEL_FLAG_DETAIL                                                                        \
	"The client selected SCRAM-SHA-256-PLUS, but the SCRAM message does not include channel "  \
	"binding data."

/* client-first-messages, and what PostgreSQL 15.20 answered (sqlstate NULL: it went on) */
static const struct first_case {
	const char *name;
	bool tls;
	const char *mech, *data;
	size_t len; /* 0: strlen(data) */
	const char *sqlstate, *message, *detail;
} first_cases[] = {
	{"unknown mechanism", false, "SCRAM-SHA-1", "n,,n=,r=abc", 0, "08P01",
	 "client selected an invalid SASL authentication mechanism", NULL},
	{"-PLUS without TLS", false, PLUS, "p=tls-server-end-point,,n=,r=abc", 0, "08P01",
	 "client selected an invalid SASL authentication mechanism", NULL},
	{"empty", false, MECH, "", 0, "08P01", "malformed SCRAM message", "The message is empty."},
	{"n", false, MECH, "n,,n=,r=abc", 0, NULL, NULL, NULL},
	{"n on TLS", true, MECH, "n,,n=,r=abc", 0, NULL, NULL, NULL},
	{"y without TLS", false, MECH, "y,,n=,r=abc", 0, NULL, NULL, NULL},
	{"y on TLS", true, MECH, "y,,n=,r=abc", 0, "28000",
	 "SCRAM channel binding negotiation error",
	 "The client supports SCRAM channel binding but thinks the server does not.  However, this "
	 "server does support channel binding."},
	{"-PLUS with n", true, PLUS, "n,,n=,r=abc", 0, "08P01", "malformed SCRAM message",
	 CHANNEL_FLAG_DETAIL},
	{"-PLUS with y", true, PLUS, "y,,n=,r=abc", 0, "08P01", "malformed SCRAM message",
	 CHANNEL_FLAG_DETAIL},
	{"p without -PLUS", true, MECH, "p=tls-server-end-point,,n=,r=abc", 0, "08P01",
	 "malformed SCRAM message",
	 "The client selected SCRAM-SHA-256 without channel binding, but the SCRAM message "
	 "includes "
	 "channel binding data."},
	{"-PLUS with p", true, PLUS, "p=tls-server-end-point,,n=,r=abc", 0, NULL, NULL, NULL},
	{"tls-unique", true, PLUS, "p=tls-unique,,n=,r=abc", 0, "08P01",
	 "unsupported SCRAM channel-binding type \"tls-unique\"", NULL},
	{"binding type shown sanitised", true, PLUS,
	 "p=tls\x01unique-and-a-very-long-name-that-goes-on,,n=,r=abc", 0, "08P01",
	 "unsupported SCRAM channel-binding type \"tls?unique-and-a-very-long-nam\"", NULL},
	{"p without =", true, PLUS, "p,,n=,r=abc", 0, "08P01", "malformed SCRAM message",
	 "Expected character \"=\" for attribute \"p\"."},
	{"authzid", false, MECH, "n,a=foo,n=,r=abc", 0, "0A000",
	 "client uses authorization identity, but it is not supported", NULL},
	{"m= extension", false, MECH, "n,,m=foo,n=,r=abc", 0, "0A000",
	 "client requires an unsupported SCRAM extension", NULL},
	{"nonce with DEL", false, MECH,
	 "n,,n=,r=ab\x7f"
	 "c",
	 0, "08P01", "non-printable characters in SCRAM nonce", NULL},
	{"nonce with UTF-8", false, MECH, "n,,n=,r=ab\xc3\xa9", 0, "08P01",
	 "non-printable characters in SCRAM nonce", NULL},
	{"flag x", false, MECH, "x,,n=,r=abc", 0, "08P01", "malformed SCRAM message",
	 "Unexpected channel-binding flag \"'x'\"."},
	{"flag 0x01", false, MECH, "\x01,,n=,r=abc", 0, "08P01", "malformed SCRAM message",
	 "Unexpected channel-binding flag \"0x01\"."},
	{"no comma after n", false, MECH, "nx,n=,r=abc", 0, "08P01", "malformed SCRAM message",
	 "Comma expected, but found character \"'x'\"."},
	{"flag alone", false, MECH, "n", 0, "08P01", "malformed SCRAM message",
	 "Comma expected, but found character \"0x00\"."},
	{"unexpected attribute", false, MECH, "n,b,n=,r=abc", 0, "08P01", "malformed SCRAM message",
	 "Unexpected attribute \"'b'\" in client-first-message."},
	{"no n=", false, MECH, "n,,r=abc", 0, "08P01", "malformed SCRAM message",
	 "Expected attribute \"n\" but found \"'r'\"."},
	{"n without =", false, MECH, "n,,n,r=abc", 0, "08P01", "malformed SCRAM message",
	 "Expected character \"=\" for attribute \"n\"."},
	{"no r=", false, MECH, "n,,n=", 0, "08P01", "malformed SCRAM message",
	 "Expected attribute \"r\" but found \"0x00\"."},
	{"extension", false, MECH, "n,,n=,r=abc,x=1", 0, NULL, NULL, NULL},
	{"bad extension", false, MECH, "n,,n=,r=abc,1=1", 0, "08P01", "malformed SCRAM message",
	 "Attribute expected, but found invalid character \"'1'\"."},
	{"trailing comma", false, MECH, "n,,n=,r=abc,", 0, NULL, NULL, NULL},
	{"extension without =", false, MECH, "n,,n=,r=abc,xy", 0, "08P01",
	 "malformed SCRAM message", "Expected character \"=\" for attribute \"x\"."},
	{"embedded NUL", false, MECH, "n,,n=,r=a\0bc", 11, "08P01", "malformed SCRAM message",
	 "Message length does not match input length."},
	{"empty nonce", false, MECH, "n,,n=,r=", 0, NULL, NULL, NULL},
	{"n= is ignored", false, MECH, "n,,n=mallory,r=abc", 0, NULL, NULL, NULL},
};

static void check_first(const struct first_case *fc, enum pgw_scram_step got,
			const struct pgw_scram_server *st, const char *out, size_t outlen,
			const struct pgw_auth_error *err)
{
	print_message("first: %s\n", fc->name);
	if (fc->sqlstate != NULL) {
		assert_int_equal(got, PGW_SCRAM_FAILED);
		assert_err(err, fc->sqlstate, fc->message, fc->detail);
		assert_int_equal(outlen, 0);
		return;
	}
	assert_int_equal(got, PGW_SCRAM_CONTINUE);
	assert_int_equal(outlen, strlen(out));
	/* r=<client nonce><server nonce>,s=<salt>,i=<count> */
	assert_memory_equal(out, "r=", 2);
	assert_non_null(strstr(out, "SRVNONCE,s=" RFC_SALT ",i=4096"));
	assert_int_equal(strlen(out),
			 2 + st->client_nonce_len + strlen("SRVNONCE,s=" RFC_SALT ",i=4096"));
}

static void test_server_first_errors(void **state)
{
	struct pgw_scram_secret s;

	(void)state;
	secret_of(RFC_SECRET, &s);
	for (size_t i = 0; i < PGW_ARRAY_LEN(first_cases); i++) {
		const struct first_case *fc = &first_cases[i];
		size_t len = fc->len ? fc->len : strlen(fc->data), mlen = strlen(fc->mech) + 1;
		struct pgw_scram_server st;
		struct pgw_auth_error err = {0};
		char out[PGW_SCRAM_OUT_MAX];
		uint8_t body[256];
		size_t n;
		enum pgw_scram_step got;

		/* the parsed call */
		pgw_scram_server_init(&st, "alice", &s, fc->tls ? cb_a : NULL, sizeof(cb_a));
		pgw_scram_server_set_nonce(&st, "SRVNONCE");
		got = pgw_scram_server_start(&st, fc->mech, B(fc->data), len, out, sizeof(out), &n,
					     &err);
		check_first(fc, got, &st, out, n, &err);
		/* and the whole SASLInitialResponse body */
		memcpy(body, fc->mech, mlen);
		body[mlen] = body[mlen + 1] = 0;
		body[mlen + 2] = (uint8_t)(len >> 8);
		body[mlen + 3] = (uint8_t)len;
		memcpy(body + mlen + 4, fc->data, len);
		memset(&err, 0, sizeof(err));
		pgw_scram_server_init(&st, "alice", &s, fc->tls ? cb_a : NULL, sizeof(cb_a));
		pgw_scram_server_set_nonce(&st, "SRVNONCE");
		got = pgw_scram_server_start_msg(&st, body, mlen + 4 + len, out, sizeof(out), &n,
						 &err);
		check_first(fc, got, &st, out, n, &err);
	}
}

/* SASLInitialResponse bodies PostgreSQL cannot read, and what it answered */
static void test_server_initial_response_framing(void **state)
{
	static const struct {
		const char *name, *body;
		size_t len;
		const char *message;
	} cases[] = {
		{"empty body", "", 0, "invalid string in message"},
		{"name not terminated", MECH, 13, "invalid string in message"},
		{"length cut short", MECH "\0\0\0", 16, "insufficient data left in message"},
		{"bad name before a cut length", "SCRAM-X\0\0\0", 10,
		 "client selected an invalid SASL authentication mechanism"},
		{"length beyond the body",
		 MECH "\0\0\0\0\x10"
		      "abc",
		 21, "insufficient data left in message"},
		{"length -2",
		 MECH "\0\xff\xff\xff\xfe"
		      "abc",
		 21, "insufficient data left in message"},
		{"bytes after the data",
		 MECH "\0\0\0\0\x02"
		      "n,xx",
		 22, "invalid message format"},
	};
	struct pgw_scram_server st;
	struct pgw_auth_error err;
	char out[PGW_SCRAM_OUT_MAX];
	size_t n;

	(void)state;
	for (size_t i = 0; i < PGW_ARRAY_LEN(cases); i++) {
		print_message("framing: %s\n", cases[i].name);
		pgw_scram_server_init(&st, "alice", NULL, NULL, 0);
		assert_int_equal(pgw_scram_server_start_msg(&st, B(cases[i].body), cases[i].len,
							    out, sizeof(out), &n, &err),
				 PGW_SCRAM_FAILED);
		assert_err(&err, "08P01", cases[i].message, NULL);
	}
}

/* PostgreSQL reads SASL messages of at most 1024 bytes, length word included: beyond, 28P01 */
static void test_server_message_limit(void **state)
{
	struct pgw_scram_server st;
	struct pgw_auth_error err;
	char data[1100], out[PGW_SCRAM_OUT_MAX];
	uint8_t body[1100];
	size_t n;

	(void)state;
	memset(data, 'a', sizeof(data));
	memcpy(data, "n,,n=,r=", 8);
	/* 14 bytes of name, 4 of length, 1002 of data: 1020 */
	for (size_t len = 1002; len <= 1003; len++) {
		enum pgw_scram_step want = len == 1002 ? PGW_SCRAM_CONTINUE : PGW_SCRAM_FAILED;

		pgw_scram_server_init(&st, "scram_user", NULL, NULL, 0);
		assert_int_equal(
			pgw_scram_server_start(&st, MECH, B(data), len, out, sizeof(out), &n, &err),
			want);
		memcpy(body, MECH "\0\0\0", 16);
		body[16] = (uint8_t)(len >> 8);
		body[17] = (uint8_t)len;
		memcpy(body + 18, data, len);
		pgw_scram_server_init(&st, "scram_user", NULL, NULL, 0);
		assert_int_equal(
			pgw_scram_server_start_msg(&st, body, 18 + len, out, sizeof(out), &n, &err),
			want);
	}
	assert_err(&err, "28P01", "password authentication failed for user \"scram_user\"", NULL);
	/* the client-final-message: 1020 bytes are read (and malformed), 1021 are not */
	for (size_t len = 1020; len <= 1021; len++) {
		pgw_scram_server_init(&st, "scram_user", NULL, NULL, 0);
		assert_int_equal(pgw_scram_server_start(&st, MECH, LIT("n,,n=,r=abc"), out,
							sizeof(out), &n, &err),
				 PGW_SCRAM_CONTINUE);
		memset(data, 'x', sizeof(data));
		memcpy(data, "c=biws,r=", 9);
		assert_int_equal(
			pgw_scram_server_finish(&st, B(data), len, out, sizeof(out), &n, &err),
			PGW_SCRAM_FAILED);
		if (len == 1020)
			assert_err(&err, "08P01", "malformed SCRAM message",
				   "Attribute expected, but found end of string.");
		else
			assert_err(&err, "28P01",
				   "password authentication failed for user \"scram_user\"", NULL);
	}
}

/* SASLInitialResponse with length -1: an empty challenge, then client-first in SASLResponse */
static void test_server_no_initial_response(void **state)
{
	struct pgw_scram_server st;
	struct pgw_scram_client c;
	struct pgw_scram_secret s;
	struct pgw_auth_error err;
	char out[PGW_SCRAM_OUT_MAX], cf[PGW_SCRAM_OUT_MAX];
	size_t n, cflen;

	(void)state;
	secret_of(RFC_SECRET, &s);
	pgw_scram_server_init(&st, "user", &s, NULL, 0);
	pgw_scram_server_set_nonce(&st, RFC_SNONCE);
	assert_int_equal(pgw_scram_server_start_msg(&st, LIT(MECH "\0\xff\xff\xff\xff"), out,
						    sizeof(out), &n, &err),
			 PGW_SCRAM_CONTINUE);
	assert_int_equal(n, 0);
	assert_string_equal(out, "");
	assert_int_equal(pgw_scram_server_finish(&st, LIT(RFC_FIRST), out, sizeof(out), &n, &err),
			 PGW_SCRAM_CONTINUE);
	assert_string_equal(out, RFC_SERVER_FIRST);
	assert_int_equal(pgw_scram_server_finish(&st, LIT(RFC_FINAL), out, sizeof(out), &n, &err),
			 PGW_SCRAM_DONE);
	assert_string_equal(out, RFC_SERVER_FINAL);

	/* the same through pgw_scram_server_start with NULL data, and a real client */
	pgw_scram_server_init(&st, "user", &s, NULL, 0);
	assert_int_equal(pgw_scram_server_start(&st, MECH, NULL, 0, out, sizeof(out), &n, &err),
			 PGW_SCRAM_CONTINUE);
	assert_int_equal(n, 0);
	assert_int_equal(pgw_scram_client_init(&c, "pencil", NULL, NULL, NULL, 0), 0);
	assert_int_equal(pgw_scram_client_start(&c, LIT(MECH "\0\0"), (uint8_t *)cf, sizeof(cf),
						&cflen, &err),
			 PGW_SCRAM_CONTINUE);
	/* the client-first is what follows the mechanism name and the length */
	assert_int_equal(pgw_scram_server_finish(&st, (uint8_t *)cf + 18, cflen - 18, out,
						 sizeof(out), &n, &err),
			 PGW_SCRAM_CONTINUE);
	assert_int_equal(pgw_scram_client_continue(&c, B(out), n, cf, sizeof(cf), &cflen, &err),
			 PGW_SCRAM_CONTINUE);
	assert_int_equal(pgw_scram_server_finish(&st, B(cf), cflen, out, sizeof(out), &n, &err),
			 PGW_SCRAM_DONE);
	assert_int_equal(pgw_scram_client_finish(&c, B(out), n, &err), PGW_SCRAM_DONE);
	/* an empty SASLResponse then is as malformed as an empty initial response */
	pgw_scram_server_init(&st, "user", &s, NULL, 0);
	assert_int_equal(pgw_scram_server_start(&st, MECH, NULL, 0, out, sizeof(out), &n, &err),
			 PGW_SCRAM_CONTINUE);
	assert_int_equal(pgw_scram_server_finish(&st, B(""), 0, out, sizeof(out), &n, &err),
			 PGW_SCRAM_FAILED);
	assert_err(&err, "08P01", "malformed SCRAM message", "The message is empty.");
}

/*
 * The context a client-final-message is read in: 'n' and 'y' without TLS, 'N' (n,,) and 'p'
 * (-PLUS) on TLS. Runs the client half up to its final message, which is returned.
 */
static void to_final(char ctx, const char *password, struct pgw_scram_server *st,
		     char final[PGW_SCRAM_OUT_MAX], size_t *final_len)
{
	struct pgw_scram_secret s;
	struct pgw_scram_client c;
	struct pgw_auth_error err;
	uint8_t mechs[64], body[256];
	char sf[PGW_SCRAM_OUT_MAX];
	size_t n, blen, sflen;

	secret_of(RFC_SECRET, &s);
	pgw_scram_server_init(st, "alice", &s, ctx == 'N' || ctx == 'p' ? cb_a : NULL,
			      sizeof(cb_a));
	pgw_scram_server_set_nonce(st, "SRVNONCE");
	n = pgw_scram_server_mechanisms(st, mechs, sizeof(mechs));
	assert_int_equal(pgw_scram_client_init(&c, password, NULL, NULL,
					       ctx == 'y' || ctx == 'p' ? cb_a : NULL,
					       ctx == 'y' || ctx == 'p' ? sizeof(cb_a) : 0),
			 0);
	pgw_scram_client_set_first(&c, "", "abc");
	assert_int_equal(pgw_scram_client_start(&c, mechs, n, body, sizeof(body), &blen, &err),
			 PGW_SCRAM_CONTINUE);
	assert_int_equal(c.cbind_flag, ctx == 'N' ? 'n' : ctx);
	assert_int_equal(pgw_scram_server_start_msg(st, body, blen, sf, sizeof(sf), &sflen, &err),
			 PGW_SCRAM_CONTINUE);
	assert_int_equal(pgw_scram_client_continue(&c, B(sf), sflen, final, PGW_SCRAM_OUT_MAX,
						   final_len, &err),
			 PGW_SCRAM_CONTINUE);
	pgw_scram_client_clear(&c);
}

/* Replaces each {C} (the right c= value), {N} (the whole nonce) and {P} (the right proof). */
static void expand(const char *tmpl, const char *valid, char *out, size_t cap)
{
	const char *c = valid + 2, *c_end = strchr(valid, ',');
	const char *nonce = c_end + 3, *n_end = strchr(nonce, ',');
	const char *proof = n_end + 3;
	size_t o = 0;

	for (const char *t = tmpl; *t; t++) {
		const char *from = NULL;
		size_t len = 0;

		if (t[0] == '{' && t[1] && t[2] == '}') {
			if (t[1] == 'C')
				from = c, len = (size_t)(c_end - c);
			else if (t[1] == 'N')
				from = nonce, len = (size_t)(n_end - nonce);
			else if (t[1] == 'P')
				from = proof, len = strlen(proof);
		}
		if (from == NULL) {
			assert_true(o + 1 < cap);
			out[o++] = *t;
			continue;
		}
		assert_true(o + len < cap);
		memcpy(out + o, from, len);
		o += len;
		t += 2;
	}
	out[o] = '\0';
}

#define CFP "c={C},r={N},p={P}" /* the valid client-final-message */

static const struct final_case {
	const char *name;
	char ctx;
	const char *tmpl;
	const char *sqlstate, *message, *detail; /* sqlstate NULL: DONE */
} final_cases[] = {
	{"n", 'n', CFP, NULL, NULL, NULL},
	{"y", 'y', CFP, NULL, NULL, NULL},
	{"n on TLS", 'N', CFP, NULL, NULL, NULL},
	{"-PLUS", 'p', CFP, NULL, NULL, NULL},
	{"trailing comma", 'n', CFP ",", NULL, NULL, NULL},
	{"y,, after n,,", 'n', "c=eSws,r={N},p={P}", "08P01",
	 "unexpected SCRAM channel-binding attribute in client-final-message", NULL},
	{"n,, after y,,", 'y', "c=biws,r={N},p={P}", "08P01",
	 "unexpected SCRAM channel-binding attribute in client-final-message", NULL},
	{"no binding data with -PLUS", 'p', "c=biws,r={N},p={P}", "28000",
	 "SCRAM channel binding check failed", NULL},
	{"binding data of -PLUS after n,,", 'N', "c=cD10bHMtc2VydmVyLWVuZC1wb2ludCws,r={N},p={P}",
	 "08P01", "unexpected SCRAM channel-binding attribute in client-final-message", NULL},
	{"nonce longer", 'n', "c={C},r={N}x,p={P}", "08P01", "invalid SCRAM response",
	 "Nonce does not match."},
	{"client nonce changed", 'n', "c={C},r=abd{N},p={P}", "08P01", "invalid SCRAM response",
	 "Nonce does not match."},
	{"client nonce only", 'n', "c={C},r=abc,p={P}", "08P01", "invalid SCRAM response",
	 "Nonce does not match."},
	{"proof too short", 'n', "c={C},r={N},p=AAAA", "08P01", "malformed SCRAM message",
	 "Malformed proof in client-final-message."},
	{"proof not base64", 'n', "c={C},r={N},p=!{P}", "08P01", "malformed SCRAM message",
	 "Malformed proof in client-final-message."},
	{"garbage after the proof", 'n', CFP ",x=1", "08P01", "malformed SCRAM message",
	 "Garbage found at the end of client-final-message."},
	/* an extension is part of the signed message: this proof was not made for it */
	{"extension before the proof", 'n', "c={C},r={N},x=y,p={P}", "28P01",
	 "password authentication failed for user \"alice\"", NULL},
	{"no proof", 'n', "c={C},r={N}", "08P01", "malformed SCRAM message",
	 "Attribute expected, but found end of string."},
	{"no proof, a comma", 'n', "c={C},r={N},", "08P01", "malformed SCRAM message",
	 "Attribute expected, but found end of string."},
	{"r before c", 'n', "r={N},c={C},p={P}", "08P01", "malformed SCRAM message",
	 "Expected attribute \"c\" but found \"'r'\"."},
	{"no r", 'n', "c={C}", "08P01", "malformed SCRAM message",
	 "Expected attribute \"r\" but found \"0x00\"."},
	{"bad attribute", 'n', "c={C},r={N},1=2,p={P}", "08P01", "malformed SCRAM message",
	 "Attribute expected, but found invalid character \"'1'\"."},
	{"p without =", 'n', "c={C},r={N},p{P}", "08P01", "malformed SCRAM message",
	 "Expected character \"=\" for attribute \"p\"."},
};

static void test_server_final_errors(void **state)
{
	(void)state;
	for (size_t i = 0; i < PGW_ARRAY_LEN(final_cases); i++) {
		const struct final_case *fc = &final_cases[i];
		struct pgw_scram_server st;
		struct pgw_auth_error err = {0};
		char valid[PGW_SCRAM_OUT_MAX], msg[PGW_SCRAM_OUT_MAX], out[PGW_SCRAM_OUT_MAX];
		size_t vlen, n;
		enum pgw_scram_step got;

		print_message("final: %s\n", fc->name);
		to_final(fc->ctx, "pencil", &st, valid, &vlen);
		expand(fc->tmpl, valid, msg, sizeof(msg));
		got = pgw_scram_server_finish(&st, B(msg), strlen(msg), out, sizeof(out), &n, &err);
		if (fc->sqlstate == NULL) {
			assert_int_equal(got, PGW_SCRAM_DONE);
			assert_memory_equal(out, "v=", 2);
			assert_int_equal(n, 46);
			assert_non_null(pgw_scram_server_client_key(&st));
		} else {
			assert_int_equal(got, PGW_SCRAM_FAILED);
			assert_err(&err, fc->sqlstate, fc->message, fc->detail);
			assert_int_equal(n, 0);
			assert_null(pgw_scram_server_client_key(&st));
		}
	}
}

static void test_server_final_raw(void **state)
{
	struct pgw_scram_server st;
	struct pgw_auth_error err;
	char valid[PGW_SCRAM_OUT_MAX], out[PGW_SCRAM_OUT_MAX];
	size_t vlen, n;

	(void)state;
	to_final('n', "pencil", &st, valid, &vlen);
	assert_int_equal(pgw_scram_server_finish(&st, B(""), 0, out, sizeof(out), &n, &err),
			 PGW_SCRAM_FAILED);
	assert_err(&err, "08P01", "malformed SCRAM message", "The message is empty.");

	to_final('n', "pencil", &st, valid, &vlen);
	valid[6] = '\0'; /* "c=biws\0r=..." */
	assert_int_equal(pgw_scram_server_finish(&st, B(valid), vlen, out, sizeof(out), &n, &err),
			 PGW_SCRAM_FAILED);
	assert_err(&err, "08P01", "malformed SCRAM message",
		   "Message length does not match input length.");

	/* one bit of the proof */
	to_final('n', "pencil", &st, valid, &vlen);
	valid[vlen - 10] = valid[vlen - 10] == 'A' ? 'B' : 'A';
	assert_int_equal(pgw_scram_server_finish(&st, B(valid), vlen, out, sizeof(out), &n, &err),
			 PGW_SCRAM_FAILED);
	assert_err(&err, "28P01", "password authentication failed for user \"alice\"", NULL);

	/* a wrong password; with -PLUS, a wrong binding is reported first */
	to_final('n', "pencil2", &st, valid, &vlen);
	assert_int_equal(pgw_scram_server_finish(&st, B(valid), vlen, out, sizeof(out), &n, &err),
			 PGW_SCRAM_FAILED);
	assert_err(&err, "28P01", "password authentication failed for user \"alice\"", NULL);
	to_final('p', "pencil2", &st, valid, &vlen);
	memcpy(valid, "c=biws", 6);
	memmove(valid + 6, strchr(valid, ','), strlen(strchr(valid, ',')) + 1);
	assert_int_equal(
		pgw_scram_server_finish(&st, B(valid), strlen(valid), out, sizeof(out), &n, &err),
		PGW_SCRAM_FAILED);
	assert_err(&err, "28000", "SCRAM channel binding check failed", NULL);

	/* FAILED is final */
	assert_int_equal(pgw_scram_server_finish(&st, B(valid), vlen, out, sizeof(out), &n, &err),
			 PGW_SCRAM_FAILED);
	assert_err(&err, "XX000", "invalid SCRAM exchange state", NULL);
}

static void test_server_out_of_order(void **state)
{
	struct pgw_scram_server st;
	struct pgw_auth_error err;
	char out[PGW_SCRAM_OUT_MAX];
	size_t n;

	(void)state;
	memset(&st, 0, sizeof(st)); /* never initialised */
	assert_int_equal(
		pgw_scram_server_start(&st, MECH, LIT("n,,n=,r=abc"), out, sizeof(out), &n, &err),
		PGW_SCRAM_FAILED);
	assert_err(&err, "XX000", "invalid SCRAM exchange state", NULL);
	pgw_scram_server_init(&st, "alice", NULL, NULL, 0);
	assert_int_equal(
		pgw_scram_server_finish(&st, LIT("c=biws,r=abc,p=x"), out, sizeof(out), &n, &err),
		PGW_SCRAM_FAILED);
	assert_err(&err, "XX000", "invalid SCRAM exchange state", NULL);
	assert_int_equal(
		pgw_scram_server_start(&st, MECH, LIT("n,,n=,r=abc"), out, sizeof(out), &n, &err),
		PGW_SCRAM_CONTINUE);
	assert_int_equal(
		pgw_scram_server_start(&st, MECH, LIT("n,,n=,r=abc"), out, sizeof(out), &n, &err),
		PGW_SCRAM_FAILED);
	assert_err(&err, "XX000", "invalid SCRAM exchange state", NULL);
	assert_null(pgw_scram_server_client_key(&st));
	/* the output buffer is the caller's to size */
	pgw_scram_server_init(&st, "alice", NULL, NULL, 0);
	assert_int_equal(pgw_scram_server_start(&st, MECH, LIT("n,,n=,r=abc"), out, 20, &n, &err),
			 PGW_SCRAM_FAILED);
	assert_string_equal(err.sqlstate, "XX000");
	assert_int_equal(n, 0);
}

/* ---- the two halves against each other ---- */

struct setup {
	const char *password; /* the client's; NULL: key mode */
	const uint8_t *key;
	const struct pgw_scram_secret *key_secret;
	const struct pgw_scram_secret *server_secret; /* NULL: a role that does not exist */
	const uint8_t *server_cb, *client_cb;	      /* NULL: no TLS on that link */
	size_t server_cb_len, client_cb_len;
	bool strip_plus; /* something between them drops -PLUS from the list */
};

/* A whole exchange: 'D' when both halves are done, else 'S' or 'C', the half that failed. */
static char exchange(const struct setup *su, struct pgw_scram_server *st,
		     struct pgw_scram_client *c, struct pgw_auth_error *err)
{
	uint8_t mechs[64], body[256];
	char sf[PGW_SCRAM_OUT_MAX], cf[PGW_SCRAM_OUT_MAX], fin[PGW_SCRAM_OUT_MAX];
	size_t n, blen, sflen, cflen, finlen;

	pgw_scram_server_init(st, "alice", su->server_secret, su->server_cb, su->server_cb_len);
	n = pgw_scram_server_mechanisms(st, mechs, sizeof(mechs));
	if (su->strip_plus && su->server_cb != NULL) {
		memmove(mechs, mechs + sizeof(PLUS), n - sizeof(PLUS));
		n -= sizeof(PLUS);
	}
	assert_int_equal(pgw_scram_client_init(c, su->password, su->key, su->key_secret,
					       su->client_cb, su->client_cb_len),
			 0);
	if (pgw_scram_client_start(c, mechs, n, body, sizeof(body), &blen, err) !=
	    PGW_SCRAM_CONTINUE)
		return 'C';
	if (pgw_scram_server_start_msg(st, body, blen, sf, sizeof(sf), &sflen, err) !=
	    PGW_SCRAM_CONTINUE)
		return 'S';
	if (pgw_scram_client_continue(c, B(sf), sflen, cf, sizeof(cf), &cflen, err) !=
	    PGW_SCRAM_CONTINUE)
		return 'C';
	if (pgw_scram_server_finish(st, B(cf), cflen, fin, sizeof(fin), &finlen, err) !=
	    PGW_SCRAM_DONE)
		return 'S';
	if (pgw_scram_client_finish(c, B(fin), finlen, err) != PGW_SCRAM_DONE)
		return 'C';
	return 'D';
}

static void test_pair_channel_binding(void **state)
{
	static const struct {
		const char *name;
		bool server_tls, client_tls, strip;
		const uint8_t *client_cb;
		char want, flag;
		bool cb_in_use;
		const char *sqlstate, *message, *detail;
	} cases[] = {
		{"no TLS", false, false, false, NULL, 'D', 'n', false, NULL, NULL, NULL},
		{"TLS both sides: -PLUS", true, true, false, cb_a, 'D', 'p', true, NULL, NULL,
		 NULL},
		{"client TLS only", true, false, false, NULL, 'D', 'n', false, NULL, NULL, NULL},
		{"server link TLS only: y", false, true, false, cb_a, 'D', 'y', false, NULL, NULL,
		 NULL},
		{"-PLUS stripped on the way", true, true, true, cb_a, 'S', 'y', false, "28000",
		 "SCRAM channel binding negotiation error",
		 "The client supports SCRAM channel binding but thinks the server does not.  "
		 "However, "
		 "this server does support channel binding."},
		{"another certificate", true, true, false, cb_b, 'S', 'p', true, "28000",
		 "SCRAM channel binding check failed", NULL},
	};
	struct pgw_scram_secret s;

	(void)state;
	secret_of(PG_SECRET, &s);
	for (size_t i = 0; i < PGW_ARRAY_LEN(cases); i++) {
		struct setup su = {
			.password = "pencil",
			.server_secret = &s,
			.server_cb = cases[i].server_tls ? cb_a : NULL,
			.server_cb_len = cases[i].server_tls ? sizeof(cb_a) : 0,
			.client_cb = cases[i].client_cb,
			.client_cb_len = cases[i].client_cb == cb_b   ? sizeof(cb_b)
					 : cases[i].client_cb == cb_a ? sizeof(cb_a)
								      : 0,
			.strip_plus = cases[i].strip,
		};
		struct pgw_scram_server st;
		struct pgw_scram_client c;
		struct pgw_auth_error err;

		print_message("pair: %s\n", cases[i].name);
		assert_int_equal(exchange(&su, &st, &c, &err), cases[i].want);
		assert_int_equal(c.cbind_flag, cases[i].flag);
		assert_int_equal(st.cb_in_use, cases[i].cb_in_use);
		if (cases[i].sqlstate)
			assert_err(&err, cases[i].sqlstate, cases[i].message, cases[i].detail);
	}
}

static void test_pair_wrong_password_and_unknown_user(void **state)
{
	struct pgw_scram_secret s, mock;
	struct pgw_scram_server st;
	struct pgw_scram_client c;
	struct pgw_auth_error err;
	struct setup su = {.password = "pencil2", .server_secret = &s};
	uint8_t mechs[64], body[256];
	char sf[PGW_SCRAM_OUT_MAX], want[100];
	size_t n, blen;

	(void)state;
	secret_of(PG_SECRET, &s);
	assert_int_equal(exchange(&su, &st, &c, &err), 'S');
	assert_err(&err, "28P01", "password authentication failed for user \"alice\"", NULL);

	/* no such role: the very same error, even for a password some role has */
	su.password = "pencil";
	su.server_secret = NULL;
	assert_int_equal(exchange(&su, &st, &c, &err), 'S');
	assert_err(&err, "28P01", "password authentication failed for user \"alice\"", NULL);
	assert_true(st.doomed);

	/* and its server-first carries the mock salt: the same on every attempt */
	pgw_scram_mock_secret("alice", &mock);
	pgw_scram_server_init(&st, "alice", NULL, NULL, 0);
	n = pgw_scram_server_mechanisms(&st, mechs, sizeof(mechs));
	assert_int_equal(pgw_scram_client_init(&c, "x", NULL, NULL, NULL, 0), 0);
	assert_int_equal(pgw_scram_client_start(&c, mechs, n, body, sizeof(body), &blen, &err),
			 PGW_SCRAM_CONTINUE);
	assert_int_equal(pgw_scram_server_start_msg(&st, body, blen, sf, sizeof(sf), &n, &err),
			 PGW_SCRAM_CONTINUE);
	strcpy(want, ",s=");
	pgw_base64_encode(mock.salt, mock.salt_len, want + 3);
	strcat(want, ",i=4096");
	assert_non_null(strstr(sf, want));

	/* a secret that cannot be used counts as none */
	s.iterations = 0;
	su.server_secret = &s;
	assert_int_equal(exchange(&su, &st, &c, &err), 'S');
	assert_true(st.doomed);
	assert_err(&err, "28P01", "password authentication failed for user \"alice\"", NULL);
}

/* The proxy's path: verify the client, then log in to the server with its ClientKey. */
static void test_pair_recovered_client_key(void **state)
{
	struct pgw_scram_secret s, derived;
	struct pgw_scram_server front, back;
	struct pgw_scram_client client, proxy;
	struct pgw_auth_error err;
	uint8_t key[PGW_SCRAM_KEY_LEN];

	(void)state;
	secret_of(PG_SECRET, &s);
	for (int tls = 0; tls < 2; tls++) {
		struct setup su = {.password = "pencil",
				   .server_secret = &s,
				   .server_cb = tls ? cb_a : NULL,
				   .server_cb_len = tls ? sizeof(cb_a) : 0,
				   .client_cb = tls ? cb_a : NULL,
				   .client_cb_len = tls ? sizeof(cb_a) : 0};

		assert_int_equal(exchange(&su, &front, &client, &err), 'D');
		memcpy(key, pgw_scram_server_client_key(&front), sizeof(key));
		/* pgward to the server: its own TLS link, another certificate */
		su = (struct setup){.key = key,
				    .key_secret = &s,
				    .server_secret = &s,
				    .server_cb = tls ? cb_b : NULL,
				    .server_cb_len = tls ? sizeof(cb_b) : 0,
				    .client_cb = tls ? cb_b : NULL,
				    .client_cb_len = tls ? sizeof(cb_b) : 0};
		assert_int_equal(exchange(&su, &back, &proxy, &err), 'D');
		assert_int_equal(proxy.cbind_flag, tls ? 'p' : 'n');
		assert_memory_equal(pgw_scram_server_client_key(&back), key, sizeof(key));
		assert_int_equal(pgw_scram_client_keys(&proxy, key, &derived), 0);
		assert_secret_equal(&derived, &s);
		pgw_scram_server_clear(&front);
		pgw_scram_server_clear(&back);
		pgw_scram_client_clear(&client);
		pgw_scram_client_clear(&proxy);
	}
}

static void test_pair_key_mode_failures(void **state)
{
	struct pgw_scram_secret s, other, impostor;
	struct pgw_scram_server st;
	struct pgw_scram_client c;
	struct pgw_auth_error err;
	uint8_t key[PGW_SCRAM_KEY_LEN];
	struct setup su = {.password = "pencil"};

	(void)state;
	secret_of(PG_SECRET, &s);
	secret_of(RFC_SECRET, &other); /* the same password, another salt */
	su.server_secret = &other;
	assert_int_equal(exchange(&su, &st, &c, &err), 'D');
	memcpy(key, pgw_scram_server_client_key(&st), sizeof(key));

	/* the server's secret changed since pgward learnt the key (or the server runs a mock
	 * exchange for an expired role): pgward sends a proof that cannot pass, and the
	 * server refuses in its own words */
	su = (struct setup){.key = key, .key_secret = &other, .server_secret = &s};
	assert_int_equal(exchange(&su, &st, &c, &err), 'S');
	assert_err(&err, "28P01", "password authentication failed for user \"alice\"", "");
	assert_true(c.key_stale);

	/* a server that knows StoredKey (enough to check the proof) but not ServerKey */
	impostor = other;
	impostor.server_key[0] ^= 1;
	su = (struct setup){.key = key, .key_secret = &other, .server_secret = &impostor};
	assert_int_equal(exchange(&su, &st, &c, &err), 'C');
	assert_err(&err, "08006", "pgward: the server's SCRAM signature is wrong",
		   "The server could not prove that it knows the role's secret.");
	/* the same with a password */
	su = (struct setup){.password = "pencil", .server_secret = &impostor};
	assert_int_equal(exchange(&su, &st, &c, &err), 'C');
	assert_err(&err, "08006", "pgward: the server's SCRAM signature is wrong",
		   "The server could not prove that it knows the role's secret.");
	assert_int_equal(pgw_scram_client_keys(&c, key, &s), -1);
}

/* ---- the client half against a malformed or hostile server ---- */

static void test_client_init(void **state)
{
	struct pgw_scram_secret s;
	struct pgw_scram_client c;
	uint8_t key[PGW_SCRAM_KEY_LEN] = {0};
	char long_password[PGW_SCRAM_PASSWORD_MAX + 2];

	(void)state;
	secret_of(RFC_SECRET, &s);
	assert_int_equal(pgw_scram_client_init(&c, NULL, NULL, NULL, NULL, 0), -1);
	assert_int_equal(pgw_scram_client_init(&c, "pencil", key, &s, NULL, 0), -1);
	assert_int_equal(pgw_scram_client_init(&c, NULL, key, NULL, NULL, 0), -1);
	/* a key that is not this secret's */
	assert_int_equal(pgw_scram_client_init(&c, NULL, key, &s, NULL, 0), -1);
	assert_int_equal(
		pgw_scram_client_init(&c, "pencil", NULL, NULL, cb_a, PGW_SCRAM_CB_MAX + 1), -1);
	assert_int_equal(pgw_scram_client_init(&c, "pencil", NULL, NULL, NULL, 32), -1);
	memset(long_password, 'x', sizeof(long_password) - 1);
	long_password[sizeof(long_password) - 1] = '\0';
	assert_int_equal(pgw_scram_client_init(&c, long_password, NULL, NULL, NULL, 0), -1);
	long_password[PGW_SCRAM_PASSWORD_MAX] = '\0';
	assert_int_equal(pgw_scram_client_init(&c, long_password, NULL, NULL, NULL, 0), 0);
}

static void test_client_mechanism_lists(void **state)
{
	static const struct {
		const char *name, *list;
		size_t len;
		bool tls;
		const char *sqlstate, *message, *detail; /* NULL: the name picked */
	} cases[] = {
		{"plain", MECH "\0", 15, false, NULL, MECH, NULL},
		{"-PLUS and plain, no TLS", PLUS "\0" MECH "\0", 34, false, NULL, MECH, NULL},
		{"-PLUS and plain, TLS", MECH "\0" PLUS "\0", 34, true, NULL, PLUS, NULL},
		{"unknown names skipped", "OAUTHBEARER\0" MECH "\0", 27, false, NULL, MECH, NULL},
		{"not terminated", MECH "\0", 14, false, "08P01",
		 "pgward: malformed AuthenticationSASL message from the server", NULL},
		{"name not terminated", MECH, 13, false, "08P01",
		 "pgward: malformed AuthenticationSASL message from the server", NULL},
		{"bytes after the list", MECH "\0\0x", 16, false, "08P01",
		 "pgward: malformed AuthenticationSASL message from the server", NULL},
		{"empty", "", 0, false, "08P01",
		 "pgward: malformed AuthenticationSASL message from the server", NULL},
		{"nothing offered", "", 1, false, "08006",
		 "pgward: the server offers no SASL mechanism pgward supports",
		 "pgward supports SCRAM-SHA-256 and SCRAM-SHA-256-PLUS."},
		{"no SCRAM", "SCRAM-SHA-1\0", 13, true, "08006",
		 "pgward: the server offers no SASL mechanism pgward supports",
		 "pgward supports SCRAM-SHA-256 and SCRAM-SHA-256-PLUS."},
		{"-PLUS only, no TLS", PLUS "\0", 20, false, "08006",
		 "pgward: the server offers no SASL mechanism pgward supports",
		 "The server offers only SCRAM-SHA-256-PLUS, which needs TLS between pgward and "
		 "the "
		 "server."},
	};

	(void)state;
	for (size_t i = 0; i < PGW_ARRAY_LEN(cases); i++) {
		struct pgw_scram_client c;
		struct pgw_auth_error err;
		uint8_t out[256];
		size_t n;
		enum pgw_scram_step got;

		print_message("mechanisms: %s\n", cases[i].name);
		assert_int_equal(pgw_scram_client_init(&c, "pencil", NULL, NULL,
						       cases[i].tls ? cb_a : NULL,
						       cases[i].tls ? sizeof(cb_a) : 0),
				 0);
		got = pgw_scram_client_start(&c, B(cases[i].list), cases[i].len, out, sizeof(out),
					     &n, &err);
		if (cases[i].sqlstate) {
			assert_int_equal(got, PGW_SCRAM_FAILED);
			assert_err(&err, cases[i].sqlstate, cases[i].message, cases[i].detail);
			continue;
		}
		assert_int_equal(got, PGW_SCRAM_CONTINUE);
		assert_string_equal((const char *)out, cases[i].message);
		/* the int32 length is that of the rest */
		assert_int_equal(n, strlen(cases[i].message) + 1 + 4 +
					    out[strlen(cases[i].message) + 4]);
		/* the random nonce: 24 base64 characters */
		assert_int_equal(strlen(c.nonce), 24);
	}
}

static void test_client_server_first_errors(void **state)
{
	static const struct {
		const char *name, *msg;
		size_t len;	    /* 0: strlen */
		const char *detail; /* NULL: CONTINUE */
	} cases[] = {
		{"valid", "r=abcX,s=QUJD,i=1", 0, NULL},
		{"empty", "", 0, "The server-first-message is empty, too long or not text."},
		{"NUL", "r=abcX,s=QUJD,i=1\0", 18,
		 "The server-first-message is empty, too long or not text."},
		{"s first", "s=QUJD,r=abcX,i=1", 0,
		 "Expected the nonce (r=) in server-first-message."},
		{"m=", "m=x,r=abcX,s=QUJD,i=1", 0,
		 "Expected the nonce (r=) in server-first-message."},
		{"nonce not extended", "r=abc,s=QUJD,i=1", 0,
		 "The server's nonce does not extend pgward's."},
		{"nonce shorter", "r=ab,s=QUJD,i=1", 0,
		 "The server's nonce does not extend pgward's."},
		{"another nonce", "r=abdX,s=QUJD,i=1", 0,
		 "The server's nonce does not extend pgward's."},
		{"nonce not printable", "r=abc\x01,s=QUJD,i=1", 0,
		 "Non-printable characters in the server's nonce."},
		{"no salt", "r=abcX,i=1", 0, "Invalid salt in server-first-message."},
		{"bad salt", "r=abcX,s=QUJ,i=1", 0, "Invalid salt in server-first-message."},
		{"empty salt", "r=abcX,s=,i=1", 0, "Invalid salt in server-first-message."},
		{"no count", "r=abcX,s=QUJD", 0,
		 "Invalid iteration count in server-first-message."},
		{"count 0", "r=abcX,s=QUJD,i=0", 0,
		 "Invalid iteration count in server-first-message."},
		{"count -1", "r=abcX,s=QUJD,i=-1", 0,
		 "Invalid iteration count in server-first-message."},
		{"count too big", "r=abcX,s=QUJD,i=2147483648", 0,
		 "Invalid iteration count in server-first-message."},
		{"count with zeros first", "r=abcX,s=QUJD,i=0001", 0, NULL},
		{"count not a number", "r=abcX,s=QUJD,i=4096x", 0,
		 "Invalid iteration count in server-first-message."},
		{"extension", "r=abcX,s=QUJD,i=1,x=y", 0,
		 "Garbage at the end of server-first-message."},
	};

	(void)state;
	for (size_t i = 0; i < PGW_ARRAY_LEN(cases); i++) {
		struct pgw_scram_client c;
		struct pgw_auth_error err;
		uint8_t body[256];
		char out[PGW_SCRAM_OUT_MAX];
		size_t n, len = cases[i].len ? cases[i].len : strlen(cases[i].msg);

		print_message("server-first: %s\n", cases[i].name);
		assert_int_equal(pgw_scram_client_init(&c, "pencil", NULL, NULL, NULL, 0), 0);
		pgw_scram_client_set_first(&c, "", "abc");
		assert_int_equal(
			pgw_scram_client_start(&c, LIT(MECH "\0\0"), body, sizeof(body), &n, &err),
			PGW_SCRAM_CONTINUE);
		if (cases[i].detail == NULL) {
			assert_int_equal(pgw_scram_client_continue(&c, B(cases[i].msg), len, out,
								   sizeof(out), &n, &err),
					 PGW_SCRAM_CONTINUE);
			assert_int_equal(strncmp(out, "c=biws,r=abcX,p=", 16), 0);
			assert_int_equal(n, 16 + 44);
			continue;
		}
		assert_int_equal(pgw_scram_client_continue(&c, B(cases[i].msg), len, out,
							   sizeof(out), &n, &err),
				 PGW_SCRAM_FAILED);
		assert_err(&err, "08P01", "pgward: malformed SCRAM message from the server",
			   cases[i].detail);
		assert_int_equal(n, 0);
		/* FAILED is final, and the password is gone */
		assert_int_equal(c.password[0], 0);
		assert_int_equal(pgw_scram_client_finish(&c, LIT(RFC_SERVER_FINAL), &err),
				 PGW_SCRAM_FAILED);
		assert_err(&err, "XX000", "pgward: SCRAM step out of order", NULL);
	}
}

static void test_client_server_final_errors(void **state)
{
	static const struct {
		const char *name, *msg;
		size_t len;
		const char *sqlstate, *message, *detail; /* NULL: DONE */
	} cases[] = {
		{"valid", RFC_SERVER_FINAL, 0, NULL, NULL, NULL},
		{"trailing comma", RFC_SERVER_FINAL ",", 0, NULL, NULL, NULL},
		{"e=", "e=invalid-proof", 0, "08006",
		 "pgward: error received from the server in the SCRAM exchange: invalid-proof",
		 NULL},
		{"e= shown sanitised", "e=bad\x01thing\xff", 0, "08006",
		 "pgward: error received from the server in the SCRAM exchange: bad?thing?", NULL},
		{"wrong signature", "v=7rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=", 0, "08006",
		 "pgward: the server's SCRAM signature is wrong",
		 "The server could not prove that it knows the role's secret."},
		{"short signature", "v=AAAA", 0, "08P01",
		 "pgward: malformed SCRAM message from the server",
		 "Invalid server signature in server-final-message."},
		{"extension", RFC_SERVER_FINAL ",x=1", 0, "08P01",
		 "pgward: malformed SCRAM message from the server",
		 "Invalid server signature in server-final-message."},
		{"no v=", "x=1", 0, "08P01", "pgward: malformed SCRAM message from the server",
		 "Invalid server signature in server-final-message."},
		{"empty", "", 0, "08P01", "pgward: malformed SCRAM message from the server",
		 "The server-final-message is empty, too long or not text."},
		{"NUL", RFC_SERVER_FINAL "\0", sizeof(RFC_SERVER_FINAL), "08P01",
		 "pgward: malformed SCRAM message from the server",
		 "The server-final-message is empty, too long or not text."},
	};
	struct pgw_scram_secret s;

	(void)state;
	secret_of(RFC_SECRET, &s);
	for (size_t i = 0; i < PGW_ARRAY_LEN(cases); i++) {
		struct pgw_scram_client c;
		struct pgw_auth_error err;
		uint8_t body[256], key[32];
		char out[PGW_SCRAM_OUT_MAX];
		size_t n, len = cases[i].len ? cases[i].len : strlen(cases[i].msg);
		enum pgw_scram_step got;

		print_message("server-final: %s\n", cases[i].name);
		assert_int_equal(pgw_scram_client_init(&c, "pencil", NULL, NULL, NULL, 0), 0);
		pgw_scram_client_set_first(&c, "user", RFC_CNONCE);
		assert_int_equal(
			pgw_scram_client_start(&c, LIT(MECH "\0\0"), body, sizeof(body), &n, &err),
			PGW_SCRAM_CONTINUE);
		assert_int_equal(pgw_scram_client_keys(&c, key, &s), -1);
		assert_int_equal(pgw_scram_client_continue(&c, LIT(RFC_SERVER_FIRST), out,
							   sizeof(out), &n, &err),
				 PGW_SCRAM_CONTINUE);
		assert_string_equal(out, RFC_FINAL);
		got = pgw_scram_client_finish(&c, B(cases[i].msg), len, &err);
		if (cases[i].sqlstate == NULL) {
			assert_int_equal(got, PGW_SCRAM_DONE);
			continue;
		}
		assert_int_equal(got, PGW_SCRAM_FAILED);
		assert_err(&err, cases[i].sqlstate, cases[i].message, cases[i].detail);
		assert_int_equal(pgw_scram_client_keys(&c, key, &s), -1);
	}
}

static void test_client_out_of_order(void **state)
{
	struct pgw_scram_client c;
	struct pgw_auth_error err;
	char out[PGW_SCRAM_OUT_MAX];
	uint8_t body[256];
	size_t n;

	(void)state;
	memset(&c, 0, sizeof(c));
	assert_int_equal(pgw_scram_client_start(&c, LIT(MECH "\0\0"), body, sizeof(body), &n, &err),
			 PGW_SCRAM_FAILED);
	assert_err(&err, "XX000", "pgward: SCRAM step out of order", NULL);
	assert_int_equal(pgw_scram_client_init(&c, "pencil", NULL, NULL, NULL, 0), 0);
	assert_int_equal(
		pgw_scram_client_continue(&c, LIT(RFC_SERVER_FIRST), out, sizeof(out), &n, &err),
		PGW_SCRAM_FAILED);
	assert_int_equal(pgw_scram_client_finish(&c, LIT(RFC_SERVER_FINAL), &err),
			 PGW_SCRAM_FAILED);
	/* too small a buffer for the SASLInitialResponse */
	assert_int_equal(pgw_scram_client_start(&c, LIT(MECH "\0\0"), body, 20, &n, &err),
			 PGW_SCRAM_FAILED);
	assert_string_equal(err.sqlstate, "XX000");
}

static void test_clear(void **state)
{
	static const uint8_t zero[sizeof(struct pgw_scram_client) > sizeof(struct pgw_scram_server)
					  ? sizeof(struct pgw_scram_client)
					  : sizeof(struct pgw_scram_server)];
	struct pgw_scram_secret s;
	struct pgw_scram_server st;
	struct pgw_scram_client c;
	struct pgw_auth_error err;
	struct setup su = {.password = "pencil", .server_secret = &s};

	(void)state;
	secret_of(RFC_SECRET, &s);
	assert_int_equal(exchange(&su, &st, &c, &err), 'D');
	pgw_scram_server_clear(&st);
	pgw_scram_client_clear(&c);
	assert_memory_equal(&st, zero, sizeof(st));
	assert_memory_equal(&c, zero, sizeof(c));
}

/* A password login computes PBKDF2 on pgward's one thread: a count a server may announce
 * (up to 2^31 - 1) is bounded, with a clear error instead of minutes of stall. */
static void test_client_iterations_bounded(void **state)
{
	struct pgw_scram_client c;
	struct pgw_auth_error err;
	uint8_t body[256];
	char first[512], out[PGW_SCRAM_OUT_MAX];
	size_t n, outlen;

	(void)state;
	assert_int_equal(pgw_scram_client_init(&c, "pencil", NULL, NULL, NULL, 0), 0);
	assert_int_equal(pgw_scram_client_start(&c, (const uint8_t *)"SCRAM-SHA-256\0", 15, body,
						sizeof(body), &n, &err),
			 PGW_SCRAM_CONTINUE);
	snprintf(first, sizeof(first), "r=%sxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=%d", c.nonce,
		 PGW_SCRAM_ITERATIONS_MAX + 1);
	assert_int_equal(pgw_scram_client_continue(&c, (const uint8_t *)first, strlen(first), out,
						   sizeof(out), &outlen, &err),
			 PGW_SCRAM_FAILED);
	assert_string_equal(err.sqlstate, "08006");
	assert_non_null(strstr(err.message, "SCRAM iterations"));
	pgw_scram_client_clear(&c);
}

/* RFC 4231's HMAC-SHA-256 vectors (cases 1, 2 and 6: a key shorter than the block, a text
 * key, a key longer than the block) and OpenSSL's one-shot HMAC for every key length up to
 * twice the block: pgw_hmac_sha256 computes what HMAC() does. */
static void test_hmac_sha256_vectors(void **state)
{
	static const struct {
		const char *key_hex, *data, *mac_hex;
	} v[] = {
		{"0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "Hi There",
		 "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
		{"4a656665", "what do ya want for nothing?",
		 "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
		{NULL, "Test Using Larger Than Block-Size Key - Hash Key First",
		 "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
	};
	uint8_t key[200], out[PGW_SHA256_LEN], ref[EVP_MAX_MD_SIZE], data[100];
	char hex[2 * PGW_SHA256_LEN + 1];
	unsigned int reflen = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		size_t keylen = 0;

		if (v[i].key_hex == NULL) {
			memset(key, 0xaa, 131);
			keylen = 131;
		} else {
			for (const char *h = v[i].key_hex; h[0] != '\0'; h += 2)
				sscanf(h, "%2hhx", &key[keylen++]);
		}
		assert_int_equal(pgw_hmac_sha256(key, keylen, v[i].data, strlen(v[i].data), out),
				 0);
		for (size_t j = 0; j < sizeof(out); j++)
			snprintf(hex + 2 * j, 3, "%02x", out[j]);
		assert_string_equal(hex, v[i].mac_hex);
	}
	for (size_t i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)(i * 7 + 1);
	memset(data, 'd', sizeof(data));
	for (size_t keylen = 0; keylen <= 128; keylen++) {
		assert_non_null(
			HMAC(EVP_sha256(), key, (int)keylen, data, keylen % 100, ref, &reflen));
		assert_int_equal(pgw_hmac_sha256(key, keylen, data, keylen % 100, out), 0);
		assert_memory_equal(out, ref, PGW_SHA256_LEN);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_client_iterations_bounded),
		cmocka_unit_test(test_hmac_sha256_vectors),
		cmocka_unit_test(test_base64_rfc4648),
		cmocka_unit_test(test_base64_strict),
		cmocka_unit_test(test_secret_from_password),
		cmocka_unit_test(test_secret_parse),
		cmocka_unit_test(test_secret_is_secret),
		cmocka_unit_test(test_secret_new),
		cmocka_unit_test(test_mock_secret),
		cmocka_unit_test(test_rfc7677),
		cmocka_unit_test(test_recorded_exchanges),
		cmocka_unit_test(test_cert_hash),
		cmocka_unit_test(test_server_mechanisms),
		cmocka_unit_test(test_server_first_errors),
		cmocka_unit_test(test_server_initial_response_framing),
		cmocka_unit_test(test_server_message_limit),
		cmocka_unit_test(test_server_no_initial_response),
		cmocka_unit_test(test_server_final_errors),
		cmocka_unit_test(test_server_final_raw),
		cmocka_unit_test(test_server_out_of_order),
		cmocka_unit_test(test_pair_channel_binding),
		cmocka_unit_test(test_pair_wrong_password_and_unknown_user),
		cmocka_unit_test(test_pair_recovered_client_key),
		cmocka_unit_test(test_pair_key_mode_failures),
		cmocka_unit_test(test_client_init),
		cmocka_unit_test(test_client_mechanism_lists),
		cmocka_unit_test(test_client_server_first_errors),
		cmocka_unit_test(test_client_server_final_errors),
		cmocka_unit_test(test_client_out_of_order),
		cmocka_unit_test(test_clear),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
