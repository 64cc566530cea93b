"""Clients that never authenticate leave no trace in pgward's tenant registry, and whatever
bytes a role name holds, /metrics stays a valid exposition.

A flood of StartupMessages with made-up (often invalid UTF-8) user names, abandoned or
failing their password, must not add a tenant to SHOW TENANTS or to the `tenant` label of
/metrics, nor push a real tenant who logs in afterwards into `_other`; `promtool check
metrics` (the real binary) accepts every scrape. A wrong password is logged as
`event=login_failed` with the server's SQLSTATE, never as `event=login`. Roles whose names
are invalid UTF-8, or hold quotes, backslashes and newlines, do log in and are counted
under their cleaned, escaped names. Accept failures at the descriptor limit are logged a few
times, then counted.
"""

import concurrent.futures
import json
import os
import random
import re
import socket
import subprocess
import threading
import time
import urllib.request

import psycopg2
import pytest

import pgwire
from conftest import SUPERUSER, free_port, wait_for

PROMTOOL = "/usr/bin/promtool"
PASSWORD = "unauth-secret"
KNOWN, LATE = "unauth_known", "unauth_late"
# Not valid UTF-8: 0xff 0xfe, a surrogate (ED A0 80) and a cut sequence (E2 82)
BAD_ROLE = b"unauth_\xff\xfe_caf\xc3\xa9_\xed\xa0\x80_\xe2\x82"
ODD_ROLE = 'unauth q"uo\\te\nnl'
ASCII_DB = "unauth_ascii"
JUNK_SESSIONS = 1200
MAX_TENANTS = 20


def ascii_connection(pg):
    """A connection to a SQL_ASCII database: the one place PostgreSQL takes bytes that are not
    UTF-8 in a statement, so a role (a cluster-wide object) can get such a name."""
    if not pg.execute("SELECT 1 FROM pg_database WHERE datname = '%s'" % ASCII_DB):
        pg.execute("CREATE DATABASE %s ENCODING 'SQL_ASCII' TEMPLATE template0 LC_COLLATE 'C' "
                   "LC_CTYPE 'C'" % ASCII_DB)
    conn = psycopg2.connect(pg.dsn(SUPERUSER, ASCII_DB, connect_timeout=10, client_encoding="SQL_ASCII"))
    conn.autocommit = True
    return conn


def quote_ident(name):
    if isinstance(name, str):
        name = name.encode()
    return b'"' + name.replace(b'"', b'""') + b'"'


@pytest.fixture(scope="module")
def roles(pg):
    conn = ascii_connection(pg)
    names = [KNOWN.encode(), LATE.encode(), BAD_ROLE, ODD_ROLE.encode()]
    with conn.cursor() as cur:
        for name in names:
            cur.execute(b"DROP ROLE IF EXISTS " + quote_ident(name))
            cur.execute(b"CREATE ROLE " + quote_ident(name) + b" LOGIN PASSWORD '" + PASSWORD.encode() + b"'")
        cur.execute(b"SELECT count(*) FROM pg_roles WHERE textsend(rolname::text) = ANY(%s)",
                    ([psycopg2.Binary(n) for n in names],))
        assert cur.fetchone()[0] == len(names)
    yield
    with conn.cursor() as cur:
        for name in names:
            cur.execute(b"DROP ROLE IF EXISTS " + quote_ident(name))
    conn.close()
    pg.execute("DROP DATABASE IF EXISTS %s" % ASCII_DB)


# ---------------------------------------------------------------- /metrics


def http_get(port, path):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=10) as r:
        assert r.status == 200
        return r.read()


SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\.)*)"(,|$)')
UNESCAPE = {"\\\\": "\\", '\\"': '"', "\\n": "\n"}


def unescape(value):
    return re.sub(r'\\.', lambda m: UNESCAPE[m.group(0)], value)


