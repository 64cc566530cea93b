/*
 * Result sets for the admin console: every column is text (OID 25), which psql and
 * every driver display as is.
 */
#include "admin-int.h"

#include "pgward/codec.h"

#include <arpa/inet.h>
#include <string.h>
#include <event2/buffer.h>

#define TEXT_OID 25

void pgw_rs_begin(struct pgw_rs *rs, struct evbuffer *out, const char *const *cols, int ncols)
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
		evbuffer_add(out, cols[i], strlen(cols[i]) + 1);
		pgw_put_u32(out, 0);	    /* table oid */
		pgw_put_u16(out, 0);	    /* column number */
		pgw_put_u32(out, TEXT_OID); /* type */
		pgw_put_u16(out, 0xffff);   /* typlen -1 */
		pgw_put_u32(out, 0xffffffff);
		pgw_put_u16(out, 0); /* text format */
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
