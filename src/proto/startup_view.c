/*
 * The canonical startup view (startup_view.h). Mirrors PostgreSQL 15: ProcessStartupPacket
 * for the keys, pg_split_opts for options (every whitespace byte separates, a backslash
 * takes the next byte literally, no length limit), getopt over process_postgres_switches'
 * letters for the switches, ParseLongOption for -c/--. It must never accept a packet the
 * server would read differently: where PostgreSQL would let a later value win, pgward
 * refuses instead.
 */
#include "pgward/startup_view.h"
#include "pgward/startup.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <event2/buffer.h>

static int fail(struct pgw_startup_error *err, const char *sqlstate, const char *fmt, ...)
	PGW_PRINTF(3, 4);

static int fail(struct pgw_startup_error *err, const char *sqlstate, const char *fmt, ...)
{
	va_list ap;

	err->sqlstate = sqlstate;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	return -1;
}

/* PostgreSQL's isspace() on the options bytes: the C locale's six, which every server
 * locale shares (glibc classifies no single byte above 0x7f as space). */
static bool opt_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/* pg_split_opts(): tokens NUL-terminated in <buf> (as long as <s> plus one), pointed to
 * by <tok> (room for strlen(s) / 2 + 1); returns the number of tokens. */
static size_t split_options(const char *s, char *buf, char **tok)
{
	size_t n = 0;
	char *w = buf;

	while (*s) {
		bool escaped = false;

		while (opt_space(*s))
			s++;
		if (*s == '\0')
			break;
		tok[n++] = w;
		for (; *s; s++) {
			if (opt_space(*s) && !escaped)
				break;
			if (!escaped && *s == '\\') {
				escaped = true;
				continue;
			}
			escaped = false;
			*w++ = *s;
		}
		*w++ = '\0';
	}
	return n;
}

/* The server's boolean reader (parse_bool): a prefix of true/false/yes/no, on/off (two
 * letters at least), 1 or 0, any case. 1, 0, or -1 when it is none of them. */
static int parse_bool(const char *v)
{
	static const struct {
		const char *word;
		size_t min;
		int value;
	} words[] = {{"true", 1, 1}, {"false", 1, 0}, {"yes", 1, 1},
		     {"no", 1, 0},   {"on", 2, 1},    {"off", 2, 0}};
	size_t len = strlen(v);

	if (strcmp(v, "1") == 0)
		return 1;
	if (strcmp(v, "0") == 0)
		return 0;
	for (size_t i = 0; i < PGW_ARRAY_LEN(words); i++)
		if (len >= words[i].min && len <= strlen(words[i].word) &&
		    strncasecmp(v, words[i].word, len) == 0)
			return words[i].value;
	return -1;
}

static const char *const reserved_keys[] = {"user", "database", "options", "replication"};

/*
 * A setting named like a packet key the server reserves would change meaning once rebuilt
 * as a key of its own. The server refuses user, database, options and replication as
 * unknown settings; a _pq_. name it would take as a placeholder setting, but no client has
 * a reason to send one, so pgward refuses it rather than rebuild it ambiguously. An empty
 * name (-c =x) the server refuses too.
 */
static bool reserved_setting(const char *name)
{
	if (name[0] == '\0')
		return true; /* as a key it would end the rebuilt packet's parameters */
	for (size_t i = 0; i < PGW_ARRAY_LEN(reserved_keys); i++)
		if (strcasecmp(name, reserved_keys[i]) == 0)
			return true;
	return strncasecmp(name, "_pq_.", 5) == 0;
}

/* The server's old names for two settings (map_old_guc_names): the same setting twice. */
static const char *const old_names[][2] = {{"sort_mem", "work_mem"},
					   {"vacuum_mem", "maintenance_work_mem"}};

static const char *current_name(const char *name)
{
	for (size_t i = 0; i < PGW_ARRAY_LEN(old_names); i++)
		if (strcasecmp(name, old_names[i][0]) == 0)
			return old_names[i][1];
	return name;
}

static int add_setting(struct pgw_startup_view *v, const char *name, const char *value,
		       bool from_options, struct pgw_startup_error *err)
{
	if (pgw_startup_view_find(v, name) >= 0)
		return fail(err, "08P01",
			    "pgward: setting \"%s\" is given more than once in the startup packet",
			    name);
	if (reserved_setting(name))
		return fail(err, "42704", "unrecognized configuration parameter \"%s\"", name);
	v->settings[v->nsettings].name = name;
	v->settings[v->nsettings].value = value;
	v->settings[v->nsettings].from_options = from_options;
	v->nsettings++;
	return 0;
}