def parse(body):
    """{(name, frozenset(labels)): value}, labels unescaped. The body must be UTF-8 and
    every line a comment or one well-formed sample."""
    text = body.decode("utf-8")  # strict: an invalid byte fails here
    out = {}
    for line in text.split("\n"):
        if not line or line.startswith("# HELP ") or line.startswith("# TYPE "):
            continue
        m = SAMPLE.match(line)
        assert m, "malformed sample line: %r" % line
        labels, rest = [], m.group(2) or ""
        while rest:
            lm = LABEL.match(rest)
            assert lm, "malformed labels in %r" % line
            labels.append((lm.group(1), unescape(lm.group(2))))
            rest = rest[lm.end():]
        out[(m.group(1), frozenset(labels))] = float(m.group(3))
    return out


def tenants_of(samples):
    return {v for (_, labels) in samples for k, v in labels if k == "tenant"}


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())), 0.0)


def promtool_check(body):
    r = subprocess.run([PROMTOOL, "check", "metrics"], input=body, capture_output=True, timeout=60)
    assert r.returncode == 0, (r.stdout + r.stderr).decode(errors="replace")


def scrape(pw):
    return http_get(pw.metrics_port, "/metrics")


# ---------------------------------------------------------------- pgward and its console


@pytest.fixture
def pw(pgward_factory):
    """pgward with metrics (at most MAX_TENANTS tenants by name) and the admin console."""
    if not os.access(PROMTOOL, os.X_OK):
        pytest.fail("%s missing (Debian package prometheus)" % PROMTOOL)
    port = free_port()
    p = pgward_factory(**{"metrics.listen_port": port, "metrics.max_tenants": MAX_TENANTS,
                          "admin.users": SUPERUSER, "client_login_timeout": 30, "max_client_conn": 500})
    p.metrics_port = port
    return p


def console_rows(pw, command):
    """The rows of an admin console command, each value as bytes: through the raw protocol,
    since a name may hold a newline, a "|" or bytes that are not UTF-8."""
    c = pw.raw_session(SUPERUSER, "pgward")
    try:
        msgs = c.simple(command)
        assert "E" not in pgwire.types(msgs), msgs
        return [m.data_row() for m in msgs if m.type == "D"]
    finally:
        c.close()


def show_tenants(pw):
    """SHOW TENANTS as {tenant: sessions}, tenant names decoded (U+FFFD for invalid bytes)."""
    return {r[0].decode(errors="replace"): int(r[1]) for r in console_rows(pw, "SHOW TENANTS")}


def app_sessions(pw):
    """Sessions other than the admin console's, from SHOW SESSIONS (its state column)."""
    return [r for r in console_rows(pw, "SHOW SESSIONS") if r[5] != b"admin"]


def login(pw, role, password=PASSWORD):
    """A session of <role> (str or bytes) through pgward, past its first ReadyForQuery.
    pgwire.Conn.startup would decode ParameterStatus values, and session_authorization is
    the role name: this reads them as bytes."""
    if isinstance(role, str):
        role = role.encode()
    c = pw.raw()
    c.send(pgwire.startup_message({"user": role, "database": "postgres"}))
    scram = None
    while True:
        m = c.recv_msg()
        if m.type == "E":
            raise pgwire.PgError(m.fields())
        if m.type == "Z":
            return c
        if m.type != "R":
            continue
        code = m.auth_code()
        if code == pgwire.AUTH_SASL:
            scram = pgwire.Scram(password)
            c.send(pgwire.sasl_initial_response("SCRAM-SHA-256", scram.client_first()))
        elif code == pgwire.AUTH_SASL_CONTINUE:
            c.send(pgwire.sasl_response(scram.client_final(m.body[4:])))
        elif code == pgwire.AUTH_SASL_FINAL:
            scram.verify_server_final(m.body[4:])
        elif code != pgwire.AUTH_OK:
            raise AssertionError("unexpected authentication request %d" % code)


# ---------------------------------------------------------------- (a) the flood


