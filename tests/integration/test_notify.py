"""LISTEN/NOTIFY between two sessions: notifications are delivered asynchronously, also to a
session that is idle and sends nothing."""

import select
import time

import pgwire


def _wait_notifies(conn, n, timeout=5):
    deadline = time.monotonic() + timeout
    while len(conn.notifies) < n:
        remaining = deadline - time.monotonic()
        assert remaining > 0, "only %d of %d notifications after %ss" % (len(conn.notifies), n, timeout)
        if select.select([conn], [], [], remaining) != ([], [], []):
            conn.poll()
    return conn.notifies


def test_listen_notify_two_sessions(target):
    listener = target.connect()
    sender = target.connect()
    with listener.cursor() as cur:
        cur.execute("LISTEN it_channel")
    with sender.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        sender_server_pid = cur.fetchone()[0]
        cur.execute("NOTIFY it_channel, 'first'")
        cur.execute("SELECT pg_notify('it_channel', 'second')")
        cur.execute("SELECT pg_notify('it_channel', repeat('p', 7000))")  # near the 8000-byte limit
    notes = _wait_notifies(listener, 3)
    assert [(n.channel, n.payload) for n in notes] == [("it_channel", "first"), ("it_channel", "second"),
                                                       ("it_channel", "p" * 7000)]
    # the pid in NotificationResponse is the server's, passed through unchanged
    assert {n.pid for n in notes} == {sender_server_pid}


def test_notify_reaches_idle_raw_session(target):
    listener = target.raw_session()
    listener.simple("LISTEN it_raw")
    sender = target.raw_session()
    msgs = sender.simple("BEGIN; NOTIFY it_raw, 'a'; NOTIFY it_raw, 'b'; COMMIT")
    assert "E" not in pgwire.types(msgs)
    got = [listener.recv_msg(timeout=5), listener.recv_msg(timeout=5)]
    assert [m.type for m in got] == ["A", "A"]
    assert [m.notification()[1:] for m in got] == [("it_raw", "a"), ("it_raw", "b")]
    # and the listener's protocol state is intact
    assert listener.scalar("SELECT 'after notify'") == "after notify"
