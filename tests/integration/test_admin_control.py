"""PgBouncer's PAUSE, RESUME, RECONNECT, KILL and WAIT_CLOSE on pgward's console, and its
per-database SHOW STATS counters, through a real PostgreSQL 15 with session pooling.

A console command that waits (PAUSE, WAIT_CLOSE) is sent on a raw connection: its answer must
not come while servers remain, and must come once they are gone, while pgward keeps serving
everyone else in the meantime.
"""

import threading
import time

import psycopg2
import pytest

import authkit
import pgwire
from authkit import login
from conftest import SCRAM_PASSWORD, SCRAM_USER, wait_for

NUMERIC = 1700


@pytest.fixture(scope="module")
def roles(pg):
    authkit.ensure_roles(pg)


@pytest.fixture
def pooled(pg, roles, pgward_factory, tmp_path):
    """pgward authenticating SCRAM_USER itself, pool_mode = session, SCRAM_USER on the console."""
    ul = authkit.write_userlist(tmp_path / "userlist.txt",
                                {SCRAM_USER: authkit.server_secret(pg, SCRAM_USER)})

    def start(**settings):
        s = {"auth_type": "scram-sha-256", "auth_file": ul, "pool_mode": "session",
             "default_pool_size": 2, "admin.users": SCRAM_USER}
        s.update(settings)
        return pgward_factory(**s)
    return start


def app(pw, database="postgres", **kw):
    """A client that has run a statement, so it holds a server whenever the pool hands one
    out (at its login, or at its first message)."""
    c = login(pw, SCRAM_USER, SCRAM_PASSWORD, database=database, **kw)
    assert c.scalar("SELECT 1") == "1"
    return c


def console(pw):
    return login(pw, SCRAM_USER, SCRAM_PASSWORD, database="pgward")


def show(pw, what):
    """SHOW <what> through psycopg2: rows as dicts (and the column type oids)."""
    c = psycopg2.connect(pw.dsn(SCRAM_USER, "pgward", connect_timeout=10))
    c.autocommit = True
    try:
        with c.cursor() as cur:
            cur.execute("SHOW " + what)
            cols = [d.name for d in cur.description]
            return [dict(zip(cols, r)) for r in cur.fetchall()], [d.type_code for d in cur.description]
    finally:
        c.close()


def rows(pw, what):
    return show(pw, what)[0]


def pool(pw, database="postgres"):
    ps = [r for r in rows(pw, "POOLS") if r["database"] == database and r["user"] == SCRAM_USER]
    return ps[0] if ps else None


def database(pw, name="postgres"):
    return [r for r in rows(pw, "DATABASES") if r["name"] == name][0]


def tags(msgs):
    return [m.command_tag() for m in msgs if m.type == "C"]


def errors(msgs):
    return [m.fields() for m in msgs if m.type == "E"]


def command(con, sql):
    """One console command that answers at once: (command tags, error fields)."""
    msgs = con.simple(sql)
    return tags(msgs), errors(msgs)


def leave(c):
    c.send(pgwire.terminate())
    assert c.wait_closed(5)


def pid(c):
    return int(c.scalar("SELECT pg_backend_pid()"))


def login_in_thread(pw, out, **kw):
    """A client that may wait for the pool, at its login or its first statement: the
    connection, or the PgError that ended it, lands in <out>."""
    def body():
        try:
            out.append(app(pw, **kw))
        except pgwire.PgError as e:
            out.append(e)
        except pgwire.Closed as e:  # the error came with the close, before a Query's answer
            out.append(e)
    t = threading.Thread(target=body, daemon=True)
    t.start()
    return t


def gone(pg, backend):
    return not pg.backend_alive(backend)


