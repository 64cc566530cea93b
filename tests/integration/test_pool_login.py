"""Session pooling, the login and the first message: a client of a kind already served is
logged in by pgward without a server and takes one at its first message (nothing applied
when the server already has its settings); what must never reach a server meanwhile (a
PasswordMessage), what bounds the wait (a server that never answers), what a cancel or a
Terminate before or with that first message does, and what stays unpooled (protocol
options). The pool's other behaviour: test_pool.py, whose fixtures and helpers these use."""

import re
import time

import pytest

import pgwire
from authkit import login
from conftest import SCRAM_PASSWORD, SCRAM_USER, wait_for
from test_pool import Gate, leave, leave_to_pool, pid_of, pooled, roles  # noqa: F401 - fixtures


def last_statement(pg, pid):
    return pg.execute("SELECT query FROM pg_stat_activity WHERE pid = %d" % pid)[0][0]


def test_a_client_of_the_same_application_costs_the_server_nothing(pg, pooled):
    """Connection per request: a client sending the application_name its server logged in with
    (pgbench, most drivers) is ready without pgward sending that server anything (its last
    statement is still the reset's); another application's name is applied, and the reset
    gives the server its own back."""
    pw = pooled()
    per_request = {"application_name": "per-request"}
    pid = leave_to_pool(pw, login(pw, SCRAM_USER, SCRAM_PASSWORD, params=per_request))
    b = login(pw, SCRAM_USER, SCRAM_PASSWORD, params=per_request)
    assert b.params["application_name"] == "per-request"
    assert last_statement(pg, pid).startswith("SELECT pg_catalog.setseed(")
    assert pid_of(b) == pid
    assert b.scalar("SHOW application_name") == "per-request"
    leave_to_pool(pw, b)

    c = login(pw, SCRAM_USER, SCRAM_PASSWORD, params={"application_name": "other-app"})
    assert last_statement(pg, pid) == "SELECT pg_catalog.set_config($1, $2, false)"
    assert c.params["application_name"] == "other-app"
    assert pid_of(c) == pid
    assert c.scalar("SHOW application_name") == "other-app"
    leave_to_pool(pw, c)

    d = login(pw, SCRAM_USER, SCRAM_PASSWORD, params=per_request)
    assert last_statement(pg, pid).startswith("SELECT pg_catalog.setseed(")
    assert d.params["application_name"] == "per-request"
    assert pid_of(d) == pid
    assert d.scalar("SHOW application_name") == "per-request"


@pytest.mark.parametrize("newer", ["_pq_ option", "protocol 3.2"])
def test_a_newer_protocol_gets_a_server_of_its_own_and_its_negotiation(pg, pooled, newer):
    """A client asking for a protocol option or a minor version the server does not have is
    not pooled: it gets a server of its own, and that server's NegotiateProtocolVersion
    reaches it before its AuthenticationOk, as a direct login would."""
    pw = pooled()
    params = {"user": SCRAM_USER, "database": "postgres"}
    version = pgwire.PROTOCOL_3_0
    if newer == "_pq_ option":
        params["_pq_.pgward_test"] = "1"
    else:
        version = (3 << 16) | 2
    c = pw.raw()
    c.send(pgwire.startup_message(params, version=version))
    msgs = c.finish_startup(SCRAM_USER, SCRAM_PASSWORD)
    types = pgwire.types(msgs)
    assert "v" in types, types
    ok = [i for i, m in enumerate(msgs) if m.type == "R" and m.body[:4] == b"\0\0\0\0"]
    assert ok and types.index("v") < ok[0], types
    assert c.scalar("SELECT 'negotiated'") == "negotiated"
    pid = pid_of(c)
    leave(c)
    wait_for(lambda: not pg.backend_alive(pid), 10, what="its own server closed with it")


def test_a_password_message_after_the_login_never_reaches_a_server(pg, pooled):
    """Goal: drive the login pgward makes to a new server as the client, by sending a
    PasswordMessage as the first message of a client pgward logged in without a server. pgward
    refuses it as PostgreSQL refuses a PasswordMessage after a login (FATAL 08P01), no server
    reads it, and the next client is served."""
    pw = pooled(default_pool_size=4)
    a = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    assert a.scalar("SELECT 1") == "1"  # a keeps its server: b's first message needs a new one
    b = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    assert b.backend_key[0] >= 1 << 30
    start = len(pw.log_text())
    b.send(pgwire.sasl_initial_response("ATTACKER-MECH", b"n,,n=,r=xyz"), pgwire.query("SELECT 1"))
    f = b.expect_error(timeout=10)
    assert (f["S"], f["C"]) == ("FATAL", "08P01"), f
    assert "invalid frontend message type 0x70" in f["M"], f
    assert b.wait_closed(5)
    log = pw.log_text()[start:]
    assert "event=login_failed" not in log, log  # the server logged pgward in, as the client
    assert re.search(r"event=server_released .* reusable=yes", log), log  # and read nothing else
    assert login(pw, SCRAM_USER, SCRAM_PASSWORD).scalar("SELECT 2") == "2"


