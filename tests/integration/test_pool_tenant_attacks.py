"""Attacks on pool_mode = transaction that go through what pgward believes a server holds:
settings a client's batch left on the server while pgward dropped them, the text settings a
welcomed client reads with, and defaults of the shared role that reach every tenant's
servers. Each states the attacker's goal and checks it failed."""

import time

import pgwire
from authkit import login
from conftest import SCRAM_PASSWORD, SCRAM_USER
from test_pool import POOL_APP, pid_of, pool_tenant_db, pooled, roles, tenant_pool  # noqa: F401
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
    notes_table(pg, tt, "atk_notes")
    pw, tenant = tenant_pool(tt, pgward_factory, tmp_path, signed=False, pool_mode="transaction",
                             default_pool_size=1)
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
    notes_table(pg, tt, "atk_notes2")
    pw, tenant = tenant_pool(tt, pgward_factory, tmp_path, signed=False, pool_mode="transaction",
                             default_pool_size=2)
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
