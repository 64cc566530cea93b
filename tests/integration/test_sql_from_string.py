"""SQL pgward cannot see, in a session with a tenant context, through a real PostgreSQL with the
example schema of conf/tenant/: built-ins that run SQL given as text (query_to_xml, ts_stat,
ts_rewrite, ...), the same by OID over the FunctionCall protocol, functions, procedures and DO
blocks the session would create, definitions that call set_config or such a built-in later
(an aggregate, an operator, a default), casts that cut a setting's name, and NOTIFY on pgward's
invalidation channel. Each attack is first run straight on PostgreSQL, where it does change
app.user_org_ids; through pgward, in the simple and the extended protocol, the client gets
42501 naming the function or rule, and afterwards app.user_org_ids is still the value pgward
set, in the same session and in a new one, and row-level security shows only the tenant's
rows. Large objects (fast-path FunctionCall) keep working, and so do LISTEN and NOTIFY on
other channels."""

import select
import time

import psycopg2
import pytest

import pgwire
from conftest import ROOT

CONF = ROOT / "conf" / "tenant"
DB = "tenant_sfs"
ORG_A = "11111111-1111-4111-8111-111111111111"
ORG_B = "22222222-2222-4222-8222-222222222222"
PASSWORD = "sfs-secret"
SECRET = "0123456789abcdef-sfs-signing"
ALICE, MIGRATOR = "sfs_alice", "sfs_migrator"
CHANNEL = "pgward_tenant_changed"
FORGED = "{%s}" % ORG_B  # what every attack tries to set
OWN = "{%s}" % ORG_A  # what pgward sets for ALICE


@pytest.fixture(scope="module")
def sfs_db(pg):
    for role in (ALICE, MIGRATOR):
        pg.execute("DROP ROLE IF EXISTS %s; CREATE ROLE %s LOGIN PASSWORD '%s'" % (role, role, PASSWORD))
    pg.execute("DROP DATABASE IF EXISTS %s WITH (FORCE)" % DB)
    pg.execute("CREATE DATABASE %s" % DB)
    sql = "".join((CONF / f).read_text() for f in ("signing.sql", "schema.sql", "notify.sql", "seed.sql"))
    sql += "INSERT INTO pgward.secret VALUES ('%s');" % SECRET
    pg.execute(sql, dbname=DB)
    return DB


@pytest.fixture
def pw(sfs_db, pgward_factory, tmp_path):
    """pgward with the tenant context of ALICE and MIGRATOR from a map file; MIGRATOR is in
    [guard] function_roles."""
    m = tmp_path / "orgs.map"
    m.write_text("%s = %s\n%s = %s\n" % (ALICE, ORG_A, MIGRATOR, ORG_A))
    return pgward_factory(**{"tenant.mode": "on", "tenant.source": "map", "tenant.map_file": m,
                             "tenant.signing_secret": SECRET, "guard.function_roles": MIGRATOR})


def connect(endpoint, user=ALICE):
    return endpoint.connect(user, DB, password=PASSWORD)


def one(conn, sql, params=None):
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchone()[0]


CONTEXT = "SELECT current_setting('app.user_org_ids')"
# Row-level security: the organizations whose domains the session sees.
SEEN = "SELECT string_agg(DISTINCT organization_id::text, ',') FROM domains"


def assert_untouched(pw, raw=None, conn=None):
    """The context is pgward's and RLS shows ALICE's organization only: in the session that
    attacked (raw protocol or psycopg2) and in a new one."""
    if raw is not None:
        assert raw.scalar(CONTEXT) == OWN
        assert raw.scalar(SEEN) == ORG_A
    if conn is not None:
        assert one(conn, CONTEXT) == OWN
        assert one(conn, SEEN) == ORG_A
    fresh = connect(pw)
    assert one(fresh, CONTEXT) == OWN
    assert one(fresh, SEEN) == ORG_A


def refused_simple(conn, sql):
    with pytest.raises(psycopg2.Error) as e:
        with conn.cursor() as cur:
            cur.execute(sql)
    return e.value


def run_rest(conn, statements):
    """What the attacker sends next (calling what it tried to create): whatever the server
    answers, the context must not change."""
    for sql in statements:
        try:
            with conn.cursor() as cur:
                cur.execute(sql)
        except psycopg2.Error:
            pass


def extended(c, sql, params=()):
    """Parse/Bind/Execute/Sync; the ErrorResponses of the batch."""
    c.send(pgwire.parse("", sql), pgwire.bind("", "", params), pgwire.execute(), pgwire.sync())
    return [m for m in c.recv_until("Z") if m.type == "E"]


