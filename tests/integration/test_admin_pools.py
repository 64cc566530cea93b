"""PgBouncer's SHOW POOLS, CLIENTS, SERVERS, DATABASES, USERS, LISTS and VERSION on pgward's
admin console, through a real PostgreSQL 15 and real clients: PgBouncer 1.25's column names
in its order and types, filled with what the session pool really holds (a client holding the
server, one waiting for it, the backend's pid, the server idle once its client left).

prometheus-pgbouncer-exporter (Debian 12's package, version 1.7, the Python exporter) reads
pgward's pools and lists through its own collectors here. Its program as a whole cannot run
against pgward, nor against any PgBouncer since 1.8, for two reasons in its collectors.py:
every collector runs once when it is registered, and
  - StatsCollector reads SHOW STATS by the columns "database" and "total_requests":
    PgBouncer dropped total_requests in 1.8 (total_xact_count and total_query_count replaced
    it), so the program stops at start against pgward's SHOW STATS (PgBouncer 1.25's columns)
    as it stops against Debian 12's own PgBouncer 1.18 (KeyError: 'total_requests');
  - DatabasesCollector reads the column "reserve_pool", which PgBouncer 1.24 renamed
    reserve_pool_size (pgward shows 1.25's name).
It also always connects to the database "pgbouncer" (utils.get_connection), so pgward's
[admin] database is named that here. The test therefore runs the exporter's PoolsCollector
and ListsCollector, unchanged, with prometheus_client's own text exposition, and reads the
metrics they produce. (The Go pgbouncer_exporter's queries: test_admin_differential.py.)
"""

import os
import re
import subprocess
import threading
import time

import psycopg2
import pytest

import authkit
import pgwire
from authkit import login
from conftest import SCRAM_PASSWORD, SCRAM_USER, clean_env, wait_for

# PgBouncer 1.25's columns (doc/usage.md, src/admin.c), in its order
POOLS_COLS = ["database", "user", "cl_active", "cl_waiting", "cl_active_cancel_req",
              "cl_waiting_cancel_req", "sv_active", "sv_active_cancel", "sv_being_canceled",
              "sv_idle", "sv_used", "sv_tested", "sv_login", "maxwait", "maxwait_us", "pool_mode",
              "load_balance_hosts"]
SOCKET_COLS = ["type", "user", "database", "replication", "state", "addr", "port", "local_addr",
               "local_port", "connect_time", "request_time", "wait", "wait_us", "close_needed",
               "ptr", "link", "remote_pid", "tls", "application_name", "prepared_statements", "id"]
USERS_COLS = ["name", "pool_size", "reserve_pool_size", "pool_mode", "max_user_connections",
              "current_connections", "max_user_client_connections", "current_client_connections"]
DATABASES_COLS = ["name", "host", "port", "database", "force_user", "pool_size", "min_pool_size",
                  "reserve_pool_size", "server_lifetime", "pool_mode", "load_balance_hosts",
                  "max_connections", "current_connections", "max_client_connections",
                  "current_client_connections", "paused", "disabled"]
LISTS = ["databases", "users", "peers", "pools", "peer_pools", "free_clients", "used_clients",
         "login_clients", "free_servers", "used_servers", "dns_names", "dns_zones", "dns_queries",
         "dns_pending"]
# PgBouncer's column types: i int4, s text (T, its timestamps, are text too)
TYPES = {"POOLS": "ssiiiiiiiiiiiiiss", "CLIENTS": "ssssssisiTTiiississii",
         "SERVERS": "ssssssisiTTiiississii", "USERS": "ssssiiii", "DATABASES": "ssissiiiissiiiiii",
         "LISTS": "si", "VERSION": "s"}
OID = {"i": 23, "s": 25, "T": 25}
TIMESTAMP = r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \S+$"

EXPORTER = "/usr/lib/python3/dist-packages/prometheus_pgbouncer_exporter"


