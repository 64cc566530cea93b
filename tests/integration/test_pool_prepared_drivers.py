"""pool_mode = transaction with real drivers' named prepared statements: pgJDBC
(prepareThreshold=1: S_1, S_2, ... from the first execution, the same names on every
connection, Describe of a statement, executeBatch) and node-postgres (named queries). pgward
renames each client's statements per server (pgward_<id>) and prepares them on demand on
whichever server the client gets, so many clients share a pool of two without pinning.

Every run checks every result the driver printed against what its client asked for (its own
text under a name another client uses for another text), that a client inside a transaction
keeps its backend and nobody else runs on it meanwhile, that the clients' statements follow
them from one backend to the other, that no client was pinned (pgward's log) and that at most
two backends of SCRAM_USER were opened (PostgreSQL's log and pg_stat_activity), and lists
what the servers hold: pgward's names only, at most max_prepared_statements of them.
"""

import json
import os
import re
import subprocess
import tempfile
import threading
from pathlib import Path

import pytest

import test_auth_clients
import test_pool
import test_pool_transaction
from conftest import SCRAM_PASSWORD, SCRAM_USER, clean_env
from test_pool import backends

# Fixtures of other modules, bound here for pytest (bound by an import, each test's argument
# would be a redefinition of it to flake8): pgward pooling SCRAM_USER in transaction mode,
# and node-postgres (installed by scripts/lib.sh install_node_pg when missing).
roles = test_pool.roles
pooled = test_pool.pooled
txn_pool = test_pool_transaction.txn_pool
node_pg = test_auth_clients.node_pg

CLIENTS = Path(__file__).resolve().parent / "clients"
JDBC_JAR = Path(os.environ.get("PGJDBC_JAR", "/usr/share/java/postgresql.jar"))
TABLE = "public.pool_prepared_drivers"
POOL_SIZE = 2
PGWARD_NAME = re.compile(r"pgward_[0-9]+")

# pgJDBC without assumeMinServerVersion sends SET extra_float_digits and SET application_name
# after its login (as one-shot statements, which follow the client: test_pool_sets.py); with
# it, they are startup parameters. Both are run below.
JDBC_PROPS = {"user": SCRAM_USER, "password": SCRAM_PASSWORD, "prepareThreshold": "1",
              "assumeMinServerVersion": "9.0", "autosave": "never", "gssEncMode": "disable",
              "sslmode": "disable", "connectTimeout": "10"}


@pytest.fixture(scope="module")
def jdbc(tmp_path_factory):
    return test_auth_clients.compile_jdbc_client(tmp_path_factory, "JdbcPrepared.java")


@pytest.fixture
def batch_table(pg):
    pg.execute("DROP TABLE IF EXISTS %s; CREATE TABLE %s (conn int, round int, k int); "
               "GRANT SELECT, INSERT ON %s TO %s" % (TABLE, TABLE, TABLE, SCRAM_USER))
    yield TABLE
    pg.execute("DROP TABLE IF EXISTS %s" % TABLE)


class Backends:
    """What PostgreSQL saw of SCRAM_USER while it ran: the most backends at once in
    pg_stat_activity (polled) and the logins in its log (log_connections = on)."""

    def __init__(self, pg):
        self.pg = pg
        self.most = 0
        self._stop = threading.Event()
        self._log_start = pg.log.stat().st_size
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self):
        while not self._stop.is_set():
            self.most = max(self.most, backends(self.pg))
            self._stop.wait(0.05)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def logins(self):
        with open(self.pg.log, "rb") as f:
            f.seek(self._log_start)
            text = f.read().decode(errors="replace")
        return len(re.findall(r"connection authorized: user=%s " % SCRAM_USER, text))


def check_pool(pw, seen, pids):
    """No client pinned, at most POOL_SIZE backends ever, the drivers' backends among them."""
    log = pw.log_text()
    assert "event=client_pinned" not in log, [line for line in log.splitlines() if "client_pinned" in line][:5]
    assert seen.most <= POOL_SIZE, seen.most
    assert 1 <= seen.logins() <= POOL_SIZE, seen.logins()
    assert 1 <= len(pids) <= POOL_SIZE, pids


def tail(pw):
    return "pgward log:\n" + pw.log_tail(40) if pw is not None else ""


def spawn(cmd, stdin, env):
    """<cmd> started with <stdin> as its standard input (a file: two drivers may run at once)."""
    with tempfile.TemporaryFile() as f:
        f.write(stdin.encode())
        f.seek(0)
        return subprocess.Popen(cmd, stdin=f, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)


