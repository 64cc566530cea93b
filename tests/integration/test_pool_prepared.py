"""pool_mode = transaction with named prepared statements, through a real PostgreSQL 15: a
client's Parse, Bind, Describe and Close of a named statement go to servers under pgward's
names (pgward_<n>), prepared on whichever server the client gets, so clients with the same
statement names share a few servers without a pin, and each sees its own statement; what
the client is told (ParseComplete, errors, their SQLSTATEs) is what PostgreSQL would tell
it; and no client reaches a statement of pgward's by its name."""

import subprocess
import threading
import time

import pgwire
import test_pool
import test_pool_transaction
from authkit import login
from conftest import SCRAM_PASSWORD, SCRAM_USER
from test_pool import backends, pid_of

# fixtures of other modules, bound here for pytest: pgward pooling SCRAM_USER per transaction
roles = test_pool.roles
pooled = test_pool.pooled
txn_pool = test_pool_transaction.txn_pool


def run(c, *msgs, timeout=10):
    """Sends <msgs> and returns what came back up to ReadyForQuery, as (type, payload):
    a row's values, an error's SQLSTATE and message, or nothing."""
    c.send(*msgs)
    out = []
    for m in c.recv_until("Z", timeout=timeout):
        if m.type == "D":
            out.append(("D", [v.decode() if v is not None else None for v in m.data_row()]))
        elif m.type == "E":
            out.append(("E", m.fields()["C"], m.fields()["M"]))
        else:
            out.append((m.type,))
    return out


def call(c, stmt, *params):
    return run(c, pgwire.bind("", stmt, [str(p) for p in params]), pgwire.execute(), pgwire.sync())


def server_names(c):
    """pgward's statement names on the backend this query runs on."""
    return sorted(r[0] for r in c.rows("SELECT name FROM pg_prepared_statements WHERE name LIKE 'pgward%'"))


def test_twenty_clients_same_names_on_two_servers(pg, txn_pool):
    """Goal of each client: its own "s1" and "shared", whatever server a transaction lands
    on. Twenty clients each prepare "s1" with a text of their own and "shared" with the same
    text, then run them interleaved many times on a pool of two: every result is the
    client's own, no client is pinned, and no more than two backends open."""
    pw = txn_pool(default_pool_size=2, query_wait_timeout=30)
    clients = [login(pw, SCRAM_USER, SCRAM_PASSWORD) for _ in range(20)]
    for i, c in enumerate(clients):
        assert run(c, pgwire.parse("s1", "SELECT $1::int + %d" % (1000 * i)),
                   pgwire.parse("shared", "SELECT $1::text || '!'"), pgwire.sync()) == [("1",), ("1",), ("Z",)]
    pids = set()
    for round_ in range(5):
        for i, c in enumerate(clients):
            assert call(c, "s1", round_) == [("2",), ("D", [str(1000 * i + round_)]), ("C",), ("Z",)]
            assert call(c, "shared", i) == [("2",), ("D", ["%d!" % i]), ("C",), ("Z",)]
            pids.add(pid_of(c))
    assert len(pids) <= 2
    assert backends(pg) <= 2
    assert "client_pinned" not in pw.log_text()
    # one server-side statement per distinct text, shared by the twenty: 21 in all
    c = clients[0]
    names = set()
    for _ in range(4):
        names.update(server_names(c))
    assert len(names) <= 21


def test_statement_follows_its_client_to_another_server(pg, txn_pool):
    """Goal: a statement prepared on one server runs on another. Client a prepares s1 on
    the idle server while b holds the other in a transaction; then c takes the server a
    used and b lets go of its own, so a's next run lands where s1 was never prepared: it
    works, and describes the same."""
    pw = txn_pool(default_pool_size=2, query_wait_timeout=30)
    a = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    b = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    c = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    b.rows("BEGIN")
    pid_b = pid_of(b)
    assert run(a, pgwire.parse("s1", "SELECT pg_backend_pid(), $1::int * 2 AS twice"),
               pgwire.sync()) == [("1",), ("Z",)]
    first = call(a, "s1", 21)
    pid_a = int(first[1][1][0])
    assert first[1][1][1] == "42" and pid_a != pid_b
    c.rows("BEGIN")
    assert pid_of(c) == pid_a  # the only idle server
    b.rows("COMMIT")
    assert call(a, "s1", 4)[1][1] == [str(pid_b), "8"]
    a.send(pgwire.describe("S", "s1"), pgwire.sync())
    msgs = a.recv_until("Z")
    assert [m.type for m in msgs] == ["t", "T", "Z"]
    assert msgs[1].column_names() == ["pg_backend_pid", "twice"]
    c.rows("COMMIT")
    assert "client_pinned" not in pw.log_text()


