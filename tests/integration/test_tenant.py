"""Tenant context for row-level security ([tenant]) through a real PostgreSQL with the example
schema of conf/tenant/: identity from the login role or a trusted role's startup option,
organization ids from the map file or the lookup query (cached, invalidated by NOTIFY across
pgward instances), injection before the client's first ReadyForQuery, refusal of every way to
change the context, and the signed context every policy reads: without pgward's signature
(pgward not signing, no secret stored, a context changed where pgward cannot see) the schema
shows no rows."""

import re
import time

import psycopg2
import pytest

import pgwire
from conftest import ROOT, SUPERUSER, wait_for

CONF = ROOT / "conf" / "tenant"
ORG_A = "11111111-1111-4111-8111-111111111111"
ORG_B = "22222222-2222-4222-8222-222222222222"
ALICE = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"
BOB = "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb"
DOMAIN_A = "a0000000-0000-4000-8000-000000000001"
DOMAIN_B = "b0000000-0000-4000-8000-000000000001"
PASSWORD = "tenant-secret"
APP, T_ALICE, T_BOB = "t_app", "t_alice", "t_bob"
SECRET = "0123456789abcdef-signing"
TABLES = ["organizations", "organization_members", "domains", "customer_configs", "scraped_pages",
          "conversations", "messages", "scrape_jobs", "embedding_queue"]
# rows per table visible to Acme and to Globex in seed.sql
SEEN_A = [1, 1, 1, 1, 2, 1, 2, 1, 1]
SEEN_B = [1, 1, 1, 1, 1, 1, 1, 1, 1]


def make_db(pg, name, secret=SECRET):
    """conf/tenant/ in its documented load order, then the signing secret unless it is None."""
    pg.execute("DROP DATABASE IF EXISTS %s WITH (FORCE)" % name)
    pg.execute("CREATE DATABASE %s" % name)
    sql = "".join((CONF / f).read_text() for f in ("signing.sql", "schema.sql", "notify.sql", "seed.sql"))
    if secret is not None:
        sql += "INSERT INTO pgward.secret VALUES ('%s');" % secret
    pg.execute(sql, dbname=name)


@pytest.fixture(scope="module")
def tenant_db(pg):
    for role in (APP, T_ALICE, T_BOB):
        pg.execute("DROP ROLE IF EXISTS %s; CREATE ROLE %s LOGIN PASSWORD '%s'" % (role, role, PASSWORD))
    make_db(pg, "tenant")
    make_db(pg, "tenant_nosecret", secret=None)
    return "tenant"


@pytest.fixture
def map_file(tmp_path):
    p = tmp_path / "orgs.map"
    p.write_text("# login role = organizations\n%s = %s\n%s = %s\n%s = %s, %s\n%s = %s\n%s = %s\n" % (
        T_ALICE, ORG_A, T_BOB, ORG_B, SUPERUSER, ORG_A, ORG_B, ALICE, ORG_A, BOB, ORG_B))
    return p


def map_settings(map_file, **kw):
    s = {"tenant.mode": "on", "tenant.source": "map", "tenant.map_file": map_file,
         "tenant.signing_secret": SECRET}
    s.update(kw)
    return s


def query_settings(pg, **kw):
    s = {"tenant.mode": "on", "tenant.source": "query", "tenant.identity": "startup_option",
         "tenant.trusted_roles": APP, "tenant.cache_ttl": "1h", "tenant.lookup_timeout": "2s",
         "tenant.conninfo": "host=127.0.0.1 port=%d user=%s dbname=tenant" % (pg.port, SUPERUSER),
         "tenant.signing_secret": SECRET}
    s.update(kw)
    return s


def connect(pw, user, dbname="tenant", user_id=None, options=None):
    opts = options
    if user_id is not None:
        opts = ((opts or "") + " -c app.user_id=%s" % user_id).strip()
    return pw.connect(user, dbname, password=PASSWORD if user != SUPERUSER else None, options=opts)


def one(conn, sql, params=None):
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchone()[0]


def context(conn):
    return one(conn, "SELECT current_setting('app.user_org_ids')")


def counts(conn):
    return [one(conn, "SELECT count(*) FROM %s" % t) for t in TABLES]


