/*
 * The pure pieces of the tenant context: UUID syntax, reading a startup "options" value
 * exactly as the server reads it (so a setting hidden in it cannot slip past), and the
 * context's signature. No sockets, no state.
 */
#include "pgward/tenant.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

bool pgw_uuid_valid(const char *s)
{
	static const int dash_at[] = {8, 13, 18, 23};
	size_t d = 0;

	if (strlen(s) != PGW_UUID_LEN)
		return false;
	for (int i = 0; i < PGW_UUID_LEN; i++) {
		if (d < PGW_ARRAY_LEN(dash_at) && i == dash_at[d]) {
			if (s[i] != '-')
				return false;
			d++;
		} else if (!isxdigit((unsigned char)s[i])) {
			return false;
		}
	}
	return true;
}

/* PostgreSQL's pg_split_opts(): whitespace separates, a backslash escapes the next byte. */
static int split(const char *v, struct pgw_options *o)
{
	char *w;

	o->buf = malloc(strlen(v) + 1);
	if (o->buf == NULL)
		return -1;
	w = o->buf;
	while (*v) {
		bool escaped = false;

		while (isspace((unsigned char)*v))
			v++;
		if (*v == '\0')
			break;
		if (o->ntokens == PGW_OPTIONS_MAX_TOKENS)
			return -1;
		o->tokens[o->ntokens++] = w;
		for (; *v; v++) {
			if (isspace((unsigned char)*v) && !escaped)
				break;
			if (!escaped && *v == '\\') {
				escaped = true;
				continue;
			}
			escaped = false;
			*w++ = *v;
		}
		*w++ = '\0';
	}
	return 0;
}

/* The server's getopt letters (process_postgres_switches); ':' marks a letter with a value. */
static const char server_opts[] = "B:bc:C:D:d:EeFf:h:ijk:lN:nOPp:r:S:sTt:v:W:-:";

static void add_setting(struct pgw_options *o, const char *arg, int first, int last, bool removable)
{
	struct pgw_option_setting *s = &o->settings[o->nsettings++];
	const char *eq = strchr(arg, '=');
	size_t n = eq ? (size_t)(eq - arg) : strlen(arg);

	if (n >= sizeof(s->name))
		n = sizeof(s->name) - 1;
	memcpy(s->name, arg, n);
	s->name[n] = '\0';
	for (char *c = s->name; *c; c++)
		if (*c == '-')
			*c = '_';
	s->value = eq ? eq + 1 : NULL;
	s->first = first;
	s->last = last;
	s->removable = removable;
}

/* Walks the tokens as getopt does; glibc permutes, so a non-option does not stop it (the
 * server then refuses the connection for it anyway). */
static void find_settings(struct pgw_options *o)
{
	for (int i = 0; i < o->ntokens; i++) {
		const char *tok = o->tokens[i];

		if (tok[0] != '-' || tok[1] == '\0')
			continue;
		if (strcmp(tok, "--") == 0)
			return;
		for (int j = 1; tok[j] != '\0'; j++) {
			const char *spec = strchr(server_opts, tok[j]);
			const char *arg;
			int first = i;

			if (spec == NULL || tok[j] == ':')
				break; /* the server refuses an unknown letter */
			if (spec[1] != ':')
				continue;
			if (tok[j + 1] != '\0')
				arg = tok + j + 1;
			else if (i + 1 < o->ntokens)
				arg = o->tokens[++i];
			else
				break;
			if (tok[j] == 'c' || tok[j] == '-')
				add_setting(o, arg, first, i, j == 1);
			break;
		}
	}
}

int pgw_options_parse(const char *value, struct pgw_options *out)
{
	memset(out, 0, sizeof(*out));
	if (split(value, out) < 0) {
		pgw_options_free(out);
		return -1;
	}
	find_settings(out);
	return 0;
}

char *pgw_options_format(const struct pgw_options *o, int skip)
{
	size_t cap = 1;
	char *out, *w;

	for (int i = 0; i < o->ntokens; i++)
		cap += 2 * strlen(o->tokens[i]) + 1;
	out = malloc(cap);
	if (out == NULL)
		return NULL;
	w = out;
	for (int i = 0; i < o->ntokens; i++) {
		if (skip >= 0 && i >= o->settings[skip].first && i <= o->settings[skip].last)
			continue;
		if (w != out)
			*w++ = ' ';
		for (const char *c = o->tokens[i]; *c; c++) {
			if (*c == '\\' || isspace((unsigned char)*c))
				*w++ = '\\';
			*w++ = *c;
		}
	}
	*w = '\0';
	return out;
}

void pgw_options_free(struct pgw_options *o)
{
	free(o->buf);
	memset(o, 0, sizeof(*o));
}

void pgw_tenant_sign(const char *secret, const char *user_id, const char *org_ids, uint32_t pid,
		     char out[PGW_HMAC_HEX_LEN + 1])
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	size_t n = strlen(user_id) + strlen(org_ids) + 16;
	char *msg = malloc(n);
	int len;

	out[0] = '\0';
	if (msg == NULL)
		return;
	len = snprintf(msg, n, "%s%s%u", user_id, org_ids, pid);
	if (HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)msg, (size_t)len,
		 mac, &maclen) != NULL)
		for (unsigned i = 0; i < maclen && i < PGW_HMAC_HEX_LEN / 2; i++)
			snprintf(out + 2 * i, 3, "%02x", mac[i]);
	free(msg);
}
