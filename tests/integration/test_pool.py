"""pool_mode = session through a real PostgreSQL 15: a server outlives its client and serves
the next client of the same (database, user) after server_reset_query, with that client's own
startup settings and tenant context applied before its first query; a pool never opens more
than default_pool_size servers, clients wait first come first served up to
query_wait_timeout; a server that is not at rest when its client leaves, that fails or that
outlives server_lifetime / server_idle_timeout is closed, never handed out; cancel reaches
the server a client holds; pool_mode = none and auth_type = passthrough keep one server per
client."""

import threading
import time

import psycopg2
import pytest

import authkit
import pgwire
from authkit import login
from conftest import MD5_PASSWORD, MD5_USER, SCRAM_PASSWORD, SCRAM_USER, SUPERUSER, wait_for

APP_SETTINGS = {"application_name": "app-a", "TimeZone": "America/New_York", "search_path": "pool_a, public",
                "DateStyle": "SQL, DMY", "work_mem": "7MB"}


@pytest.fixture(scope="module")
def roles(pg):
    authkit.ensure_roles(pg)
    return authkit.ROLE_PASSWORDS


@pytest.fixture
def pooled(pg, roles, pgward_factory, tmp_path):
    """start(**settings): pgward authenticating SCRAM_USER itself (its server secret in
    auth_file), pool_mode = session unless told otherwise."""
    ul = authkit.write_userlist(tmp_path / "userlist.txt",
                                {SCRAM_USER: authkit.server_secret(pg, SCRAM_USER)})

    def start(**settings):
        s = {"auth_type": "scram-sha-256", "auth_file": ul}
        s.update(settings)
        # the backends an earlier test's pgward left are gone: the tests count them
        wait_for(lambda: backends(pg) == 0, 10, what="no %s backend left from an earlier test" % SCRAM_USER)
        return pgward_factory(**s)
    return start


def pid_of(c):
    return int(c.scalar("SELECT pg_backend_pid()"))


def leave(c):
    """Terminate, as a polite client leaves; waits until pgward has closed the connection."""
    c.send(pgwire.terminate())
    assert c.wait_closed(5)


def leave_to_pool(pw, c, close=leave):
    """<c> leaves and its server, reset, waits idle in the pool; returns the server's pid."""
    pid = pid_of(c)
    start = len(pw.log_text())
    close(c)
    pw.wait_log(r"event=server_idle .*server_pid=%d" % pid, start=start)
    return pid


def backends(pg, user=SCRAM_USER):
    return pg.execute("SELECT count(*) FROM pg_stat_activity WHERE usename = '%s'" % user)[0][0]


def test_server_serves_the_next_client_reset(pg, pooled):
    """Goal of a client: leave state behind for the next client of the same server. The second
    client gets the same backend, and nothing of the first one's session is there."""
    pw = pooled()
    a = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    pid = pid_of(a)
    a.rows("SET statement_timeout = '3s'")
    a.rows("CREATE TEMP TABLE left_behind (x int)")
    a.rows("PREPARE left_stmt AS SELECT 1")
    a.rows("SELECT set_config('app.user_org_ids', '{forged}', false)")
    a.rows("LISTEN left_channel")
    assert leave_to_pool(pw, a) == pid
    b = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    assert pid_of(b) == pid
    assert b.scalar("SHOW statement_timeout") == "0"
    assert b.scalar("SELECT count(*) FROM pg_class WHERE relname = 'left_behind'") == "0"
    assert b.scalar("SELECT count(*) FROM pg_prepared_statements") == "0"
    assert b.scalar("SELECT current_setting('app.user_org_ids', true)") in (None, "")
    assert b.scalar("SELECT count(*) FROM pg_listening_channels()") == "0"
    assert backends(pg) == 1
    # and in a new session after this one: still the one server
    leave_to_pool(pw, b)
    assert pid_of(login(pw, SCRAM_USER, SCRAM_PASSWORD)) == pid