def refused(conn, sql, params=None):
    with pytest.raises(psycopg2.Error) as e:
        with conn.cursor() as cur:
            cur.execute(sql, params)
    return e.value


# ---------------------------------------------------------------- isolation


def test_two_users_see_only_their_organization(tenant_db, pgward_factory, map_file):
    pw = pgward_factory(**map_settings(map_file))
    alice, bob = connect(pw, T_ALICE), connect(pw, T_BOB)
    assert context(alice) == "{%s}" % ORG_A
    assert context(bob) == "{%s}" % ORG_B
    assert one(alice, "SELECT current_setting('app.user_id')") == T_ALICE
    assert counts(alice) == SEEN_A
    assert counts(bob) == SEEN_B
    assert one(alice, "SELECT string_agg(content, '|' ORDER BY content) FROM messages") == \
        "From 10 coins.|How much is an anvil?"


def test_insert_update_delete_stay_inside_the_organization(tenant_db, pgward_factory, map_file, pg):
    pw = pgward_factory(**map_settings(map_file))
    alice, bob = connect(pw, T_ALICE), connect(pw, T_BOB)
    with alice.cursor() as cur:
        cur.execute("INSERT INTO scraped_pages (domain_id, url) VALUES (%s, 'https://acme.example/new')",
                    (DOMAIN_A,))
    e = refused(alice, "INSERT INTO scraped_pages (domain_id, url) VALUES (%s, 'https://x/')", (DOMAIN_B,))
    assert e.pgcode == "42501" and "row-level security" in e.pgerror
    with alice.cursor() as cur:
        cur.execute("UPDATE scraped_pages SET title = 'mine' WHERE domain_id = %s", (DOMAIN_B,))
        assert cur.rowcount == 0
        cur.execute("DELETE FROM scraped_pages WHERE domain_id = %s", (DOMAIN_B,))
        assert cur.rowcount == 0
        cur.execute("UPDATE scraped_pages SET title = 'mine' WHERE url = 'https://acme.example/new'")
        assert cur.rowcount == 1
    assert one(bob, "SELECT count(*) FROM scraped_pages WHERE title = 'mine'") == 0
    with bob.cursor() as cur:
        cur.execute("DELETE FROM scraped_pages WHERE url = 'https://acme.example/new'")
        assert cur.rowcount == 0
    with alice.cursor() as cur:
        cur.execute("DELETE FROM scraped_pages WHERE url = 'https://acme.example/new'")
        assert cur.rowcount == 1
    assert pg.execute("SELECT count(*) FROM scraped_pages WHERE domain_id = '%s'" % DOMAIN_B,
                      dbname="tenant") == [(1,)]


def test_psql_and_the_extended_protocol_see_the_context(tenant_db, pgward_factory, map_file):
    pw = pgward_factory(**map_settings(map_file))
    r = pw.psql("-c", "SELECT current_setting('app.user_org_ids'), count(*) FROM domains",
                user=T_ALICE, dbname="tenant", dsn_extra={"password": PASSWORD})
    assert r.stdout.decode().strip() == "{%s}|1" % ORG_A
    c = pw.raw_session(T_BOB, "tenant", password=PASSWORD)
    c.send(pgwire.parse("", "SELECT current_setting('app.user_org_ids')"), pgwire.bind("", ""),
           pgwire.execute(), pgwire.sync())
    rows = [m.data_row() for m in c.recv_until("Z") if m.type == "D"]
    assert rows == [[("{%s}" % ORG_B).encode()]]


def test_early_query_waits_for_the_context(tenant_db, pgward_factory, map_file):
    """A client that pipelines a query behind its StartupMessage still runs it with the context:
    it sees exactly one ReadyForQuery before the query's answer, as from PostgreSQL."""
    pw = pgward_factory(**map_settings(map_file))
    c = pw.raw()
    c.send(pgwire.startup_message({"user": SUPERUSER, "database": "tenant"}),
           pgwire.query("SELECT current_setting('app.user_org_ids')"))
    msgs = c.recv_until("Z")
    assert [m.type for m in msgs if m.type in "EZ"] == ["Z"]
    msgs = c.recv_until("Z")
    assert [m.data_row() for m in msgs if m.type == "D"] == [[("{%s,%s}" % (ORG_A, ORG_B)).encode()]]


# ---------------------------------------------------------------- identity


