"""Per-tenant metrics ([metrics]) through a real PostgreSQL: known numbers of queries for two
tenants (two login roles) must show up exactly in /metrics; the exposition passes
`promtool check metrics`; a real Prometheus scrapes pgward and returns a tenant's series from
its query API; a pooled client's wait for a server lands in its tenant's
pgward_pool_wait_seconds; /healthz follows a PostgreSQL that is stopped and started again;
/statements holds normalized statements and never a literal; anything else is 404."""

import json
import re
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request

import pytest

import authkit
import pgwire
from conftest import TRUST_HBA, PgCluster, free_port, run, wait_for

TENANTS = {"tenant_a": "secret-a", "tenant_b": "secret-b"}


@pytest.fixture(scope="module")
def tenant_roles(pg):
    for role, password in TENANTS.items():
        pg.execute("DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '%s') THEN "
                   "CREATE ROLE %s LOGIN PASSWORD '%s'; END IF; END $$" % (role, role, password))
    pg.execute("CREATE TABLE IF NOT EXISTS metrics_t (x int); GRANT ALL ON metrics_t TO PUBLIC")
    return TENANTS


def http_get(port, path, timeout=5):
    """(status, content type, body) of GET http://127.0.0.1:<port><path>."""
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=timeout) as r:
            return r.status, r.headers.get("Content-Type"), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), e.read().decode()


SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    """{(name, frozenset(labels.items())): value} of an exposition."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, "malformed sample line: %r" % line
        labels = frozenset(LABEL.findall(m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples, name, **labels):
    """Sum of every series of <name> whose labels include <labels>."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= set(ls))


def scrape(pw):
    status, ctype, body = http_get(pw.metrics_port, "/metrics")
    assert status == 200
    assert ctype == "text/plain; version=0.0.4; charset=utf-8"
    return body


def start_pgward(pgward_factory, **settings):
    port = free_port()
    pw = pgward_factory(**{"metrics.listen_port": port, "guard.rules": "all", **settings})
    pw.metrics_port = port
    return pw


def connect(pw, role):
    return pw.connect(user=role, dbname="postgres", password=TENANTS[role])


def test_counts_and_sums_per_tenant(tenant_roles, pgward_factory):
    pw = start_pgward(pgward_factory)
    a = connect(pw, "tenant_a")
    b = connect(pw, "tenant_b")
    samples = parse_metrics(scrape(pw))
    assert value(samples, "pgward_client_connections", tenant="tenant_a") == 1
    assert value(samples, "pgward_client_connections", tenant="tenant_b") == 1

    with a.cursor() as cur:
        for i in range(7):
            cur.execute("SELECT %d" % i)
    with b.cursor() as cur:
        cur.execute("CREATE TEMP TABLE mt (x int)")  # ddl
        cur.execute("INSERT INTO mt VALUES (1)")  # insert
        cur.execute("  /* leading comment */ insert into mt values (2)")  # insert
        cur.execute("BEGIN")  # utility, opens a transaction block
        cur.execute("UPDATE mt SET x = x + 1 WHERE x > 0")  # update
        cur.execute("COMMIT")  # utility, closes it
        with pytest.raises(Exception):
            cur.execute("SELECT 1/0")  # select, error
        with pytest.raises(Exception) as refused:
            cur.execute("DROP TABLE mt")  # ddl, refused by the guard
        assert refused.value.pgcode == "42501"
    queries_a, queries_b = 7, 8

    samples = parse_metrics(scrape(pw))
    ok = "ok"
    assert value(samples, "pgward_queries_total", tenant="tenant_a", kind="select", outcome=ok) == 7
    assert value(samples, "pgward_query_duration_seconds_count", tenant="tenant_a", kind="select") == 7
    assert value(samples, "pgward_query_duration_seconds_bucket", tenant="tenant_a", kind="select",
                 le="+Inf") == 7
    assert 0 < value(samples, "pgward_query_duration_seconds_sum", tenant="tenant_a", kind="select") < 7 * 5
    b_kinds = {("ddl", "ok"): 1, ("insert", "ok"): 2, ("utility", "ok"): 2, ("update", "ok"): 1,
               ("select", "error"): 1, ("ddl", "refused"): 1}
    for (kind, outcome), n in b_kinds.items():
        assert value(samples, "pgward_queries_total", tenant="tenant_b", kind=kind, outcome=outcome) == n, \
            (kind, outcome)
    # The sum of histogram counts is the number of queries each client ran.
    assert total(samples, "pgward_query_duration_seconds_count", tenant="tenant_a") == queries_a
    assert total(samples, "pgward_query_duration_seconds_count", tenant="tenant_b") == queries_b
    assert total(samples, "pgward_queries_total", tenant="tenant_b") == queries_b
    # Buckets are cumulative.
    buckets = sorted((float(dict(ls)["le"]), v) for (n, ls), v in samples.items()
                     if n == "pgward_query_duration_seconds_bucket"
                     and ("tenant", "tenant_a") in ls)
    assert [v for _, v in buckets] == sorted(v for _, v in buckets)
    assert value(samples, "pgward_transaction_duration_seconds_count", tenant="tenant_b") == 1
    assert value(samples, "pgward_refused_total", tenant="tenant_b", rule="drop_table") == 1
    for tenant in TENANTS:
        assert value(samples, "pgward_bytes_total", tenant=tenant, direction="from_client") > 0
        assert value(samples, "pgward_bytes_total", tenant=tenant, direction="from_server") > 0
    assert value(samples, "pgward_server_connect_seconds_count") == 2
    assert value(samples, "pgward_build_info", version="0.1.0") == 1
    assert value(samples, "process_resident_memory_bytes") > 1e6
    assert value(samples, "process_open_fds") > 3
    assert abs(value(samples, "process_start_time_seconds") - time.time()) < 600

    a.close()
    b.close()
    wait_for(lambda: value(parse_metrics(scrape(pw)), "pgward_client_connections", tenant="tenant_a") == 0,
             5, what="the connection gauge to drop")