# ---------------------------------------------------------------- pgJDBC


def start_jdbc(classes, port, connections, rounds, **props):
    spec = {k: v for k, v in dict(JDBC_PROPS, **props).items() if v is not None}  # None: left out
    spec.update({"test.url": "jdbc:postgresql://127.0.0.1:%d/postgres" % port, "test.connections": connections,
                 "test.rounds": rounds, "test.table": TABLE})
    return spawn(["java", "-cp", "%s:%s" % (classes, JDBC_JAR), "JdbcPrepared"],
                 "".join("%s=%s\n" % kv for kv in spec.items()), clean_env())


def finish_jdbc(p, pw=None):
    """The run's lines split on tabs; fails on an error or an exit status other than 0."""
    try:
        out, err = p.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        pytest.fail("pgJDBC run timed out; stdout tail:\n%s\n%s" % (out.decode()[-2000:], tail(pw)))
    lines = [line.split("\t") for line in out.decode().splitlines()]
    errors = [line for line in lines if line[0] == "error"]
    assert p.returncode == 0 and not errors, "pgJDBC: %s\nstderr:\n%s\n%s" % (errors, err.decode()[-4000:],
                                                                              tail(pw))
    return lines


def check_jdbc(lines, n, rounds, pg, through_pool=True):
    """Every result of JdbcPrepared.java is the one its connection asked for; the batches'
    rows are in the table (a rolled back round's are not); pooled, the others ran on the one
    backend the holder of each round did not hold. Returns {conn: [backend pids]}."""
    got = {}
    for f in lines:
        got.setdefault(f[0], []).append(tuple(f[1:]))
    want = {k: [] for k in ("own", "add", "twice", "batch", "fail", "end")}
    holder_pids = {}
    rows = []
    for r in range(-1, rounds):
        h = r % n if r >= 0 else None
        for c in range(n):
            txn = "t" if c == h else "f"
            want["own"].append((str(c), str(r), txn, "conn-%d:%d" % (c, r)))
            arg = r * 1000 + c
            want["add"].append((str(c), str(r), txn, str(arg), str(arg + 1)))
            for k in range(2 if r >= 0 else 0):
                arg = r * 1000 + c * 10 + k
                want["twice"].append((str(c), str(r), txn, str(arg), str(2 * arg)))
        if h is None:
            continue
        want["batch"].append((str(h), str(r), "t", "1,1,1"))
        want["end"].append((str(h), str(r), "rollback" if r % 4 == 3 else "commit"))
        if r % 4 == 3:  # an error, then statements refused in the aborted transaction
            want["fail"] += [(str(h), str(r), "div", "22012"), (str(h), str(r), "own", "25P02"),
                             (str(h), str(r), "add", "25P02")]
        if r % 4 != 3:
            rows += [(h, r, k) for k in range(3)]
    for c in range(n):
        want["batch"].append((str(c), str(rounds), "f", "1,1,1,1,1"))
        rows += [(c, rounds, k) for k in range(5)]
    for kind, expected in want.items():
        assert sorted(got.get(kind, [])) == sorted(expected), kind
    assert sorted(got["done"]) == [(str(c),) for c in range(n)]
    assert sorted(pg.execute("SELECT conn, round, k FROM %s" % TABLE)) == sorted(rows)

    pids = {}
    for c, r, txn, pid in got["pid"]:
        pids.setdefault(int(c), []).append(int(pid))
        if txn == "t":
            holder_pids.setdefault(int(r), set()).add(int(pid))
    assert len(got["pid"]) == n * (rounds + 1) + rounds
    for r in range(rounds):
        # the holder keeps its backend through its transaction, and nobody else runs on it
        assert len(holder_pids[r]) == 1, (r, holder_pids[r])
        others = {int(pid) for c, r2, txn, pid in got["pid"] if int(r2) == r and txn == "f"}
        assert not others & holder_pids[r], (r, holder_pids[r], others)
        assert len(others) == (1 if through_pool else n - 1), (r, holder_pids[r], others)
    return pids


def names_of(lines):
    """{conn: [(name, statement)]}: what its backend held at the end."""
    out = {}
    for f in lines:
        if f[0] == "name":
            out.setdefault(int(f[1]), []).append((f[2], f[3]))
    return out


