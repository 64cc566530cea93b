"""Extended query protocol, pipelining, fastpath FunctionCall, NegotiateProtocolVersion and large
results, with the raw client: every test runs directly against PostgreSQL and through pgward and
asserts the exact message sequence, so both must agree."""

import hashlib
import struct

import pytest

import pgwire
from conftest import SUPERUSER
from pgwire import bind, describe, execute, flush, parse, sync, types


def test_unnamed_statement_and_portal(target):
    c = target.raw_session()
    c.send(parse("", "SELECT $1::int + 1 AS answer", [23]), bind("", "", ["41"]), describe("P", ""),
           execute("", 0), sync())
    msgs = c.recv_until("Z")
    assert types(msgs) == "12TDCZ"
    assert msgs[2].column_names() == ["answer"]
    assert msgs[3].data_row() == [b"42"]
    assert msgs[4].command_tag() == "SELECT 1"
    # the unnamed statement is replaced by the next Parse
    c.send(parse("", "SELECT 'second'"), bind("", ""), execute(), sync())
    msgs = c.recv_until("Z")
    assert types(msgs) == "12DCZ"
    assert msgs[2].data_row() == [b"second"]


def test_named_statements_and_portals(target):
    c = target.raw_session()
    c.send(parse("s_concat", "SELECT $1::text || $2::text", [25, 25]), sync())
    assert types(c.recv_until("Z")) == "1Z"

    c.send(describe("S", "s_concat"), sync())
    msgs = c.recv_until("Z")
    assert types(msgs) == "tTZ"
    assert msgs[0].body == struct.pack("!HII", 2, 25, 25)

    for a, b in (("ab", "cd"), ("x", "y"), ("", None)):
        c.send(bind("p_concat", "s_concat", [a, b]), execute("p_concat"), sync())
        msgs = c.recv_until("Z")
        assert types(msgs) == "2DCZ"
        assert msgs[1].data_row() == [None if b is None else (a + b).encode()]

    # binary result format
    c.send(parse("s_int", "SELECT 7::int4 * $1::int4", [23]), bind("", "s_int", [struct.pack("!i", 6)], [1], [1]),
           execute(), sync())
    msgs = c.recv_until("Z")
    assert types(msgs) == "12DCZ"
    assert msgs[2].data_row() == [struct.pack("!i", 42)]

    # duplicate name is the server's error, then Close frees the name
    c.send(parse("s_concat", "SELECT 1"), sync())
    msgs = c.recv_until("Z")
    assert types(msgs) == "EZ" and msgs[0].sqlstate == "42P05"
    c.send(pgwire.close("S", "s_concat"), parse("s_concat", "SELECT 'reparsed'"), bind("", "s_concat"),
           execute(), sync())
    msgs = c.recv_until("Z")
    assert types(msgs) == "312DCZ"
    assert msgs[3].data_row() == [b"reparsed"]


def test_portal_suspended_with_row_limit(target):
    c = target.raw_session()
    assert c.simple("BEGIN")[-1].ready_status() == "T"
    c.send(parse("s_series", "SELECT g FROM generate_series(1, 5) g"), bind("cur", "s_series"),
           execute("cur", 2), execute("cur", 2), execute("cur", 0), sync())
    msgs = c.recv_until("Z")
    assert types(msgs) == "12DDsDDsDCZ"
    assert [m.data_row()[0] for m in msgs if m.type == "D"] == [b"1", b"2", b"3", b"4", b"5"]
    assert msgs[-1].ready_status() == "T"
    assert c.simple("COMMIT")[-1].ready_status() == "I"


def test_parse_flush_without_sync(target):
    c = target.raw_session()
    c.send(parse("s_flush", "SELECT 1"), flush())
    m = c.recv_msg(timeout=5)
    assert m.type == "1"
    # nothing else may come: no ReadyForQuery without a Sync
    assert not c.readable(0.5), "unexpected message after ParseComplete without Sync"
    c.send(bind("", "s_flush"), execute(), flush())
    msgs = [c.recv_msg(timeout=5) for _ in range(3)]
    assert types(msgs) == "2DC"
    assert not c.readable(0.3)
    c.send(sync())
    assert types(c.recv_until("Z")) == "Z"


def test_pipeline_in_order(target):
    c = target.raw_session()
    batch = []
    for i in range(1, 6):
        batch += [parse("", "SELECT %d AS n, repeat('x', %d)" % (i, i * 1000)), bind("", ""), execute("", 0)]
    c.send(*batch, sync())
    msgs = c.recv_until("Z")
    assert types(msgs) == "12DC" * 5 + "Z"
    rows = [m.data_row() for m in msgs if m.type == "D"]
    assert [r[0] for r in rows] == [b"1", b"2", b"3", b"4", b"5"]
    assert [len(r[1]) for r in rows] == [1000, 2000, 3000, 4000, 5000]


