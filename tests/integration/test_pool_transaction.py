"""pool_mode = transaction through a real PostgreSQL 15: a client holds a server only for its
transactions and gets one again at its next message, with its own startup settings and tenant
context on it before that message runs; what it leaves in the session (SET, PREPARE, LISTEN,
temporary tables, cursors WITH HOLD, session advisory locks, named prepared statements) pins
it to its server until it leaves, and nothing of it reaches another client."""

import random
import subprocess
import threading
import time

import pytest

import pgwire
from authkit import login
from conftest import SCRAM_PASSWORD, SCRAM_USER
from test_pool import (APP_SETTINGS, POOL_APP, backends, cancel_a_sleep, leave, pid_of, pool_tenant_db, pooled,  # noqa: F401
                       roles, tenant_pool)


@pytest.fixture
def txn_pool(pooled):
    """start(**settings): pgward authenticating SCRAM_USER itself, pool_mode = transaction."""
    return lambda **settings: pooled(pool_mode="transaction", **settings)


def test_clients_take_turns_on_one_server(pg, txn_pool):
    """Two clients on a pool of one: each transaction runs on the one backend, a client
    waits only while the other is inside a transaction, and never more than one backend is
    opened."""
    pw = txn_pool(default_pool_size=1, query_wait_timeout=20)
    a = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    b = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    pid = pid_of(a)
    assert pid_of(b) == pid and pid_of(a) == pid
    a.rows("BEGIN")
    assert pid_of(a) == pid
    done = []
    t = threading.Thread(target=lambda: done.append(b.scalar("SELECT 'b ran'", timeout=20)))
    t.start()
    time.sleep(0.5)
    assert done == []  # b waits: a's transaction holds the only server
    a.rows("COMMIT")
    t.join(20)
    assert done == ["b ran"]
    assert backends(pg) == 1
    # a client whose server went back needs none to leave
    start = len(pw.log_text())
    leave(a)
    assert "event=server_released" not in pw.log_text()[start:]
    assert pid_of(b) == pid


def test_each_transaction_finds_the_clients_own_settings(pg, txn_pool):
    """Goal of a client: see the startup settings of the client before it on the same server.
    Interleaved on one backend, client a always sees its settings and b the server's own."""
    direct = pgwire.Conn("127.0.0.1", pg.port)
    direct.startup(SCRAM_USER, password=SCRAM_PASSWORD)
    plain = {k: direct.scalar("SHOW %s" % k) for k in APP_SETTINGS}
    direct.close()
    direct = pgwire.Conn("127.0.0.1", pg.port)
    direct.startup(SCRAM_USER, password=SCRAM_PASSWORD, params=APP_SETTINGS)
    own = {k: direct.scalar("SHOW %s" % k) for k in APP_SETTINGS}
    direct.close()

    pw = txn_pool(default_pool_size=1)
    a = login(pw, SCRAM_USER, SCRAM_PASSWORD, params=APP_SETTINGS)
    b = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    pid = pid_of(a)
    for _ in range(3):
        assert {k: a.scalar("SHOW %s" % k) for k in APP_SETTINGS} == own
        assert {k: b.scalar("SHOW %s" % k) for k in APP_SETTINGS} == plain
    assert pid_of(a) == pid_of(b) == pid
    # a third client with a's settings finds them applied already: nothing is written
    c = login(pw, SCRAM_USER, SCRAM_PASSWORD, params=APP_SETTINGS)
    assert {k: c.scalar("SHOW %s" % k) for k in APP_SETTINGS} == own
    assert a.scalar("SHOW work_mem") == own["work_mem"]