def test_each_client_gets_its_own_startup_settings(pg, pooled):
    """Client A's startup settings never reach client B on the same server: B sees its own, and
    what a direct login without them would show."""
    direct = pgwire.Conn("127.0.0.1", pg.port)
    direct.startup(SCRAM_USER, password=SCRAM_PASSWORD)
    expected_plain = {k: direct.scalar("SHOW %s" % k) for k in APP_SETTINGS}
    direct_a = pgwire.Conn("127.0.0.1", pg.port)
    direct_a.startup(SCRAM_USER, password=SCRAM_PASSWORD, params=APP_SETTINGS)
    expected_a = {k: direct_a.scalar("SHOW %s" % k) for k in APP_SETTINGS}
    direct_params = dict(direct_a.params)
    direct.close()
    direct_a.close()

    pw = pooled()
    a = login(pw, SCRAM_USER, SCRAM_PASSWORD, params=APP_SETTINGS)
    pid = pid_of(a)
    assert {k: a.scalar("SHOW %s" % k) for k in APP_SETTINGS} == expected_a
    # what the client was told at login is what a direct login tells
    for k in ("application_name", "TimeZone", "DateStyle", "client_encoding", "server_version",
              "standard_conforming_strings", "integer_datetimes", "is_superuser", "session_authorization"):
        assert a.params.get(k) == direct_params.get(k), k
    leave_to_pool(pw, a)

    b = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    assert pid_of(b) == pid
    assert {k: b.scalar("SHOW %s" % k) for k in APP_SETTINGS} == expected_plain
    assert b.params["application_name"] == expected_plain["application_name"]
    assert b.params["TimeZone"] == expected_plain["TimeZone"]
    leave_to_pool(pw, b)

    c = login(pw, SCRAM_USER, SCRAM_PASSWORD, params={"application_name": "app-c", "options": "-c work_mem=9MB"})
    assert pid_of(c) == pid
    assert c.scalar("SHOW application_name") == "app-c"
    assert c.scalar("SHOW work_mem") == "9MB"
    assert c.params["application_name"] == "app-c"


def test_a_setting_the_server_refuses_ends_that_login_only(pg, pooled):
    """An invalid startup value is the server's own FATAL (22023), as directly; the pool's
    server is not handed out half set, and the next client logs in."""
    pw = pooled(default_pool_size=1)
    with pytest.raises(pgwire.PgError) as e:
        login(pw, SCRAM_USER, SCRAM_PASSWORD, params={"TimeZone": "Mars/Olympus_Mons"})
    f = e.value.fields
    assert (f["S"], f["C"]) == ("FATAL", "22023"), f
    assert 'invalid value for parameter "TimeZone": "Mars/Olympus_Mons"' in f["M"], f
    c = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    assert c.scalar("SHOW TimeZone") != "Mars/Olympus_Mons"
    assert c.scalar("SELECT 1") == "1"


def test_pool_size_is_a_limit_and_clients_wait_in_order(pg, pooled):
    """default_pool_size = 2: a third and a fourth client wait at their first query, the third
    is served first, and the server never sees more than two backends of the pool."""
    pw = pooled(default_pool_size=2)
    a = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    b = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    pid_of(b)  # a client holds a server from its first message on
    served = []

    def wait_for_server(name):
        c = login(pw, SCRAM_USER, SCRAM_PASSWORD)
        served.append((name, pid_of(c)))
        time.sleep(0.5)
        leave(c)

    third = threading.Thread(target=wait_for_server, args=("third",))
    third.start()
    pw.wait_log(r"event=pool_wait")
    fourth = threading.Thread(target=wait_for_server, args=("fourth",))
    fourth.start()
    wait_for(lambda: len(pw.log_text().split("event=pool_wait")) == 3, 5, what="two waiting clients")
    assert served == []
    assert backends(pg) == 2
    pid_a = pid_of(a)
    leave(a)
    third.join(10)
    assert served[0] == ("third", pid_a)
    fourth.join(10)
    assert [name for name, _ in served] == ["third", "fourth"]
    assert backends(pg) == 2
    assert b.scalar("SELECT 1") == "1"


def test_query_wait_timeout(pg, pooled):
    """A client that waits longer than query_wait_timeout gets PgBouncer's 08P01 and the
    holder is undisturbed. The client logs in at once (pgward answers from what the pool's
    earlier client was told) and waits at its first query."""
    pw = pooled(default_pool_size=1, query_wait_timeout=1)
    a = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    started = time.monotonic()
    c = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    assert time.monotonic() - started < 0.9
    c.send(pgwire.query("SELECT 1"))
    f = c.expect_error(timeout=10)
    waited = time.monotonic() - started
    assert (f["S"], f["C"]) == ("FATAL", "08P01"), f
    assert f["M"].startswith("pgward: query_wait_timeout"), f
    assert 0.9 <= waited < 5, waited
    assert a.scalar("SELECT 1") == "1"


