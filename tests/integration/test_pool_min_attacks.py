"""Attacks on min_pool_size (src/pool/pool_min.c), the servers a pool opens on its own: a
login storm through a shared limit, a reload while such a server connects over TLS, a client's
database name in pgward's log and credentials of a login that failed, bytes an impostor server
sends after its login's ReadyForQuery, a shutdown while such a server hangs. Each test fails
when the attack works."""

import struct
import threading
import time

import pytest

import authkit
import pgwire
from authkit import _backend, _recv_exact, _recv_typed, login
from conftest import wait_for
from test_pool import Gate, leave, pid_of

A, A_PW = "atk_min_a", "atk-a-Pa55"
B, B_PW = "atk_min_b", "atk-b-Pa55"


@pytest.fixture(scope="module")
def roles(pg):
    for r, p in ((A, A_PW), (B, B_PW)):
        pg.execute("DROP ROLE IF EXISTS %s" % r)
        pg.execute("SET password_encryption = 'scram-sha-256'; CREATE ROLE %s LOGIN PASSWORD '%s'" % (r, p))
    yield
    wait_for(lambda: backends(pg) == 0, 15, what="no attack backend left")
    for r in (A, B):
        pg.execute("DROP ROLE IF EXISTS %s" % r)


def backends(pg):
    return pg.execute("SELECT count(*) FROM pg_stat_activity WHERE usename IN ('%s', '%s')" % (A, B))[0][0]


@pytest.fixture
def start(pg, roles, pgward_factory, tmp_path):
    ul = authkit.write_userlist(tmp_path / "userlist.txt",
                                {A: authkit.server_secret(pg, A), B: authkit.server_secret(pg, B)})

    def go(**settings):
        s = {"auth_type": "scram-sha-256", "auth_file": ul, "pool_mode": "session"}
        s.update(settings)
        wait_for(lambda: backends(pg) == 0, 15, what="no attack backend left from an earlier test")
        return pgward_factory(**s)
    return go


def test_sibling_waiter_makes_the_pool_reopen_servers_in_a_loop(pg, start):
    """max_db_connections shared by two pools; B's pool is full (default_pool_size) and a B
    client waits. A's pool has min_pool_size credentials: each server it warms is dropped by
    pgw_pool_make_idle (sibling_waits) and warm_done immediately opens the next one: a
    connect+login storm against PostgreSQL while B's client waits."""
    pw = start(default_pool_size=2, min_pool_size=1, max_db_connections=3, query_wait_timeout=30,
               server_login_retry=1)
    a1 = login(pw, A, A_PW)
    pid_of(a1)
    b1, b2 = login(pw, B, B_PW), login(pw, B, B_PW)
    pid_of(b1), pid_of(b2)
    got = []

    def waiter():
        try:
            c = login(pw, B, B_PW)
            c.scalar("SELECT 1")  # welcomed logins check out a server at their first query
            got.append(c)
        except Exception as e:  # noqa
            got.append(e)

    t = threading.Thread(target=waiter, daemon=True)
    t.start()
    pw.wait_log(r"event=pool_wait")
    start_at = len(pw.log_text())
    leave(a1)
    time.sleep(3)
    opened = pw.log_text()[start_at:].count("event=min_pool_server_open")
    leave(b1)
    t.join(10)
    leave(b2)
    if got and not isinstance(got[0], Exception):
        leave(got[0])
    # one warm attempt per tick (or per server_login_retry) would be a handful at most
    assert opened <= 5, "pool opened %d servers in 3 s: %s" % (opened, pw.log_text()[start_at:])


def test_client_database_name_forges_log_lines(pg, start):
    """A client with valid credentials asks for a database that does not exist, its name
    carrying a newline. PostgreSQL sends AuthenticationOk before it checks the database, so
    the pool keeps the credentials (never having logged a server in) and its own login,
    refused with 3D000, is logged with the database name unquoted: a forged log line."""
    pw = start(min_pool_size=1, server_login_retry=1)
    evil = "nodb\nts=2026-01-01T00:00:00.000Z level=error event=forged_by_client"
    with pytest.raises(pgwire.PgError) as e:
        c = login(pw, A, A_PW, database=evil)
        c.scalar("SELECT 1")
    assert e.value.fields["C"] == "3D000", e.value.fields
    time.sleep(2.5)
    lines = pw.log_text().splitlines()
    forged = [l for l in lines if l.startswith("ts=2026-01-01T00:00:00.000Z")]
    assert forged == [], forged
    assert "min_pool" not in pw.log_text(), "credentials of a login that failed were kept"


