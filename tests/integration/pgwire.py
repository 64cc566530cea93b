"""A tiny PostgreSQL protocol v3 client (sockets + struct) for precise assertions.

It builds frontend messages byte by byte (so tests can also send hostile bytes), decodes
backend messages into (type, body), and performs trust, cleartext, md5 and SCRAM-SHA-256
authentication. It never hides what the server or the proxy sent: every message read is
returned to the caller.
"""

import base64
import hashlib
import hmac
import os
import select
import socket
import ssl
import struct
import time

PROTOCOL_3_0 = 3 << 16
CANCEL_REQUEST_CODE = 80877102
SSL_REQUEST_CODE = 80877103
GSSENC_REQUEST_CODE = 80877104

AUTH_OK = 0
AUTH_CLEARTEXT = 3
AUTH_MD5 = 5
AUTH_SASL = 10
AUTH_SASL_CONTINUE = 11
AUTH_SASL_FINAL = 12


def cstr(s):
    if isinstance(s, str):
        s = s.encode()
    return s + b"\0"


def message(type_byte, body=b""):
    """A typed frontend message: type byte, int32 length (itself included), body."""
    if isinstance(type_byte, str):
        type_byte = type_byte.encode()
    return type_byte + struct.pack("!I", len(body) + 4) + body


# ---- untyped packets (before the startup phase ends) ----


def startup_message(params, version=PROTOCOL_3_0):
    body = struct.pack("!I", version)
    for k, v in params.items():
        body += cstr(k) + cstr(v)
    body += b"\0"
    return struct.pack("!I", len(body) + 4) + body


def ssl_request():
    return struct.pack("!II", 8, SSL_REQUEST_CODE)


def gssenc_request():
    return struct.pack("!II", 8, GSSENC_REQUEST_CODE)


def cancel_request(pid, key):
    return struct.pack("!IIII", 16, CANCEL_REQUEST_CODE, pid & 0xFFFFFFFF, key & 0xFFFFFFFF)


# ---- typed frontend messages ----


def query(sql):
    return message("Q", cstr(sql))


def parse(name, sql, param_oids=()):
    body = cstr(name) + cstr(sql) + struct.pack("!H", len(param_oids))
    body += b"".join(struct.pack("!I", o) for o in param_oids)
    return message("P", body)


def _encode_value(v):
    if v is None:
        return struct.pack("!i", -1)
    if isinstance(v, str):
        v = v.encode()
    return struct.pack("!i", len(v)) + v


def bind(portal, statement, params=(), param_formats=(), result_formats=()):
    body = cstr(portal) + cstr(statement)
    body += struct.pack("!H", len(param_formats)) + b"".join(struct.pack("!H", f) for f in param_formats)
    body += struct.pack("!H", len(params)) + b"".join(_encode_value(p) for p in params)
    body += struct.pack("!H", len(result_formats)) + b"".join(struct.pack("!H", f) for f in result_formats)
    return message("B", body)


def describe(kind, name=""):
    return message("D", kind.encode() + cstr(name))


def execute(portal="", max_rows=0):
    return message("E", cstr(portal) + struct.pack("!I", max_rows))


def close(kind, name=""):
    return message("C", kind.encode() + cstr(name))


def sync():
    return message("S")


def flush():
    return message("H")


def terminate():
    return message("X")


def copy_data(data):
    return message("d", data)


def copy_done():
    return message("c")


def copy_fail(reason):
    return message("f", cstr(reason))


def function_call(oid, args=(), arg_formats=(), result_format=1):
    body = struct.pack("!I", oid)
    body += struct.pack("!H", len(arg_formats)) + b"".join(struct.pack("!H", f) for f in arg_formats)
    body += struct.pack("!H", len(args)) + b"".join(_encode_value(a) for a in args)
    body += struct.pack("!H", result_format)
    return message("F", body)


def password_message(password):
    return message("p", cstr(password))


def sasl_initial_response(mechanism, data):
    return message("p", cstr(mechanism) + struct.pack("!i", len(data)) + data)


def sasl_response(data):
    return message("p", data)


# ---- backend messages ----