def test_extended_protocol_counts_syncs(tenant_roles, pgward_factory):
    """Parse/Bind/Execute/Sync is one query; a named statement keeps its kind at each Bind."""
    pw = start_pgward(pgward_factory)
    c = pw.raw_session("tenant_a", "postgres", password=TENANTS["tenant_a"])
    c.send(pgwire.parse("ins", "INSERT INTO metrics_t VALUES ($1)"), pgwire.sync())
    c.recv_until("Z")
    for i in range(3):
        c.send(pgwire.bind("", "ins", [str(i)]), pgwire.execute(), pgwire.sync())
        c.recv_until("Z")
    # pipelined: three requests in one write, answered in order
    c.send(*[m for i in range(3) for m in (pgwire.parse("", "SELECT $1::int"), pgwire.bind("", "", [str(i)]),
                                            pgwire.execute(), pgwire.sync())])
    for _ in range(3):
        c.recv_until("Z")
    samples = parse_metrics(scrape(pw))
    assert value(samples, "pgward_queries_total", tenant="tenant_a", kind="insert", outcome="ok") == 4
    assert value(samples, "pgward_queries_total", tenant="tenant_a", kind="select", outcome="ok") == 3
    assert total(samples, "pgward_query_duration_seconds_count", tenant="tenant_a") == 7


def test_promtool_accepts_the_exposition(tenant_roles, pgward_factory):
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool missing (Debian package prometheus)")
    pw = start_pgward(pgward_factory, **{"metrics.max_tenants": 1})
    with connect(pw, "tenant_a").cursor() as cur:
        cur.execute("SELECT 1")
    with connect(pw, "tenant_b").cursor() as cur:  # beyond max_tenants: counted as _other
        cur.execute("SELECT 1")
    text = scrape(pw)
    samples = parse_metrics(text)
    assert value(samples, "pgward_queries_total", tenant="_other", kind="select", outcome="ok") == 1
    assert value(samples, "pgward_metrics_tenant_overflow_total") == 1
    r = run([promtool, "check", "metrics"], input=text.encode(), check=False)
    assert r.returncode == 0, r.stdout.decode() + r.stderr.decode()


