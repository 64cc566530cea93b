"""pgward's own authentication (auth_type other than passthrough) against PostgreSQL 15:
where a role's secret comes from (auth_file in each form, auth_query as a superuser or through
a SECURITY DEFINER function), what pgward then logs in to the server with, every failure with
its SQLSTATE and message (compared with PostgreSQL's own where PostgreSQL has the same case),
throttling of an address under a burst of wrong passwords, SHOW AUTH / pgward_logins_total and
the log, reloads, configuration checks, and passthrough left as it was.

hba and certificate rules and the README's deployment are test_auth_hba.py, the attacker's goals
test_auth_attacks.py, the client-driver grid test_auth_clients.py.
"""

import base64
import re
import signal
import statistics
import threading
import time

import pytest

import authkit
import pgwire
from authkit import (ATTACKER_PASSWORD, ATTACKER_USER, CACHE_USER, CERT_PASSWORD, CERT_USER, EXPIRED_PASSWORD,
                     EXPIRED_USER, NOLOGIN_PASSWORD, NOLOGIN_USER, OK_CLEARTEXT, OK_MD5, OK_SCRAM, TRUST_PASSWORD,
                     TRUST_USER, client_tls, fields_of, login, refused)
from conftest import (MD5_PASSWORD, MD5_USER, PGWARD_BIN, SCRAM_PASSWORD, SCRAM_USER, SUPERUSER, free_port, run,
                      wait_for)

LOOKUP_USER, LOOKUP_PASSWORD = "auth_lookup", "lookup-secret"
LOOKUP_QUERY = "SELECT usename, passwd FROM auth_tests.pgward_auth_lookup($1)"


@pytest.fixture(scope="module")
def roles(pg):
    authkit.ensure_roles(pg)
    # PgBouncer's recipe for an auth_user that is not a superuser
    pg.execute("DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '%s') THEN "
               "CREATE ROLE %s LOGIN PASSWORD '%s'; END IF; END $$" % (LOOKUP_USER, LOOKUP_USER, LOOKUP_PASSWORD))
    pg.execute("CREATE OR REPLACE FUNCTION auth_tests.pgward_auth_lookup(text)"
               " RETURNS TABLE (usename name, passwd text) LANGUAGE sql SECURITY DEFINER"
               " SET search_path = pg_catalog AS "
               "$$ SELECT usename, passwd FROM pg_catalog.pg_shadow WHERE usename = $1 $$;"
               "REVOKE ALL ON FUNCTION auth_tests.pgward_auth_lookup(text) FROM PUBLIC;"
               "GRANT EXECUTE ON FUNCTION auth_tests.pgward_auth_lookup(text) TO %s" % LOOKUP_USER)
    return authkit.ROLE_PASSWORDS


def pg_log_offset(pg):
    return len(pg.log.read_text(errors="replace"))


def pg_log_since(pg, offset):
    return pg.log.read_text(errors="replace")[offset:]


def assert_lookup_failed(pw, f, user, reason):
    """auth_query could not answer: the client gets 08006 without the server's words (it has
    not logged in), the operator gets them in event=auth_lookup_failed."""
    assert (f["S"], f["C"], f["M"]) == ("FATAL", "08006",
                                        'pgward: could not look up the password of user "%s"' % user), f
    line = pw.wait_log(r'event=auth_lookup_failed sid=\d+ user="%s" error=' % user)
    assert reason in line.replace('\\"', '"'), line


# ---------------------------------------------------------------- where secrets come from


SECRET_FORMS = [
    # auth_type, role, what auth_file holds, the requests the client sees
    ("scram-sha-256", SCRAM_USER, "server", OK_SCRAM),
    ("scram-sha-256", SCRAM_USER, "plain", OK_SCRAM),
    ("md5", MD5_USER, "server", OK_MD5),
    # as in PostgreSQL, md5 asks for md5 only with an md5 secret: anything else runs SCRAM,
    # so a plain entry looks like an unknown role (whose mock exchange is SCRAM)
    ("md5", MD5_USER, "plain", OK_SCRAM),
    ("md5", SCRAM_USER, "server", OK_SCRAM),
    ("md5", SCRAM_USER, "plain", OK_SCRAM),
    ("password", SCRAM_USER, "server", OK_CLEARTEXT),
    ("password", MD5_USER, "server", OK_CLEARTEXT),
    ("password", TRUST_USER, "plain", OK_CLEARTEXT),
]


@pytest.mark.parametrize("auth_type,role,form,codes", SECRET_FORMS,
                         ids=["%s-%s-%s" % f[:3] for f in SECRET_FORMS])