class Message:
    __slots__ = ("type", "body")

    def __init__(self, type_, body):
        self.type = type_
        self.body = bytes(body)

    def __repr__(self):
        if self.type in "EN":
            return "Message(%r, %r)" % (self.type, self.fields())
        body = self.body if len(self.body) <= 60 else self.body[:60] + b"..."
        return "Message(%r, %r)" % (self.type, body)

    def __eq__(self, other):
        return isinstance(other, Message) and (self.type, self.body) == (other.type, other.body)

    def __hash__(self):
        return hash((self.type, self.body))

    # ErrorResponse / NoticeResponse
    def fields(self):
        return error_fields(self.body)

    @property
    def sqlstate(self):
        return self.fields().get("C")

    def auth_code(self):
        return struct.unpack_from("!I", self.body)[0]

    def data_row(self):
        return data_row(self.body)

    def command_tag(self):
        return self.body.rstrip(b"\0").decode()

    def parameter_status(self):
        k, v, _ = self.body.split(b"\0", 2)
        # a role's name may be any bytes (session_authorization reports it as stored)
        return k.decode(errors="surrogateescape"), v.decode(errors="surrogateescape")

    def backend_key(self):
        return struct.unpack("!II", self.body)

    def ready_status(self):
        return self.body.decode()

    def notification(self):
        pid = struct.unpack_from("!I", self.body)[0]
        channel, payload, _ = self.body[4:].split(b"\0", 2)
        return pid, channel.decode(), payload.decode()

    def column_names(self):
        (n,) = struct.unpack_from("!H", self.body)
        off, names = 2, []
        for _ in range(n):
            end = self.body.index(b"\0", off)
            names.append(self.body[off:end].decode())
            off = end + 1 + 18
        return names


def error_fields(body):
    out = {}
    for part in bytes(body).split(b"\0"):
        if part:
            out[chr(part[0])] = part[1:].decode(errors="replace")
    return out


def data_row(body):
    (n,) = struct.unpack_from("!H", body)
    off, vals = 2, []
    for _ in range(n):
        (ln,) = struct.unpack_from("!i", body, off)
        off += 4
        if ln < 0:
            vals.append(None)
        else:
            vals.append(bytes(body[off : off + ln]))
            off += ln
    return vals


class PgError(Exception):
    def __init__(self, fields, messages=None):
        self.fields = fields
        self.sqlstate = fields.get("C")
        self.message = fields.get("M")
        self.messages = messages or []
        super().__init__("%s %s: %s" % (fields.get("S"), self.sqlstate, self.message))


class Closed(Exception):
    """The peer closed the connection (EOF or reset) before the expected message."""

    def __init__(self, what, messages=()):
        self.messages = list(messages)
        super().__init__(what)


# ---- the client ----


