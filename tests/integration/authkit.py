"""Shared pieces of the own-authentication tests (test_auth_own.py, test_auth_clients.py): the
roles they need on the main PostgreSQL, client certificates signed by the test CA, userlist
files, a SCRAM client with channel binding and full control over its messages, and readers
for SHOW AUTH and pgward_logins_total.

Not a test module: imported like pgwire.
"""

import base64
import hashlib
import hmac
import os
import re
import socket
import ssl
import struct
import threading
import urllib.request
from pathlib import Path

import psycopg2
import pytest

import pgwire
from conftest import (MD5_PASSWORD, MD5_USER, SCRAM_PASSWORD, SCRAM_USER, SUPERUSER, Pgward, clean_env,
                      close_tracked, conninfo, pgward_defaults, run)

# Roles of these tests, created on the main cluster (idempotent; nothing global changes: the
# main pg_hba (MAIN_HBA) already sends every other role to scram-sha-256).
EXPIRED_USER, EXPIRED_PASSWORD = "auth_expired", "expired-secret"
NOLOGIN_USER, NOLOGIN_PASSWORD = "auth_nologin", "nologin-secret"
CERT_USER, CERT_PASSWORD = "auth_cert", "cert-secret"
TRUST_USER, TRUST_PASSWORD = "auth_trust", "trust-secret"
MAPPED_USER, MAPPED_PASSWORD = "auth_mapped", "mapped-secret"
CACHE_USER = "auth_cached"  # its password changes during a test
SCHEMA = "auth_tests"  # where pipelined CREATE TABLEs would land
ATTACKER_USER, ATTACKER_PASSWORD = "auth_attacker", "attacker-secret"

ROLE_PASSWORDS = {
    MD5_USER: MD5_PASSWORD,
    SCRAM_USER: SCRAM_PASSWORD,
    EXPIRED_USER: EXPIRED_PASSWORD,
    NOLOGIN_USER: NOLOGIN_PASSWORD,
    CERT_USER: CERT_PASSWORD,
    TRUST_USER: TRUST_PASSWORD,
    MAPPED_USER: MAPPED_PASSWORD,
    ATTACKER_USER: ATTACKER_PASSWORD,
}

_ROLES_SQL = {
    EXPIRED_USER: "LOGIN PASSWORD '%s' VALID UNTIL '2001-01-01 00:00:00+00'" % EXPIRED_PASSWORD,
    NOLOGIN_USER: "NOLOGIN PASSWORD '%s'" % NOLOGIN_PASSWORD,
    CERT_USER: "LOGIN PASSWORD '%s'" % CERT_PASSWORD,
    TRUST_USER: "LOGIN PASSWORD '%s'" % TRUST_PASSWORD,
    MAPPED_USER: "LOGIN PASSWORD '%s'" % MAPPED_PASSWORD,
    ATTACKER_USER: "LOGIN PASSWORD '%s'" % ATTACKER_PASSWORD,
}


def ensure_roles(pg):
    """Creates (or resets) the roles above: SCRAM secrets (the cluster's default)."""
    for role, attrs in _ROLES_SQL.items():
        pg.execute("DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '%s') THEN "
                   "CREATE ROLE %s; END IF; END $$" % (role, role))
        pg.execute("SET password_encryption = 'scram-sha-256'; ALTER ROLE %s %s" % (role, attrs))
    # where the tests' roles may create tables (the public schema stays as it is)
    pg.execute("CREATE SCHEMA IF NOT EXISTS %s; GRANT USAGE, CREATE ON SCHEMA %s TO PUBLIC" % (SCHEMA, SCHEMA))
    # the expiry and NOLOGIN are what the tests rely on: check they hold
    assert pg.execute("SELECT rolvaliduntil < now(), rolcanlogin FROM pg_authid WHERE rolname = '%s'"
                      % EXPIRED_USER) == [(True, True)]
    assert pg.execute("SELECT rolcanlogin FROM pg_authid WHERE rolname = '%s'" % NOLOGIN_USER) == [(False,)]
    return ROLE_PASSWORDS