def test_errors_are_postgresqls(pg, txn_pool):
    """Goal: errors as PostgreSQL gives them. A second Parse of a name the client has is
    refused with 42P05; a Parse the server refuses leaves no statement behind, so the name
    can be used again; a Parse skipped after an error of its batch leaves none either; a
    Bind of an unknown name is 26000; and the session goes on after each."""
    pw = txn_pool(default_pool_size=1)
    a = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    assert run(a, pgwire.parse("s1", "SELECT 1"), pgwire.sync()) == [("1",), ("Z",)]
    assert run(a, pgwire.parse("s1", "SELECT 2"), pgwire.sync()) == [
        ("E", "42P05", 'prepared statement "s1" already exists'), ("Z",)]
    assert call(a, "s1") == [("2",), ("D", ["1"]), ("C",), ("Z",)]
    # refused by the server: forgotten, and the name is free again
    assert run(a, pgwire.parse("s2", "SELECT * FROM no_such_table"), pgwire.sync())[0][:2] == ("E", "42P01")
    assert call(a, "s2") == [("E", "26000", 'prepared statement "s2" does not exist'), ("Z",)]
    assert run(a, pgwire.parse("s2", "SELECT 'two'"), pgwire.sync()) == [("1",), ("Z",)]
    assert call(a, "s2") == [("2",), ("D", ["two"]), ("C",), ("Z",)]
    # skipped after an error in its batch: never prepared
    out = run(a, pgwire.bind("", "nope"), pgwire.parse("s3", "SELECT 3"), pgwire.sync())
    assert out == [("E", "26000", 'prepared statement "nope" does not exist'), ("Z",)]
    assert call(a, "s3")[0] == ("E", "26000", 'prepared statement "s3" does not exist')
    # a statement the server holds already (another client's s1 text) parsed in an aborted
    # transaction fails as the client's own Parse would
    b = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    b.rows("BEGIN")
    assert b.simple("SELECT 1/0")[-1].ready_status() == "E"
    out = run(b, pgwire.parse("x", "SELECT 1"), pgwire.sync())
    assert out[0][:2] == ("E", "25P02") and out[-1] == ("Z",)
    b.rows("ROLLBACK")
    assert call(b, "x")[0] == ("E", "26000", 'prepared statement "x" does not exist')
    assert run(b, pgwire.parse("x", "SELECT 1"), pgwire.sync()) == [("1",), ("Z",)]
    assert call(b, "x") == [("2",), ("D", ["1"]), ("C",), ("Z",)]
    assert a.scalar("SELECT 'alive'") == "alive"


def test_transaction_end_prepared_in_an_aborted_transaction(pg, txn_pool):
    """Goal of a driver that prepares its own ROLLBACK (pgJDBC): end a failed transaction
    with it. PostgreSQL parses ROLLBACK, COMMIT and ROLLBACK TO SAVEPOINT in an aborted
    transaction; so does pgward, for the second client too, whose statement the server
    holds already."""
    pw = txn_pool(default_pool_size=1)
    for end in ("ROLLBACK", "COMMIT", "ROLLBACK TO SAVEPOINT s"):
        for _ in range(2):
            c = login(pw, SCRAM_USER, SCRAM_PASSWORD)
            c.rows("BEGIN")
            c.rows("SAVEPOINT s")
            assert c.simple("SELECT 1/0")[-1].ready_status() == "E"
            c.send(pgwire.parse("end", end), pgwire.bind("", "end"), pgwire.execute(), pgwire.sync())
            msgs = c.recv_until("Z")
            assert [m.type for m in msgs] == ["1", "2", "C", "Z"], msgs
            assert msgs[-1].ready_status() == ("T" if end.endswith(" s") else "I")
            if end.endswith(" s"):
                c.rows("ROLLBACK")
            c.close()


