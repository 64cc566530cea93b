"""pool_mode = transaction through a real PostgreSQL 15: a client pinned by what it can take
back itself (LISTEN, a cursor WITH HOLD, a temporary relation, a session advisory lock) is
unpinned once it has taken all of it back (UNLISTEN, CLOSE, DISCARD TEMP,
SELECT pg_catalog.pg_advisory_unlock_all()) in a Query that committed: its server serves other clients again,
and they find nothing of it. A take-back that did not run, or anything else that pins, keeps
the client pinned."""

import pytest

import pgwire
from authkit import login
from conftest import SCRAM_PASSWORD, SCRAM_USER
from test_pool import backends, pid_of, pool_tenant_db, pooled, roles  # noqa: F401
from test_pool_transaction import starved, txn_pool  # noqa: F401

LISTENING = "SELECT count(*) FROM pg_listening_channels()"
CURSORS = "SELECT count(*) FROM pg_cursors"
TEMPS = "SELECT count(*) FROM pg_class WHERE relnamespace = pg_my_temp_schema()"
LOCKS = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"

HOLDS = {
    "listen": ("LISTEN unpin_ch", ["UNLISTEN unpin_ch", "UNLISTEN *"], LISTENING),
    "cursor": ("BEGIN; DECLARE unpin_c CURSOR WITH HOLD FOR SELECT 1; COMMIT", ["CLOSE unpin_c", "CLOSE ALL"],
               CURSORS),
    "temp": ("CREATE TEMP TABLE unpin_t (a int)", ["DISCARD TEMP"], TEMPS),
    "advisory": ("SELECT pg_advisory_lock(4243)", ["SELECT pg_catalog.pg_advisory_unlock_all()"], LOCKS),
}
CASES = [(kind, back) for kind, (_, backs, _) in HOLDS.items() for back in backs]


def pin(pw, a, stmt):
    start = len(pw.log_text())
    a.rows(stmt)
    pw.wait_log(r"event=client_pinned ", start=start)


def unpinned(pw, a, stmt):
    """Runs <stmt> on a; whether pgward logged the client unpinned by it."""
    start = len(pw.log_text())
    a.rows(stmt)
    return "event=client_unpinned" in pw.log_text()[start:]


@pytest.mark.parametrize("kind, back", CASES, ids=["%s-%s" % c for c in CASES])
def test_taking_back_unpins(pg, txn_pool, kind, back):
    """Goal of a client: keep a server for itself after it has taken back what pinned it, or
    leave what it held to the next client. On a pool of one, another client waits while the
    first is pinned; once it has taken back what it held, the other client runs on the same
    backend and finds none of it, and the first one keeps working."""
    take, _, check = HOLDS[kind]
    pw = txn_pool(default_pool_size=1, query_wait_timeout=2)
    a = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    pin(pw, a, take)
    pid = pid_of(a)
    assert a.scalar(check) == "1"
    b = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    assert starved(b) is not None  # pinned: b gives up waiting
    b = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    assert unpinned(pw, a, back)
    assert pid_of(b) == pid
    assert b.scalar(check) == "0"
    assert a.scalar("SELECT 'a again'") == "a again"
    assert backends(pg) == 1


def test_a_take_back_that_did_not_commit_keeps_the_pin(pg, txn_pool):
    """Goal of a client: be unpinned while its server still listens, so that the next client
    gets its notifications. UNLISTEN in a transaction that rolls back, next to a statement
    that fails, or inside a transaction block: the channel stays, and so does the pin."""
    pw = txn_pool(default_pool_size=1, query_wait_timeout=2)
    a = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    pin(pw, a, "LISTEN unpin_kept")
    assert not unpinned(pw, a, "BEGIN; UNLISTEN *; ROLLBACK")
    assert [m.sqlstate for m in a.simple("UNLISTEN *; SELECT 1/0") if m.type == "E"] == ["22012"]
    a.rows("BEGIN")
    assert not unpinned(pw, a, "UNLISTEN *")
    a.rows("ROLLBACK")
    assert "event=client_unpinned" not in pw.log_text()
    assert a.scalar(LISTENING) == "1"
    b = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    assert starved(b) is not None
    assert unpinned(pw, a, "UNLISTEN *")


def test_every_hold_is_taken_back_before_the_pin_goes(pg, txn_pool):
    """Two channels, a temporary table and a lock: each take-back that leaves something keeps
    the pin, and SHOW SESSIONS names what is left; the last one unpins."""
    from test_admin_control import show
    pw = txn_pool(default_pool_size=1, query_wait_timeout=2, **{"admin.users": SCRAM_USER})
    a = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    pin(pw, a, "LISTEN one; LISTEN two")
    a.rows("CREATE TEMP TABLE unpin_t2 (a int)")
    a.rows("SELECT pg_advisory_lock(77)")

    def pinned_by():
        return [r["pinned"] for r in show(pw, "SESSIONS")[0] if r["state"] != "admin" and r["pinned"]]

    for back, left in (("UNLISTEN one", "LISTEN two"), ("UNLISTEN two", "a temporary relation"),
                       ("DISCARD TEMP", "a session advisory lock")):
        assert not unpinned(pw, a, back), back
        assert pinned_by() == [left]
    assert unpinned(pw, a, "SELECT pg_catalog.pg_advisory_unlock_all()")
    assert pinned_by() == []


