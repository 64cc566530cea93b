"""Bounded memory: when one side is slow, pgward stops reading from the other instead of
buffering. Measured on pgward's own resident set (VmRSS)."""

import threading
import time

import pgwire
from conftest import wait_for

MAX_GROWTH_KB = 16 * 1024


def vm_rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for %d" % pid)


def test_slow_reader_copy_out_2gb(pg, pgward):
    c = pgward.raw_session(timeout=30)
    server_pid = int(c.scalar("SELECT pg_backend_pid()"))
    baseline = vm_rss_kb(pgward.pid)
    c.send(pgwire.query("COPY (SELECT repeat('x', 1000) FROM generate_series(1, 2000000)) TO STDOUT"))
    got, peak = 0, baseline
    rate, tick, seconds = 200 * 1024, 0.1, 8.0
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        want = int(rate * tick)
        while want > 0:
            data = c.recv_raw(min(want, 65536), timeout=10)
            assert data, "pgward closed the slow reader's connection"
            got += len(data)
            want -= len(data)
        peak = max(peak, vm_rss_kb(pgward.pid))
        time.sleep(tick)
    assert got >= rate * seconds * 0.8
    # the server is still producing: it is blocked on a full socket, not finished
    assert pg.execute("SELECT state FROM pg_stat_activity WHERE pid = %d" % server_pid) == [("active",)]
    growth = peak - baseline
    assert growth < MAX_GROWTH_KB, "pgward grew by %d kB while the client read %d kB slowly" % (growth, got // 1024)

    c.close(abort=True)
    wait_for(lambda: not pg.backend_alive(server_pid), 10, what="server backend to go away after the client left")
    assert pgward.alive()


def test_slow_server_copy_in(pg, pgward):
    """The server does not read (its COPY waits for a lock) while the client pushes 100 MB:
    pgward must stop reading from the client rather than hold the data."""
    pg.execute("DROP TABLE IF EXISTS bp_in; CREATE UNLOGGED TABLE bp_in (v text)")
    locker = pg.connect(autocommit=False)
    with locker.cursor() as cur:
        cur.execute("LOCK TABLE bp_in IN ACCESS EXCLUSIVE MODE")

    c = pgward.raw_session(timeout=60)
    baseline = vm_rss_kb(pgward.pid)
    line = b"y" * 999 + b"\n"
    chunk = pgwire.copy_data(line * 64)
    n_chunks = 1600  # ~100 MB
    sent = {"bytes": 0, "done": False, "error": None}

    def push():
        try:
            c.send(pgwire.query("COPY bp_in FROM STDIN"))
            for _ in range(n_chunks):
                c.sock.sendall(chunk)
                sent["bytes"] += len(chunk)
            c.sock.sendall(pgwire.copy_done())
            sent["done"] = True
        except Exception as e:  # handed to the test
            sent["error"] = e

    t = threading.Thread(target=push, daemon=True)
    t.start()
    peak = baseline
    t0 = time.monotonic()
    while time.monotonic() - t0 < 4:
        peak = max(peak, vm_rss_kb(pgward.pid))
        time.sleep(0.1)
    assert sent["error"] is None, sent
    assert not sent["done"], "all 100 MB were accepted while the server was not reading"
    growth = peak - baseline
    assert growth < MAX_GROWTH_KB, "pgward grew by %d kB holding a blocked client's COPY data (%d MB sent)" % (
        growth, sent["bytes"] >> 20)

    locker.commit()
    t.join(60)
    assert sent["done"], sent
    msgs = c.recv_until("Z", timeout=60)
    assert pgwire.types(msgs)[-2:] == "CZ", msgs
    assert msgs[-2].command_tag() == "COPY %d" % (64 * n_chunks)
    pg.execute("DROP TABLE bp_in")