def test_auth_file_secret_forms(pg, roles, pgward_factory, tmp_path, auth_type, role, form, codes):
    """Each auth_file secret form runs the method's exchange and logs in to the server as the role."""
    password = roles[role]
    secret = authkit.server_secret(pg, role) if form == "server" else password
    if form == "server":
        assert secret.startswith("md5" if role == MD5_USER else "SCRAM-SHA-256$")
    ul = authkit.write_userlist(tmp_path / "userlist.txt", {role: secret})
    pw = pgward_factory(auth_type=auth_type, auth_file=ul)
    c = login(pw, role, password)
    assert c.auth_codes == codes
    assert c.rows("SELECT session_user, current_user") == [[role, role]]


def test_auth_file_is_read_before_auth_query(pg, roles, pgward_factory, tmp_path):
    """A role in auth_file never needs auth_query; one that is not does."""
    ul = authkit.write_userlist(tmp_path / "userlist.txt", {SCRAM_USER: authkit.server_secret(pg, SCRAM_USER)})
    pw = pgward_factory(auth_type="scram-sha-256", auth_file=ul, auth_user=SUPERUSER,
                        auth_query="SELECT usename, passwd FROM no_such_table WHERE usename=$1")
    assert login(pw, SCRAM_USER, SCRAM_PASSWORD).scalar("SELECT session_user") == SCRAM_USER
    f = refused(pw, MD5_USER, MD5_PASSWORD)
    assert_lookup_failed(pw, f, MD5_USER, 'ERROR:  relation "no_such_table" does not exist')


def test_auth_query_function_and_md5_secret(pg, roles, pgward_factory, tmp_path):
    """Through a SECURITY DEFINER auth_query: SCRAM roles log in, an md5 secret fails scram-sha-256."""
    ul = authkit.write_userlist(tmp_path / "userlist.txt", {LOOKUP_USER: LOOKUP_PASSWORD})
    pw = pgward_factory(auth_type="scram-sha-256", auth_file=ul, auth_user=LOOKUP_USER, auth_query=LOOKUP_QUERY)
    for role in (SCRAM_USER, TRUST_USER):
        assert login(pw, role, roles[role]).scalar("SELECT session_user") == role
    f = refused(pw, MD5_USER, MD5_PASSWORD)
    assert (f["C"], f["M"]) == ("28P01", 'password authentication failed for user "md5_user"')
    # the lookups ran as auth_user on pgward's own connection
    apps = pg.execute("SELECT usename FROM pg_stat_activity WHERE application_name = 'pgward auth_query'"
                      " AND usename = '%s'" % LOOKUP_USER)
    assert apps == [(LOOKUP_USER,)]


def test_auth_query_runs_in_the_clients_database(pg, roles, pgward_factory):
    """auth_query runs in the database the client asks for, or in auth_dbname when set."""
    def lookup_dbs():
        return sorted(r[0] for r in pg.execute(
            "SELECT datname FROM pg_stat_activity WHERE application_name = 'pgward auth_query'"))

    wait_for(lambda: lookup_dbs() == [], 10, what="no auth_query connection of earlier tests")
    for dbname, expected in ((None, ["bench", "postgres"]), ("postgres", ["postgres"])):
        pw = pgward_factory(auth_type="scram-sha-256", auth_user=SUPERUSER, auth_dbname=dbname)
        for db in ("postgres", "bench"):
            c = login(pw, SCRAM_USER, SCRAM_PASSWORD, database=db)
            assert c.rows("SELECT session_user, current_database()") == [[SCRAM_USER, db]]
            c.close()
        assert lookup_dbs() == expected
        assert pw.stop() == 0
        wait_for(lambda: lookup_dbs() == [], 10, what="auth_query connections gone with pgward")


def test_auth_user_password_must_be_plain(pg, roles, pgward_factory, tmp_path):
    """auth_user's password in md5 form cannot be given to the server: 08006 naming libpq's error."""
    ul = authkit.write_userlist(tmp_path / "userlist.txt",
                                {LOOKUP_USER: authkit.md5_secret(LOOKUP_USER, LOOKUP_PASSWORD)})
    pw = pgward_factory(auth_type="scram-sha-256", auth_file=ul, auth_user=LOOKUP_USER, auth_query=LOOKUP_QUERY)
    f = refused(pw, SCRAM_USER, SCRAM_PASSWORD)
    assert_lookup_failed(pw, f, SCRAM_USER, 'connection to server at "127.0.0.1", port %d failed: '
                                            'fe_sendauth: no password supplied' % pg.port)