def server_secret(pg, role):
    """The role's secret as the server stores it (pg_authid.rolpassword)."""
    return pg.execute("SELECT rolpassword FROM pg_authid WHERE rolname = '%s'" % role)[0][0]


def md5_secret(user, password):
    return "md5" + hashlib.md5((password + user).encode()).hexdigest()


def scram_secret(password, salt=None, iterations=4096):
    """A SCRAM-SHA-256 secret as PostgreSQL stores it, with a salt of our own."""
    salt = salt or os.urandom(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored = hashlib.sha256(client_key).digest()
    server = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
    return "SCRAM-SHA-256$%d:%s$%s:%s" % (iterations, b64(salt), b64(stored), b64(server))


def write_userlist(path, entries):
    """PgBouncer's userlist.txt: "user" "secret" per line."""
    path = Path(path)
    path.write_text("".join('"%s" "%s"\n' % (u, s.replace('"', '""')) for u, s in entries.items()))
    os.chmod(path, 0o600)
    return path


# ---------------------------------------------------------------- client certificates


def client_cert(tls, cn, wrong_ca=False):
    """(cert, key) for CN=<cn>, signed by the test CA (or the unrelated one), clientAuth EKU.
    Made once per CN and CA in the session's TLS directory; the key is 0600, as libpq wants."""
    d = tls.dir / "clients"
    d.mkdir(exist_ok=True)
    stem = re.sub(r"[^A-Za-z0-9_.-]", "_", cn) + ("-wrongca" if wrong_ca else "")
    crt, key = d / (stem + ".crt"), d / (stem + ".key")
    if crt.exists() and key.exists():
        return crt, key
    ca_crt, ca_key = (tls.wrong_ca_cert, tls.wrong_ca_key) if wrong_ca else (tls.ca_cert, tls.ca_key)
    ext = d / (stem + ".ext")
    ext.write_text("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
                   "extendedKeyUsage=clientAuth\n")
    csr = d / (stem + ".csr")
    run(["openssl", "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr),
         "-subj", "/CN=" + cn])
    run(["openssl", "x509", "-req", "-in", str(csr), "-CA", str(ca_crt), "-CAkey", str(ca_key),
         "-CAcreateserial", "-out", str(crt), "-days", "3650", "-sha256", "-extfile", str(ext)])
    os.chmod(key, 0o600)
    os.chmod(crt, 0o644)
    return crt, key


def pk8_der_key(key):
    """The key in PKCS#8 DER, the form pgJDBC's sslkey reads."""
    out = key.with_suffix(".pk8")
    if not out.exists():
        run(["openssl", "pkcs8", "-topk8", "-inform", "PEM", "-outform", "DER", "-nocrypt", "-in", str(key),
             "-out", str(out)])
        os.chmod(out, 0o600)
    return out


def tls_context(tls, cert=None, verify=True):
    ctx = ssl.create_default_context(cafile=str(tls.ca_cert)) if verify else ssl._create_unverified_context()
    if cert is not None:
        ctx.load_cert_chain(str(cert[0]), str(cert[1]))
    return ctx


# ---------------------------------------------------------------- SCRAM with channel binding


def cert_end_point_hash(der):
    """tls-server-end-point channel binding data (RFC 5929): the certificate's hash, with
    SHA-256 for certificates signed with MD5 or SHA-1. The test certificates use SHA-256."""
    return hashlib.sha256(der).digest()


class ScramClient:
    """SCRAM-SHA-256(-PLUS), client side, each message exposed so tests can forge them.

    <cb_data>: the tls-server-end-point hash to bind to (then the mechanism is -PLUS unless
    <gs2> says otherwise). <gs2>: the GS2 header to send ("n,,", "y,,", "p=tls-server-end-point,,").
    <authname>: the n= attribute (PostgreSQL clients leave it empty)."""

    def __init__(self, password, cb_data=None, gs2=None, authname="", nonce=None):
        self.password = password.encode()
        self.cb_data = cb_data
        self.gs2 = gs2 or ("p=tls-server-end-point,," if cb_data is not None else "n,,")
        self.nonce = nonce or base64.b64encode(os.urandom(18)).decode()
        self.first_bare = "n=%s,r=%s" % (authname, self.nonce)
        self.mechanism = "SCRAM-SHA-256-PLUS" if self.gs2.startswith("p=") else "SCRAM-SHA-256"

    def client_first(self):
        return (self.gs2 + self.first_bare).encode()

    def client_final(self, server_first):
        self.server_first = server_first.decode()
        attrs = dict(kv.split("=", 1) for kv in self.server_first.split(","))
        assert attrs["r"].startswith(self.nonce), "server nonce does not extend ours"
        self.salt = base64.b64decode(attrs["s"])
        self.iterations = int(attrs["i"])
        salted = hashlib.pbkdf2_hmac("sha256", self.password, self.salt, self.iterations)
        client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
        stored_key = hashlib.sha256(client_key).digest()
        cbind = self.gs2.encode() + (self.cb_data or b"" if self.gs2.startswith("p=") else b"")
        without_proof = "c=" + base64.b64encode(cbind).decode() + ",r=" + attrs["r"]
        self.auth_message = (self.first_bare + "," + self.server_first + "," + without_proof).encode()
        signature = hmac.new(stored_key, self.auth_message, hashlib.sha256).digest()
        proof = bytes(a ^ b for a, b in zip(client_key, signature))
        self.server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
        return (without_proof + ",p=" + base64.b64encode(proof).decode()).encode()

    def verify_server_final(self, data):
        attrs = dict(kv.split("=", 1) for kv in data.decode().split(","))
        expected = hmac.new(self.server_key, self.auth_message, hashlib.sha256).digest()
        return base64.b64decode(attrs["v"]) == expected


def sasl_mechanisms(msg):
    return [x.decode() for x in msg.body[4:].split(b"\0") if x]


def read_auth_request(c, timeout=None):
    """The next Authentication request (or ErrorResponse) of a raw connection."""
    m = c.recv_msg(timeout=timeout)
    if m.type == "E":
        raise pgwire.PgError(m.fields(), [m])
    assert m.type == "R", m
    return m


def scram_login(c, user, scram, database="postgres", params=None):
    """Startup + a SCRAM exchange driven by <scram> on raw connection <c>; returns the
    messages after the exchange up to ReadyForQuery. Raises PgError on an ErrorResponse."""
    p = {"user": user, "database": database}
    p.update(params or {})
    c.send(pgwire.startup_message(p))
    m = read_auth_request(c)
    assert m.auth_code() == pgwire.AUTH_SASL, m
    c.sasl_mechanisms = sasl_mechanisms(m)
    c.send(pgwire.sasl_initial_response(scram.mechanism, scram.client_first()))
    m = read_auth_request(c)
    assert m.auth_code() == pgwire.AUTH_SASL_CONTINUE, m
    c.send(pgwire.sasl_response(scram.client_final(m.body[4:])))
    m = read_auth_request(c)
    assert m.auth_code() == pgwire.AUTH_SASL_FINAL, m
    assert scram.verify_server_final(m.body[4:]), "server signature mismatch"
    out = c.recv_until("Z")
    errors = [x for x in out if x.type == "E"]
    if errors:
        raise pgwire.PgError(errors[0].fields(), out)
    return out


# ---------------------------------------------------------------- counters


def show_auth(endpoint, source=None, user=SUPERUSER, password=None):
    """SHOW AUTH of the admin console as {method: {outcome: int}}, over a raw connection
    (from <source>, so a throttled 127.0.0.1 can still ask)."""
    c = endpoint.raw_session(user, "pgward", password=password, source=source)
    try:
        msgs = c.simple("SHOW AUTH")
        errors = [m for m in msgs if m.type == "E"]
        assert not errors, errors[0].fields()
        cols = [m for m in msgs if m.type == "T"][0].column_names()
        out = {}
        for m in msgs:
            if m.type == "D":
                row = dict(zip(cols, [v.decode() for v in m.data_row()]))
                method = row.pop("method")
                out[method] = {k: int(v) for k, v in row.items()}
        return out
    finally:
        c.close()


_SAMPLE = re.compile(r'^pgward_logins_total\{method="([^"]*)",outcome="([^"]*)"\} (\S+)$')


def logins_metric(port):
    """pgward_logins_total as {method: {outcome: int}} from /metrics."""
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        m = _SAMPLE.match(line)
        if m:
            out.setdefault(m.group(1), {})[m.group(2)] = int(float(m.group(3)))
    assert out, "no pgward_logins_total samples in /metrics"
    return out


# ---------------------------------------------------------------- raw logins


OK_SCRAM = [pgwire.AUTH_SASL, pgwire.AUTH_SASL_CONTINUE, pgwire.AUTH_SASL_FINAL, pgwire.AUTH_OK]
OK_MD5 = [pgwire.AUTH_MD5, pgwire.AUTH_OK]
OK_CLEARTEXT = [pgwire.AUTH_CLEARTEXT, pgwire.AUTH_OK]


def client_tls(tls, mode="prefer"):
    return {"client_tls_sslmode": mode, "client_tls_cert_file": tls.server_cert,
            "client_tls_key_file": tls.server_key, "client_tls_ca_file": tls.ca_cert}


def login(pw, user, password=None, database="postgres", ctx=None, source=None, params=None):
    """A raw login; returns the connection (auth_codes: the requests the client saw)."""
    c = pw.raw(source=source)
    if ctx is not None:
        c.start_tls(ctx, server_hostname="localhost")
    c.startup(user, database, password=password, params=params)
    return c


def refused(pw, user, password=None, database="postgres", ctx=None, source=None):
    """The ErrorResponse that ends a login; the connection must close after it."""
    c = pw.raw(source=source)
    if ctx is not None:
        c.start_tls(ctx, server_hostname="localhost")
    with pytest.raises(pgwire.PgError) as e:
        c.startup(user, database, password=password if password is not None else "unused")
    assert c.wait_closed(5), "connection still open after %r" % e.value.fields
    e.value.fields["auth_codes"] = c.auth_codes
    e.value.fields["conn"] = c
    return e.value.fields


def fields_of(f):
    return {k: f.get(k) for k in ("S", "V", "C", "M", "D")}


# ---------------------------------------------------------------- logins with libpq


LOGIN_SQL = "SELECT session_user, ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"


def libpq_dsn(port, user, password=None, dbname="postgres", **kw):
    """A conninfo string with nothing added: libpq's own defaults (sslmode=prefer,
    channel_binding=prefer) apply to whatever is not given."""
    return conninfo(host="127.0.0.1", port=port, user=user, dbname=dbname, password=password,
                    **{k: v for k, v in kw.items() if v is not None})


def client_env():
    # no ~/.pgpass of the machine's user may answer for the test
    return clean_env(PGPASSFILE="/nonexistent/pgpass")


class Login:
    """What a client saw: ok, and then session_user, the server side's TLS (pg_stat_ssl of
    pgward's own server connection), the client side's TLS; or the error text."""

    def __init__(self, ok, user=None, server_ssl=None, client_tls=None, error=""):
        self.ok, self.user, self.server_ssl, self.client_tls, self.error = ok, user, server_ssl, client_tls, error

    def __repr__(self):
        if self.ok:
            return "ok(user=%s, server_ssl=%s, client_tls=%s)" % (self.user, self.server_ssl, self.client_tls)
        return "failed(%r)" % self.error.strip()[-300:]


def psql_login(port, user, password=None, **kw):
    dsn = libpq_dsn(port, user, password, **kw)
    r = run(["psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-d", dsn, "-c", "\\conninfo", "-c", LOGIN_SQL],
            check=False, env=client_env(), timeout=60)
    out, err = r.stdout.decode(), r.stderr.decode()
    if r.returncode != 0:
        return Login(False, error=err or out)
    lines = out.strip().splitlines()
    u, s = lines[-1].split("|")
    return Login(True, u, s == "t", "SSL connection" in out)


def psycopg_login(port, user, password=None, **kw):
    env_keep = {k: os.environ.get(k) for k in ("PGPASSFILE",)}
    os.environ.update({k: v for k, v in client_env().items() if k in env_keep})
    try:
        conn = psycopg2.connect(libpq_dsn(port, user, password, connect_timeout=10, **kw))
    except psycopg2.Error as e:
        return Login(False, error=str(e))
    finally:
        for k, v in env_keep.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(LOGIN_SQL)
            u, s = cur.fetchone()
        return Login(True, u, s, bool(conn.info.ssl_in_use))
    finally:
        conn.close()


# ---------------------------------------------------------------- pgward instances of a module


class PgwardPool:
    """pgward instances shared by the tests of a module (the harness's pgward_factory is per
    test): started on first use under <base>, stopped by stop_all(), which returns what went
    wrong (an exit status other than 0 after SIGTERM, a sanitizer report)."""

    def __init__(self, pg, base):
        self.pg, self.base = pg, Path(base)
        self.started = {}

    def get(self, key, **settings):
        if key not in self.started:
            s = pgward_defaults(self.pg)
            s.update(settings)
            name = re.sub(r"[^A-Za-z0-9_.-]", "_", "-".join(map(str, key)) if isinstance(key, tuple) else str(key))
            pw = Pgward(self.base / name, s)
            self.started[key] = pw
            pw.start()
        return self.started[key]

    def stop_all(self):
        close_tracked()
        problems = []
        for pw in self.started.values():
            was_running = pw.alive()
            rc = pw.stop()
            if was_running and rc != 0:
                problems.append("pgward (port %d) exited %s after SIGTERM" % (pw.port, rc))
            report = pw.sanitizer_report()
            if report:
                problems.append("sanitizer report in %s:\n%s" % (pw.log_path, report[-6000:]))
        return problems


# ---------------------------------------------------------------- a fake server for the server leg


def _recv_exact(sock, n):
    out = b""
    while len(out) < n:
        chunk = sock.recv(n - len(out))
        if not chunk:
            raise EOFError("peer closed")
        out += chunk
    return out


def _recv_typed(sock):
    t = _recv_exact(sock, 1)
    (ln,) = struct.unpack("!I", _recv_exact(sock, 4))
    return t.decode(), _recv_exact(sock, ln - 4)


def _backend(t, body=b""):
    return t.encode() + struct.pack("!I", len(body) + 4) + body


class FakeScramServer(threading.Thread):
    """Plays PostgreSQL's side of one login, for checking what pgward sends to a server: it
    offers <mechanisms> (over TLS with the test server certificate when <use_tls>), runs SCRAM
    with <secret> (a role's SCRAM secret), and records pgward's choices in self.seen:
    mechanism, gs2 header, whether the channel binding data is the hash of its certificate,
    whether the proof verifies. With <bad_signature> its server-final is wrong (an impostor).
    With <refuse> it answers the client-first with that ErrorResponse (fields dict). Hostile
    servers: <iterations> overrides the count in its server-first; <skip_final> sends
    AuthenticationOk without the SASLFinal that proves it knows the secret; <skip_ok> sends
    the SASLFinal and then the rest of a login without AuthenticationOk."""

    def __init__(self, tls, secret, mechanisms=("SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"), use_tls=True,
                 bad_signature=False, refuse=None, iterations=None, skip_final=False, skip_ok=False):
        super().__init__(daemon=True)
        self.tls, self.mechanisms, self.use_tls = tls, mechanisms, use_tls
        self.bad_signature, self.refuse = bad_signature, refuse
        self.announced_iterations, self.skip_final, self.skip_ok = iterations, skip_final, skip_ok
        iters, rest = secret[len("SCRAM-SHA-256$"):].split(":", 1)
        salt, keys = rest.split("$", 1)
        stored, server = keys.split(":")
        self.iterations, self.salt = int(iters), base64.b64decode(salt)
        self.stored_key, self.server_key = base64.b64decode(stored), base64.b64decode(server)
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(4)
        self.port = self.listener.getsockname()[1]
        self.seen = {}
        self.error = None
        self.done = threading.Event()

    def run(self):
        try:
            self._serve()
        except Exception as e:  # noqa: B902 - reported to the test
            self.error = e
        finally:
            self.done.set()
            self.listener.close()

    def _serve(self):
        self.listener.settimeout(20)
        conn, _ = self.listener.accept()
        conn.settimeout(20)
        ln, code = struct.unpack("!II", _recv_exact(conn, 8))
        if code == pgwire.SSL_REQUEST_CODE:
            self.seen["ssl_request"] = True
            if self.use_tls:
                conn.sendall(b"S")
                ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                ctx.load_cert_chain(str(self.tls.server_cert), str(self.tls.server_key))
                conn = ctx.wrap_socket(conn, server_side=True)
            else:
                conn.sendall(b"N")
            ln, code = struct.unpack("!II", _recv_exact(conn, 8))
        startup = _recv_exact(conn, ln - 8).split(b"\0")
        params = dict(zip(startup[0::2], startup[1::2]))
        self.seen["user"] = params.get(b"user", b"").decode()
        mechs = b"".join(m.encode() + b"\0" for m in self.mechanisms) + b"\0"
        conn.sendall(_backend("R", struct.pack("!I", 10) + mechs))
        t, body = _recv_typed(conn)
        assert t == "p", t
        mech, rest = body.split(b"\0", 1)
        (n,) = struct.unpack_from("!i", rest)
        first = rest[4:4 + n].decode()
        self.seen["mechanism"] = mech.decode()
        gs2_end = first.index(",", first.index(",") + 1) + 1
        gs2, bare = first[:gs2_end], first[gs2_end:]
        self.seen["gs2"] = gs2
        if self.refuse is not None:
            body = b"".join(k.encode() + v.encode() + b"\0" for k, v in self.refuse.items()) + b"\0"
            conn.sendall(_backend("E", body))
            conn.close()
            return
        client_nonce = dict(kv.split("=", 1) for kv in bare.split(","))["r"]
        nonce = client_nonce + base64.b64encode(os.urandom(18)).decode()
        server_first = "r=%s,s=%s,i=%d" % (nonce, base64.b64encode(self.salt).decode(),
                                            self.announced_iterations or self.iterations)
        conn.sendall(_backend("R", struct.pack("!I", 11) + server_first.encode()))
        t, body = _recv_typed(conn)
        assert t == "p", t
        final = body.decode()
        without_proof, proof64 = final.rsplit(",p=", 1)
        attrs = dict(kv.split("=", 1) for kv in without_proof.split(","))
        cbind = base64.b64decode(attrs["c"])
        der = ssl.PEM_cert_to_DER_cert(Path(self.tls.server_cert).read_text())
        self.seen["cbind"] = cbind
        self.seen["cbind_is_cert_hash"] = cbind == gs2.encode() + cert_end_point_hash(der)
        self.seen["nonce_ok"] = attrs["r"] == nonce
        auth_message = (bare + "," + server_first + "," + without_proof).encode()
        sig = hmac.new(self.stored_key, auth_message, hashlib.sha256).digest()
        client_key = bytes(a ^ b for a, b in zip(base64.b64decode(proof64), sig))
        self.seen["proof_ok"] = hashlib.sha256(client_key).digest() == self.stored_key
        if not (self.seen["proof_ok"] and self.seen["nonce_ok"]):
            conn.sendall(_backend("E", b"SFATAL\0VFATAL\0C28P01\0Mfake server: bad proof\0\0"))
            conn.close()
            return
        v = hmac.new(self.server_key, auth_message, hashlib.sha256).digest()
        if self.bad_signature:
            v = bytes(b ^ 1 for b in v)
        if not self.skip_final:
            conn.sendall(_backend("R", struct.pack("!I", 12) + b"v=" + base64.b64encode(v)))
        out = b"" if self.skip_ok else _backend("R", struct.pack("!I", 0))
        for k, val in (("server_version", "15.0"), ("server_encoding", "UTF8"), ("client_encoding", "UTF8"),
                       ("standard_conforming_strings", "on"), ("DateStyle", "ISO, MDY"),
                       ("integer_datetimes", "on"), ("session_authorization", self.seen["user"])):
            out += _backend("S", k.encode() + b"\0" + val.encode() + b"\0")
        out += _backend("K", struct.pack("!II", 4242, 1234)) + _backend("Z", b"I")
        try:
            conn.sendall(out)
            self.seen["sent_ok"] = True
            # until pgward hangs up
            while conn.recv(4096):
                pass
        except (OSError, ssl.SSLError):
            pass
        conn.close()
