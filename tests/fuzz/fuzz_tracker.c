/*
 * libFuzzer target for the response tracker: the input interleaves frontend messages
 * pgward sends (with PASS, SWALLOW or REPLACE) and backend messages the server answers
 * with, in any order a confused or hostile server could produce. Invariants: the pending
 * count never exceeds what was pushed, a replacement error is handed out at most once and
 * only for an ErrorResponse, and everything is freed.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pgward/tracker.h"

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond))                                                                       \
			abort();                                                                   \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char frontend[] = "QFSPBCDEHdcf";
static const char backend[] = "123ACDEGHIKNRSTVWZcdnstv";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pgw_tracker t = {0};
	uint32_t pushed = 0;

	for (size_t i = 0; i + 1 < size; i += 2) {
		uint8_t op = data[i], arg = data[i + 1];

		if (op & 0x80) {
			char type = frontend[arg % (sizeof(frontend) - 1)];
			enum pgw_resp_action action = (enum pgw_resp_action)(op % 3);
			uint8_t *err = NULL;

			if (!pgw_tracker_expects_answer(type))
				continue;
			if (action == PGW_RESP_REPLACE) {
				err = malloc(8);
				CHECK(err != NULL);
				memset(err, 'E', 8);
			}
			CHECK(pgw_tracker_push(&t, type, action, err, err ? 8 : 0) == 0);
			pushed++;
		} else if (op & 0x40) {
			uint8_t *err = malloc(4);

			CHECK(err != NULL);
			pgw_tracker_replace_newest(&t, err, 4);
		} else {
			char type = backend[arg % (sizeof(backend) - 1)];
			uint32_t before = pgw_tracker_pending(&t);
			struct pgw_resp_verdict v = pgw_tracker_on_backend(&t, type);

			CHECK(pgw_tracker_pending(&t) <= before);
			CHECK(v.action <= PGW_RESP_REPLACE);
			CHECK(v.error == NULL || type == 'E');
			CHECK(!v.completes || pgw_tracker_pending(&t) < before);
			free(v.error);
		}
		CHECK(pgw_tracker_pending(&t) <= pushed);
	}
	pgw_tracker_free(&t);
	return 0;
}