def test_pool_wait_per_tenant(pg, tenant_roles, pgward_factory, tmp_path):
    """default_pool_size = 1, pgward authenticating the clients itself (so they are pooled) and
    max_tenants = 1: clients that get a server at once are observed as 0 s, a client that waits
    about a second for tenant_a's only server adds one observation of that wait to tenant_a's
    histogram; tenant_b's client counts under _other, as its queries do."""
    userlist = authkit.write_userlist(tmp_path / "userlist.txt",
                                      {r: authkit.server_secret(pg, r) for r in TENANTS})
    pw = start_pgward(pgward_factory, auth_type="scram-sha-256", auth_file=userlist,
                      default_pool_size=1, **{"metrics.max_tenants": 1})
    a1 = authkit.login(pw, "tenant_a", TENANTS["tenant_a"])
    b1 = authkit.login(pw, "tenant_b", TENANTS["tenant_b"])
    samples = parse_metrics(scrape(pw))
    for tenant in ("tenant_a", "_other"):
        assert value(samples, "pgward_pool_wait_seconds_count", tenant=tenant) == 1, tenant
        assert value(samples, "pgward_pool_wait_seconds_bucket", tenant=tenant, le="5e-05") == 1, tenant
        assert value(samples, "pgward_pool_wait_seconds_sum", tenant=tenant) == 0, tenant

    served = []

    def second_client():
        c = authkit.login(pw, "tenant_a", TENANTS["tenant_a"])
        served.append(c.scalar("SELECT 1"))
        c.close()

    waiter = threading.Thread(target=second_client)
    waiter.start()
    pw.wait_log(r"event=pool_wait")
    time.sleep(1.0)
    assert served == []
    a1.send(pgwire.terminate())
    assert a1.wait_closed(5)
    waiter.join(10)
    assert served == ["1"]
    assert b1.scalar("SELECT 1") == "1"

    text = scrape(pw)
    samples = parse_metrics(text)
    assert value(samples, "pgward_pool_wait_seconds_count", tenant="tenant_a") == 2
    # the immediate checkout below 0.5 s, the waiting one above it; the event loop's clock is
    # coarse (a few ms), so the second the test slept is allowed a little slack
    assert value(samples, "pgward_pool_wait_seconds_bucket", tenant="tenant_a", le="0.5") == 1
    assert value(samples, "pgward_pool_wait_seconds_bucket", tenant="tenant_a", le="+Inf") == 2
    assert 0.95 <= value(samples, "pgward_pool_wait_seconds_sum", tenant="tenant_a") < 5
    assert value(samples, "pgward_pool_wait_seconds_count", tenant="_other") == 1
    assert total(samples, "pgward_pool_wait_seconds_count", tenant="tenant_b") == 0
    # the same tenants as the query histograms
    def tenants(name):
        return {dict(ls)["tenant"] for (n, ls), v in samples.items() if n == name and v > 0}
    assert tenants("pgward_pool_wait_seconds_count") == {"tenant_a", "_other"}
    assert tenants("pgward_pool_wait_seconds_count") == tenants("pgward_query_duration_seconds_count")
    promtool = shutil.which("promtool")
    if promtool is not None:
        r = run([promtool, "check", "metrics"], input=text.encode(), check=False)
        assert r.returncode == 0, r.stdout.decode() + r.stderr.decode()


def test_statements_and_slow_log(tenant_roles, pgward_factory):
    pw = start_pgward(pgward_factory, **{"metrics.slow_statement_time": "150ms"})
    with connect(pw, "tenant_a").cursor() as cur:
        cur.execute("SELECT 4242 + 1")
        cur.execute("select   4243 +  7 -- another literal")
        cur.execute("SELECT pg_sleep(0.3), 'sleepy-literal'")
        cur.execute("INSERT INTO metrics_t VALUES (31337)")
        cur.fetchall() if cur.description else None
    status, ctype, body = http_get(pw.metrics_port, "/statements")
    assert status == 200 and ctype == "application/json"
    entries = json.loads(body)
    assert not re.search(r"4242|4243|31337|sleepy-literal", body), body
    by_query = {e["query"]: e for e in entries}
    plus = by_query["SELECT $1 + $2"]
    assert plus["tenant"] == "tenant_a" and plus["calls"] == 2 and plus["errors"] == 0
    assert plus["rows"] == 2 and re.fullmatch(r"[0-9a-f]{16}", plus["fingerprint"])
    sleep = [e for q, e in by_query.items() if "pg_sleep" in q][0]
    assert sleep["total_seconds"] >= 0.3 and sleep["max_seconds"] >= 0.3
    assert entries[0] is sleep or entries[0]["total_seconds"] >= sleep["total_seconds"]  # by total time
    assert by_query["INSERT INTO metrics_t VALUES ($1)"]["rows"] == 1
    line = pw.wait_log(r"event=slow_statement .*pg_sleep")
    assert 'tenant="tenant_a"' in line and "fingerprint=" + sleep["fingerprint"] in line
    assert "sleepy-literal" not in pw.log_text() and "0.3" not in line.split("query=")[1]


