/*
 * The rules that span several keys of a section, checked once the whole file is read,
 * and what they derive (the guard's rule masks). Errors point at the key that imposes
 * the rule.
 */
#include "config-int.h"

#include "pgward/sql.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The line that set <name> in <sec>, 0 if the file left it at its default. */
static unsigned line_of(const struct parser *p, const struct config_section *sec, const char *name)
{
	const struct config_key *key = pgw_config_find_key(sec, name);

	return key != NULL ? p->key_lines[pgw_config_key_slot(sec, key)] : 0;
}

static bool verifies_peer(enum pgw_sslmode mode)
{
	return mode == PGW_SSL_VERIFY_CA || mode == PGW_SSL_VERIFY_FULL;
}

/* What each auth_type needs to be able to let anyone in. */
static int check_auth(struct parser *p, const struct config_section *sec)
{
	const struct pgw_config *c = p->cfg;
	unsigned line = line_of(p, sec, "auth_type");
	const char *type = pgw_auth_type_name(c->auth_type);

	if (c->auth_type == PGW_AUTH_TYPE_HBA && c->auth_hba_file == NULL)
		return pgw_config_fail(p, line, "auth_type \"hba\" requires auth_hba_file");
	if ((c->auth_type == PGW_AUTH_TYPE_PASSWORD || c->auth_type == PGW_AUTH_TYPE_MD5 ||
	     c->auth_type == PGW_AUTH_TYPE_SCRAM) &&
	    c->auth_file == NULL && c->auth_user == NULL)
		return pgw_config_fail(p, line,
				       "auth_type \"%s\" requires auth_file or auth_user (with "
				       "auth_query), where the secrets are",
				       type);
	if (c->auth_type == PGW_AUTH_TYPE_CERT &&
	    (c->client_tls_sslmode == PGW_SSL_DISABLE || c->client_tls_ca_file == NULL))
		return pgw_config_fail(p, line,
				       "auth_type \"cert\" requires client TLS "
				       "(client_tls_sslmode) and client_tls_ca_file");
	if (c->auth_user != NULL && c->auth_type == PGW_AUTH_TYPE_PASSTHROUGH)
		return pgw_config_fail(p, line_of(p, sec, "auth_user"),
				       "auth_user is used by pgward's own authentication; "
				       "auth_type \"passthrough\" leaves the login to the server");
	return 0;
}

/* Errors point at the key that imposes the rule, since the missing keys have no line. */
int pgw_config_check_pgward(struct parser *p, const struct config_section *sec)
{
	const struct pgw_config *c = p->cfg;
	const char *cmode = pgw_sslmode_name(c->client_tls_sslmode);
	const char *smode = pgw_sslmode_name(c->server_tls_sslmode);

	/* libpq's "allow" tries plaintext first; pgward never downgrades towards the server. */
	if (c->server_tls_sslmode == PGW_SSL_ALLOW)
		return pgw_config_fail(p, line_of(p, sec, "server_tls_sslmode"),
				       "server_tls_sslmode \"allow\" is not supported "
				       "(use disable, prefer, require, verify-ca or verify-full)");
	if (c->client_tls_sslmode != PGW_SSL_DISABLE &&
	    (c->client_tls_cert_file == NULL || c->client_tls_key_file == NULL))
		return pgw_config_fail(
			p, line_of(p, sec, "client_tls_sslmode"),
			"client_tls_sslmode \"%s\" requires client_tls_cert_file and "
			"client_tls_key_file",
			cmode);
	if (verifies_peer(c->client_tls_sslmode) && c->client_tls_ca_file == NULL)
		return pgw_config_fail(p, line_of(p, sec, "client_tls_sslmode"),
				       "client_tls_sslmode \"%s\" requires client_tls_ca_file",
				       cmode);
	if (verifies_peer(c->server_tls_sslmode) && c->server_tls_ca_file == NULL)
		return pgw_config_fail(p, line_of(p, sec, "server_tls_sslmode"),
				       "server_tls_sslmode \"%s\" requires server_tls_ca_file",
				       smode);
	if ((c->server_tls_cert_file == NULL) != (c->server_tls_key_file == NULL))
		return pgw_config_fail(
			p,
			line_of(p, sec,
				c->server_tls_cert_file ? "server_tls_cert_file"
							: "server_tls_key_file"),
			"server_tls_cert_file and server_tls_key_file must be set together");
	return check_auth(p, sec);
}

/* One "role: rules" entry of role_rules; <entry> is modified. */
static int add_guard_role(struct parser *p, unsigned line, char *entry)
{
	struct pgw_config *c = p->cfg;
	char *colon = strchr(entry, ':'), bad[64];
	struct pgw_guard_role *roles;
	uint64_t mask;

	if (colon == NULL)
		return pgw_config_fail(p, line,
				       "role_rules entry \"%s\" is not \"role: rule, ...\"",
				       pgw_config_trim(entry));
	*colon = '\0';
	if (*pgw_config_trim(entry) == '\0')
		return pgw_config_fail(p, line, "role_rules entry without a role name");
	if (pgw_sql_rule_list_parse(colon + 1, &mask, bad, sizeof(bad)) < 0)
		return pgw_config_fail(p, line, "unknown rule \"%s\" for role %s in role_rules",
				       bad, pgw_config_trim(entry));
	for (size_t i = 0; i < c->nguard_roles; i++)
		if (strcmp(c->guard_roles[i].role, pgw_config_trim(entry)) == 0)
			return pgw_config_fail(p, line, "role %s is listed twice in role_rules",
					       pgw_config_trim(entry));
	roles = realloc(c->guard_roles, (c->nguard_roles + 1) * sizeof(*roles));
	if (roles == NULL)
		return pgw_config_fail(p, line, "out of memory");
	c->guard_roles = roles;
	roles[c->nguard_roles].role = strdup(pgw_config_trim(entry));
	roles[c->nguard_roles].rules = mask;
	if (roles[c->nguard_roles].role == NULL)
		return pgw_config_fail(p, line, "out of memory");
	c->nguard_roles++;
	return 0;
}