def test_trusted_role_passes_the_user_id_and_other_options_survive(tenant_db, pgward_factory, pg):
    pw = pgward_factory(**query_settings(pg))
    a = connect(pw, APP, user_id=ALICE, options="-c work_mem=7MB")
    assert context(a) == "{%s}" % ORG_A
    assert one(a, "SELECT current_setting('app.user_id')") == ALICE
    assert one(a, "SHOW work_mem") == "7MB"
    assert counts(a) == SEEN_A
    b = connect(pw, APP, user_id=BOB.upper(), options="--statement-timeout=5s")
    assert context(b) == "{%s}" % ORG_B
    assert one(b, "SHOW statement_timeout") == "5s"
    assert counts(b) == SEEN_B


@pytest.mark.parametrize("user, options, sqlstate, words", [
    (T_ALICE, "-c app.user_id=" + ALICE, "28000", "not one of [tenant] trusted_roles"),
    (APP, "-c app.user_id=not-a-uuid", "28000", "is not a UUID"),
    (APP, "-c app.user_id=%s -c app.user_id=%s" % (ALICE, BOB), "08P01", "more than once"),
    (APP, "-c app.user_org_ids={%s}" % ORG_B, "42501", "may not set app.user_org_ids"),
    (T_ALICE, "--App.User-Org-Ids={%s}" % ORG_B, "42501", "may not set app.user_org_ids"),
    (APP, "-c app.tenant_sig=x -c app.user_id=" + ALICE, "42501", "may not set app.tenant_sig"),
    (APP, None, "28000", "no tenant identity"),
])
def test_startup_options_refused(tenant_db, pgward_factory, pg, user, options, sqlstate, words):
    pw = pgward_factory(**query_settings(pg))
    with pytest.raises(psycopg2.OperationalError) as e:
        connect(pw, user, options=options)
    assert sqlstate in str(e.value) or words in str(e.value)
    assert words in str(e.value)
    c = pw.raw()
    params = {"options": options} if options else {}
    with pytest.raises(pgwire.PgError) as pe:
        c.startup(user, "tenant", password=PASSWORD, params=params)
    assert pe.value.fields["C"] == sqlstate


def test_startup_parameter_naming_a_protected_setting_refused(tenant_db, pgward_factory, map_file):
    pw = pgward_factory(**map_settings(map_file))
    c = pw.raw()
    with pytest.raises(pgwire.PgError) as e:
        c.startup(SUPERUSER, "tenant", params={"app.user_org_ids": "{%s}" % ORG_B})
    assert e.value.fields["C"] == "42501"


def test_no_identity_can_run_with_an_empty_context(tenant_db, pgward_factory, pg):
    pw = pgward_factory(**query_settings(pg, **{"tenant.no_identity": "empty"}))
    c = connect(pw, APP)
    assert context(c) == "{}"
    assert counts(c) == [0] * len(TABLES)


# ---------------------------------------------------------------- lookup, cache, NOTIFY


def test_membership_change_reaches_new_sessions_by_notify(tenant_db, pgward_factory, pg):
    pw1 = pgward_factory(**query_settings(pg))
    pw2 = pgward_factory(**query_settings(pg))
    for pw in (pw1, pw2):
        pw.wait_log("tenant_lookup_up", timeout=10)
        assert context(connect(pw, APP, user_id=ALICE)) == "{%s}" % ORG_A
    # Without a NOTIFY the cached ids stay: the change is invisible to new sessions.
    pg.execute("SET session_replication_role = replica;"
               "INSERT INTO organization_members VALUES ('%s', '%s')" % (ORG_B, ALICE), dbname="tenant")
    for pw in (pw1, pw2):
        assert context(connect(pw, APP, user_id=ALICE)) == "{%s}" % ORG_A
    # One NOTIFY from the trigger reaches both instances.
    pg.execute("UPDATE organization_members SET role = 'admin' WHERE user_id = '%s' AND organization_id = '%s'"
               % (ALICE, ORG_B), dbname="tenant")
    both = {"{%s,%s}" % (ORG_A, ORG_B), "{%s,%s}" % (ORG_B, ORG_A)}
    for pw in (pw1, pw2):
        wait_for(lambda: context(connect(pw, APP, user_id=ALICE)) in both, 5, what="new context")
        assert counts(connect(pw, APP, user_id=ALICE))[2] == 2  # domains of both
    pg.execute("DELETE FROM organization_members WHERE user_id = '%s' AND organization_id = '%s'"
               % (ALICE, ORG_B), dbname="tenant")
    for pw in (pw1, pw2):
        wait_for(lambda: context(connect(pw, APP, user_id=ALICE)) == "{%s}" % ORG_A, 5, what="old context")


