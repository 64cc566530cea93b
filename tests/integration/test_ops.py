"""Operating pgward: command line, --check-config, SIGHUP reload, SIGTERM drain, SIGINT, login
and idle timeouts, and the log format."""

import re
import signal
import time

import psycopg2
import pytest

import pgwire
from conftest import (MD5_PASSWORD, MD5_USER, PGWARD_BIN, SCRAM_PASSWORD, SCRAM_USER, free_port,
                      libpq_idle_notices, listening, run, wait_for)


def pgward_cli(*args, check=False):
    if not PGWARD_BIN.exists():
        pytest.fail("pgward binary %s does not exist" % PGWARD_BIN)
    return run([str(PGWARD_BIN)] + list(args), check=check, timeout=30)


def test_version():
    r = pgward_cli("--version")
    assert r.returncode == 0
    assert r.stdout.decode().strip() == "pgward 0.1.0"


def test_help():
    r = pgward_cli("--help")
    assert r.returncode == 0
    text = r.stdout.decode() + r.stderr.decode()
    assert "-c" in text and "--check-config" in text and "--version" in text


def test_unknown_option():
    r = pgward_cli("--no-such-option")
    assert r.returncode != 0
    assert r.stderr.decode().strip(), "no message for an unknown option"


def test_check_config_valid(tmp_path):
    conf = tmp_path / "ok.ini"
    conf.write_text("[pgward]\nlisten_addr = 127.0.0.1\nlisten_port = 6999\nserver_host = 127.0.0.1\n"
                    "server_port = 5432\nclient_idle_timeout = 0\nlog_level = info\n")
    r = pgward_cli("--check-config", "-c", str(conf))
    assert r.returncode == 0, r.stdout + r.stderr


BAD_CONFIGS = {
    "unknown_key": ("[pgward]\nlisten_port = 6999\n\nno_such_key = 1\n", 4),
    "bad_integer": ("[pgward]\nlisten_addr = 127.0.0.1\nlisten_port = sixty\n", 3),
    "port_range": ("[pgward]\nlisten_port = 70000\n", 2),
    "bad_sslmode": ("; comment\n[pgward]\nserver_tls_sslmode = sometimes\n", 3),
    "bad_log_level": ("[pgward]\nlog_level = chatty\n", 2),
    "no_equals": ("[pgward]\nlisten_port 6999\n", 2),
    "negative_timeout": ("[pgward]\nclient_login_timeout = -5\n", 2),
}


@pytest.mark.parametrize("name", list(BAD_CONFIGS))
def test_check_config_invalid(tmp_path, name):
    text, line = BAD_CONFIGS[name]
    conf = tmp_path / ("bad-%s.ini" % name)
    conf.write_text(text)
    r = pgward_cli("--check-config", "-c", str(conf))
    out = r.stdout.decode() + r.stderr.decode()
    assert r.returncode == 1, out
    assert "%s:%d:" % (conf, line) in out, out


def test_check_config_missing_file(tmp_path):
    conf = tmp_path / "missing.ini"
    r = pgward_cli("--check-config", "-c", str(conf))
    assert r.returncode == 1
    assert str(conf) in r.stdout.decode() + r.stderr.decode()


def test_start_with_bad_config_fails(tmp_path):
    conf = tmp_path / "bad.ini"
    conf.write_text("[pgward]\nlisten_port = nope\n")
    r = pgward_cli("-c", str(conf))
    assert r.returncode != 0
    assert "%s:2:" % conf in r.stdout.decode() + r.stderr.decode()


def test_log_lines_are_key_value(pgward):
    c = pgward.raw_session(user=MD5_USER)
    c.scalar("SELECT 'some literal value'")
    c.send(pgwire.terminate())
    assert c.wait_closed(5)
    time.sleep(0.2)
    lines = [l for l in pgward.log_text().splitlines() if l.strip()]
    assert lines, "pgward logged nothing at log_level=debug"
    bad = [l for l in lines if not re.match(r"^ts=\S+ level=(debug|info|warning|error) event=\S+( |$)", l)]
    assert not bad, "log lines not in key=value form:\n" + "\n".join(bad[:10])


