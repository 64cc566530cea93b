/*
 * libFuzzer target for the frontend policy pipeline: the input is a client message stream
 * (type, length, body) after startup; every message goes through the header stage and,
 * for the types policies read, the whole-message stage, with every rule and payload limit
 * on, as a role the guard covers, with [tenant] mode on and, by the first byte, a session
 * with or without a tenant context. A passed Parse is kept in the prepared-statement map the
 * way the relay keeps it, so Binds are checked against what their statement was.
 * Invariants: a refusal always names a rule, a SQLSTATE and a message.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pgward/config.h"
#include "pgward/policy.h"
#include "pgward/sql.h"

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond))                                                                       \
			abort();                                                                   \
	} while (0)

static struct pgw_config cfg;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char config_text[] = "[limits]\n"
				  "max_message_size = 64kB\n"
				  "max_query_size = 16kB\n"
				  "max_bind_param_size = 4kB\n"
				  "max_bind_params = 64\n"
				  "max_copy_data_size = 8kB\n"
				  "[guard]\n"
				  "rules = all\n"
				  "role_rules = migrator: drop_database\n"
				  "function_roles = migrator\n"
				  "[tenant]\n"
				  "mode = on\n"
				  "map_file = /dev/null\n";

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char path[] = "/tmp/pgward-fuzz-pipeline-XXXXXX", err[256];
	int fd = mkstemp(path);

	(void)argc;
	(void)argv;
	CHECK(fd >= 0);
	CHECK(write(fd, config_text, sizeof(config_text) - 1) == (ssize_t)sizeof(config_text) - 1);
	close(fd);
	if (pgw_config_load(path, &cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "fuzz_pipeline: %s\n", err);
		abort();
	}
	unlink(path);
	return 0;
}

static void check_refusal(const struct pgw_refusal *r)
{
	CHECK(r->rule != NULL && r->rule[0] != '\0');
	CHECK(r->sqlstate != NULL && strlen(r->sqlstate) == 5);
	CHECK(r->message[0] != '\0');
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pgw_stmt_map stmts = {0};
	/* The first byte picks the role (one all rules apply to, or the exempt one) and
	 * whether the session has a tenant context. */
	const char *user = size > 0 && (data[0] & 1) ? "migrator" : "app";
	bool tenant_context = size > 0 && (data[0] & 2);
	size_t pos = size > 0 ? 1 : 0;

	while (size - pos >= 5) {
		struct pgw_policy_ctx ctx = {.cfg = &cfg,
					     .user = user,
					     .sid = 1,
					     .stmts = &stmts,
					     .tenant_context = tenant_context};
		struct pgw_msg_view m = {(char)data[pos], be32(data + pos + 1), NULL};
		size_t body_len;

		if (m.len < 4)
			break; /* the relay closes the session */
		body_len = m.len - 4;
		m.len = (uint32_t)body_len;
		if (pgw_pipeline_header(&ctx, &m) != PGW_PASS) {
			check_refusal(&ctx.refusal);
			CHECK(ctx.info == NULL);
		} else if (pgw_policy_needs_body(m.type)) {
			/* the header stage bounds what is read whole */
			CHECK(body_len <= cfg.max_message_size);
			if (size - pos - 5 < body_len)
				break;
			m.body = data + pos + 5;
			if (pgw_pipeline_message(&ctx, &m) != PGW_PASS)
				check_refusal(&ctx.refusal);
			else if (m.type == 'P' && memchr(m.body, '\0', m.len) != NULL)
				CHECK(pgw_stmt_map_put(&stmts, (const char *)m.body, ctx.info) ==
				      0);
			pgw_policy_ctx_release(&ctx);
		}
		if (size - pos - 5 < body_len)
			break;
		pos += 5 + body_len;
	}
	pgw_stmt_map_clear(&stmts);
	return 0;
}