@pytest.mark.parametrize("stmt, check, left", [
    ("SET statement_timeout = '3s'", "SHOW statement_timeout", "3s"),
    ("SELECT set_config('app.note', 'kept', false)", "SELECT current_setting('app.note', true)", "kept"),
    ("CREATE TEMP TABLE pinned_t (a int)", "SELECT count(*) FROM pg_class WHERE relname = 'pinned_t' AND "
                                           "relnamespace = pg_my_temp_schema()", "1"),
    ("PREPARE pinned_p AS SELECT 1", "SELECT count(*) FROM pg_prepared_statements", "1"),
    ("LISTEN pinned_ch", "SELECT count(*) FROM pg_listening_channels()", "1"),
    ("SELECT pg_advisory_lock(4242)", "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND "
                                      "pid = pg_backend_pid()", "1"),
    ("BEGIN; DECLARE pinned_c CURSOR WITH HOLD FOR SELECT 1; COMMIT",
     "SELECT count(*) FROM pg_cursors", "1"),
])
def test_session_state_pins_the_client(pg, txn_pool, stmt, check, left):
    """Goal of a client: leave session state on a server for the next client, or lose its own
    to another server. Its statement pins it: its later transactions all run on the same
    backend and find the state; another client gets another backend without it, and so does a
    client after it has left (the server is reset)."""
    pw = txn_pool(default_pool_size=2)
    a = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    start = len(pw.log_text())
    a.rows(stmt)
    pw.wait_log(r"event=client_pinned ", start=start)
    pid = pid_of(a)
    b = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    for _ in range(3):
        assert a.scalar(check) == left
        assert pid_of(a) == pid
        assert pid_of(b) != pid
        assert b.scalar(check) != left
    leave(a)
    pw.wait_log(r"event=server_idle .*server_pid=%d" % pid)
    c = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    c.rows("BEGIN")  # holds one server: the next query of d gets the other, a's old one
    d = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    assert {pid_of(c), pid_of(d)} == {pid, pid_of(b)} or pid_of(d) == pid
    assert d.scalar(check) != left and c.scalar(check) != left


def test_transaction_scoped_state_does_not_pin(pg, txn_pool):
    """SET LOCAL, set_config(..., true), transaction advisory locks and a plain cursor end with
    their transaction: the client is not pinned, and the next client on the same server sees
    nothing of them."""
    pw = txn_pool(default_pool_size=1)
    a = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    b = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    start = len(pw.log_text())
    a.rows("BEGIN; SET LOCAL statement_timeout = '3s'; SELECT set_config('app.note', 'x', true); "
           "SELECT pg_advisory_xact_lock(7); DECLARE c CURSOR FOR SELECT 1; COMMIT")
    assert b.scalar("SHOW statement_timeout") == "0"
    assert b.scalar("SELECT current_setting('app.note', true)") in (None, "")
    assert pid_of(a) == pid_of(b)
    assert "client_pinned" not in pw.log_text()[start:]


def test_named_prepared_statements_pin_and_work(pg, txn_pool):
    """The extended protocol with a named statement: the client is pinned, and its statement
    is there in its later transactions; the unnamed statement pins nothing."""
    pw = txn_pool(default_pool_size=2)
    a = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    a.send(pgwire.parse("", "SELECT $1::int + 1"), pgwire.bind("", "", ["1"]), pgwire.execute(),
           pgwire.sync())
    assert [m.data_row() for m in a.recv_until("Z") if m.type == "D"] == [[b"2"]]
    assert "client_pinned" not in pw.log_text()
    start = len(pw.log_text())
    a.send(pgwire.parse("s1", "SELECT pg_backend_pid()"), pgwire.sync())
    assert [m.type for m in a.recv_until("Z")] == ["1", "Z"]
    pw.wait_log(r'event=client_pinned .*reason="a named prepared statement"', start=start)
    pids = set()
    for _ in range(3):
        a.send(pgwire.bind("", "s1"), pgwire.execute(), pgwire.sync())
        pids.update(int(m.data_row()[0]) for m in a.recv_until("Z") if m.type == "D")
    assert len(pids) == 1


def test_pgbench_simple_and_prepared(pg, txn_pool, tmp_path):
    """pgbench -S with more clients than servers runs through a pool of 2 without an error
    and never opens more than 2 backends; with -M prepared each client pins a server, so as
    many clients as servers run."""
    pw = txn_pool(default_pool_size=2, query_wait_timeout=30)
    env = {"PGPASSWORD": SCRAM_PASSWORD, "PATH": "/usr/lib/postgresql/15/bin:/usr/bin:/bin"}
    pg.execute("DROP DATABASE IF EXISTS txnbench")
    pg.execute("CREATE DATABASE txnbench OWNER %s" % SCRAM_USER)
    subprocess.run(["pgbench", "-i", "-s", "1", "-q", "-h", "127.0.0.1", "-p", str(pg.port), "-U", SCRAM_USER,
                    "txnbench"], env=env, check=True, capture_output=True, timeout=120)
    seen = []
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            seen.append(backends(pg))
            time.sleep(0.05)
    t = threading.Thread(target=watch)
    t.start()
    try:
        for mode, clients in (("simple", 8), ("prepared", 2)):
            r = subprocess.run(["pgbench", "-n", "-S", "-M", mode, "-c", str(clients), "-t", "200", "-h",
                                "127.0.0.1", "-p", str(pw.port), "-U", SCRAM_USER, "txnbench"],
                               env=env, capture_output=True, text=True, timeout=120)
            assert r.returncode == 0, r.stderr
            assert "number of transactions actually processed: %d/%d" % (200 * clients, 200 * clients) in r.stdout
            assert "number of failed transactions: 0" in r.stdout
    finally:
        stop.set()
        t.join()
    assert max(seen) <= 2, max(seen)


