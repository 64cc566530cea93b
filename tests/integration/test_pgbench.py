"""pgbench through pgward: initialization (COPY) and a few seconds of each query mode with
4 clients, without a failed transaction."""

import re

import pytest

from conftest import SUPERUSER, clean_env, run

DURATION = 3


def pgbench(endpoint, *args, timeout=120):
    cmd = ["pgbench", "-h", endpoint.host, "-p", str(endpoint.port), "-U", SUPERUSER] + list(args) + ["bench"]
    return run(cmd, timeout=timeout, env=clean_env(PGSSLMODE="disable"))


@pytest.fixture
def initialized(target):
    r = pgbench(target, "-i", "-s", "1", "-q")
    assert "done in" in r.stderr.decode(), r.stderr
    return target


@pytest.mark.parametrize("mode", ["simple", "extended", "prepared"])
def test_pgbench_modes(initialized, mode):
    r = pgbench(initialized, "-M", mode, "-c", "4", "-j", "2", "-T", str(DURATION), "-n")
    out = r.stdout.decode()
    assert "query mode: %s" % mode in out, out
    assert re.search(r"^number of failed transactions: 0 \(0\.000%\)$", out, re.M), out
    processed = int(re.search(r"^number of transactions actually processed: (\d+)", out, re.M).group(1))
    assert processed > 100, out
    assert "error" not in r.stderr.decode().lower(), r.stderr


def test_pgbench_select_only_connect_per_transaction(target):
    """-C: a new connection (startup + auth through pgward) for every transaction."""
    pgbench(target, "-i", "-s", "1", "-q")
    r = pgbench(target, "-S", "-C", "-c", "2", "-j", "2", "-t", "50", "-n")
    out = r.stdout.decode()
    assert "number of transactions actually processed: 100/100" in out, out
    assert re.search(r"^number of failed transactions: 0 ", out, re.M), out
