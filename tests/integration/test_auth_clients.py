"""pgward's own authentication with real clients: psql and psycopg2 (libpq), node-postgres
(npm "pg", pinned in scripts/lib.sh install_node_pg) and pgJDBC (Debian's
libpostgresql-jdbc-java), for every auth_type that asks the client something: scram-sha-256,
md5 (with an md5 secret, and with a SCRAM secret: then SCRAM, as PostgreSQL does), password
(checked against either secret), trust and cert, with the server leg plain and TLS.

libpq runs the whole sslmode (disable, prefer, require, verify-full) x channel_binding
(disable, prefer, require) grid; the expectation of each cell is libpq's own rules:
channel_binding=require succeeds only on TLS with a SCRAM exchange (pgward offers
SCRAM-SHA-256-PLUS bound to its certificate), and fails in libpq otherwise; cert needs TLS.
Each login's session_user, the client's TLS and the server leg's TLS (pg_stat_ssl of the
server connection pgward made) are checked. node-postgres: plain, TLS, TLS with
enableChannelBinding (SCRAM-SHA-256-PLUS). pgJDBC 42.5 has no channelBinding property (its
SCRAM client never binds): plain and TLS (verify-full, client certificates as PKCS#8).

Secrets: auth_query as postgres (the server's own SCRAM and md5 secrets, from pg_shadow) and,
for the trust and cert roles, their passwords in auth_file (what pgward logs in to the server
with). One pgward per (auth_type, server leg), shared by the module.
"""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

import authkit
from authkit import CERT_USER, TRUST_USER, ROLE_PASSWORDS
from conftest import MD5_USER, ROOT, SCRAM_USER, clean_env

CLIENTS = Path(__file__).resolve().parent / "clients"
JDBC_JAR = Path(os.environ.get("PGJDBC_JAR", "/usr/share/java/postgresql.jar"))
NODE_PG_DIR = Path(os.environ.get("NODE_PG_DIR", str(ROOT / ".cache" / "npm" / "node_modules" / "pg")))

# (auth_type, role): every method, md5 and password with both kinds of server secret
CASES = [
    ("scram-sha-256", SCRAM_USER),
    ("md5", MD5_USER),
    ("md5", SCRAM_USER),
    ("password", MD5_USER),
    ("password", SCRAM_USER),
    ("trust", TRUST_USER),
    ("cert", CERT_USER),
]
CASE_IDS = ["%s-%s" % c for c in CASES]
LEGS = ["disable", "require"]
SSLMODES = ["disable", "prefer", "require", "verify-full"]
CHANNEL_BINDINGS = ["disable", "prefer", "require"]


@pytest.fixture(scope="module")
def roles(pg):
    return authkit.ensure_roles(pg)


@pytest.fixture(scope="module")
def pool(pg, tls, roles, tmp_path_factory):
    base = tmp_path_factory.mktemp("auth-clients")
    userlist = authkit.write_userlist(base / "userlist.txt", {
        TRUST_USER: ROLE_PASSWORDS[TRUST_USER], CERT_USER: ROLE_PASSWORDS[CERT_USER]})
    pool = authkit.PgwardPool(pg, base)

    def get(auth_type, leg):
        return pool.get((auth_type, leg), auth_type=auth_type, auth_user="postgres", auth_file=userlist,
                        client_tls_sslmode="prefer", client_tls_cert_file=tls.server_cert,
                        client_tls_key_file=tls.server_key, client_tls_ca_file=tls.ca_cert,
                        server_tls_sslmode=leg,
                        # the grid has expected failures; no address may get throttled by them
                        auth_failure_limit=0, log_level="info")

    yield get
    problems = pool.stop_all()
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


def scram_exchange(auth_type, role):
    return auth_type == "scram-sha-256" or (auth_type == "md5" and role == SCRAM_USER)


def password_for(auth_type, role):
    """trust and cert clients give no password: were one asked for, libpq would fail."""
    return None if auth_type in ("trust", "cert") else ROLE_PASSWORDS[role]


def libpq_expectation(auth_type, role, sslmode, channel_binding):
    """('ok', client_tls) or ('fail', text the client's error must contain)."""
    tls = sslmode != "disable"
    if auth_type == "cert" and not tls:
        return "fail", "connection requires a valid client certificate"
    if channel_binding == "require" and not (tls and scram_exchange(auth_type, role)):
        return "fail", "channel binding"
    return "ok", tls