def test_close_and_describe(pg, txn_pool):
    """Goal: Close and Describe as direct. Closing a statement makes its name free and a
    Bind of it fail; closing an unknown name is no error; Describe gives the parameter
    types the Parse declared."""
    pw = txn_pool(default_pool_size=1)
    a = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    assert run(a, pgwire.parse("s1", "SELECT $1", [23]), pgwire.describe("S", "s1"), pgwire.sync())[:1] == [("1",)]
    a.send(pgwire.describe("S", "s1"), pgwire.sync())
    msgs = a.recv_until("Z")
    assert msgs[0].type == "t" and msgs[0].body[2:6] == (23).to_bytes(4, "big")
    assert run(a, pgwire.close("S", "s1"), pgwire.close("S", "never"), pgwire.sync()) == [("3",), ("3",), ("Z",)]
    assert call(a, "s1", 1)[0] == ("E", "26000", 'prepared statement "s1" does not exist')
    assert run(a, pgwire.parse("s1", "SELECT 'new'"), pgwire.sync()) == [("1",), ("Z",)]
    assert call(a, "s1") == [("2",), ("D", ["new"]), ("C",), ("Z",)]


def test_no_client_reaches_pgwards_statements(pg, txn_pool):
    """Attacker's goal: run, describe, close or drop another client's statement through
    pgward's name for it. Victim v prepares a statement; the attacker, on the same single
    server, Binds and Describes pgward_<n> by name (26000, as for any unknown name), Closes
    it and DEALLOCATEs it in SQL; the victim's statement still runs, in the same session and
    in a new one."""
    pw = txn_pool(default_pool_size=1)
    v = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    assert run(v, pgwire.parse("mine", "SELECT 'victim secret'"), pgwire.sync()) == [("1",), ("Z",)]
    x = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    names = server_names(x)
    assert names, "the victim's statement is on the server under pgward's name"
    for name in names:
        assert call(x, name)[0] == ("E", "26000", 'prepared statement "%s" does not exist' % name)
        x.send(pgwire.describe("S", name), pgwire.sync())
        err = x.expect_error()
        assert err["C"] == "26000"
        x.recv_until("Z")
        assert run(x, pgwire.close("S", name), pgwire.sync()) == [("3",), ("Z",)]
        x.simple("DEALLOCATE %s" % name)
    x.simple("DEALLOCATE ALL")
    assert call(v, "mine") == [("2",), ("D", ["victim secret"]), ("C",), ("Z",)]
    v2 = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    assert run(v2, pgwire.parse("mine", "SELECT 'victim again'"), pgwire.sync()) == [("1",), ("Z",)]
    assert call(v2, "mine") == [("2",), ("D", ["victim again"]), ("C",), ("Z",)]
    assert call(v, "mine") == [("2",), ("D", ["victim secret"]), ("C",), ("Z",)]


def test_discard_all_clears_the_clients_statements_only(pg, txn_pool):
    """DISCARD ALL and DEALLOCATE ALL drop the client's own statements, as direct, and
    another client's statements on the same server keep working."""
    pw = txn_pool(default_pool_size=1)
    a = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    b = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    for c in (a, b):
        assert run(c, pgwire.parse("s1", "SELECT 'one'"), pgwire.parse("s2", "SELECT 'two'"),
                   pgwire.sync()) == [("1",), ("1",), ("Z",)]
    a.simple("DISCARD ALL")
    assert call(a, "s1")[0] == ("E", "26000", 'prepared statement "s1" does not exist')
    assert call(b, "s1") == [("2",), ("D", ["one"]), ("C",), ("Z",)]
    b.simple("DEALLOCATE ALL")
    assert call(b, "s2")[0] == ("E", "26000", 'prepared statement "s2" does not exist')
    assert run(a, pgwire.parse("s1", "SELECT 'again'"), pgwire.sync()) == [("1",), ("Z",)]
    assert call(a, "s1") == [("2",), ("D", ["again"]), ("C",), ("Z",)]