def test_pause_answers_when_the_last_server_is_released(pg, pooled):
    """PAUSE closes the idle server at once, answers only once the client holding the other
    one leaves (that server is closed, not reused), holds a new client in the queue meanwhile,
    and RESUME lets it go with a new server. The console reads nothing else while it waits:
    a SHOW sent behind PAUSE is answered after it."""
    pw = pooled()
    idle = app(pw)
    idle_pid = pid(idle)
    holder = app(pw)
    holder_pid = pid(holder)
    leave(idle)
    wait_for(lambda: pool(pw)["sv_idle"] == 1, 5, what="the idle server")

    con = console(pw)
    con.send(pgwire.query("PAUSE postgres"), pgwire.query("SHOW STATE"))
    wait_for(lambda: gone(pg, idle_pid), 5, what="the idle server to close")
    assert not con.readable(0.5), "PAUSE answered while a server is still in use"
    assert database(pw)["paused"] == 1
    waiting = []
    t = login_in_thread(pw, waiting)
    wait_for(lambda: pool(pw)["cl_waiting"] == 1, 5, what="a client held by the pause")
    # the held client's database still serves its other client
    assert holder.scalar("SELECT 41 + 1") == "42"
    assert not con.readable(0.2)

    leave(holder)
    msgs = con.recv_until("Z", timeout=5)
    assert tags(msgs) == ["PAUSE"] and not errors(msgs), msgs
    state = con.recv_until("Z", timeout=5)  # the SHOW sent behind PAUSE, answered after it
    assert [m.data_row() for m in state if m.type == "D"][1] == [b"paused", b"no"], state
    wait_for(lambda: gone(pg, holder_pid), 5, what="the released server to close")
    p = pool(pw)
    assert (p["cl_waiting"], p["sv_active"], p["sv_idle"], p["sv_login"]) == (1, 0, 0, 0), p
    assert not waiting

    assert command(con, "RESUME postgres") == (["RESUME"], [])
    t.join(10)
    assert len(waiting) == 1 and isinstance(waiting[0], pgwire.Conn), waiting
    assert pid(waiting[0]) not in (idle_pid, holder_pid)
    assert database(pw)["paused"] == 0
    leave(waiting[0])
    leave(con)


def test_pause_of_all_and_the_errors_of_pgbouncer(pg, pooled):
    """PAUSE and RESUME without a database, and each refusal with PgBouncer's message and
    SQLSTATE 08P01; malformed commands get 42601; the console stays usable after each."""
    pw = pooled()
    a = app(pw)
    leave(a)
    con = console(pw)
    assert command(con, "pause") == (["PAUSE"], [])  # nothing in use: at once
    assert [r["value"] for r in rows(pw, "STATE")] == ["no", "yes", "no"]
    held = []
    t = login_in_thread(pw, held)
    wait_for(lambda: (pool(pw) or {}).get("cl_waiting") == 1, 5, what="a client held by PAUSE")

    refusals = {
        "PAUSE": "already suspended/paused",
        "KILL postgres": "already suspended/paused",
        "PAUSE nosuchdb": "already suspended/paused",
        "RESUME nosuchdb": "no such database: nosuchdb",
        "RESUME postgres": "database postgres is not paused",
        "RECONNECT nosuchdb": "no such database: nosuchdb",
        "RECONNECT pgward": "cannot reconnect admin db: pgward",
        "WAIT_CLOSE pgward": "cannot wait in admin db: pgward",
    }
    for sql, message in refusals.items():
        done, errs = command(con, sql)
        assert done == [] and len(errs) == 1, (sql, errs)
        assert (errs[0]["S"], errs[0]["C"], errs[0]["M"]) == ("ERROR", "08P01", message), sql
    assert command(con, "RESUME") == (["RESUME"], [])
    t.join(10)
    assert len(held) == 1 and isinstance(held[0], pgwire.Conn), held
    leave(held[0])

    for sql, message in {"PAUSE nosuchdb": "no such database: nosuchdb",
                         "PAUSE pgward": "cannot pause admin db: pgward",
                         "KILL pgward": "cannot kill admin db: pgward",
                         "RESUME": "pooler is not paused/suspended"}.items():
        errs = command(con, sql)[1]
        assert [(e["C"], e["M"]) for e in errs] == [("08P01", message)], sql
    for sql in ("PAUSE postgres bench", "PAUSE my-db", 'PAUSE "unclosed', "RELOAD now"):
        errs = command(con, sql)[1]
        assert len(errs) == 1 and errs[0]["C"] == "42601", (sql, errs)
    errs = command(con, "VACUUM")[1]
    assert errs[0]["C"] == "42601" and "unknown command VACUUM" in errs[0]["M"]
    # a quoted name is read as written, case and all: unknown, but named exactly
    errs = command(con, 'PAUSE "Post""gres"')[1]
    assert errs[0]["M"] == 'no such database: Post"gres'
    assert command(con, "show state;")[0] == ["SHOW 3"]
    help_ = [r["command"] for r in rows(pw, "HELP")]
    for c in ("PAUSE [db]", "RESUME [db]", "RECONNECT [db]", "KILL [db]", "WAIT_CLOSE [db]",
              "SHOW STATS", "SHOW STATS_TOTALS", "SHOW STATS_AVERAGES", "SHOW TOTALS",
              "SHOW STATE", "SHOW COUNTERS"):
        assert c in help_, c
    leave(con)


