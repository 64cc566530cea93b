"""The guard's migration rules through a real PostgreSQL and pgward: for an application role
(rules = all) each rule refuses its statement with 42501 naming the rule, in the simple and the
extended protocol, inside a transaction and pipelined after a write, and leaves the tables as they
were and the session usable; a migration role (rules none) runs the same statements; and ordinary
application SQL, whose WHERE clauses, strings and names look like the refused forms, all runs."""

import psycopg2
import pytest

import pgwire
from conftest import MD5_USER, MD5_PASSWORD, SUPERUSER

APP, APP_PASSWORD = MD5_USER, MD5_PASSWORD
MIGRATOR = SUPERUSER
GUARD = {"guard.rules": "none", "guard.role_rules": "%s: all; %s: none" % (APP, MIGRATOR)}

SETUP = """
DROP TABLE IF EXISTS gm_items, gm_items2, gm_ref, gm_empty, gm_parent, gm_part1, gm_notes, gm_app,
    gm_aparent, gm_apart1 CASCADE;
DROP VIEW IF EXISTS gm_view;
DROP DOMAIN IF EXISTS gm_dom CASCADE;
CREATE DOMAIN gm_dom AS int;
CREATE TABLE gm_ref (id int PRIMARY KEY);
CREATE TABLE gm_items (id int PRIMARY KEY, ref_id int, v text, n int);
CREATE TABLE gm_empty (id int);
INSERT INTO gm_ref SELECT g FROM generate_series(1, 5) g;
INSERT INTO gm_items SELECT g, g, 'v' || g, g FROM generate_series(1, 5) g;
ALTER TABLE gm_items ALTER COLUMN n SET NOT NULL;
CREATE INDEX gm_items_v ON gm_items (v);
CREATE VIEW gm_view AS SELECT id, v FROM gm_items;
ALTER TABLE gm_items ENABLE ROW LEVEL SECURITY;
ALTER TABLE gm_items FORCE ROW LEVEL SECURITY;
CREATE POLICY gm_pol ON gm_items USING (n > 0);
CREATE TABLE gm_parent (id int, v text) PARTITION BY RANGE (id);
CREATE TABLE gm_part1 PARTITION OF gm_parent FOR VALUES FROM (0) TO (100);
INSERT INTO gm_parent VALUES (1, 'p');
CREATE TABLE gm_notes (id serial PRIMARY KEY, body text, "drop" text, "policy" text, update_count int DEFAULT 0);
INSERT INTO gm_notes (body, "drop", "policy") VALUES ('first', 'DROP VIEW v', 'p');
CREATE TABLE gm_app (id int PRIMARY KEY, ref_id int, v text, n int, owner name DEFAULT current_user);
INSERT INTO gm_app SELECT g, g, 'a' || g, g FROM generate_series(1, 5) g;
CREATE TABLE gm_aparent (id int) PARTITION BY RANGE (id);
CREATE TABLE gm_apart1 PARTITION OF gm_aparent FOR VALUES FROM (0) TO (100);
ALTER TABLE gm_app OWNER TO {app};
ALTER TABLE gm_aparent OWNER TO {app};
ALTER TABLE gm_apart1 OWNER TO {app};
GRANT ALL ON gm_items, gm_ref, gm_empty, gm_parent, gm_view, gm_notes TO {app};
GRANT ALL ON SEQUENCE gm_notes_id_seq TO {app};
GRANT CREATE ON SCHEMA public TO {app};
""".format(app=APP)