@pytest.fixture(scope="module")
def roles(pg):
    authkit.ensure_roles(pg)


@pytest.fixture
def pooled(pg, roles, pgward_factory, tmp_path):
    """pgward authenticating SCRAM_USER itself, pool_mode = session, one server per pool, and
    SCRAM_USER allowed on the console (named <console>)."""
    ul = authkit.write_userlist(tmp_path / "userlist.txt",
                                {SCRAM_USER: authkit.server_secret(pg, SCRAM_USER)})

    def start(console="pgward", **settings):
        s = {"auth_type": "scram-sha-256", "auth_file": ul, "pool_mode": "session",
             "default_pool_size": 1, "admin.users": SCRAM_USER, "admin.database": console}
        s.update(settings)
        # the backends an earlier test's pgward left are gone: the tests count them
        wait_for(lambda: backends(pg) == 0, 10, what="no %s backend left from an earlier test" % SCRAM_USER)
        return pgward_factory(**s)
    return start


def show(pw, what, console="pgward"):
    """SHOW <what> through psycopg2: (column names, type oids, rows as dicts)."""
    c = psycopg2.connect(pw.dsn(SCRAM_USER, console, connect_timeout=10))
    c.autocommit = True
    try:
        with c.cursor() as cur:
            cur.execute("SHOW %s" % what)
            cols = [d.name for d in cur.description]
            oids = [d.type_code for d in cur.description]
            return cols, oids, [dict(zip(cols, r)) for r in cur.fetchall()]
    finally:
        c.close()


def backends(pg):
    return pg.execute("SELECT count(*) FROM pg_stat_activity WHERE usename = '%s'" % SCRAM_USER)[0][0]


def rows(pw, what):
    return show(pw, what)[2]


def mine(rs, key="user"):
    return [r for r in rs if r[key] == SCRAM_USER and r.get("database", "postgres") == "postgres"]


def login_in_thread(pw, out, **kw):
    """A client's login and first query, which may have to wait for the pool (a client logged
    in from the pool's welcome gets its server at its first message): runs in a thread, the
    connection lands in <out>."""
    def body():
        c = login(pw, SCRAM_USER, SCRAM_PASSWORD, **kw)
        c.scalar("SELECT 1")
        out.append(c)
    t = threading.Thread(target=body, daemon=True)
    t.start()
    return t


def leave(c):
    c.send(pgwire.terminate())
    assert c.wait_closed(5)


def test_columns_and_types_are_pgbouncers(pooled):
    """Every command answers with PgBouncer 1.25's columns, in its order, with its types
    (counts int4, so drivers give numbers), and SHOW HELP lists them."""
    pw = pooled()
    a = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    expected = {"POOLS": POOLS_COLS, "CLIENTS": SOCKET_COLS, "SERVERS": SOCKET_COLS,
                "USERS": USERS_COLS, "DATABASES": DATABASES_COLS, "LISTS": ["list", "items"],
                "VERSION": ["version"]}
    for what, cols in expected.items():
        got_cols, oids, rs = show(pw, what)
        assert got_cols == cols, what
        assert oids == [OID[t] for t in TYPES[what]], what
        assert rs, what
    assert [r["list"] for r in rows(pw, "LISTS")] == LISTS
    version = rows(pw, "VERSION")
    assert len(version) == 1 and version[0]["version"].startswith("pgward "), version
    commands = [r["command"] for r in rows(pw, "HELP")]
    for what in expected:
        assert "SHOW " + what in commands
    for old in ("SHOW SESSIONS", "SHOW TENANTS", "SHOW RULES", "SHOW STATS", "SHOW AUTH",
                "SHOW CONFIG", "RELOAD"):
        assert old in commands
    # lower case and a semicolon, as PgBouncer's console takes them
    assert show(pw, "pools;")[0] == POOLS_COLS
    leave(a)


