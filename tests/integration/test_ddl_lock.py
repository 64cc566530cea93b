"""[guard] ddl_lock_timeout: a DDL statement waiting on a lock another session holds fails with
55P03 after the configured time through pgward, where directly it waits; the client sees only
its own statements' answers (raw protocol transcripts compared with and without the feature);
the session's lock_timeout is unchanged afterwards; a client that sets lock_timeout itself
keeps its own value."""

import re
import time

import pgwire
from conftest import POOL_MODE, POOLED

LT = {"guard.ddl_lock_timeout": "1s"}


def reset_tables(pg):
    pg.execute("DROP TABLE IF EXISTS lt_t, lt_new CASCADE; CREATE TABLE lt_t (id int PRIMARY KEY, v text)")


def hold_lock(pg):
    """A transaction on another connection that holds a lock every DDL on lt_t waits for."""
    conn = pg.connect(autocommit=False)
    cur = conn.cursor()
    cur.execute("SELECT count(*) FROM lt_t")
    return conn


def timed(fn):
    t = time.monotonic()
    out = fn()
    return out, time.monotonic() - t


def errors(msgs):
    return [m.fields() for m in msgs if m.type == "E"]


def test_blocked_ddl_times_out_through_pgward_and_waits_directly(pg, pgward_factory):
    reset_tables(pg)
    pw = pgward_factory(**LT)
    holder = hold_lock(pg)
    c = pw.raw_session()
    msgs, took = timed(lambda: c.simple("ALTER TABLE lt_t ADD COLUMN w int"))
    e = errors(msgs)
    assert len(e) == 1 and e[0]["C"] == "55P03", e
    assert 0.8 < took < 5, took
    assert msgs[-1].ready_status() == "I"
    assert c.scalar("SHOW lock_timeout") == "0"

    # The same statement directly waits: here it is stopped by a statement_timeout of 3 s.
    d = pg.raw_session()
    d.simple("SET statement_timeout = '3s'")
    msgs, took = timed(lambda: d.simple("ALTER TABLE lt_t ADD COLUMN w int"))
    assert errors(msgs)[0]["C"] == "57014", errors(msgs)
    assert took > 2.5

    # Extended protocol, the DDL parsed and bound in the same batch.
    c.send(pgwire.parse("", "ALTER TABLE lt_t ADD COLUMN x int"), pgwire.bind("", ""), pgwire.execute(),
           pgwire.sync())
    msgs, took = timed(lambda: c.recv_until("Z"))
    assert pgwire.types(msgs) == "12EZ", pgwire.types(msgs)
    assert msgs[2].fields()["C"] == "55P03" and 0.8 < took < 5
    assert c.scalar("SHOW lock_timeout") == "0"
    # A named statement prepared earlier, bound in a later batch.
    c.send(pgwire.parse("ddl", "ALTER TABLE lt_t ADD COLUMN y int"), pgwire.sync())
    assert pgwire.types(c.recv_until("Z")) == "1Z"
    c.send(pgwire.bind("", "ddl"), pgwire.execute(), pgwire.sync())
    msgs, took = timed(lambda: c.recv_until("Z"))
    assert pgwire.types(msgs) == "2EZ" and msgs[1].fields()["C"] == "55P03" and 0.8 < took < 5
    assert c.scalar("SHOW lock_timeout") == "0"
    holder.rollback()
    # Unblocked, the DDL runs; lock_timeout is still the session's.
    assert [m.command_tag() for m in c.simple("ALTER TABLE lt_t ADD COLUMN w int") if m.type == "C"] == \
        ["ALTER TABLE"]
    assert c.scalar("SHOW lock_timeout") == "0"


def test_client_lock_timeout_is_left_alone(pg, pgward_factory):
    reset_tables(pg)
    pw = pgward_factory(**LT)
    c = pw.raw_session()
    c.simple("SET lock_timeout = '3s'")
    holder = hold_lock(pg)
    msgs, took = timed(lambda: c.simple("ALTER TABLE lt_t ADD COLUMN w int"))
    assert errors(msgs)[0]["C"] == "55P03" and took > 2.5, took
    assert c.scalar("SHOW lock_timeout") == "3s"
    holder.rollback()