def test_cancel_reaches_only_the_clients_own_query(pg, txn_pool):
    """A cancel with client a's key stops what a runs; sent while a has no server, it does
    nothing, even to b's query on the server a used before."""
    pw = txn_pool(default_pool_size=1)
    a = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    b = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    assert a.backend_key[0] >= 1 << 30  # pgward's pid: the server's is shared
    pid = pid_of(a)
    b.send(pgwire.query("SELECT pg_sleep(1.5), pg_backend_pid()"))
    time.sleep(0.3)
    k = pw.raw()
    k.send(pgwire.cancel_request(*a.backend_key))
    assert k.wait_closed(5)
    msgs = b.recv_until("Z", timeout=10)
    assert [m.type for m in msgs if m.type == "E"] == []
    assert [int(m.data_row()[1]) for m in msgs if m.type == "D"] == [pid]
    assert cancel_a_sleep(pw, a) == ["57014"]
    assert b.scalar("SELECT 'b still works'") == "b still works"


def test_a_client_that_leaves_inside_a_transaction(pg, txn_pool):
    """A client that leaves with a transaction open: it is rolled back and the server goes
    back to the pool for the next client."""
    pw = txn_pool(default_pool_size=1)
    pg.execute("DROP TABLE IF EXISTS txn_left; CREATE TABLE txn_left (a int); "
               "GRANT ALL ON txn_left TO %s" % SCRAM_USER)
    a = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    pid = pid_of(a)
    a.rows("BEGIN; INSERT INTO txn_left VALUES (1)")
    leave(a)
    b = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    assert b.scalar("SELECT count(*) FROM txn_left") == "0"
    assert pid_of(b) == pid


# ---------------------------------------------------------------- the tenant context per transaction


def tenants(n):
    """<n> users, each in an organization of its own: [(user_id, org_id)]."""
    return [("%08x-0000-4000-8000-%012x" % (i + 1, i + 1), "%08x-1111-4111-8111-%012x" % (i + 1, i + 1))
            for i in range(n)]


@pytest.mark.parametrize("signed", [False, True], ids=["unsigned", "signed"])
def test_fifty_tenants_interleave_on_three_servers(pg, pool_tenant_db, pgward_factory, tmp_path, signed):
    """Goal of a tenant: run a statement under another tenant's context that a server kept from
    an earlier transaction. 50 tenants interleave transactions on a pool of 3: open ones,
    rolled back ones, savepoints rolled back to, failed ones and single statements; every
    statement of every tenant sees its own organization and nothing else, on at most 3
    backends."""
    tt = pool_tenant_db
    users = tenants(50)
    pw, tenant = tenant_pool(tt, pgward_factory, tmp_path, users, signed, pool_mode="transaction",
                             default_pool_size=3, query_wait_timeout=30)
    conns = [tenant(u) for u, _ in users]
    want = ["{%s}" % o for _, o in users]
    rnd = random.Random(7)
    pids = set()

    def check(i):
        org, pid = conns[i].rows("SELECT current_setting('app.user_org_ids'), pg_backend_pid()")[0]
        assert org == want[i], (i, org)
        if signed:
            assert conns[i].scalar("SELECT pgward.org_ids()") == want[i]
        pids.add(int(pid))

    for _ in range(4):
        order = list(range(len(conns)))
        rnd.shuffle(order)
        while order:
            # two transactions held open while the others run single statements on the third
            held = [order.pop() for _ in range(min(2, len(order)))]
            for i in held:
                conns[i].rows("BEGIN")
                check(i)
            for i in order[-5:]:
                check(i)
            for i in held:
                end = rnd.choice(["COMMIT", "ROLLBACK", "savepoint", "error"])
                if end == "savepoint":
                    conns[i].rows("SAVEPOINT s")
                    check(i)
                    conns[i].rows("ROLLBACK TO SAVEPOINT s")
                    check(i)
                    conns[i].rows("COMMIT")
                elif end == "error":
                    assert conns[i].simple("SELECT 1/0")[0].type == "E"
                    conns[i].rows("ROLLBACK")
                else:
                    conns[i].rows(end)
                check(i)
    assert len(pids) <= 3, pids
    assert backends(pg, POOL_APP) <= 3