def test_a_held_server_and_a_waiting_client(pg, pooled):
    """default_pool_size = 1 and two clients: the first holds the server, the second waits.
    SHOW POOLS counts them (cl_active 1, cl_waiting 1, sv_active 1, maxwait growing), SHOW
    SERVERS names the backend by its pid and links it to the first client, SHOW CLIENTS lists
    both with PgBouncer's states; once both have left, the server waits idle (sv_idle 1)."""
    pw = pooled()
    a = login(pw, SCRAM_USER, SCRAM_PASSWORD, params={"application_name": "holder"})
    pid = int(a.scalar("SELECT pg_backend_pid()"))
    waiting = []
    start = len(pw.log_text())
    t = login_in_thread(pw, waiting, params={"application_name": "waiter"})
    pw.wait_log(r"event=pool_wait", start=start)
    time.sleep(1.1)  # maxwait is whole seconds, as PgBouncer shows it

    pools = mine(rows(pw, "POOLS"))
    assert len(pools) == 1, pools
    p = pools[0]
    assert (p["cl_active"], p["cl_waiting"], p["sv_active"], p["sv_idle"], p["sv_login"],
            p["sv_tested"], p["sv_used"]) == (1, 1, 1, 0, 0, 0, 0), p
    assert p["maxwait"] >= 1 and 0 <= p["maxwait_us"] < 1000000, p
    assert p["pool_mode"] == "session" and p["load_balance_hosts"] is None, p
    assert (p["cl_active_cancel_req"], p["cl_waiting_cancel_req"], p["sv_active_cancel"],
            p["sv_being_canceled"]) == (0, 0, 0, 0), p

    servers = mine(rows(pw, "SERVERS"))
    assert len(servers) == 1, servers
    s = servers[0]
    assert s["remote_pid"] == pid == int(pg.execute(
        "SELECT pid FROM pg_stat_activity WHERE usename = '%s'" % SCRAM_USER)[0][0])
    assert (s["type"], s["state"], s["replication"]) == ("S", "active", "none"), s
    assert (s["addr"], s["port"], s["local_addr"]) == ("127.0.0.1", pg.port, "127.0.0.1"), s
    assert s["local_port"] > 0 and s["tls"] == "" and s["application_name"] == "holder", s
    assert s["ptr"] == "s%d" % s["id"]

    clients = {r["application_name"]: r for r in mine(rows(pw, "CLIENTS"))}
    assert set(clients) == {"holder", "waiter"}, clients
    holder, waiter = clients["holder"], clients["waiter"]
    assert (holder["type"], holder["state"], holder["link"]) == ("C", "active", s["ptr"]), holder
    assert s["link"] == holder["ptr"] == "c%d" % holder["id"]
    assert (waiter["state"], waiter["link"]) == ("waiting", ""), waiter
    assert waiter["wait"] >= 1 and holder["wait"] == 0, clients
    assert waiter["addr"] == "127.0.0.1" and waiter["local_port"] == pw.port, waiter
    assert waiter["port"] == waiter_port(pw, waiter["id"]), waiter
    for r in (holder, waiter, s):
        assert re.match(TIMESTAMP, r["connect_time"]) and re.match(TIMESTAMP, r["request_time"]), r
    # the console itself: a client without a server, as PgBouncer shows its own console's
    console = [r for r in rows(pw, "CLIENTS") if r["database"] == "pgward"]
    assert len(console) == 1 and console[0]["state"] == "idle", console

    users = {r["name"]: r for r in rows(pw, "USERS")}
    assert users[SCRAM_USER]["current_connections"] == 1
    assert users[SCRAM_USER]["current_client_connections"] == 2
    assert (users[SCRAM_USER]["pool_size"], users[SCRAM_USER]["pool_mode"]) == ("", None)
    dbs = {r["name"]: r for r in rows(pw, "DATABASES")}
    d = dbs["postgres"]
    assert (d["host"], d["port"], d["database"], d["pool_size"], d["current_connections"],
            d["current_client_connections"], d["paused"], d["disabled"]) == (
        "127.0.0.1", pg.port, "postgres", 1, 1, 2, 0, 0), d
    assert "pgward" not in dbs  # the console has no pool
    lists = {r["list"]: r["items"] for r in rows(pw, "LISTS")}
    assert (lists["pools"], lists["used_servers"], lists["databases"], lists["users"]) == (1, 1, 1, 1)
    assert lists["used_clients"] >= 3, lists  # the two clients and this console's own

    # the holder leaves: the waiter gets the same backend
    leave(a)
    t.join(10)
    assert len(waiting) == 1
    b = waiting[0]
    assert int(b.scalar("SELECT pg_backend_pid()")) == pid
    p = mine(rows(pw, "POOLS"))[0]
    assert (p["cl_active"], p["cl_waiting"], p["sv_active"], p["maxwait"], p["maxwait_us"]) == (
        1, 0, 1, 0, 0), p
    assert mine(rows(pw, "SERVERS"))[0]["application_name"] == "waiter"

    # and leaves too: the server waits in the pool
    start = len(pw.log_text())
    leave(b)
    pw.wait_log(r"event=server_idle .*server_pid=%d" % pid, start=start)
    p = mine(rows(pw, "POOLS"))[0]
    assert (p["cl_active"], p["cl_waiting"], p["sv_active"], p["sv_idle"]) == (0, 0, 0, 1), p
    s = mine(rows(pw, "SERVERS"))[0]
    assert (s["state"], s["remote_pid"], s["link"], s["application_name"]) == ("idle", pid, "", ""), s
    assert mine(rows(pw, "CLIENTS")) == []


