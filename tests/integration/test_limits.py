"""Payload limits ([limits], rule names, SQLSTATE 54000): refused before they reach the server,
answered where the server's error would have been, transaction state as after a server error,
the session still usable, and memory flat while an oversized message streams through."""

import struct
import time

import pytest

import pgwire
from conftest import SUPERUSER

LIMITS = {
    "limits.max_query_size": "200",
    "limits.max_bind_param_size": "1kB",
    "limits.max_bind_params": "3",
    "limits.max_copy_data_size": "2kB",
    "limits.max_message_size": "64kB",
}


@pytest.fixture
def pw(pgward_factory):
    return pgward_factory(**LIMITS)


def session(pw):
    c = pw.raw()
    c.startup(SUPERUSER, "postgres")
    return c


def refusal(msgs, rule):
    errors = [m for m in msgs if m.type == "E"]
    assert len(errors) == 1, pgwire.types(msgs)
    f = errors[0].fields()
    assert f["C"] == "54000", f
    assert f["S"] == "ERROR"
    assert "rule %s" % rule in f["M"], f["M"]
    assert "H" in f
    return f


def test_query_too_large_outside_and_inside_transaction(pw):
    c = session(pw)
    big = "SELECT '%s'" % ("x" * 300)
    msgs = c.simple(big)
    f = refusal(msgs, "query_size")
    assert "of 310 bytes exceeds the limit of 200 bytes" in f["M"]
    assert pgwire.types(msgs) == "EZ" and msgs[-1].ready_status() == "I"
    assert c.scalar("SELECT 'still usable'") == "still usable"
    # Inside a block the refusal fails the transaction, as a server error would.
    c.simple("CREATE TEMP TABLE lim_t(a int)")
    c.simple("BEGIN")
    c.simple("INSERT INTO lim_t VALUES (1)")
    msgs = c.simple(big)
    refusal(msgs, "query_size")
    assert msgs[-1].ready_status() == "E"
    msgs = c.simple("SELECT 1")
    assert msgs[0].fields()["C"] == "25P02"
    msgs = c.simple("COMMIT")
    assert [m.command_tag() for m in msgs if m.type == "C"] == ["ROLLBACK"]
    assert c.scalar("SELECT count(*) FROM lim_t") == "0"


def test_extended_pipeline_order_and_skip_to_sync(pw):
    c = session(pw)
    big = "SELECT '%s'" % ("y" * 300)
    c.send(pgwire.parse("", "SELECT 1"), pgwire.bind("", ""), pgwire.execute(),
           pgwire.parse("", big), pgwire.bind("", ""), pgwire.execute(), pgwire.sync())
    msgs = c.recv_until("Z")
    # Answers to what came before the refused Parse, in order, then the refusal, then Z;
    # the Bind and Execute after it are skipped as the server skips after an error.
    assert pgwire.types(msgs) == "12DCEZ", pgwire.types(msgs)
    refusal(msgs, "query_size")
    assert msgs[-1].ready_status() == "I"
    # The next batch works.
    c.send(pgwire.parse("", "SELECT 2"), pgwire.bind("", ""), pgwire.execute(), pgwire.sync())
    msgs = c.recv_until("Z")
    assert pgwire.types(msgs) == "12DCZ"


def test_refusal_after_a_server_error_in_the_same_batch_is_not_sent(pw):
    """The server skips to Sync after its own error, so it never 'sees' the refused Parse:
    directly against PostgreSQL that message would produce no error, and neither does pgward."""
    c = session(pw)
    c.send(pgwire.parse("", "SELEC 1"), pgwire.parse("", "SELECT '%s'" % ("z" * 300)), pgwire.sync())
    msgs = c.recv_until("Z")
    assert pgwire.types(msgs) == "EZ"
    assert msgs[0].fields()["C"] == "42601"


def test_bind_parameter_too_large_and_too_many(pw):
    c = session(pw)
    c.send(pgwire.parse("s1", "SELECT $1::text"), pgwire.sync())
    assert pgwire.types(c.recv_until("Z")) == "1Z"
    c.send(pgwire.bind("", "s1", ["a" * 2000]), pgwire.execute(), pgwire.sync())
    msgs = c.recv_until("Z")
    f = refusal(msgs, "bind_param_size")
    assert "$1 of 2000 bytes" in f["M"]
    assert pgwire.types(msgs) == "EZ"
    c.send(pgwire.parse("s4", "SELECT $1::int + $2::int + $3::int + $4::int"),
           pgwire.bind("", "s4", ["1", "2", "3", "4"]), pgwire.execute(), pgwire.sync())
    msgs = c.recv_until("Z")
    assert pgwire.types(msgs) == "1EZ"
    refusal(msgs, "bind_param_count")
    # A value within the limit, and NULL, pass.
    c.send(pgwire.bind("", "s1", ["b" * 1000]), pgwire.execute(), pgwire.sync())
    msgs = c.recv_until("Z")
    assert pgwire.types(msgs) == "2DCZ"
    assert msgs[1].data_row() == [b"b" * 1000]


def test_copy_data_too_large(pw):
    c = session(pw)
    c.simple("CREATE TEMP TABLE lim_copy(a text)")
    c.send(pgwire.query("COPY lim_copy FROM STDIN"))
    assert c.recv_msg().type == "G"
    c.send(pgwire.copy_data(b"small\n"), pgwire.copy_data(b"x" * 5000 + b"\n"),
           pgwire.copy_data(b"after\n"), pgwire.copy_done())
    msgs = c.recv_until("Z")
    refusal(msgs, "copy_data_size")
    assert pgwire.types(msgs) == "EZ"
    assert c.scalar("SELECT count(*) FROM lim_copy") == "0"
    c.send(pgwire.query("COPY lim_copy FROM STDIN"))
    assert c.recv_msg().type == "G"
    c.send(pgwire.copy_data(b"fine\n"), pgwire.copy_done())
    assert [m.command_tag() for m in c.recv_until("Z") if m.type == "C"] == ["COPY 1"]


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_one_gigabyte_message_streams_to_the_bin(pw):
    c = session(pw)
    before = rss_kb(pw.pid)
    total = (1 << 30) - 64  # just under max_packet_size, far over max_message_size
    body_head = b"SELECT '"
    c.send(b"Q" + struct.pack("!I", total + 4) + body_head)
    chunk = b"x" * (1 << 20)
    sent, peak = len(body_head), before
    while sent < total:
        n = min(len(chunk), total - sent)
        c.send(chunk[:n])
        sent += n
        if sent % (64 << 20) < len(chunk):
            peak = max(peak, rss_kb(pw.pid))
    msgs = c.recv_until("Z", timeout=60)
    f = refusal(msgs, "message_size")
    assert "of %d bytes" % total in f["M"]
    peak = max(peak, rss_kb(pw.pid))
    assert peak - before < 16 * 1024, "pgward RSS grew by %d kB" % (peak - before)
    assert c.scalar("SELECT 'after 1 GB'") == "after 1 GB"