def test_leaving_inside_a_transaction_rolls_it_back(pg, pooled):
    """A client that leaves inside a transaction (psycopg2's implicit BEGIN) has it rolled back,
    as the server would at its disconnect: the next client gets the server outside any
    transaction and without what the transaction did."""
    pg.execute("DROP TABLE IF EXISTS pool_rows; CREATE TABLE pool_rows (x int); "
               "GRANT ALL ON pool_rows TO %s" % SCRAM_USER)
    pw = pooled()
    a = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    a.rows("BEGIN")
    a.rows("INSERT INTO pool_rows VALUES (1)")
    pid = leave_to_pool(pw, a)
    assert pg.execute("SELECT count(*) FROM pool_rows") == [(0,)]
    b = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    assert pid_of(b) == pid
    assert b.simple("SELECT 1")[-1].ready_status() == "I"
    # an aborted transaction too
    b.rows("BEGIN")
    b.simple("SELECT 1/0")
    start = len(pw.log_text())
    leave(b)
    pw.wait_log(r"event=server_idle .*server_pid=%d" % pid, start=start)
    assert login(pw, SCRAM_USER, SCRAM_PASSWORD).simple("SELECT 1")[-1].ready_status() == "I"


def test_a_server_not_at_rest_is_closed(pg, pooled):
    """A client that leaves with a query running takes its server with it (the query is
    cancelled): the next client gets a new backend."""
    pw = pooled()
    b = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    pid_b = pid_of(b)
    b.send(pgwire.query("SELECT pg_sleep(30)"))
    time.sleep(0.3)
    b.close()
    pw.wait_log(r"event=server_released .*server_pid=%d reusable=no" % pid_b)
    wait_for(lambda: not pg.backend_alive(pid_b), 10, what="the busy server closed")
    c = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    assert pid_of(c) != pid_b


def test_terminated_idle_server_is_never_handed_out(pg, pooled):
    """pg_terminate_backend of an idle pooled server (or a server restart): the pool drops it,
    and the next client gets a working server."""
    pw = pooled()
    a = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    pid = leave_to_pool(pw, a)
    pg.execute("SELECT pg_terminate_backend(%d)" % pid)
    pw.wait_log(r"event=server_closed .*server_pid=%d" % pid)
    b = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    assert pid_of(b) != pid
    assert b.scalar("SELECT 1") == "1"


def test_idle_timeout_and_lifetime(pg, pooled):
    """server_idle_timeout closes an unused server; server_lifetime closes an old one instead
    of reusing it."""
    pw = pooled(server_idle_timeout=1)
    a = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    pid = leave_to_pool(pw, a)
    wait_for(lambda: not pg.backend_alive(pid), 10,
             what="the idle server closed")

    pw2 = pooled(server_lifetime=1)
    b = login(pw2, SCRAM_USER, SCRAM_PASSWORD)
    pid_b = pid_of(b)
    time.sleep(1.2)
    leave(b)
    c = login(pw2, SCRAM_USER, SCRAM_PASSWORD)
    assert pid_of(c) != pid_b


def cancel_a_sleep(pw, c):
    """<c> runs pg_sleep(30), and a CancelRequest with its key comes 0.3 s later: the
    SQLSTATEs of the errors <c> gets."""
    c.send(pgwire.query("SELECT pg_sleep(30)"))
    time.sleep(0.3)
    k = pw.raw()
    k.send(pgwire.cancel_request(*c.backend_key))
    return [m.sqlstate for m in c.recv_until("Z", timeout=10) if m.type == "E"]


def test_cancel_reaches_the_pooled_server(pg, pooled):
    """A CancelRequest with the key pgward gave cancels what the client's server (taken from
    the pool at its first query) runs; before that first query the client has no server, and a
    cancel for it does nothing."""
    pw = pooled()
    a = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    pid = leave_to_pool(pw, a)
    b = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    # logged in without a server: the key is pgward's, its pid above any server's
    assert b.backend_key[0] >= 1 << 30
    k = pw.raw()
    k.send(pgwire.cancel_request(*b.backend_key))
    assert k.wait_closed(5)
    assert b.scalar("SELECT 'not cancelled'") == "not cancelled"
    assert pid_of(b) == pid
    assert cancel_a_sleep(pw, b) == ["57014"]
    assert b.scalar("SELECT 1") == "1"
    # a server a cancel went to is not reused: the cancel might still be on its way
    start = len(pw.log_text())
    leave(b)
    pw.wait_log(r"event=server_released .*server_pid=%d reusable=no" % pid, start=start)


