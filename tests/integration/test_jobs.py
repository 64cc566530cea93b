"""The job serializer ([job <table>] sections) against a real PostgreSQL: the application's
check-then-insert race is shown for real (duplicates directly, exactly one active job through
pgward, across two pgward instances), in simple and extended protocol, autocommit and explicit
transactions; conflicts answer 23505 (error) or INSERT 0 0 (skip); nothing of pgward's own
statements reaches the client; different keys never wait on each other."""

import threading
import time

import psycopg2
import pytest

import pgwire
from conftest import SUPERUSER

SETUP = """
DROP TABLE IF EXISTS race_jobs, race_queue;
CREATE TABLE race_jobs (id serial PRIMARY KEY, domain text NOT NULL, job_type text NOT NULL,
                        status text NOT NULL DEFAULT 'pending', n int);
CREATE TABLE race_queue (id serial PRIMARY KEY, page_id int NOT NULL,
                         status text NOT NULL DEFAULT 'pending');
"""

JOBS = {
    "job race_jobs.key_columns": "domain, job_type",
    "job race_jobs.active": "status IN ('pending', 'running')",
    "job race_jobs.on_conflict": "error",
    "job race_queue.key_columns": "page_id",
    "job race_queue.active": "status = 'pending'",
    "job race_queue.on_conflict": "skip",
}

CLIENTS = 32
WINDOW = 0.2  # seconds between the application's check and its insert


@pytest.fixture
def tables(pg):
    pg.execute(SETUP)
    return pg


@pytest.fixture
def jobs(tables, pgward_factory):
    return pgward_factory(**JOBS)


def active(pg, table, **key):
    where = " AND ".join("%s = '%s'" % kv for kv in key.items())
    status = "status IN ('pending', 'running')" if table == "race_jobs" else "status = 'pending'"
    return pg.execute("SELECT count(*) FROM %s WHERE %s AND %s" % (table, where, status))[0][0]


# ------------------------------------------------------------------ the application's race

INSERTS = {
    "race_jobs": ("INSERT INTO race_jobs (domain, job_type, n) VALUES (%s, %s, %s)",
                  "INSERT INTO race_jobs (domain, job_type, n) VALUES ($1, $2, $3)",
                  ("example.com", "full_crawl")),
    "race_queue": ("INSERT INTO race_queue (page_id) VALUES (%s)",
                   "INSERT INTO race_queue (page_id) VALUES ($1)", ("42",)),
}
CHECKS = {
    "race_jobs": "SELECT count(*) FROM race_jobs WHERE domain = 'example.com' AND "
                 "job_type = 'full_crawl' AND status IN ('pending', 'running')",
    "race_queue": "SELECT count(*) FROM race_queue WHERE page_id = 42 AND status = 'pending'",
}


def app_simple(port, table, explicit, i):
    """psycopg2 (simple protocol): check, wait, insert. Returns the tag or the SQLSTATE."""
    conn = psycopg2.connect(host="127.0.0.1", port=port, user=SUPERUSER, dbname="postgres")
    conn.autocommit = not explicit
    try:
        cur = conn.cursor()
        cur.execute(CHECKS[table])
        if cur.fetchone()[0] > 0:
            return "exists"
        time.sleep(WINDOW)
        simple, _, key = INSERTS[table]
        args = key + (i,) if table == "race_jobs" else (int(key[0]),)
        try:
            cur.execute(simple, args)
            tag = cur.statusmessage
            conn.commit()
            return tag
        except psycopg2.Error as e:
            conn.rollback()
            return e.pgcode
    finally:
        conn.close()


def app_extended(port, table, explicit, i):
    """The raw client, extended protocol (Parse/Bind/Execute/Sync): check, wait, insert."""
    c = pgwire.Conn(port=port)
    c.startup(SUPERUSER, "postgres")
    try:
        if explicit:
            c.send(pgwire.query("BEGIN"))
            c.recv_until("Z")
        c.send(pgwire.query(CHECKS[table]))
        rows = [m for m in c.recv_until("Z") if m.type == "D"]
        if rows[0].data_row()[0] != b"0":
            return "exists"
        time.sleep(WINDOW)
        _, ext, key = INSERTS[table]
        params = key + (str(i),) if table == "race_jobs" else key
        c.send(pgwire.parse("", ext), pgwire.bind("", "", params), pgwire.execute(), pgwire.sync())
        msgs = c.recv_until("Z")
        errors = [m for m in msgs if m.type == "E"]
        result = errors[0].sqlstate if errors else [m.command_tag() for m in msgs if m.type == "C"][0]
        if explicit:
            c.send(pgwire.query("ROLLBACK" if errors else "COMMIT"))
            c.recv_until("Z")
        return result
    finally:
        c.close()


def race(ports, table, protocol, explicit):
    app = app_simple if protocol == "simple" else app_extended
    results = [None] * CLIENTS
    barrier = threading.Barrier(CLIENTS)

    def run(i):
        barrier.wait()
        try:
            results[i] = app(ports[i % len(ports)], table, explicit, i)
        except Exception as e:  # noqa: BLE001 - reported below
            results[i] = repr(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def test_race_directly_creates_duplicates(tables):
    results = race([tables.port], "race_jobs", "simple", False)
    assert results.count("INSERT 0 1") > 1
    assert active(tables, "race_jobs", domain="example.com", job_type="full_crawl") > 1


@pytest.mark.parametrize("explicit", [False, True], ids=["autocommit", "transaction"])
@pytest.mark.parametrize("protocol", ["simple", "extended"])
def test_race_error_mode_one_job(jobs, tables, protocol, explicit):
    results = race([jobs.port], "race_jobs", protocol, explicit)
    assert active(tables, "race_jobs", domain="example.com", job_type="full_crawl") == 1
    assert results.count("INSERT 0 1") == 1, results
    assert all(r in ("INSERT 0 1", "23505", "exists") for r in results), results
    assert results.count("23505") >= CLIENTS // 2, results


@pytest.mark.parametrize("explicit", [False, True], ids=["autocommit", "transaction"])
@pytest.mark.parametrize("protocol", ["simple", "extended"])
def test_race_skip_mode_insert_0_0(jobs, tables, protocol, explicit):
    results = race([jobs.port], "race_queue", protocol, explicit)
    assert active(tables, "race_queue", page_id=42) == 1, (results, jobs.log_tail())
    assert results.count("INSERT 0 1") == 1, results
    assert all(r in ("INSERT 0 1", "INSERT 0 0", "exists") for r in results), results
    assert results.count("INSERT 0 0") >= CLIENTS // 2, results


@pytest.mark.parametrize("protocol", ["simple", "extended"])
def test_race_across_two_instances(tables, pgward_factory, protocol):
    a = pgward_factory(**JOBS)
    b = pgward_factory(**JOBS)
    results = race([a.port, b.port], "race_jobs", protocol, False)
    assert active(tables, "race_jobs", domain="example.com", job_type="full_crawl") == 1
    assert results.count("INSERT 0 1") == 1, results
    assert results.count("23505") >= CLIENTS // 2, results