@pytest.mark.parametrize("fallback", ["refuse", "empty"])
def test_lookup_failure(tenant_db, pgward_factory, pg, fallback):
    pw = pgward_factory(**query_settings(pg, **{
        "tenant.query": "SELECT organization_id FROM no_such_table WHERE user_id = $1",
        "tenant.on_lookup_failure": fallback}))
    pw.wait_log("tenant_lookup_up", timeout=10)
    if fallback == "empty":
        assert context(connect(pw, APP, user_id=ALICE)) == "{}"
        return
    with pytest.raises(psycopg2.OperationalError) as e:
        connect(pw, APP, user_id=ALICE)
    assert "cannot resolve the tenant context" in str(e.value)
    assert "no_such_table" in str(e.value)
    c = pw.raw()
    with pytest.raises(pgwire.PgError) as pe:
        c.startup(APP, "tenant", password=PASSWORD, params={"options": "-c app.user_id=" + ALICE})
    assert pe.value.fields["C"] == "58000"


def test_lookup_database_down_refuses_after_the_timeout(tenant_db, pgward_factory, pg):
    from conftest import free_port
    pw = pgward_factory(**query_settings(pg, **{
        "tenant.conninfo": "host=127.0.0.1 port=%d user=postgres dbname=tenant" % free_port(),
        "tenant.lookup_timeout": "500ms"}))
    t0 = time.monotonic()
    with pytest.raises(psycopg2.OperationalError) as e:
        connect(pw, APP, user_id=ALICE)
    assert "lookup database is unavailable" in str(e.value)
    assert time.monotonic() - t0 < 5


# ---------------------------------------------------------------- nobody else may touch it

SPOOF = [
    "SET app.user_org_ids = '{%s}'" % ORG_B,
    "SET SESSION app.user_org_ids TO '{%s}'" % ORG_B,
    "set App.User_Org_Ids = '{%s}'" % ORG_B,
    "SET \"app.user_org_ids\" = '{%s}'" % ORG_B,
    "SET app.user_org_ids TO DEFAULT",
    "RESET app.user_org_ids",
    "RESET ALL",
    "DISCARD ALL",
    "SET app.user_id = '%s'" % BOB,
    "SET app.tenant_sig = 'x'",
    "SELECT set_config('app.user_org_ids', '{%s}', false)" % ORG_B,
    "SELECT pg_catalog.set_config('APP.USER_ORG_IDS', '{%s}', false)" % ORG_B,
    "SELECT set_config(lower('APP.USER_ORG_IDS'), '{%s}', false)" % ORG_B,
    "WITH x AS (SELECT set_config('app.user_org_ids', '{%s}', false)) SELECT * FROM x" % ORG_B,
    "SELECT 1; SELECT set_config('app.user_org_ids', '{%s}', true)" % ORG_B,
    "PREPARE p AS SELECT set_config('app.user_org_ids', '{%s}', false)" % ORG_B,
    "UPDATE pg_settings SET setting = '{%s}' WHERE name = 'app.user_org_ids'" % ORG_B,
    "ALTER ROLE t_alice SET app.user_org_ids = '{%s}'" % ORG_B,
    "ALTER DATABASE tenant SET app.user_org_ids = '{%s}'" % ORG_B,
    "ALTER SYSTEM SET app.user_org_ids = '{%s}'" % ORG_B,
    "CREATE FUNCTION leak() RETURNS int LANGUAGE sql SET app.user_org_ids FROM CURRENT AS 'SELECT 1'",
    "CREATE FUNCTION leak() RETURNS int LANGUAGE sql SET app.user_org_ids = '{}' AS 'SELECT 1'",
    "BEGIN; SET LOCAL app.user_org_ids = '{%s}'; COMMIT" % ORG_B,
]