def test_psycopg2_and_psql_through_the_pool(pg, pooled):
    """Real clients connecting per request reuse one backend."""
    pw = pooled()
    pids = set()
    for i in range(5):
        conn = psycopg2.connect(host="127.0.0.1", port=pw.port, user=SCRAM_USER, password=SCRAM_PASSWORD,
                                dbname="postgres", application_name="req%d" % i)
        with conn.cursor() as cur:
            cur.execute("SELECT pg_backend_pid(), current_setting('application_name')")
            pid, app = cur.fetchone()
        assert app == "req%d" % i
        pids.add(pid)
        start = len(pw.log_text())
        conn.close()  # inside the transaction psycopg2 began: rolled back, the server stays
        pw.wait_log(r"event=server_idle .*server_pid=%d" % pid, start=start)
    assert len(pids) == 1


@pytest.mark.parametrize("settings", [{"pool_mode": "none"}, {"auth_type": "passthrough"}])
def test_unpooled_modes_keep_one_server_per_client(pg, pooled, settings):
    pw = pooled(**settings)
    a = pw.raw_session(SCRAM_USER, password=SCRAM_PASSWORD)
    pid = pid_of(a)
    leave(a)
    wait_for(lambda: not pg.backend_alive(pid), 10,
             what="the server closed with its client")
    b = pw.raw_session(SCRAM_USER, password=SCRAM_PASSWORD)
    assert pid_of(b) != pid


# ---------------------------------------------------------------- the tenant context follows every checkout

POOL_APP, POOL_APP_PASSWORD = "pool_app", "pool-app-secret"


@pytest.fixture(scope="module")
def pool_tenant_db(pg):
    import test_tenant
    pg.execute("DROP ROLE IF EXISTS %s; CREATE ROLE %s LOGIN PASSWORD '%s'" % (POOL_APP, POOL_APP, POOL_APP_PASSWORD))
    test_tenant.make_db(pg, "pool_tenant")
    return test_tenant


def tenant_pool(tt, pgward_factory, tmp_path, users=None, signed=True, **settings):
    """A pool (of one server unless <settings> say otherwise) for POOL_APP, whose clients name
    their user (ALICE, BOB, or the first of each (user, organization) of <users>) in a startup
    option; returns pgward and tenant(user_id) -> a logged-in connection."""
    orgs = tmp_path / "orgs.map"
    users = users or [(tt.ALICE, tt.ORG_A), (tt.BOB, tt.ORG_B)]
    orgs.write_text("".join("%s = %s\n" % u for u in users))
    ul = authkit.write_userlist(tmp_path / "userlist.txt", {POOL_APP: POOL_APP_PASSWORD})
    tenant_settings = {"tenant.mode": "on", "tenant.source": "map", "tenant.map_file": orgs,
                       "tenant.identity": "startup_option", "tenant.trusted_roles": POOL_APP}
    if signed:
        tenant_settings["tenant.signing_secret"] = tt.SECRET
    settings.setdefault("default_pool_size", 1)
    pw = pgward_factory(auth_type="scram-sha-256", auth_file=ul, **tenant_settings, **settings)

    def tenant(user_id):
        c = pw.raw(timeout=30)
        c.startup(POOL_APP, "pool_tenant", password=POOL_APP_PASSWORD, params={"options": "-c app.user_id=" + user_id})
        return c
    return pw, tenant


def test_tenant_context_is_the_new_clients_on_a_reused_server(pg, pool_tenant_db, pgward_factory, tmp_path):
    """Goal of a tenant's client: leave its organization's context on the server for the next
    client of the same (database, user), or see the previous tenant's rows. The second client,
    on the same backend, has its own context and sees only its organization, and so does a
    third one in a new session after it."""
    tt = pool_tenant_db
    pw, tenant = tenant_pool(tt, pgward_factory, tmp_path)

    def counts(c):
        return [int(c.scalar("SELECT count(*) FROM %s" % t)) for t in tt.TABLES]

    alice = tenant(tt.ALICE)
    assert alice.scalar("SELECT current_setting('app.user_org_ids')") == "{%s}" % tt.ORG_A
    assert counts(alice) == tt.SEEN_A
    # what alice tries to leave behind: a forged context is refused, a session one is reset
    assert alice.simple("SELECT set_config('app.user_org_ids', '{%s}', false)" % tt.ORG_B)[0].type == "E"
    alice.rows("SET application_name = 'left-by-alice'")
    pid = leave_to_pool(pw, alice)

    bob = tenant(tt.BOB)
    assert pid_of(bob) == pid
    assert bob.scalar("SELECT current_setting('app.user_org_ids')") == "{%s}" % tt.ORG_B
    assert bob.scalar("SELECT current_setting('app.user_id')") == tt.BOB
    assert counts(bob) == tt.SEEN_B
    assert bob.scalar("SHOW application_name") == ""
    leave_to_pool(pw, bob)

    again = tenant(tt.ALICE)
    assert pid_of(again) == pid
    assert again.scalar("SELECT current_setting('app.user_org_ids')") == "{%s}" % tt.ORG_A
    assert counts(again) == tt.SEEN_A