class Conn:
    def __init__(self, host="127.0.0.1", port=5432, timeout=10.0, source=None):
        """<source>: the local address to connect from (e.g. "127.0.0.2": any 127/8 address
        works on loopback, so a test can be a second client address)."""
        self.timeout = timeout
        self.sock = socket.create_connection((host, port), timeout=timeout,
                                             source_address=(source, 0) if source else None)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.host, self.port = host, port
        self.buf = bytearray()
        self.pos = 0
        self.eof = False
        self.backend_key = None
        self.params = {}
        self.sasl_mechanisms = None
        self.auth_codes = []

    # -- bytes --

    def send(self, *chunks):
        self.sock.sendall(b"".join(chunks))

    def _avail(self):
        return len(self.buf) - self.pos

    def _fill(self, deadline):
        """Reads more bytes; raises Closed on EOF/reset, socket.timeout at the deadline."""
        if self.eof:
            raise Closed("connection closed by peer")
        if self.pos > 1 << 20 and self.pos > len(self.buf) // 2:
            del self.buf[: self.pos]
            self.pos = 0
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout("timed out waiting for data")
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(1 << 18)
        except (ConnectionResetError, BrokenPipeError) as e:
            self.eof = True
            raise Closed("connection reset by peer (%s)" % e)
        except ssl.SSLError as e:
            self.eof = True
            raise Closed("TLS error: %s" % e)
        if not chunk:
            self.eof = True
            raise Closed("connection closed by peer")
        self.buf += chunk

    def recv_exact(self, n, timeout=None):
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while self._avail() < n:
            self._fill(deadline)
        out = bytes(self.buf[self.pos : self.pos + n])
        self.pos += n
        return out

    def recv_raw(self, maxlen, timeout=None):
        """Whatever is available (up to maxlen), straight from the socket when the buffer is empty."""
        if self._avail():
            n = min(maxlen, self._avail())
            out = bytes(self.buf[self.pos : self.pos + n])
            self.pos += n
            return out
        self.sock.settimeout(self.timeout if timeout is None else timeout)
        data = self.sock.recv(maxlen)
        if not data:
            self.eof = True
        return data

    def recv_msg(self, timeout=None):
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while self._avail() < 5:
            self._fill(deadline)
        t = chr(self.buf[self.pos])
        (ln,) = struct.unpack_from("!I", self.buf, self.pos + 1)
        if ln < 4:
            raise AssertionError("backend message %r with invalid length %d" % (t, ln))
        while self._avail() < 1 + ln:
            self._fill(deadline)
        body = self.buf[self.pos + 5 : self.pos + 1 + ln]
        self.pos += 1 + ln
        return Message(t, body)

    def recv_until(self, types="Z", timeout=None):
        """Messages up to and including the first whose type is in <types>."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        out = []
        while True:
            try:
                m = self.recv_msg(timeout=max(0.0, deadline - time.monotonic()))
            except Closed as e:
                raise Closed(str(e), out)
            out.append(m)
            if m.type in types:
                return out

    def expect_error(self, timeout=None):
        """Reads until an ErrorResponse and returns its fields (AssertionError if none came)."""
        try:
            msgs = self.recv_until("E", timeout=timeout)
        except Closed as e:
            raise AssertionError("no ErrorResponse before the connection ended (%s); got %r" % (e, e.messages))
        except (socket.timeout, TimeoutError):
            raise AssertionError("no ErrorResponse within %ss" % (self.timeout if timeout is None else timeout))
        return msgs[-1].fields()

    def wait_closed(self, timeout=5.0):
        """True when the peer closes within <timeout>; any messages received meanwhile are kept
        in self.trailing."""
        deadline = time.monotonic() + timeout
        self.trailing = []
        while True:
            try:
                while self._avail() >= 5:
                    self.trailing.append(self.recv_msg(timeout=max(0.01, deadline - time.monotonic())))
                self._fill(deadline)
            except Closed:
                return True
            except (socket.timeout, TimeoutError):
                return False

    def readable(self, timeout):
        if self._avail() or self.eof:
            return True
        if isinstance(self.sock, ssl.SSLSocket) and self.sock.pending():
            return True
        r, _, _ = select.select([self.sock], [], [], timeout)
        return bool(r)

    def close(self, abort=False):
        if self.sock is None:
            return
        if abort:
            # RST instead of FIN: the client "dies".
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        try:
            self.sock.close()
        finally:
            self.sock = None

    # -- TLS --

    def ssl_negotiate(self, request=None):
        """Sends SSLRequest (or <request>) and returns the single response byte."""
        self.send(request or ssl_request())
        # Exactly one byte: anything after it would be unencrypted data injected by a MITM.
        self.sock.settimeout(self.timeout)
        b = self.sock.recv(1)
        if not b:
            raise Closed("connection closed in answer to SSLRequest")
        return b

    def start_tls(self, context=None, server_hostname="localhost"):
        b = self.ssl_negotiate()
        if b != b"S":
            raise AssertionError("SSLRequest answered %r" % b)
        if context is None:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        self.sock = context.wrap_socket(self.sock, server_hostname=server_hostname)
        return self.sock

    # -- startup and authentication --

    def startup(self, user, database="postgres", password=None, params=None, version=PROTOCOL_3_0,
                timeout=None):
        """Sends a StartupMessage and authenticates. Returns every message up to the first
        ReadyForQuery; raises PgError on an ErrorResponse."""
        p = {"user": user, "database": database}
        p.update(params or {})
        self.send(startup_message(p, version))
        return self.finish_startup(user, password, timeout=timeout)

    def finish_startup(self, user, password=None, timeout=None):
        out = []
        scram = None
        while True:
            try:
                m = self.recv_msg(timeout=timeout)
            except Closed as e:
                raise Closed("%s during startup" % e, out)
            out.append(m)
            if m.type == "E":
                raise PgError(m.fields(), out)
            if m.type == "R":
                code = m.auth_code()
                self.auth_codes.append(code)
                if code == AUTH_OK:
                    continue
                if password is None:
                    raise AssertionError("server asked for authentication %d but no password given" % code)
                if code == AUTH_CLEARTEXT:
                    self.send(password_message(password))
                elif code == AUTH_MD5:
                    salt = m.body[4:8]
                    inner = hashlib.md5((password + user).encode()).hexdigest()
                    outer = hashlib.md5(inner.encode() + salt).hexdigest()
                    self.send(password_message("md5" + outer))
                elif code == AUTH_SASL:
                    self.sasl_mechanisms = [x.decode() for x in m.body[4:].split(b"\0") if x]
                    if "SCRAM-SHA-256" not in self.sasl_mechanisms:
                        raise AssertionError("no SCRAM-SHA-256 in %r" % self.sasl_mechanisms)
                    scram = Scram(password)
                    self.send(sasl_initial_response("SCRAM-SHA-256", scram.client_first()))
                elif code == AUTH_SASL_CONTINUE:
                    self.send(sasl_response(scram.client_final(m.body[4:])))
                elif code == AUTH_SASL_FINAL:
                    scram.verify_server_final(m.body[4:])
                else:
                    raise AssertionError("unsupported authentication request %d" % code)
            elif m.type == "S":
                k, v = m.parameter_status()
                self.params[k] = v
            elif m.type == "K":
                self.backend_key = m.backend_key()
            elif m.type == "Z":
                return out

    # -- queries --

    def simple(self, sql, timeout=None):
        """Sends a Query, returns all messages up to ReadyForQuery (errors included)."""
        self.send(query(sql))
        return self.recv_until("Z", timeout=timeout)

    def rows(self, sql, timeout=None):
        """Rows of a simple query as lists of str/None; raises PgError on an ErrorResponse."""
        msgs = self.simple(sql, timeout=timeout)
        for m in msgs:
            if m.type == "E":
                raise PgError(m.fields(), msgs)
        return [[None if v is None else v.decode() for v in m.data_row()] for m in msgs if m.type == "D"]

    def scalar(self, sql, timeout=None):
        return self.rows(sql, timeout=timeout)[0][0]


class Scram:
    """Client side of SCRAM-SHA-256 without channel binding (RFC 5802 / 7677)."""

    def __init__(self, password):
        self.password = password.encode()
        self.nonce = base64.b64encode(os.urandom(18)).decode()
        self.first_bare = "n=,r=" + self.nonce

    def client_first(self):
        return ("n,," + self.first_bare).encode()

    def client_final(self, server_first):
        server_first = server_first.decode()
        attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
        if not attrs["r"].startswith(self.nonce):
            raise AssertionError("server nonce does not extend ours")
        salt = base64.b64decode(attrs["s"])
        iterations = int(attrs["i"])
        salted = hashlib.pbkdf2_hmac("sha256", self.password, salt, iterations)
        client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
        stored_key = hashlib.sha256(client_key).digest()
        without_proof = "c=" + base64.b64encode(b"n,,").decode() + ",r=" + attrs["r"]
        self.auth_message = (self.first_bare + "," + server_first + "," + without_proof).encode()
        signature = hmac.new(stored_key, self.auth_message, hashlib.sha256).digest()
        proof = bytes(a ^ b for a, b in zip(client_key, signature))
        self.server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
        return (without_proof + ",p=" + base64.b64encode(proof).decode()).encode()

    def verify_server_final(self, data):
        attrs = dict(kv.split("=", 1) for kv in data.decode().split(","))
        expected = hmac.new(self.server_key, self.auth_message, hashlib.sha256).digest()
        if base64.b64decode(attrs["v"]) != expected:
            raise AssertionError("server signature mismatch")


def types(msgs):
    """'1','2','D',... as one string, handy for asserting a message sequence."""
    return "".join(m.type for m in msgs)