def test_a_pipeline_error_does_not_leave_another_tenants_context(pg, pool_tenant_db, pgward_factory, tmp_path):
    """Errors in an extended-protocol pipeline and a ROLLBACK of the transaction the context was
    set in change nothing: each tenant's statements after them, on the one server, see its own
    organization."""
    tt = pool_tenant_db
    users = tenants(3)
    pw, tenant = tenant_pool(tt, pgward_factory, tmp_path, users, False, pool_mode="transaction")
    conns = [tenant(u) for u, _ in users]
    for round_ in range(3):
        for i, c in enumerate(conns):
            c.send(pgwire.query("BEGIN"),
                   pgwire.parse("", "SELECT 1/0"), pgwire.bind("", ""), pgwire.execute(), pgwire.sync(),
                   pgwire.query("ROLLBACK"),
                   pgwire.parse("", "SELECT current_setting('app.user_org_ids')"), pgwire.bind("", ""),
                   pgwire.execute(), pgwire.sync())
            msgs = c.recv_until("Z")  # BEGIN
            msgs = c.recv_until("Z")  # the failed batch
            assert [m.sqlstate for m in msgs if m.type == "E"] == ["22012"]
            c.recv_until("Z")  # ROLLBACK
            msgs = c.recv_until("Z")
            assert [m.data_row() for m in msgs if m.type == "D"] == [[("{%s}" % users[i][1]).encode()]]


def test_discard_all_and_what_it_resets(pg, txn_pool):
    """DISCARD ALL does not pin: after it the server holds no client's state for sure, so the
    next transaction, of any client, brings it to its own state again (a DISCARD ALL that a
    transaction block refused included)."""
    pw = txn_pool(default_pool_size=1)
    a = login(pw, SCRAM_USER, SCRAM_PASSWORD, params=APP_SETTINGS)
    b = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    own = a.scalar("SHOW TimeZone")
    plain = b.scalar("SHOW TimeZone")
    assert own != plain
    a.rows("BEGIN")
    assert [m.sqlstate for m in a.simple("DISCARD ALL") if m.type == "E"] == ["25001"]
    a.rows("ROLLBACK")
    assert b.scalar("SHOW TimeZone") == plain
    assert a.scalar("SHOW TimeZone") == own
    a.rows("DISCARD ALL")
    assert a.scalar("SHOW TimeZone") == own
    assert b.scalar("SHOW TimeZone") == plain
    assert pid_of(a) == pid_of(b)
    assert "client_pinned" not in pw.log_text()


def test_a_role_set_at_login_never_reaches_the_next_client(pg, txn_pool):
    """Goal of a client: run as the role another client set at its login (RESET ALL keeps
    role). On the one shared backend, b is always its login role."""
    pg.execute("DROP ROLE IF EXISTS txn_member; CREATE ROLE txn_member NOLOGIN; GRANT txn_member TO %s"
               % SCRAM_USER)
    pw = txn_pool(default_pool_size=1)
    a = login(pw, SCRAM_USER, SCRAM_PASSWORD, params={"options": "-c role=txn_member"})
    b = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    for _ in range(2):
        assert a.scalar("SELECT current_user") == "txn_member"
        assert b.scalar("SELECT current_user") == SCRAM_USER
    assert pid_of(a) == pid_of(b)


def test_a_setting_changed_where_pgward_cannot_see_pins(pg, txn_pool):
    """Goal of a client: change a setting inside a function, unseen by pgward, and leave it for
    the next client. The server reports the change: the client is pinned, and another client
    never gets that server while it stays."""
    pg.execute("CREATE OR REPLACE FUNCTION public.txn_set_tz() RETURNS text LANGUAGE sql "
               "AS $$ SELECT set_config('TimeZone', 'Asia/Tokyo', false) $$")
    pw = txn_pool(default_pool_size=2)
    a = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    b = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    plain = b.scalar("SHOW TimeZone")
    start = len(pw.log_text())
    a.rows("SELECT public.txn_set_tz()")
    pw.wait_log(r'event=client_pinned .*reason="the server reported TimeZone changed"', start=start)
    pid = pid_of(a)
    for _ in range(3):
        assert a.scalar("SHOW TimeZone") == "Asia/Tokyo"
        assert b.scalar("SHOW TimeZone") == plain
        assert pid_of(b) != pid