@pytest.mark.parametrize("sql", SPOOF)
def test_spoofing_refused_simple_protocol(tenant_db, pgward_factory, map_file, sql):
    pw = pgward_factory(**map_settings(map_file))
    alice = connect(pw, T_ALICE)
    e = refused(alice, sql)
    assert e.pgcode == "42501", e.pgerror
    assert "tenant_context" in e.pgerror
    assert "app." in e.pgerror
    assert context(alice) == "{%s}" % ORG_A
    assert counts(alice) == SEEN_A


@pytest.mark.parametrize("sql, params", [
    ("SELECT set_config($1, $2, false)", ["app.user_org_ids", "{%s}" % ORG_B]),
    ("SELECT set_config('app.user_org_ids', $1, false)", ["{%s}" % ORG_B]),
    ("SET app.user_org_ids = '{}'", []),
    ("RESET ALL", []),
])
def test_spoofing_refused_extended_protocol(tenant_db, pgward_factory, map_file, sql, params):
    pw = pgward_factory(**map_settings(map_file))
    c = pw.raw_session(T_ALICE, "tenant", password=PASSWORD)
    c.send(pgwire.parse("", sql), pgwire.bind("", "", params), pgwire.execute(), pgwire.sync())
    msgs = c.recv_until("Z")
    errors = [m for m in msgs if m.type == "E"]
    assert len(errors) == 1 and errors[0].sqlstate == "42501"
    assert "tenant_context" in errors[0].fields()["M"]
    c.send(pgwire.query("SELECT current_setting('app.user_org_ids')"))
    rows = [m.data_row() for m in c.recv_until("Z") if m.type == "D"]
    assert rows == [[("{%s}" % ORG_A).encode()]]


def test_reading_the_context_stays_allowed(tenant_db, pgward_factory, map_file):
    pw = pgward_factory(**map_settings(map_file))
    alice = connect(pw, T_ALICE)
    assert one(alice, "SHOW app.user_org_ids") == "{%s}" % ORG_A
    assert one(alice, "SELECT current_setting('app.user_id', true)") == T_ALICE
    with alice.cursor() as cur:  # other settings stay free to change
        cur.execute("SET work_mem = '8MB'; RESET work_mem; SELECT set_config('app.other', 'x', false)")
        cur.execute("DISCARD PLANS")


# ---------------------------------------------------------------- signing


def test_policies_count_only_the_signed_context(tenant_db, pgward_factory, map_file, pg):
    """Every policy reads pgward.org_ids(): through pgward the ids count; the same context set
    straight on PostgreSQL, by hand or even with alice's signature (made for another backend),
    shows nothing."""
    pw = pgward_factory(**map_settings(map_file))
    alice = connect(pw, T_ALICE)
    assert counts(alice) == SEEN_A
    assert one(alice, "SELECT pgward.org_ids()::text") == "{%s}" % ORG_A
    sig = one(alice, "SELECT current_setting('app.tenant_sig')")
    assert re.fullmatch("[0-9a-f]{64}", sig), sig
    direct = pg.connect(T_ALICE, "tenant", password=PASSWORD)
    with direct.cursor() as cur:
        cur.execute("SELECT set_config('app.user_org_ids', %s, false)", ("{%s}" % ORG_A,))
    assert context(direct) == "{%s}" % ORG_A
    assert counts(direct) == [0] * len(TABLES)
    with direct.cursor() as cur:
        cur.execute("SELECT set_config('app.user_id', %s, false), set_config('app.tenant_sig', %s, false)",
                    (T_ALICE, sig))
    assert one(direct, "SELECT pgward.org_ids()::text") == "{}"
    assert counts(direct) == [0] * len(TABLES)


def test_sql_pgward_cannot_see_cannot_switch_organizations(tenant_db, pgward_factory, map_file, pg):
    """A function that already exists in the database changes app.user_org_ids inside the
    server, where pgward's tenant_context rule cannot see it; the signature no longer matches,
    so no policy believes it, and it matches again once the session's own ids are back."""
    pg.execute("CREATE OR REPLACE FUNCTION switch_org(ids text) RETURNS text LANGUAGE sql"
               " AS $$ SELECT set_config('app.user_org_ids', ids, false) $$", dbname="tenant")
    pw = pgward_factory(**map_settings(map_file))
    alice = connect(pw, T_ALICE)
    # in one transaction: under transaction pooling the next one gets pgward's context again
    alice.cursor().execute("BEGIN")
    one(alice, "SELECT switch_org(%s)", ("{%s}" % ORG_B,))
    assert context(alice) == "{%s}" % ORG_B
    assert counts(alice) == [0] * len(TABLES)
    one(alice, "SELECT switch_org(%s)", ("{%s,%s}" % (ORG_A, ORG_B),))
    assert counts(alice) == [0] * len(TABLES)
    one(alice, "SELECT switch_org(%s)", ("{%s}" % ORG_A,))
    assert counts(alice) == SEEN_A
    alice.cursor().execute("COMMIT")