def test_scram_secret_not_the_servers(pg, roles, pgward_factory, tmp_path):
    """A SCRAM secret with a salt of its own passes the client but cannot open the server's door:
    the server refuses in its own words and pgward's log says why."""
    ul = authkit.write_userlist(tmp_path / "userlist.txt", {SCRAM_USER: authkit.scram_secret(SCRAM_PASSWORD)})
    pw = pgward_factory(auth_type="scram-sha-256", auth_file=ul)
    f = refused(pw, SCRAM_USER, SCRAM_PASSWORD)
    # the client's proof was accepted (SASLFinal with pgward's valid signature), then pgward
    # could not log in: it never forwards an AuthenticationOk of its own
    assert f["auth_codes"] == OK_SCRAM[:3]
    assert (f["C"], f["M"]) == ("28P01", 'password authentication failed for user "scram_user"')
    pw.wait_log(r"event=server_secret_mismatch .*user=scram_user")


def test_md5_secret_cannot_answer_a_scram_server(pg, roles, pgward_factory, tmp_path):
    """md5 at pgward with only an md5 secret, the server asking SCRAM: 08006 naming what is missing."""
    ul = authkit.write_userlist(tmp_path / "userlist.txt",
                                {TRUST_USER: authkit.md5_secret(TRUST_USER, TRUST_PASSWORD)})
    pw = pgward_factory(auth_type="md5", auth_file=ul)
    f = refused(pw, TRUST_USER, TRUST_PASSWORD)
    assert f["auth_codes"] == [pgwire.AUTH_MD5]
    assert f["C"] == "08006"
    assert f["M"].startswith('pgward: cannot log in to the server as "auth_trust": the server asks for a SCRAM '
                             'login, and pgward has no suitable secret for this role')


def test_trust_logs_in_with_what_auth_file_holds(pg, roles, pgward_factory, tmp_path):
    """trust asks the client nothing; pgward answers the server with auth_file's password, or fails."""
    ul = authkit.write_userlist(tmp_path / "userlist.txt", {
        TRUST_USER: TRUST_PASSWORD, MD5_USER: authkit.server_secret(pg, MD5_USER)})
    pw = pgward_factory(auth_type="trust", auth_file=ul)
    # a plain password answers the server's SCRAM, an md5 secret its md5
    for role in (TRUST_USER, MD5_USER):
        c = login(pw, role)
        assert c.auth_codes == [pgwire.AUTH_OK]
        assert c.scalar("SELECT session_user") == role
    # the server trusts pgward for postgres (MAIN_HBA): nothing needed
    assert login(pw, SUPERUSER).scalar("SELECT session_user") == SUPERUSER
    f = refused(pw, SCRAM_USER)
    assert f["auth_codes"] == []
    assert f["C"] == "08006"
    assert f["M"].startswith('pgward: cannot log in to the server as "scram_user": the server asks for a SCRAM login')


# ---------------------------------------------------------------- failures


@pytest.mark.parametrize("auth_type,role", [("scram-sha-256", SCRAM_USER), ("md5", MD5_USER)])
def test_wrong_password_as_postgresql(pg, roles, pgward_factory, auth_type, role):
    """A wrong password gets PostgreSQL's own FATAL 28P01, field for field."""
    pw = pgward_factory(auth_type=auth_type, auth_user=SUPERUSER)
    direct = refused(pg, role, "wrong-password")
    mine = refused(pw, role, "wrong-password")
    assert fields_of(mine) == fields_of(direct)
    assert (mine["S"], mine["C"], mine["M"]) == ("FATAL", "28P01",
                                                 'password authentication failed for user "%s"' % role)
    assert mine["auth_codes"] == direct["auth_codes"]


@pytest.mark.parametrize("auth_type", ["password", "md5", "scram-sha-256"])
def test_unknown_user_reads_as_wrong_password(pg, roles, pgward_factory, auth_type):
    """An unknown role gets the same exchange and the same 28P01 as a wrong password."""
    pw = pgward_factory(auth_type=auth_type, auth_user=SUPERUSER)
    # (under md5, an md5 role gets an md5 salt, and a role with a SCRAM secret, existing or
    # not, SCRAM: PostgreSQL does the same)
    role = SCRAM_USER
    wrong = refused(pw, role, "wrong-password")
    ghost = refused(pw, "auth_no_such_role", "wrong-password")
    assert wrong["auth_codes"] == ghost["auth_codes"] != []
    assert {k: v for k, v in fields_of(ghost).items() if k != "M"} == \
        {k: v for k, v in fields_of(wrong).items() if k != "M"}
    assert ghost["M"] == wrong["M"].replace(role, "auth_no_such_role")


