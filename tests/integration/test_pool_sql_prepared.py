"""pool_mode = transaction with statements prepared in SQL, through a real PostgreSQL 15:
PREPARE, EXECUTE (also under EXPLAIN and CREATE TABLE AS) and DEALLOCATE go to servers with
pgward's names for the statements (pgward_<n>), prepared on whichever server the client gets,
so clients with the same names share a few servers without a pin; SQL and the protocol share
one namespace, as on the server; what the client is told is what PostgreSQL would tell it."""

import pgwire
import test_pool
import test_pool_transaction
from authkit import login
from conftest import SCRAM_PASSWORD, SCRAM_USER
from test_pool import backends, pid_of
from test_pool_prepared import call, run, server_names

# fixtures of other modules, bound here for pytest: pgward pooling SCRAM_USER per transaction
roles = test_pool.roles
pooled = test_pool.pooled
txn_pool = test_pool_transaction.txn_pool


def errors(c, sql):
    return [(m.fields()["C"], m.fields()["M"]) for m in c.simple(sql) if m.type == "E"]


def other_server(a, b):
    """Leaves b inside a transaction on the server a used last, so that a's next transaction
    goes to the other server of a pool of two."""
    first = pid_of(a)
    b.rows("BEGIN")
    if pid_of(b) != first:
        b.rows("COMMIT")
        a.rows("BEGIN")
        b.rows("BEGIN")
        a.rows("COMMIT")
    assert pid_of(b) == first
    return first


def test_clients_with_the_same_names_on_two_servers(pg, txn_pool):
    """Goal of each client: its own "p", whatever server a transaction lands on. Ten clients
    each PREPARE p with a text of their own and EXECUTE it, interleaved, on a pool of two:
    every result is the client's own, no client is pinned, no more than two backends open,
    and the servers hold pgward's names only."""
    pw = txn_pool(default_pool_size=2, query_wait_timeout=30)
    holder = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    clients = [login(pw, SCRAM_USER, SCRAM_PASSWORD) for _ in range(10)]
    for i, c in enumerate(clients):
        c.rows("PREPARE p(int) AS SELECT $1 + %d" % (1000 * i))
    pids = set()
    for round_ in range(4):
        if round_ % 2:
            holder.rows("BEGIN")  # takes the server the clients used: they move
        for i, c in enumerate(clients):
            assert c.scalar("EXECUTE p(%d)" % round_) == str(1000 * i + round_)
            pids.add(pid_of(c))
        if round_ % 2:
            holder.rows("COMMIT")
    assert len(pids) == 2 and backends(pg) == 2
    assert "client_pinned" not in pw.log_text()
    names = clients[0].rows("SELECT name FROM pg_prepared_statements")
    assert names and all(n[0].startswith("pgward_") for n in names), names


def test_a_statement_runs_where_it_was_never_prepared(pg, txn_pool):
    """a prepares on one server; b holds that server in a transaction, so a's EXECUTE goes to
    the other one, where pgward prepares it first. EXPLAIN EXECUTE and CREATE TABLE AS
    EXECUTE find it too."""
    pw = txn_pool(default_pool_size=2)
    a = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    b = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    a.rows("PREPARE twice(int) AS SELECT $1 * 2 AS twice")
    first = other_server(a, b)
    assert a.scalar("EXECUTE twice(21)") == "42"
    assert pid_of(a) != first
    plan = "\n".join(r[0] for r in a.rows("EXPLAIN EXECUTE twice(1)"))
    assert "Result" in plan
    a.rows("CREATE TEMP TABLE sql_prep_t AS EXECUTE twice(5)")  # pins (a temporary table)
    assert a.scalar("SELECT twice FROM sql_prep_t") == "10"
    b.rows("COMMIT")


def test_errors_are_postgresqls(pg, txn_pool):
    """A second PREPARE of a name gets 42P05; EXECUTE and DEALLOCATE of a name never
    prepared, or deallocated, get 26000 with the client's name; a PREPARE the server refuses
    leaves no name, so the next one of that name works; pgward's own names are out of
    reach."""
    pw = txn_pool(default_pool_size=1)
    a = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    a.rows("PREPARE p AS SELECT 1")
    assert errors(a, "PREPARE p AS SELECT 2") == [("42P05", 'prepared statement "p" already exists')]
    assert a.scalar("EXECUTE p") == "1"
    assert errors(a, "EXECUTE nope") == [("26000", 'prepared statement "nope" does not exist')]
    assert errors(a, "PREPARE bad AS SELECT FROM FROM")[0][0] == "42601"
    assert errors(a, "PREPARE bad2 AS SELECT * FROM no_such_table")[0][0] == "42P01"
    a.rows("PREPARE bad2 AS SELECT 'now it exists'")
    assert a.scalar("EXECUTE bad2") == "now it exists"
    a.rows("DEALLOCATE p")
    assert errors(a, "EXECUTE p") == [("26000", 'prepared statement "p" does not exist')]
    assert errors(a, "DEALLOCATE p") == [("26000", 'prepared statement "p" does not exist')]
    pgward_name = server_names(a)[0]
    assert errors(a, "EXECUTE %s" % pgward_name) == [
        ("26000", 'prepared statement "%s" does not exist' % pgward_name)]
    assert errors(a, "DEALLOCATE %s" % pgward_name)[0][0] == "26000"
    a.rows("DEALLOCATE ALL")
    assert errors(a, "EXECUTE bad2")[0][0] == "26000"
    assert "client_pinned" not in pw.log_text()


