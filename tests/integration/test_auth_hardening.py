"""pgward's own authentication against an attacker who knows how it works: logins to made-up
databases exhausting auth_query's connections, IPv4 clients reaching an IPv6 listener as
mapped addresses, guesses sent in parallel to beat the failure limit, role enumeration by
challenge type, a flood of bytes while a lookup is pending, and a hostile server (huge SCRAM
iteration counts, AuthenticationOk without the server's proof, a login without Ok)."""

import socket
import threading
import time

import pytest

import authkit
import pgwire
from conftest import MD5_USER, SCRAM_USER, SCRAM_PASSWORD, wait_for


@pytest.fixture(scope="module")
def roles(pg):
    authkit.ensure_roles(pg)


def _rss_kb(pid):
    for line in open("/proc/%d/status" % pid):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_made_up_databases_do_not_exhaust_auth_query(pg, roles, pgward_factory):
    """Goal: with auth_dbname unset, startup packets naming 40 made-up databases use up
    auth_query's connections so nobody can log in any more. Failed connections are dropped;
    the client is not told why the server refused pgward's own connection."""
    pw = pgward_factory(auth_type="scram-sha-256", auth_user="postgres", auth_failure_limit=0)
    for i in range(40):
        f = authkit.refused(pw, SCRAM_USER, SCRAM_PASSWORD, database="made_up_%d" % i)
        assert f["C"] == "08006", f
        assert f["M"] == 'pgward: could not look up the password of user "scram_user"', f
        assert "does not exist" not in str(f), f
    pw.wait_log(r'event=auth_query_down database=made_up_39 error=.*does not exist')
    # everyone else still logs in, in the session's database and a new one
    c = authkit.login(pw, SCRAM_USER, SCRAM_PASSWORD)
    assert c.scalar("SELECT current_user") == SCRAM_USER
    c = authkit.login(pw, SCRAM_USER, SCRAM_PASSWORD, database="bench")
    assert c.scalar("SELECT current_database()") == "bench"


def test_ipv4_client_on_an_ipv6_listener_meets_ipv4_rules(pg, roles, pgward_factory, tmp_path):
    """Goal: reach pgward listening on :: from 127.0.0.1, arrive as ::ffff:127.0.0.1 and slip
    past an IPv4 reject rule. The address is read as IPv4, as PostgreSQL's separate sockets
    would see it."""
    hba = tmp_path / "hba.conf"
    hba.write_text("host all all 127.0.0.0/8 reject\nhost all all ::/0 trust\n")
    pw = pgward_factory(listen_addr="::", auth_type="hba", auth_hba_file=hba)
    c = pgwire.Conn("127.0.0.1", pw.port)
    with pytest.raises(pgwire.PgError) as e:
        c.startup(SCRAM_USER, "postgres")
    assert (e.value.sqlstate, e.value.message) == (
        "28000", 'pg_hba.conf rejects connection for host "127.0.0.1", user "scram_user", '
                 'database "postgres", no encryption')
    c.close()
    pw.wait_log(r"event=auth_failed sid=\d+ peer=127\.0\.0\.1:\d+ ")


def test_parallel_guesses_stop_at_the_limit(pg, roles, pgward_factory, tmp_path):
    """Goal: beat auth_failure_limit=5 by opening 30 logins before any has failed, then
    guessing on all of them: the right password on the last must not get in."""
    ul = authkit.write_userlist(tmp_path / "userlist.txt", {SCRAM_USER: SCRAM_PASSWORD})
    pw = pgward_factory(auth_type="password", auth_file=ul, auth_failure_limit=5)
    conns = []
    for _ in range(30):
        c = pw.raw()
        c.send(pgwire.startup_message({"user": SCRAM_USER, "database": "postgres"}))
        assert c.recv_msg().auth_code() == pgwire.AUTH_CLEARTEXT
        conns.append(c)
    for c in conns[:-1]:
        c.send(pgwire.password_message("guess"))
        assert c.expect_error()["C"] in ("28P01", "28000")
    conns[-1].send(pgwire.password_message(SCRAM_PASSWORD))
    err = conns[-1].expect_error()
    assert err["C"] == "28000" and err["M"].startswith(
        "pgward: too many failed logins from 127.0.0.1"), err
    # it is the address that is refused, not the role: another address still gets in
    c = authkit.login(pw, SCRAM_USER, SCRAM_PASSWORD, source="127.0.0.2")
    assert c.scalar("SELECT 1") == "1"


@pytest.mark.parametrize("method", ["md5", "scram-sha-256"])
def test_unknown_role_gets_the_challenge_of_a_real_one(pg, roles, pgward_factory, method):
    """Goal: tell which roles exist from the kind of challenge. As in PostgreSQL (with
    password_encryption scram-sha-256), a role without an md5 secret, existing or not, is
    asked for SCRAM; only md5 roles under md5 get an md5 salt."""
    pw = pgward_factory(auth_type=method, auth_user="postgres")

    def first_request(user):
        c = pw.raw()
        c.send(pgwire.startup_message({"user": user, "database": "postgres"}))
        m = c.recv_msg()
        c.close()
        return m.auth_code(), m.body[4:] if m.auth_code() == pgwire.AUTH_SASL else None

    assert first_request("no_such_role_x") == first_request(SCRAM_USER)
    if method == "md5":
        assert first_request(MD5_USER)[0] == pgwire.AUTH_MD5


