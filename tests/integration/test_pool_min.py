"""min_pool_size through a real PostgreSQL 15: once a client of a (database, user) has logged in,
its pool keeps that many servers open on its own, logged in with that client's credentials (the
ClientKey of its SCRAM proof, or auth_file's cleartext password); a client after a quiet period
gets one without a backend's start; a server that dies is replaced and never handed out;
credentials the server refuses are forgotten instead of retried; server_idle_timeout spares
the kept servers, as PgBouncer's does."""

import time

import pytest

import authkit
import pgwire
from authkit import login
from conftest import wait_for
from test_pool import leave, pid_of

ROLE = "pool_warm"
PASSWORD = "warm-Pa55"
APP = {"application_name": "warm-app"}


@pytest.fixture(scope="module")
def role(pg):
    pg.execute("DROP ROLE IF EXISTS %s" % ROLE)
    pg.execute("SET password_encryption = 'scram-sha-256'; CREATE ROLE %s LOGIN PASSWORD '%s'" % (ROLE, PASSWORD))
    yield ROLE
    wait_for(lambda: backend_pids(pg) == set(), 10, what="no %s backend left" % ROLE)
    pg.execute("DROP ROLE IF EXISTS %s" % ROLE)


def backend_pids(pg):
    return {r[0] for r in pg.execute("SELECT pid FROM pg_stat_activity WHERE usename = '%s'" % ROLE)}


def app_names(pg):
    return sorted(r[0] for r in pg.execute("SELECT application_name FROM pg_stat_activity WHERE usename = '%s'"
                                           % ROLE))


@pytest.fixture(params=["server_secret", "cleartext"])
def warm(request, pg, role, pgward_factory, tmp_path):
    """start(**settings): pgward authenticating ROLE itself with min_pool_size = 3, its
    auth_file holding the server's SCRAM secret (servers log in with a client's ClientKey) or the
    cleartext password (they log in with it)."""
    secret = authkit.server_secret(pg, ROLE) if request.param == "server_secret" else PASSWORD
    ul = authkit.write_userlist(tmp_path / "userlist.txt", {ROLE: secret})

    def start(**settings):
        s = {"auth_type": "scram-sha-256", "auth_file": ul, "pool_mode": "session",
             "default_pool_size": 5, "min_pool_size": 3}
        s.update(settings)
        wait_for(lambda: backend_pids(pg) == set(), 10, what="no %s backend left from an earlier test" % ROLE)
        return pgward_factory(**s)
    return start


def test_the_pool_keeps_min_pool_size_servers_after_its_first_client(pg, warm):
    """No client yet: no credentials, no server. After one client's login the pool opens servers
    until it has three, logged in as that client's application; clients after a quiet period
    get those servers, and no new backend starts for them."""
    pw = warm()
    time.sleep(1.5)
    assert backend_pids(pg) == set()
    first = login(pw, ROLE, PASSWORD, params=APP)
    assert first.scalar("SELECT current_user") == ROLE
    leave(first)
    kept = wait_for(lambda: len(backend_pids(pg)) == 3 and backend_pids(pg), 15, what="three servers kept")
    assert app_names(pg) == ["warm-app"] * 3
    pw.wait_log(r"event=min_pool_server_ready")
    clients = [login(pw, ROLE, PASSWORD, params=APP) for _ in range(3)]
    assert {pid_of(c) for c in clients} == kept
    # every server in use: a fourth client gets a new one (default_pool_size 5)
    fourth = login(pw, ROLE, PASSWORD, params=APP)
    assert pid_of(fourth) not in kept
    for c in clients + [fourth]:
        assert c.scalar("SELECT session_user") == ROLE
        leave(c)
    assert len(backend_pids(pg)) == 4


def test_a_kept_server_that_dies_is_replaced_not_handed_out(pg, warm):
    """pg_terminate_backend of a kept server: the pool closes it, opens another, and a client
    only ever gets a live server."""
    pw = warm()
    leave(login(pw, ROLE, PASSWORD))
    kept = wait_for(lambda: len(backend_pids(pg)) == 3 and backend_pids(pg), 15, what="three servers kept")
    victim = min(kept)
    pg.execute("SELECT pg_terminate_backend(%d)" % victim)
    pw.wait_log(r"event=server_closed .*server_pid=%d" % victim)
    now = wait_for(lambda: len(backend_pids(pg)) == 3 and backend_pids(pg), 15, what="a replacement")
    assert victim not in now and len(now - kept) == 1
    clients = [login(pw, ROLE, PASSWORD) for _ in range(3)]
    assert {pid_of(c) for c in clients} == now
    for c in clients:
        assert c.scalar("SELECT 1") == "1"
        leave(c)


