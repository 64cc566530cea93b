"""The unsafe-statement guard ([guard]) through a real PostgreSQL: every rule refused with 42501,
a message naming the rule and the statement, and a hint; nothing of a refused text runs; the
exempt role and detect mode let statements through; transaction state and pipelining as after
a server error; text invalid in its encoding and ALTER SYSTEM of how text reads refused for
every role."""

import subprocess
from pathlib import Path

import pytest

import pgwire
from conftest import MD5_USER, MD5_PASSWORD, SUPERUSER

# rules = all for every role but the MD5 user, who plays the migration role.
GUARD = {"guard.rules": "all", "guard.role_rules": "%s: drop_database" % MD5_USER}

SETUP = """
DROP TABLE IF EXISTS gt_child, gt CASCADE;
CREATE TABLE gt (id int PRIMARY KEY, v text);
CREATE TABLE gt_child (id int REFERENCES gt(id));
INSERT INTO gt SELECT g, 'v' || g FROM generate_series(1, 5) g;
CREATE SCHEMA IF NOT EXISTS gt_schema;
CREATE INDEX IF NOT EXISTS gt_v ON gt (v);
"""

RULES = [
    ("drop_table", 'DROP TABLE "gt_child"'),
    ("drop_schema", "DROP SCHEMA gt_schema"),
    ("drop_database", "DROP DATABASE nosuchdb"),
    ("truncate", "TRUNCATE public.gt_child"),
    ("delete_without_where", "WITH d AS (DELETE FROM gt RETURNING *) SELECT count(*) FROM d"),
    ("update_without_where", "update GT set v = 'x'"),
    ("alter_drop_column", "ALTER TABLE gt DROP COLUMN v"),
    ("alter_drop_constraint", "ALTER TABLE gt_child DROP CONSTRAINT gt_child_id_fkey"),
    ("alter_column_type", "ALTER TABLE gt ALTER COLUMN v TYPE varchar(10)"),
    ("create_index_blocking", "CREATE INDEX gt_v2 ON gt (v)"),
    ("drop_index_blocking", "DROP INDEX gt_v"),
    ("set_role", "SET ROLE %s" % MD5_USER),
    ("row_security_off", "SET row_security = off"),
    ("cascade", "DROP TABLE gt CASCADE"),
    ("grant_revoke", "GRANT SELECT ON gt TO PUBLIC"),
    ("alter_system", "ALTER SYSTEM SET work_mem = '8MB'"),
    ("do_block", "DO $$ BEGIN DELETE FROM gt; END $$"),
]


@pytest.fixture
def guarded(pg, pgward_factory):
    pg.execute(SETUP)
    return pgward_factory(**GUARD)


def session(pw, user=SUPERUSER, password=None):
    c = pw.raw()
    c.startup(user, "postgres", password=password)
    return c


def gt_state(pg):
    return subprocess.run(
        ["psql", "-X", "-At", "-h", pg.host, "-p", str(pg.port), "-U", SUPERUSER, "-d", "postgres", "-c",
         "SELECT (SELECT count(*) FROM gt) || ',' || (SELECT count(*) FROM gt WHERE v LIKE 'v%') || ',' || "
         "(SELECT count(*) FROM pg_indexes WHERE indexname = 'gt_v') || ',' || "
         "(SELECT count(*) FROM information_schema.tables WHERE table_name = 'gt_child')"],
        check=True, capture_output=True).stdout.decode().strip()


@pytest.mark.parametrize("rule,sql", RULES, ids=[r for r, _ in RULES])
def test_rule_refused_and_nothing_ran(pg, pgward_factory, rule, sql):
    pg.execute(SETUP)
    # Each rule alone, so a statement that breaks several (DROP ... CASCADE) names this one.
    pw = pgward_factory(**{"guard.rules": rule})
    before = gt_state(pg)
    c = session(pw)
    msgs = c.simple(sql)
    assert pgwire.types(msgs) == "EZ", pgwire.types(msgs)
    f = msgs[0].fields()
    assert f["C"] == "42501", f
    assert "(rule %s)" % rule in f["M"], f["M"]
    assert 'for role "%s"' % SUPERUSER in f["M"]
    assert f.get("H"), f
    assert msgs[-1].ready_status() == "I"
    assert gt_state(pg) == before
    assert c.scalar("SELECT 'usable'") == "usable"