@pytest.mark.parametrize("source", ["auth_query", "auth_file plain"])
def test_scram_salt_does_not_tell_which_roles_exist(pg, roles, pgward_factory, tmp_path, source):
    """Goal: enumerate roles by their SCRAM salts; a role's salt and a made-up role's are alike stable."""
    if source == "auth_query":
        pw = pgward_factory(auth_type="scram-sha-256", auth_user=SUPERUSER)
    else:
        ul = authkit.write_userlist(tmp_path / "userlist.txt", {SCRAM_USER: SCRAM_PASSWORD})
        pw = pgward_factory(auth_type="scram-sha-256", auth_file=ul)

    def server_first(user):
        c = pw.raw()
        c.send(pgwire.startup_message({"user": user, "database": "postgres"}))
        assert authkit.read_auth_request(c).auth_code() == pgwire.AUTH_SASL
        scram = authkit.ScramClient("whatever")
        c.send(pgwire.sasl_initial_response(scram.mechanism, scram.client_first()))
        m = authkit.read_auth_request(c)
        c.close()
        return dict(kv.split("=", 1) for kv in m.body[4:].decode().split(","))

    ghost1, ghost2, other = server_first("auth_ghost"), server_first("auth_ghost"), server_first("auth_ghost2")
    real1, real2 = server_first(SCRAM_USER), server_first(SCRAM_USER)
    assert ghost1["r"] != ghost2["r"] and real1["r"] != real2["r"]
    assert ghost1["i"] == other["i"] == real1["i"] == "4096"
    assert len(base64.b64decode(ghost1["s"])) == len(base64.b64decode(real1["s"])) == 16
    assert ghost1["s"] == ghost2["s"] != other["s"]
    if source == "auth_query":
        assert authkit.server_secret(pg, SCRAM_USER).startswith("SCRAM-SHA-256$4096:%s$" % real1["s"])
    # a real role's salt is as stable as a made-up one's (else a changing salt says "exists")
    assert real1["s"] == real2["s"], "the salt of %s changes from one login to the next" % SCRAM_USER


@pytest.mark.parametrize("auth_type", ["password", "md5", "scram-sha-256"])
def test_expired_role_gets_the_servers_refusal(pg, roles, pgward_factory, auth_type):
    """VALID UNTIL in the past: pgward accepts the password, the server refuses with its own 28P01."""
    pw = pgward_factory(auth_type=auth_type, auth_user=SUPERUSER)
    direct = refused(pg, EXPIRED_USER, EXPIRED_PASSWORD)
    offset = pg_log_offset(pg)
    f = refused(pw, EXPIRED_USER, EXPIRED_PASSWORD)
    assert fields_of(f) == fields_of(direct), pw.log_tail(5)
    assert (f["C"], f["M"]) == ("28P01", 'password authentication failed for user "auth_expired"')
    # it is the server's refusal: the server says why, and pgward itself failed nobody
    assert 'User "auth_expired" has an expired password.' in pg_log_since(pg, offset)
    assert "event=auth_failed" not in pw.log_text()


@pytest.mark.parametrize("auth_type", ["password", "scram-sha-256"])
def test_nologin_role_is_unknown_to_pgward(pg, roles, pgward_factory, auth_type):
    """A NOLOGIN role is not in pg_shadow: pgward's 28P01, where PostgreSQL says 28000 not permitted."""
    pw = pgward_factory(auth_type=auth_type, auth_user=SUPERUSER)
    offset = pg_log_offset(pg)
    f = refused(pw, NOLOGIN_USER, NOLOGIN_PASSWORD)
    assert (f["S"], f["C"], f["M"]) == ("FATAL", "28P01",
                                        'password authentication failed for user "auth_nologin"')
    # pgward never asked the server to log it in
    assert NOLOGIN_USER not in pg_log_since(pg, offset)
    assert "event=auth_failed" in pw.log_text()
    direct = refused(pg, NOLOGIN_USER, NOLOGIN_PASSWORD)
    assert (direct["C"], direct["M"]) == ("28000", 'role "auth_nologin" is not permitted to log in')


def test_auth_query_bad_sql(pg, roles, pgward_factory):
    """An auth_query the server cannot run: FATAL 08006 with the server's error text."""
    pw = pgward_factory(auth_type="scram-sha-256", auth_user=SUPERUSER,
                        auth_query="SELECT usename, passwd FROM pg_shadoww WHERE usename=$1")
    f = refused(pw, SCRAM_USER, SCRAM_PASSWORD)
    assert f["auth_codes"] == []
    assert_lookup_failed(pw, f, SCRAM_USER, 'ERROR:  relation "pg_shadoww" does not exist')
    pw.wait_log(r"event=auth_query_failed .*pg_shadoww")