# A snapshot of everything a refused statement could have changed.
STATE = """
SELECT concat_ws(' | ',
  (SELECT string_agg(id || ':' || ref_id || ':' || v || ':' || n, ',' ORDER BY id) FROM gm_items),
  (SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod) || ' ' || attnotnull, ',' ORDER BY attnum)
     FROM pg_attribute WHERE attrelid = 'gm_items'::regclass AND attnum > 0 AND NOT attisdropped),
  (SELECT relpersistence || relrowsecurity || relforcerowsecurity FROM pg_class WHERE oid = 'gm_items'::regclass),
  (SELECT string_agg(concat_ws(' ', polname, polcmd, pg_get_expr(polqual, polrelid),
                               pg_get_expr(polwithcheck, polrelid)), ',' ORDER BY polname) FROM pg_policy
     WHERE polrelid = 'gm_items'::regclass),
  (SELECT string_agg(conname, ',' ORDER BY conname) FROM pg_constraint WHERE conrelid = 'gm_items'::regclass),
  (SELECT string_agg(indexrelid::regclass::text || ' ' || relfilenode, ',' ORDER BY indexrelid::regclass::text)
     FROM pg_index JOIN pg_class c ON c.oid = indexrelid WHERE indrelid = 'gm_items'::regclass),
  (SELECT relfilenode FROM pg_class WHERE oid = 'gm_items'::regclass),
  (SELECT count(*) FROM pg_views WHERE viewname = 'gm_view'),
  (SELECT count(*) FROM pg_inherits WHERE inhparent = 'gm_parent'::regclass),
  (SELECT string_agg(attname, ',') FROM pg_attribute WHERE attrelid = 'gm_empty'::regclass AND attnum > 0),
  (SELECT count(*) FROM gm_ref),
  (SELECT count(*) FROM pg_constraint WHERE contypid = 'gm_dom'::regtype))
"""

# (rule, statement, the migration role runs it inside BEGIN/COMMIT)
RULES = [
    # two rules that predate the migration ones, as a control of the harness itself
    ("delete_without_where", "DELETE FROM gm_items", False),
    ("drop_table", "DROP TABLE gm_empty", False),
    ("rls_weakening", "ALTER TABLE gm_items DISABLE ROW LEVEL SECURITY", False),
    ("rls_weakening", "ALTER TABLE gm_items NO FORCE ROW LEVEL SECURITY", False),
    ("rls_weakening", "DROP POLICY gm_pol ON gm_items", False),
    ("rls_weakening", "CREATE POLICY gm_open ON gm_items USING (true)", False),
    ("rls_weakening", "CREATE POLICY gm_open ON gm_items FOR INSERT WITH CHECK (true)", False),
    ("rls_weakening", "ALTER POLICY gm_pol ON gm_items USING (true)", False),
    ("delete_without_where", "DELETE FROM gm_items WHERE true", False),
    ("delete_without_where", "DELETE FROM gm_items WHERE 1 = 1", False),
    ("delete_without_where", "DELETE FROM gm_items WHERE id = 1 OR true", False),
    ("delete_without_where", "MERGE INTO gm_items t USING gm_ref s ON t.ref_id = s.id WHEN MATCHED THEN DELETE",
     False),
    ("update_without_where", "UPDATE gm_items SET v = 'x' WHERE 1 = 1", False),
    ("update_without_where", "UPDATE gm_items SET v = 'x' WHERE n > 3 OR true", False),
    ("update_without_where",
     "MERGE INTO gm_items t USING gm_ref s ON t.ref_id = s.id WHEN MATCHED THEN UPDATE SET v = 'm'", False),
    ("drop_view", "DROP VIEW gm_view", False),
    ("detach_partition", "ALTER TABLE gm_parent DETACH PARTITION gm_part1", False),
    ("rename_table", "ALTER TABLE gm_items RENAME TO gm_items2", False),
    ("rename_column", "ALTER TABLE gm_items RENAME COLUMN v TO v2", False),
    ("vacuum_full", "VACUUM FULL gm_items", False),
    ("vacuum_full", "VACUUM (FULL, ANALYZE) gm_items", False),
    ("cluster", "CLUSTER gm_items USING gm_items_pkey", False),
    ("reindex_blocking", "REINDEX TABLE gm_items", False),
    ("reindex_blocking", "REINDEX INDEX gm_items_v", False),
    ("lock_exclusive", "LOCK TABLE gm_items IN ACCESS EXCLUSIVE MODE", True),
    ("lock_exclusive", "LOCK gm_items", True),
    ("lock_exclusive", "LOCK TABLE gm_items IN EXCLUSIVE MODE", True),
    ("add_unique_constraint", "ALTER TABLE gm_items ADD CONSTRAINT gm_items_v_key UNIQUE (v)", False),
    ("add_foreign_key",
     "ALTER TABLE gm_items ADD CONSTRAINT gm_items_ref_fk FOREIGN KEY (ref_id) REFERENCES gm_ref (id)", False),
    ("add_check_constraint", "ALTER TABLE gm_items ADD CONSTRAINT gm_items_n_pos CHECK (n > 0)", False),
    ("add_column_default_volatile", "ALTER TABLE gm_items ADD COLUMN created timestamptz DEFAULT clock_timestamp()",
     False),
    ("add_column_default_volatile", "ALTER TABLE gm_items ADD COLUMN u uuid DEFAULT gen_random_uuid()", False),
    ("add_required_column", "ALTER TABLE gm_empty ADD COLUMN req int NOT NULL", False),
    ("set_not_null", "ALTER TABLE gm_items ALTER COLUMN v SET NOT NULL", False),
    ("set_unlogged", "ALTER TABLE gm_items SET UNLOGGED", False),
    ("drop_not_null", "ALTER TABLE gm_items ALTER COLUMN n DROP NOT NULL", False),
    ("domain_constraint", "ALTER DOMAIN gm_dom ADD CONSTRAINT gm_dom_pos CHECK (VALUE > 0)", False),
]
IDS = ["%s-%d" % (r, i) for i, (r, _, _) in enumerate(RULES)]