def q(s):
    return s.replace("'", "''")


SET_FORGED = "set_config('app.user_org_ids', '%s', false)" % FORGED

# id, the attacker's goal, statements (the first is refused), rule, words of the message,
# whether the statements change the context when run straight on PostgreSQL
ATTACKS = [
    ("query_to_xml",
     "run set_config inside the query text query_to_xml executes, where pgward's parser never looks",
     ["SELECT query_to_xml('SELECT %s', true, true, '')" % q(SET_FORGED)],
     "sql_from_string", "query_to_xml()", True),
    ("query_to_xmlschema",
     "have the server plan a query text pgward never parsed (planning may run stable functions)",
     ["SELECT query_to_xmlschema('SELECT %s', true, true, '')" % q(SET_FORGED)],
     "sql_from_string", "query_to_xmlschema()", False),
    ("query_to_xml_and_xmlschema",
     "run set_config inside the query text query_to_xml_and_xmlschema executes",
     ["SELECT pg_catalog.QUERY_TO_XML_AND_XMLSCHEMA('SELECT %s', true, true, '')" % q(SET_FORGED)],
     "sql_from_string", "query_to_xml_and_xmlschema()", True),
    ("ts_stat",
     "run set_config inside the query whose tsvectors ts_stat counts",
     ["SELECT * FROM ts_stat('SELECT to_tsvector(%s)')" % q(SET_FORGED)],
     "sql_from_string", "ts_stat()", True),
    ("ts_stat_weights",
     "the same through ts_stat's two-argument form",
     ["SELECT * FROM \"ts_stat\"('SELECT to_tsvector(%s)', 'a')" % q(SET_FORGED)],
     "sql_from_string", "ts_stat()", True),
    ("ts_stat_attribute_notation",
     "call ts_stat as a field of its text argument, (text).ts_stat, with no call syntax",
     ["SELECT ('SELECT to_tsvector(%s)'::text).ts_stat" % q(SET_FORGED)],
     "sql_from_string", "(...).ts_stat", True),
    ("ts_rewrite",
     "run set_config inside the query ts_rewrite(tsquery, text) reads its rewrite rules from",
     ["SELECT ts_rewrite('a'::tsquery, 'SELECT ''a''::tsquery, ''b''::tsquery FROM (SELECT %s) s')"
      % q(SET_FORGED)],
     "sql_from_string", "ts_rewrite()", True),
    ("query_to_xml_in_cte",
     "hide query_to_xml in a CTE of an ordinary-looking SELECT",
     ["WITH x AS (SELECT query_to_xml('SELECT %s', true, true, '') AS v) SELECT count(*) FROM x"
      % q(SET_FORGED)],
     "sql_from_string", "query_to_xml()", True),
    ("view_over_query_to_xml",
     "define a temporary view over query_to_xml, then read the view",
     ["CREATE TEMP VIEW leak AS SELECT query_to_xml('SELECT %s', true, true, '') AS v" % q(SET_FORGED),
      "SELECT * FROM leak"],
     "sql_from_string", "query_to_xml()", True),
    ("operator_over_ts_rewrite",
     "create an operator whose function is ts_rewrite, then run SQL as its right operand",
     ["CREATE OPERATOR pg_temp.@@@ (LEFTARG = tsquery, RIGHTARG = text, FUNCTION = ts_rewrite)",
      "SELECT 'a'::tsquery OPERATOR(pg_temp.@@@) 'SELECT ''a''::tsquery, ''b''::tsquery FROM (SELECT %s) s'"
      % q(SET_FORGED)],
     "sql_from_string", "CREATE OPERATOR naming ts_rewrite", True),
    ("aggregate_over_set_config",
     "create an aggregate whose state function is set_config and whose state names the setting",
     ["CREATE AGGREGATE pg_temp.sc(text, boolean) (SFUNC = set_config, STYPE = text, "
      "INITCOND = 'app.user_org_ids')",
      "SELECT pg_temp.sc('%s', false)" % FORGED],
     "tenant_context", "CREATE AGGREGATE naming set_config", True),
    ("default_calls_set_config",
     "a temporary table's column default that calls set_config on every INSERT",
     ["CREATE TEMP TABLE leak (v text DEFAULT %s)" % SET_FORGED, "INSERT INTO leak DEFAULT VALUES"],
     "tenant_context", "app.user_org_ids", True),
    ("cast_cuts_the_name",
     "a name pgward reads as app.user_org_idsX, cut by varchar(16) to app.user_org_ids",
     ["SELECT set_config('app.user_org_idsX'::varchar(16), '%s', false)" % FORGED],
     "tenant_context", "non-constant name", True),
    ("domain_shadows_text",
     "a temporary domain named text that cuts 'app.user_org_idsX'::text to app.user_org_ids",
     ["CREATE DOMAIN pg_temp.text AS varchar(16)",
      "SELECT set_config('app.user_org_idsX'::text, '%s', false)" % FORGED],
     "tenant_context", "shadow pg_catalog.text", True),
    ("sql_function_in_pg_temp",
     "create a SQL function in pg_temp (any role may) whose body calls set_config, then call it",
     ["CREATE FUNCTION pg_temp.switch() RETURNS text LANGUAGE sql AS $$ SELECT %s $$" % SET_FORGED,
      "SELECT pg_temp.switch()"],
     "create_function", "CREATE FUNCTION pg_temp.switch", True),
    ("plpgsql_function_in_pg_temp",
     "the same with a plpgsql body, which no parser of pgward's reads",
     ["CREATE OR REPLACE FUNCTION pg_temp.switch2() RETURNS void LANGUAGE plpgsql AS "
      "$$ BEGIN PERFORM %s; END $$" % SET_FORGED,
      "SELECT pg_temp.switch2()"],
     "create_function", "CREATE OR REPLACE FUNCTION pg_temp.switch2", True),
    ("procedure_in_pg_temp",
     "a procedure in pg_temp, called with CALL",
     ["CREATE PROCEDURE pg_temp.switch3() LANGUAGE sql AS $$ SELECT %s $$" % SET_FORGED,
      "CALL pg_temp.switch3()"],
     "create_function", "CREATE PROCEDURE pg_temp.switch3", True),
    ("do_block",
     "a DO block, whose body pgward cannot read",
     ["DO $$ BEGIN PERFORM %s; END $$" % SET_FORGED],
     "do_block", "DO is not allowed", True),
]
IDS = [a[0] for a in ATTACKS]