def test_where_clause_and_concurrently_pass(guarded, pg):
    c = session(guarded)
    msgs = c.simple("UPDATE gt SET v = v WHERE v IS NOT DISTINCT FROM v")
    assert [m.command_tag() for m in msgs if m.type == "C"] == ["UPDATE 5"]
    msgs = c.simple("CREATE INDEX CONCURRENTLY gt_v3 ON gt (v)")
    assert [m.command_tag() for m in msgs if m.type == "C"] == ["CREATE INDEX"]
    msgs = c.simple("DROP INDEX CONCURRENTLY gt_v3")
    assert [m.command_tag() for m in msgs if m.type == "C"] == ["DROP INDEX"]


def test_migration_role_gets_only_its_rules(guarded, pg):
    c = session(guarded, MD5_USER, MD5_PASSWORD)
    pg.execute("GRANT ALL ON gt, gt_child TO %s" % MD5_USER)
    msgs = c.simple("DELETE FROM gt_child")
    assert [m.command_tag() for m in msgs if m.type == "C"] == ["DELETE 0"]
    msgs = c.simple("DROP DATABASE nosuchdb")
    assert msgs[0].fields()["C"] == "42501" and "(rule drop_database)" in msgs[0].fields()["M"]


def test_multi_statement_query_runs_none(guarded, pg):
    c = session(guarded)
    msgs = c.simple("INSERT INTO gt VALUES (100, 'new'); DROP TABLE gt_child")
    assert pgwire.types(msgs) == "EZ"
    assert "(rule drop_table)" in msgs[0].fields()["M"]
    assert c.scalar("SELECT count(*) FROM gt WHERE id = 100") == "0"


def test_refusal_inside_transaction_fails_it(guarded, pg):
    c = session(guarded)
    c.simple("BEGIN")
    c.simple("INSERT INTO gt VALUES (101, 'in tx')")
    msgs = c.simple("TRUNCATE gt_child")
    assert msgs[0].fields()["C"] == "42501" and msgs[-1].ready_status() == "E"
    msgs = c.simple("COMMIT")
    assert [m.command_tag() for m in msgs if m.type == "C"] == ["ROLLBACK"]
    assert c.scalar("SELECT count(*) FROM gt WHERE id = 101") == "0"


def test_extended_protocol_parse_refused_in_pipeline(guarded, pg):
    c = session(guarded)
    c.send(pgwire.parse("", "SELECT 1"), pgwire.bind("", ""), pgwire.execute(),
           pgwire.parse("del", "DELETE FROM gt"), pgwire.bind("", "del"), pgwire.execute(),
           pgwire.sync())
    msgs = c.recv_until("Z")
    assert pgwire.types(msgs) == "12DCEZ", pgwire.types(msgs)
    assert "(rule delete_without_where)" in msgs[4].fields()["M"]
    # The refused statement was never prepared on the server.
    c.send(pgwire.bind("", "del"), pgwire.execute(), pgwire.sync())
    msgs = c.recv_until("Z")
    assert msgs[0].fields()["C"] == "26000"
    assert c.scalar("SELECT count(*) FROM gt") == "5"


def test_libpq_client_sees_the_refusal(guarded):
    conn = guarded.connect()
    with conn.cursor() as cur:
        with pytest.raises(Exception) as e:
            cur.execute("DELETE FROM gt")
        assert e.value.pgcode == "42501"
        assert "rule delete_without_where" in str(e.value)
        cur.execute("SELECT count(*) FROM gt")
        assert cur.fetchone() == (5,)


def test_detect_mode_lets_it_through_and_logs(pg, pgward_factory):
    pg.execute(SETUP)
    pw = pgward_factory(**dict(GUARD, **{"guard.mode": "detect"}))
    c = session(pw)
    msgs = c.simple("DELETE FROM gt_child")
    assert [m.command_tag() for m in msgs if m.type == "C"] == ["DELETE 0"]
    assert pw.wait_log(r"event=guard_detect .*rule=delete_without_where")


