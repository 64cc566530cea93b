"""Fixtures for the integration suite: a real PostgreSQL 15 (session-wide), a test CA, and a
factory that starts pgward ($PGWARD_BIN, default build/pgward) in front of it.

Nothing is mocked: tests talk to PostgreSQL through real clients (psql, pgbench, psycopg2,
pg_basebackup) and through pgwire.Conn, a raw protocol client.

As root, PostgreSQL runs as the unprivileged system user "pgward" (created if missing);
otherwise as the current user.
"""

import os
import pwd
import re
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import psycopg2
import pytest

import pgwire

ROOT = Path(__file__).resolve().parents[2]
PGBIN = Path(os.environ.get("PGBIN", "/usr/lib/postgresql/15/bin"))
PGWARD_BIN = Path(os.environ.get("PGWARD_BIN", str(ROOT / "build" / "pgward")))
PG_OS_USER = os.environ.get("PGWARD_PG_USER", "pgward")
# Every pgward a test starts without an auth_type of its own authenticates the clients itself
# and pools its servers (pool_mode = session): the suite's transparency run in pooled mode.
POOLED = os.environ.get("PGWARD_TEST_POOLED") == "1"
# ...in this pool_mode (PGWARD_TEST_POOL_MODE=transaction: the suite through transaction pooling)
POOL_MODE = os.environ.get("PGWARD_TEST_POOL_MODE", "session")
# A test of what a client's own backend does while the client is idle (a FATAL it sends, a
# backend stopped between two queries): under transaction pooling an idle client has none.
needs_own_backend = pytest.mark.skipif(POOLED and POOL_MODE == "transaction",
                                       reason="an idle client holds no server under transaction pooling")
IS_ROOT = os.geteuid() == 0

SUPERUSER = "postgres"
MD5_USER, MD5_PASSWORD = "md5_user", "md5-secret"
SCRAM_USER, SCRAM_PASSWORD = "scram_user", "scram-secret"
PASSWORDS = {MD5_USER: MD5_PASSWORD, SCRAM_USER: SCRAM_PASSWORD}

SANITIZER_MARKERS = ("AddressSanitizer", "LeakSanitizer", "runtime error")

# Connections opened through helpers, closed before pgward is stopped so that a forgotten
# session never turns a graceful stop into a wait for shutdown_timeout.
_OPEN = []


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(port):
    """True when some socket listens on <port> (read from /proc, so no probe connection)."""
    want = ":%04X" % port
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(name) as f:
                next(f)
                for line in f:
                    parts = line.split()
                    if parts[1].endswith(want) and parts[3] == "0A":
                        return True
        except FileNotFoundError:
            pass
    return False