def test_bytes_flooded_during_a_lookup_are_not_buffered(pg, roles, pgward_factory):
    """Goal: grow pgward's memory by sending bytes while the login waits for auth_query.
    The client is not read until the lookup has answered."""
    pw = pgward_factory(auth_type="scram-sha-256", auth_user="postgres", auth_query_timeout=4,
                        auth_query="SELECT usename, passwd FROM pg_shadow, pg_sleep(2) WHERE usename=$1")
    before = _rss_kb(pw.pid)
    s = socket.create_connection(("127.0.0.1", pw.port))
    s.sendall(pgwire.startup_message({"user": SCRAM_USER, "database": "postgres"}))
    s.setblocking(False)
    sent, chunk, deadline = 0, b"p" * 65536, time.monotonic() + 1.5
    while time.monotonic() < deadline:
        try:
            sent += s.send(chunk)
        except BlockingIOError:
            time.sleep(0.01)
    grown = _rss_kb(pw.pid) - before
    s.close()
    assert grown < 20 * 1024, "pgward grew %d kB while %d bytes were sent" % (grown, sent)
    assert pw.alive()


def _hostile_server_login(pg, pgward_factory, tls, tmp_path, auth_type, **hostile):
    secret = authkit.server_secret(pg, SCRAM_USER)
    fake = authkit.FakeScramServer(tls, secret, use_tls=False, **hostile)
    fake.start()
    ul = authkit.write_userlist(tmp_path / "userlist.txt", {SCRAM_USER: secret})
    pw = pgward_factory(auth_type=auth_type, auth_file=ul, server_port=fake.port,
                        server_tls_sslmode="disable")
    started = time.monotonic()
    f = authkit.refused(pw, SCRAM_USER, SCRAM_PASSWORD)
    fake.done.wait(10)
    return pw, f, time.monotonic() - started


def test_server_cannot_make_pgward_spin_on_iterations(pg, roles, pgward_factory, tls, tmp_path):
    """Goal (a hostile server or a man in the middle of a plain server leg): freeze pgward's
    one thread with PBKDF2 by announcing 2^31-1 SCRAM iterations for a password login."""
    pw, f, took = _hostile_server_login(pg, pgward_factory, tls, tmp_path, "password",
                                        iterations=2 ** 31 - 1)
    assert took < 5, took
    assert f["C"] == "08006" and "iteration" in f["M"], f
    assert pw.alive()


@pytest.mark.parametrize("hostile", ["skip_final", "skip_ok"])
def test_server_must_prove_itself_and_say_ok(pg, roles, pgward_factory, tls, tmp_path, hostile):
    """Goal (a server impostor): skip the SCRAM server signature by sending AuthenticationOk at
    once, or open a session without any AuthenticationOk. pgward refuses both."""
    pw, f, _ = _hostile_server_login(pg, pgward_factory, tls, tmp_path, "scram-sha-256",
                                     **{hostile: True})
    assert (f["S"], f["C"]) == ("FATAL", "08P01"), f
    assert pgwire.AUTH_OK not in f["auth_codes"][3:], f
    assert pw.alive()


@pytest.mark.parametrize("login_timeout", [None, "300ms"])
def test_client_gone_while_its_lookup_runs(pg, roles, pgward_factory, tmp_path, login_timeout):
    """Goal: crash pgward by hanging up while auth_query runs, or by letting the login time
    out first: the answer then comes for a session already closed (and, under ASan, freed)
    and must find nothing to act on; the next login is served."""
    # the role logging in at the end is in auth_file: its login does not wait for a lookup
    ul = authkit.write_userlist(tmp_path / "userlist.txt", {SCRAM_USER: authkit.server_secret(pg, SCRAM_USER)})
    pw = pgward_factory(auth_type="scram-sha-256", auth_user="postgres", auth_cache_ttl=0, auth_file=ul,
                        client_login_timeout=login_timeout or 15,
                        auth_query="SELECT usename, passwd FROM pg_shadow, pg_sleep(0.5) WHERE usename=$1")
    for _ in range(5):
        s = socket.create_connection(("127.0.0.1", pw.port))
        s.sendall(pgwire.startup_message({"user": MD5_USER, "database": "postgres"}))
        s.close()
    time.sleep(1.5)  # the lookups answer after their sessions are gone
    assert pw.alive()
    if login_timeout:
        pw.wait_log(r"client login timeout")
    c = authkit.login(pw, SCRAM_USER, SCRAM_PASSWORD)
    assert c.scalar("SELECT session_user") == SCRAM_USER
