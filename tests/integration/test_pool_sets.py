"""pool_mode = transaction with session SETs, through a real PostgreSQL 15: a client's SET and
RESET outside a transaction block follow it to every server it gets (written there after its
startup settings), without pinning it; SHOW gives what a direct session would; a SET whose
transaction fails is not kept; no other client ever sees them."""

import time

import pgwire
import test_pool
import test_pool_transaction
from authkit import login
from conftest import SCRAM_PASSWORD, SCRAM_USER, wait_for
from test_pool import pid_of

# fixtures of other modules, bound here for pytest: pgward pooling SCRAM_USER per transaction
roles = test_pool.roles
pooled = test_pool.pooled
txn_pool = test_pool_transaction.txn_pool

SETS = ["SET search_path = 'My Schema', public, \"$user\"",
        "SET TIME ZONE 'Asia/Tokyo'",
        "SET work_mem = '7MB'",
        "SET DateStyle = ISO, DMY",
        "SET app.note = 'it''s noted'",
        "SET statement_timeout = 30000",
        "SET enable_seqscan TO off"]
SHOWN = ["search_path", "TimeZone", "work_mem", "DateStyle", "app.note", "statement_timeout", "enable_seqscan"]


def shown(c):
    """The settings of SHOWN as c sees them. A custom setting once written stays defined,
    empty, after DISCARD ALL (a placeholder of the backend): read as unset, as on a backend
    that never saw it."""
    got = {k: c.scalar("SELECT current_setting('%s', true)" % k) for k in SHOWN}
    if got["app.note"] == "":
        got["app.note"] = None
    return got


def direct_values(pg, sets):
    d = pgwire.Conn("127.0.0.1", pg.port)
    d.startup(SCRAM_USER, password=SCRAM_PASSWORD)
    plain = shown(d)
    for sql in sets:
        d.simple(sql)
    after = shown(d)
    d.close()
    return plain, after


def on_other_server(pg, a, run):
    """Runs run() for client a on another server than the one it used last, which is
    terminated: pgward drops it from the pool and a gets another."""
    mine = pid_of(a)
    pg.execute("SELECT pg_terminate_backend(%d)" % mine)
    wait_for(lambda: str(mine) not in [str(r[0]) for r in pg.execute(
        "SELECT pid FROM pg_stat_activity WHERE usename = '%s'" % SCRAM_USER)], 10, what="backend gone")
    time.sleep(0.2)  # pgward reads the idle server's end
    out = run()
    assert pid_of(a) != mine
    return out


def test_sets_follow_the_client_to_another_server(pg, txn_pool):
    """Goal of a client: its settings on every server, as directly. Client a runs seven SETs
    (an identifier list with a quoted name, TIME ZONE, units, a list, a custom setting with
    a quote, a number, a boolean) one Query each; on another server (the first one
    terminated), SHOW gives what a direct session gives, and a is never pinned."""
    plain, wanted = direct_values(pg, SETS)
    assert plain != wanted
    pw = txn_pool(default_pool_size=2, query_wait_timeout=30)
    a = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    for sql in SETS:
        a.simple(sql)
    assert shown(a) == wanted
    pids = {pid_of(a)}
    got = on_other_server(pg, a, lambda: (pid_of(a), shown(a)))
    pids.add(got[0])
    assert got[1] == wanted
    assert len(pids) == 2
    assert shown(a) == wanted
    assert "client_pinned" not in pw.log_text()
    # a new client of the same startup settings sees none of them
    d = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    for _ in range(2):
        assert shown(d) == plain


def test_other_clients_never_see_a_clients_sets(pg, txn_pool):
    """Attacker's goal: read another client's settings (its search_path, its time zone) on
    the server they share. One server, two clients interleaved: each sees only its own."""
    plain, wanted = direct_values(pg, SETS)
    pw = txn_pool(default_pool_size=1)
    a = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    b = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    for sql in SETS:
        a.simple(sql)
    for _ in range(3):
        assert shown(b) == plain
        assert shown(a) == wanted
    assert pid_of(a) == pid_of(b)
    b.simple("SET work_mem = '3MB'")
    assert a.scalar("SHOW work_mem") == "7MB"
    assert b.scalar("SHOW work_mem") == "3MB"
    b2 = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    assert shown(b2) == plain


def test_what_does_not_commit_is_not_kept(pg, txn_pool):
    """A SET in a Query that fails is rolled back by the server, and not written on the
    client's next server either; RESET and SET ... TO DEFAULT go back to the default there
    too; the last of several SETs of one name wins."""
    pw = txn_pool(default_pool_size=2, query_wait_timeout=30)
    a = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    default = a.scalar("SHOW work_mem")
    out = a.simple("SET work_mem = '9MB'; SELECT 1/0")
    assert [m.fields()["C"] for m in out if m.type == "E"] == ["22012"]
    assert a.scalar("SHOW work_mem") == default
    assert on_other_server(pg, a, lambda: a.scalar("SHOW work_mem")) == default
    a.simple("SET work_mem = '5MB'")
    a.simple("SET work_mem = '6MB'")
    a.simple("SET statement_timeout = '4s'")
    a.simple("RESET statement_timeout")
    a.simple("SET lock_timeout = '2s'")
    a.simple("SET lock_timeout TO DEFAULT")
    got = on_other_server(pg, a, lambda: [a.scalar("SHOW %s" % k) for k in
                                          ("work_mem", "statement_timeout", "lock_timeout")])
    assert got == ["6MB", "0", "0"]
    assert "client_pinned" not in pw.log_text()


def test_a_drivers_one_shot_set_in_the_extended_protocol(pg, txn_pool):
    """pgJDBC sends its own SETs as the unnamed statement, parsed, bound and run in one
    batch: kept as a Query's, without a pin; one parsed but never run is not kept."""
    pw = txn_pool(default_pool_size=2, query_wait_timeout=30)
    a = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    a.send(pgwire.parse("", "SET extra_float_digits = 3"), pgwire.bind("", ""), pgwire.execute(), pgwire.sync())
    assert [m.type for m in a.recv_until("Z")] == ["1", "2", "C", "Z"]
    a.send(pgwire.parse("", "SET work_mem = '11MB'"), pgwire.sync())
    assert [m.type for m in a.recv_until("Z")] == ["1", "Z"]
    got = on_other_server(pg, a, lambda: [a.scalar("SHOW extra_float_digits"), a.scalar("SHOW work_mem")])
    assert got == ["3", "4MB"]
    assert "client_pinned" not in pw.log_text()


def test_a_set_pgward_cannot_carry_pins(pg, txn_pool):
    """What pgward does not write elsewhere pins the client to its server, as before: a SET
    inside a transaction block, SET ROLE, a TIME ZONE given as an interval, RESET ALL."""
    pw = txn_pool(default_pool_size=4, query_wait_timeout=30)
    for sql, why in (("BEGIN; SET work_mem = '8MB'; COMMIT", "SET work_mem"),
                     ("SET ROLE %s" % SCRAM_USER, "SET role"),
                     ("SET TIME ZONE INTERVAL '+02:00' HOUR TO MINUTE", "SET timezone"),
                     ("RESET ALL", "RESET ALL")):
        a = login(pw, SCRAM_USER, SCRAM_PASSWORD)
        start = len(pw.log_text())
        a.simple(sql)
        pw.wait_log(r'event=client_pinned .*reason="%s"' % why, start=start)
        a.close()