def junk_name(rng, i):
    """Made-up user names: random bytes (mostly not UTF-8), a few chosen shapes, a few that
    look like real tenants."""
    chosen = [b"\xff\xfe", b"\xc0\xaf", b"\xed\xa0\x80", b"x\xe2\x82", b'q"b\\\nl\xff"} 1',
              b"\xe2\x82\xac" * 60, "tenant_%d" % i]
    if i % 10 == 0:
        return chosen[(i // 10) % len(chosen)]
    interesting = b'"\\\n\x7f\x80\xbf\xc0\xc2\xdf\xe0\xed\xef\xf0\xf4\xf5\xfeaZ_'
    return bytes(rng.choice(interesting) if rng.random() < 0.7 else rng.randint(1, 255)
                 for _ in range(rng.randint(1, 80)))


def junk_session(pw, i, user):
    """One client that never authenticates: it leaves right after its StartupMessage, or once
    asked for a password, or answers with a wrong one. Returns the SQLSTATE it got, if any."""
    try:
        c = pgwire.Conn(pw.host, pw.port, timeout=15)
    except OSError:
        return "connect"
    try:
        c.send(pgwire.startup_message({"user": user, "database": "postgres"}))
        if i % 4 == 0:
            return None
        if i % 4 == 1:
            c.recv_msg()
            c.close(abort=True)
            return None
        c.finish_startup(user, password="wrong-%d" % i)
        return "authenticated"
    except pgwire.PgError as e:
        return e.sqlstate
    except (pgwire.Closed, OSError, socket.timeout):
        return None
    finally:
        c.close()


def test_flood_leaves_no_trace(roles, pw):
    known = login(pw, KNOWN)
    known.simple("SELECT 1")
    before = parse(scrape(pw))
    tenants_before = tenants_of(before)
    assert tenants_before == {KNOWN, "_other"}, tenants_before
    assert value(before, "pgward_client_connections", tenant=KNOWN) == 1
    console_before = show_tenants(pw)
    assert console_before == {KNOWN: 1}, console_before

    # Scrape all along: every exposition decodes and names no tenant but the known ones.
    stop, scrapes, console_during, failures = threading.Event(), [], [], []

    def scraper():
        try:
            while not stop.is_set():
                scrapes.append(scrape(pw))
                if len(scrapes) % 10 == 1:
                    console_during.append(show_tenants(pw))
                time.sleep(0.05)
        except Exception as e:  # noqa: B902 - reported by the test
            failures.append(e)

    rng = random.Random(4242)
    names = [junk_name(rng, i) for i in range(JUNK_SESSIONS)]
    watcher = threading.Thread(target=scraper, daemon=True)
    watcher.start()
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
            outcomes = list(pool.map(lambda a: junk_session(pw, *a), enumerate(names)))
    finally:
        stop.set()
        watcher.join(30)
    assert not failures, failures
    assert "authenticated" not in outcomes
    # The flood reached PostgreSQL's password check, not only pgward's own checks.
    assert outcomes.count("28P01") >= JUNK_SESSIONS // 4, {s: outcomes.count(s) for s in set(outcomes)}
    assert len(scrapes) >= 5
    for body in scrapes:
        assert tenants_of(parse(body)) <= tenants_before
    for body in scrapes[:: max(1, len(scrapes) // 5)]:
        promtool_check(body)
    for rows in console_during:
        strangers = sorted(set(rows) - {KNOWN})
        assert not strangers, "SHOW TENANTS lists %d unauthenticated sessions' names, e.g. %r" % (
            len(strangers), strangers[:3])

    # Once the junk sessions are gone, everything is as it was.
    wait_for(lambda: len(app_sessions(pw)) == 1, 60, interval=0.5, what="the junk sessions to end")
    after_body = scrape(pw)
    promtool_check(after_body)
    after = parse(after_body)
    assert tenants_of(after) == tenants_before
    for metric in ("pgward_metrics_tenants", "pgward_metrics_tenant_overflow_total"):
        assert value(after, metric) == value(before, metric), metric
    assert value(after, "pgward_client_connections", tenant=KNOWN) == 1
    assert value(after, "pgward_client_connections", tenant="_other") == 0
    assert show_tenants(pw) == console_before
    assert pw.alive()

    # A real tenant logging in now still gets its own series (max_tenants was not used up).
    late = login(pw, LATE)
    late.simple("SELECT 1")
    last_body = scrape(pw)
    promtool_check(last_body)
    last = parse(last_body)
    assert value(last, "pgward_client_connections", tenant=LATE) == 1
    assert value(last, "pgward_queries_total", tenant=LATE, kind="select", outcome="ok") == 1
    assert value(last, "pgward_client_connections", tenant="_other") == 0
    assert value(last, "pgward_metrics_tenant_overflow_total") == 0
    assert show_tenants(pw) == {KNOWN: 1, LATE: 1}
    known.close()
    late.close()


# ---------------------------------------------------------------- (b) a wrong password


def test_wrong_password_is_login_failed(roles, pw):
    with pytest.raises(pgwire.PgError) as e:
        login(pw, KNOWN, password="not-the-password")
    assert e.value.sqlstate == "28P01"
    line = pw.wait_log(r'event=login_failed .*user="%s".*sqlstate=28P01' % KNOWN)
    sid = re.search(r"\bsid=(\d+)", line).group(1)
    # A line for the same session that says it logged in, or any login of this user: none.
    assert not re.search(r"event=login sid=%s\b" % sid, pw.log_text())
    assert not re.search(r'event=login .*user="%s"' % KNOWN, pw.log_text())
    samples = parse(scrape(pw))
    assert KNOWN not in tenants_of(samples)
    assert KNOWN not in show_tenants(pw)
    # The same user with the right password: now it is a login, and a tenant.
    c = login(pw, KNOWN)
    pw.wait_log(r'event=login .*user="%s"' % KNOWN)
    assert value(parse(scrape(pw)), "pgward_client_connections", tenant=KNOWN) == 1
    c.close()


# ---------------------------------------------------------------- (c) odd role names


def test_odd_role_names_keep_the_exposition_valid(roles, pw):
    bad = login(pw, BAD_ROLE)
    odd = login(pw, ODD_ROLE)
    for c in (bad, odd):
        assert pgwire.types(c.simple("SELECT 1")) == "TDCZ"
    body = scrape(pw)
    promtool_check(body)
    samples = parse(body)
    # Invalid sequences became U+FFFD, as a standard UTF-8 decoder replaces them.
    bad_label = BAD_ROLE.decode("utf-8", "replace")
    assert bad_label == "unauth_\ufffd\ufffd_caf\u00e9_\ufffd\ufffd\ufffd_\ufffd"
    assert tenants_of(samples) == {bad_label, ODD_ROLE, "_other"}
    for tenant in (bad_label, ODD_ROLE):
        assert value(samples, "pgward_client_connections", tenant=tenant) == 1
        assert value(samples, "pgward_queries_total", tenant=tenant, kind="select", outcome="ok") == 1
    # The escaped form on the wire, exactly.
    assert b'pgward_client_connections{tenant="unauth q\\"uo\\\\te\\nnl"} 1\n' in body
    # /statements, being JSON, is valid UTF-8 too.
    stmts = json.loads(http_get(pw.metrics_port, "/statements").decode("utf-8"))
    assert {s["tenant"] for s in stmts} >= {bad_label, ODD_ROLE}
    bad.close()
    odd.close()


# ---------------------------------------------------------------- accept failures, rate-limited


def test_accept_failures_are_rate_limited(pw):
    """At the descriptor limit every retry of accept() fails (one each 100 ms): a few lines
    are logged, then the rest are counted in one line once accepting works again."""
    subprocess.run(["prlimit", "--pid", str(pw.pid), "--nofile=40:40"], check=True)
    start = len(pw.log_text())
    held = []
    began = time.monotonic()
    try:
        for _ in range(60):  # silent clients: one descriptor each until client_login_timeout
            s = socket.create_connection((pw.host, pw.port), timeout=5)
            held.append(s)
        pw.wait_log(r"event=accept_failed error=", start=start)
        time.sleep(3)  # some 30 failed retries
    finally:
        for s in held:
            s.close()
        windows = int((time.monotonic() - began) // 10) + 1  # of 10 s, 5 lines each
    line = pw.wait_log(r"event=accept_failed suppressed=\d+", start=start, timeout=10)
    logged = re.findall(r"event=accept_failed error=", pw.log_text()[start:])
    assert 1 <= len(logged) <= 5 * windows, logged
    assert int(re.search(r"suppressed=(\d+)", line).group(1)) >= 10, line
    assert pw.alive()