def test_least_recently_used_statements_are_closed(pg, txn_pool):
    """max_prepared_statements = 3: a client with eight statements runs all of them in
    turn, twice, on one server that never holds more than three of pgward's."""
    pw = txn_pool(default_pool_size=1, max_prepared_statements=3)
    a = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    for i in range(8):
        assert run(a, pgwire.parse("s%d" % i, "SELECT %d" % i), pgwire.sync()) == [("1",), ("Z",)]
    for _ in range(2):
        for i in range(8):
            assert call(a, "s%d" % i) == [("2",), ("D", [str(i)]), ("C",), ("Z",)]
            assert len(server_names(a)) <= 3
    # in one batch, more statements than the server keeps
    msgs = []
    for i in range(8):
        msgs += [pgwire.bind("", "s%d" % i), pgwire.execute()]
    out = run(a, *msgs, pgwire.sync())
    assert [x[1][0] for x in out if x[0] == "D"] == [str(i) for i in range(8)]


def test_named_statement_pins_when_renaming_is_off(pg, txn_pool):
    """max_prepared_statements = 0: a named Parse pins its client, whose statement is
    there in its later transactions; the unnamed statement pins nothing."""
    pw = txn_pool(default_pool_size=2, max_prepared_statements=0)
    a = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    a.send(pgwire.parse("", "SELECT $1::int + 1"), pgwire.bind("", "", ["1"]), pgwire.execute(),
           pgwire.sync())
    assert [m.data_row() for m in a.recv_until("Z") if m.type == "D"] == [[b"2"]]
    assert "client_pinned" not in pw.log_text()
    start = len(pw.log_text())
    a.send(pgwire.parse("s1", "SELECT pg_backend_pid()"), pgwire.sync())
    assert [m.type for m in a.recv_until("Z")] == ["1", "Z"]
    pw.wait_log(r'event=client_pinned .*reason="a named prepared statement"', start=start)
    pids = set()
    for _ in range(3):
        a.send(pgwire.bind("", "s1"), pgwire.execute(), pgwire.sync())
        pids.update(int(m.data_row()[0]) for m in a.recv_until("Z") if m.type == "D")
    assert len(pids) == 1


def test_pgbench_with_more_clients_than_servers(pg, txn_pool):
    """pgbench, twenty clients on a pool of three, select-only in the simple and the
    prepared protocol and transactions of several statements prepared: every transaction
    runs, none fails, no client is pinned and no more than three backends are ever open. A
    thread per client: pgbench prepares a statement synchronously at its first use, so a
    client waiting for a server would stop every client of its thread, those inside a
    transaction too."""
    pw = txn_pool(default_pool_size=3, query_wait_timeout=30)
    env = {"PGPASSWORD": SCRAM_PASSWORD, "PATH": "/usr/lib/postgresql/15/bin:/usr/bin:/bin"}
    pg.execute("DROP DATABASE IF EXISTS txnbench")
    pg.execute("CREATE DATABASE txnbench OWNER %s" % SCRAM_USER)
    subprocess.run(["pgbench", "-i", "-s", "1", "-q", "-h", "127.0.0.1", "-p", str(pg.port), "-U", SCRAM_USER,
                    "txnbench"], env=env, check=True, capture_output=True, timeout=120)
    seen = []
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            seen.append(backends(pg))
            time.sleep(0.05)
    t = threading.Thread(target=watch)
    t.start()
    try:
        for mode, script in (("simple", "-S"), ("prepared", "-S"), ("prepared", "-N")):
            r = subprocess.run(["pgbench", "-n", script, "-M", mode, "-c", "20", "-j", "20", "-t", "100", "-h",
                                "127.0.0.1", "-p", str(pw.port), "-U", SCRAM_USER, "txnbench"],
                               env=env, capture_output=True, text=True, timeout=180)
            assert r.returncode == 0, r.stderr
            assert "number of transactions actually processed: 2000/2000" in r.stdout
            assert "number of failed transactions: 0" in r.stdout
    finally:
        stop.set()
        t.join()
    assert max(seen) <= 3, max(seen)
    assert "client_pinned" not in pw.log_text()