def waiter_port(pw, sid):
    """The client's source port, as SHOW SESSIONS shows its peer."""
    peer = [r for r in rows(pw, "SESSIONS") if r["id"] == str(sid)][0]["peer"]
    return int(peer.rsplit(":", 1)[1])


def test_idle_clients_hold_no_server(pg, pooled):
    """Thirty clients of one kind log in through a pool of two and stay idle: none waits at
    its login, the server sees two backends, SHOW POOLS counts all thirty as PgBouncer counts
    idle clients (cl_active) and SHOW CLIENTS lists the ones without a server as active with
    no link; then each client's first query gets a server in turn."""
    pw = pooled(default_pool_size=2, query_wait_timeout=20)
    first = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    first.scalar("SELECT 1")  # the pool's first client of this kind: served with its server
    started = time.monotonic()
    idle = [login(pw, SCRAM_USER, SCRAM_PASSWORD) for _ in range(29)]
    assert time.monotonic() - started < 15
    assert all(c.backend_key[0] >= 1 << 30 for c in idle)  # pgward's key: no server yet
    assert backends(pg) <= 2  # the pool's size, whatever an earlier test still closes
    p = mine(rows(pw, "POOLS"))[0]
    assert (p["cl_active"], p["cl_waiting"], p["sv_active"], p["sv_idle"]) == (30, 0, 1, 0), p
    clients = mine(rows(pw, "CLIENTS"))
    assert len(clients) == 30 and {r["state"] for r in clients} == {"active"}, clients
    assert sum(1 for r in clients if r["link"] == "") == 29, clients
    leave(first)
    for c in idle:
        assert c.scalar("SELECT 'served'") == "served"
        assert backends(pg) <= 2
        leave(c)


def test_server_past_lifetime_is_marked_close_needed(pooled):
    """A server older than server_lifetime closes instead of going back to its pool:
    close_needed 1, as PgBouncer marks a server it will close."""
    pw = pooled(server_lifetime=1)
    a = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    pid = int(a.scalar("SELECT pg_backend_pid()"))
    assert mine(rows(pw, "SERVERS"))[0]["close_needed"] == 0
    time.sleep(1.5)
    s = mine(rows(pw, "SERVERS"))[0]
    assert (s["remote_pid"], s["close_needed"]) == (pid, 1), s
    d = [r for r in rows(pw, "DATABASES") if r["name"] == "postgres"][0]
    assert d["server_lifetime"] == 1, d
    leave(a)