/* ParseLongOption() on the argument of -c or --: "name=value", '-' in the name made '_'. */
static int long_option(struct pgw_startup_view *v, char *arg, char flag,
		       struct pgw_startup_error *err)
{
	char *eq = strchr(arg, '=');

	if (eq == NULL)
		return fail(err, "42601",
			    flag == '-' ? "--%s requires a value" : "-c %s requires a value", arg);
	*eq = '\0';
	for (char *c = arg; *c; c++)
		if (*c == '-')
			*c = '_';
	return add_setting(v, arg, eq + 1, true, err);
}

/*
 * Walks the tokens as the server's getopt does. Only -c and -- (settings) are accepted:
 * the other switches set server-wide parameters a session cannot change, or nothing, and
 * a bare word makes the server refuse the connection.
 */
static int walk_options(struct pgw_startup_view *v, char **tok, size_t ntok,
			struct pgw_startup_error *err)
{
	for (size_t i = 0; i < ntok; i++) {
		char *arg;
		char flag;

		if (tok[i][0] != '-' || tok[i][1] == '\0')
			return fail(err, "42601",
				    "invalid command-line argument for server process: %s", tok[i]);
		if (strcmp(tok[i], "--") == 0) {
			/* getopt stops here; anything after it is a bare word */
			if (i + 1 < ntok)
				return fail(err, "42601",
					    "invalid command-line argument for server process: %s",
					    tok[i + 1]);
			return 0;
		}
		flag = tok[i][1];
		if (flag != 'c' && flag != '-')
			return fail(
				err, "0A000",
				"pgward: startup option \"-%c\" is not supported: pass settings "
				"as -c name=value",
				flag);
		if (tok[i][2] != '\0')
			arg = tok[i] + 2;
		else if (i + 1 < ntok)
			arg = tok[++i]; /* the next token, whatever it starts with */
		else
			return fail(err, "42601", "option requires an argument -- '%c'", flag);
		if (long_option(v, arg, flag, err) < 0)
			return -1;
	}
	return 0;
}

/* Copies <value> cut to 63 bytes, as the server cuts user and database names. */
static void name_copy(char *dst, const char *value)
{
	size_t n = strlen(value);

	if (n > PGW_NAME_MAX)
		n = PGW_NAME_MAX;
	memcpy(dst, value, n);
	dst[n] = '\0';
}

static bool is_key(const char *name, const char *key)
{
	return strcmp(name, key) == 0;
}

/* The packet's own keys: each at most once, settings into v->settings. */
static int read_keys(const struct pgw_startup *st, struct pgw_startup_view *v, const char **options,
		     const char **database, const char **replication, struct pgw_startup_error *err)
{
	const char *user = NULL;

	for (size_t i = 0; i < st->nparams; i++) {
		const char *name = st->params[i].name, *value = st->params[i].value;

		for (size_t j = 0; j < i; j++)
			if (strcmp(st->params[j].name, name) == 0)
				return fail(err, "08P01",
					    "pgward: startup parameter \"%s\" is given more than "
					    "once",
					    name);
		if (is_key(name, "user"))
			user = value;
		else if (is_key(name, "database"))
			*database = value;
		else if (is_key(name, "options"))
			*options = value;
		else if (is_key(name, "replication"))
			*replication = value;
		else if (strncmp(name, "_pq_.", 5) == 0) {
			v->proto[v->nproto].name = name;
			v->proto[v->nproto].value = value;
			v->nproto++;
		}
	}
	if (user == NULL || user[0] == '\0')
		return fail(err, "28000", "no PostgreSQL user name specified in startup packet");
	name_copy(v->user, user);
	return 0;
}

static int read_replication(struct pgw_startup_view *v, const char *value,
			    struct pgw_startup_error *err)
{
	if (value == NULL)
		return 0;
	if (strcmp(value, "database") == 0) {
		v->replication = PGW_REPL_LOGICAL;
		return 0;
	}
	switch (parse_bool(value)) {
	case 1:
		v->replication = PGW_REPL_PHYSICAL;
		return 0;
	case 0:
		return 0;
	default:
		return fail(err, "22023", "invalid value for parameter \"replication\": \"%s\"",
			    value);
	}
}

/* Splits <options> into v->buf and walks it; settings go to v->settings. */
static int read_options(struct pgw_startup_view *v, const char *options,
			struct pgw_startup_error *err)
{
	size_t n = strlen(options), ntok;
	char **tok;
	int rc;

