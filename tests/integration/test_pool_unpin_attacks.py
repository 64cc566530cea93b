"""pool_mode = transaction, attacks on unpinning (src/session/holds.c): a client tries to get
itself unpinned while its server still holds something of its session (an advisory lock, a
LISTEN, a cursor WITH HOLD, a temporary object), so that the next client of its kind, handed
that server without DISCARD ALL, finds it.

Every test runs on a pool of one server: once the attacker (a) has sent its take-back, a
second client (b) either waits in vain (a still pinned: the attack failed) or runs on a's
very backend, where it must find nothing of a's."""

import pytest

import pgwire
from authkit import login
from conftest import SCRAM_PASSWORD, SCRAM_USER
from test_pool import backends, pid_of, pool_tenant_db, pooled, roles  # noqa: F401
from test_pool_transaction import starved, txn_pool  # noqa: F401
from test_pool_unpin import CURSORS, LISTENING, LOCKS, TEMPS, pin

TEMP_TYPES = "SELECT count(*) FROM pg_type WHERE typnamespace = pg_my_temp_schema()"


def nothing_left_for_the_next_client(pw, pid, check, what):
    """b, of a's kind: it waits in vain for the only server while a is pinned (fine), or it
    gets a's backend <pid> and <check> must count none of a's <what> there."""
    b = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    if starved(b) is not None:
        return  # a is still pinned: the attack failed
    assert pid_of(b) == pid
    assert b.scalar(check) == "0", "the next client's server still has a's %s" % what


# --- a take-back the parse tree sees but the server never runs -----------------------------

UNLOCKS_THAT_DO_NOT_RUN = {
    "where-false": "SELECT pg_catalog.pg_advisory_unlock_all() WHERE false",
    "case": "SELECT CASE WHEN false THEN pg_catalog.pg_advisory_unlock_all() END",
    "limit-0": "SELECT 1 FROM (SELECT pg_catalog.pg_advisory_unlock_all()) s LIMIT 0",
    "explain": "EXPLAIN SELECT pg_catalog.pg_advisory_unlock_all()",
    # a function of the client's own (or any schema's) with the same name
    "other-schema": "SELECT attack_s.pg_advisory_unlock_all()",
    "quoted-upper-case": 'SELECT "PG_ADVISORY_UNLOCK_ALL"()',
    # unqualified, it is the one of a schema the search_path lists before pg_catalog
    "search-path": "BEGIN; SET LOCAL search_path = attack_s, pg_catalog; SELECT pg_advisory_unlock_all(); COMMIT",
}


@pytest.fixture
def lookalike_unlocks(pg):
    """Functions that do nothing, named like pg_advisory_unlock_all (they might be the
    attacker's own, in a schema it may create in)."""
    pg.execute("CREATE SCHEMA IF NOT EXISTS attack_s")
    pg.execute("GRANT USAGE ON SCHEMA attack_s TO PUBLIC")
    pg.execute("CREATE OR REPLACE FUNCTION attack_s.pg_advisory_unlock_all() RETURNS void "
               "LANGUAGE sql AS ''")
    pg.execute('CREATE OR REPLACE FUNCTION public."PG_ADVISORY_UNLOCK_ALL"() RETURNS void '
               "LANGUAGE sql AS ''")
    yield
    pg.execute("DROP SCHEMA attack_s CASCADE")
    pg.execute('DROP FUNCTION public."PG_ADVISORY_UNLOCK_ALL"()')


@pytest.mark.parametrize("unlock", list(UNLOCKS_THAT_DO_NOT_RUN.values()),
                         ids=list(UNLOCKS_THAT_DO_NOT_RUN))
def test_an_unlock_all_that_does_not_run_keeps_the_pin(pg, txn_pool, lookalike_unlocks, unlock):
    """Goal of a client: leave its session advisory lock on a server that goes back to the
    pool, with a call of pg_advisory_unlock_all the server never makes, or one of another
    schema. Only SELECT pg_catalog.pg_advisory_unlock_all() alone counts: the lock stays on
    the backend, and the client stays pinned."""
    pw = txn_pool(default_pool_size=1, query_wait_timeout=2)
    a = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    pin(pw, a, "SELECT pg_advisory_lock(4243)")
    pid = pid_of(a)
    a.rows(unlock)
    assert a.scalar(LOCKS) == "1"  # the server never released it
    nothing_left_for_the_next_client(pw, pid, LOCKS, "advisory lock")


def test_a_lock_the_server_takes_after_unlock_all_keeps_the_pin(pg, txn_pool):
    """Goal of a client: leave a session advisory lock behind, taken in the same statement
    after an unlock the parse tree lists later (the target list before WITH): an unlock
    inside another statement counts for nothing."""
    pw = txn_pool(default_pool_size=1, query_wait_timeout=2)
    a = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    pin(pw, a, "SELECT pg_advisory_lock(4244)")
    pid = pid_of(a)
    a.rows("WITH u AS (SELECT pg_catalog.pg_advisory_unlock_all()) SELECT pg_advisory_lock(4245) FROM u")
    assert a.scalar(LOCKS) == "1"
    nothing_left_for_the_next_client(pw, pid, LOCKS, "advisory lock")