# ---------------------------------------------------------------- sizing and limits


def test_reserve_pool_opens_after_reserve_pool_timeout(pg, pooled):
    """default_pool_size = 1, reserve_pool_size = 1: a client that has waited
    reserve_pool_timeout gets a second server; a third client finds the reserve used up."""
    pw = pooled(default_pool_size=1, reserve_pool_size=1, reserve_pool_timeout=0.5, query_wait_timeout=2)
    a = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    pid_a = pid_of(a)
    b = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    started = time.monotonic()
    assert pid_of(b) != pid_a
    assert time.monotonic() - started >= 0.4
    assert backends(pg) == 2
    c = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    c.send(pgwire.query("SELECT 1"))
    assert c.expect_error(timeout=10)["C"] == "08P01"
    assert backends(pg) == 2


@pytest.mark.parametrize("limit", ["max_db_connections", "max_user_connections"])
def test_db_and_user_limits_span_pools(pg, pooled, tmp_path, limit):
    """A limit of 1 over two pools: the second pool's client waits while the first holds the
    only server, and gets a server once the first client leaves (its idle server closed to
    make room); the server never sees two backends."""
    if limit == "max_db_connections":
        other = dict(user=MD5_USER, password=MD5_PASSWORD, database="postgres")
        ul = {SCRAM_USER: authkit.server_secret(pg, SCRAM_USER), MD5_USER: authkit.server_secret(pg, MD5_USER)}
    else:
        other = dict(user=SCRAM_USER, password=SCRAM_PASSWORD, database="template1")
        ul = {SCRAM_USER: authkit.server_secret(pg, SCRAM_USER)}
    # md5: as PostgreSQL, an md5 secret answers md5, a SCRAM one SCRAM
    pw = pooled(auth_type="md5", auth_file=authkit.write_userlist(tmp_path / "both.txt", ul), **{limit: 1})
    a = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    got = []

    def second():
        c = login(pw, other["user"], other["password"], database=other["database"])
        got.append(c.scalar("SELECT current_user || '@' || current_database()"))

    t = threading.Thread(target=second)
    t.start()
    pw.wait_log(r"event=pool_wait")
    assert got == []
    total = pg.execute("SELECT count(*) FROM pg_stat_activity WHERE usename IN ('%s', '%s')" % (SCRAM_USER, MD5_USER))
    assert total == [(1,)]
    leave(a)
    t.join(10)
    assert got == ["%s@%s" % (other["user"], other["database"])]
    total = pg.execute("SELECT count(*) FROM pg_stat_activity WHERE usename IN ('%s', '%s')" % (SCRAM_USER, MD5_USER))
    assert total == [(1,)]


def test_a_pool_at_its_own_size_closes_no_other_pools_server(pg, pooled, tmp_path):
    """max_db_connections is reached, and a client waits for a pool that is at its own
    default_pool_size: closing another pool's idle server would not give it a server, so that
    server stays (it used to be closed at every tick, and reopened by min_pool_size)."""
    ul = {SCRAM_USER: authkit.server_secret(pg, SCRAM_USER), MD5_USER: authkit.server_secret(pg, MD5_USER)}
    pw = pooled(auth_type="md5", auth_file=authkit.write_userlist(tmp_path / "both.txt", ul),
                default_pool_size=1, max_db_connections=2, query_wait_timeout=10)
    idle_pid = leave_to_pool(pw, login(pw, SCRAM_USER, SCRAM_PASSWORD))
    holder = login(pw, MD5_USER, MD5_PASSWORD)
    pid_of(holder)
    waiter = login(pw, MD5_USER, MD5_PASSWORD)
    waiter.send(pgwire.query("SELECT 1"))
    pw.wait_log(r"event=pool_wait")
    time.sleep(2.5)
    assert pg.backend_alive(idle_pid)
    assert "server_pid=%d" % idle_pid not in pw.log_text().split("event=pool_wait", 1)[1]
    leave(holder)
    assert waiter.recv_until("Z", timeout=10)[-1].type == "Z"