@pytest.mark.parametrize("name, goal, statements, rule, words, works", ATTACKS, ids=IDS)
def test_attack_works_straight_on_postgresql(sfs_db, pg, name, goal, statements, rule, words, works):
    """The attacks are real: straight on PostgreSQL, as the same unprivileged role, each one
    (but query_to_xmlschema, which only plans its query) changes app.user_org_ids."""
    direct = connect(pg)
    one(direct, "SELECT set_config('app.user_org_ids', %s, false)", (OWN,))
    run_rest(direct, statements)
    assert one(direct, CONTEXT) == (FORGED if works else OWN), goal


@pytest.mark.parametrize("name, goal, statements, rule, words, works", ATTACKS, ids=IDS)
def test_attack_refused_simple_protocol(pw, name, goal, statements, rule, words, works):
    """Each attack in the simple protocol: the first statement is refused with 42501 naming
    the function or rule; the rest (calling what it created) changes nothing."""
    alice = connect(pw)
    assert one(alice, CONTEXT) == OWN
    e = refused_simple(alice, statements[0])
    assert e.pgcode == "42501", (goal, e.pgerror)
    assert "(rule %s)" % rule in e.pgerror, e.pgerror
    assert words in e.pgerror, e.pgerror
    assert e.diag.message_hint, e.pgerror
    run_rest(alice, statements[1:])
    assert_untouched(pw, conn=alice)


@pytest.mark.parametrize("name, goal, statements, rule, words, works", ATTACKS, ids=IDS)
def test_attack_refused_extended_protocol(pw, name, goal, statements, rule, words, works):
    """Each attack as Parse/Bind/Execute/Sync: one ErrorResponse (42501, the rule) and the
    batch skipped to Sync; the statements after it run as their own batches."""
    c = pw.raw_session(ALICE, DB, password=PASSWORD)
    errors = extended(c, statements[0])
    assert len(errors) == 1, goal
    fields = errors[0].fields()
    assert fields["C"] == "42501", fields
    assert "(rule %s)" % rule in fields["M"] and words in fields["M"], fields["M"]
    for sql in statements[1:]:
        extended(c, sql)
    assert_untouched(pw, raw=c)


def test_multi_statement_query_runs_none(pw):
    """Attacker's goal: slip the refused statement behind harmless ones in one Query. pgward
    refuses the whole Query: the INSERT before it does not run either."""
    alice = connect(pw)
    run_rest(alice, ["CREATE TEMP TABLE seen (n int)"])
    e = refused_simple(alice, "INSERT INTO seen VALUES (1); SELECT * FROM ts_stat('SELECT to_tsvector(%s)')"
                       % q(SET_FORGED))
    assert e.pgcode == "42501" and "(rule sql_from_string)" in e.pgerror
    assert one(alice, "SELECT count(*) FROM seen") == 0
    assert_untouched(pw, conn=alice)