@pytest.mark.parametrize("case", ["unknown auth_user", "missing auth_dbname", "server down"])
def test_auth_user_cannot_connect(pg, roles, pgward_factory, case):
    """auth_query's connection fails: FATAL 08006 with libpq's reason."""
    settings = {"auth_type": "scram-sha-256", "auth_user": SUPERUSER}
    port = pg.port
    if case == "unknown auth_user":
        settings["auth_user"] = "auth_no_such_lookup_role"
        reason = "fe_sendauth: no password supplied"
    elif case == "missing auth_dbname":
        settings["auth_dbname"] = "auth_no_such_db"
        reason = 'FATAL:  database "auth_no_such_db" does not exist'
    else:
        port = settings["server_port"] = free_port()
        reason = "Connection refused"
    pw = pgward_factory(**settings)
    t0 = time.monotonic()
    f = refused(pw, SCRAM_USER, SCRAM_PASSWORD)
    assert time.monotonic() - t0 < 4
    assert_lookup_failed(pw, f, SCRAM_USER, 'connection to server at "127.0.0.1", port %d failed: ' % port)
    assert reason in pw.wait_log(r'event=auth_lookup_failed sid=\d+ user="scram_user"').replace('\\"', '"')


def test_auth_query_timeout(pg, roles, pgward_factory, tmp_path):
    """auth_query slower than auth_query_timeout: 08006 after the timeout; other sessions keep going."""
    ul = authkit.write_userlist(tmp_path / "userlist.txt", {MD5_USER: MD5_PASSWORD})
    pw = pgward_factory(auth_type="password", auth_user=SUPERUSER, auth_file=ul, auth_query_timeout=1,
                        auth_query="SELECT usename, passwd FROM pg_shadow, pg_sleep(10) WHERE usename=$1")
    other = login(pw, MD5_USER, MD5_PASSWORD)  # its secret is in auth_file: no lookup
    latencies = []
    stop = threading.Event()

    def ping():
        while not stop.is_set():
            t = time.monotonic()
            assert other.scalar("SELECT 1") == "1"
            latencies.append(time.monotonic() - t)
            time.sleep(0.02)

    th = threading.Thread(target=ping, daemon=True)
    th.start()
    t0 = time.monotonic()
    f = refused(pw, SCRAM_USER, SCRAM_PASSWORD)
    elapsed = time.monotonic() - t0
    stop.set()
    th.join(5)
    assert_lookup_failed(pw, f, SCRAM_USER, "auth_query did not answer within auth_query_timeout=1s")
    assert 0.9 <= elapsed < 3, elapsed
    assert len(latencies) >= 10 and max(latencies) < 0.5, latencies
    # and the next lookup waits again rather than hanging for good
    t0 = time.monotonic()
    assert refused(pw, SCRAM_USER, SCRAM_PASSWORD)["C"] == "08006"
    assert time.monotonic() - t0 < 3


# ---------------------------------------------------------------- the auth_query cache


@pytest.mark.parametrize("auth_type", ["password", "scram-sha-256"])
def test_refused_login_forgets_the_cached_secret(pg, roles, pgward_factory, auth_type):
    """After ALTER ROLE ... PASSWORD, the server refuses the cached secret once; the next login reads the new one.
    pgward answers the login with the old password from its cache (the pool's first client
    still holds the only server); the server's refusal comes with the first query, which
    needs a new server."""
    pg.execute("DROP ROLE IF EXISTS %s; CREATE ROLE %s LOGIN PASSWORD 'first-secret'" % (CACHE_USER, CACHE_USER))
    pw = pgward_factory(auth_type=auth_type, auth_user=SUPERUSER, auth_cache_ttl=600)
    first = login(pw, CACHE_USER, "first-secret")
    assert first.scalar("SELECT session_user") == CACHE_USER
    pg.execute("ALTER ROLE %s PASSWORD 'second-secret'" % CACHE_USER)
    # the cached secret still takes the old password; the server refuses it ...
    stale = login(pw, CACHE_USER, "first-secret")
    stale.send(pgwire.query("SELECT session_user"))
    f = stale.expect_error(timeout=10)
    assert stale.wait_closed(5)
    # ... which made pgward forget it: the new password works at once, not after auth_cache_ttl
    c = pw.raw()
    try:
        c.startup(CACHE_USER, "postgres", password="second-secret")
        then = c.scalar("SELECT session_user")
    except pgwire.PgError as e:
        then = "refused: %s %s" % (e.sqlstate, e.message)
    assert ((f["C"], f["M"]), then) == (
        ("28P01", 'password authentication failed for user "%s"' % CACHE_USER), CACHE_USER)


def test_auth_cache_ttl(pg, roles, pgward_factory):
    """A cached secret is read again after auth_cache_ttl."""
    pg.execute("DROP ROLE IF EXISTS %s; CREATE ROLE %s LOGIN PASSWORD 'first-secret'" % (CACHE_USER, CACHE_USER))
    pw = pgward_factory(auth_type="scram-sha-256", auth_user=SUPERUSER, auth_cache_ttl=1)
    assert login(pw, CACHE_USER, "first-secret").scalar("SELECT session_user") == CACHE_USER
    pg.execute("ALTER ROLE %s PASSWORD 'second-secret'" % CACHE_USER)
    # within the TTL, pgward still checks against the old secret
    f = refused(pw, CACHE_USER, "second-secret")
    assert f["C"] == "28P01"
    time.sleep(1.3)
    assert login(pw, CACHE_USER, "second-secret").scalar("SELECT session_user") == CACHE_USER