	v->buf = malloc(n + 1);
	tok = malloc((n / 2 + 1) * sizeof(*tok)); /* a token and its separator: 2 bytes */
	if (v->buf == NULL || tok == NULL) {
		free(tok);
		return fail(err, "53200", "pgward: out of memory");
	}
	ntok = split_options(options, v->buf, tok);
	rc = walk_options(v, tok, ntok, err);
	free(tok);
	return rc;
}

int pgw_startup_view_build(const struct pgw_startup *st, struct pgw_startup_view *v,
			   struct pgw_startup_error *err)
{
	const char *options = NULL, *database = NULL, *replication = NULL;
	size_t cap = st->nparams;

	memset(v, 0, sizeof(*v));
	v->version = st->version;
	v->proto = calloc(st->nparams ? st->nparams : 1, sizeof(*v->proto));
	if (v->proto == NULL)
		return fail(err, "53200", "pgward: out of memory");
	if (read_keys(st, v, &options, &database, &replication, err) < 0)
		return -1;
	if (read_replication(v, replication, err) < 0)
		return -1;
	if (options != NULL)
		cap += strlen(options) / 2 + 1;
	v->settings = calloc(cap ? cap : 1, sizeof(*v->settings));
	if (v->settings == NULL)
		return fail(err, "53200", "pgward: out of memory");
	/* The server applies options first, then the other keys; with no name given twice
	 * the order does not matter, but the view keeps it. */
	if (options != NULL && read_options(v, options, err) < 0)
		return -1;
	for (size_t i = 0; i < st->nparams; i++) {
		const char *name = st->params[i].name;

		if (is_key(name, "user") || is_key(name, "database") || is_key(name, "options") ||
		    is_key(name, "replication") || strncmp(name, "_pq_.", 5) == 0)
			continue;
		if (add_setting(v, name, st->params[i].value, false, err) < 0)
			return -1;
	}
	if (v->replication != PGW_REPL_PHYSICAL)
		name_copy(v->database, database && database[0] ? database : v->user);
	return 0;
}

int pgw_startup_view_find(const struct pgw_startup_view *v, const char *name)
{
	name = current_name(name);
	for (size_t i = 0; i < v->nsettings; i++)
		if (strcasecmp(current_name(v->settings[i].name), name) == 0)
			return (int)i;
	return -1;
}

void pgw_startup_view_remove(struct pgw_startup_view *v, size_t i)
{
	if (i >= v->nsettings)
		return;
	memmove(&v->settings[i], &v->settings[i + 1],
		(v->nsettings - i - 1) * sizeof(v->settings[0]));
	v->nsettings--;
}

static void put_pair(struct evbuffer *out, const char *name, const char *value, uint32_t *len)
{
	size_t n = strlen(name) + 1, m = strlen(value) + 1;

	if (out != NULL) {
		evbuffer_add(out, name, n);
		evbuffer_add(out, value, m);
	}
	*len += (uint32_t)(n + m);
}

/* Writes (or, with out NULL, only measures) the parameters of the rebuilt packet. */
static uint32_t put_params(const struct pgw_startup_view *v, struct evbuffer *out)
{
	uint32_t len = 0;

	put_pair(out, "user", v->user, &len);
	/* the database key only when it says more than the server's default */
	if (v->replication != PGW_REPL_PHYSICAL && strcmp(v->database, v->user) != 0)
		put_pair(out, "database", v->database, &len);
	if (v->replication == PGW_REPL_PHYSICAL)
		put_pair(out, "replication", "1", &len);
	else if (v->replication == PGW_REPL_LOGICAL)
		put_pair(out, "replication", "database", &len);
	for (size_t i = 0; i < v->nproto; i++)
		put_pair(out, v->proto[i].name, v->proto[i].value, &len);
	for (size_t i = 0; i < v->nsettings; i++)
		put_pair(out, v->settings[i].name, v->settings[i].value, &len);
	return len;
}

void pgw_startup_view_write(const struct pgw_startup_view *v, struct evbuffer *out)
{
	uint32_t len = 4 + 4 + put_params(v, NULL) + 1, be;

	be = htonl(len);
	evbuffer_add(out, &be, 4);
	be = htonl(v->version);
	evbuffer_add(out, &be, 4);
	put_params(v, out);
	evbuffer_add(out, "", 1);
}

void pgw_startup_view_free(struct pgw_startup_view *v)
{
	free(v->settings);
	free(v->proto);
	free(v->buf);
	memset(v, 0, sizeof(*v));
}