def test_credentials_the_server_refuses_are_forgotten(pg, warm):
    """The role's password changes on the server: the kept servers' next login is refused once
    (28P01, logged), the pool forgets the credentials and opens nothing more until a client
    logs in again, instead of knocking every server_login_retry."""
    pw = warm(server_login_retry=1)
    leave(login(pw, ROLE, PASSWORD))
    kept = wait_for(lambda: len(backend_pids(pg)) == 3 and backend_pids(pg), 15, what="three servers kept")
    pg.execute("ALTER ROLE %s PASSWORD 'changed-Pa55'" % ROLE)
    try:
        start = len(pw.log_text())
        pg.execute("SELECT pg_terminate_backend(%d)" % min(kept))
        pw.wait_log(r"event=min_pool_login_failed .*sqlstate=28P01", start=start, timeout=10)
        time.sleep(3)
        assert pw.log_text()[start:].count("event=min_pool_login_failed") == 1
        assert len(backend_pids(pg)) == 2
    finally:
        pg.execute("SET password_encryption = 'scram-sha-256'; ALTER ROLE %s PASSWORD '%s'" % (ROLE, PASSWORD))


def test_server_idle_timeout_spares_the_kept_servers(pg, warm):
    """server_idle_timeout = 1: servers beyond min_pool_size close when idle, the three kept
    ones stay (the same backends, not closed and reopened)."""
    pw = warm(server_idle_timeout=1)
    clients = [login(pw, ROLE, PASSWORD) for _ in range(5)]
    for c in clients:
        pid_of(c)
    for c in clients:
        leave(c)
    assert len(backend_pids(pg)) == 5
    kept = wait_for(lambda: len(backend_pids(pg)) == 3 and backend_pids(pg), 10, what="two servers closed")
    time.sleep(2.5)
    assert backend_pids(pg) == kept


def test_without_min_pool_size_nothing_is_opened_or_kept(pg, warm):
    """min_pool_size = 0 (the default): a client's server goes back to the pool and no other is
    opened; a reload to 0 stops a pool from replacing its servers."""
    pw = warm(min_pool_size=0)
    leave(login(pw, ROLE, PASSWORD))
    time.sleep(2)
    assert len(backend_pids(pg)) == 1
    pw.reload(min_pool_size=3)
    leave(login(pw, ROLE, PASSWORD))
    kept = wait_for(lambda: len(backend_pids(pg)) == 3 and backend_pids(pg), 15, what="three servers kept")
    start = len(pw.log_text())
    pw.reload(min_pool_size=0)
    pw.wait_log(r"event=reloaded", start=start)
    # the reload retires the servers opened before it; none is opened again
    wait_for(lambda: backend_pids(pg) == set(), 10, what="the retired servers closed")
    time.sleep(2)
    assert backend_pids(pg) == set(), kept


def test_credentials_that_never_logged_in_are_not_kept(pg, role, pgward_factory, tmp_path):
    """A client pgward lets in without a password (hba trust) while the server asks for one:
    its own server login fails, and the pool does not keep its empty credentials to knock on
    the server with every few seconds."""
    hba = tmp_path / "hba.conf"
    hba.write_text("host all %s 127.0.0.1/32 trust\n" % ROLE)
    pw = pgward_factory(auth_type="hba", auth_hba_file=hba, pool_mode="session", min_pool_size=3,
                        server_login_retry=1)
    c = pgwire.Conn("127.0.0.1", pw.port)
    with pytest.raises(pgwire.PgError) as e:
        c.startup(ROLE)
        c.scalar("SELECT 1")
    assert e.value.fields["C"] == "08006" and "no suitable secret" in e.value.fields["M"], e.value.fields
    time.sleep(2.5)
    assert "min_pool" not in pw.log_text()
    assert backend_pids(pg) == set()


def test_a_reload_forgets_the_credentials(pg, warm, tmp_path):
    """The role is removed from auth_file and pgward reloaded (revoked): the servers kept for
    it are retired with the reload and none is opened again with credentials from before it."""
    pw = warm()
    leave(login(pw, ROLE, PASSWORD))
    wait_for(lambda: len(backend_pids(pg)) == 3, 15, what="three servers kept")
    revoked = authkit.write_userlist(tmp_path / "revoked.txt", {"someone_else": "x"})
    start = len(pw.log_text())
    pw.reload(auth_file=revoked)
    pw.wait_log(r"event=reloaded", start=start)
    wait_for(lambda: backend_pids(pg) == set(), 10, what="the kept servers retired")
    time.sleep(2.5)
    assert backend_pids(pg) == set()
    assert "min_pool_server_open" not in pw.log_text()[start:]