def test_sql_and_the_protocol_share_names(pg, txn_pool):
    """As on the server: a statement Parsed under a name runs by EXECUTE of that name, and one
    PREPAREd in SQL runs by a Bind of its name, on any server."""
    pw = txn_pool(default_pool_size=2)
    a = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    b = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    assert run(a, pgwire.parse("proto", "SELECT $1::int + 100"), pgwire.sync()) == [("1",), ("Z",)]
    a.rows("PREPARE sqlp(int) AS SELECT $1 * 3")
    for _ in range(2):
        b.rows("BEGIN")  # the other server, then the same
        assert a.scalar("EXECUTE proto(1)") == "101"
        assert call(a, "sqlp", 5) == [("2",), ("D", ["15"]), ("C",), ("Z",)]
        b.rows("COMMIT")
    assert errors(a, "PREPARE proto AS SELECT 1") == [("42P05", 'prepared statement "proto" already exists')]


def test_what_cannot_be_renamed_pins(pg, txn_pool):
    """A PREPARE next to another statement in one Query pins the client, and its statement
    keeps the client's name on the server."""
    pw = txn_pool(default_pool_size=2)
    a = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    start = len(pw.log_text())
    a.rows("PREPARE multi AS SELECT 7; SELECT 1")
    pw.wait_log(r"event=client_pinned .*reason=\"PREPARE multi\"", start=start)
    assert a.scalar("EXECUTE multi") == "7"
    assert a.scalar("SELECT count(*) FROM pg_prepared_statements WHERE name = 'multi'") == "1"


def test_a_deallocate_all_leaves_no_statement_believed_held(pg, txn_pool):
    """Goal of a client: make the server drop a statement pgward believes it holds, so that
    another client's Bind of it fails. a runs EXECUTE of a statement b shares, then DEALLOCATE
    ALL, in one Query; b's Bind of the statement on the same backend is prepared again."""
    pw = txn_pool(default_pool_size=1)
    a = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    b = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    for c in (a, b):
        assert run(c, pgwire.parse("kept", "SELECT $1::int + 1"), pgwire.sync()) == [("1",), ("Z",)]
    a.rows("EXECUTE kept(1); DEALLOCATE ALL")
    assert call(b, "kept", 41) == [("2",), ("D", ["42"]), ("C",), ("Z",)]
    assert errors(a, "EXECUTE kept(1)")[0][0] == "26000"


def test_a_bind_inside_a_batch_keeps_the_batch_whole(pg, txn_pool):
    """A client binds a statement it PREPAREd in SQL in the middle of an extended-protocol
    batch, on a server that lacks it: pgward prepares it inside the batch, with no Sync of
    its own, so the batch stays one transaction, and after an error earlier in the batch the
    server skips the rest, pgward's PREPARE and the client's Bind included, as PostgreSQL
    skips the client's."""
    pw = txn_pool(default_pool_size=2)
    a = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    b = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    a.rows("PREPARE inbatch(int) AS SELECT $1 * 3")
    other_server(a, b)
    got = run(a, pgwire.parse("", "SELECT txid_current() IS NOT NULL"), pgwire.bind("", ""), pgwire.execute(),
              pgwire.bind("", "inbatch", ["5"]), pgwire.execute(), pgwire.sync())
    assert got == [("1",), ("2",), ("D", ["t"]), ("C",), ("2",), ("D", ["15"]), ("C",), ("Z",)], got
    b.rows("COMMIT")
    a.rows("PREPARE inbatch2(int) AS SELECT $1 * 4")
    other_server(a, b)
    got = run(a, pgwire.parse("", "SELECT 1/0"), pgwire.bind("", ""), pgwire.execute(),
              pgwire.bind("", "inbatch2", ["5"]), pgwire.execute(), pgwire.sync())
    assert [g[:2] for g in got] == [("1",), ("E", "22012"), ("Z",)], got
    b.rows("COMMIT")
    assert a.scalar("EXECUTE inbatch2(2)") == "8"
