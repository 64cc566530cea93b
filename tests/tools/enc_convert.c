/*
 * enc_convert: pgward's reading of texts in a client encoding, for the differential test
 * against the server's own conversion (tests/integration/test_encoding_tables.py). One text
 * a line, "ENCNAME HEX" (the client_encoding and the text's bytes); prints for each
 *
 *   <hex of the UTF-8>            (also for PGW_ENC_SAME: the input itself)
 *   INVALID <sqlstate> <message>  the error pgward expects from the server
 *   UNKNOWN                       the server knows no encoding of that name
 *
 *   enc_convert [SERVER_ENCODING]   (default UTF8, the database's encoding)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgward/encoding.h"

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes <hex> (NUL-terminated, even length) into <bytes>; -1 on a malformed one. */
static long decode(const char *hex, unsigned char *bytes)
{
	size_t n = strlen(hex);

	if (n % 2)
		return -1;
	for (size_t i = 0; i < n; i += 2) {
		int hi = hex_value(hex[i]), lo = hex_value(hex[i + 1]);

		if (hi < 0 || lo < 0)
			return -1;
		bytes[i / 2] = (unsigned char)(hi << 4 | lo);
	}
	return (long)(n / 2);
}

static void put_hex(const unsigned char *s, size_t n)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		putchar(digits[s[i] >> 4]);
		putchar(digits[s[i] & 15]);
	}
	putchar('\n');
}

int main(int argc, char **argv)
{
	char *line = NULL, *name, *hex, *save = NULL;
	unsigned char *bytes = NULL;
	size_t cap = 0;
	ssize_t got;
	int server = PGW_ENC_UTF8, rc = 0;

	if (argc > 2 || (argc == 2 && (server = pgw_enc_from_name(argv[1])) < 0)) {
		fprintf(stderr, "usage: %s [SERVER_ENCODING]\n", argv[0]);
		return 2;
	}
	while ((got = getline(&line, &cap, stdin)) >= 0) {
		struct pgw_enc_error err;
		enum pgw_enc_result r;
		size_t out_len;
		char *out;
		long n;
		int enc;

		name = strtok_r(line, " \t\r\n", &save);
		hex = strtok_r(NULL, " \t\r\n", &save);
		if (!name)
			continue;
		if (!hex)
			hex = "";
		free(bytes);
		if (!(bytes = malloc(strlen(hex) / 2 + 1)) || (n = decode(hex, bytes)) < 0) {
			fprintf(stderr, "enc_convert: bad line for %s\n", name);
			rc = 2;
			break;
		}
		if ((enc = pgw_enc_from_name(name)) < 0) {
			puts("UNKNOWN");
			continue;
		}
		r = pgw_enc_to_utf8(enc, server, (const char *)bytes, (size_t)n, &out, &out_len,
				    &err);
		switch (r) {
		case PGW_ENC_SAME:
			put_hex(bytes, out_len);
			break;
		case PGW_ENC_CONVERTED:
			put_hex((const unsigned char *)out, out_len);
			free(out);
			break;
		case PGW_ENC_INVALID:
			printf("INVALID %s %s\n", err.sqlstate, err.message);
			break;
		case PGW_ENC_NO_MEMORY:
			fprintf(stderr, "enc_convert: out of memory\n");
			rc = 2;
			goto out;
		}
	}
out:
	free(bytes);
	free(line);
	return rc;
}