def test_what_nothing_takes_back_keeps_the_pin(pg, txn_pool):
    """A client pinned by a LISTEN and by a set_config(..., false): UNLISTEN * leaves the
    setting, which only DISCARD ALL takes back, and the client stays pinned."""
    pw = txn_pool(default_pool_size=1, query_wait_timeout=2)
    a = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    pin(pw, a, "LISTEN unpin_p")
    a.rows("SELECT set_config('app.unpin', 'kept', false)")
    assert not unpinned(pw, a, "UNLISTEN *")
    b = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    assert starved(b) is not None
    assert a.scalar("SELECT current_setting('app.unpin')") == "kept"


def test_settings_made_while_pinned_follow_the_client(pg, txn_pool):
    """Goal of a client: lose the SET it made while pinned once it is unpinned, or leave it to
    the next client of its old server. Its server is terminated after the unpin: on the next
    one it still has its search_path, and another client on its old server does not."""
    pw = txn_pool(default_pool_size=2)
    a = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    plain = a.scalar("SHOW search_path")
    pin(pw, a, "LISTEN unpin_s")
    a.rows("SET search_path = unpin_schema, public")
    pid = pid_of(a)
    assert unpinned(pw, a, "UNLISTEN unpin_s")
    b = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    b.rows("BEGIN")
    if pid_of(b) == pid:
        assert b.scalar("SHOW search_path") == plain
        assert a.scalar("SHOW search_path") == "unpin_schema, public"  # on a new server
        b.rows("COMMIT")
    else:
        b.rows("COMMIT")
    pg.execute("SELECT pg_terminate_backend(%d)" % pid)
    pw.wait_log(r"event=server_closed .*server_pid=%d" % pid)
    for _ in range(3):
        assert a.scalar("SHOW search_path") == "unpin_schema, public"
        assert pid_of(a) != pid
    assert a.scalar(LISTENING) == "0"


def test_a_named_statement_that_listens_pins_again_when_bound(pg, txn_pool):
    """Goal of a client: listen on a server that is back in the pool, by preparing LISTEN as a
    named statement, taking the pin back with UNLISTEN * and binding the statement after. The
    Bind pins it again, to the server it runs on: another client still waits."""
    pw = txn_pool(default_pool_size=1, query_wait_timeout=2)
    a = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    a.send(pgwire.parse("listens", "LISTEN unpin_named"), pgwire.sync())
    assert [m.type for m in a.recv_until("Z")] == ["1", "Z"]
    assert unpinned(pw, a, "UNLISTEN *")
    start = len(pw.log_text())
    a.send(pgwire.bind("", "listens"), pgwire.execute(), pgwire.sync())
    assert [m.type for m in a.recv_until("Z")] == ["2", "C", "Z"]
    pw.wait_log(r"event=client_pinned .*reason=\"LISTEN unpin_named\"", start=start)
    b = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    assert starved(b) is not None
    assert a.scalar(LISTENING) == "1"


def test_a_change_unseen_while_pinned_does_not_reach_the_next_client(pg, txn_pool):
    """Goal of a client: leave a setting on its server through a function pgward cannot look
    into, while pinned, then unpin itself so that the next client of its kind gets the
    server as it left it. The server's ParameterStatus tells pgward of the change, pinned or
    not: the server is reset before the next client's first message."""
    pg.execute("CREATE OR REPLACE FUNCTION public.unpin_tz() RETURNS text LANGUAGE sql "
               "AS $$SELECT set_config('TimeZone', 'Asia/Tokyo', false)$$")
    try:
        pw = txn_pool(default_pool_size=1, query_wait_timeout=2)
        b = login(pw, SCRAM_USER, SCRAM_PASSWORD)
        plain = b.scalar("SHOW TimeZone")
        a = login(pw, SCRAM_USER, SCRAM_PASSWORD)
        pin(pw, a, "LISTEN unpin_tz")
        pid = pid_of(a)
        a.rows("SELECT unpin_tz()")
        assert unpinned(pw, a, "UNLISTEN unpin_tz")
        assert pid_of(b) == pid
        assert b.scalar("SHOW TimeZone") == plain != "Asia/Tokyo"
    finally:
        pg.execute("DROP FUNCTION public.unpin_tz()")
