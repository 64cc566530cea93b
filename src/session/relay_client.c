/*
 * Client → server. Checks every message's header (length, type) before its body is
 * buffered, records what the server will answer (tracker.h), and moves runs of
 * messages to the server without copying; a message larger than what has arrived
 * streams through as it arrives.
 */
#include "session-int.h"

#include "pgward/codec.h"
#include "pgward/log.h"
#include "pgward/proxy.h"

#include <event2/buffer.h>

/* Checks one header; false (session closed) if the stream cannot be trusted. */
static bool header_ok(struct pgw_session *s, enum pgw_frame_status st, const struct pgw_msg_hdr *h)
{
	if (st == PGW_FRAME_BAD_LENGTH) {
		pgw_sess_fail(s, "08P01",
			      "pgward: invalid message length %u for message type 0x%02x "
			      "(max_packet_size=%u)",
			      h->len, (unsigned char)h->type, pgw.cfg.max_packet_size);
		return false;
	}
	if (!pgw_frontend_type_valid(h->type)) {
		pgw_sess_fail(s, "08P01", "pgward: invalid frontend message type 0x%02x",
			      (unsigned char)h->type);
		return false;
	}
	return true;
}

bool pgw_relay_client(struct pgw_session *s)
{
	struct evbuffer *in = s->client.in;
	size_t avail = evbuffer_get_length(in), run = 0;
	bool terminate = false;

	s->last_client_activity = pgw_now();
	if (s->client_left > 0) {
		run = PGW_MIN(avail, s->client_left);
		s->client_left -= (uint32_t)run;
	}
	while (s->client_left == 0 && run < avail) {
		struct pgw_msg_hdr h;
		enum pgw_frame_status st = pgw_frame_peek(in, run, pgw.cfg.max_packet_size, &h);
		size_t total, take;

		if (st == PGW_FRAME_NEED_MORE)
			break;
		if (!header_ok(s, st, &h))
			return false;
		if (pgw_tracker_expects_answer(h.type) &&
		    pgw_tracker_push(&s->tracker, h.type, PGW_RESP_PASS, NULL, 0) < 0) {
			pgw_sess_fail(s, "53200", "pgward: out of memory");
			return false;
		}
		total = (size_t)h.len + 1;
		take = PGW_MIN(total, avail - run);
		run += take;
		s->client_left = (uint32_t)(total - take);
		if (h.type == 'X') {
			terminate = true;
			break;
		}
	}
	if (run > 0)
		evbuffer_remove_buffer(in, s->server.out, run);
	if (pgw_conn_flush(&s->server) < 0) {
		s->server_gone = true;
		pgw_sess_fail(s, "08006", "pgward: lost the server connection: %s", s->server.err);
		return false;
	}
	if (terminate) {
		pgw_sess_end(s, "client sent Terminate");
		return false;
	}
	pgw_relay_client_backpressure(s);
	return true;
}
