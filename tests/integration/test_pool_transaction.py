"""pool_mode = transaction through a real PostgreSQL 15: a client holds a server only for its
transactions and gets one again at its next message, with its own startup settings and tenant
context on it before that message runs; what it leaves in the session (a SET that cannot
follow it, LISTEN, temporary tables, cursors WITH HOLD, session advisory locks) pins it to
its server until it leaves or takes it back (test_pool_unpin.py), and nothing of it reaches
another client. Prepared statements follow their client instead: test_pool_prepared.py,
test_pool_sql_prepared.py."""

import random
import threading
import time

import pytest

import pgwire
from authkit import login
from conftest import SCRAM_PASSWORD, SCRAM_USER
from test_pool import (APP_SETTINGS, POOL_APP, POOL_APP_PASSWORD, backends, cancel_a_sleep, leave, pid_of, pool_tenant_db, pooled,  # noqa: F401
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
    ("BEGIN; SET statement_timeout = '3s'; COMMIT", "SHOW statement_timeout", "3s"),
    ("SELECT set_config('app.note', 'kept', false)", "SELECT current_setting('app.note', true)", "kept"),
    ("CREATE TEMP TABLE pinned_t (a int)", "SELECT count(*) FROM pg_class WHERE relname = 'pinned_t' AND "
                                           "relnamespace = pg_my_temp_schema()", "1"),
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


def test_a_setting_changed_where_pgward_cannot_see_is_reset(pg, txn_pool):
    """Goal of a client: change a setting inside a function, unseen by pgward, and leave it for
    the next client. The server reports the change: that server is then nobody's for sure,
    and the next client to get it, the same client included, finds it reset to its own
    settings (the change does not follow the client, as behind any transaction pooler)."""
    pg.execute("CREATE OR REPLACE FUNCTION public.txn_set_tz() RETURNS text LANGUAGE sql "
               "AS $$ SELECT set_config('TimeZone', 'Asia/Tokyo', false) $$")
    pw = txn_pool(default_pool_size=1)
    a = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    b = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    plain = b.scalar("SHOW TimeZone")
    assert a.scalar("SELECT public.txn_set_tz()") == "Asia/Tokyo"
    assert b.scalar("SHOW TimeZone") == plain
    a.rows("SELECT public.txn_set_tz()")
    assert a.scalar("SHOW TimeZone") == plain
    assert pid_of(a) == pid_of(b)
    assert "client_pinned" not in pw.log_text()


# ---------------------------------------------------------------- what one client could leave for the next


def tenant_with(pw, user_id, options=""):
    """A tenant's client of POOL_APP with extra startup options."""
    c = pw.raw(timeout=30)
    c.startup(POOL_APP, "pool_tenant", password=POOL_APP_PASSWORD,
              params={"options": ("-c app.user_id=%s %s" % (user_id, options)).strip()})
    return c


@pytest.mark.parametrize("signed", [False, True], ids=["unsigned", "signed"])
def test_a_tenants_startup_settings_never_reach_another_tenant(pg, pool_tenant_db, pgward_factory, tmp_path,
                                                              signed):
    """Goal of a tenant: make another tenant's statements run under its own startup settings
    (search_path, statement_timeout, ...). write_context() forgets settings_of when it writes a
    new context, so the next tenant's write_settings() finds no record, skips DISCARD ALL and
    the server keeps the attacker's settings. The victim must see the server's defaults."""
    tt = pool_tenant_db
    pw, tenant = tenant_pool(tt, pgward_factory, tmp_path, signed=signed, pool_mode="transaction")
    evil = tenant_with(pw, tt.ALICE, "-c search_path=pg_temp,public -c statement_timeout=4321")
    assert evil.scalar("SHOW statement_timeout") == "4321ms"
    bob = tenant(tt.BOB)
    for _ in range(2):
        assert evil.scalar("SHOW search_path") == "pg_temp,public"
        assert bob.scalar("SELECT current_setting('app.user_org_ids')") == "{%s}" % tt.ORG_B
        assert pid_of(bob) == pid_of(evil)
        assert bob.scalar("SHOW statement_timeout") == "0", "bob runs with alice's statement_timeout"
        assert bob.scalar("SHOW search_path") == '"$user", public', "bob runs with alice's search_path"


def test_a_temp_table_made_through_search_path_does_not_reach_another_tenant(pg, pool_tenant_db, pgward_factory,
                                                                            tmp_path):
    """Goal of a tenant: plant a table in pg_temp that shadows a tenant table for the next
    tenant on the server, read what the victim writes into it, and feed it forged rows.
    `SET LOCAL search_path = pg_temp` does not pin, and a CREATE TABLE with no TEMP and no
    schema then creates a temporary table (RangeVarAdjustRelationPersistence), which
    session_state.c does not flag. pg_temp is searched first for relations: the victim's
    unqualified names reach the attacker's table. The victim must see its own rows only."""
    tt = pool_tenant_db
    pw, tenant = tenant_pool(tt, pgward_factory, tmp_path, signed=False, pool_mode="transaction",
                             default_pool_size=2)
    alice = tenant(tt.ALICE)
    bob = tenant(tt.BOB)
    alice.rows("BEGIN; SET LOCAL search_path = pg_temp; "
               "CREATE TABLE messages AS SELECT * FROM public.messages WITH NO DATA; "
               "COMMIT")
    pid = pid_of(alice)
    # public.messages refuses the row (RLS: no conversation of bob's); alice's table would not
    bob.simple("INSERT INTO messages (conversation_id, role, content) "
               "VALUES (gen_random_uuid(), 'user', 'bob''s secret')")
    stolen = alice.rows("SELECT content FROM pg_temp.messages") if pid_of(alice) == pid else []
    assert stolen == [], "alice reads what bob wrote: %r" % stolen


def test_a_pg_temp_view_does_not_read_another_tenants_rows(pg, pool_tenant_db, pgward_factory, tmp_path):
    """Goal of a tenant: read another tenant's rows. Under `SET LOCAL search_path = pg_temp` a
    plain CREATE VIEW makes a temporary view (no pin) named like a tenant table; the victim's
    unqualified SELECT reads it, under the victim's own context, and the view's qual sends
    every row the victim can see to the attacker's listener with pg_notify()."""
    tt = pool_tenant_db
    pw, tenant = tenant_pool(tt, pgward_factory, tmp_path, signed=True, pool_mode="transaction",
                             default_pool_size=3)
    ear = tenant(tt.ALICE)
    ear.rows("LISTEN leak")
    alice = tenant(tt.ALICE)
    bob = tenant(tt.BOB)
    alice.rows("BEGIN; SET LOCAL search_path = pg_temp; CREATE VIEW domains AS SELECT * FROM public.domains "
               "WHERE pg_catalog.pg_notify('leak', pg_catalog.row_to_json(domains)::pg_catalog.text) IS NOT NULL; "
               "COMMIT")
    assert bob.scalar("SELECT count(*) FROM domains") == "1"
    time.sleep(1)
    ear.send(pgwire.query("SELECT 1"))
    heard = [bytes(m.body) for m in ear.recv_until("Z") if m.type == "A"]
    assert heard == [], "alice got bob's rows: %r" % heard


def test_setseed_does_not_reach_the_next_client(pg, txn_pool):
    """Goal of a client: choose the random() sequence of the next client on its server
    (tokens made with random()). setseed() does not pin and the checkin of a transaction pool
    does not reseed (pgw_pool_checkin, unlike pgw_pool_release's send_reseed)."""
    pw = txn_pool(default_pool_size=2)
    a = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    b = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    a.rows("SELECT setseed(0.5)")
    predicted = a.scalar("SELECT random()")
    a.rows("SELECT setseed(0.5)")
    assert b.scalar("SELECT random()") != predicted, "b's random() is the value a chose"
    assert pid_of(a) != pid_of(b)


def test_a_pg_temp_type_does_not_reach_another_tenant(pg, pool_tenant_db, pgward_factory, tmp_path):
    """Goal of a tenant: read another tenant's values. A domain created in pg_temp does not pin
    (session_state.c looks at relations only) and pg_temp is searched first for type names,
    so the victim's '...'::uuid becomes the attacker's domain, whose CHECK sends the value
    with pg_notify() to a channel the attacker listens on from another connection."""
    tt = pool_tenant_db
    pw, tenant = tenant_pool(tt, pgward_factory, tmp_path, signed=True, pool_mode="transaction",
                             default_pool_size=3)
    ear = tenant(tt.ALICE)
    ear.rows("LISTEN leak")  # pins one server to the attacker's listener
    alice = tenant(tt.ALICE)
    bob = tenant(tt.BOB)
    alice.rows("CREATE DOMAIN pg_temp.uuid AS pg_catalog.uuid "
               "CHECK (pg_catalog.pg_notify('leak', VALUE::pg_catalog.text) IS NOT NULL)")
    assert bob.scalar("SELECT count(*) FROM domains WHERE organization_id = '%s'::uuid" % tt.ORG_B) == "1"
    time.sleep(1)  # the notification reaches the idle listener on its own
    ear.send(pgwire.query("SELECT 1"))
    heard = [m for m in ear.recv_until("Z") if m.type == "A"]
    assert heard == [], "alice heard bob's value: %r" % [bytes(m.body) for m in heard]


@pytest.mark.parametrize("stmt", [
    "UPDATE pg_settings SET setting = 'pg_temp, public' WHERE name = 'search_path'",
    "DO $$ BEGIN PERFORM pg_catalog.set_config('search_path', 'pg_temp, public', false); END $$",
    "SELECT query_to_xml('SELECT pg_catalog.set_config(''search_path'', ''pg_temp, public'', false)', "
    "true, false, '')",
], ids=["update_pg_settings", "do_block", "query_to_xml"])
def test_unseen_session_settings_do_not_reach_the_next_client(pg, txn_pool, stmt):
    """Goal of a client (no tenant context, default guard rules): leave a session setting for
    the next client of its server. These statements write a session setting through a route
    session_state.c does not flag (pg_settings' update rule, a DO body, SQL given as text),
    and search_path is not reported by the server: nothing pins."""
    pw = txn_pool(default_pool_size=2)
    a = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    b = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    plain = b.scalar("SHOW search_path")
    a.rows(stmt)
    for _ in range(2):
        assert b.scalar("SHOW search_path") == plain, "b runs with a's search_path"
        assert a.scalar("SHOW search_path") == "pg_temp, public"


def test_a_message_without_an_answer_does_not_hold_a_server(pg, txn_pool):
    """Goal of a client: keep a server of a transaction pool without any transaction, so that
    the other clients starve. A Flush (or a CopyDone outside COPY) after a transaction fetches
    a server; PostgreSQL answers nothing, so no ReadyForQuery ever comes to give it back
    (pgw_sess_txn_release runs only from the server's side), while the client is idle and
    the server 'idle' (no idle_in_transaction_session_timeout applies)."""
    pw = txn_pool(default_pool_size=1, query_wait_timeout=2)
    a = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    b = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    a.rows("SELECT 1")
    a.send(pgwire.flush())
    time.sleep(0.3)
    b.send(pgwire.query("SELECT 'b ran'"))
    msgs = b.recv_until("ZE", timeout=10)
    assert [m.fields().get("C") for m in msgs if m.type == "E"] == [], "b starved: a holds the only server"


def test_lastval_does_not_reach_another_tenant(pg, pool_tenant_db, pgward_factory, tmp_path):
    """Goal of a tenant: learn the sequence values another tenant drew (ids, volumes). The
    backend's last nextval() stays with it at the handover: lastval() of the next tenant on
    that server returns it."""
    tt = pool_tenant_db
    pw, tenant = tenant_pool(tt, pgward_factory, tmp_path, signed=False, pool_mode="transaction")
    alice = tenant(tt.ALICE)
    bob = tenant(tt.BOB)
    drawn = alice.scalar("SELECT nextval('scrape_jobs_id_seq')")
    assert pid_of(alice) == pid_of(bob)
    got = bob.simple("SELECT lastval()")
    assert [m for m in got if m.type == "D"] == [], "bob sees alice's nextval() %s" % drawn


def test_the_unnamed_statement_does_not_reach_the_next_client(pg, txn_pool):
    """Goal of a client: run the statement another client left as the unnamed statement
    (with the literals written in it). pgw_sess_txn_release forgets it on pgward's side only;
    when nothing needs writing at the next handover the server keeps it, and a Bind of ""
    as the next client's first message runs it."""
    pw = txn_pool(default_pool_size=1)
    a = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    b = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    pid_of(b)
    a.send(pgwire.parse("", "SELECT 'a''s secret'::text"), pgwire.bind("", ""), pgwire.execute(), pgwire.sync())
    a.recv_until("Z")
    b.send(pgwire.bind("", ""), pgwire.execute(), pgwire.sync())
    rows = [m.data_row() for m in b.recv_until("Z") if m.type == "D"]
    assert rows == [], "b ran a's statement: %r" % rows


def test_a_message_sent_a_byte_at_a_time_does_not_hold_a_server(pg, txn_pool):
    """Goal of a client: keep a pool's only server by sending its next message a byte at a
    time. No server is taken before the message is whole: another client runs meanwhile."""
    pw = txn_pool(default_pool_size=1, query_wait_timeout=5)
    a = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    b = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    a.rows("SELECT 1")
    msg = pgwire.query("SELECT 'a at last'")
    a.send(msg[:3])
    time.sleep(0.3)
    assert b.scalar("SELECT 'b ran'") == "b ran"
    a.send(msg[3:])
    assert a.recv_until("Z")[1].data_row() == [b"a at last"]


def test_pinned_clients_are_shown(pg, txn_pool):
    """A pinned client is shown with what pinned it in SHOW SESSIONS, and counted in /metrics
    until it leaves."""
    import test_metrics
    from conftest import free_port
    from test_admin_control import show
    port = free_port()
    pw = txn_pool(default_pool_size=2, **{"admin.users": SCRAM_USER, "metrics.listen_port": port})
    pw.metrics_port = port
    pool = dict(database="postgres", user=SCRAM_USER)
    a = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    b = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    b.rows("SELECT 1")
    a.simple("BEGIN; SET search_path = public; COMMIT")
    rows = {r["id"]: r["pinned"] for r in show(pw, "SESSIONS")[0] if r["state"] != "admin"}
    assert sorted(rows.values(), key=str) == [None, "SET search_path"], rows
    samples = test_metrics.parse_metrics(test_metrics.scrape(pw))
    assert test_metrics.value(samples, "pgward_pool_clients_pinned", **pool) == 1
    leave(a)
    samples = test_metrics.parse_metrics(test_metrics.scrape(pw))
    assert test_metrics.value(samples, "pgward_pool_clients_pinned", **pool) == 0


def test_a_client_gets_an_idle_server_that_holds_its_state(pg, pool_tenant_db, pgward_factory, tmp_path):
    """Two tenants alternate on a pool of two: each finds the idle server that holds its own
    context (not the most recently used one, which holds the other's), so after the first
    round no handover writes anything."""
    tt = pool_tenant_db
    pw, tenant = tenant_pool(tt, pgward_factory, tmp_path, signed=False, pool_mode="transaction",
                             default_pool_size=2)
    alice, bob = tenant(tt.ALICE), tenant(tt.BOB)
    alice.rows("BEGIN")
    a_pid = pid_of(alice)
    b_pid = pid_of(bob)  # the second server, while alice holds the first
    alice.rows("COMMIT")
    assert a_pid != b_pid
    for _ in range(4):
        assert pid_of(alice) == a_pid
        assert pid_of(bob) == b_pid
    assert bob.scalar("SELECT current_setting('app.user_org_ids')") == "{%s}" % tt.ORG_B


def starved(b, timeout=10):
    """b's query: the SQLSTATE it failed with (query_wait_timeout), or None if it ran."""
    b.send(pgwire.query("SELECT 'b ran'"))
    try:
        msgs = b.recv_until("ZE", timeout=timeout)
    except Exception:  # the FATAL closes the connection
        return "closed"
    errs = [m.fields().get("C") for m in msgs if m.type == "E"]
    return errs[0] if errs else None


def test_an_unnamed_statement_closed_at_a_handover_holds_no_server(pg, txn_pool):
    """An extended-protocol client leaves the unnamed statement; the next client of its kind,
    on the simple protocol, gets the server with pgward's Close of it in front of its Query.
    That Close (no Sync after it) must not count as an open batch: the server goes back after
    the Query, and a third client gets it."""
    pw = txn_pool(default_pool_size=1, query_wait_timeout=2)
    a = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    b = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    c = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    a.send(pgwire.parse("", "SELECT $1::int"), pgwire.bind("", "", ["1"]), pgwire.execute(), pgwire.sync())
    a.recv_until("Z")
    assert b.scalar("SELECT 'b, simple protocol only'") == "b, simple protocol only"
    assert starved(c) is None, "c starved: b's one simple Query keeps the only server"


@pytest.mark.parametrize("how", ["whole_query_then_3_bytes", "first_33kB_of_a_40kB_query"])
def test_a_partial_message_holds_no_server(pg, txn_pool, how):
    """Goal of a client: keep a pool's only server without a transaction by leaving part of a
    message unsent: after a whole one, or a large one cut short. Another client runs."""
    pw = txn_pool(default_pool_size=1, query_wait_timeout=2)
    a = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    b = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    a.rows("SELECT 1")
    if how == "whole_query_then_3_bytes":
        a.send(pgwire.query("SELECT 1") + pgwire.query("SELECT 'never finished'")[:3])
        a.recv_until("Z")
    else:
        a.send(pgwire.query("SELECT '%s'" % ("x" * 40000))[:33 * 1024])
    time.sleep(0.3)
    assert starved(b) is None, "b starved: a holds the only server with part of a message"


def test_a_weaker_server_reset_query_still_keeps_tenants_apart(pg, pool_tenant_db, pgward_factory, tmp_path):
    """Goal of a tenant: read another tenant's rows through a temporary view planted for it,
    with server_reset_query weaker than DISCARD ALL (RESET ALL keeps temporary objects). The
    server a pinned tenant left is reset by the next tenant's handover all the same."""
    tt = pool_tenant_db
    pw, tenant = tenant_pool(tt, pgward_factory, tmp_path, signed=True, pool_mode="transaction",
                             default_pool_size=2, server_reset_query="RESET ALL")
    ear = tenant(tt.ALICE)
    ear.rows("LISTEN leak")  # pins one server
    alice = tenant(tt.ALICE)
    alice.rows("CREATE TEMP VIEW domains AS SELECT * FROM public.domains "
               "WHERE pg_catalog.pg_notify('leak', pg_catalog.row_to_json(domains)::pg_catalog.text) IS NOT NULL")
    pid = pid_of(alice)
    alice.send(pgwire.terminate())
    assert alice.wait_closed(5)
    pw.wait_log(r"event=server_idle .*server_pid=%d" % pid)
    bob = tenant(tt.BOB)
    assert pid_of(bob) == pid
    bob.scalar("SELECT count(*) FROM domains")
    time.sleep(1)
    ear.send(pgwire.query("SELECT 1"))
    heard = [bytes(m.body) for m in ear.recv_until("Z") if m.type == "A"]
    assert heard == [], "alice got bob's rows: %r" % heard


def test_a_local_seed_pins(pg, txn_pool):
    """Goal of a client: choose the next client's random() with SET LOCAL seed (its assign hook
    reseeds, and the state stays after COMMIT). Any write of seed pins: the other client's
    random() is not the one chosen."""
    direct = pgwire.Conn("127.0.0.1", pg.port)
    direct.startup(SCRAM_USER, password=SCRAM_PASSWORD)
    direct.rows("SELECT setseed(0.5)")
    predicted = direct.scalar("SELECT random()")
    direct.close()
    pw = txn_pool(default_pool_size=3)
    b = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    for stmt in ("BEGIN; SET LOCAL seed = 0.5; COMMIT",
                 "BEGIN; SELECT set_config('seed', '0.5', true); COMMIT"):
        a = login(pw, SCRAM_USER, SCRAM_PASSWORD)
        a.rows(stmt)
        assert b.scalar("SELECT random()") != predicted, stmt
        assert pid_of(a) != pid_of(b)


def test_discard_all_unpins(pg, txn_pool):
    """A pinned client's DISCARD ALL, alone and outside a transaction, unpins it: the only
    server serves another client again, which finds nothing of the first one's. Inside a
    transaction block (which refuses it) it unpins nothing."""
    pw = txn_pool(default_pool_size=1, query_wait_timeout=2)
    a = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    b = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    plain = b.scalar("SHOW search_path")
    a.simple("BEGIN; SET search_path = pinned_schema; COMMIT")
    a.rows("BEGIN")
    assert [m.sqlstate for m in a.simple("DISCARD ALL") if m.type == "E"] == ["25001"]
    a.rows("ROLLBACK")
    assert starved(b) is not None  # still pinned: b waits and gives up
    b = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    start = len(pw.log_text())
    a.rows("DISCARD ALL")
    pw.wait_log(r"event=client_unpinned .*pinned_by=\"SET search_path\"", start=start)
    assert b.scalar("SHOW search_path") == plain
    assert a.scalar("SHOW search_path") == plain


def test_a_dblink_connection_never_reaches_another_client(pg, txn_pool):
    """Goal of a client: leave an open dblink connection (which DISCARD ALL does not close) for
    the next client of its server, to run SQL there as itself. A client pinned already opens
    one: DISCARD ALL does not unpin it, and the server is closed when it leaves, never
    reused."""
    pg.execute("CREATE EXTENSION IF NOT EXISTS dblink")
    pw = txn_pool(default_pool_size=1)
    a = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    a.simple("BEGIN; SET search_path = public; COMMIT")  # pinned already: the connection is seen all the same
    a.rows("SELECT dblink_connect('kept', 'host=127.0.0.1 port=%d dbname=postgres user=%s password=%s')"
           % (pg.port, SCRAM_USER, SCRAM_PASSWORD))
    pid = pid_of(a)
    a.rows("DISCARD ALL")
    assert "client_unpinned" not in pw.log_text()
    start = len(pw.log_text())
    leave(a)
    pw.wait_log(r"event=server_released .*server_pid=%d reusable=no" % pid, start=start)
    b = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    assert pid_of(b) != pid
    assert b.scalar("SELECT dblink_get_connections()") is None