def test_without_signing_the_schema_shows_no_rows(tenant_db, pgward_factory, map_file):
    """pgward without signing_secret still sets (and protects) the context, but no policy
    counts an unsigned context: reads see nothing and writes are refused."""
    pw = pgward_factory(**map_settings(map_file, **{"tenant.signing_secret": None}))
    alice = connect(pw, T_ALICE)
    assert context(alice) == "{%s}" % ORG_A
    assert one(alice, "SELECT current_setting('app.tenant_sig', true)") is None
    assert counts(alice) == [0] * len(TABLES)
    e = refused(alice, "INSERT INTO scraped_pages (domain_id, url) VALUES (%s, 'https://acme.example/x')",
                (DOMAIN_A,))
    assert e.pgcode == "42501" and "row-level security" in e.pgerror
    with alice.cursor() as cur:
        cur.execute("UPDATE scraped_pages SET title = 'x'")
        assert cur.rowcount == 0


@pytest.mark.parametrize("dbname, secret", [
    ("tenant_nosecret", SECRET),           # pgward signs, the database holds no secret
    ("tenant", "another-secret-of-16-chars"),  # pgward signs with a secret the database lacks
])
def test_secret_mismatch_shows_no_rows(tenant_db, pgward_factory, map_file, pg, dbname, secret):
    pw = pgward_factory(**map_settings(map_file, **{"tenant.signing_secret": secret}))
    alice = connect(pw, T_ALICE, dbname=dbname)
    assert context(alice) == "{%s}" % ORG_A
    assert len(one(alice, "SELECT current_setting('app.tenant_sig')")) == 64
    assert counts(alice) == [0] * len(TABLES)
    # the rows are there: the owner, not subject to the policies, sees them
    assert pg.execute("SELECT count(*) FROM messages", dbname=dbname) == [(3,)]


def test_map_reload_on_sighup(tenant_db, pgward_factory, map_file):
    pw = pgward_factory(**map_settings(map_file))
    assert context(connect(pw, T_ALICE)) == "{%s}" % ORG_A
    map_file.write_text("%s = %s\n" % (T_ALICE, ORG_B))
    n = len(pw.log_text())
    pw.reload()
    pw.wait_log("tenant_map_reloaded", start=n)
    assert context(connect(pw, T_ALICE)) == "{%s}" % ORG_B
    assert context(connect(pw, T_BOB)) == "{}"
    map_file.write_text("%s = not-a-uuid\n" % T_ALICE)
    n = len(pw.log_text())
    pw.reload()
    pw.wait_log("tenant_map_reload_failed", start=n)
    assert context(connect(pw, T_ALICE)) == "{%s}" % ORG_B


@pytest.mark.parametrize("label", ["identity", "organization"])
def test_metrics_label_by_identity_or_organization(tenant_db, pgward_factory, map_file, label):
    """[metrics] tenant_label: the series of a tenant-context session carry its identity (the
    login role here) or its first organization id."""
    from conftest import free_port
    from test_metrics import http_get, parse_metrics, total

    port = free_port()
    pw = pgward_factory(**map_settings(map_file, **{"metrics.listen_port": port,
                                                    "metrics.tenant_label": label}))
    for user, n in ((T_ALICE, 3), (T_BOB, 2)):
        c = connect(pw, user)
        for _ in range(n):
            one(c, "SELECT 1")
        c.close()
    samples = parse_metrics(http_get(port, "/metrics")[2])
    a, b = (T_ALICE, T_BOB) if label == "identity" else (ORG_A, ORG_B)
    # psycopg2 adds its own queries at connect time; at least ours are counted, and only under
    # the expected labels
    assert total(samples, "pgward_query_duration_seconds_count", tenant=a) >= 3
    assert total(samples, "pgward_query_duration_seconds_count", tenant=b) >= 2
    other = (ORG_A, ORG_B) if label == "identity" else (T_ALICE, T_BOB)
    for name in other:
        assert total(samples, "pgward_query_duration_seconds_count", tenant=name) == 0


