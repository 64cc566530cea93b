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
WINDOW = 0.05  # seconds between the application's check and its insert


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


def app_simple(port, table, explicit, i, between):
    """psycopg2 (simple protocol): check, wait, insert. Returns the tag or the SQLSTATE."""
    conn = psycopg2.connect(host="127.0.0.1", port=port, user=SUPERUSER, dbname="postgres")
    conn.autocommit = not explicit
    try:
        cur = conn.cursor()
        cur.execute(CHECKS[table])
        found = cur.fetchone()[0]
        between()
        if found > 0:
            return "exists"
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


def app_extended(port, table, explicit, i, between):
    """The raw client, extended protocol (Parse/Bind/Execute/Sync): check, wait, insert."""
    c = pgwire.Conn(port=port)
    c.startup(SUPERUSER, "postgres")
    try:
        if explicit:
            c.send(pgwire.query("BEGIN"))
            c.recv_until("Z")
        c.send(pgwire.query(CHECKS[table]))
        rows = [m for m in c.recv_until("Z") if m.type == "D"]
        between()
        if rows[0].data_row()[0] != b"0":
            return "exists"
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
    checked = threading.Barrier(CLIENTS)

    def between():
        # every client has done its check before any inserts: the window is certain
        checked.wait(30)
        time.sleep(WINDOW)

    def run(i):
        barrier.wait()
        try:
            results[i] = app(ports[i % len(ports)], table, explicit, i, between)
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
    assert results.count("INSERT 0 1") == CLIENTS
    assert active(tables, "race_jobs", domain="example.com", job_type="full_crawl") > 1


@pytest.mark.parametrize("explicit", [False, True], ids=["autocommit", "transaction"])
@pytest.mark.parametrize("protocol", ["simple", "extended"])
def test_race_error_mode_one_job(jobs, tables, protocol, explicit):
    results = race([jobs.port], "race_jobs", protocol, explicit)
    assert active(tables, "race_jobs", domain="example.com", job_type="full_crawl") == 1
    assert results.count("INSERT 0 1") == 1, results
    assert all(r in ("INSERT 0 1", "23505", "exists") for r in results), results
    assert results.count("23505") == CLIENTS - 1, results


@pytest.mark.parametrize("explicit", [False, True], ids=["autocommit", "transaction"])
@pytest.mark.parametrize("protocol", ["simple", "extended"])
def test_race_skip_mode_insert_0_0(jobs, tables, protocol, explicit):
    results = race([jobs.port], "race_queue", protocol, explicit)
    assert active(tables, "race_queue", page_id=42) == 1, (results, jobs.log_tail())
    assert results.count("INSERT 0 1") == 1, results
    assert all(r in ("INSERT 0 1", "INSERT 0 0", "exists") for r in results), results
    assert results.count("INSERT 0 0") == CLIENTS - 1, results


@pytest.mark.parametrize("protocol", ["simple", "extended"])
def test_race_across_two_instances(tables, pgward_factory, protocol):
    a = pgward_factory(**JOBS)
    b = pgward_factory(**JOBS)
    results = race([a.port, b.port], "race_jobs", protocol, False)
    assert active(tables, "race_jobs", domain="example.com", job_type="full_crawl") == 1
    assert results.count("INSERT 0 1") == 1, results
    assert results.count("23505") == CLIENTS - 1, results


# ------------------------------------------------------------------ what the client sees


def raw(port):
    c = pgwire.Conn(port=port)
    c.startup(SUPERUSER, "postgres")
    return c


def transcript(port, *messages):
    c = raw(port)
    try:
        c.send(*messages)
        return c.recv_until("Z")
    finally:
        c.close()


TRANSCRIPTS = {
    "simple_returning": [pgwire.query(
        "INSERT INTO race_jobs (domain, job_type) VALUES ('a.com', 'full'), ('b.com', 'full') "
        "RETURNING domain, job_type, status")],
    "extended_returning": [
        pgwire.parse("s", "INSERT INTO public.race_jobs (job_type, domain) VALUES ($1, $2) "
                          "RETURNING domain, status"),
        pgwire.describe("S", "s"), pgwire.bind("", "s", ("full", "a.com")), pgwire.describe("P"),
        pgwire.execute(), pgwire.sync()],
    "skip_extended_binary": [
        pgwire.parse("", 'INSERT INTO "race_queue" (page_id) VALUES ($1::int4) RETURNING page_id'),
        pgwire.bind("", "", (b"\0\0\0\x07",), param_formats=(1,)), pgwire.describe("P"),
        pgwire.execute(), pgwire.sync()],
    "skip_simple": [pgwire.query("INSERT INTO race_queue (page_id, status) VALUES (7, 'pending')")],
}