class Gate:
    """A port where PostgreSQL is not (connections are refused) until open() relays it there:
    a server that is restarting. With .stall set, new connections are accepted and never
    answered: a server that hangs after accept(). With .delay, connections after the first
    .delay_after wait that many seconds before anything is relayed (a slow network)."""

    def __init__(self, target_port):
        import socket
        self.target_port = target_port
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))  # bound, not listening: connect() is refused
        self.port = self.sock.getsockname()[1]
        self.stall = False
        self.delay, self.delay_after, self.accepted = 0.0, 0, 0
        self.held = []

    def open(self):
        self.sock.listen(16)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            if self.stall:
                self.held.append(c)
            elif self.delay and self.accepted > self.delay_after:
                threading.Thread(target=self._relay, args=(c, self.delay), daemon=True).start()
            else:
                self._relay(c)

    def _relay(self, c, delay=0.0):
        import socket
        time.sleep(delay)
        s = socket.create_connection(("127.0.0.1", self.target_port))
        for a, b in ((c, s), (s, c)):
            threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a, b):
        try:
            while True:
                d = a.recv(65536)
                if not d:
                    break
                b.sendall(d)
        except OSError:
            pass
        finally:
            for x in (a, b):
                try:
                    x.shutdown(2)
                except OSError:
                    pass


def test_server_login_retry_holds_clients_until_the_server_is_back(pg, pooled):
    """The server cannot be reached: that client gets 08006; the next one waits instead of
    failing at once, and logs in after server_login_retry once the server is back."""
    gate = Gate(pg.port)
    pw = pooled(server_port=gate.port, server_login_retry=1.5, query_wait_timeout=10)
    with pytest.raises(pgwire.PgError) as e:
        login(pw, SCRAM_USER, SCRAM_PASSWORD)
    failed_at = time.monotonic()
    assert e.value.fields["C"] == "08006", e.value.fields
    gate.open()
    c = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    assert time.monotonic() - failed_at >= 1.2
    assert c.scalar("SELECT 1") == "1"


def test_server_check_runs_on_a_server_idle_past_the_delay(pg, pooled):
    """server_check_delay = 0.5: the next client after a longer idle time gets the server
    once server_check_query passed on it."""
    pw = pooled(server_check_delay=0.5)
    pid = leave_to_pool(pw, login(pw, SCRAM_USER, SCRAM_PASSWORD))
    time.sleep(0.8)
    c = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    assert pid_of(c) == pid
    pw.wait_log(r"event=server_check .*server_pid=%d" % pid)


def test_server_restart_drops_every_pooled_server(pg2, pgward_factory):
    """PostgreSQL restarts: the client holding a server gets the server's 57P01, the idle
    pooled server is dropped (never handed out dead), a client during the outage gets 08006
    at its first query, one arriving within server_login_retry waits, and both it and new
    clients work once the server is back."""
    pg2.start()
    # server_login_retry long enough that the second client arrives within it even under ASan,
    # short enough that PostgreSQL is back before it runs out
    pw = pgward_factory(server_port=pg2.port, auth_type="trust", server_login_retry=4, query_wait_timeout=20)
    a = pw.raw_session(SUPERUSER)
    pid_a = pid_of(a)
    pid_b = leave_to_pool(pw, pw.raw_session(SUPERUSER))
    pg2.stop("fast")
    assert a.expect_error(timeout=10)["C"] == "57P01"
    assert a.wait_closed(5)
    pw.wait_log(r"event=server_closed .*server_pid=%d" % pid_b)
    c = pw.raw_session(SUPERUSER)
    c.send(pgwire.query("SELECT 1"))
    assert c.expect_error(timeout=10)["C"] == "08006"
    waiting = []
    t = threading.Thread(target=lambda: waiting.append(pw.raw_session(SUPERUSER, timeout=20).scalar("SELECT 'waited'")))
    t.start()
    pw.wait_log(r"event=pool_wait")
    pg2.start()
    t.join(20)
    assert waiting == ["waited"]
    c = pw.raw_session(SUPERUSER)
    assert pid_of(c) not in (pid_a, pid_b)
    pg2.stop("fast")


