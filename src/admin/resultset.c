/*
 * Result sets for the admin console: every value is sent as text. Columns are text (OID 25),
 * which psql and every driver display as is, unless typed as PgBouncer types its own (int4,
 * int8, numeric), so that drivers hand PgBouncer's tools numbers where they expect them.
 */
#include "admin-int.h"

#include "pgward/codec.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <string.h>
#include <event2/buffer.h>

#define TEXT_OID    25
#define INT4_OID    23
#define INT8_OID    20
#define NUMERIC_OID 1700

void pgw_rs_begin(struct pgw_rs *rs, struct evbuffer *out, const char *const *cols, int ncols)
{
	pgw_rs_begin_typed(rs, out, cols, NULL, ncols);
}

/* PgBouncer's letters: what a column's type is, and its typlen (-1: variable). */
static void column_type(char letter, uint32_t *oid, uint16_t *typlen)
{
	switch (letter) {
	case 'i':
		*oid = INT4_OID, *typlen = 4;
		return;
	case 'q':
		*oid = INT8_OID, *typlen = 8;
		return;
	case 'N':
		*oid = NUMERIC_OID, *typlen = 0xffff;
		return;
	default: /* 's', and 'T' (a timestamp PgBouncer sends as text) */
		*oid = TEXT_OID, *typlen = 0xffff;
		return;
	}
}

void pgw_rs_begin_typed(struct pgw_rs *rs, struct evbuffer *out, const char *const *cols,
			const char *types, int ncols)
{
	size_t len = 2;

	rs->out = out;
	rs->ncols = ncols;
	rs->nrows = 0;
	for (int i = 0; i < ncols; i++)
		len += strlen(cols[i]) + 1 + 18;
	pgw_msg_header(out, 'T', (uint32_t)len);
	pgw_put_u16(out, (uint16_t)ncols);
	for (int i = 0; i < ncols; i++) {
		uint32_t oid;
		uint16_t typlen;

		column_type(types ? types[i] : 's', &oid, &typlen);
		evbuffer_add(out, cols[i], strlen(cols[i]) + 1);
		pgw_put_u32(out, 0); /* table oid */
		pgw_put_u16(out, 0); /* column number */
		pgw_put_u32(out, oid);
		pgw_put_u16(out, typlen);
		pgw_put_u32(out, 0xffffffff); /* typmod */
		pgw_put_u16(out, 0);	      /* text format */
	}
}

void pgw_rs_row(struct pgw_rs *rs, const char *const *values)
{
	size_t len = 2;

	for (int i = 0; i < rs->ncols; i++)
		len += 4 + (values[i] ? strlen(values[i]) : 0);
	pgw_msg_header(rs->out, 'D', (uint32_t)len);
	pgw_put_u16(rs->out, (uint16_t)rs->ncols);
	for (int i = 0; i < rs->ncols; i++) {
		if (values[i] == NULL) {
			pgw_put_u32(rs->out, 0xffffffff);
			continue;
		}
		pgw_put_u32(rs->out, (uint32_t)strlen(values[i]));
		evbuffer_add(rs->out, values[i], strlen(values[i]));
	}
	rs->nrows++;
}

void pgw_rs_end(struct pgw_rs *rs, const char *tag)
{
	char buf[64];

	snprintf(buf, sizeof(buf), "%s %d", tag, rs->nrows);
	pgw_admin_complete(rs->out, buf);
}

void pgw_admin_complete(struct evbuffer *out, const char *tag)
{
	pgw_msg_header(out, 'C', (uint32_t)strlen(tag) + 1);
	evbuffer_add(out, tag, strlen(tag) + 1);
}

void pgw_admin_error(struct evbuffer *out, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pgw_msg_error(out, "ERROR", "08P01", msg, NULL);
}
