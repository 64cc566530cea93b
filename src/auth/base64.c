/*
 * Base64 (RFC 4648, standard alphabet, padded) for SCRAM's salts, nonces, proofs and keys.
 * Decoding is strict: text that is not the canonical encoding of some bytes is refused, so
 * one value never has two spellings.
 */
#include "scram-int.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t pgw_base64_enc_len(size_t n)
{
	return (n + 2) / 3 * 4;
}

size_t pgw_base64_encode(const uint8_t *in, size_t n, char *out)
{
	char *o = out;
	size_t i;

	for (i = 0; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];

		*o++ = alphabet[v >> 18];
		*o++ = alphabet[(v >> 12) & 63];
		*o++ = alphabet[(v >> 6) & 63];
		*o++ = alphabet[v & 63];
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)in[i] << 16;

		*o++ = alphabet[v >> 18];
		*o++ = alphabet[(v >> 12) & 63];
		*o++ = '=';
		*o++ = '=';
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;

		*o++ = alphabet[v >> 18];
		*o++ = alphabet[(v >> 12) & 63];
		*o++ = alphabet[(v >> 6) & 63];
		*o++ = '=';
	}
	*o = '\0';
	return (size_t)(o - out);
}

static int sextet(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

bool pgw_base64_decode(const char *in, size_t n, uint8_t *out, size_t cap, size_t *outlen)
{
	size_t pad = 0, len;

	if (n % 4 != 0)
		return false;
	if (n > 0 && in[n - 1] == '=')
		pad = n > 1 && in[n - 2] == '=' ? 2 : 1;
	len = n / 4 * 3 - pad;
	if (len > cap)
		return false;
	for (size_t i = 0, o = 0; i < n; i += 4) {
		bool last = i + 4 == n;
		int s[4];
		uint32_t v = 0;

		for (int k = 0; k < 4; k++) {
			/* '=' is only where <pad> counted it; a sextet anywhere else */
			if (last && k >= 4 - (int)pad)
				s[k] = 0;
			else if ((s[k] = sextet(in[i + k])) < 0)
				return false;
			v = v << 6 | (uint32_t)s[k];
		}
		/* the bits a padded group does not use must be zero: one spelling per value */
		if (last && ((pad == 1 && (v & 0xff) != 0) || (pad == 2 && (v & 0xffff) != 0)))
			return false;
		out[o++] = (uint8_t)(v >> 16);
		if (!last || pad < 2)
			out[o++] = (uint8_t)(v >> 8);
		if (!last || pad < 1)
			out[o++] = (uint8_t)v;
	}
	*outlen = len;
	return true;
}
