/*
 * The relay's hooks: each request (a Query, a FunctionCall, or extended-protocol
 * messages up to Sync) is timed from its first message to the ReadyForQuery that ends it,
 * labelled with a kind from its SQL text and an outcome from what the server (or a
 * policy) answered. Pipelined requests wait in a per-session ring in the order the server
 * answers them. Per query: two clock reads and a few increments; no allocation (the ring
 * grows only with pipelining depth), no lock, no formatting.
 */
#include "metrics-int.h"

#include "pgward/policy.h"
#include "pgward/proxy.h"

#include <stdlib.h>
#include <string.h>

void pgw_metrics_login(struct pgw_msess *m, const char *tenant)
{
	if (!pgw_mg.on || m->tenant != NULL)
		return;
	m->tenant = pgw_mreg_acquire(&pgw_mg.reg, tenant, (unsigned)pgw.cfg.metrics_max_tenants);
	m->tx_status = 'I';
}

void pgw_metrics_relabel(struct pgw_msess *m, const char *tenant)
{
	if (m->tenant == NULL)
		return;
	pgw_mreg_release(&pgw_mg.reg, m->tenant, pgw_now());
	m->tenant = pgw_mreg_acquire(&pgw_mg.reg, tenant, (unsigned)pgw.cfg.metrics_max_tenants);
}

void pgw_metrics_session_end(struct pgw_msess *m)
{
	if (m->tenant != NULL)
		pgw_mreg_release(&pgw_mg.reg, m->tenant, pgw_now());
	free(m->ring);
	memset(m, 0, sizeof(*m));
}

/* The request being sent: opened by its first message, closed by Query, FunctionCall or Sync. */
static struct pgw_mreq *begin(struct pgw_msess *m)
{
	if (!m->open_started) {
		memset(&m->open, 0, sizeof(m->open));
		m->open.start_ns = pgw_metrics_now_ns();
		m->open.kind = PGW_MK_OTHER;
		m->open_started = true;
	}
	return &m->open;
}

static void push(struct pgw_msess *m)
{
	m->open_started = false;
	if (m->count == m->cap) {
		uint32_t cap = m->cap ? m->cap * 2 : 8;
		struct pgw_mreq *ring = malloc(cap * sizeof(*ring));

		if (ring == NULL)
			return; /* this request goes uncounted; its ReadyForQuery finds no entry */
		for (uint32_t i = 0; i < m->count; i++)
			ring[i] = m->ring[(m->head + i) & (m->cap - 1)];
		free(m->ring);
		m->ring = ring;
		m->cap = cap;
		m->head = 0;
	}
	m->ring[(m->head + m->count) & (m->cap - 1)] = m->open;
	m->count++;
}

/* The request a server message belongs to: the oldest unanswered one, else the open one. */
static struct pgw_mreq *current(struct pgw_msess *m)
{
	if (m->count > 0)
		return &m->ring[m->head];
	return m->open_started ? &m->open : NULL;
}

static bool ends_request(char type)
{
	return type == 'Q' || type == 'S' || type == 'F';
}

/* The NUL-terminated string at body[*off] within len; NULL if unterminated. */
static const char *cstr(const uint8_t *body, size_t len, size_t *off, size_t *n)
{
	const char *s = (const char *)body + *off;
	const char *end = *off < len ? memchr(s, '\0', len - *off) : NULL;

	if (end == NULL)
		return NULL;
	*n = (size_t)(end - s);
	*off += *n + 1;
	return s;
}

void pgw_metrics_client_msg(struct pgw_msess *m, char type, const uint8_t *body, size_t len,
			    bool refused, const struct pgw_stmt_map *stmts,
			    struct pgw_stmt_tag *tag)
{
	struct pgw_mreq *r;
	const struct pgw_stmt_tag *known;
	const char *name, *sql;
	size_t off = 0, n, sn;

	if (m->tenant == NULL)
		return;
	r = begin(m);
	switch (type) {
	case 'Q':
		if ((sql = cstr(body, len, &off, &n)) == NULL)
			return;
		r->kind = (uint8_t)pgw_mkind_of_sql(sql, n);
		r->fp = refused ? 0 : pgw_mstmt_fingerprint(sql, n);
		return;
	case 'P':
		if (cstr(body, len, &off, &n) == NULL || (sql = cstr(body, len, &off, &sn)) == NULL)
			return;
		r->kind = (uint8_t)pgw_mkind_of_sql(sql, sn);
		r->fp = refused ? 0 : pgw_mstmt_fingerprint(sql, sn);
		if (tag != NULL) {
			tag->kind = r->kind;
			tag->fp = r->fp;
		}
		return;
	case 'B':
		if (cstr(body, len, &off, &n) == NULL || (name = cstr(body, len, &off, &n)) == NULL)
			return;
		known = stmts != NULL ? pgw_stmt_map_tag(stmts, name) : NULL;
		r->kind = known != NULL && known->kind < PGW_MK__COUNT ? known->kind : PGW_MK_OTHER;
		r->fp = known != NULL ? known->fp : 0;
		return;
	default:
		r->kind = PGW_MK_OTHER;
		return;
	}
}