def test_pgjdbc_names_every_connections_statements_alike(pg, jdbc, batch_table):
    """The premise, directly against PostgreSQL: with prepareThreshold=1 pgJDBC prepares each
    connection's statements under the same names, S_1 with that connection's own text, so
    through pgward clients do send one name for different statements; and the program's
    expectations (the aborted transactions' errors, the rollbacks) are PostgreSQL's."""
    n, rounds = 3, 8
    lines = finish_jdbc(start_jdbc(jdbc, pg.port, n, rounds))
    pids = check_jdbc(lines, n, rounds, pg, through_pool=False)
    assert all(len(set(p)) == 1 for p in pids.values()) and len({p[0] for p in pids.values()}) == n
    names = names_of(lines)
    for c in range(n):
        held = dict(names[c])
        assert held["S_1"] == "SELECT 'conn-%d:' || $1::text AS tag" % c, held
        assert held["S_2"] == "SELECT $1::int + 1", held
        assert held["S_3"] == "SELECT pg_backend_pid()", held


@pytest.mark.parametrize("props", [{}, {"preparedStatementCacheQueries": "0"}, {"assumeMinServerVersion": None}],
                         ids=["statement-cache", "no-cache", "driver-sets"])
def test_pgjdbc_statements_follow_six_connections_on_two_servers(pg, txn_pool, jdbc, batch_table, props):
    """Goal of a pgJDBC client: run its S_1 on a server where another client's S_1 is another
    statement, or lose its statements when it gets another server. Six connections on a pool
    of two, round after round one of them inside a transaction (every fourth one fails, runs
    two statements the aborted transaction refuses and rolls back: pgJDBC's ROLLBACK is a
    named statement too, parsed by each connection once): every result is the client's own,
    statements follow clients to the other backend, nobody is pinned. Without pgJDBC's
    statement cache every round also closes a statement (Close) and prepares a new name;
    without assumeMinServerVersion pgJDBC SETs its settings after the login, which follow
    each connection too."""
    pw = txn_pool(default_pool_size=POOL_SIZE, query_wait_timeout=30)
    n, rounds = 6, 12
    with Backends(pg) as seen:
        lines = finish_jdbc(start_jdbc(jdbc, pw.port, n, rounds, **props), pw)
    pids = check_jdbc(lines, n, rounds, pg)
    check_pool(pw, seen, set().union(*pids.values()))
    assert any(len(set(p)) == 2 for p in pids.values()), pids
    for c, held in names_of(lines).items():
        assert all(PGWARD_NAME.fullmatch(name) for name, _ in held), (c, held)


# ---------------------------------------------------------------- node-postgres


def start_node(node_pg, port, clients, rounds, iterations):
    spec = {"config": {"host": "127.0.0.1", "port": port, "user": SCRAM_USER, "password": SCRAM_PASSWORD,
                       "database": "postgres", "ssl": False},
            "clients": clients, "rounds": rounds, "iterations": iterations}
    return spawn(["node", str(CLIENTS / "pg_named.js")], json.dumps(spec), clean_env(NODE_PG_DIR=str(node_pg)))


def finish_node(p, pw=None):
    try:
        out, err = p.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        pytest.fail("node-postgres run timed out; stdout tail:\n%s\n%s" % (out.decode()[-2000:], tail(pw)))
    assert p.returncode == 0, "node-postgres exited %d: %s\nstderr:\n%s\n%s" % (
        p.returncode, out.decode()[-2000:], err.decode()[-4000:], tail(pw))
    result = json.loads(out)
    assert result["error"] is None, "%s\n%s" % (result["error"], tail(pw))
    return result


def check_node(result, n, rounds, iterations):
    """Every result of pg_named.js is the one its client asked for. Returns {client: [pids]}."""
    got = sorted((x["client"], x["phase"], x["round"], x["txn"], x["kind"], x["arg"], x["value"])
                 for x in result["results"] if x["kind"] != "pid")
    want = []
    for phase, count in (("round", rounds), ("free", iterations)):
        for r in range(count):
            for c in range(n):
                txn = c == r % n if phase == "round" else r % 3 == 2
                want.append((c, phase, r, txn, "own", str(r), "client-%d:%d" % (c, r)))
                want.append((c, phase, r, txn, "add", r * 1000 + c, r * 1000 + c + 1))
            if phase == "round" and r % 4 == 3:  # an error, then its own refused in the aborted transaction
                want += [(r % n, phase, r, True, "fail", "div", "22012"),
                         (r % n, phase, r, True, "fail", "own", "25P02")]
    assert got == sorted(want)

    pid_rows = [x for x in result["results"] if x["kind"] == "pid"]
    assert len(pid_rows) == n * (rounds + iterations) + rounds
    for r in range(rounds):
        here = [x for x in pid_rows if x["phase"] == "round" and x["round"] == r]
        holder = {x["value"] for x in here if x["txn"]}
        others = {x["value"] for x in here if not x["txn"]}
        # the holder keeps its backend through its transaction, and nobody else runs on it
        assert len(holder) == 1 and len(others) == 1 and not holder & others, (r, holder, others)
    pids = {}
    for x in pid_rows:
        pids.setdefault(x["client"], []).append(x["value"])
    return pids