def test_reload_while_a_pool_server_warms_over_tls(pg, start):
    """The pool opens a server on its own (no client involved) with server_tls_sslmode =
    prefer; the server is slow to answer the SSLRequest; a SIGHUP reload frees the old
    configuration, whose server_host string the pending link still points to
    (server_link.c l->host = t->host): begin_tls reads freed memory (ASan: heap-use-after-free,
    pgward aborts)."""
    relay = Gate(pg.port)
    relay.delay, relay.delay_after = 2.0, 1
    relay.open()
    pw = start(server_port=relay.port, server_tls_sslmode="prefer", min_pool_size=2, default_pool_size=3,
               server_connect_timeout=8)
    a1 = login(pw, A, A_PW)
    pid_of(a1)
    pw.wait_log(r"event=min_pool_server_open", timeout=5)
    off = len(pw.log_text())
    pw.reload(server_login_retry=14)  # any reload
    pw.wait_log(r"event=reloaded", start=off)
    time.sleep(3)
    assert pw.alive(), pw.log_tail(60)
    assert pw.sanitizer_report() is None
    leave(a1)


def test_shutdown_while_a_server_warms_is_clean(pg, start):
    """SIGTERM while the pool's own server hangs in its login (the server accepted and never
    answers): pgward exits 0 without sanitizer reports (checked at teardown)."""
    relay = Gate(pg.port)
    relay.delay, relay.delay_after = 60.0, 1  # the client's server is relayed, the pool's own hangs
    relay.open()
    pw = start(server_port=relay.port, min_pool_size=2, default_pool_size=3, server_connect_timeout=30)
    leave(login(pw, A, A_PW))
    pw.wait_log(r"event=min_pool_server_open", timeout=5)
    time.sleep(0.5)
    assert pw.stop() == 0, pw.log_tail()
    assert pw.sanitizer_report() is None


def _row_answer(value):
    return (_backend("T", struct.pack("!H", 1) + b"x\0" + struct.pack("!IHIhih", 0, 0, 25, -1, -1, 0))
            + _backend("D", struct.pack("!HI", 1, len(value)) + value)
            + _backend("C", b"SELECT 1\0") + _backend("Z", b"I"))


class FakeServer(Gate):
    """A server that lets anyone in (AuthenticationOk at once, as with trust) and answers every
    Query with one row 'real'. The second connection (the pool's own, after the first
    client's) adds, in the same write as its login's ReadyForQuery, the answer to a query
    nobody has sent yet: one row 'INJECTED'."""

    def __init__(self):
        super().__init__(None)
        self.open()

    def _relay(self, c, delay=0.0):
        threading.Thread(target=self._serve, args=(c, self.accepted == 2), daemon=True).start()

    def _serve(self, c, inject):
        try:
            n = struct.unpack("!I", _recv_exact(c, 4))[0]
            _recv_exact(c, n - 4)
            login = (_backend("R", struct.pack("!I", 0)) + _backend("S", b"server_version\x0015.0\0")
                     + _backend("S", b"client_encoding\0UTF8\0") + _backend("S", b"application_name\0\0")
                     + _backend("S", b"standard_conforming_strings\0on\0")
                     + _backend("K", struct.pack("!II", 4242 + self.accepted, 7)) + _backend("Z", b"I"))
            if inject:
                login += _row_answer(b"INJECTED")
            c.sendall(login)
            while True:
                t, _ = _recv_typed(c)
                if t == "X":
                    break
                if t == "Q":
                    c.sendall(_row_answer(b"real"))
        except (OSError, EOFError):
            pass
        finally:
            c.close()


def test_bytes_after_the_warm_login_reach_a_later_client(pg, start):
    """What a server sent after the ReadyForQuery of the pool's own login, in the same read,
    stays in the server's input (warm_done only trims it) and is relayed to the next client as
    the answer to its first query, although the pool closes an idle server that says anything
    nobody asked for."""
    fake = FakeServer()
    pw = start(server_port=fake.port, min_pool_size=2, default_pool_size=3)
    a1 = login(pw, A, A_PW)
    assert a1.scalar("SELECT 1") == "real"
    pw.wait_log(r"event=min_pool_login_failed .*sqlstate=08P01 .*sent data after its login", timeout=10)
    b = login(pw, A, A_PW)
    got = b.scalar("SELECT 1")
    leave(a1)
    leave(b)
    assert got != "INJECTED"


def test_a_lifetime_shorter_than_a_login_does_not_loop(pg, start):
    """server_lifetime shorter than a login (a misconfiguration): each server the pool opens
    is too old once logged in and is closed; the pool opens the next at its tick, not at once
    in a loop of connects and logins."""
    pw = start(min_pool_size=2, default_pool_size=3, server_lifetime=0.001)
    leave(login(pw, A, A_PW))
    pw.wait_log(r"event=min_pool_server_open", timeout=5)
    at = len(pw.log_text())
    time.sleep(2)
    opened = pw.log_text()[at:].count("event=min_pool_server_open")
    assert opened <= 2 * 9, "pool opened %d servers in 2 s" % opened  # ticks of 250 ms