@pytest.mark.parametrize("name", sorted(TRANSCRIPTS))
def test_transcript_identical_to_direct(tables, jobs, name):
    """The same messages, direct and through pgward, get byte-identical answers."""
    direct = transcript(tables.port, *TRANSCRIPTS[name])
    tables.execute("TRUNCATE race_jobs, race_queue")
    through = transcript(jobs.port, *TRANSCRIPTS[name])
    assert [m.type for m in through] == [m.type for m in direct]
    assert through == direct
    assert "E" not in [m.type for m in through]


def conflict_fields(c, *messages):
    c.send(*messages)
    msgs = c.recv_until("Z")
    errors = [m for m in msgs if m.type == "E"]
    assert len(errors) == 1, msgs
    assert [m.type for m in msgs if m.type not in "E"] in (["Z"], ["1", "Z"]), msgs
    return errors[0].fields(), msgs[-1].ready_status()


def test_conflict_error_fields_and_transaction_state(tables, jobs):
    tables.execute("INSERT INTO race_jobs (domain, job_type) VALUES ('x.com', 'full')")
    c = raw(jobs.port)
    f, status = conflict_fields(c, pgwire.query(
        "insert into RACE_JOBS (job_type, domain) values ('full', 'x.com')"))
    assert f["C"] == "23505" and status == "I"
    assert "race_jobs" in f["M"] and "job_conflict" in f["M"]
    assert f["D"] == "Key (domain, job_type)=(x.com, full) already has an active job."
    # extended, in a transaction: the transaction is failed, as after a real 23505
    c.send(pgwire.query("BEGIN"))
    c.recv_until("Z")
    f, status = conflict_fields(c, pgwire.parse("", "INSERT INTO race_jobs (domain, job_type) "
                                                    "VALUES ($1, 'full')"),
                                pgwire.bind("", "", ("x.com",)), pgwire.execute(), pgwire.sync())
    assert f["C"] == "23505" and status == "E"
    assert f["D"] == "Key (domain, job_type)=(x.com, full) already has an active job."
    c.send(pgwire.query("ROLLBACK"))
    assert c.recv_until("Z")[-1].ready_status() == "I"
    # an inactive job does not conflict
    tables.execute("UPDATE race_jobs SET status = 'done'")
    c.send(pgwire.query("INSERT INTO race_jobs (domain, job_type) VALUES ('x.com', 'full')"))
    assert [m.command_tag() for m in c.recv_until("Z") if m.type == "C"] == ["INSERT 0 1"]
    c.close()


def test_skip_keeps_the_transaction_usable(tables, jobs):
    tables.execute("INSERT INTO race_queue (page_id) VALUES (5)")
    c = raw(jobs.port)
    c.send(pgwire.query("BEGIN"))
    c.recv_until("Z")
    c.send(pgwire.query("INSERT INTO race_queue (page_id) VALUES (5), (6)"))
    msgs = c.recv_until("Z")
    assert [m.command_tag() for m in msgs if m.type == "C"] == ["INSERT 0 1"]
    assert msgs[-1].ready_status() == "T"
    c.send(pgwire.query("SELECT count(*) FROM race_queue"))
    assert [m.data_row() for m in c.recv_until("Z") if m.type == "D"] == [[b"2"]]
    c.send(pgwire.query("COMMIT"))
    c.recv_until("Z")
    c.close()
    assert active(tables, "race_queue", page_id=5) == 1