# --- a hold sent behind a take-back, before the take-back's ReadyForQuery ------------------

PIPELINED = {
    "listen": ("LISTEN attack_p1", [pgwire.query("UNLISTEN *"), pgwire.query("LISTEN attack_p2")],
               LISTENING),
    "listen-extended": ("LISTEN attack_p1",
                        [pgwire.query("UNLISTEN *"), pgwire.parse("", "LISTEN attack_p2"),
                         pgwire.bind("", ""), pgwire.execute(), pgwire.sync()], LISTENING),
    "cursor": ("DECLARE attack_c CURSOR WITH HOLD FOR SELECT 1",
               [pgwire.query("CLOSE ALL"),
                pgwire.query("DECLARE attack_c CURSOR WITH HOLD FOR SELECT 'secret'")], CURSORS),
    "temp": ("CREATE TEMP TABLE attack_t (a int)",
             [pgwire.query("DISCARD TEMP"), pgwire.query("CREATE TEMP TABLE attack_t (a int)")], TEMPS),
    "advisory": ("SELECT pg_advisory_lock(4246)",
                 [pgwire.query("SELECT pg_catalog.pg_advisory_unlock_all()"),
                  pgwire.query("SELECT pg_advisory_lock(4246)")], LOCKS),
}


@pytest.mark.parametrize("kind", list(PIPELINED))
def test_a_hold_pipelined_behind_its_take_back_keeps_the_pin(pg, txn_pool, kind):
    """Goal of a client: leave a LISTEN, a cursor, a temporary table or a lock on a server
    that goes back to the pool, by sending the take-back as a Query and, before its
    ReadyForQuery, the hold again (a Query, or Parse/Bind/Execute/Sync), so that the
    take-back settled at its ReadyForQuery would take the later hold back too. A hold sent
    behind a take-back not yet settled makes the take-back count for nothing."""
    take, sends, check = PIPELINED[kind]
    pw = txn_pool(default_pool_size=1, query_wait_timeout=2)
    a = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    pin(pw, a, take)
    pid = pid_of(a)
    a.send(*sends)
    a.recv_until("Z")
    a.recv_until("Z")
    assert a.scalar(check) == "1"
    nothing_left_for_the_next_client(pw, pid, check, kind)


# --- DDL that counts as a hold instead of pinning -------------------------------------------

@pytest.mark.parametrize("ddl", [
    "CREATE DOMAIN pg_temp.attack_d AS int "
    "CHECK (CASE WHEN VALUE IS NULL THEN pg_advisory_lock(1) IS NULL ELSE true END)",
    "CREATE DOMAIN pg_temp.attack_d AS bigint DEFAULT pg_advisory_lock(1)::text::bigint",
], ids=["check", "default"])
def test_ddl_with_a_lock_in_it_still_pins_for_its_temporary_type(pg, txn_pool, ddl):
    """Goal of a client: leave a temporary type in pg_temp on a server the next client gets
    (pg_temp is searched first for types: it shadows a type of the same name), by making
    CREATE DOMAIN in pg_temp count as an advisory lock (a call of pg_advisory_lock() in its
    CHECK or DEFAULT, never run) and unlocking. Only a statement that is itself the making
    of a temporary relation is spared as DDL: the domain pins until DISCARD ALL."""
    pw = txn_pool(default_pool_size=1, query_wait_timeout=2)
    a = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    pin(pw, a, ddl)
    pid = pid_of(a)
    assert a.scalar(TEMP_TYPES) != "0"
    a.rows("SELECT pg_catalog.pg_advisory_unlock_all()")
    nothing_left_for_the_next_client(pw, pid, TEMP_TYPES, "temporary type")


# --- what nothing of pgward's sees (README: "What a function body does is not seen") -------

@pytest.fixture
def lock_in_a_body(pg):
    pg.execute("CREATE OR REPLACE FUNCTION public.attack_lock() RETURNS void LANGUAGE sql "
               "AS 'SELECT pg_advisory_lock(99)'")
    pg.execute("CREATE OR REPLACE VIEW public.attack_v AS SELECT pg_advisory_lock(98)::text AS l")
    pg.execute("GRANT SELECT ON public.attack_v TO PUBLIC")
    yield
    pg.execute("DROP VIEW public.attack_v")
    pg.execute("DROP FUNCTION public.attack_lock()")


@pytest.mark.xfail(strict=True, reason="a function or view body is not inspected (README, transaction pooling)")
@pytest.mark.parametrize("call", ["SELECT attack_lock()", "SELECT * FROM attack_v"],
                         ids=["function", "view"])
def test_a_lock_taken_by_a_function_or_view_pins(pg, txn_pool, lock_in_a_body, call):
    """Goal of a client: leave a session advisory lock on a pooled server without ever being
    pinned, by taking it in a function or a view (existing ones, or its own created earlier
    on another connection). pgward does not look into bodies, so nothing pins: a residual,
    documented with transaction pooling."""
    pw = txn_pool(default_pool_size=1, query_wait_timeout=2)
    a = login(pw, SCRAM_USER, SCRAM_PASSWORD)
    pid = pid_of(a)
    a.rows(call)
    nothing_left_for_the_next_client(pw, pid, LOCKS, "advisory lock")