def test_reconnect_and_wait_close(pg, pooled):
    """RECONNECT closes the idle server at once and marks the busy one close_needed: it keeps
    serving its client, is closed when released, and a new client gets a new server at once.
    WAIT_CLOSE answers once no server is marked any more."""
    pw = pooled()
    a = app(pw)
    a_pid = pid(a)
    b = app(pw)
    b_pid = pid(b)
    leave(b)
    wait_for(lambda: pool(pw)["sv_idle"] == 1, 5, what="the idle server")

    con = console(pw)
    assert command(con, "RECONNECT postgres") == (["RECONNECT"], [])
    wait_for(lambda: gone(pg, b_pid), 5, what="the idle server to close")
    servers = [r for r in rows(pw, "SERVERS") if r["database"] == "postgres"]
    assert [(s["remote_pid"], s["close_needed"]) for s in servers] == [(a_pid, 1)], servers
    assert pid(a) == a_pid  # still its client's

    con.send(pgwire.query("WAIT_CLOSE postgres"))
    assert not con.readable(0.5), "WAIT_CLOSE answered while a server is marked"
    c = app(pw)  # no hold: a new server at once
    c_pid = pid(c)
    assert c_pid not in (a_pid, b_pid)
    assert not con.readable(0.2)
    leave(a)
    msgs = con.recv_until("Z", timeout=5)
    assert tags(msgs) == ["WAIT_CLOSE"] and not errors(msgs), msgs
    wait_for(lambda: gone(pg, a_pid), 5, what="the released server to close")
    servers = [r for r in rows(pw, "SERVERS") if r["database"] == "postgres"]
    assert [(s["remote_pid"], s["close_needed"]) for s in servers] == [(c_pid, 0)], servers
    # nothing marked: at once, for one database and for all
    assert command(con, "WAIT_CLOSE") == (["WAIT_CLOSE"], [])
    assert command(con, "reconnect") == (["RECONNECT"], [])
    leave(c)
    leave(con)


def test_kill_closes_clients_at_once_and_holds_new_ones(pg, pooled):
    """KILL postgres: its client running a statement and its client waiting for the pool get
    FATAL 57P01 naming KILL, its servers close, a client of another database is untouched,
    new clients wait until RESUME."""
    pw = pooled(default_pool_size=1)
    busy = app(pw)
    busy_pid = pid(busy)
    other = app(pw, database="bench")
    queued = []
    t = login_in_thread(pw, queued)
    wait_for(lambda: pool(pw)["cl_waiting"] == 1, 5, what="a queued client")
    busy.send(pgwire.query("SELECT pg_sleep(30)"))
    wait_for(lambda: pg.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %d AND "
                                "query LIKE 'SELECT pg_sleep%%'" % busy_pid)[0][0] == 1, 5,
             what="the statement to run")

    con = console(pw)
    assert command(con, "KILL postgres") == (["KILL"], [])
    err = busy.expect_error(timeout=5)
    assert (err["S"], err["C"]) == ("FATAL", "57P01"), err
    assert "KILL" in err["M"] and '"postgres"' in err["M"], err
    assert busy.wait_closed(5)
    t.join(10)
    assert len(queued) == 1 and isinstance(queued[0], (pgwire.PgError, pgwire.Closed)), queued
    err = queued[0] if isinstance(queued[0], pgwire.PgError) else pgwire.PgError(
        [m for m in queued[0].messages if m.type == "E"][0].fields())
    assert err.sqlstate == "57P01" and "KILL" in err.message, err
    wait_for(lambda: gone(pg, busy_pid), 5, what="the killed server to close")
    assert other.scalar("SELECT current_database()") == "bench"
    assert database(pw)["paused"] == 1 and database(pw, "bench")["paused"] == 0

    held = []
    t = login_in_thread(pw, held)
    wait_for(lambda: pool(pw)["cl_waiting"] == 1, 5, what="a client held after KILL")
    assert not held
    assert command(con, "RESUME postgres") == (["RESUME"], [])
    t.join(10)
    assert len(held) == 1 and held[0].scalar("SELECT 1") == "1"
    leave(held[0])
    leave(other)
    leave(con)


def test_console_leaving_while_pause_waits(pg, pooled):
    """A console that leaves while its PAUSE waits: the pause stays (as PgBouncer's), pgward
    carries on, and RESUME from another console lifts it."""
    pw = pooled()
    a = app(pw)
    con = console(pw)
    con.send(pgwire.query("PAUSE postgres"))
    assert not con.readable(0.3)
    con.close()
    time.sleep(0.2)
    leave(a)
    assert database(pw)["paused"] == 1
    con2 = console(pw)
    assert command(con2, "RESUME postgres") == (["RESUME"], [])
    b = app(pw)
    assert b.scalar("SELECT 1") == "1"
    leave(b)
    leave(con2)