def test_same_names_as_data_pass(pw):
    """Not an attack: the names as column aliases, in string literals and comments, the
    tsquery-only ts_rewrite and the xml functions that take no query text all still run."""
    alice = connect(pw)
    with alice.cursor() as cur:
        cur.execute("SELECT 1 AS query_to_xml, 2 AS ts_stat, 'SELECT query_to_xml(''x'')' AS t"
                    " /* ts_stat('SELECT 1') */ -- pg_notify('pgward_tenant_changed', '*')")
        assert cur.fetchone() == (1, 2, "SELECT query_to_xml('x')")
        cur.execute("SELECT s.ts_stat FROM (SELECT 7 AS ts_stat) s")
        assert cur.fetchone() == (7,)
        cur.execute("SELECT ts_rewrite('a & b'::tsquery, 'a'::tsquery, 'c'::tsquery)::text")
        assert cur.fetchone() == ("'b' & 'c'",)
        cur.execute("SELECT table_to_xml('domains'::regclass, true, true, '')::text LIKE '%acme.example%'")
        assert cur.fetchone() == (True,)
    assert_untouched(pw, conn=alice)


def test_function_roles_may_create_functions(pw):
    """[guard] function_roles: the migration role listed there, with a tenant context too,
    creates functions and runs DO blocks; ALICE in the same pgward may not."""
    mig = connect(pw, MIGRATOR)
    with mig.cursor() as cur:
        cur.execute("CREATE FUNCTION pg_temp.two() RETURNS int LANGUAGE sql AS 'SELECT 2'")
        cur.execute("SELECT pg_temp.two()")
        assert cur.fetchone() == (2,)
        cur.execute("DO $$ BEGIN PERFORM 1; END $$")
    e = refused_simple(connect(pw), "CREATE FUNCTION pg_temp.two() RETURNS int LANGUAGE sql AS 'SELECT 2'")
    assert e.pgcode == "42501" and 'role "%s"' % ALICE in e.pgerror
    # query_to_xml stays refused for the listed role: it is not function creation
    e = refused_simple(mig, "SELECT query_to_xml('SELECT 1', true, true, '')")
    assert "(rule sql_from_string)" in e.pgerror


# ---------------------------------------------------------------- FunctionCall


def function_call(c, oid, args):
    c.send(pgwire.function_call(oid, args, [0], result_format=0))
    return c.recv_until("Z")


def test_function_call_runs_query_to_xml_straight_on_postgresql(sfs_db, pg):
    """The fast-path attack is real: FunctionCall of query_to_xml (OID 2924) by a plain role
    runs its query text, set_config included."""
    c = pg.raw_session(ALICE, DB, password=PASSWORD)
    c.simple("SELECT set_config('app.user_org_ids', '%s', false)" % OWN)
    msgs = function_call(c, 2924, ["SELECT " + SET_FORGED, "true", "true", ""])
    assert [m.type for m in msgs] == ["V", "Z"]
    assert c.scalar(CONTEXT) == FORGED


@pytest.mark.parametrize("oid, name", [(2924, "query_to_xml"), (2930, "query_to_xml_and_xmlschema"),
                                       (2078, "set_config"), (3036, "pg_notify"), (177, None)],
                         ids=["query_to_xml", "query_to_xml_and_xmlschema", "set_config", "pg_notify",
                              "int4pl"])
def test_function_call_refused(pw, oid, name):
    """Attacker's goal: call, by OID over the FunctionCall protocol, a function that runs SQL
    or changes settings, with no SQL text for pgward to parse. Only the large-object functions
    pass; the refusal names the OID, and the function when pgward knows it."""
    c = pw.raw_session(ALICE, DB, password=PASSWORD)
    args = {2924: ["SELECT " + SET_FORGED, "true", "true", ""],
            2930: ["SELECT " + SET_FORGED, "true", "true", ""],
            2078: ["app.user_org_ids", FORGED, "false"],
            3036: [CHANNEL, "*"],
            177: ["1", "2"]}[oid]
    msgs = function_call(c, oid, args)
    assert [m.type for m in msgs] == ["E", "Z"]
    f = msgs[0].fields()
    assert f["C"] == "42501" and "(rule function_call)" in f["M"], f
    assert "OID %d" % oid in f["M"], f["M"]
    if name:
        assert "calling %s (OID" % name in f["M"], f["M"]
    assert_untouched(pw, raw=c)