def test_reload_retires_the_servers_opened_before_it(pg, pooled):
    """SIGHUP may change the server's address, TLS or credentials: idle servers close at once,
    one in use closes when its client leaves, and clients after the reload get new servers."""
    pw = pooled()
    busy = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    pid_busy = pid_of(busy)
    pid_idle = leave_to_pool(pw, login(pw, SCRAM_USER, SCRAM_PASSWORD))
    start = len(pw.log_text())
    pw.reload(application_name_unused=None)
    pw.wait_log(r"event=reloaded", start=start)
    pw.wait_log(r"event=server_closed .*server_pid=%d" % pid_idle, start=start)
    assert busy.scalar("SELECT 1") == "1"
    leave(busy)
    pw.wait_log(r"event=server_closed .*server_pid=%d" % pid_busy, start=start)
    assert pid_of(login(pw, SCRAM_USER, SCRAM_PASSWORD)) not in (pid_busy, pid_idle)


# ---------------------------------------------------------------- what a leaving client must not leave behind


def test_an_unfinished_extended_batch_is_never_handed_out(pg, pooled):
    """Goal: leave the server skipping to a Sync (a failed Parse, no Sync, then Terminate), so
    that the next client's settings and tenant context are skipped and the pool hangs on its
    reset. The server is closed instead, and the next client gets a working one at once."""
    pw = pooled(default_pool_size=1, query_wait_timeout=5)
    a = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    pid = pid_of(a)
    a.send(pgwire.parse("", "SELEC broken"), pgwire.flush())
    assert a.recv_msg(timeout=5).type == "E"
    start = len(pw.log_text())
    leave(a)
    pw.wait_log(r"event=server_released .*server_pid=%d reusable=no" % pid, start=start)
    b = login(pw, SCRAM_USER, SCRAM_PASSWORD, params={"application_name": "after-batch"})
    assert pid_of(b) != pid
    assert b.scalar("SHOW application_name") == "after-batch"


def test_a_cancelled_server_is_not_handed_to_the_next_client(pg, pooled):
    """Goal: cancel the next client's query with one's own key, sent just before leaving. A
    server a cancel was forwarded to is closed when its client leaves, never reused."""
    pw = pooled(default_pool_size=1)
    a = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    pid = pid_of(a)
    k = pw.raw()
    k.send(pgwire.cancel_request(*a.backend_key))
    pw.wait_log(r"event=cancel .*pid=%d" % pid)
    start = len(pw.log_text())
    leave(a)
    pw.wait_log(r"event=server_released .*server_pid=%d reusable=no" % pid, start=start)
    b = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    assert pid_of(b) != pid
    assert b.rows("SELECT pg_sleep(0.3), 1")[0][1] == "1"  # not cancelled


def test_the_random_seed_does_not_follow_the_server(pg, pooled):
    """Goal: make the next client's random() predictable with setseed() (DISCARD ALL keeps
    the seed). The next client on the same backend does not get the seeded sequence."""
    direct = pgwire.Conn("127.0.0.1", pg.port)
    direct.startup(SCRAM_USER, password=SCRAM_PASSWORD)
    direct.rows("SELECT setseed(0.42)")
    predicted = direct.scalar("SELECT random()")
    direct.close()
    pw = pooled()
    a = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    a.rows("SELECT setseed(0.42)")
    pid = leave_to_pool(pw, a)
    b = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    assert pid_of(b) == pid
    assert b.scalar("SELECT random()") != predicted


