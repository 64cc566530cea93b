/*
 * rbuf.c, a connection's flat input: room, compaction, growth, the block pool, handing
 * runs to an evbuffer (by reference when large: no copy). And pgw_conn_relay, which sends
 * from it: straight to the socket when nothing is queued, behind the queue otherwise, the
 * rest queued when the socket is full, a failed send reported by the next flush. Sockets
 * are socketpairs; no event loop runs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <event2/buffer.h>
#include <event2/event.h>

#include "pgward/conn.h"
#include "pgward/rbuf.h"

/* Bytes whose value says where they are, so a misplaced byte cannot go unnoticed. */
static uint8_t *pattern(size_t len, unsigned seed)
{
	uint8_t *p = malloc(len);

	assert_non_null(p);
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)((i * 31 + seed) ^ (i >> 8));
	return p;
}

static void assert_holds(const struct pgw_rbuf *b, const uint8_t *want, size_t len)
{
	assert_int_equal(pgw_rbuf_len(b), len);
	if (len > 0)
		assert_memory_equal(pgw_rbuf_data(b), want, len);
}

static void test_add_drain(void **state)
{
	struct pgw_rbuf b = {0};
	uint8_t *p = pattern(3000, 1);
	const uint8_t *block;

	assert_int_equal(pgw_rbuf_add(&b, p, 1000), 0);
	assert_int_equal(pgw_rbuf_add(&b, p + 1000, 2000), 0);
	assert_holds(&b, p, 3000);
	block = b.data;
	pgw_rbuf_drain(&b, 1234);
	assert_holds(&b, p + 1234, 3000 - 1234);
	/* Emptied, the next bytes go to the front of the same block. */
	pgw_rbuf_drain(&b, 3000 - 1234);
	assert_int_equal(pgw_rbuf_len(&b), 0);
	assert_int_equal(pgw_rbuf_add(&b, p, 10), 0);
	assert_ptr_equal(pgw_rbuf_data(&b), block);
	pgw_rbuf_free(&b);
	assert_null(b.data);
	free(p);
}

static void test_space_compacts_before_growing(void **state)
{
	struct pgw_rbuf b = {0};
	uint8_t *p = pattern(PGW_RBUF_BLOCK, 2);
	size_t room;
	uint8_t *at;

	assert_int_equal(pgw_rbuf_add(&b, p, PGW_RBUF_BLOCK - 100), 0);
	pgw_rbuf_drain(&b, PGW_RBUF_BLOCK - 150); /* 50 bytes left, 100 free at the end */
	at = pgw_rbuf_space(&b, 1024, &room);
	assert_non_null(at);
	/* The 50 bytes moved to the front of the same block; everything else is room. */
	assert_int_equal(b.cap, PGW_RBUF_BLOCK);
	assert_ptr_equal(at, b.data + 50);
	assert_int_equal(room, PGW_RBUF_BLOCK - 50);
	assert_holds(&b, p + PGW_RBUF_BLOCK - 150, 50);
	pgw_rbuf_free(&b);
	free(p);
}

static void test_grows_for_a_large_message(void **state)
{
	const size_t len = 3 * PGW_RBUF_BLOCK + 17;
	struct pgw_rbuf b = {0};
	uint8_t *p = pattern(len, 3);

	/* Read piecemeal, as a 200 kB Query arrives; it must end up whole and contiguous. */
	for (size_t off = 0; off < len; off += 4000)
		assert_int_equal(pgw_rbuf_add(&b, p + off, PGW_MIN(4000, len - off)), 0);
	assert_true(b.cap >= len);
	assert_holds(&b, p, len);
	pgw_rbuf_drain(&b, len);
	/* A grown block is freed once empty, not pooled: ASan would report it otherwise. */
	pgw_rbuf_trim(&b);
	assert_null(b.data);
	free(p);
}