def test_secrets_never_logged(pgward):
    """Passwords, query texts and parameter values never reach the log, even at debug."""
    pgward.raw_session(user=MD5_USER).scalar("SELECT 'query-literal-do-not-log'")
    c = pgward.raw_session()
    c.send(pgwire.parse("", "SELECT $1::text"), pgwire.bind("", "", ["param-value-do-not-log"]), pgwire.execute(),
           pgwire.sync())
    assert pgwire.types(c.recv_until("Z")) == "12DCZ"
    pgward.raw_session(user=SCRAM_USER).scalar("SELECT 1")
    c = pgward.raw()
    with pytest.raises(pgwire.PgError):
        c.startup(SCRAM_USER, "postgres", password="wrong-pw-do-not-log")
    time.sleep(0.2)
    log = pgward.log_text()
    for secret in (MD5_PASSWORD, SCRAM_PASSWORD, "wrong-pw-do-not-log", "query-literal-do-not-log",
                   "param-value-do-not-log"):
        assert secret not in log


def test_sighup_reload(pgward_factory):
    pw = pgward_factory(log_level="debug")
    old_port = pw.port
    new_port = free_port()
    mark = len(pw.log_text())
    pw.reload(log_level="warning", listen_port=new_port)
    line = pw.wait_log(r"level=warning.*listen_port", timeout=5, start=mark)
    assert "listen_port" in line
    time.sleep(0.3)
    assert pw.alive()
    # listen_port is not reloadable: still on the old port, not on the new one
    assert listening(old_port) and not listening(new_port)
    pw.port = old_port
    mark = len(pw.log_text())
    c = pw.raw_session()
    assert c.scalar("SELECT 'after reload'") == "after reload"
    c.send(pgwire.terminate())
    c.wait_closed(5)
    time.sleep(0.3)
    chatty = [l for l in pw.log_text()[mark:].splitlines() if re.search(r"level=(debug|info)\b", l)]
    assert not chatty, "log_level=warning was not applied by the reload:\n" + "\n".join(chatty[:5])
    pw.settings["listen_port"] = old_port  # so teardown's bookkeeping matches


def test_sighup_with_broken_file_keeps_running(pgward_factory):
    pw = pgward_factory()
    mark = len(pw.log_text())
    pw.conf_path.write_text("[pgward]\nlisten_port = not-a-port\n")
    pw.signal(signal.SIGHUP)
    pw.wait_log(r"level=(error|warning)", timeout=5, start=mark)
    assert pw.alive()
    assert pw.raw_session().scalar("SELECT 'old config kept'") == "old config kept"
    pw.write_config()


def test_sigterm_drains_then_times_out(pgward_factory):
    pw = pgward_factory(shutdown_timeout=2)
    s = pw.raw_session()
    assert s.scalar("SELECT 1") == "1"
    t0 = time.monotonic()
    pw.signal(signal.SIGTERM)
    # new connections are refused (listener closed, or rejected right away)
    wait_for(lambda: _new_session_fails(pw), 3, what="new connections to be refused after SIGTERM")
    # the existing session keeps working during the drain
    assert s.scalar("SELECT 'draining'") == "draining"
    f = s.expect_error(timeout=6)
    elapsed = time.monotonic() - t0
    assert f["C"] == "57P01" and f["S"] == "FATAL", f
    assert f["M"].startswith("pgward: shutting down"), f
    assert 1.5 <= elapsed <= 5, "57P01 after %.1fs with shutdown_timeout=2" % elapsed
    assert s.wait_closed(5)
    assert pw.wait_exit(5) == 0, "pgward exit status %s" % pw.proc.returncode


def _new_session_fails(pw):
    try:
        conn = psycopg2.connect(pw.dsn(connect_timeout=3))
    except psycopg2.OperationalError:
        return True
    conn.close()
    return False