int pgw_config_check_guard(struct parser *p, const struct config_section *sec)
{
	struct pgw_config *c = p->cfg;
	char bad[64], *copy, *save = NULL;
	unsigned line = line_of(p, sec, "role_rules");
	int rc = 0;

	if (pgw_sql_rule_list_parse(c->rules, &c->guard_default_rules, bad, sizeof(bad)) < 0)
		return pgw_config_fail(p, line_of(p, sec, "rules"), "unknown rule \"%s\" in rules",
				       bad);
	if (c->role_rules == NULL)
		return 0;
	copy = strdup(c->role_rules);
	if (copy == NULL)
		return pgw_config_fail(p, line, "out of memory");
	for (char *e = strtok_r(copy, ";", &save); e != NULL && rc == 0;
	     e = strtok_r(NULL, ";", &save))
		if (*pgw_config_trim(e) != '\0')
			rc = add_guard_role(p, line, e);
	free(copy);
	return rc;
}

uint64_t pgw_config_guard_rules(const struct pgw_config *cfg, const char *role)
{
	for (size_t i = 0; role != NULL && i < cfg->nguard_roles; i++)
		if (strcmp(cfg->guard_roles[i].role, role) == 0)
			return cfg->guard_roles[i].rules;
	return cfg->guard_default_rules;
}

/* A custom setting name as PostgreSQL accepts one: prefix.name, identifier characters. */
static bool custom_setting_name(const char *s)
{
	const char *dot = s ? strchr(s, '.') : NULL;

	if (dot == NULL || dot == s || dot[1] == '\0')
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_' || *s == '.'))
			return false;
	return true;
}

int pgw_config_check_tenant(struct parser *p, const struct config_section *sec)
{
	const struct pgw_config *c = p->cfg;
	const char *names[] = {"org_ids_setting", "user_id_setting", "signature_setting"};
	const char *values[] = {c->tenant_org_ids_setting, c->tenant_user_id_setting,
				c->tenant_signature_setting};

	if (c->tenant_mode == PGW_TENANT_MODE_OFF)
		return 0;
	for (size_t i = 0; i < PGW_ARRAY_LEN(names); i++) {
		if (!custom_setting_name(values[i]))
			return pgw_config_fail(p, line_of(p, sec, names[i]),
					       "%s must be a custom setting name such as app.name",
					       names[i]);
		for (size_t j = 0; j < i; j++)
			if (strcasecmp(values[i], values[j]) == 0)
				return pgw_config_fail(p, line_of(p, sec, names[i]),
						       "%s and %s name the same setting", names[j],
						       names[i]);
	}
	if (c->tenant_source == PGW_TENANT_SRC_MAP && c->tenant_map_file == NULL)
		return pgw_config_fail(p, line_of(p, sec, "source"), "source = map needs map_file");
	if (c->tenant_source == PGW_TENANT_SRC_QUERY &&
	    (c->tenant_conninfo == NULL || c->tenant_query == NULL))
		return pgw_config_fail(p, line_of(p, sec, "source"),
				       "source = query needs conninfo and query");
	if (c->tenant_identity == PGW_TENANT_ID_STARTUP_OPTION && c->tenant_trusted_roles == NULL)
		return pgw_config_fail(p, line_of(p, sec, "identity"),
				       "identity = startup_option needs trusted_roles");
	/* The default compares $1 with a uuid column: a role name fails every login (58000). */
	if (c->tenant_source == PGW_TENANT_SRC_QUERY &&
	    c->tenant_identity == PGW_TENANT_ID_LOGIN_ROLE &&
	    strcmp(c->tenant_query, PGW_TENANT_DEFAULT_QUERY) == 0)
		return pgw_config_fail(p, line_of(p, sec, "identity") ?: line_of(p, sec, "source"),
				       "identity = login_role with source = query needs a query "
				       "keyed on login role names: $1 is the role name, and the "
				       "default compares it with user_id, a uuid");
	if (c->tenant_signing_secret != NULL && strlen(c->tenant_signing_secret) < 16)
		return pgw_config_fail(p, line_of(p, sec, "signing_secret"),
				       "signing_secret must be at least 16 characters");
	return 0;
}

/* A bulk insert of a few megabytes (4 MB: 1 MB of bytea as psycopg2 sends it, with room). */
#define BULK_INSERT_BYTES (4u << 20)

int pgw_config_warnings(const struct pgw_config *cfg, pgw_config_warn_fn warn, void *arg)
{
	const struct {
		const char *key;
		uint32_t value;
	} sizes[] = {
		{"max_message_size", cfg->max_message_size},
		{"max_query_size", cfg->max_query_size},
		{"max_bind_param_size", cfg->max_bind_param_size},
		{"max_copy_data_size", cfg->max_copy_data_size},
	};
	char msg[256];
	int n = 0;

	for (size_t i = 0; i < PGW_ARRAY_LEN(sizes); i++) {
		if (sizes[i].value >= BULK_INSERT_BYTES)
			continue;
		snprintf(msg, sizeof(msg),
			 "[limits] %s = %u bytes is smaller than a typical bulk insert "
			 "(4 MB: 1 MB of bytea sent as hex, or a batch of rows); such statements "
			 "will be refused",
			 sizes[i].key, (unsigned)sizes[i].value);
		warn(sizes[i].key, msg, arg);
		n++;
	}
	return n;
}