def check(login, expectation, role, leg):
    """'' if <login> is what <expectation> says, else why not."""
    kind, detail = expectation
    if kind == "fail":
        if login.ok:
            return "logged in, expected a failure mentioning %r" % detail
        if detail not in login.error:
            return "failed without %r: %s" % (detail, login.error.strip()[-300:])
        return ""
    if not login.ok:
        return "failed: %s" % login.error.strip()[-300:]
    want = (role, leg == "require", detail)
    got = (login.user, login.server_ssl, login.client_tls)
    return "" if got == want else "(session_user, server TLS, client TLS) = %r, expected %r" % (got, want)


def libpq_grid(pw, tls, auth_type, role, leg, login_fn):
    problems = []
    cert = authkit.client_cert(tls, CERT_USER) if auth_type == "cert" else None
    for sslmode in SSLMODES:
        for cb in CHANNEL_BINDINGS:
            kw = {"sslmode": sslmode, "channel_binding": cb}
            if sslmode == "verify-full":
                kw["sslrootcert"] = tls.ca_cert
            if cert:
                kw["sslcert"], kw["sslkey"] = cert
            login = login_fn(pw.port, role, password_for(auth_type, role), **kw)
            why = check(login, libpq_expectation(auth_type, role, sslmode, cb), role, leg)
            if why:
                problems.append("sslmode=%s channel_binding=%s: %s" % (sslmode, cb, why))
    return problems


@pytest.mark.parametrize("leg", LEGS, ids=["server-plain", "server-tls"])
@pytest.mark.parametrize("auth_type,role", CASES, ids=CASE_IDS)
def test_psql_grid(pool, tls, auth_type, role, leg):
    """psql logs in (or fails as libpq must) for every sslmode x channel_binding."""
    pw = pool(auth_type, leg)
    problems = libpq_grid(pw, tls, auth_type, role, leg, authkit.psql_login)
    assert not problems, "\n".join(problems) + "\n" + pw.log_tail(20)


@pytest.mark.parametrize("leg", LEGS, ids=["server-plain", "server-tls"])
@pytest.mark.parametrize("auth_type,role", CASES, ids=CASE_IDS)
def test_psycopg2_grid(pool, tls, auth_type, role, leg):
    """psycopg2 logs in (or fails as libpq must) for every sslmode x channel_binding."""
    pw = pool(auth_type, leg)
    problems = libpq_grid(pw, tls, auth_type, role, leg, authkit.psycopg_login)
    assert not problems, "\n".join(problems) + "\n" + pw.log_tail(20)


# ---------------------------------------------------------------- node-postgres


@pytest.fixture(scope="module")
def node_pg():
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node or npm is not installed: node-postgres cannot run")
    if not (NODE_PG_DIR / "package.json").exists() and "NODE_PG_DIR" not in os.environ:
        subprocess.run(["bash", "-c", "source scripts/lib.sh && install_node_pg"], cwd=ROOT, check=True,
                       capture_output=True, timeout=300)
    assert (NODE_PG_DIR / "package.json").exists(), "node-postgres missing at %s" % NODE_PG_DIR
    return NODE_PG_DIR


def run_node(node_pg, cases):
    r = subprocess.run(["node", str(CLIENTS / "pg_login.js")], input=json.dumps(cases).encode(),
                       capture_output=True, timeout=120, env=clean_env(NODE_PG_DIR=str(node_pg)))
    assert r.returncode == 0, r.stderr.decode()
    return {x["name"]: x for x in json.loads(r.stdout)}


def as_login(x):
    if x["ok"]:
        return authkit.Login(True, x["user"], x["serverSsl"], x["clientTls"])
    return authkit.Login(False, error="%s %s" % (x.get("code"), x["message"]))