def test_a_server_that_never_answers_a_welcomed_client_times_out(pg, pooled):
    """A client logged in without a server, whose new server accepts the connection and never
    answers, gets 08006 within client_login_timeout, as its login would have: it never hangs,
    and the pool serves the next client."""
    proxy = Gate(pg.port)
    proxy.open()
    pw = pooled(server_port=proxy.port, client_login_timeout=2, default_pool_size=2, query_wait_timeout=20)
    a = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    assert a.scalar("SELECT 1") == "1"  # a holds the pool's first server
    proxy.stall = True
    c = login(pw, SCRAM_USER, SCRAM_PASSWORD)  # pgward answers from what a was told
    assert c.backend_key[0] >= 1 << 30
    started = time.monotonic()
    c.send(pgwire.query("SELECT 1"))
    f = c.expect_error(timeout=10)
    assert f["C"] == "08006" and "client_login_timeout" in f["M"], f
    assert 1.5 <= time.monotonic() - started < 6
    proxy.stall = False
    d = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    assert d.scalar("SELECT 'served'") == "served"
    assert a.scalar("SELECT 2") == "2"


def test_a_cancel_before_the_first_query_does_not_cost_the_server(pg, pooled):
    """A cancel for a client that has no server yet does nothing, and the server it takes
    afterwards goes back to the pool when it leaves (a cancel that was sent would close it)."""
    pw = pooled()
    pid = leave_to_pool(pw, login(pw, SCRAM_USER, SCRAM_PASSWORD))
    b = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    k = pw.raw()
    k.send(pgwire.cancel_request(*b.backend_key))
    assert k.wait_closed(5)
    assert pid_of(b) == pid
    assert leave_to_pool(pw, b) == pid


def test_statements_sent_before_terminate_still_run_on_a_pooled_server(pg, pooled):
    """Fire and forget through the pool: a statement and Terminate in one write. The statement
    runs to its end as directly (no cancel); its server, busy when the client left, is not
    handed to another client but ends as a server given the client's Terminate."""
    pg.execute("DROP TABLE IF EXISTS public.pool_fire; CREATE TABLE public.pool_fire (x int); "
               "GRANT ALL ON public.pool_fire TO %s" % SCRAM_USER)
    pw = pooled()
    c = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    pid = pid_of(c)
    c.send(pgwire.query("SELECT pg_sleep(0.3); INSERT INTO public.pool_fire VALUES (1)"), pgwire.terminate())
    assert c.wait_closed(10)
    wait_for(lambda: pg.execute("SELECT count(*) FROM public.pool_fire") == [(1,)], 10,
             what="the INSERT sent before Terminate")
    wait_for(lambda: not pg.backend_alive(pid), 10, what="the busy server ended")
    assert pid_of(login(pw, SCRAM_USER, SCRAM_PASSWORD)) != pid


def test_a_welcomed_client_is_told_what_its_new_server_reports(pg, pooled):
    """A client logged in from the record of what the last client of its kind was told gets a
    server that reports a setting otherwise (the role's default changed after the record was
    made): before its first answer it is told the server's value, as a direct login would
    have shown it; a client whose server reports what the record says is told nothing more."""
    pw = pooled(default_pool_size=2)
    a = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    recorded = a.params["TimeZone"]
    assert recorded != "Asia/Tokyo"
    pg.execute("ALTER ROLE %s SET TimeZone = 'Asia/Tokyo'" % SCRAM_USER)
    try:
        b = login(pw, SCRAM_USER, SCRAM_PASSWORD)  # from the record; a keeps its server
        assert b.params["TimeZone"] == recorded
        told = [m.parameter_status() for m in b.simple("SHOW TimeZone") if m.type == "S"]
        assert ("TimeZone", "Asia/Tokyo") in told
        assert b.scalar("SHOW TimeZone") == "Asia/Tokyo"
        tokyo = leave_to_pool(pw, b)
        c = login(pw, SCRAM_USER, SCRAM_PASSWORD)  # the record is what b was told
        assert c.params["TimeZone"] == "Asia/Tokyo"
        assert [m for m in c.simple("SELECT 1") if m.type == "S"] == []
        assert pid_of(c) == tokyo  # a still holds the other server
    finally:
        pg.execute("ALTER ROLE %s RESET TimeZone" % SCRAM_USER)