# Ordinary application statements: all must run for the application role.
ORDINARY = [
    # WHERE clauses of many shapes
    "SELECT * FROM gm_items WHERE id = 1",
    "SELECT count(*) FROM gm_items WHERE true",
    "UPDATE gm_items SET v = 'x' WHERE id = 1",
    "DELETE FROM gm_items WHERE id = 999",
    "UPDATE gm_items SET n = n + 1 WHERE id IN (1, 2)",
    "DELETE FROM gm_items WHERE id = ANY('{998,999}'::int[])",
    "UPDATE gm_items SET v = v WHERE v IS NOT NULL",
    "DELETE FROM gm_items WHERE id > 100 AND n < 0",
    "UPDATE gm_items SET v = 'y' WHERE id = 2 OR id = 3",
    "DELETE FROM gm_items WHERE EXISTS (SELECT 1 FROM gm_ref r WHERE r.id = gm_items.ref_id AND r.id > 100)",
    "UPDATE gm_items SET v = 'z' WHERE id = (SELECT max(id) FROM gm_ref)",
    "DELETE FROM gm_items WHERE v LIKE 'nothing%'",
    "UPDATE gm_items SET v = upper(v) WHERE n BETWEEN 1 AND 2",
    "DELETE FROM gm_items WHERE (id, n) = (999, 999)",
    "UPDATE gm_items SET n = n WHERE true AND id = 1",
    "DELETE FROM gm_items WHERE false",
    "UPDATE gm_items SET v = 'w' WHERE 1 = 0",
    "UPDATE gm_items SET v = 'q' WHERE id = 1 OR n IS NULL",
    "DELETE FROM gm_items WHERE NOT (id > 0)",
    "UPDATE gm_items SET v = 'c' WHERE current_user = 'nobody'",
    "DELETE FROM gm_items USING gm_ref r WHERE gm_items.ref_id = r.id AND r.id > 100",
    "UPDATE gm_items i SET v = r.id::text FROM gm_ref r WHERE i.ref_id = r.id AND r.id = 1",
    "WITH u AS (UPDATE gm_items SET n = n WHERE id = 1 RETURNING id) SELECT count(*) FROM u",
    "DELETE FROM gm_items WHERE id = 999 RETURNING *",
    "UPDATE gm_items SET v = 'p' WHERE coalesce(n, 0) > 100",
    "DELETE FROM gm_items WHERE id IN (SELECT id FROM gm_items WHERE n > 100)",
    "UPDATE gm_items SET v = 'k' WHERE CASE WHEN id = 1 THEN true ELSE false END",
    "DELETE FROM gm_items WHERE id = 999 OR false",
    "UPDATE gm_items SET v = 'j' WHERE id = 1 AND (n > 0 OR v IS NULL)",
    # strings and identifiers naming the refused forms
    "SELECT 'DROP TABLE gm_items; DELETE FROM gm_items'",
    "INSERT INTO gm_notes (body) VALUES ('ALTER TABLE x DISABLE ROW LEVEL SECURITY; DROP POLICY p ON x')",
    "SELECT \"drop\", \"policy\" FROM gm_notes WHERE \"drop\" = 'DROP VIEW v'",
    "UPDATE gm_notes SET \"policy\" = 'CREATE POLICY p ON t USING (true)' WHERE id = 1",
    "UPDATE gm_notes SET update_count = update_count + 1 WHERE body = 'UPDATE t SET a = 1 WHERE true'",
    "SELECT $$VACUUM FULL; CLUSTER; REINDEX TABLE t$$",
    "SELECT * FROM gm_notes WHERE body ILIKE '%LOCK TABLE%ACCESS EXCLUSIVE%'",
    "INSERT INTO gm_notes (body) VALUES (E'ALTER TABLE t RENAME TO u\\n; TRUNCATE t')",
    "SELECT 1 AS \"DELETE FROM gm_items\"",
    "-- DROP TABLE gm_items\nSELECT 1",
    "SELECT /* DELETE FROM gm_items WHERE true */ count(*) FROM gm_items",
    # explained, prepared and transactions
    "EXPLAIN DELETE FROM gm_items",
    "EXPLAIN UPDATE gm_items SET v = 'x'",
    "PREPARE gm_q AS DELETE FROM gm_items WHERE id = $1",
    "EXECUTE gm_q(999)",
    "DEALLOCATE gm_q",
    "BEGIN; UPDATE gm_items SET v = v WHERE id = 1; COMMIT",
    "BEGIN; LOCK TABLE gm_items IN SHARE MODE; LOCK TABLE gm_ref IN ROW EXCLUSIVE MODE; COMMIT",
    "SELECT * FROM gm_items WHERE id = 1 FOR UPDATE",
    "SELECT pg_advisory_lock(1), pg_advisory_unlock(1)",
    "SET lock_timeout = '1s'",
    "RESET lock_timeout",
    # upserts and MERGE with conditions
    "INSERT INTO gm_items (id, ref_id, v, n) VALUES (10, 1, 'u', 1) ON CONFLICT (id) DO UPDATE SET v = excluded.v",
    "INSERT INTO gm_items (id, ref_id, v, n) VALUES (10, 1, 'u', 1) "
    "ON CONFLICT (id) DO UPDATE SET n = gm_items.n + 1 WHERE gm_items.n < 100",
    "INSERT INTO gm_items (id, ref_id, v, n) VALUES (10, 1, 'u', 1) ON CONFLICT DO NOTHING",
    "MERGE INTO gm_items t USING gm_ref s ON t.ref_id = s.id WHEN MATCHED AND s.id > 100 THEN DELETE",
    "MERGE INTO gm_items t USING gm_ref s ON t.ref_id = s.id WHEN MATCHED AND t.v = 'never' THEN UPDATE SET v = 'm' "
    "WHEN NOT MATCHED THEN INSERT (id, ref_id, v, n) VALUES (s.id + 1000, s.id, 'new', 1)",
    "MERGE INTO gm_items t USING (SELECT 77 AS id) s ON t.id = s.id "
    "WHEN NOT MATCHED THEN INSERT (id, ref_id, v, n) VALUES (s.id, 1, 'merged', 1)",
    # the safe spellings of migrations, on a table the application role owns
    "CREATE INDEX CONCURRENTLY gm_app_n ON gm_app (n)",
    "REINDEX INDEX CONCURRENTLY gm_app_n",
    "REINDEX TABLE CONCURRENTLY gm_app",
    "DROP INDEX CONCURRENTLY gm_app_n",
    "VACUUM gm_app",
    "VACUUM (ANALYZE) gm_app",
    "ANALYZE gm_app",
    "ALTER TABLE gm_app ADD COLUMN IF NOT EXISTS note text",
    "ALTER TABLE gm_app ADD COLUMN IF NOT EXISTS flag boolean NOT NULL DEFAULT false",
    "ALTER TABLE gm_app ADD COLUMN IF NOT EXISTS created timestamptz DEFAULT now()",
    "ALTER TABLE gm_app ADD CONSTRAINT gm_app_n_chk CHECK (n > 0) NOT VALID",
    "ALTER TABLE gm_app VALIDATE CONSTRAINT gm_app_n_chk",
    "ALTER TABLE gm_app ADD CONSTRAINT gm_app_ref_fk FOREIGN KEY (ref_id) REFERENCES gm_ref (id) NOT VALID",
    "ALTER TABLE gm_app VALIDATE CONSTRAINT gm_app_ref_fk",
    "CREATE UNIQUE INDEX CONCURRENTLY gm_app_v_uniq ON gm_app (v)",
    "ALTER TABLE gm_app ADD CONSTRAINT gm_app_v_key UNIQUE USING INDEX gm_app_v_uniq",
    "ALTER TABLE gm_aparent DETACH PARTITION gm_apart1 CONCURRENTLY",
    "CREATE TEMP TABLE gm_tmp (id int); CREATE INDEX gm_tmp_id ON gm_tmp (id)",
    "CREATE POLICY gm_app_own ON gm_app USING (owner = current_user)",
    "ALTER TABLE gm_app ENABLE ROW LEVEL SECURITY",
    "ALTER TABLE gm_app FORCE ROW LEVEL SECURITY",
]


