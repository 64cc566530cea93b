/*
 * libFuzzer target for the console's command reader (src/admin/command.c): any Query text
 * either reads as a command whose word is upper-case letters, digits and underscores and
 * whose argument fits a name, or fails with a message; it never reads past the text.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/admin/admin-int.h"

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond))                                                                       \
			abort();                                                                   \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* a copy of exactly <size> bytes: reading one more is an ASan report */
	char *sql = malloc(size ? size : 1);
	struct pgw_admin_cmd cmd;
	char err[200] = "";

	CHECK(sql != NULL);
	memcpy(sql, data, size);
	if (pgw_admin_parse(sql, size, &cmd, err, sizeof(err)) == 0) {
		for (const char *c = cmd.verb; *c != '\0'; c++)
			CHECK(isupper((unsigned char)*c) || isdigit((unsigned char)*c) ||
			      *c == '_');
		CHECK(strlen(cmd.arg) <= PGW_NAME_MAX);
		CHECK(cmd.has_arg == (cmd.arg[0] != '\0'));
		CHECK(cmd.verb[0] != '\0' || !cmd.has_arg);
	} else {
		CHECK(err[0] != '\0');
	}
	free(sql);
	return 0;
}
