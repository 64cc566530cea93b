"""Attacks on pool_mode = transaction that go through what pgward believes a server holds:
settings a client's batch left on the server while pgward dropped them, the text settings a
welcomed client reads with, and defaults of the shared role that reach every tenant's
servers. Each states the attacker's goal and checks it failed."""

import time

import pytest

import pgwire
from authkit import login
from conftest import SCRAM_PASSWORD, SCRAM_USER
from test_pool import POOL_APP, POOL_APP_PASSWORD, pid_of, pool_tenant_db, pooled, roles, tenant_pool  # noqa: F401
from test_pool_transaction import txn_pool  # noqa: F401


def commit_then_fail(c, set_sql):
    """<set_sql>, a COMMIT that commits it, then an error, in one extended-protocol batch."""
    c.send(pgwire.parse("", set_sql), pgwire.bind("", ""), pgwire.execute(),
           pgwire.parse("", "COMMIT"), pgwire.bind("", ""), pgwire.execute(),
           pgwire.parse("", "SELECT 1/0"), pgwire.bind("", ""), pgwire.execute(),
           pgwire.sync())
    return [m.sqlstate for m in c.recv_until("Z") if m.type == "E"]


def notes_table(pg, tt, table):
    """<table> with one note of each organization's, its policy reading the context directly
    (a deployment without signing_secret)."""
    pg.execute("DROP TABLE IF EXISTS %(t)s; CREATE TABLE %(t)s (org uuid, body text); "
               "ALTER TABLE %(t)s ENABLE ROW LEVEL SECURITY; "
               "CREATE POLICY t ON %(t)s USING "
               "(org = ANY (current_setting('app.user_org_ids', true)::uuid[])); "
               "GRANT SELECT ON %(t)s TO PUBLIC; "
               "INSERT INTO %(t)s VALUES ('%(a)s', 'alice''s note'), ('%(b)s', 'bob''s note')"
               % {"t": table, "a": tt.ORG_A, "b": tt.ORG_B}, dbname="pool_tenant")


def notes_pool(pg, tt, pgward_factory, tmp_path, table, size):
    """notes_table's <table>, and tenant(user) of a pool of <size> servers per transaction
    with an unsigned context (test_pool.tenant_pool)."""
    notes_table(pg, tt, table)
    return tenant_pool(tt, pgward_factory, tmp_path, signed=False, pool_mode="transaction",
                       default_pool_size=size)[1]


def smuggled_from_off(c, tt, table, others):
    """A text that reads as one string constant with standard_conforming_strings on and, with
    it off, as a set_config of the other organization then a read of <table>: sent on <c>,
    no row of Bob's comes back, and <c> and a new connection of <others> keep Alice's
    context."""
    text = ("SELECT 'a\\'; SELECT pg_catalog.set_config($q$app.user_org_ids$q$, $q${%s}$q$, false); "
            "SELECT body FROM %s ORDER BY body; --'" % (tt.ORG_B, table))
    rows = [m.data_row()[0] for m in c.simple(text) if m.type == "D"]
    assert b"bob's note" not in rows, rows
    for x in (c, others(tt.ALICE)):
        assert x.scalar("SELECT current_setting('app.user_org_ids')") == "{%s}" % tt.ORG_A


SMUGGLE = "SELECT 'a\\', ' AS x, pg_catalog.set_config($q$app.user_org_ids$q$, $q${%s}$q$, false) --'"


def test_a_set_committed_before_an_error_does_not_reach_the_next_client(pg, txn_pool):
    """Goal of a client: leave its search_path for the next client of its server. Its SET is
    committed by a COMMIT in the same batch, then an error ends the batch: the server keeps
    the SET though pgward cannot count it as the client's. The next client on that server
    (same kind, one server) still runs with its own search_path."""
    pw = txn_pool(default_pool_size=1)
    a = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    b = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    plain = b.scalar("SHOW search_path")
    assert commit_then_fail(a, "SET search_path = pg_temp, public") == ["22012"]
    assert pid_of(a) == pid_of(b)
    assert b.scalar("SHOW search_path") == plain
    c = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    assert c.scalar("SHOW search_path") == plain


def test_a_tenant_cannot_write_its_context_through_text_read_two_ways(pg, pool_tenant_db, pgward_factory, tmp_path):
    """Goal of a tenant: read another organization's rows by writing its own context. It
    leaves standard_conforming_strings off on its server (committed, then an error), then, on
    a second connection of the same tenant on that server, sends a text that reads as two
    string constants with it on and as a set_config() with it off. pgward reads the text as
    the server does, refuses the set_config, and the tenant sees its own rows only, in the
    same session and in a new one. (Unsigned context: policies read the setting directly.)"""
    tt = pool_tenant_db
    tenant = notes_pool(pg, tt, pgward_factory, tmp_path, "atk_notes", 1)
    first = tenant(tt.ALICE)
    second = tenant(tt.ALICE)
    assert first.scalar("SHOW standard_conforming_strings") == "on"
    assert commit_then_fail(first, "SET standard_conforming_strings = off") == ["22012"]
    second.simple(SMUGGLE % tt.ORG_B)
    for c in (second, tenant(tt.ALICE)):
        assert c.scalar("SELECT current_setting('app.user_org_ids')") == "{%s}" % tt.ORG_A
        assert c.rows("SELECT body FROM atk_notes ORDER BY body") == [["alice's note"]]