def test_pause_and_kill_need_pooling(pg, roles, pgward_factory):
    """With pool_mode = none there is no queue to hold clients in: PAUSE and KILL are refused
    with 0A000; RECONNECT and WAIT_CLOSE have nothing to wait for."""
    pw = pgward_factory(**{"admin.users": "postgres", "pool_mode": "none"})
    a = pw.connect()
    with a.cursor() as cur:
        cur.execute("SELECT 1")
    c = psycopg2.connect(pw.dsn("postgres", "pgward", connect_timeout=10))
    c.autocommit = True
    with c.cursor() as cur:
        for sql in ("PAUSE", "KILL postgres"):
            with pytest.raises(psycopg2.Error) as e:
                cur.execute(sql)
            assert e.value.pgcode == "0A000" and "pool_mode = session" in str(e.value)
        cur.execute("RECONNECT postgres")
        assert cur.statusmessage == "RECONNECT"
        cur.execute("WAIT_CLOSE")
        assert cur.statusmessage == "WAIT_CLOSE"
    c.close()
    a.close()


# ---------------------------------------------------------------- SHOW STATS


def stats(pw, what="STATS", name="postgres"):
    rs, oids = show(pw, what)
    return [r for r in rs if r["database"] == name][0], oids


def test_stats_count_queries_transactions_and_times(pg, pooled):
    """SHOW STATS counts what the client ran, not what pgward ran on its own: 5 statements
    alone and a transaction of 4 are 9 queries and 6 transactions; the transaction's time
    includes the client's pause inside it, a query's time does not; bytes sent to the client
    are counted. A second client that waited for the only server adds an assignment and its
    wait. Counters are numeric, as PgBouncer's."""
    pw = pooled(default_pool_size=1)
    a = login(pw, SCRAM_USER, SCRAM_PASSWORD, params={"application_name": "counted",
                                                       "search_path": "public"})
    for i in range(5):
        assert a.scalar("SELECT %d" % i) == str(i)
    a.rows("BEGIN")
    a.rows("SELECT pg_sleep(0.2)")
    time.sleep(0.3)  # idle in transaction: transaction time, not query time
    a.rows("SELECT 1")
    a.rows("COMMIT")
    s, oids = stats(pw)
    assert oids == [25] + [NUMERIC] * 22, oids
    assert (s["total_query_count"], s["total_xact_count"], s["total_server_assignment_count"]) == (
        9, 6, 1), s
    # pgward's clock ticks every few milliseconds (CLOCK_MONOTONIC_COARSE)
    assert 190000 <= s["total_query_time"] < 290000, s
    assert s["total_xact_time"] >= 480000, s
    assert s["total_sent"] > 200, s  # every result and ReadyForQuery
    assert s["total_received"] > 9 * len("SELECT 1"), s  # the nine queries' messages
    assert (s["total_client_parse_count"], s["total_server_parse_count"], s["total_bind_count"]) == (
        0, 0, 0)
    # averages: per second over the stats period so far, and per query / transaction
    assert s["avg_query_count"] >= 0 and s["avg_query_time"] == s["total_query_time"] // 9, s

    waiting = []
    t = login_in_thread(pw, waiting)
    wait_for(lambda: pool(pw)["cl_waiting"] == 1, 5, what="a waiting client")
    time.sleep(1.0)
    leave(a)
    t.join(10)
    b = waiting[0]  # it ran SELECT 1
    assert b.scalar("SELECT 2") == "2"
    s, _ = stats(pw)
    assert (s["total_query_count"], s["total_server_assignment_count"]) == (11, 2), s
    assert s["total_wait_time"] >= 990000, s
    assert s["avg_wait_time"] == s["total_wait_time"] // 2, s

    totals, oids = stats(pw, "STATS_TOTALS")
    assert oids == [25] + [NUMERIC] * 11
    assert (totals["query_count"], totals["xact_count"], totals["bytes_sent"],
            totals["wait_time"]) == (s["total_query_count"], s["total_xact_count"],
                                     s["total_sent"], s["total_wait_time"]), totals
    averages, _ = stats(pw, "STATS_AVERAGES")
    assert averages["query_time"] == s["avg_query_time"], averages
    all_ = {r["name"]: r["value"] for r in rows(pw, "TOTALS")}
    assert all_["total_query_count"] == 11 and all_["total_server_assignment_count"] == 2, all_
    assert all_["avg_query_time"] == s["avg_query_time"], all_
    leave(b)