def test_encoding_and_string_settings_allowed_invalid_text_refused(pg, pgward_factory):
    """Other encodings and standard_conforming_strings off are read as the server reads them
    (test_text_form.py), so they are allowed; ALTER SYSTEM of them, text invalid in the
    session's encoding and statements too deep to inspect are refused for every role."""
    pw = pgward_factory(**{"guard.rules": "none"})
    c = session(pw)
    for sql in ("SET client_encoding = 'SJIS'", "SELECT set_config('client_encoding', 'BIG5', false)",
                "SET standard_conforming_strings = off"):
        assert not [m for m in c.simple(sql) if m.type == "E"], sql
    assert c.scalar("SHOW client_encoding") == "BIG5"
    assert c.scalar("SHOW standard_conforming_strings") == "off"
    msgs = c.simple("ALTER SYSTEM SET standard_conforming_strings = off")
    assert msgs[0].fields()["C"] == "42501" and "(rule text_form_unseen)" in msgs[0].fields()["M"]
    c = session(pw)
    c.send(pgwire.message("Q", b"SELECT '\xc3\x28'\0"))
    msgs = c.recv_until("Z")
    assert msgs[0].fields()["C"] == "22021" and "(rule encoding)" in msgs[0].fields()["M"]
    # Too deeply nested to inspect: refused, and pgward is fine.
    msgs = c.simple("UPDATE gt SET v = 'x' WHERE id = " + "1+" * 30000 + "1")
    assert msgs[0].fields()["C"] == "54001"
    assert c.scalar("SELECT 'alive'") == "alive"


def test_pgbench_through_the_guard(pg, pgward_factory):
    pw = pgward_factory(**{"guard.rules": "all", "guard.role_rules": "%s: none" % SUPERUSER})
    base = ["pgbench", "-h", pw.host, "-p", str(pw.port), "-U", SUPERUSER]
    subprocess.run(base + ["-i", "-s", "1", "-q", "postgres"], check=True, capture_output=True)
    pw2 = pgward_factory(**{"guard.rules": "all"})
    for mode in ("simple", "prepared"):
        r = subprocess.run(["pgbench", "-h", pw2.host, "-p", str(pw2.port), "-U", SUPERUSER, "-M", mode,
                            "-c", "4", "-j", "2", "-T", "2", "-n", "postgres"], capture_output=True)
        out = r.stdout.decode()
        assert r.returncode == 0, r.stderr.decode()
        assert "number of failed transactions: 0" in out


@pytest.mark.parametrize("params,setting,shown", [
    ({"client_encoding": "SJIS"}, "client_encoding", "SJIS"),
    ({"options": "-c client_encoding=BIG5"}, "client_encoding", "BIG5"),
    ({"options": "-c standard_conforming_strings=off"}, "standard_conforming_strings", "off"),
    ({"options": "--standard-conforming-strings=off"}, "standard_conforming_strings", "off"),
])
def test_startup_settings_that_change_lexing_are_followed(pgward, params, setting, shown):
    c = pgward.raw()
    c.startup(SUPERUSER, "postgres", params=params)
    assert c.scalar("SHOW %s" % setting) == shown


def test_fastpath_set_config_refused_large_objects_still_work(pgward):
    c = pgward.raw()
    c.startup(SUPERUSER, "postgres")
    c.send(pgwire.function_call(2078, args=["standard_conforming_strings", "off", "false"],
                                arg_formats=[0], result_format=0))
    msgs = c.recv_until("Z")
    assert pgwire.types(msgs) == "EZ"
    f = msgs[0].fields()
    assert f["C"] == "42501" and "(rule function_call)" in f["M"]
    assert c.scalar("SHOW standard_conforming_strings") == "on"
    # Other fastpath calls (libpq's large-object API uses them) go through: lo_creat(-1).
    c.send(pgwire.function_call(957, args=[b"\xff\xff\xff\xff"], arg_formats=[1], result_format=1))
    msgs = c.recv_until("Z")
    assert pgwire.types(msgs) == "VZ", pgwire.types(msgs)


@pytest.mark.parametrize("action", ["forward", "refuse"])
def test_on_parse_error(pg, pgward_factory, action):
    pw = pgward_factory(**{"guard.rules": "all", "guard.on_parse_error": action})
    c = session(pw)
    # A text with a rule keyword is parsed; PostgreSQL 15's grammar has no such statement.
    msgs = c.simple("DROP TABLE gt WITH (force)")
    f = msgs[0].fields()
    assert pgwire.types(msgs) == "EZ" and f["C"] == "42601", f
    if action == "forward":
        assert f["M"] == 'syntax error at or near "WITH"', f  # the server's own error
        assert "pgward" not in f["M"]
    else:
        assert f["M"] == 'pgward: cannot parse the statement: syntax error at or near "WITH" ' \
                         '(rule parse_error)', f
        assert f.get("H")
    # Extended protocol too, and the session goes on.
    c.send(pgwire.parse("", "ALTER TABLE gt DROP COLUM v"), pgwire.bind("", ""), pgwire.execute(),
           pgwire.sync())
    msgs = c.recv_until("Z")
    assert pgwire.types(msgs) == "EZ" and msgs[0].fields()["C"] == "42601"
    assert ("rule parse_error" in msgs[0].fields()["M"]) == (action == "refuse")
    assert c.scalar("SELECT 'usable'") == "usable"