def test_a_tenant_cannot_change_the_shared_roles_defaults(pg, pool_tenant_db, pgward_factory, tmp_path):
    """Goal of a tenant: make every later server of the role all tenants share start with its
    search_path (ALTER ROLE ... SET, which PostgreSQL lets a role do to itself; DISCARD ALL
    resets to it). pgward refuses it, and ALTER DATABASE ... SET, in a tenant's session; a
    new server of the other tenant starts with the role's own defaults."""
    tt = pool_tenant_db
    pw, tenant = tenant_pool(tt, pgward_factory, tmp_path, signed=True, pool_mode="transaction",
                             default_pool_size=1)
    alice = tenant(tt.ALICE)
    bob = tenant(tt.BOB)
    plain = bob.scalar("SHOW search_path")
    try:
        for sql in ("ALTER ROLE %s SET search_path = pg_temp, public" % POOL_APP,
                    "ALTER USER CURRENT_USER SET statement_timeout = 1",
                    "ALTER ROLE %s IN DATABASE pool_tenant RESET ALL" % POOL_APP,
                    "ALTER DATABASE pool_tenant SET search_path = pg_temp, public"):
            errs = [m.fields() for m in alice.simple(sql) if m.type == "E"]
            assert [e["C"] for e in errs] == ["42501"], (sql, errs)
            assert "ALTER" in errs[0]["M"] and "other tenants" in errs[0]["M"], errs[0]["M"]
        alice.send(pgwire.query("SELECT pg_terminate_backend(pg_backend_pid())"))
        assert alice.wait_closed(5)
        time.sleep(0.5)
        assert bob.scalar("SHOW search_path") == plain
        assert tenant(tt.BOB).scalar("SHOW search_path") == plain
    finally:
        pg.execute("ALTER ROLE %s RESET ALL" % POOL_APP)
        pg.execute("ALTER DATABASE pool_tenant RESET ALL")


def test_a_welcomed_client_is_read_as_its_new_server_reads_text(pg, pool_tenant_db, pgward_factory, tmp_path):
    """Goal of a tenant: the same forgery through a server that legitimately reads text
    otherwise than the servers before it (the role's standard_conforming_strings changed to
    off after pgward recorded what logins are told). The tenant's new connection is told
    from that record, gets the new server, and is told its setting: pgward reads the text as
    that server does and refuses the set_config."""
    tt = pool_tenant_db
    tenant = notes_pool(pg, tt, pgward_factory, tmp_path, "atk_notes2", 2)
    holder = tenant(tt.ALICE)
    holder.rows("BEGIN")  # keeps the server the record was made on
    pg.execute("ALTER ROLE %s SET standard_conforming_strings = off" % POOL_APP)
    try:
        c = tenant(tt.ALICE)
        assert c.params["standard_conforming_strings"] == "on"  # from the record
        msgs = c.simple(SMUGGLE % tt.ORG_B)
        told = [m.parameter_status() for m in msgs if m.type == "S"]
        assert ("standard_conforming_strings", "off") in told
        assert [m.fields()["C"] for m in msgs if m.type == "E"] == ["42501"]
        assert c.scalar("SELECT current_setting('app.user_org_ids')") == "{%s}" % tt.ORG_A
        assert c.rows("SELECT body FROM atk_notes2 ORDER BY body") == [["alice's note"]]
    finally:
        pg.execute("ALTER ROLE %s RESET standard_conforming_strings" % POOL_APP)


def test_a_tenant_cannot_change_the_shared_roles_password(pg, pool_tenant_db, pgward_factory, tmp_path):
    """Goal of a tenant: lock every other tenant out by changing the password of the role
    they all share (PostgreSQL lets a role change its own). Refused (42501); the other
    tenant's new server still logs in."""
    tt = pool_tenant_db
    pw, tenant = tenant_pool(tt, pgward_factory, tmp_path, signed=True, pool_mode="transaction",
                             default_pool_size=1)
    alice = tenant(tt.ALICE)
    try:
        errs = [m.fields()["C"] for m in alice.simple("ALTER ROLE CURRENT_USER PASSWORD 'tenant-a-owns-it'")
                if m.type == "E"]
        assert errs == ["42501"]
        alice.send(pgwire.query("SELECT pg_terminate_backend(pg_backend_pid())"))
        assert alice.wait_closed(5)
        time.sleep(0.5)
        assert tenant(tt.BOB).scalar("SELECT 'b'") == "b"
    finally:
        pg.execute("ALTER ROLE %s PASSWORD '%s'" % (POOL_APP, POOL_APP_PASSWORD))


