"""pgward's console against the real PgBouncer: Debian's PgBouncer 1.18 (/usr/sbin/pgbouncer)
and pgward run side by side in front of the same PostgreSQL, with a client through each, and
answer the same SHOW commands.

pgward shows PgBouncer 1.25's columns (show_pools.c, show_stats.c), so the comparison is: every
column of 1.18 appears in pgward's answer, in 1.18's order and with its type OID, and every
column pgward has beyond those is one a later PgBouncer added (LATER: the release, from
PgBouncer's src/admin.c and src/stats.c history). One rename: 1.24 renamed SHOW DATABASES'
reserve_pool to reserve_pool_size.

Then the exact queries of prometheus-community/pgbouncer_exporter v0.12.1 (collector.go) run
against pgward's console named "pgbouncer", as the exporter connects (lib/pq's startup
parameters), and every column the exporter turns into a metric or a label must be there with
a value it can parse (strconv.ParseFloat; NULL is NaN, which it accepts).
"""

import math
import os
import pwd
import shutil
import subprocess
import time
from pathlib import Path

import psycopg2
import pytest

import authkit
from authkit import login
from conftest import IS_ROOT, PG_OS_USER, SCRAM_PASSWORD, SCRAM_USER, free_port, listening

PGBOUNCER = Path(os.environ.get("PGBOUNCER_BIN", "/usr/sbin/pgbouncer"))

COMMANDS = ["POOLS", "CLIENTS", "SERVERS", "DATABASES", "STATS", "STATS_TOTALS", "STATS_AVERAGES",
            "LISTS", "USERS"]
RENAMED = {("DATABASES", "reserve_pool"): "reserve_pool_size"}  # PgBouncer 1.24
_SOCKETS = {"replication": "1.23", "prepared_statements": "1.21", "id": "1.24"}
LATER = {
    "POOLS": {"load_balance_hosts": "1.24"},
    "CLIENTS": _SOCKETS,
    "SERVERS": _SOCKETS,
    "DATABASES": {"server_lifetime": "1.23", "load_balance_hosts": "1.24",
                  "max_client_connections": "1.24", "current_client_connections": "1.24"},
    "USERS": {"pool_size": "1.23", "max_user_connections": "1.23", "current_connections": "1.23",
              "reserve_pool_size": "1.24", "max_user_client_connections": "1.24",
              "current_client_connections": "1.24"},
    "STATS": {"total_server_assignment_count": "1.23", "avg_server_assignment_count": "1.23",
              "total_client_parse_count": "1.24", "total_server_parse_count": "1.24",
              "total_bind_count": "1.24", "avg_client_parse_count": "1.24",
              "avg_server_parse_count": "1.24", "avg_bind_count": "1.24"},
    "STATS_TOTALS": {"server_assignment_count": "1.23", "client_parse_count": "1.24",
                     "server_parse_count": "1.24", "bind_count": "1.24"},
    "STATS_AVERAGES": {"server_assignment_count": "1.23", "avg_client_parse_count": "1.24",
                       "avg_server_parse_count": "1.24", "avg_bind_count": "1.24"},
    "LISTS": {},
}
# SHOW LISTS and SHOW TOTALS are rows: their names are compared the same way
LATER_ROWS = {
    "LISTS": {"peers": "1.19", "peer_pools": "1.19"},
    "TOTALS": {"total_server_assignment_count": "1.23", "avg_server_assignment_count": "1.23",
               "total_ps_client_parse_count": "1.24", "total_ps_server_parse_count": "1.24",
               "total_ps_bind_count": "1.24", "avg_ps_client_parse_count": "1.24",
               "avg_ps_server_parse_count": "1.24", "avg_ps_bind_count": "1.24"},
}

pytestmark = pytest.mark.skipif(not PGBOUNCER.exists(), reason="no PgBouncer at %s" % PGBOUNCER)