def test_unpooled_clients_hold_servers_of_their_own(pg, roles, pgward_factory):
    """pool_mode = none: no pools, but each client holds a server of its own, which SHOW
    SERVERS lists with the backend's pid."""
    pw = pgward_factory(**{"admin.users": "postgres"})
    app = pw.connect()
    with app.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        pid = cur.fetchone()[0]
    c = psycopg2.connect(pw.dsn("postgres", "pgward", connect_timeout=10))
    c.autocommit = True
    with c.cursor() as cur:
        cur.execute("SHOW POOLS")
        assert cur.fetchall() == []
        cur.execute("SHOW SERVERS")
        cols = [d.name for d in cur.description]
        servers = [dict(zip(cols, r)) for r in cur.fetchall()]
        cur.execute("SHOW CLIENTS")
        cols = [d.name for d in cur.description]
        clients = [dict(zip(cols, r)) for r in cur.fetchall()]
    c.close()
    s = [r for r in servers if r["remote_pid"] == pid]
    assert len(s) == 1 and s[0]["state"] == "active", servers
    cl = [r for r in clients if r["ptr"] == s[0]["link"]]
    assert len(cl) == 1 and cl[0]["state"] == "active" and cl[0]["link"] == s[0]["ptr"], clients
    app.close()


def exporter_metrics(pw, console):
    """Runs prometheus-pgbouncer-exporter's own PoolsCollector and ListsCollector against
    pgward's console (database <console>) and returns prometheus_client's text exposition."""
    script = (
        "import sys\n"
        "from prometheus_client import CollectorRegistry, generate_latest\n"
        "from prometheus_pgbouncer_exporter.utils import get_connection\n"
        "from prometheus_pgbouncer_exporter.collectors import PoolsCollector, ListsCollector\n"
        "conn = get_connection(sys.argv[1], sys.argv[2], sys.argv[3])\n"
        "registry = CollectorRegistry()\n"
        "registry.register(PoolsCollector(connection=conn, databases=None))\n"
        "registry.register(ListsCollector(connection=conn))\n"
        "sys.stdout.write(generate_latest(registry).decode())\n")
    env = clean_env(PGPASSWORD=SCRAM_PASSWORD)
    r = subprocess.run(["/usr/bin/python3", "-c", script, SCRAM_USER, str(pw.port), pw.host],
                       env=env, capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr.decode()
    return r.stdout.decode()


@pytest.mark.skipif(not os.path.isdir(EXPORTER),
                    reason="prometheus-pgbouncer-exporter is not installed (scripts/lib.sh installs it)")
def test_prometheus_pgbouncer_exporter_reads_pools(pooled):
    """The exporter's collectors, reading pgward's console as they read PgBouncer's, report
    the client holding the server and the one waiting for it, and pgward's lists."""
    pw = pooled(console="pgbouncer")
    a = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    waiting = []
    start = len(pw.log_text())
    t = login_in_thread(pw, waiting)
    pw.wait_log(r"event=pool_wait", start=start)
    text = exporter_metrics(pw, "pgbouncer")
    labels = '{database="postgres",user="%s"}' % SCRAM_USER
    assert "pgbouncer_active_clients%s 1.0" % labels in text, text
    assert "pgbouncer_waiting_clients%s 1.0" % labels in text, text
    assert "\npgbouncer_pools 1.0" in text, text
    assert "\npgbouncer_used_servers 1.0" in text, text
    assert "\npgbouncer_databases 1.0" in text and "\npgbouncer_users 1.0" in text, text
    leave(a)
    t.join(10)
    leave(waiting[0])
    pw.wait_log(r"event=server_idle", start=start)
    text = exporter_metrics(pw, "pgbouncer")
    assert "pgbouncer_active_clients%s 0.0" % labels in text, text
    assert "\npgbouncer_used_servers 1.0" in text, text