def clean_env(**extra):
    """The environment for client programs: no PG* variables from the caller's shell."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["PGCONNECT_TIMEOUT"] = "10"
    env.update({k: str(v) for k, v in extra.items()})
    return env


def run(cmd, timeout=120, check=True, **kw):
    kw.setdefault("env", clean_env())
    kw.setdefault("capture_output", True)
    r = subprocess.run(cmd, timeout=timeout, **kw)
    if check and r.returncode != 0:
        raise AssertionError("%s exited %d\nstdout: %s\nstderr: %s" % (
            cmd, r.returncode, _tail(r.stdout), _tail(r.stderr)))
    return r


def _tail(b, n=2000):
    if b is None:
        return ""
    if isinstance(b, bytes):
        b = b.decode(errors="replace")
    return b[-n:]


def wait_for(pred, timeout, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))


def conninfo(**kw):
    return " ".join("%s=%s" % (k, _quote(v)) for k, v in kw.items() if v is not None)


def _quote(v):
    v = str(v)
    if v == "" or re.search(r"[\s'\\]", v):
        return "'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return v


class Endpoint:
    """Something that speaks the PostgreSQL protocol on 127.0.0.1:port (PostgreSQL or pgward)."""

    name = "endpoint"
    host = "127.0.0.1"
    port = 0

    def dsn(self, user=SUPERUSER, dbname="postgres", **kw):
        kw.setdefault("sslmode", "disable")
        if user in PASSWORDS and "password" not in kw:
            kw["password"] = PASSWORDS[user]
        return conninfo(host=kw.pop("host", self.host), port=self.port, user=user, dbname=dbname, **kw)

    def connect(self, user=SUPERUSER, dbname="postgres", autocommit=True, **kw):
        conn = psycopg2.connect(self.dsn(user, dbname, connect_timeout=10, **kw))
        conn.autocommit = autocommit
        _OPEN.append(conn)
        return conn

    def raw(self, timeout=10.0, source=None):
        c = pgwire.Conn(self.host, self.port, timeout=timeout, source=source)
        _OPEN.append(c)
        return c

    def raw_session(self, user=SUPERUSER, database="postgres", password=None, params=None, timeout=10.0,
                    source=None):
        c = self.raw(timeout, source=source)
        if password is None:
            password = PASSWORDS.get(user)
        c.startup(user, database, password=password, params=params)
        return c

    def psql(self, *args, user=SUPERUSER, dbname="postgres", dsn_extra=None, input=None, timeout=120,
             check=True, env=None, **runkw):
        cmd = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-At",
               "-d", self.dsn(user, dbname, **(dsn_extra or {}))] + list(args)
        return run(cmd, input=input, timeout=timeout, check=check, env=env or clean_env(), **runkw)


def close_tracked():
    while _OPEN:
        c = _OPEN.pop()
        try:
            c.close()
        except Exception:
            pass


# ---------------------------------------------------------------- TLS material


class Tls:
    """A test CA, a server certificate for CN=localhost (SAN DNS:localhost, IP:127.0.0.1)
    signed by it, and an unrelated CA for the negative tests."""

    def __init__(self, directory):
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        self.dir = d
        self.ca_cert, self.ca_key = d / "ca.crt", d / "ca.key"
        self.server_cert, self.server_key = d / "server.crt", d / "server.key"
        self.wrong_ca_cert, self.wrong_ca_key = d / "wrong-ca.crt", d / "wrong-ca.key"
        self._ca(self.ca_cert, self.ca_key, "pgward test CA")
        self._ca(self.wrong_ca_cert, self.wrong_ca_key, "pgward unrelated CA")
        ext = d / "server.ext"
        ext.write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
                       "keyUsage=critical,digitalSignature,keyEncipherment\n"
                       "extendedKeyUsage=serverAuth,clientAuth\n")
        csr = d / "server.csr"
        run(["openssl", "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", str(self.server_key),
             "-out", str(csr), "-subj", "/CN=localhost"])
        run(["openssl", "x509", "-req", "-in", str(csr), "-CA", str(self.ca_cert), "-CAkey", str(self.ca_key),
             "-CAcreateserial", "-out", str(self.server_cert), "-days", "3650", "-sha256",
             "-extfile", str(ext)])
        os.chmod(self.server_key, 0o600)
        for p in d.iterdir():
            if p.suffix == ".crt":
                os.chmod(p, 0o644)

    @staticmethod
    def _ca(cert, key, cn):
        run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
             "-days", "3650", "-sha256", "-subj", "/CN=" + cn,
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign"])


# ---------------------------------------------------------------- PostgreSQL


def ensure_os_user():
    if not IS_ROOT:
        return
    try:
        pwd.getpwnam(PG_OS_USER)
    except KeyError:
        run(["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
             "--shell", "/usr/sbin/nologin", PG_OS_USER])


def as_owner(cmd):
    return (["runuser", "-u", PG_OS_USER, "--"] + cmd) if IS_ROOT else cmd


class PgCluster(Endpoint):
    name = "direct"

    def __init__(self, base, port, tls=None, hba=None, extra_conf=""):
        self.base = Path(base)
        self.data = self.base / "data"
        self.log = self.base / "postgres.log"
        self.port = port
        self.tls = tls
        self.hba = hba
        self.extra_conf = extra_conf

    def init(self):
        ensure_os_user()
        self.base.mkdir(parents=True, exist_ok=True)
        os.chmod(self.base, 0o755)
        if IS_ROOT:
            shutil.chown(self.base, PG_OS_USER, PG_OS_USER)
        run(as_owner([str(PGBIN / "initdb"), "-N", "-D", str(self.data), "-U", SUPERUSER, "-E", "UTF8",
                      "--locale=C", "--auth-local=trust", "--auth-host=reject"]), timeout=120)
        conf = [
            "listen_addresses = '127.0.0.1'",
            "port = %d" % self.port,
            "unix_socket_directories = '%s'" % self.data,
            "max_connections = 120",
            "shared_buffers = 128MB",
            "fsync = off",
            "synchronous_commit = off",
            "full_page_writes = off",
            "wal_level = replica",
            "max_wal_senders = 10",
            "max_wal_size = 2GB",
            "password_encryption = 'scram-sha-256'",
            # Big tables are compared by dumping them: a synchronized seq scan would start where
            # an earlier scan of the same table stopped and rotate the row order.
            "synchronize_seqscans = off",
            "log_connections = on",
            "log_disconnections = on",
            "log_line_prefix = '%m [%p] %u@%d '",
        ]
        if self.tls:
            for src, dst in ((self.tls.server_cert, "server.crt"), (self.tls.server_key, "server.key"),
                             (self.tls.ca_cert, "root.crt")):
                shutil.copy(src, self.data / dst)
                os.chmod(self.data / dst, 0o600)
                if IS_ROOT:
                    shutil.chown(self.data / dst, PG_OS_USER, PG_OS_USER)
            conf += ["ssl = on", "ssl_cert_file = 'server.crt'", "ssl_key_file = 'server.key'"]
        conf.append(self.extra_conf)
        with open(self.data / "postgresql.conf", "a") as f:
            f.write("\n# ---- pgward integration tests ----\n" + "\n".join(conf) + "\n")
        (self.data / "pg_hba.conf").write_text(self.hba)

    def start(self):
        if self.running():
            return
        run(as_owner([str(PGBIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60",
                      "start"]), timeout=90)

    def stop(self, mode="fast"):
        if self.running():
            run(as_owner([str(PGBIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop"]),
                timeout=90)

    def running(self):
        r = run(as_owner([str(PGBIN / "pg_ctl"), "-D", str(self.data), "status"]), check=False)
        return r.returncode == 0

    def execute(self, sql, dbname="postgres"):
        conn = psycopg2.connect(self.dsn(SUPERUSER, dbname, connect_timeout=10))
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(sql)
                return cur.fetchall() if cur.description else None
        finally:
            conn.close()

    def backend_alive(self, pid):
        return bool(self.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %d" % pid))


MAIN_HBA = """\
# order matters: the md5 and scram users can only log in with their passwords
local  all          all                      trust
host   replication  postgres    127.0.0.1/32 trust
host   all          postgres    127.0.0.1/32 trust
host   all          md5_user    127.0.0.1/32 md5
host   all          scram_user  127.0.0.1/32 scram-sha-256
host   all          all         127.0.0.1/32 scram-sha-256
"""

TRUST_HBA = """\
local  all          all                      trust
host   all          all         127.0.0.1/32 trust
"""


@pytest.fixture(scope="session")
def workdir():
    d = Path(tempfile.mkdtemp(prefix="pgward-it-"))
    os.chmod(d, 0o755)
    yield d
    if not os.environ.get("PGWARD_KEEP_TMP"):
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def tls(workdir):
    return Tls(workdir / "tls")


@pytest.fixture(scope="session")
def pg(workdir, tls):
    """The PostgreSQL 15 every test uses: ssl=on, scram by default, md5 and scram users."""
    cluster = PgCluster(workdir / "pg", free_port(), tls=tls, hba=MAIN_HBA)
    cluster.init()
    cluster.start()
    try:
        cluster.execute("SET password_encryption = 'md5'; CREATE ROLE %s LOGIN PASSWORD '%s'"
                        % (MD5_USER, MD5_PASSWORD))
        cluster.execute("CREATE ROLE %s LOGIN PASSWORD '%s'" % (SCRAM_USER, SCRAM_PASSWORD))
        assert cluster.execute("SELECT rolpassword LIKE 'md5%%' FROM pg_authid WHERE rolname = '%s'"
                               % MD5_USER) == [(True,)]
        cluster.execute("CREATE SCHEMA foo; CREATE TABLE foo.marker (v text); INSERT INTO foo.marker VALUES ('in foo');"
                        "GRANT USAGE ON SCHEMA foo TO PUBLIC; GRANT SELECT ON foo.marker TO PUBLIC")
        cluster.execute("CREATE DATABASE bench")
        yield cluster
    finally:
        cluster.stop("immediate")


@pytest.fixture(scope="session")
def pg2(workdir):
    """A second, TLS-less PostgreSQL (trust) that tests may stop and start: the "server is down /
    comes back" and "server refuses TLS" cases. Created stopped; tests start it as needed."""
    cluster = PgCluster(workdir / "pg2", free_port(), tls=None, hba=TRUST_HBA)
    cluster.init()
    yield cluster
    cluster.stop("immediate")