class Bouncer:
    """PgBouncer in the foreground, as the unprivileged PG_OS_USER when run as root (it
    refuses root), its console being the database "pgbouncer"."""

    name = "pgbouncer"

    def __init__(self, base, pg):
        self.dir = Path(base)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.host = "127.0.0.1"
        secret = authkit.server_secret(pg, SCRAM_USER)
        (self.dir / "userlist.txt").write_text('"%s" "%s"\n' % (SCRAM_USER, secret))
        (self.dir / "pgbouncer.ini").write_text("\n".join([
            "[databases]",
            "postgres = host=127.0.0.1 port=%d dbname=postgres" % pg.port,
            "bench = host=127.0.0.1 port=%d dbname=bench" % pg.port,
            "[pgbouncer]",
            "listen_addr = 127.0.0.1",
            "listen_port = %d" % self.port,
            "unix_socket_dir =",
            "auth_type = scram-sha-256",
            "auth_file = %s" % (self.dir / "userlist.txt"),
            "admin_users = %s" % SCRAM_USER,
            "pool_mode = session",
            "default_pool_size = 2",
            "server_tls_sslmode = disable",
            "ignore_startup_parameters = extra_float_digits",
            "logfile = %s" % (self.dir / "pgbouncer.log"),
            "pidfile = %s" % (self.dir / "pgbouncer.pid"),
        ]) + "\n")
        kw = {}
        if IS_ROOT:
            os.chmod(self.dir, 0o755)
            for p in [self.dir] + list(self.dir.iterdir()):
                shutil.chown(p, PG_OS_USER, PG_OS_USER)
            kw = {"user": PG_OS_USER, "group": pwd.getpwnam(PG_OS_USER).pw_gid, "extra_groups": []}
        self.proc = subprocess.Popen([str(PGBOUNCER), str(self.dir / "pgbouncer.ini")],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, **kw)
        deadline = time.monotonic() + 10
        while not listening(self.port):
            assert self.proc.poll() is None, "pgbouncer exited: %s" % self.log()
            assert time.monotonic() < deadline, "pgbouncer did not listen: %s" % self.log()
            time.sleep(0.05)

    def log(self):
        p = self.dir / "pgbouncer.log"
        return p.read_text(errors="replace")[-2000:] if p.exists() else ""

    def dsn(self, user, dbname, **kw):
        return "host=127.0.0.1 port=%d user=%s dbname=%s password=%s sslmode=disable connect_timeout=10" % (
            self.port, user, dbname, SCRAM_PASSWORD)

    def raw(self, timeout=10.0, source=None):
        import pgwire
        return pgwire.Conn(self.host, self.port, timeout=timeout, source=source)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


@pytest.fixture(scope="module")
def roles(pg):
    authkit.ensure_roles(pg)


@pytest.fixture
def bouncer(pg, roles, workdir):
    b = Bouncer(workdir / ("pgbouncer-%d" % free_port()), pg)
    yield b
    b.stop()


@pytest.fixture
def pooled(pg, roles, pgward_factory, tmp_path):
    ul = authkit.write_userlist(tmp_path / "userlist.txt",
                                {SCRAM_USER: authkit.server_secret(pg, SCRAM_USER)})
    return pgward_factory(**{"auth_type": "scram-sha-256", "auth_file": ul, "pool_mode": "session",
                             "default_pool_size": 2, "admin.users": SCRAM_USER,
                             "admin.database": "pgbouncer"})


def describe(endpoint, what):
    """SHOW <what> on <endpoint>'s console: [(column, type oid)], rows as dicts."""
    c = psycopg2.connect(endpoint.dsn(SCRAM_USER, "pgbouncer"))
    c.autocommit = True
    try:
        with c.cursor() as cur:
            cur.execute("SHOW " + what)
            cols = [(d.name, d.type_code) for d in cur.description]
            return cols, [dict(zip([n for n, _ in cols], r)) for r in cur.fetchall()]
    finally:
        c.close()


def subsequence(old, new):
    """The items of <old> missing from <new> in <old>'s order (matched left to right)."""
    it = iter(new)
    return [x for x in old if not any(x == y for y in it)]


def busy(endpoint):
    """A client through <endpoint> that has run a transaction and still holds its server."""
    c = login(endpoint, SCRAM_USER, SCRAM_PASSWORD)
    assert c.scalar("SELECT 1") == "1"
    return c


def test_show_columns_are_pgbouncer_118s_in_order(bouncer, pooled):
    """Each SHOW: 1.18's columns (renames applied) in pgward's, in order, same type OIDs;
    pgward's others are all later PgBouncer's. The row names of SHOW LISTS and SHOW TOTALS
    compare the same way."""
    clients = [busy(bouncer), busy(pooled)]
    version = describe(bouncer, "VERSION")[1][0]["version"]
    assert version.startswith("PgBouncer 1.18"), version
    for what in COMMANDS:
        theirs, their_rows = describe(bouncer, what)
        ours, our_rows = describe(pooled, what)
        theirs = [(RENAMED.get((what, n), n), oid) for n, oid in theirs]
        assert subsequence(theirs, ours) == [], (what, theirs, ours)
        extra = [n for n, _ in ours if n not in {t for t, _ in theirs}]
        assert set(extra) <= set(LATER[what]), (what, set(extra) - set(LATER[what]))
        assert their_rows and our_rows, what  # both serve the client, so both have rows
    for what, key in (("LISTS", "list"), ("TOTALS", "name")):
        theirs = [r[key] for r in describe(bouncer, what)[1]]
        ours = [r[key] for r in describe(pooled, what)[1]]
        assert subsequence(theirs, ours) == [], (what, theirs, ours)
        assert set(ours) - set(theirs) <= set(LATER_ROWS[what]), (what, set(ours) - set(theirs))
    # the counters of the one client, as both count them: a server assigned, a query, bytes
    for endpoint in (bouncer, pooled):
        s = [r for r in describe(endpoint, "STATS")[1] if r["database"] == "postgres"][0]
        assert s["total_query_count"] >= 1 and s["total_xact_count"] >= 1, (endpoint.name, s)
        assert s["total_sent"] > 0, (endpoint.name, s)
    for c in clients:
        c.close()