@pytest.fixture
def guarded(pg, pgward_factory):
    pg.execute(SETUP)
    return pgward_factory(**GUARD)


def app_session(pw):
    c = pw.raw()
    c.startup(APP, "postgres", password=APP_PASSWORD)
    return c


def state(pg):
    return pg.execute(STATE)[0][0]


def assert_refused(err, rule):
    f = err.fields()
    assert f["C"] == "42501", f
    assert "(rule %s)" % rule in f["M"], f["M"]
    assert 'for role "%s"' % APP in f["M"], f["M"]


def tags(msgs):
    return [m.command_tag() for m in msgs if m.type == "C"]


@pytest.mark.parametrize("rule,sql,in_tx", RULES, ids=IDS)
def test_refused_simple_protocol(guarded, pg, rule, sql, in_tx):
    before = state(pg)
    c = app_session(guarded)
    msgs = c.simple(sql)
    assert pgwire.types(msgs) == "EZ", pgwire.types(msgs)
    assert_refused(msgs[0], rule)
    assert msgs[-1].ready_status() == "I"
    assert state(pg) == before
    assert c.scalar("SELECT count(*) FROM gm_items") == "5"


@pytest.mark.parametrize("rule,sql,in_tx", RULES, ids=IDS)
def test_refused_extended_protocol(guarded, pg, rule, sql, in_tx):
    before = state(pg)
    c = app_session(guarded)
    c.send(pgwire.parse("", sql), pgwire.bind("", ""), pgwire.execute(), pgwire.sync())
    msgs = c.recv_until("Z")
    assert pgwire.types(msgs) == "EZ", pgwire.types(msgs)
    assert_refused(msgs[0], rule)
    assert state(pg) == before
    assert c.scalar("SELECT 'usable'") == "usable"


