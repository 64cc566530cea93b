"""Statement shapes: a text whose literals alone differ from one pgward has parsed is answered
from that parse. pgbench's writes cost a parse per statement shape, not per text, which SHOW
COUNTERS and /metrics count; and a shape learnt from harmless values never lets through what
other values make refused (column limits, the guard's folding, a setting's name, a job's key),
in the session that taught it and in a new one. SHOW SHAPES lists the shapes parsed per text."""

import re

import pytest

import pgwire
from conftest import SCRAM_PASSWORD, SCRAM_USER, SUPERUSER, clean_env, free_port, run
from test_metrics import http_get, parse_metrics

SETUP = """
DROP TABLE IF EXISTS shape_notes, shape_jobs;
CREATE TABLE shape_notes (id int, body text);
CREATE TABLE shape_jobs (id serial PRIMARY KEY, domain text NOT NULL, job_type text NOT NULL,
                         status text NOT NULL DEFAULT 'pending');
"""

SETTINGS = {
    "guard.rules": "all",
    "limits.column_limits": "shape_notes.body: 10 chars, pgbench_history.filler: 22 bytes",
    "job shape_jobs.key_columns": "domain, job_type",
    "job shape_jobs.active": "status IN ('pending', 'running')",
    "job shape_jobs.on_conflict": "error",
    "admin.users": SUPERUSER,
}


@pytest.fixture
def pw(pg, pgward_factory):
    pg.execute(SETUP)
    port = free_port()
    w = pgward_factory(**{"metrics.listen_port": port, **SETTINGS})
    w.metrics_port = port
    return w


def counters(pw):
    out = pw.psql("-F", "|", "-c", "SHOW COUNTERS", user=SUPERUSER, dbname="pgward").stdout
    return {k: int(v) for k, v in (line.split("|") for line in out.decode().splitlines())}


def pgbench(endpoint, *args):
    cmd = ["pgbench", "-h", endpoint.host, "-p", str(endpoint.port), "-U", SUPERUSER] + list(args)
    return run(cmd, timeout=180, env=clean_env(PGSSLMODE="disable"))


def test_pgbench_writes_are_answered_from_their_shapes(pw, pg):
    pg.execute("DROP DATABASE IF EXISTS shapes")
    pg.execute("CREATE DATABASE shapes")
    pgbench(pg, "-i", "-s", "1", "-q", "shapes")  # directly: its DROP TABLE is a guard rule
    before = counters(pw)
    r = pgbench(pw, "-n", "-M", "simple", "-b", "tpcb-like", "-c", "4", "-j", "2", "-t", "250",
                "shapes")
    out = r.stdout.decode()
    assert re.search(r"^number of failed transactions: 0 ", out, re.M), out
    after = counters(pw)
    d = {k: after[k] - before[k] for k in after}
    # 1000 transactions: 4000 UPDATE and INSERT texts inspected, nearly all new (pgbench's
    # random values may repeat one now and then); all but the first of each shape are
    # answered from it (a few shapes: pgbench writes "+ -5" and "+ 5")
    assert d["sql_cache_hits"] + d["sql_cache_misses"] >= 4000, d
    assert d["sql_cache_misses"] >= 3900, d
    assert d["sql_shape_hits"] >= d["sql_cache_misses"] - 20, d
    assert d["sql_parses"] <= 20, d
    assert after["sql_answered_unparsed_bp"] >= 9900, after
    status, _, body = http_get(pw.metrics_port, "/metrics")
    assert status == 200
    samples = parse_metrics(body)
    hits = samples.get(("pgward_sql_shape_hits_total", frozenset()))
    assert hits is not None and hits >= after["sql_shape_hits"], hits
    assert samples.get(("pgward_sql_shape_entries", frozenset()), 0) >= 4


def refused(msgs, code, text):
    errors = [m.fields() for m in msgs if m.type == "E"]
    assert len(errors) == 1, pgwire.types(msgs)
    assert errors[0]["C"] == code and text in errors[0]["M"], errors[0]
    assert msgs[-1].type == "Z"


def attempts(c):
    """The attacker teaches each shape with harmless values, then sends the harmful ones."""
    assert pgwire.types(c.simple("INSERT INTO shape_notes VALUES (1, 'short')")) == "CZ"
    refused(c.simple("INSERT INTO shape_notes VALUES (2, 'far too long a note')"), "54000",
            "shape_notes.body")
    assert pgwire.types(c.simple("UPDATE shape_notes SET body = 'tiny' WHERE id = 1")) == "CZ"
    refused(c.simple("UPDATE shape_notes SET body = 'longer than ten' WHERE id = 1"), "54000",
            "shape_notes.body")
    assert pgwire.types(c.simple("DELETE FROM shape_notes WHERE 1 = 2")) == "CZ"
    refused(c.simple("DELETE FROM shape_notes WHERE 1 = 1"), "42501", "delete_without_where")
    assert pgwire.types(c.simple("SELECT set_config('application_name', 'x', false)")) == "TDCSZ"
    refused(c.simple("SELECT set_config('role', 'postgres', false)"), "42501", "set_role")
    assert pgwire.types(c.simple(
        "INSERT INTO shape_jobs (domain, job_type) VALUES ('a.example', 'crawl')")) == "CZ"
    refused(c.simple("INSERT INTO shape_jobs (domain, job_type) VALUES ('a.example', 'crawl')"),
            "23505", "")


def test_a_learnt_shape_refuses_what_its_values_refuse(pw, pg):
    pg.execute("GRANT ALL ON shape_notes, shape_jobs, shape_jobs_id_seq TO %s" % SCRAM_USER)
    attempts(pw.raw_session(user=SCRAM_USER, password=SCRAM_PASSWORD))
    assert pg.execute("SELECT count(*) FROM shape_notes WHERE length(body) > 10")[0][0] == 0
    assert pg.execute("SELECT count(*) FROM shape_notes")[0][0] == 1
    assert pg.execute("SELECT count(*) FROM shape_jobs")[0][0] == 1
    # a new session: the shapes are known before its first text
    pg.execute("TRUNCATE shape_notes, shape_jobs")
    attempts(pw.raw_session(user=SCRAM_USER, password=SCRAM_PASSWORD))
    assert pg.execute("SELECT count(*) FROM shape_notes WHERE length(body) > 10")[0][0] == 0
    assert pg.execute("SELECT count(*) FROM shape_jobs")[0][0] == 1
    assert counters(pw)["sql_shape_hits"] >= 4


def test_show_shapes_lists_shapes_parsed_per_text(pw):
    c = pw.raw_session()
    for i in range(5):
        assert pgwire.types(c.simple("DELETE FROM shape_notes WHERE %d = %d" % (i, i + 1))) == "CZ"
    out = pw.psql("-F", "|", "-c", "SHOW SHAPES", user=SUPERUSER, dbname="pgward").stdout.decode()
    rows = [line.split("|") for line in out.splitlines()]
    mine = [r for r in rows if r[0] == "DELETE FROM shape_notes WHERE ? = ?"]
    assert len(mine) == 1, rows
    assert int(mine[0][1]) == 5 and mine[0][2] == "a rule decides on a literal's value", mine