def test_reload_swaps_auth_file(pg, roles, pgward_factory, tmp_path):
    """SIGHUP with a new auth_file: the new password works, the old fails, open sessions stay."""
    ul = authkit.write_userlist(tmp_path / "userlist.txt", {SUPERUSER: "old-admin-secret"})
    pw = pgward_factory(auth_type="password", auth_file=ul)
    before = login(pw, SUPERUSER, "old-admin-secret")
    authkit.write_userlist(ul, {SUPERUSER: "new-admin-secret"})
    offset = len(pw.log_text())
    pw.signal(signal.SIGHUP)
    pw.wait_log(r"event=reloaded", start=offset)
    assert refused(pw, SUPERUSER, "old-admin-secret")["C"] == "28P01"
    assert login(pw, SUPERUSER, "new-admin-secret").scalar("SELECT 1") == "1"
    assert before.scalar("SELECT session_user") == SUPERUSER


# ---------------------------------------------------------------- throttling


THROTTLED = re.compile(r"^pgward: too many failed logins from (127\.0\.0\.1); retry in (\d+) s "
                       r"\(auth_failure_limit=(\d+) per auth_failure_period=(\d+)s\)$")


def test_burst_of_wrong_passwords_is_throttled(pg, roles, pgward_factory, tmp_path):
    """1000 wrong passwords: past auth_failure_limit refused at once; sessions, other addresses, counters fine."""
    metrics_port = free_port()
    ul = authkit.write_userlist(tmp_path / "userlist.txt", {
        MD5_USER: authkit.server_secret(pg, MD5_USER), SUPERUSER: "admin-secret"})
    pw = pgward_factory(auth_type="md5", auth_file=ul, log_level="info",
                        **{"admin.users": SUPERUSER, "metrics.listen_port": metrics_port})
    session = login(pw, MD5_USER, MD5_PASSWORD)
    attempts, threads = 1000, 8
    results, lock = [], threading.Lock()
    counter = iter(range(attempts))

    def attack():
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            c = pgwire.Conn(pw.host, pw.port, timeout=10)
            t0 = time.monotonic()
            try:
                c.startup(MD5_USER, "postgres", password="wrong-burst-%d" % i)
                outcome = ("logged in", None, [])
            except pgwire.PgError as e:
                outcome = (e.sqlstate, e.message, [m.type for m in e.messages])
            finally:
                c.close()
            with lock:
                results.append(outcome + (time.monotonic() - t0,))

    latencies, stop = [], threading.Event()

    def ping():
        # back to back: a fast machine ends the burst in a fraction of a second, and the
        # session must be seen answering during it
        while not stop.is_set():
            t = time.monotonic()
            assert session.scalar("SELECT 1") == "1"
            latencies.append(time.monotonic() - t)

    pinger = threading.Thread(target=ping, daemon=True)
    pinger.start()
    wait_for(lambda: len(latencies) > 0, 10, what="the session answering before the burst")
    workers = [threading.Thread(target=attack, daemon=True) for _ in range(threads)]
    t0 = time.monotonic()
    for w in workers:
        w.start()
    wait_for(lambda: len(results) >= 200, 60, what="200 attempts")
    # meanwhile, another address is not affected
    other = login(pw, MD5_USER, MD5_PASSWORD, source="127.0.0.2")
    assert other.scalar("SELECT session_user") == MD5_USER
    for w in workers:
        w.join(120)
    burst = time.monotonic() - t0
    stop.set()
    pinger.join(5)

    assert len(results) == attempts
    failed = [r for r in results if r[0] == "28P01"]
    throttled = [r for r in results if r[0] == "28000"]
    assert len(failed) + len(throttled) == attempts, {r[0] for r in results}
    # the limit is checked again when a password is checked: not one guess past it is tried,
    # even among those already asked for their password
    assert len(failed) == 20, len(failed)
    for sqlstate, message, types, _ in failed:
        assert message == 'password authentication failed for user "md5_user"'
        assert types == ["R", "E"]
    for sqlstate, message, types, _ in throttled:
        m = THROTTLED.match(message)
        assert m, message
        assert 0 < int(m.group(2)) <= 60 and m.group(3, 4) == ("20", "60")
        assert types in (["E"], ["R", "E"]), types
    # most are refused before any challenge; at most those in flight when the limit was hit after
    assert sum(r[2] == ["R", "E"] for r in throttled) <= threads
    assert statistics.median(r[3] for r in throttled) < 0.05
    assert burst < 60, burst
    # the session opened before kept answering
    assert len(latencies) > 10 and statistics.median(latencies) < 0.05 and max(latencies) < 1.0, \
        (statistics.median(latencies), max(latencies))
    # the right password from the throttled address is refused too, unchecked
    f = refused(pw, MD5_USER, MD5_PASSWORD)
    assert f["C"] == "28000" and THROTTLED.match(f["M"]) and f["auth_codes"] == []
    assert session.scalar("SELECT session_user") == MD5_USER
    # the log: rate-limited auth_failed lines, no password
    log = pw.log_text()
    lines = [line for line in log.splitlines() if "event=auth_failed" in line]
    assert 1 <= len(lines) <= 25, len(lines)
    assert "wrong-burst-" not in log and MD5_PASSWORD not in log
    # counted under md5, the method these logins had to pass: SHOW AUTH (asked from the other
    # address) and /metrics agree
    counts = authkit.show_auth(pw, source="127.0.0.2", password="admin-secret")
    assert authkit.logins_metric(metrics_port) == counts
    assert counts["md5"] == {"ok": 3, "failed": len(failed), "throttled": len(throttled) + 1, "error": 0}, counts
    assert all(v == 0 for m, row in counts.items() if m != "md5" for v in row.values()), counts