@pytest.mark.parametrize("rule,sql,in_tx", RULES, ids=IDS)
def test_refused_inside_transaction(guarded, pg, rule, sql, in_tx):
    before = state(pg)
    c = app_session(guarded)
    assert tags(c.simple("BEGIN")) == ["BEGIN"]
    assert tags(c.simple("INSERT INTO gm_ref VALUES (100)")) == ["INSERT 0 1"]
    msgs = c.simple(sql)
    assert_refused(msgs[0], rule)
    assert msgs[-1].ready_status() == "E"
    assert tags(c.simple("COMMIT")) == ["ROLLBACK"]
    assert state(pg) == before
    assert c.scalar("SELECT count(*) FROM gm_ref WHERE id = 100") == "0"


@pytest.mark.parametrize("rule,sql,in_tx", RULES, ids=IDS)
def test_refused_pipelined_after_a_write(guarded, pg, rule, sql, in_tx):
    before = state(pg)
    c = app_session(guarded)
    c.send(pgwire.parse("", "INSERT INTO gm_ref VALUES (101)"), pgwire.bind("", ""), pgwire.execute(),
           pgwire.parse("", sql), pgwire.bind("", ""), pgwire.execute(), pgwire.sync())
    msgs = c.recv_until("Z")
    assert pgwire.types(msgs) == "12CEZ", pgwire.types(msgs)
    assert_refused(msgs[3], rule)
    # The batch was one implicit transaction: the failure undid the INSERT, as a server error would.
    assert state(pg) == before
    assert c.scalar("SELECT count(*) FROM gm_ref WHERE id = 101") == "0"
    # The simple-protocol spelling: one Query, nothing of it runs.
    msgs = c.simple("INSERT INTO gm_ref VALUES (102); " + sql)
    assert pgwire.types(msgs) == "EZ", pgwire.types(msgs)
    assert_refused(msgs[0], rule)
    assert c.scalar("SELECT count(*) FROM gm_ref WHERE id = 102") == "0"
    assert state(pg) == before