# ---------------------------------------------------------------- pgward


class Pgward(Endpoint):
    name = "pgward"

    def __init__(self, workdir, settings):
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.conf_path = self.dir / "pgward.ini"
        self.log_path = self.dir / "pgward.log"
        self.settings = dict(settings)
        self.port = int(self.settings["listen_port"])
        self.proc = None
        self.returncode = None
        self.write_config()

    def write_config(self, extra_lines=""):
        """Settings named "section.key" go to [section], all others to [pgward]."""
        sections = {"pgward": []}
        for k, v in self.settings.items():
            if v is None:
                continue
            section, _, key = k.rpartition(".") if "." in k else ("pgward", "", k)
            sections.setdefault(section, []).append("%s = %s" % (key, v))
        lines = ["; written by tests/integration/conftest.py"]
        for section, keys in sections.items():
            lines.append("[%s]" % section)
            lines.extend(keys)
        self.conf_path.write_text("\n".join(lines) + "\n" + extra_lines)

    def start(self, wait=True):
        if not PGWARD_BIN.exists():
            pytest.fail("pgward binary %s does not exist (build it, or set PGWARD_BIN)" % PGWARD_BIN)
        env = clean_env(ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:halt_on_error=1:print_summary=1"
                        # a small quarantine, so the RSS bounds hold under ASan too
                        ":quarantine_size_mb=8",
                        UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1")
        self.logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen([str(PGWARD_BIN), "-c", str(self.conf_path)], stdin=subprocess.DEVNULL,
                                     stdout=self.logf, stderr=subprocess.STDOUT, env=env)
        if wait:
            self.wait_listening()
        return self

    def wait_listening(self, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail("pgward exited with %s before listening; log:\n%s" % (self.proc.returncode,
                                                                                  self.log_tail()))
            if listening(self.port):
                return
            time.sleep(0.02)
        pytest.fail("pgward did not listen on %d within %ss; log:\n%s" % (self.port, timeout, self.log_tail()))

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log_text(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, n=40):
        return "\n".join(self.log_text().splitlines()[-n:])

    def wait_log(self, pattern, timeout=5, start=0):
        rx = re.compile(pattern)

        def found():
            for line in self.log_text()[start:].splitlines():
                if rx.search(line):
                    return line
            return None

        try:
            return wait_for(found, timeout, what="log line /%s/ in pgward log" % pattern)
        except AssertionError as e:
            raise AssertionError("%s (pgward %s); log:\n%s" % (
                e, "running" if self.alive() else "exited %s" % self.proc.returncode, self.log_tail()))

    def reload(self, **changes):
        self.settings.update(changes)
        self.write_config()
        self.proc.send_signal(signal.SIGHUP)

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait_exit(self, timeout):
        try:
            self.returncode = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        return self.returncode

    def stop(self):
        """SIGTERM, wait for the exit; returns the exit status (None if it had to be killed)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            grace = float(self.settings.get("shutdown_timeout") or 30) + 10
            if self.wait_exit(grace) is None:
                self.proc.kill()
                self.proc.wait()
                self.returncode = None
                return None
        self.returncode = self.proc.returncode
        return self.returncode

    def sanitizer_report(self):
        text = self.log_text()
        if any(m in text for m in SANITIZER_MARKERS):
            return text
        return None


def pgward_defaults(pg):
    return {
        "listen_addr": "127.0.0.1",
        "listen_port": free_port(),
        "server_host": "127.0.0.1",
        "server_port": pg.port,
        "server_tls_sslmode": "disable",
        "server_connect_timeout": 5,
        "client_login_timeout": 15,
        "shutdown_timeout": 3,
        "log_level": "debug",
    }


@pytest.fixture
def pgward_factory(pg, tmp_path):
    """start(**settings) -> a running Pgward. A setting given as None is left out of the file.
    At teardown every instance gets SIGTERM and must exit (0) without sanitizer reports."""
    started = []

    def start(wait=True, **settings):
        s = pgward_defaults(pg)
        if POOLED and "auth_type" not in settings:
            # PGWARD_TEST_POOLED=1: pgward authenticates as the server would (its own
            # pg_hba.conf rules, secrets from pg_shadow) and pools its servers
            hba = tmp_path / "pooled_hba.conf"
            hba.write_text(MAIN_HBA)
            # a pool as large as the tests' concurrency (32 racing clients): a smaller one
            # makes clients wait, which is pooling, not a difference in what they see
            s.update(auth_type="hba", auth_hba_file=hba, auth_user=SUPERUSER, pool_mode=POOL_MODE,
                     default_pool_size=100)
        s.update(settings)
        pw = Pgward(tmp_path / ("pgward%d" % len(started)), s)
        started.append(pw)
        return pw.start(wait=wait)

    yield start

    close_tracked()
    problems = []
    for pw in started:
        was_running = pw.alive()
        rc = pw.stop()
        if was_running and rc is None:
            problems.append("pgward (port %d) did not exit within shutdown_timeout+10s of SIGTERM" % pw.port)
        elif was_running and rc != 0:
            problems.append("pgward (port %d) exited %s after SIGTERM" % (pw.port, rc))
        report = pw.sanitizer_report()
        if report:
            problems.append("sanitizer report in pgward log %s:\n%s" % (pw.log_path, _tail(report, 6000)))
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture
def pgward(pgward_factory):
    """pgward with the default test settings, in front of the main PostgreSQL."""
    return pgward_factory()


@pytest.fixture(params=["direct", "pgward"])
def target(request, pg):
    """The same test directly against PostgreSQL and through pgward."""
    if request.param == "direct":
        if os.environ.get("PGWARD_SKIP_DIRECT"):
            pytest.skip("direct variant skipped (PGWARD_SKIP_DIRECT)")
        return pg
    return request.getfixturevalue("pgward")


@pytest.fixture(autouse=True)
def _close_connections():
    yield
    close_tracked()


def libpq_idle_notices(conn):
    """Lets libpq read what arrived on an idle connection (an ErrorResponse then goes to the
    notice processor, as libpq does); returns the connection's notices."""
    if select.select([conn], [], [], 0.1)[0]:
        try:
            conn.poll()
        except psycopg2.OperationalError:
            pass
    return conn.notices


def run_in_thread(fn, *args, **kw):
    """Runs fn in a daemon thread; returns (thread, result) where result is a dict filled with
    'value' or 'error' and 'elapsed'."""
    result = {}

    def body():
        t0 = time.monotonic()
        try:
            result["value"] = fn(*args, **kw)
        except BaseException as e:  # noqa: B902 - handed back to the test
            result["error"] = e
        result["elapsed"] = time.monotonic() - t0

    t = threading.Thread(target=body, daemon=True)
    t.start()
    return t, result