void pgw_metrics_sent(struct pgw_msess *m, char type)
{
	if (m->tenant == NULL)
		return;
	begin(m);
	if (ends_request(type))
		push(m);
}

void pgw_metrics_refused(struct pgw_msess *m, char type, const char *rule)
{
	if (m->tenant == NULL)
		return;
	pgw_mtenant_refused(m->tenant, rule);
	if (type == 'd') {
		/* a CopyData belongs to the request that started the COPY: the newest */
		if (m->count > 0)
			m->ring[(m->head + m->count - 1) & (m->cap - 1)].outcome = PGW_MO_REFUSED;
		return;
	}
	begin(m)->outcome = PGW_MO_REFUSED;
	if (ends_request(type))
		push(m);
}

void pgw_metrics_server_error(struct pgw_msess *m)
{
	struct pgw_mreq *r;

	if (m->tenant == NULL || (r = current(m)) == NULL)
		return;
	if (r->outcome == PGW_MO_OK)
		r->outcome = PGW_MO_ERROR;
}

bool pgw_metrics_wants_rows(const struct pgw_msess *m)
{
	return m->tenant != NULL && pgw.cfg.metrics_statements_top > 0;
}

void pgw_metrics_command_complete(struct pgw_msess *m, const char *tag, size_t len)
{
	struct pgw_mreq *r;
	uint64_t rows = 0, mul = 1;
	size_t i = len;

	if (m->tenant == NULL || (r = current(m)) == NULL)
		return;
	while (i > 0 && tag[i - 1] == '\0')
		i--;
	len = i;
	/* "SELECT 5", "INSERT 0 5", "COPY 5": the row count is the last word, when numeric */
	while (i > 0 && tag[i - 1] >= '0' && tag[i - 1] <= '9' && len - i < 19) {
		rows += (uint64_t)(tag[i - 1] - '0') * mul;
		mul *= 10;
		i--;
	}
	if (i < len && i > 0 && tag[i - 1] == ' ')
		r->rows += rows;
}

void pgw_metrics_ready_counted(struct pgw_msess *m, char status)
{
	struct pgw_mtenant *t = m->tenant;
	struct pgw_mreq r;
	uint64_t now, ns;

	if (m->pool_wait_pending && t != NULL) {
		pgw_hist_observe(&t->pool_wait, m->pool_wait_ns);
		m->pool_wait_pending = false;
	}
	if (t == NULL || m->count == 0) {
		m->tx_status = status; /* the login's ReadyForQuery, or an uncounted request */
		return;
	}
	now = pgw_metrics_now_ns();
	r = m->ring[m->head];
	m->head = (m->head + 1) & (m->cap - 1);
	m->count--;
	ns = now > r.start_ns ? now - r.start_ns : 0;
	pgw_hist_observe(&t->query[r.kind], ns);
	t->queries[r.kind][r.outcome]++;
	if (m->tx_status == 'I' && status != 'I')
		m->tx_start_ns = r.start_ns;
	else if (m->tx_status != 'I' && status == 'I')
		pgw_hist_observe(&t->tx, now - m->tx_start_ns);
	m->tx_status = status;
	if (pgw_mstmt_active())
		pgw_mstmt_record(t, &r, ns);
}

void pgw_metrics_bytes(struct pgw_msess *m, bool from_client, size_t n)
{
	if (m->tenant != NULL)
		m->tenant->bytes[from_client ? 0 : 1] += n;
}

void pgw_metrics_connect_start(struct pgw_msess *m)
{
	if (pgw_mg.on)
		m->connect_start_ns = pgw_metrics_now_ns();
}

void pgw_metrics_connect_done(struct pgw_msess *m, bool ok)
{
	if (!pgw_mg.on || m->connect_start_ns == 0)
		return;
	if (ok)
		pgw_hist_observe(&pgw_mg.connect, pgw_metrics_now_ns() - m->connect_start_ns);
	else
		pgw_mg.connect_failed++;
	m->connect_start_ns = 0;
}

void pgw_metrics_pool_wait(struct pgw_msess *m, double seconds)
{
	if (!pgw_mg.on)
		return;
	m->pool_wait_ns = seconds > 0 ? (uint64_t)(seconds * 1e9) : 0;
	m->pool_wait_pending = true;
}
