"""Attacks on pool_mode = transaction through the extended protocol: reaching another
client's prepared statements, the unnamed one a client before left on the server or the ones
pgward prepared under its own names. Each states the attacker's goal and checks it failed."""

import pytest

import pgwire
import test_pool
import test_pool_transaction
from authkit import login
from conftest import SCRAM_PASSWORD, SCRAM_USER
from test_pool import pid_of
from test_pool_prepared import run, server_names

roles = test_pool.roles
pooled = test_pool.pooled
txn_pool = test_pool_transaction.txn_pool
P, B, E, S, Q = pgwire.parse, pgwire.bind, pgwire.execute, pgwire.sync, pgwire.query


def test_an_unnamed_statement_left_behind_a_skipped_query_is_not_the_next_clients(pg, txn_pool):
    """Goal of a client: run the unnamed statement the client before it parsed on the same
    server. That client's Query came after an error in its batch, so the server skipped it
    and kept the statement; the next client's Bind of the unnamed statement fails (26000),
    as on a new PostgreSQL session."""
    pw = txn_pool(default_pool_size=1)
    a = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    b = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    assert pid_of(a) == pid_of(b)
    got = run(a, P("", "SELECT 'secret of a'"), pgwire.describe("S", "no_such_stmt"), Q("SELECT 1"), S())
    assert [g[:2] for g in got] == [("1",), ("E", "26000"), ("Z",)], got
    got = run(b, B("", ""), E(), S())
    assert [g[:2] for g in got] == [("E", "26000"), ("Z",)], got
    assert pid_of(a) == pid_of(b)


@pytest.mark.parametrize("sql", ["EXECUTE %s(7)", "EXPLAIN (COSTS OFF) EXECUTE %s(7)", "DEALLOCATE %s",
                                 "PREPARE %s AS SELECT 1"])
def test_a_parse_cannot_name_pgwards_statements(pg, txn_pool, sql):
    """Goal of a client: run, explain or drop another client's statement through the name
    pgward prepared it under on their shared server (read from pg_prepared_statements), by
    SQL sent in a Parse rather than a Query. The Parse is refused (26000, or 42939 for a
    PREPARE of such a name), and the other client's statement still runs."""
    pw = txn_pool(default_pool_size=1)
    victim = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    assert run(victim, P("mine", "SELECT 'victim secret ' || $1::text"), S()) == [("1",), ("Z",)]
    x = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    names = server_names(x)
    assert len(names) == 1
    got = run(x, P("", sql % names[0]), B("", ""), E(), S())
    assert not any(g[0] == "D" for g in got), got
    assert [g[1] for g in got if g[0] == "E"] == ["42939" if sql.startswith("PREPARE") else "26000"], got
    assert run(victim, B("", "mine", params=["8"]), E(), S())[1] == ("D", ["victim secret 8"])