static void test_trim_pools_the_block(void **state)
{
	struct pgw_rbuf a = {0}, b = {0};
	uint8_t *block;

	assert_int_equal(pgw_rbuf_add(&a, "xy", 2), 0);
	block = a.data;
	pgw_rbuf_drain(&a, 2);
	pgw_rbuf_trim(&a);
	assert_null(a.data);
	assert_int_equal(a.cap, 0);
	/* The next buffer to read gets the same, still cached, block back. */
	assert_int_equal(pgw_rbuf_add(&b, "z", 1), 0);
	assert_ptr_equal(b.data, block);
	pgw_rbuf_free(&b);
	pgw_rbuf_pool_free();
}

static void test_trim_parks_the_start_of_a_message(void **state)
{
	struct pgw_rbuf b = {0};
	uint8_t *p = pattern(PGW_RBUF_BLOCK + 10, 7), *block;

	/* Three bytes of a header wait for the rest: they move out of the 64 kB block. */
	assert_int_equal(pgw_rbuf_add(&b, p, 1000), 0);
	block = b.data;
	pgw_rbuf_drain(&b, 997);
	pgw_rbuf_trim(&b);
	assert_ptr_not_equal(b.data, block);
	assert_int_equal(b.cap, 3);
	assert_holds(&b, p + 997, 3);
	pgw_rbuf_trim(&b); /* parked already: nothing to do */
	assert_int_equal(b.cap, 3);
	/* The next read gets a standard block again (the pooled one), the 3 bytes first. */
	assert_int_equal(pgw_rbuf_add(&b, p + 1000, 5000), 0);
	assert_ptr_equal(b.data, block);
	assert_int_equal(b.cap, PGW_RBUF_BLOCK);
	assert_holds(&b, p + 997, 5003);
	/* More than the parking limit stays where it is. */
	assert_int_equal(pgw_rbuf_add(&b, p + 6000, 10000), 0);
	pgw_rbuf_trim(&b);
	assert_ptr_equal(b.data, block);
	pgw_rbuf_free(&b);
	free(p);
}

static void test_give_small_copies(void **state)
{
	struct pgw_rbuf b = {0};
	struct evbuffer *out = evbuffer_new();
	uint8_t *p = pattern(500, 4);
	uint8_t *block;

	assert_int_equal(evbuffer_add(out, "Q", 1), 0);
	assert_int_equal(pgw_rbuf_add(&b, p, 500), 0);
	block = b.data;
	assert_int_equal(pgw_rbuf_give(&b, 300, out), 0);
	/* Appended behind what was queued; the rest stays, in the same block. */
	assert_int_equal(evbuffer_get_length(out), 301);
	assert_memory_equal(evbuffer_pullup(out, -1) + 1, p, 300);
	assert_ptr_equal(b.data, block);
	assert_holds(&b, p + 300, 200);
	assert_int_equal(pgw_rbuf_give(&b, 0, out), 0);
	assert_int_equal(evbuffer_get_length(out), 301);
	evbuffer_free(out);
	pgw_rbuf_free(&b);
	free(p);
}

static void test_give_large_hands_the_block_over(void **state)
{
	const size_t len = 40000, run = 30000;
	struct pgw_rbuf b = {0};
	struct evbuffer *out = evbuffer_new();
	struct evbuffer_iovec v;
	uint8_t *p = pattern(len, 5);
	uint8_t *block;

	assert_true(run >= PGW_RBUF_GIVE_MIN);
	assert_int_equal(pgw_rbuf_add(&b, p, len), 0);
	pgw_rbuf_drain(&b, 100);
	block = b.data;
	assert_int_equal(pgw_rbuf_give(&b, run, out), 0);
	/* <out> refers to the old block (no copy); the rest moved to a new one. */
	assert_int_equal(evbuffer_peek(out, -1, NULL, &v, 1), 1);
	assert_ptr_equal(v.iov_base, block + 100);
	assert_int_equal(v.iov_len, run);
	assert_memory_equal(v.iov_base, p + 100, run);
	assert_ptr_not_equal(b.data, block);
	assert_holds(&b, p + 100 + run, len - 100 - run);
	/* All of it given: nothing left, no block held. */
	assert_int_equal(pgw_rbuf_give(&b, len - 100 - run, out), 0);
	assert_int_equal(pgw_rbuf_len(&b), 0);
	assert_int_equal(evbuffer_get_length(out), len - 100);
	assert_memory_equal(evbuffer_pullup(out, -1), p + 100, len - 100);
	evbuffer_free(out); /* frees both blocks (ASan checks) */
	pgw_rbuf_free(&b);
	free(p);
}