def transcript(endpoint):
    """A fixed script of DDL and other statements, simple and extended, in and out of
    transaction blocks, with errors; returns every message the client received."""
    c = endpoint.raw_session()
    out = []
    for sql in ["CREATE TABLE lt_new (id int)",
                "CREATE INDEX CONCURRENTLY lt_new_id ON lt_new (id)",
                "SELECT 1; ALTER TABLE lt_new ADD COLUMN a int; SELECT 2",
                "ALTER TABLE lt_nosuch ADD COLUMN a int",
                "BEGIN", "ALTER TABLE lt_new ADD COLUMN b int", "SHOW lock_timeout",
                "ALTER TABLE lt_nosuch ADD COLUMN b int", "SELECT 1", "ROLLBACK",
                "SHOW lock_timeout"]:
        out += c.simple(sql)
    # Extended: named DDL statement, bound later; a pipelined batch with an error before DDL;
    # a batch mixing reads and DDL; the unnamed statement survives the restore.
    c.send(pgwire.parse("ddl", "ALTER TABLE lt_new ADD COLUMN c int"), pgwire.sync())
    out += c.recv_until("Z")
    c.send(pgwire.parse("", "SELECT $1::int + 1"), pgwire.bind("", "", ["1"]), pgwire.execute(),
           pgwire.bind("", "ddl"), pgwire.describe("P"), pgwire.execute(), pgwire.sync())
    out += c.recv_until("Z")
    c.send(pgwire.bind("", "", ["41"]), pgwire.execute(), pgwire.sync())
    out += c.recv_until("Z")
    c.send(pgwire.parse("", "SELEC 1"), pgwire.bind("", "ddl"), pgwire.execute(), pgwire.sync())
    out += c.recv_until("Z")
    c.send(pgwire.query("BEGIN"), pgwire.parse("d2", "DROP TABLE lt_new"), pgwire.bind("", "d2"),
           pgwire.execute(), pgwire.sync(), pgwire.query("SHOW lock_timeout"), pgwire.query("ROLLBACK"))
    out += c.recv_until("Z") + c.recv_until("Z") + c.recv_until("Z") + c.recv_until("Z")
    out += c.simple("SELECT name FROM pg_prepared_statements ORDER BY name")
    out += c.simple("SHOW lock_timeout")
    c.close()
    return out


def normalized(msgs):
    """Messages with what differs between runs (backend pids, OIDs in errors, pgward's names
    for prepared statements under transaction pooling) left out."""
    out = []
    for m in msgs:
        if m.type == "E":
            f = m.fields()
            out.append(("E", f["C"], re.sub(r"\d+", "N", f["M"])))
        elif m.type == "D":
            out.append(("D", tuple(re.sub(rb"pgward_\d+", b"pgward_N", v) if v else v for v in m.data_row())))
        else:
            out.append((m.type, m.body))
    return out


def test_client_sees_exactly_its_own_answers(pg, pgward_factory):
    reset_tables(pg)
    plain = transcript(pgward_factory(**{"guard.ddl_lock_timeout": "0"}))
    reset_tables(pg)
    pw = pgward_factory(**LT)
    injected = transcript(pw)
    assert normalized(injected) == normalized(plain)
    # The transcript holds what the script expects, so equality means something.
    tags = [m.command_tag() for m in injected if m.type == "C"]
    assert "CREATE INDEX" in tags and tags.count("ALTER TABLE") == 3, tags
    rows = [m.data_row() for m in injected if m.type == "D"]
    assert [b"0"] in rows and [b"42"] in rows, rows
    if POOLED and POOL_MODE == "transaction":
        # the client's statements, under pgward's names on whichever server the listing ran
        # (README, Transaction pooling)
        assert [b"ddl"] not in rows and [b"d2"] not in rows, rows
        assert any(r[0].startswith(b"pgward_") for r in rows if r and r[0]), rows
    else:
        assert [r[0] for r in rows[-3:-1]] == [b"d2", b"ddl"], rows  # before the last SHOW
    assert [b"pgward.lock_timeout"] not in rows