def test_a_client_back_on_another_server_is_read_as_that_server_reads(pg, pool_tenant_db, pgward_factory,
                                                                      tmp_path):
    """Goal of a tenant: keep pgward reading its text with standard_conforming_strings off,
    as a server it used before read it, on a server that reads it on (the role's default
    changed meanwhile), and so smuggle a set_config of another organization past it. Back
    on the first server, the client is told its setting and pgward reads as it does."""
    tt = pool_tenant_db
    try:
        tenant = notes_pool(pg, tt, pgward_factory, tmp_path, "atk_notes3", 2)
        h1, c, h2 = tenant(tt.ALICE), tenant(tt.ALICE), tenant(tt.ALICE)
        assert c.scalar("SHOW standard_conforming_strings") == "on"
        assert h2.scalar("SELECT 1") == "1"
        h1.rows("BEGIN")
        first = pid_of(h1)
        pg.execute("ALTER ROLE %s SET standard_conforming_strings = off" % POOL_APP)
        assert c.scalar("SHOW standard_conforming_strings") == "off"  # on a new server
        h2.rows("BEGIN")
        h1.rows("COMMIT")
        assert pid_of(c) == first
        smuggled_from_off(c, tt, "atk_notes3", tenant)
        h2.rows("COMMIT")
    finally:
        pg.execute("ALTER ROLE %s RESET standard_conforming_strings" % POOL_APP)
        pg.execute("DROP TABLE IF EXISTS atk_notes3", dbname="pool_tenant")


P, B, E, S, Q = pgwire.parse, pgwire.bind, pgwire.execute, pgwire.sync, pgwire.query
# A one-shot SET (Parse, Bind, Execute) that PostgreSQL undoes before the Sync, with only a
# WARNING, or never runs: each reply ends at one ReadyForQuery but the Query's own.
SET_UNDONE = {
    "rollback_parse": ([P("", "SET work_mem = '7MB'"), B("", ""), E(), P("", "ROLLBACK"), B("", ""), E(), S()], 1),
    "abort_in_a_query_in_the_batch": ([P("", "SET work_mem = '7MB'"), B("", ""), E(), Q("ABORT"), S()], 2),
    "replaced_before_execute": ([P("", "SET work_mem = '7MB'"), P("", "SELECT 1"), B("", ""), E(), S()], 1),
}


def send_and_wait(c, msgs, zs):
    c.send(*msgs)
    for _ in range(zs):
        c.recv_until("Z")


@pytest.mark.parametrize("name", sorted(SET_UNDONE))
def test_a_set_the_server_undid_does_not_follow_the_client(pg, txn_pool, name):
    """Goal of a client: make pgward keep a SET PostgreSQL undid in the same batch (a
    ROLLBACK after it, or a Parse that replaced it before it ran), so that its next servers
    run with it and the server is labelled as holding it. On the client's next server the
    setting is PostgreSQL's, as on a direct session."""
    msgs, zs = SET_UNDONE[name]
    d = pgwire.Conn("127.0.0.1", pg.port, timeout=30)
    d.startup(SCRAM_USER, password=SCRAM_PASSWORD)
    plain = d.scalar("SHOW work_mem")
    send_and_wait(d, msgs, zs)
    assert d.scalar("SHOW work_mem") == plain
    d.close()
    pw = txn_pool(default_pool_size=2, query_wait_timeout=10)
    h1 = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    h1.rows("BEGIN")
    a = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    send_and_wait(a, msgs, zs)
    batch_server = pid_of(a)
    assert a.scalar("SHOW work_mem") == plain
    h2 = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    h2.rows("BEGIN")
    assert pid_of(h2) == batch_server
    h1.rows("COMMIT")
    assert pid_of(a) != batch_server
    assert a.scalar("SHOW work_mem") == plain
    h2.rows("COMMIT")


def test_a_tenant_cannot_write_its_context_through_a_set_its_batch_rolled_back(
        pg, pool_tenant_db, pgward_factory, tmp_path):
    """Goal of a tenant: have pgward believe standard_conforming_strings is off on a server
    that has it on (a SET its batch rolled back), and so smuggle a set_config of another
    organization to a connection of its own that really set it off. It reads its own rows."""
    tt = pool_tenant_db
    try:
        tenant = notes_pool(pg, tt, pgward_factory, tmp_path, "atk_notes4", 2)
        h, x, v = tenant(tt.ALICE), tenant(tt.ALICE), tenant(tt.ALICE)
        h.rows("BEGIN")
        v.rows("SET standard_conforming_strings = off")
        send_and_wait(x, [
            P("", "SET standard_conforming_strings = off"), B("", ""), E(), P("", "ROLLBACK"), B("", ""), E(), S()], 1)
        smuggled_from_off(v, tt, "atk_notes4", tenant)
        h.rows("COMMIT")
    finally:
        pg.execute("DROP TABLE IF EXISTS atk_notes4", dbname="pool_tenant")