def test_throttle_ends_with_the_period(pg, roles, pgward_factory):
    """After auth_failure_period the address may try again; retry in N s tells the truth."""
    pw = pgward_factory(auth_type="scram-sha-256", auth_user=SUPERUSER, auth_failure_limit=3,
                        auth_failure_period=2)
    for _ in range(3):
        assert refused(pw, SCRAM_USER, "wrong")["C"] == "28P01"
    f = refused(pw, SCRAM_USER, SCRAM_PASSWORD)
    told = time.monotonic()
    m = THROTTLED.match(f["M"])
    assert f["C"] == "28000" and m, f["M"]
    assert m.group(2, 3, 4) in (("2", "3", "2"), ("1", "3", "2"))
    # the period runs from the failures, which a slow build records well after they began
    wait_for(lambda: time.monotonic() - told > int(m.group(2)) + 0.1, 5)
    assert login(pw, SCRAM_USER, SCRAM_PASSWORD).scalar("SELECT session_user") == SCRAM_USER


# ---------------------------------------------------------------- counters and the log


COUNT_HBA = """\
host pgward    postgres      127.0.0.1/32 trust
host all       auth_attacker 127.0.0.1/32 reject
host all       auth_trust    127.0.0.1/32 trust
host all       md5_user      127.0.0.1/32 md5
host all       auth_cert     127.0.0.1/32 password
host all       auth_expired  127.0.0.1/32 password
host all       all           127.0.0.1/32 scram-sha-256
"""


def test_outcomes_counted_and_logged_without_secrets(pg, roles, pgward_factory, tmp_path):
    """SHOW AUTH and pgward_logins_total count each method's outcomes; auth_failed lines hold no secret."""
    hba = tmp_path / "pg_hba.conf"
    hba.write_text(COUNT_HBA)
    ul = authkit.write_userlist(tmp_path / "userlist.txt", {TRUST_USER: TRUST_PASSWORD})
    metrics_port = free_port()
    pw = pgward_factory(auth_type="hba", auth_hba_file=hba, auth_file=ul, auth_user=SUPERUSER,
                        **{"admin.users": SUPERUSER, "metrics.listen_port": metrics_port})
    wrong = {SCRAM_USER: "wrong-scram-x1", MD5_USER: "wrong-md5-x2", CERT_USER: "wrong-cert-x3",
             "auth_ghost": "wrong-ghost-x4"}
    for _ in range(2):
        login(pw, SCRAM_USER, SCRAM_PASSWORD).close()
    for user, password in wrong.items():
        assert refused(pw, user, password)["C"] == "28P01"
    assert refused(pw, SCRAM_USER, SCRAM_PASSWORD, database="auth_no_such_db")["C"] == "08006"
    login(pw, MD5_USER, MD5_PASSWORD).close()
    login(pw, CERT_USER, CERT_PASSWORD).close()
    assert refused(pw, EXPIRED_USER, EXPIRED_PASSWORD)["C"] == "28P01"  # the server's refusal
    login(pw, TRUST_USER).close()
    assert refused(pw, ATTACKER_USER, ATTACKER_PASSWORD)["C"] == "28000"
    counts = authkit.show_auth(pw)  # itself a trust login
    zero = {"ok": 0, "failed": 0, "throttled": 0, "error": 0}
    assert counts == {
        "trust": dict(zero, ok=2),
        "reject": dict(zero, failed=1),
        "md5": dict(zero, ok=1, failed=1),
        "password": dict(zero, ok=1, failed=2),
        "scram-sha-256": dict(zero, ok=2, failed=2, error=1),
        "cert": zero,
        "passthrough": zero,
    }
    assert authkit.logins_metric(metrics_port) == counts
    log = pw.log_text()
    failed_lines = [line for line in log.splitlines() if "event=auth_failed" in line]
    by_user = {re.search(r' user="([^"]*)"', line).group(1): line for line in failed_lines}
    assert set(by_user) == {SCRAM_USER, MD5_USER, CERT_USER, "auth_ghost", ATTACKER_USER}
    assert "method=scram-sha-256 sqlstate=28P01" in by_user["auth_ghost"]
    assert "peer=127.0.0.1:" in by_user[MD5_USER] and "method=md5 sqlstate=28P01" in by_user[MD5_USER]
    assert "method=reject sqlstate=28000" in by_user[ATTACKER_USER]
    secrets = list(wrong.values()) + [SCRAM_PASSWORD, MD5_PASSWORD, CERT_PASSWORD, TRUST_PASSWORD, EXPIRED_PASSWORD]
    for role in (SCRAM_USER, MD5_USER, CERT_USER, EXPIRED_USER):
        secret = authkit.server_secret(pg, role)
        secrets.append(secret)
        secrets.extend(secret.replace("$", ":").split(":")[2:] if secret.startswith("SCRAM") else [secret[3:]])
    leaked = [s for s in secrets if s in log]
    assert not leaked, leaked


