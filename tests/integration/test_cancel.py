"""Query cancellation through pgward: libpq's PQcancel (pgward's own BackendKeyData mapped to
the right server backend), pg_cancel_backend from another session, exactly-one-of-many, and
forged CancelRequests that must do nothing."""

import os
import random
import time

import psycopg2
import psycopg2.errors

import pgwire
from conftest import run_in_thread, wait_for


def _sleep_query(conn, seconds):
    with conn.cursor() as cur:
        cur.execute("SELECT pg_sleep(%s)", (seconds,))
        return cur.fetchone()


def _server_pid(conn):
    with conn.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        return cur.fetchone()[0]


def _wait_sleeping(pg, pids, timeout=10):
    pids = set(pids)

    def ready():
        return pids <= _sleeping_pids(pg)

    wait_for(ready, timeout, what="sessions %s to be running pg_sleep" % sorted(pids))


def test_libpq_cancel(pg, target):
    conn = target.connect()
    pid = _server_pid(conn)
    t, res = run_in_thread(_sleep_query, conn, 30)
    _wait_sleeping(pg, [pid])
    t0 = time.monotonic()
    conn.cancel()
    t.join(10)
    assert not t.is_alive(), "query still running 10s after conn.cancel()"
    assert isinstance(res.get("error"), psycopg2.errors.QueryCanceled), res
    assert res["error"].pgcode == "57014"
    assert time.monotonic() - t0 < 5
    # the session is still usable afterwards
    with conn.cursor() as cur:
        cur.execute("SELECT 'after cancel'")
        assert cur.fetchone() == ("after cancel",)


def test_pg_cancel_backend_from_other_session(pg, target):
    a = target.connect()
    b = target.connect()
    pid = _server_pid(a)
    t, res = run_in_thread(_sleep_query, a, 30)
    _wait_sleeping(pg, [pid])
    with b.cursor() as cur:
        cur.execute("SELECT pg_cancel_backend(%s)", (pid,))
        assert cur.fetchone() == (True,)
    t.join(10)
    assert isinstance(res.get("error"), psycopg2.errors.QueryCanceled), res
    assert res["error"].pgcode == "57014"


def _sleeping_pids(pg):
    return {r[0] for r in pg.execute("SELECT pid FROM pg_stat_activity WHERE state = 'active' "
                                      "AND query LIKE 'SELECT pg_sleep%'")}


def test_cancel_exactly_one_of_twenty(pg, target):
    """Twenty clients sleep, each on a backend of its own (under transaction pooling, the one
    it holds for its sleep); a cancel with one client's key ends that sleep only."""
    conns = [target.connect() for _ in range(20)]
    threads = [run_in_thread(_sleep_query, c, 20) for c in conns]
    wait_for(lambda: len(_sleeping_pids(pg)) == 20, 10, what="twenty sleeping backends")
    pids = _sleeping_pids(pg)
    victim = 7
    conns[victim].cancel()
    t, res = threads[victim]
    t.join(10)
    assert isinstance(res.get("error"), psycopg2.errors.QueryCanceled), res
    time.sleep(0.5)
    still = [i for i, (t, r) in enumerate(threads) if t.is_alive()]
    assert still == [i for i in range(20) if i != victim], "cancel hit other sessions: %s" % [
        (i, r) for i, (t, r) in enumerate(threads) if not t.is_alive()]
    assert len(_sleeping_pids(pg)) == 19 and _sleeping_pids(pg) < pids
    # clean up: cancel the rest through the same path
    for i, c in enumerate(conns):
        if i != victim:
            c.cancel()
    for i, (t, r) in enumerate(threads):
        t.join(10)
        assert isinstance(r.get("error"), psycopg2.errors.QueryCanceled), (i, r)


def _send_cancel(endpoint, pid, key):
    c = endpoint.raw()
    c.send(pgwire.cancel_request(pid, key))
    # the receiver answers nothing and closes
    assert c.wait_closed(5)
    assert c.trailing == []


def test_forged_cancel_does_nothing(pg, target):
    c = target.raw_session()
    server_pid = int(c.scalar("SELECT pg_backend_pid()"))
    client_pid, client_key = c.backend_key
    c.send(pgwire.query("SELECT pg_sleep(2), 'survived'"))
    _wait_sleeping(pg, [server_pid])
    rnd = random.Random(os.getpid())
    forged = [(rnd.getrandbits(31), rnd.getrandbits(32)) for _ in range(5)]
    forged += [(client_pid, (client_key + 1) & 0xFFFFFFFF), (client_pid, client_key ^ 0x80000000),
               (server_pid, rnd.getrandbits(32)), (server_pid, client_key)]
    for pid, key in forged:
        if (pid, key) == (client_pid, client_key):
            continue
        _send_cancel(target, pid, key)
    msgs = c.recv_until("Z", timeout=10)
    assert pgwire.types(msgs) == "TDCZ", msgs
    assert msgs[1].data_row() == [b"", b"survived"]


def test_raw_cancel_with_backend_key_data(pg, target):
    c = target.raw_session()
    server_pid = int(c.scalar("SELECT pg_backend_pid()"))
    c.send(pgwire.query("SELECT pg_sleep(30)"))
    _wait_sleeping(pg, [server_pid])
    _send_cancel(target, *c.backend_key)
    msgs = c.recv_until("Z", timeout=5)
    errors = [m for m in msgs if m.type == "E"]
    assert errors and errors[0].sqlstate == "57014", msgs
    assert errors[0].fields()["M"] == "canceling statement due to user request"


def test_cancel_key_of_closed_session_does_nothing(pg, target):
    """A key stays bound to its session: once that session is gone, the key must not reach
    whichever backend the server reused."""
    old = target.raw_session()
    old_key = old.backend_key
    old.send(pgwire.terminate())
    assert old.wait_closed(5)
    c = target.raw_session()
    server_pid = int(c.scalar("SELECT pg_backend_pid()"))
    c.send(pgwire.query("SELECT pg_sleep(1.5), 'kept'"))
    _wait_sleeping(pg, [server_pid])
    _send_cancel(target, *old_key)
    msgs = c.recv_until("Z", timeout=10)
    assert pgwire.types(msgs) == "TDCZ", msgs


def test_pgward_backend_key_is_its_own(pg, pgward):
    """The BackendKeyData a client gets from pgward is not the server's: the server's secret
    never leaves pgward, so a client cannot cancel other tenants' queries directly."""
    c = pgward.raw_session()
    server_pid = int(c.scalar("SELECT pg_backend_pid()"))
    # a direct cancel with pgward's key must not cancel anything on the server
    c.send(pgwire.query("SELECT pg_sleep(1.5), 'direct cancel ignored'"))
    _wait_sleeping(pg, [server_pid])
    _send_cancel(pg, *c.backend_key)
    msgs = c.recv_until("Z", timeout=10)
    assert pgwire.types(msgs) == "TDCZ", msgs


def test_cancel_with_client_tls(pg, pgward_factory, tls):
    """libpq sends CancelRequest in plain text even when the session uses TLS; pgward must accept
    it although client_tls_sslmode=require."""
    pw = pgward_factory(client_tls_sslmode="require", client_tls_cert_file=tls.server_cert,
                        client_tls_key_file=tls.server_key)
    conn = pw.connect(sslmode="require")
    assert conn.info.ssl_in_use
    pid = _server_pid(conn)
    t, res = run_in_thread(_sleep_query, conn, 30)
    _wait_sleeping(pg, [pid])
    conn.cancel()
    t.join(10)
    assert isinstance(res.get("error"), psycopg2.errors.QueryCanceled), res
