"""Hostile and broken clients: pgward rejects bad framing from the header alone with the
documented ErrorResponse, closes that connection, and keeps serving everyone else."""

import struct

import pytest

import pgwire
from conftest import POOLED, SUPERUSER, wait_for


def _still_serves(pw):
    assert pw.alive(), "pgward died; log:\n" + pw.log_tail()
    c = pw.raw_session()
    assert c.scalar("SELECT 'still serving'") == "still serving"
    c.send(pgwire.terminate())
    c.close()


def _expect_fatal(c, sqlstate, prefix, timeout=5):
    f = c.expect_error(timeout=timeout)
    assert (f.get("S"), f.get("C")) == ("FATAL", sqlstate), f
    assert f["M"].startswith(prefix), f
    assert c.wait_closed(5), "pgward kept the connection open after a FATAL error"
    return f


BAD_STARTUP = {
    "garbage_http": (b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n", "08P01", "pgward: invalid startup packet length"),
    "length_0": (struct.pack("!I", 0), "08P01", "pgward: invalid startup packet length"),
    "length_3": (struct.pack("!I", 3), "08P01", "pgward: invalid startup packet length"),
    "length_2g": (struct.pack("!I", 0x7FFFFFFF), "08P01", "pgward: invalid startup packet length"),
    "length_4g": (struct.pack("!I", 0xFFFFFFFF), "08P01", "pgward: invalid startup packet length"),
    "length_10001": (struct.pack("!II", 10001, 3 << 16), "08P01", "pgward: invalid startup packet length"),
    "protocol_2": (pgwire.startup_message({"user": SUPERUSER, "database": "postgres"}, version=2 << 16),
                   "0A000", "pgward: unsupported frontend protocol"),
    "protocol_4": (pgwire.startup_message({"user": SUPERUSER, "database": "postgres"}, version=4 << 16),
                   "0A000", "pgward: unsupported frontend protocol"),
}


@pytest.mark.parametrize("name", list(BAD_STARTUP))
def test_bad_startup_packet(pgward, name):
    data, sqlstate, prefix = BAD_STARTUP[name]
    c = pgward.raw()
    c.send(data)
    _expect_fatal(c, sqlstate, prefix)
    _still_serves(pgward)


def test_garbage_after_ssl_refused(pgward):
    c = pgward.raw()
    assert c.ssl_negotiate() == b"N"
    c.send(b"\x00\x00\x00\x02junk")
    _expect_fatal(c, "08P01", "pgward: invalid startup packet length")
    _still_serves(pgward)


def test_plaintext_after_ssl_request_refused(pgward_factory, tls):
    """SSLRequest and a StartupMessage in one write: the plaintext bytes after the SSLRequest
    must not be processed as if they were protected by TLS (CVE-2021-23214 class)."""
    pw = pgward_factory(client_tls_sslmode="prefer", client_tls_cert_file=tls.server_cert,
                        client_tls_key_file=tls.server_key)
    c = pw.raw()
    c.send(pgwire.ssl_request() + pgwire.startup_message({"user": SUPERUSER, "database": "postgres"}))
    c.sock.settimeout(5)
    first = c.sock.recv(1)
    if first == b"S":
        f = c.expect_error(timeout=5)
    else:
        c.buf += first
        f = c.expect_error(timeout=5)
    assert (f["S"], f["C"]) == ("FATAL", "08P01"), f
    assert c.wait_closed(5)
    _still_serves(pw)


def test_random_garbage_first_packet(pgward):
    import random

    rnd = random.Random(1234)
    for _ in range(10):
        c = pgward.raw()
        blob = bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 300)))
        try:
            c.send(blob)
            c.wait_closed(3)
        except OSError:
            pass
        c.close()
    _still_serves(pgward)


BAD_MESSAGES = {
    "length_2g": (b"Q" + struct.pack("!I", 0x7FFFFFFF), "08P01", "pgward: invalid message length"),
    "length_3": (b"Q" + struct.pack("!I", 3), "08P01", "pgward: invalid message length"),
    "length_0": (b"P" + struct.pack("!I", 0), "08P01", "pgward: invalid message length"),
    "type_Z": (pgwire.message("Z", b"I"), "08P01", "pgward: invalid frontend message type"),
    "type_nul": (pgwire.message(b"\0", b""), "08P01", "pgward: invalid frontend message type"),
    "type_T": (pgwire.message("T", b"\0\0"), "08P01", "pgward: invalid frontend message type"),
}


@pytest.mark.parametrize("name", list(BAD_MESSAGES))
def test_bad_message_after_startup(pgward, name):
    data, sqlstate, prefix = BAD_MESSAGES[name]
    c = pgward.raw_session()
    c.send(data)
    _expect_fatal(c, sqlstate, prefix)
    _still_serves(pgward)


def test_message_over_max_packet_size(pgward_factory):
    pw = pgward_factory(max_packet_size=1048576)
    c = pw.raw_session()
    # within the limit: fine
    assert len(c.scalar("SELECT length('%s')" % ("a" * 900_000))) > 0
    # over it: rejected from the header (the body is never sent)
    c.send(b"Q" + struct.pack("!I", 2_000_000))
    _expect_fatal(c, "08P01", "pgward: invalid message length")
    _still_serves(pw)


@pytest.mark.parametrize("stage", ["startup", "message"])
def test_truncated_then_close(pg, pgward, stage):
    before = len(pg.execute("SELECT pid FROM pg_stat_activity WHERE backend_type = 'client backend'"))
    c = pgward.raw_session() if stage == "message" else pgward.raw()
    if stage == "startup":
        pkt = pgwire.startup_message({"user": SUPERUSER, "database": "postgres"})
        c.send(pkt[: len(pkt) // 2])
    else:
        c.send(pgwire.query("SELECT 'never complete'")[:12])
    c.close()
    _still_serves(pgward)
    # nothing of the broken client is left on the server
    if not POOLED:  # a pooled server outlives its client (test_pool.py)
        wait_for(lambda: len(pg.execute("SELECT pid FROM pg_stat_activity WHERE backend_type = 'client backend'"))
                 <= before, 5, what="no server backend left by the broken client")


def test_startup_without_user(pgward):
    """No user in the StartupMessage: PostgreSQL's own answer (28000) or pgward's, never a hang."""
    c = pgward.raw()
    c.send(pgwire.startup_message({"database": "postgres"}))
    f = c.expect_error(timeout=5)
    assert f["C"] in ("28000", "08P01"), f
    assert c.wait_closed(5)
    _still_serves(pgward)


def test_many_half_open_clients(pgward):
    """50 clients that connect and say nothing do not stop a real one."""
    idle = [pgward.raw() for _ in range(50)]
    _still_serves(pgward)
    for c in idle:
        c.close()
    _still_serves(pgward)