@pytest.mark.parametrize("rule,sql,in_tx", RULES, ids=IDS)
def test_migration_role_runs_it(pg, pgward_factory, rule, sql, in_tx):
    pg.execute(SETUP)
    pw = pgward_factory(**GUARD)
    before = state(pg)
    c = pw.raw()
    c.startup(MIGRATOR, "postgres")
    msgs = c.simple("BEGIN; %s; COMMIT" % sql if in_tx else sql)
    assert "E" not in pgwire.types(msgs), [m.fields() for m in msgs if m.type == "E"]
    assert msgs[-1].ready_status() == "I"
    if not sql.startswith(("LOCK", "VACUUM", "REINDEX", "CLUSTER")):
        try:
            after = state(pg)
        except psycopg2.Error:  # gm_items or its column v renamed: the snapshot query cannot run
            after = None
        assert after != before, "%s changed nothing" % sql


def test_ordinary_statements_run_for_the_application_role(guarded, pg):
    c = app_session(guarded)
    failures = []
    for sql in ORDINARY:
        msgs = c.simple(sql)
        errors = [m.fields() for m in msgs if m.type == "E"]
        if errors:
            failures.append("%s -> %s %s" % (sql, errors[0]["C"], errors[0]["M"]))
        assert msgs[-1].ready_status() == "I", sql
    assert not failures, "\n".join(failures)
    assert len(ORDINARY) >= 60


def test_ordinary_statements_run_in_the_extended_protocol(guarded, pg):
    c = app_session(guarded)
    failures = []
    for sql in ORDINARY:
        if "; " in sql:
            continue  # a Parse takes one statement
        c.send(pgwire.parse("", sql), pgwire.bind("", ""), pgwire.execute(), pgwire.sync())
        msgs = c.recv_until("Z")
        errors = [m.fields() for m in msgs if m.type == "E"]
        if errors:
            failures.append("%s -> %s %s" % (sql, errors[0]["C"], errors[0]["M"]))
    assert not failures, "\n".join(failures)