@pytest.mark.parametrize("leg", LEGS, ids=["server-plain", "server-tls"])
def test_node_postgres(pool, tls, node_pg, leg):
    """node-postgres logs in with every method, plain, TLS and TLS with SCRAM-SHA-256-PLUS."""
    cases, expect = [], {}
    for auth_type, role in CASES:
        pw = pool(auth_type, leg)
        base = {"host": "127.0.0.1", "port": pw.port, "user": role, "database": "postgres"}
        if password_for(auth_type, role) is not None:
            base["password"] = password_for(auth_type, role)
        tls_opts = {"caFile": str(tls.ca_cert), "rejectUnauthorized": True}
        if auth_type == "cert":
            crt, key = authkit.client_cert(tls, CERT_USER)
            tls_opts.update(certFile=str(crt), keyFile=str(key))
        for mode, extra in (("plain", {"ssl": False}),
                            ("plain+cb", {"ssl": False, "enableChannelBinding": True}),
                            ("tls", {"ssl": tls_opts}),
                            ("tls+cb", {"ssl": tls_opts, "enableChannelBinding": True})):
            name = "%s/%s/%s" % (auth_type, role, mode)
            cases.append({"name": name, "config": dict(base, **extra)})
            tls_used = mode.startswith("tls")
            expect[name] = (("fail", "28000 connection requires a valid client certificate")
                            if auth_type == "cert" and not tls_used else ("ok", tls_used))
    results = run_node(node_pg, cases)
    problems = []
    for name, expectation in expect.items():
        why = check(as_login(results[name]), expectation, name.split("/")[1], leg)
        if why:
            problems.append("%s: %s" % (name, why))
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------- pgJDBC


def compile_jdbc_client(tmp_path_factory, source):
    """tests/integration/clients/<source> compiled against pgJDBC: the directory of its
    classes (skips when java is missing)."""
    if shutil.which("java") is None or shutil.which("javac") is None:
        pytest.skip("java or javac is not installed: pgJDBC cannot run")
    if not JDBC_JAR.exists():
        pytest.fail("pgJDBC is missing at %s: install libpostgresql-jdbc-java (scripts/lib.sh install_deps)"
                    % JDBC_JAR)
    out = tmp_path_factory.mktemp("jdbc")
    r = subprocess.run(["javac", "-d", str(out), "-cp", str(JDBC_JAR), str(CLIENTS / source)],
                       capture_output=True, timeout=180)
    assert r.returncode == 0, r.stderr.decode()
    return out


@pytest.fixture(scope="module")
def jdbc(tmp_path_factory):
    return compile_jdbc_client(tmp_path_factory, "JdbcLogin.java")


def run_jdbc(classes, lines):
    r = subprocess.run(["java", "-cp", "%s:%s" % (classes, JDBC_JAR), "JdbcLogin"],
                       input=("\n".join(lines) + "\n").encode(), capture_output=True, timeout=180,
                       env=clean_env())
    assert r.returncode == 0, r.stderr.decode()[-3000:]
    out = {}
    for line in r.stdout.decode().splitlines():
        f = line.split("\t")
        if f[1] == "OK":
            out[f[0]] = authkit.Login(True, f[2], f[3] == "t", None)
        else:
            out[f[0]] = authkit.Login(False, error="%s %s" % (f[2], f[3]))
    return out


@pytest.mark.parametrize("leg", LEGS, ids=["server-plain", "server-tls"])
def test_pgjdbc(pool, tls, jdbc, leg):
    """pgJDBC logs in with every method, plain and TLS (verify-full, client certificates)."""
    lines, expect = [], {}
    for auth_type, role in CASES:
        pw = pool(auth_type, leg)
        url = "jdbc:postgresql://127.0.0.1:%d/postgres" % pw.port
        props = ["user=" + role, "gssEncMode=disable"]
        if password_for(auth_type, role) is not None:
            props.append("password=" + password_for(auth_type, role))
        tls_props = ["sslmode=verify-full", "sslrootcert=%s" % tls.ca_cert]
        if auth_type == "cert":
            crt, key = authkit.client_cert(tls, CERT_USER)
            tls_props += ["sslcert=%s" % crt, "sslkey=%s" % authkit.pk8_der_key(key)]
        for mode, extra in (("plain", ["sslmode=disable"]), ("tls", tls_props), ("tls-require", ["sslmode=require"]
                                                                                    + tls_props[2:])):
            name = "%s/%s/%s" % (auth_type, role, mode)
            lines.append("\t".join([name, url] + props + extra))
            tls_used = mode != "plain"
            expect[name] = (("fail", "28000") if auth_type == "cert" and not tls_used else ("ok", None))
    results = run_jdbc(jdbc, lines)
    problems = []
    for name, expectation in expect.items():
        login = results.get(name)
        if login is None:
            problems.append("%s: no result" % name)
            continue
        why = check(login, expectation, name.split("/")[1], leg)
        if why:
            problems.append("%s: %s" % (name, why))
    assert not problems, "\n".join(problems)