# ---------------------------------------------------------------- pgbouncer_exporter v0.12.1

# collector.go's metricMaps: per namespace (the query is "SHOW <namespace>;"), the columns it
# reads as labels and those it turns into metrics
EXPORTER_LABELS = {
    "databases": ["name", "host", "port", "database", "force_user", "pool_mode"],
    "stats_totals": ["database"],
    "pools": ["database", "user"],
}
EXPORTER_METRICS = {
    "databases": ["pool_size", "reserve_pool", "reserve_pool_size", "max_connections",
                  "current_connections", "paused", "disabled"],
    "stats_totals": ["query_count", "query_time", "bytes_received", "requests", "bytes_sent",
                     "wait_time", "xact_count", "xact_time", "client_parse_count",
                     "server_parse_count", "bind_count", "server_assignment_count"],
    "pools": ["cl_active", "cl_active_cancel_req", "cl_waiting", "cl_waiting_cancel_req",
              "sv_active", "sv_active_cancel", "sv_being_canceled", "sv_idle", "sv_used",
              "sv_tested", "sv_login", "maxwait"],
}
# what PgBouncer 1.25 no longer has: "requests" (gone in 1.8), "reserve_pool" (1.24's rename)
EXPORTER_OPTIONAL = {"requests", "reserve_pool"}
EXPORTER_LISTS = ["databases", "users", "pools", "free_clients", "used_clients", "login_clients",
                  "free_servers", "used_servers", "dns_names", "dns_zones", "dns_queries"]
EXPORTER_CONFIG = ["max_client_conn", "max_user_connections"]


def parse_float(v):
    """dbToFloat64: NULL is NaN (accepted), bytes must parse as a float."""
    if v is None:
        return math.nan
    return float(v.decode())


def exporter_query(c, sql):
    """A query as lib/pq's db.Query runs it (simple protocol): column names and raw rows."""
    msgs = c.simple(sql)
    errs = [m.fields() for m in msgs if m.type == "E"]
    assert not errs, (sql, errs)
    cols = [m for m in msgs if m.type == "T"][0].column_names()
    return cols, [m.data_row() for m in msgs if m.type == "D"]


def test_pgbouncer_exporter_queries(pooled):
    """Every query of the Go exporter's scrape succeeds on pgward's console, and every column
    it parses is there with a parseable value (labels: valid UTF-8)."""
    clients = [busy(pooled)]
    # lib/pq's startup parameters: the exporter needs ignore_startup_parameters =
    # extra_float_digits on PgBouncer; pgward checks the login with the server, which takes it
    c = login(pooled, SCRAM_USER, SCRAM_PASSWORD, database="pgbouncer",
              params={"extra_float_digits": "2", "client_encoding": "UTF8",
                      "datestyle": "ISO, MDY"})
    exporter_query(c, "SHOW STATS")  # getDB's ping
    cols, rows = exporter_query(c, "SHOW VERSION;")
    assert cols == ["version"] and len(rows) == 1
    cols, rows = exporter_query(c, "SHOW LISTS;")
    assert len(cols) == 2
    lists = {r[0].decode(): parse_float(r[1]) for r in rows}
    assert set(EXPORTER_LISTS) <= set(lists), set(EXPORTER_LISTS) - set(lists)
    assert lists["pools"] == 1 and lists["used_servers"] == 1, lists
    cols, rows = exporter_query(c, "SHOW CONFIG;")
    assert len(cols) in (3, 4), cols  # anything else stops the scrape
    for r in rows:  # a row it reads must parse
        if r[0].decode() in EXPORTER_CONFIG:
            parse_float(r[1])
    cols, rows = exporter_query(c, "SHOW CLIENTS;")
    assert {"database", "user", "state", "application_name"} <= set(cols), cols
    states = [r[cols.index("state")].decode() for r in rows]
    assert "active" in states, states
    for namespace in ("databases", "stats_totals", "pools"):
        cols, rows = exporter_query(c, "SHOW %s;" % namespace)
        wanted = EXPORTER_LABELS[namespace] + EXPORTER_METRICS[namespace]
        missing = [n for n in wanted if n not in cols and n not in EXPORTER_OPTIONAL]
        assert missing == [], (namespace, missing)
        assert rows, namespace
        for r in rows:
            for name in EXPORTER_LABELS[namespace]:
                v = r[cols.index(name)]
                assert v is None or v.decode("utf-8") is not None
            for name in EXPORTER_METRICS[namespace]:
                if name in cols:
                    parse_float(r[cols.index(name)])
        if namespace == "stats_totals":
            s = dict(zip(cols, rows[0]))
            assert parse_float(s["query_count"]) >= 1 and parse_float(s["bytes_sent"]) > 0, s
    for cl in clients:
        cl.close()
    c.close()