def test_psql_shows_the_refusal(guarded, pg):
    r = guarded.psql("-c", "DELETE FROM gt", check=False)
    err = r.stderr.decode()
    assert r.returncode != 0
    assert 'ERROR:  pgward: DELETE FROM gt is not allowed for role "postgres" (rule delete_without_where)' \
        in err, err
    assert "HINT:  Add a WHERE clause" in err, err
    assert guarded.psql("-c", "SELECT count(*) FROM gt").stdout.decode().strip() == "5"


def test_detect_mode_counts_are_logged(pg, pgward_factory):
    pg.execute(SETUP)
    pw = pgward_factory(**dict(GUARD, **{"guard.mode": "detect"}))
    c = session(pw)
    for _ in range(3):
        c.simple("DELETE FROM gt_child")
    c.simple("TRUNCATE gt_child")
    pw.reload()
    assert pw.wait_log(r"event=stats .* detected_truncate=1 detected_delete_without_where=3|"
                       r"event=stats .* detected_delete_without_where=3 detected_truncate=1")


CLIENTS = Path(__file__).resolve().parent / "clients"


@pytest.fixture(scope="session")
def pipeline_client(tmp_path_factory):
    """tests/integration/clients/pipeline.c compiled against libpq."""
    out = tmp_path_factory.mktemp("clients") / "pipeline"
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "libpq"], check=True,
                           capture_output=True).stdout.decode().split()
    subprocess.run(["cc", "-std=c11", "-Wall", "-Werror", "-o", str(out), str(CLIENTS / "pipeline.c")] + flags,
                   check=True)
    return out


def test_libpq_pipeline_mode(guarded, pg, pipeline_client):
    r = subprocess.run([str(pipeline_client), guarded.dsn(),
                        "SELECT 1", "INSERT INTO gt VALUES (200, 'piped')", "DELETE FROM gt", "SELECT 3",
                        "INSERT INTO gt VALUES (201, 'skipped')", "SYNC",
                        "SELECT count(*) FROM gt WHERE id >= 200", "TRUNCATE gt", "SYNC",
                        "SELECT 'after'", "SYNC"], capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr.decode()
    lines = r.stdout.decode().splitlines()
    assert lines == [
        "1 PGRES_TUPLES_OK 1",
        "2 PGRES_COMMAND_OK",
        '3 PGRES_FATAL_ERROR 42501 pgward: DELETE FROM gt is not allowed for role "postgres" '
        "(rule delete_without_where)",
        "4 PGRES_PIPELINE_ABORTED",
        "5 PGRES_PIPELINE_ABORTED",
        "SYNC",
        # The first segment's implicit transaction was rolled back by the refusal.
        "6 PGRES_TUPLES_OK 0",
        '7 PGRES_FATAL_ERROR 42501 pgward: TRUNCATE gt is not allowed for role "postgres" '
        "(rule truncate)",
        "SYNC",
        "8 PGRES_TUPLES_OK after",
        "SYNC",
    ], lines
    assert gt_state(pg).startswith("5,")


# Conditions the server reads as always true, spelled with what the folding used to misread:
# a negative number (read as 0), a string alone in boolean context (read as nothing), a string
# compared with a number, a number with a fraction.
ALWAYS_TRUE = ["DELETE FROM gt WHERE 'true'", "DELETE FROM gt WHERE NOT 'f'",
               "DELETE FROM gt WHERE 0 > -1", "DELETE FROM gt WHERE '1' = 1",
               "DELETE FROM gt WHERE 1.5 > 1", "UPDATE gt SET v = 'x' WHERE ' on ' IS TRUE"]


def test_always_true_conditions_the_server_reads_are_refused(pg, guarded):
    """The attacker's goal: empty or overwrite gt with a WHERE clause the guard cannot see is
    always true. Each is refused in the session, and in a new one; nothing ran."""
    before = gt_state(pg)
    for c in (session(guarded), session(guarded)):
        for sql in ALWAYS_TRUE:
            msgs = c.simple(sql)
            assert pgwire.types(msgs) == "EZ", (sql, pgwire.types(msgs))
            f = msgs[0].fields()
            assert f["C"] == "42501" and "without_where" in f["M"], (sql, f)
        # and the same shapes with a condition that is false still run
        assert pgwire.types(c.simple("DELETE FROM gt WHERE 0 > 1")) == "CZ"
        assert pgwire.types(c.simple("DELETE FROM gt WHERE '2' = 1")) == "CZ"
    assert gt_state(pg) == before
