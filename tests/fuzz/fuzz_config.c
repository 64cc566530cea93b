/*
 * libFuzzer target for the configuration parser: any file content either loads (and
 * then passes its own checks again when reloaded from the same text) or fails with a
 * "file:line: problem" message; nothing leaks either way.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pgward/config.h"

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond))                                                                       \
			abort();                                                                   \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[64];

static int load(const uint8_t *data, size_t size, struct pgw_config *cfg, char *err, size_t n)
{
	FILE *f = fopen(path, "w");

	CHECK(f != NULL);
	CHECK(fwrite(data, 1, size, f) == size);
	fclose(f);
	return pgw_config_load(path, cfg, err, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pgw_config a, b;
	char err[512] = "", err2[512] = "";
	int rc;

	if (path[0] == '\0')
		snprintf(path, sizeof(path), "/tmp/pgward-fuzz-config-%d.ini", (int)getpid());
	rc = load(data, size, &a, err, sizeof(err));
	if (rc != 0) {
		/* every error names the file */
		CHECK(strncmp(err, path, strlen(path)) == 0);
		return 0;
	}
	CHECK(load(data, size, &b, err2, sizeof(err2)) == 0);
	CHECK(pgw_config_restart_changes(&a, &b, NULL, NULL) == 0);
	CHECK(a.listen_port == b.listen_port && a.max_client_conn == b.max_client_conn);
	pgw_config_free(&a);
	pgw_config_free(&b);
	return 0;
}