def test_an_earlier_clients_signed_context_does_not_verify_later(pg, pool_tenant_db, pgward_factory, tmp_path):
    """Goal of a tenant's client that can run SQL pgward cannot see (here a function that calls
    set_config, the case the signature is for): restore the signed context an earlier client
    of the same pooled backend had (read with SHOW while it was its own) and read that
    organization's rows. The restored context verifies no more: no rows, in the same session
    and in a new one on the same backend, while pgward's own context for it still works."""
    tt = pool_tenant_db
    pg.execute("CREATE OR REPLACE FUNCTION public.pool_app_set(k text, v text) RETURNS text "
               "LANGUAGE sql AS $$ SELECT set_config(k, v, false) $$", dbname="pool_tenant")
    pw, tenant = tenant_pool(tt, pgward_factory, tmp_path)

    alice = tenant(tt.ALICE)
    kept = {k: alice.scalar("SHOW %s" % k) for k in ("app.user_org_ids", "app.user_id", "app.tenant_sig")}
    assert alice.scalar("SELECT count(*) FROM domains") == "1"
    pid = leave_to_pool(pw, alice)
    for attempt in range(2):  # in the session that restores it, and in a new one after it
        bob = tenant(tt.BOB)
        assert pid_of(bob) == pid
        assert bob.scalar("SELECT array_length(pgward.org_ids(), 1)") == "1"
        for k, v in kept.items():
            bob.rows("SELECT public.pool_app_set('%s', '%s')" % (k, v))
        assert bob.scalar("SELECT current_setting('app.user_org_ids')") == "{%s}" % tt.ORG_A
        assert bob.scalar("SELECT pgward.org_ids()") == "{}"
        assert bob.scalar("SELECT count(*) FROM domains") == "0"
        # replaying the earlier checkout's claim changes nothing either
        n = int(pg.execute("SELECT n FROM pgward.checkout WHERE pid = %d" % pid, dbname="pool_tenant")[0][0])
        assert bob.scalar("SELECT pgward.claim('%s', '%s', %d, '%s')" % (
            kept["app.user_id"], kept["app.user_org_ids"], n - 1, kept["app.tenant_sig"])) == "f"
        assert bob.scalar("SELECT count(*) FROM domains") == "0"
        leave_to_pool(pw, bob)


def test_a_reset_that_hangs_frees_its_place(pg, pooled):
    """A server whose reset does not finish (here server_reset_query sleeps) is closed after
    10 s, and a client waiting for the pool's only place gets a new server."""
    pw = pooled(default_pool_size=1, query_wait_timeout=30, server_reset_query="SELECT pg_sleep(60)")
    a = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    pid = pid_of(a)
    leave(a)
    started = time.monotonic()
    b = pw.raw(timeout=30)
    b.startup(SCRAM_USER, password=SCRAM_PASSWORD)
    assert pid_of(b) != pid
    waited = time.monotonic() - started
    assert 9 <= waited < 20, waited
    pw.wait_log(r"event=server_closed .*server_pid=%d" % pid)
    # the sleeping resets (this one, and b's once pgward stops) would outlive the test
    leave(b)
    pg.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '%s'" % SCRAM_USER)


def test_pool_gauges_in_metrics(pg, pooled):
    """/metrics shows each pool's servers by state and its waiting clients, and promtool
    accepts the exposition."""
    import shutil
    import test_metrics
    from conftest import free_port, run
    port = free_port()
    pw = pooled(default_pool_size=1, **{"metrics.listen_port": port})
    pw.metrics_port = port
    a = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    t = threading.Thread(target=lambda: login(pw, SCRAM_USER, SCRAM_PASSWORD).scalar("SELECT 1"))
    t.start()
    pw.wait_log(r"event=pool_wait")
    text = test_metrics.scrape(pw)
    samples = test_metrics.parse_metrics(text)
    pool = dict(database="postgres", user=SCRAM_USER)
    assert test_metrics.value(samples, "pgward_pool_servers", state="active", **pool) == 1
    assert test_metrics.value(samples, "pgward_pool_servers", state="idle", **pool) == 0
    assert test_metrics.value(samples, "pgward_pool_clients_waiting", **pool) == 1
    promtool = shutil.which("promtool")
    if promtool is not None:
        r = run([promtool, "check", "metrics"], input=text.encode(), check=False)
        assert r.returncode == 0, r.stdout.decode() + r.stderr.decode()
    leave(a)
    t.join(10)
    samples = test_metrics.parse_metrics(test_metrics.scrape(pw))
    assert test_metrics.value(samples, "pgward_pool_clients_waiting", **pool) == 0


def test_a_client_that_leaves_while_waiting_loses_its_turn(pg, pooled):
    """A waiting client that hangs up leaves the queue: the server its turn would have taken
    goes idle in the pool (not to a client that is gone, which would cost the server)."""
    pw = pooled(default_pool_size=1)
    a = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    pid = pid_of(a)
    w = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    w.send(pgwire.query("SELECT 1"))
    threading.Thread(target=lambda: _finish_quietly(w), daemon=True).start()
    pw.wait_log(r"event=pool_wait")
    w.sock.shutdown(2)  # wakes the thread reading it; a close alone would wait for it
    pw.wait_log(r"event=close .*reason=\"client closed the connection while waiting\"")
    assert leave_to_pool(pw, a) == pid
    assert pid_of(login(pw, SCRAM_USER, SCRAM_PASSWORD)) == pid


def _finish_quietly(c):
    try:
        c.recv_until("Z")
    except Exception:
        pass
