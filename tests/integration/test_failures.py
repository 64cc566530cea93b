"""Failures on either side: the server is down (and comes back), a backend is terminated, a
client dies mid-query, too many clients. pgward reports with the documented SQLSTATE, keeps
serving everyone else, and never leaves a server backend behind."""

import time

import psycopg2
import pytest

import pgwire
from conftest import SUPERUSER, libpq_idle_notices, needs_own_backend, wait_for


def test_server_unreachable_then_back(pg2, pgward_factory):
    pg2.stop()
    pw = pgward_factory(server_port=pg2.port)
    for _ in range(2):
        c = pw.raw()
        with pytest.raises(pgwire.PgError) as e:
            c.startup(SUPERUSER, "postgres")
        assert e.value.sqlstate == "08006"
        assert e.value.message.startswith("pgward: could not connect to the server")
        assert e.value.fields["S"] == "FATAL"
        assert c.wait_closed(5)
    assert pw.alive()
    # libpq shows the message
    r = pw.psql("-c", "SELECT 1", check=False)
    assert r.returncode == 2 and "pgward: could not connect to the server" in r.stderr.decode()

    pg2.start()
    c = pw.raw_session()
    assert c.scalar("SELECT 'server is back'") == "server is back"


def test_server_connect_timeout(pgward_factory):
    """A server address that swallows SYNs: pgward gives up after server_connect_timeout.
    (An unused port on a listening socket with a full backlog is not portable; instead a
    listening socket that never accepts and a 1-connection backlog already filled.)"""
    import socket

    hog = socket.socket()
    hog.bind(("127.0.0.1", 0))
    hog.listen(0)
    port = hog.getsockname()[1]
    # fill the accept queue so further SYNs are dropped
    fillers = []
    for _ in range(4):
        s = socket.socket()
        s.setblocking(False)
        try:
            s.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        fillers.append(s)
    try:
        pw = pgward_factory(server_port=port, server_connect_timeout=1)
        c = pw.raw(timeout=15)
        t0 = time.monotonic()
        c.send(pgwire.startup_message({"user": SUPERUSER, "database": "postgres"}))
        f = c.expect_error(timeout=12)
        elapsed = time.monotonic() - t0
        assert f["C"] == "08006", f
        assert f["M"].startswith("pgward: could not connect to the server"), f
        assert elapsed < 8, "server_connect_timeout=1 took %.1fs" % elapsed
    finally:
        for s in fillers:
            s.close()
        hog.close()


@needs_own_backend
def test_terminated_backend_error_reaches_client(pg, pgward):
    victim = pgward.raw_session()
    other = pgward.connect()
    victim_pid = int(victim.scalar("SELECT pg_backend_pid()"))
    assert pg.execute("SELECT pg_terminate_backend(%d)" % victim_pid) == [(True,)]
    f = victim.expect_error(timeout=5)
    assert f["C"] == "57P01"
    assert f["M"] == "terminating connection due to administrator command"
    assert f["S"] == "FATAL"
    assert victim.wait_closed(5)
    with other.cursor() as cur:
        cur.execute("SELECT 'other session fine'")
        assert cur.fetchone() == ("other session fine",)
    # a new session works too
    assert pgward.raw_session().scalar("SELECT 1") == "1"


@needs_own_backend
def test_terminated_backend_psycopg(pg, target):
    """What a libpq application sees: the FATAL arrives while the connection is idle (libpq hands
    it to the notice processor), and the next query fails."""
    conn = target.connect()
    with conn.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        pid = cur.fetchone()[0]
    pg.execute("SELECT pg_terminate_backend(%d)" % pid)
    wait_for(lambda: libpq_idle_notices(conn), 5, what="the FATAL to reach the idle libpq connection")
    assert "FATAL:  terminating connection due to administrator command\n" in conn.notices
    with pytest.raises(psycopg2.OperationalError):
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
    assert conn.closed


@pytest.mark.parametrize("how", ["rst", "fin"])
def test_client_killed_mid_query_frees_backend(pg, target, how):
    """A backend sleeping in pg_sleep() does not notice that its socket closed: pgward itself must
    end the query (README: it cancels it). Directly, PostgreSQL needs
    client_connection_check_interval for the same result."""
    params = {"options": "-c client_connection_check_interval=1s"} if target.name == "direct" else None
    c = target.raw_session(params=params)
    pid = int(c.scalar("SELECT pg_backend_pid()"))
    c.send(pgwire.query("SELECT pg_sleep(30)"))
    wait_for(lambda: pg.execute("SELECT state FROM pg_stat_activity WHERE pid = %d" % pid) == [("active",)],
             5, what="the query to start")
    t0 = time.monotonic()
    c.close(abort=(how == "rst"))
    wait_for(lambda: not pg.backend_alive(pid), 6, what="server backend %d to go away" % pid)
    assert time.monotonic() - t0 < 6


def test_client_gone_while_idle_frees_backend(pg, target):
    c = target.raw_session()
    pid = int(c.scalar("SELECT pg_backend_pid()"))
    c.close(abort=True)
    wait_for(lambda: not pg.backend_alive(pid), 5, what="idle server backend %d to go away" % pid)


def test_max_client_conn(pg, pgward_factory):
    pw = pgward_factory(max_client_conn=3)
    held = [pw.raw_session() for _ in range(3)]
    c = pw.raw()
    # pgward may refuse at accept (before reading the startup packet) or after it
    if not c.readable(0.5):
        c.send(pgwire.startup_message({"user": SUPERUSER, "database": "postgres"}))
    f = c.expect_error(timeout=5)
    assert f["C"] == "53300"
    assert f["M"].startswith("pgward: too many client connections")
    assert f["S"] == "FATAL"
    assert c.wait_closed(5)
    # the three sessions are unaffected
    for h in held:
        assert h.scalar("SELECT 1") == "1"
    # a freed slot is usable again
    held.pop().send(pgwire.terminate())
    time.sleep(0.3)
    wait_for(lambda: _try_session(pw), 5, what="a session after one slot was freed")


def _try_session(pw):
    try:
        return pw.raw_session().scalar("SELECT 'slot'") == "slot"
    except (pgwire.PgError, pgwire.Closed, AssertionError):
        return False


def test_server_restart_under_sessions(pg2, pgward_factory):
    """The server goes away under an idle session: the client gets the server's error (or a
    clean close), and new sessions work once the server is back."""
    pg2.start()
    pw = pgward_factory(server_port=pg2.port)
    c = pw.raw_session()
    assert c.scalar("SELECT 1") == "1"
    pg2.stop("fast")
    f = c.expect_error(timeout=10)
    assert f["C"] == "57P01"  # terminating connection due to administrator command
    assert c.wait_closed(5)
    c2 = pw.raw()
    with pytest.raises(pgwire.PgError) as e:
        c2.startup(SUPERUSER, "postgres")
    assert e.value.sqlstate == "08006"
    pg2.start()
    assert pw.raw_session().scalar("SELECT 'again'") == "again"