def test_message_split_after_a_restored_ddl(pg, pgward_factory):
    """A DDL Query (lock_timeout set before it, restored after it) arrives in one packet with the
    first bytes of the next Query; the rest of that Query comes later. Both run, in order, and
    the session stays usable."""
    reset_tables(pg)
    pw = pgward_factory(**LT)
    c = pw.raw_session()
    ddl = pgwire.query("ALTER TABLE lt_t ADD COLUMN w int")
    nxt = pgwire.query("SELECT 42")
    for cut in (1, 5, 8, len(nxt) - 1):
        c.send(ddl, nxt[:cut])
        time.sleep(0.2)  # pgward reads and relays the part before the rest is sent
        c.send(nxt[cut:])
        first = c.recv_until("Z")
        assert [m.type for m in first if m.type in "CE"] == ["C"] or errors(first)[0]["C"] == "42701", first
        second = c.recv_until("Z")
        assert [m.data_row() for m in second if m.type == "D"] == [[b"42"]], (cut, second)
    assert c.scalar("SHOW lock_timeout") == "0"
    assert c.scalar("SELECT 1") == "1"


def test_concurrently_statements_run_in_both_protocols(pg, pgward_factory):
    """CONCURRENTLY statements cannot share an extended-protocol batch with another statement
    (the server answers 25001): pgward sets no lock_timeout of its own around them, so they run
    through pgward in the simple and the extended protocol, as they do directly."""
    reset_tables(pg)
    pw = pgward_factory(**LT)
    for endpoint in (pg, pw):
        c = endpoint.raw_session()
        for sql in ("CREATE INDEX CONCURRENTLY lt_v ON lt_t (v)", "REINDEX INDEX CONCURRENTLY lt_v",
                    "DROP INDEX CONCURRENTLY lt_v"):
            msgs = c.simple(sql)
            assert errors(msgs) == [], (endpoint.name, sql, errors(msgs))
            c.send(pgwire.parse("", sql), pgwire.bind("", ""), pgwire.execute(), pgwire.sync())
            msgs = c.recv_until("Z")
            if sql.startswith("CREATE"):
                # the index exists now: the extended run of the same CREATE fails as directly
                assert [e["C"] for e in errors(msgs)] == ["42P07"], (endpoint.name, errors(msgs))
            elif sql.startswith("REINDEX"):
                assert errors(msgs) == [], (endpoint.name, sql, errors(msgs))
            else:
                assert [e["C"] for e in errors(msgs)] == ["42704"], (endpoint.name, errors(msgs))
        # and once more, extended protocol first
        c.send(pgwire.parse("", "CREATE INDEX CONCURRENTLY lt_x ON lt_t (v)"), pgwire.bind("", ""),
               pgwire.execute(), pgwire.sync())
        assert errors(c.recv_until("Z")) == []
        c.send(pgwire.parse("", "DROP INDEX CONCURRENTLY lt_x"), pgwire.bind("", ""), pgwire.execute(),
               pgwire.sync())
        assert errors(c.recv_until("Z")) == []
        assert c.scalar("SHOW lock_timeout") == "0"


def ddl_in_aborted_transaction(c):
    """A DDL statement prepared, then bound and run in a transaction an error aborted, all
    pipelined (the client does not wait to learn the transaction failed)."""
    c.send(pgwire.parse("ddl_abort", "CREATE TABLE lt_abort_new (x int)"), pgwire.sync())
    got = c.recv_until("Z")
    c.send(pgwire.query("BEGIN"), pgwire.query("SELECT 1/0"), pgwire.bind("", "ddl_abort"), pgwire.execute(),
           pgwire.sync(), pgwire.query("ROLLBACK"))
    for _ in range(4):
        got += c.recv_until("Z")
    return [(m.type, m.fields()["C"]) if m.type == "E" else (m.type,) for m in got if m.type in "1ECZ"]


def test_a_ddl_in_an_aborted_transaction_gets_its_error(pg, pgward_factory):
    """pgward's lock_timeout in front of a pipelined DDL Bind fails in the aborted transaction
    (its tx_status is from before the pipeline): the client still gets the 25P02 its Bind
    gets from PostgreSQL, not a bare ReadyForQuery."""
    pg.execute("DROP TABLE IF EXISTS lt_abort_new")
    d = pg.raw_session()
    want = ddl_in_aborted_transaction(d)
    d.close()
    assert ("E", "25P02") in want
    pw = pgward_factory(**LT)
    c = pw.raw_session()
    assert ddl_in_aborted_transaction(c) == want