def test_passthrough_is_unchanged(pg, pgward_factory, tls):
    """Without auth_type the server authenticates: its errors, no PLUS offered, counted as passthrough."""
    metrics_port = free_port()
    pw = pgward_factory(**{"admin.users": SUPERUSER, "metrics.listen_port": metrics_port}, **client_tls(tls))
    c = login(pw, SCRAM_USER, SCRAM_PASSWORD, ctx=authkit.tls_context(tls))
    assert c.sasl_mechanisms == ["SCRAM-SHA-256"]
    direct = refused(pg, MD5_USER, "wrong")
    f = refused(pw, MD5_USER, "wrong")
    assert fields_of(f) == fields_of(direct)
    counts = authkit.show_auth(pw)
    zero = {"ok": 0, "failed": 0, "throttled": 0, "error": 0}
    assert counts["passthrough"] == dict(zero, ok=2, failed=1)
    assert all(row == zero for m, row in counts.items() if m != "passthrough")
    assert authkit.logins_metric(metrics_port) == counts
    assert "event=auth_failed" not in pw.log_text()


# ---------------------------------------------------------------- configuration


CONFIG_ERRORS = {
    "hba without file": ({"auth_type": "hba"}, 'auth_type "hba" requires auth_hba_file'),
    "scram without secrets": ({"auth_type": "scram-sha-256"}, 'auth_type "scram-sha-256" requires auth_file or '
                              'auth_user'),
    "cert without client tls": ({"auth_type": "cert"}, 'auth_type "cert" requires client TLS'),
    "auth_user with passthrough": ({"auth_user": "postgres"}, "auth_user is used by pgward's own authentication"),
}


@pytest.mark.parametrize("case", list(CONFIG_ERRORS))
def test_config_refused(tmp_path, case):
    """Authentication settings that could let nobody in are refused by --check-config."""
    settings, message = CONFIG_ERRORS[case]
    conf = tmp_path / "pgward.ini"
    conf.write_text("[pgward]\nlisten_port = 6999\nserver_port = 5432\n" +
                    "".join("%s = %s\n" % kv for kv in settings.items()))
    r = run([str(PGWARD_BIN), "--check-config", "-c", str(conf)], check=False)
    out = r.stdout.decode() + r.stderr.decode()
    assert r.returncode == 1, out
    assert message in out and "%s:" % conf in out, out


@pytest.mark.parametrize("case", ["hba method", "userlist quote"])
def test_bad_auth_files_refused_at_start(pgward_factory, tmp_path, case):
    """An hba method pgward cannot honour, or a broken userlist: pgward refuses to start, naming file:line."""
    bad = tmp_path / ("pg_hba.conf" if case == "hba method" else "userlist.txt")
    if case == "hba method":
        bad.write_text("host all all 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 ldap\n")
        settings = {"auth_type": "hba", "auth_hba_file": bad}
    else:
        bad.write_text('"scram_user" "x"\n"md5_user" "unterminated\n')
        settings = {"auth_type": "password", "auth_file": bad}
    pw = pgward_factory(wait=False, **settings)
    assert pw.wait_exit(10) not in (None, 0)
    assert "%s:2" % bad in pw.log_text(), pw.log_tail()