@pytest.mark.parametrize("in_tx", [False, True], ids=["autocommit", "transaction"])
def test_pipeline_error_skips_to_sync(target, in_tx):
    c = target.raw_session()
    if in_tx:
        c.simple("BEGIN")
    c.send(parse("", "SELECT 111"), bind("", ""), execute(),
           parse("", "SELECT 1 / $1::int"), bind("", "", ["0"]), execute(),
           parse("", "SELECT 333"), bind("", ""), execute(),
           sync())
    msgs = c.recv_until("Z")
    # 1/0 is folded when the plan is made, at Bind: Bind fails, Execute and the rest are skipped
    assert types(msgs) == "12DC1EZ"
    assert msgs[2].data_row() == [b"111"]
    assert msgs[5].sqlstate == "22012"
    assert msgs[-1].ready_status() == ("E" if in_tx else "I")
    # after the Sync everything works again
    if in_tx:
        c.simple("ROLLBACK")
    c.send(parse("", "SELECT 444"), bind("", ""), execute(), sync())
    msgs = c.recv_until("Z")
    assert types(msgs) == "12DCZ" and msgs[2].data_row() == [b"444"]


def test_two_syncs_in_one_write(target):
    c = target.raw_session()
    c.send(parse("", "SELECT 1"), bind("", ""), execute(), sync(), parse("", "SELECT * FROM nope_it"), sync(),
           parse("", "SELECT 3"), bind("", ""), execute(), sync())
    msgs = c.recv_until("Z") + c.recv_until("Z") + c.recv_until("Z")
    assert types(msgs) == "12DCZ" + "EZ" + "12DCZ"
    assert msgs[5].sqlstate == "42P01"


def test_function_call_raw(target):
    c = target.raw_session()
    oid = int(c.scalar("SELECT 'int4pl'::regproc::oid"))
    c.send(pgwire.function_call(oid, [struct.pack("!i", 40), struct.pack("!i", 2)], [1], result_format=1))
    msgs = c.recv_until("Z")
    assert types(msgs) == "VZ"
    assert msgs[0].body == struct.pack("!i", 4) + struct.pack("!i", 42)


def test_lo_import_export_roundtrip(target, tmp_path):
    """psql \\lo_import / \\lo_export use libpq's large-object API: fastpath FunctionCall."""
    src = tmp_path / "in.bin"
    dst = tmp_path / "out.bin"
    data = hashlib.sha256(b"seed").digest() * 40000 + bytes(range(256)) * 100  # ~1.3 MB
    src.write_bytes(data)
    script = "\\lo_import '%s'\n\\lo_export :LASTOID '%s'\nSELECT lo_unlink(:LASTOID);\n" % (src, dst)
    target.psql("-f", "-", input=script.encode())
    assert dst.read_bytes() == data


def test_negotiate_protocol_version_passes_through(target):
    c = target.raw()
    c.send(pgwire.startup_message({"user": SUPERUSER, "database": "postgres", "_pq_.pgward_test": "1"}))
    msgs = c.finish_startup(SUPERUSER)
    assert msgs[0].type == "v"
    newest_minor, n = struct.unpack_from("!II", msgs[0].body)
    assert (newest_minor, n) == (pgwire.PROTOCOL_3_0, 1)  # PostgreSQL sends the whole 3.0
    assert msgs[0].body[8:] == b"_pq_.pgward_test\0"
    assert c.scalar("SELECT 'negotiated'") == "negotiated"


def test_newer_minor_protocol_version_negotiated(target):
    c = target.raw()
    c.send(pgwire.startup_message({"user": SUPERUSER, "database": "postgres"}, version=(3 << 16) | 2))
    msgs = c.finish_startup(SUPERUSER)
    assert msgs[0].type == "v"
    assert struct.unpack_from("!II", msgs[0].body) == (pgwire.PROTOCOL_3_0, 0)
    assert c.scalar("SELECT 1") == "1"


LARGE_SQL = "SELECT g, repeat(md5(g::text), 320) FROM generate_series(1, 5000) g"  # ~51 MB of rows


def _large_result_digest(endpoint):
    c = endpoint.raw_session(timeout=60)
    c.send(parse("", LARGE_SQL), bind("", ""), execute(), sync())
    h = hashlib.sha256()
    total = rows = 0
    while True:
        m = c.recv_msg(timeout=60)
        if m.type == "D":
            h.update(m.body)
            total += len(m.body)
            rows += 1
        elif m.type == "E":
            raise AssertionError(m.fields())
        elif m.type == "Z":
            break
    return h.hexdigest(), total, rows


def test_large_result_equals_direct(pg, pgward):
    direct = _large_result_digest(pg)
    through = _large_result_digest(pgward)
    assert direct[1] > 50_000_000 and direct[2] == 5000
    assert through == direct