def test_named_statement_reused(tables, jobs):
    """A prepared statement bound again and again (pgbench -M prepared, JDBC)."""
    c = raw(jobs.port)
    c.send(pgwire.parse("ins", "INSERT INTO race_jobs (domain, job_type) VALUES ($1, $2)"), pgwire.sync())
    c.recv_until("Z")
    tags = []
    for key in ["a", "a", "b", "a", "b", "c"]:
        c.send(pgwire.bind("", "ins", (key, "t")), pgwire.execute(), pgwire.sync())
        msgs = c.recv_until("Z")
        tags += [m.command_tag() if m.type == "C" else m.sqlstate for m in msgs if m.type in "CE"]
    assert tags == ["INSERT 0 1", "23505", "INSERT 0 1", "23505", "23505", "INSERT 0 1"]
    # pipelined in one flight: the second insert of a key sees the first
    c.send(pgwire.bind("", "ins", ("d", "t")), pgwire.execute(), pgwire.sync(),
           pgwire.bind("", "ins", ("d", "t")), pgwire.execute(), pgwire.sync())
    msgs = c.recv_until("Z") + c.recv_until("Z")
    assert [m.type for m in msgs] == ["2", "C", "Z", "E", "Z"]
    assert msgs[3].sqlstate == "23505"
    c.close()


def test_repeatable_read_refused(tables, jobs):
    c = raw(jobs.port)
    c.send(pgwire.query("BEGIN ISOLATION LEVEL REPEATABLE READ"))
    c.recv_until("Z")
    f, status = conflict_fields(c, pgwire.query(
        "INSERT INTO race_jobs (domain, job_type) VALUES ('rr.com', 'full')"))
    assert f["C"] == "0A000" and "READ COMMITTED" in f["M"] and status == "E"
    c.close()
    assert active(tables, "race_jobs", domain="rr.com", job_type="full") == 0


def test_uncovered_inserts_pass_and_are_logged(tables, jobs):
    c = raw(jobs.port)
    for sql in ["INSERT INTO race_jobs (domain, job_type) SELECT 'u.com', 'full'",
                "INSERT INTO race_jobs (domain, job_type) VALUES (lower('U.com'), 'full')",
                "INSERT INTO race_jobs (domain, job_type) VALUES ('v.com', 'full'); SELECT 1"]:
        c.send(pgwire.query(sql))
        assert "E" not in [m.type for m in c.recv_until("Z")]
    c.close()
    jobs.wait_log(r"event=job_uncovered sid=\d+ table=race_jobs reason=not_values")
    jobs.wait_log(r"event=job_uncovered sid=\d+ table=race_jobs reason=key_expression")
    jobs.wait_log(r"event=job_uncovered sid=\d+ table=race_jobs reason=several_statements")


def test_different_keys_never_wait(tables, jobs):
    """32 transactions on 32 keys, each holding its lock 0.5 s: together about 0.5 s."""
    hold = 0.5
    barrier = threading.Barrier(CLIENTS)
    errors = []

    def run(i):
        try:
            c = raw(jobs.port)
            barrier.wait()
            c.send(pgwire.query("BEGIN"), pgwire.query(
                "INSERT INTO race_jobs (domain, job_type) VALUES ('k%d.com', 'full')" % i))
            msgs = c.recv_until("Z") + c.recv_until("Z")
            assert [m.command_tag() for m in msgs if m.type == "C"] == ["BEGIN", "INSERT 0 1"]
            time.sleep(hold)
            c.send(pgwire.query("COMMIT"))
            c.recv_until("Z")
            c.close()
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(CLIENTS)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    elapsed = time.monotonic() - t0
    assert not errors, errors
    assert elapsed < hold * 4, elapsed  # serialized, it would take 16 s
    assert tables.execute("SELECT count(*) FROM race_jobs")[0][0] == CLIENTS


def test_lock_wait_exported_to_prometheus(tables, pgward_factory):
    """Each serialized insert's lock wait lands in pgward_job_lock_wait_seconds{table}."""
    from test_metrics import http_get, parse_metrics, total
    from conftest import free_port

    port = free_port()
    pw = pgward_factory(**{"metrics.listen_port": port, **JOBS})
    c = pw.connect()
    with c.cursor() as cur:
        for i in range(3):
            cur.execute("INSERT INTO race_queue (page_id) VALUES (%s)", (1000 + i,))
    c.close()
    status, _, body = http_get(port, "/metrics")
    assert status == 200
    samples = parse_metrics(body)
    assert total(samples, "pgward_job_lock_wait_seconds_count", table="race_queue") == 3
    assert total(samples, "pgward_job_lock_wait_seconds_count", table="race_jobs") == 0