def test_node_postgres_named_queries_follow_twelve_clients_on_two_servers(pg, txn_pool, node_pg):
    """Goal of a node-postgres client: run its query "q1" on a server where another client's
    "q1" is another text, or find its parsed statement missing on the next server it gets.
    Twelve clients on a pool of two, in rounds with one inside a transaction (every fourth
    one fails, and its "q1" is refused in the aborted transaction) and then all at once:
    every result is the client's own, statements follow clients to the other backend, nobody
    is pinned."""
    pw = txn_pool(default_pool_size=POOL_SIZE, query_wait_timeout=30)
    n, rounds, iterations = 12, 12, 20
    with Backends(pg) as seen:
        result = finish_node(start_node(node_pg, pw.port, n, rounds, iterations), pw)
    pids = check_node(result, n, rounds, iterations)
    check_pool(pw, seen, set().union(*map(set, pids.values())))
    assert any(len(set(p)) == 2 for p in pids.values()), pids
    for c, held in result["names"].items():
        assert held and all(PGWARD_NAME.fullmatch(name) for name, _ in held), (c, held)


# ---------------------------------------------------------------- both, under eviction


def test_both_drivers_at_once_with_one_statement_per_server(pg, txn_pool, jdbc, node_pg, batch_table):
    """Goal of a client: get another client's statement, or a stale one, when a server can
    hold only one (max_prepared_statements = 1) and every Bind evicts another client's. pgJDBC
    (no statement cache: Closes too) and node-postgres at the same time on a pool of two: all
    results right, each server holds at most one of pgward's statements, nobody is pinned.
    (node-postgres runs no rounds here: its holder waiting for its other clients while pgJDBC's
    holds the other server would wait for a server forever.)"""
    pw = txn_pool(default_pool_size=POOL_SIZE, query_wait_timeout=60, max_prepared_statements=1)
    n_jdbc, n_node, rounds, iterations = 4, 8, 8, 30
    with Backends(pg) as seen:
        java = start_jdbc(jdbc, pw.port, n_jdbc, rounds, preparedStatementCacheQueries="0")
        node = start_node(node_pg, pw.port, n_node, 0, iterations)
        lines = finish_jdbc(java, pw)
        result = finish_node(node, pw)
    jdbc_pids = check_jdbc(lines, n_jdbc, rounds, pg)
    node_pids = check_node(result, n_node, 0, iterations)
    check_pool(pw, seen, set().union(*jdbc_pids.values(), *map(set, node_pids.values())))
    held = list(names_of(lines).items()) + list(result["names"].items())
    for c, names in held:
        assert len(names) <= 1 and all(PGWARD_NAME.fullmatch(name) for name, _ in names), (c, names)


def test_max_prepared_statements_0_pins_as_before(pg, txn_pool, node_pg):
    """The control: with max_prepared_statements = 0 a named Parse pins its client, the
    server holds the client's own names, and the checks above would see it (client_pinned in
    the log, one backend per client)."""
    pw = txn_pool(default_pool_size=POOL_SIZE, query_wait_timeout=30, max_prepared_statements=0)
    n, rounds, iterations = 2, 2, 3
    with Backends(pg) as seen:
        result = finish_node(start_node(node_pg, pw.port, n, rounds, iterations), pw)
    pids = check_node(result, n, rounds, iterations)
    assert pw.log_text().count("event=client_pinned") == n
    assert all(len(set(p)) == 1 for p in pids.values()) and len({p[0] for p in pids.values()}) == n, pids
    assert seen.logins() == n
    for c, names in result["names"].items():
        assert sorted(name for name, _ in names) == sorted(["q1", "pid", "add" if int(c) % 2 else "add_" + c])