def test_not_found_and_label_escaping(pg, pgward_factory):
    role = 'we"ird\\role'
    pg.execute("DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '%s') THEN "
               "CREATE ROLE \"%s\" LOGIN PASSWORD 'x'; END IF; END $$" % (role, role.replace('"', '""')))
    pw = start_pgward(pgward_factory)
    with pw.connect(user=role, password="x").cursor() as cur:
        cur.execute("SELECT 1")
    assert 'tenant="we\\"ird\\\\role"' in scrape(pw)
    status, _, body = http_get(pw.metrics_port, "/nothing-here")
    assert status == 404 and "/metrics" in body


def test_real_prometheus_scrapes_a_tenant(tenant_roles, pgward_factory, tmp_path):
    prometheus = shutil.which("prometheus")
    if prometheus is None:
        pytest.skip("prometheus missing (Debian package prometheus)")
    pw = start_pgward(pgward_factory)
    conn = connect(pw, "tenant_b")
    with conn.cursor() as cur:
        cur.execute("SELECT 1")
    prom_port = free_port()
    conf = tmp_path / "prometheus.yml"
    conf.write_text("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                    "scrape_configs:\n  - job_name: pgward\n    static_configs:\n"
                    "      - targets: ['127.0.0.1:%d']\n" % pw.metrics_port)
    log = open(tmp_path / "prometheus.log", "wb")
    proc = subprocess.Popen([prometheus, "--config.file", str(conf), "--storage.tsdb.path", str(tmp_path / "tsdb"),
                             "--web.listen-address", "127.0.0.1:%d" % prom_port],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        query = urllib.request.quote('pgward_queries_total{tenant="tenant_b",kind="select"}')

        def series():
            try:
                status, _, body = http_get(prom_port, "/api/v1/query?query=" + query, timeout=2)
            except OSError:
                return None
            result = json.loads(body)["data"]["result"] if status == 200 else []
            return result or None

        result = wait_for(series, 60, interval=0.5, what="tenant_b's series in Prometheus")
        assert result[0]["metric"]["job"] == "pgward"
        assert float(result[0]["value"][1]) >= 1
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()


@pytest.fixture(scope="module")
def pg_health(workdir):
    """A PostgreSQL of this module's own, which the /healthz test stops and starts."""
    cluster = PgCluster(workdir / "pg_health", free_port(), tls=None, hba=TRUST_HBA)
    cluster.init()
    cluster.start()
    yield cluster
    cluster.stop("immediate")


def test_healthz_follows_postgresql(pg_health, pgward_factory):
    pw = start_pgward(pgward_factory, server_port=pg_health.port,
                      **{"metrics.health_check_interval": "200ms"})

    def health(want):
        try:
            status, ctype, body = http_get(pw.metrics_port, "/healthz")
        except OSError:
            return None
        return (status, body) if status == want else None

    status, body = wait_for(lambda: health(200), 10, what="healthz 200")
    assert body.startswith("ok: ") and body.count("\n") == 1
    pg_health.stop("fast")
    status, body = wait_for(lambda: health(503), 10, what="healthz 503 with PostgreSQL stopped")
    assert body.startswith("unavailable: 127.0.0.1:%d: cannot connect" % pg_health.port), body
    assert body.count("\n") == 1
    pg_health.start()
    wait_for(lambda: health(200), 10, what="healthz 200 after PostgreSQL is back")
    with pw.connect(user="postgres").cursor() as cur:
        cur.execute("SELECT 1")