def test_sigterm_exits_when_last_session_ends(pgward_factory):
    pw = pgward_factory(shutdown_timeout=60)
    s = pw.raw_session()
    pw.signal(signal.SIGTERM)
    time.sleep(0.5)
    assert pw.alive(), "pgward exited on SIGTERM although a session was open"
    assert s.scalar("SELECT 'still here'") == "still here"
    s.send(pgwire.terminate())
    assert s.wait_closed(5)
    assert pw.wait_exit(5) == 0


def test_sigterm_idle_exits_promptly(pgward_factory):
    pw = pgward_factory(shutdown_timeout=60)
    t0 = time.monotonic()
    pw.signal(signal.SIGTERM)
    assert pw.wait_exit(5) == 0
    assert time.monotonic() - t0 < 3


def test_sigint_exits_at_once(pgward_factory):
    pw = pgward_factory(shutdown_timeout=60)
    s = pw.raw_session()
    s.send(pgwire.query("SELECT pg_sleep(20)"))
    time.sleep(0.3)
    t0 = time.monotonic()
    pw.signal(signal.SIGINT)
    assert pw.wait_exit(5) is not None, "pgward still running 5s after SIGINT"
    assert time.monotonic() - t0 < 3
    assert s.wait_closed(5)


def test_login_timeout_silent_client(pgward_factory):
    pw = pgward_factory(client_login_timeout=1)
    c = pw.raw()
    t0 = time.monotonic()
    f = c.expect_error(timeout=5)
    elapsed = time.monotonic() - t0
    assert f["C"] == "08006", f
    assert f["M"].startswith("pgward: client login timeout"), f
    assert 0.5 <= elapsed <= 2.5, elapsed
    assert c.wait_closed(3)
    assert pw.raw_session().scalar("SELECT 1") == "1"


def test_login_timeout_during_authentication(pg, pgward_factory):
    """A client that starts SCRAM and stops answering is cut off, and so is its server backend."""
    pw = pgward_factory(client_login_timeout=1)
    c = pw.raw()
    c.send(pgwire.startup_message({"user": SCRAM_USER, "database": "postgres"}))
    m = c.recv_msg(timeout=5)
    assert m.type == "R" and m.auth_code() == pgwire.AUTH_SASL
    t0 = time.monotonic()
    f = c.expect_error(timeout=5)
    assert f["C"] == "08006" and f["M"].startswith("pgward: client login timeout"), f
    assert time.monotonic() - t0 <= 2.5
    assert c.wait_closed(3)
    wait_for(lambda: not pg.execute("SELECT 1 FROM pg_stat_activity WHERE usename = '%s'" % SCRAM_USER), 5,
             what="the half-authenticated server backend to go away")


def test_idle_timeout_raw(pgward_factory):
    pw = pgward_factory(client_idle_timeout=1)
    c = pw.raw_session()
    assert c.scalar("SELECT 1") == "1"
    t0 = time.monotonic()
    f = c.expect_error(timeout=5)
    assert f["C"] == "57P05" and f["S"] == "FATAL", f
    assert f["M"].startswith("pgward: client idle timeout"), f
    assert 0.5 <= time.monotonic() - t0 <= 3
    assert c.wait_closed(3)


def test_idle_timeout_psycopg(pgward_factory):
    pw = pgward_factory(client_idle_timeout=1)
    conn = pw.connect()
    with conn.cursor() as cur:
        cur.execute("SELECT 1")
    t0 = time.monotonic()
    notices = wait_for(lambda: libpq_idle_notices(conn), 5, what="the idle timeout FATAL to reach libpq")
    assert 0.5 <= time.monotonic() - t0 <= 3.5
    assert any(n.startswith("FATAL:  pgward: client idle timeout") for n in notices), notices
    with pytest.raises(psycopg2.OperationalError):
        with conn.cursor() as cur:
            cur.execute("SELECT 1")


def test_idle_timeout_ignores_busy_session(pgward_factory):
    """A session waiting for the server (a long query) is not idle."""
    pw = pgward_factory(client_idle_timeout=1)
    c = pw.raw_session()
    assert c.rows("SELECT pg_sleep(2.5), 'busy is not idle'", timeout=10) == [["", "busy is not idle"]]