/* ---- pgw_conn_relay ---- */

struct pair {
	struct event_base *base;
	struct pgw_conn to; /* pgward's side */
	int peer;	    /* the other end: what the server or client would read */
};

static void no_events(struct pgw_conn *c, enum pgw_conn_event ev, void *arg)
{
	(void)c;
	(void)ev;
	(void)arg;
	fail_msg("no event expected");
}

static void pair_open(struct pair *p)
{
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	/* pgward's side as the listener accepts it; the peer reads blocking */
	assert_int_equal(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
	p->base = event_base_new();
	assert_non_null(p->base);
	pgw_conn_init(&p->to, p->base, sv[0], no_events, NULL);
	p->peer = sv[1];
}

static void pair_close(struct pair *p)
{
	pgw_conn_release(&p->to);
	if (p->peer >= 0)
		close(p->peer);
	event_base_free(p->base);
}

/* Everything the peer can read now. */
static size_t drain_peer(int fd, uint8_t *into, size_t cap)
{
	size_t got = 0;

	for (;;) {
		ssize_t n = recv(fd, into + got, cap - got, MSG_DONTWAIT);

		if (n <= 0)
			return got;
		got += (size_t)n;
	}
}

static void test_relay_sends_at_once(void **state)
{
	struct pair p;
	struct pgw_rbuf in = {0};
	uint8_t got[64];

	pair_open(&p);
	assert_int_equal(pgw_rbuf_add(&in, "B-E-S-partial", 13), 0);
	pgw_conn_relay(&p.to, &in, 5);
	/* On the wire without a flush, nothing queued, the rest still buffered. */
	assert_int_equal(drain_peer(p.peer, got, sizeof(got)), 5);
	assert_memory_equal(got, "B-E-S", 5);
	assert_int_equal(evbuffer_get_length(p.to.out), 0);
	assert_holds(&in, (const uint8_t *)"-partial", 8);
	pgw_rbuf_free(&in);
	pair_close(&p);
}

static void test_relay_keeps_order_behind_queued_bytes(void **state)
{
	struct pair p;
	struct pgw_rbuf in = {0};
	uint8_t got[64];

	pair_open(&p);
	assert_int_equal(evbuffer_add(p.to.out, "SET;", 4), 0); /* e.g. an injected statement */
	assert_int_equal(pgw_rbuf_add(&in, "Query", 5), 0);
	pgw_conn_relay(&p.to, &in, 5);
	assert_int_equal(drain_peer(p.peer, got, sizeof(got)), 0);
	assert_int_equal(pgw_rbuf_len(&in), 0);
	assert_int_equal(pgw_conn_flush(&p.to), 0);
	assert_int_equal(drain_peer(p.peer, got, sizeof(got)), 9);
	assert_memory_equal(got, "SET;Query", 9);
	pgw_rbuf_free(&in);
	pair_close(&p);
}

static void test_relay_queues_what_a_full_socket_refuses(void **state)
{
	const size_t len = 50000;
	struct pair p;
	struct pgw_rbuf in = {0};
	uint8_t *msg = pattern(len, 6), *got = malloc(4 << 20), filler[4096] = {0};
	size_t filled = 0, queued, n;
	ssize_t k;

	assert_non_null(got);
	pair_open(&p);
	while ((k = send(p.to.fd, filler, sizeof(filler), MSG_DONTWAIT)) > 0)
		filled += (size_t)k;
	assert_int_equal(errno, EAGAIN);
	assert_int_equal(pgw_rbuf_add(&in, msg, len), 0);
	pgw_conn_relay(&p.to, &in, len);
	queued = evbuffer_get_length(p.to.out);
	assert_true(queued > 0);
	assert_int_equal(pgw_rbuf_len(&in), 0);
	/* The peer reads everything; the flush then sends the queue, in order. */
	n = drain_peer(p.peer, got, 4 << 20);
	while (evbuffer_get_length(p.to.out) > 0) {
		assert_int_equal(pgw_conn_flush(&p.to), 0);
		n += drain_peer(p.peer, got + n, (4 << 20) - n);
	}
	n += drain_peer(p.peer, got + n, (4 << 20) - n);
	assert_int_equal(n, filled + len);
	assert_memory_equal(got + filled, msg, len);
	pgw_rbuf_free(&in);
	pair_close(&p);
	free(msg);
	free(got);
}

static void test_relay_failure_reported_by_flush(void **state)
{
	struct pair p;
	struct pgw_rbuf in = {0};

	pair_open(&p);
	close(p.peer);
	p.peer = -1;
	assert_int_equal(pgw_rbuf_add(&in, "Sync", 4), 0);
	pgw_conn_relay(&p.to, &in, 4);
	assert_true(p.to.failed);
	assert_non_null(strstr(p.to.err, "write"));
	assert_int_equal(pgw_conn_flush(&p.to), -1);
	/* Nothing more goes out on a failed connection: later runs are only queued. */
	assert_int_equal(pgw_rbuf_add(&in, "Sync", 4), 0);
	pgw_conn_relay(&p.to, &in, 4);
	assert_int_equal(evbuffer_get_length(p.to.out), 8);
	pgw_rbuf_free(&in);
	pair_close(&p);
}

static void count_reads(struct pgw_conn *c, enum pgw_conn_event ev, void *arg)
{
	(void)c;
	assert_int_equal(ev, PGW_CONN_READ);
	(*(int *)arg)++;
}

/* Input switched off is not read, whether the switch came before or after bytes arrived;
 * switched off and on again it reads as if never paused. */
static void test_reading_off_reads_nothing(void **state)
{
	struct pair p;
	int reads = 0;

	(void)state;
	pair_open(&p);
	pgw_conn_set_cb(&p.to, count_reads, &reads);
	pgw_conn_set_reading(&p.to, true);
	pgw_conn_set_reading(&p.to, false);
	pgw_conn_set_reading(&p.to, true);
	assert_int_equal(write(p.peer, "Q", 1), 1);
	event_base_loop(p.base, EVLOOP_NONBLOCK);
	assert_int_equal(reads, 1);
	assert_int_equal(pgw_rbuf_len(&p.to.in), 1);
	pgw_rbuf_drain(&p.to.in, 1);

	pgw_conn_set_reading(&p.to, false);
	assert_int_equal(write(p.peer, "X", 1), 1);
	event_base_loop(p.base, EVLOOP_NONBLOCK);
	event_base_loop(p.base, EVLOOP_NONBLOCK);
	assert_int_equal(reads, 1);
	assert_false(p.to.rev_on);

	pgw_conn_set_reading(&p.to, true);
	event_base_loop(p.base, EVLOOP_NONBLOCK);
	assert_int_equal(reads, 2);
	assert_int_equal(pgw_rbuf_len(&p.to.in), 1);
	assert_int_equal(pgw_rbuf_data(&p.to.in)[0], 'X');
	pair_close(&p);
}

static int free_pool(void **state)
{
	(void)state;
	pgw_rbuf_pool_free();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_drain),
		cmocka_unit_test(test_space_compacts_before_growing),
		cmocka_unit_test(test_grows_for_a_large_message),
		cmocka_unit_test(test_trim_pools_the_block),
		cmocka_unit_test(test_trim_parks_the_start_of_a_message),
		cmocka_unit_test(test_give_small_copies),
		cmocka_unit_test(test_give_large_hands_the_block_over),
		cmocka_unit_test(test_relay_sends_at_once),
		cmocka_unit_test(test_relay_keeps_order_behind_queued_bytes),
		cmocka_unit_test(test_relay_queues_what_a_full_socket_refuses),
		cmocka_unit_test(test_relay_failure_reported_by_flush),
		cmocka_unit_test(test_reading_off_reads_nothing),
	};

	return cmocka_run_group_tests(tests, NULL, free_pool);
}