def test_large_objects_still_work(pw):
    """libpq's large-object API (psycopg2's lobject: lo_create, lo_open, lowrite, loread,
    lo_lseek64, lo_tell64, lo_truncate64, lo_close, lo_unlink over FunctionCall) works for a
    session with a tenant context."""
    alice = connect(pw)
    alice.autocommit = False
    data = bytes(range(256)) * 500
    lo = alice.lobject(0, "wb")
    oid = lo.oid
    assert lo.write(data) == len(data)
    lo.close()
    alice.commit()
    lo = alice.lobject(oid, "rwb")
    assert lo.read() == data
    lo.seek(1000)
    assert lo.tell() == 1000
    assert lo.read(4) == data[1000:1004]
    lo.truncate(2000)
    lo.seek(0, 2)
    assert lo.tell() == 2000
    lo.close()
    lo = alice.lobject(oid, "rb")
    lo.unlink()
    alice.commit()
    alice.autocommit = True
    assert one(alice, "SELECT count(*) FROM pg_largeobject_metadata WHERE oid = %s", (oid,)) == 0
    assert_untouched(pw, conn=alice)


# ---------------------------------------------------------------- NOTIFY on the channel


def notified(listener, timeout):
    """Notifications a direct listener received within <timeout> seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if select.select([listener], [], [], max(0.0, deadline - time.monotonic()))[0]:
            listener.poll()
            if listener.notifies:
                break
    got = [(n.channel, n.payload) for n in listener.notifies]
    listener.notifies.clear()
    return got


@pytest.fixture
def listener(sfs_db, pg):
    """A session straight on PostgreSQL listening on the channel, as every pgward does."""
    conn = pg.connect(dbname=DB)
    with conn.cursor() as cur:
        cur.execute("LISTEN %s; LISTEN jobs" % CHANNEL)
    return conn


NOTIFIES = [
    ("NOTIFY %s, '*'" % CHANNEL, (), "NOTIFY %s" % CHANNEL),
    ("notify PGWARD_Tenant_Changed, '*'", (), "NOTIFY %s" % CHANNEL),
    ("NOTIFY \"%s\", '*'" % CHANNEL, (), "NOTIFY %s" % CHANNEL),
    ("SELECT pg_notify('%s', '*')" % CHANNEL, (), "pg_notify('%s')" % CHANNEL),
    ("SELECT 1 FROM (SELECT pg_catalog.pg_notify('%s', '*')) s" % CHANNEL, (), "pg_notify('%s')" % CHANNEL),
    ("SELECT pg_notify(lower('PGWARD_TENANT_CHANGED'), '*')", (), "not a constant"),
    ("SELECT pg_notify($1, '*')", (CHANNEL,), "not a constant"),
]


@pytest.mark.parametrize("sql, params, words", NOTIFIES, ids=[n[0] for n in NOTIFIES])
def test_notify_on_the_channel_refused(pw, listener, sql, params, words):
    """Attacker's goal: NOTIFY pgward's invalidation channel with payload '*', emptying the
    lookup cache of every pgward instance (each one LISTENs on it). Refused with 42501 in both
    protocols; nothing reaches the server's listeners."""
    if not params:
        alice = connect(pw)
        e = refused_simple(alice, sql)
        assert e.pgcode == "42501" and "(rule notify_channel)" in e.pgerror, e.pgerror
        assert words in e.pgerror, e.pgerror
    c = pw.raw_session(ALICE, DB, password=PASSWORD)
    errors = extended(c, sql, params)
    assert len(errors) == 1 and errors[0].sqlstate == "42501"
    assert words in errors[0].fields()["M"]
    assert notified(listener, 0.5) == []
    assert_untouched(pw, raw=c)


def test_notify_other_channels_and_listen_still_work(pw, listener):
    """Not an attack: NOTIFY and pg_notify on another channel reach their listeners, a channel
    that only looks like pgward's (pg_notify is case-sensitive) is another channel, and a
    tenant session may LISTEN on pgward's channel."""
    alice = connect(pw)
    with alice.cursor() as cur:
        cur.execute("NOTIFY jobs, 'one'")
        cur.execute("SELECT pg_notify('jobs', 'two'), pg_notify('PGWARD_TENANT_CHANGED', 'x')")
        cur.execute("LISTEN %s" % CHANNEL)
    got = []
    deadline = time.monotonic() + 5
    while len(got) < 2 and time.monotonic() < deadline:
        got += notified(listener, 0.5)
    assert got == [("jobs", "one"), ("jobs", "two")]