def test_injection_refused_by_the_server_ends_the_session(tenant_db, pgward_factory, map_file, pg):
    """When the server rejects pgward's set_config (here: EXECUTE on set_config revoked in
    that database), the client gets FATAL 58000 naming the server's error, never a session
    without its context."""
    make_db(pg, "tenant_noset")
    pg.execute("REVOKE EXECUTE ON FUNCTION set_config(text, text, boolean) FROM PUBLIC",
               dbname="tenant_noset")
    pw = pgward_factory(**map_settings(map_file))
    with pytest.raises(psycopg2.OperationalError) as e:
        connect(pw, T_ALICE, dbname="tenant_noset")
    text = str(e.value)
    assert "pgward: could not set the tenant context" in text, text
    assert "permission denied for function set_config" in text, text
    # the same role in a database that allows it still gets its context
    assert context(connect(pw, T_ALICE)) == "{%s}" % ORG_A


def test_signing_without_signing_sql_refuses_the_login(tenant_db, pgward_factory, map_file, pg):
    """signing_secret set, the database without conf/tenant/signing.sql: no pgward.claim() to
    record the checkout, so the login is refused with the server's reason, never let in with a
    context that could not be bound."""
    pg.execute("DROP DATABASE IF EXISTS tenant_unsigned WITH (FORCE)")
    pg.execute("CREATE DATABASE tenant_unsigned")
    pw = pgward_factory(**map_settings(map_file))
    with pytest.raises(psycopg2.OperationalError) as e:
        connect(pw, T_ALICE, dbname="tenant_unsigned")
    text = str(e.value)
    assert "pgward: could not set the tenant context" in text, text
    assert 'schema "pgward" does not exist' in text, text


@pytest.mark.parametrize("signing", [True, False], ids=["signed", "unsigned"])
@pytest.mark.parametrize("pooled", [False, True], ids=["one-server-per-client", "transaction-pooled"])
def test_a_function_named_set_config_never_writes_the_context(tenant_db, pgward_factory, map_file, pg,
                                                              signing, pooled):
    """Goal of alice: have pgward's own context statement call a set_config() of a schema she
    can create in, by putting that schema before pg_catalog in her search_path (a startup
    option, or a SET that follows her to every server), so that it writes Globex's
    organizations instead of hers. pgward calls pg_catalog.set_config(): her context is
    Acme's, in a new session and after her SET on every later transaction."""
    pg.execute("CREATE SCHEMA IF NOT EXISTS evil; GRANT USAGE ON SCHEMA evil TO PUBLIC; "
               "CREATE OR REPLACE FUNCTION evil.set_config(text, text, boolean) RETURNS text "
               "LANGUAGE sql AS $$SELECT pg_catalog.set_config($1, CASE WHEN $1 = 'app.user_org_ids' "
               "THEN '{%s}' ELSE $2 END, $3)$$" % ORG_B, dbname="tenant")
    try:
        settings = map_settings(map_file, **({} if signing else {"tenant.signing_secret": None}))
        if pooled:
            import authkit
            ul = authkit.write_userlist(map_file.parent / "users.txt", {T_ALICE: PASSWORD})
            settings.update({"auth_type": "scram-sha-256", "auth_file": ul, "pool_mode": "transaction",
                             "default_pool_size": "1"})
        pw = pgward_factory(**settings)
        alice = connect(pw, T_ALICE, options="-c search_path=evil,pg_catalog")
        assert one(alice, "SHOW search_path").replace(" ", "") == "evil,pg_catalog"
        assert context(alice) == "{%s}" % ORG_A
        alice.autocommit = True
        alice.cursor().execute("SET search_path = evil, pg_catalog, public")
        for _ in range(3):
            assert context(alice) == "{%s}" % ORG_A
        if signing:
            assert counts(alice) == SEEN_A
    finally:
        pg.execute("DROP SCHEMA evil CASCADE", dbname="tenant")
