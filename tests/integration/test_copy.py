"""COPY OUT and COPY IN of more than 100 MB, text and binary, through pgward: the bytes a client
receives (and the rows the server stores) are exactly those of a direct connection."""

import hashlib
import subprocess

import pytest

import pgwire
from conftest import clean_env

ROWS = 1_000_000
FORMATS = {"text": "(FORMAT text)", "binary": "(FORMAT binary)"}


def copy_out(endpoint, sql, dump_to=None, timeout=300):
    """Streams `psql -c COPY ... TO STDOUT` into sha256 (and optionally a file)."""
    cmd = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", endpoint.dsn(), "-c", sql]
    h, size = hashlib.sha256(), 0
    out = open(dump_to, "wb") if dump_to else None
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=clean_env())
    try:
        while True:
            chunk = p.stdout.read(1 << 20)
            if not chunk:
                break
            h.update(chunk)
            size += len(chunk)
            if out:
                out.write(chunk)
        err = p.stderr.read()
        rc = p.wait(timeout)
    finally:
        if out:
            out.close()
        if p.poll() is None:
            p.kill()
    assert rc == 0, "psql COPY failed: %s" % err.decode(errors="replace")
    return h.hexdigest(), size


@pytest.fixture(scope="module")
def copy_source(pg, tmp_path_factory):
    """A ~110 MB table made server-side, and its direct COPY output per format (digest + file)."""
    pg.execute("DROP TABLE IF EXISTS copy_src; "
               "CREATE UNLOGGED TABLE copy_src AS SELECT g AS id, md5(g::text) AS h, "
               "repeat(chr(65 + g %% 26), 64) AS pad, (g %% 7 = 0) AS flag, "
               "CASE WHEN g %% 11 = 0 THEN NULL ELSE g * 0.5 END AS num "
               "FROM generate_series(1, %d) g" % ROWS)
    d = tmp_path_factory.mktemp("copy")
    out = {}
    for fmt, opts in FORMATS.items():
        path = d / ("copy_src.%s" % fmt)
        digest, size = copy_out(pg, "COPY copy_src TO STDOUT %s" % opts, dump_to=path)
        assert size >= 100 * 1024 * 1024, size
        out[fmt] = (digest, size, path)
    yield out
    pg.execute("DROP TABLE IF EXISTS copy_src, copy_dst_text, copy_dst_binary")


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_copy_out_100mb_equals_direct(copy_source, pgward, fmt):
    digest, size, _ = copy_source[fmt]
    assert copy_out(pgward, "COPY copy_src TO STDOUT %s" % FORMATS[fmt]) == (digest, size)


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_copy_in_100mb_equals_direct(copy_source, pg, pgward, fmt):
    digest, size, path = copy_source[fmt]
    table = "copy_dst_%s" % fmt
    pg.execute("DROP TABLE IF EXISTS %s; CREATE UNLOGGED TABLE %s (LIKE copy_src)" % (table, table))
    with open(path, "rb") as f:
        pgward.psql("-c", "COPY %s FROM STDIN %s" % (table, FORMATS[fmt]), stdin=f, timeout=300)
    assert pg.execute("SELECT count(*) FROM %s" % table) == [(ROWS,)]
    # what arrived is byte for byte what was sent: dump it again directly
    # a freshly loaded heap is in insertion order (synchronize_seqscans is off in the test cluster)
    assert copy_out(pg, "COPY %s TO STDOUT %s" % (table, FORMATS[fmt])) == (digest, size)


def test_copy_in_error_and_copy_fail(target):
    """A bad row aborts COPY with the server's error; CopyFail aborts with the client's reason;
    the session stays usable in both cases."""
    c = target.raw_session()
    c.simple("CREATE TEMP TABLE copy_small (a int, b text)")
    c.send(pgwire.query("COPY copy_small FROM STDIN"))
    assert c.recv_msg().type == "G"
    c.send(pgwire.copy_data(b"1\tone\n2\ttwo\n"), pgwire.copy_data(b"not-a-number\tx\n"), pgwire.copy_done())
    msgs = c.recv_until("Z")
    assert pgwire.types(msgs) == "EZ"
    assert msgs[0].sqlstate == "22P02"

    c.send(pgwire.query("COPY copy_small FROM STDIN"))
    assert c.recv_msg().type == "G"
    c.send(pgwire.copy_data(b"3\tthree\n"), pgwire.copy_fail("client changed its mind"))
    msgs = c.recv_until("Z")
    assert pgwire.types(msgs) == "EZ"
    assert msgs[0].sqlstate == "57014"
    assert "client changed its mind" in msgs[0].fields()["M"]

    c.send(pgwire.query("COPY copy_small FROM STDIN"))
    assert c.recv_msg().type == "G"
    c.send(pgwire.copy_data(b"4\tfour\n5\t\\N\n"), pgwire.copy_done())
    msgs = c.recv_until("Z")
    assert pgwire.types(msgs) == "CZ" and msgs[0].command_tag() == "COPY 2"
    assert c.rows("SELECT a, b FROM copy_small ORDER BY a") == [["4", "four"], ["5", None]]


def test_copy_out_raw_messages(target):
    c = target.raw_session()
    msgs = c.simple("COPY (SELECT g, 'v' || g FROM generate_series(1, 3) g) TO STDOUT")
    assert pgwire.types(msgs) == "HdddcCZ"
    assert [m.body for m in msgs if m.type == "d"] == [b"1\tv1\n", b"2\tv2\n", b"3\tv3\n"]
    assert msgs[-2].command_tag() == "COPY 3"
