"""Everyday use through pgward: results, messages and startup parameters are those of a
direct connection; the server's own authentication and errors reach the client unchanged."""

import psycopg2
import pytest

import pgwire
from conftest import MD5_PASSWORD, MD5_USER, PASSWORDS, POOLED, SCRAM_PASSWORD, SCRAM_USER, SUPERUSER, wait_for

QUERIES = [
    "SELECT g, md5(g::text), g * 1.5 AS f, g % 3 = 0 AS b, NULL::text AS n FROM generate_series(1, 2000) g",
    "SELECT 'ünïcødé ✓'::text, E'tab\\there', '{1,2,3}'::int[], '2024-02-29'::date, '{\"a\": [1, null]}'::jsonb",
    "SELECT count(*), sum(g), string_agg(g::text, ',' ORDER BY g) FROM generate_series(1, 300) g",
    "SELECT current_user, current_database(), version() LIKE 'PostgreSQL 15%'",
]


@pytest.mark.parametrize("sql", QUERIES, ids=["series", "types", "aggregate", "session"])
def test_psql_results_equal_direct(pg, pgward, sql):
    direct = pg.psql("-c", sql).stdout
    through = pgward.psql("-c", sql).stdout
    assert through == direct
    assert len(direct) > 0


def test_multi_statement_simple_query(target):
    c = target.raw_session()
    msgs = c.simple("SELECT 1 AS a; SELECT 'x' AS b, 2 AS c; CREATE TEMP TABLE t_multi (v int); "
                    "INSERT INTO t_multi VALUES (1), (2)")
    assert pgwire.types(msgs) == "TDCTDCCCZ"
    assert msgs[0].column_names() == ["a"]
    assert msgs[1].data_row() == [b"1"]
    assert msgs[4].data_row() == [b"x", b"2"]
    assert [m.command_tag() for m in msgs if m.type == "C"] == ["SELECT 1", "SELECT 1", "CREATE TABLE",
                                                                  "INSERT 0 2"]
    assert msgs[-1].ready_status() == "I"
    # psql shows both results
    out = target.psql("-c", "SELECT 1; SELECT 2").stdout.decode().split()
    assert out == ["1", "2"]


def test_notice_from_do_block_reaches_client(target):
    conn = target.connect()
    with conn.cursor() as cur:
        cur.execute("DO $$ BEGIN RAISE NOTICE 'hello from DO %', 42; RAISE WARNING 'careful'; END $$")
    assert any("NOTICE:  hello from DO 42" in n for n in conn.notices), conn.notices
    assert any("WARNING:  careful" in n for n in conn.notices), conn.notices


def test_notice_raw_fields(target):
    c = target.raw_session()
    msgs = c.simple("DO $$ BEGIN RAISE NOTICE USING MESSAGE = 'raw notice', ERRCODE = '01000', "
                    "HINT = 'a hint'; END $$")
    assert pgwire.types(msgs) == "NCZ"
    f = msgs[0].fields()
    assert (f["S"], f["C"], f["M"], f["H"]) == ("NOTICE", "01000", "raw notice", "a hint")


def test_parameter_status_after_set(target):
    c = target.raw_session()
    msgs = c.simple("SET application_name = 'it_param_status'")
    statuses = [m.parameter_status() for m in msgs if m.type == "S"]
    assert ("application_name", "it_param_status") in statuses
    assert pgwire.types(msgs) == "CSZ"
    assert c.scalar("SHOW application_name") == "it_param_status"

    conn = target.connect()
    with conn.cursor() as cur:
        cur.execute("SET application_name = 'it_psycopg'")
        assert conn.get_parameter_status("application_name") == "it_psycopg"
        cur.execute("SHOW application_name")
        assert cur.fetchone()[0] == "it_psycopg"


def test_startup_parameter_status_set(target):
    """The ParameterStatus messages of the startup phase are the server's (clients need
    server_version, client_encoding, standard_conforming_strings, integer_datetimes...)."""
    c = target.raw_session()
    for key in ("server_version", "client_encoding", "DateStyle", "integer_datetimes",
                "standard_conforming_strings", "TimeZone", "is_superuser", "session_authorization"):
        assert key in c.params, (key, c.params)
    assert c.params["server_version"].startswith("15")
    assert c.params["session_authorization"] == SUPERUSER
    assert c.backend_key is not None


def test_startup_params_reach_server(pg, target):
    # client_encoding other than UTF8 is refused by pgward (test_guard.py); the options below
    # show that every setting in the startup packet reaches the server as sent.
    conn = target.connect(application_name="it_startup_app",
                          options="-c search_path=foo -c work_mem=3MB")
    with conn.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        server_pid = cur.fetchone()[0]
        cur.execute("SHOW search_path")
        assert cur.fetchone()[0] == "foo"
        cur.execute("SELECT v FROM marker")  # found through search_path=foo only
        assert cur.fetchone()[0] == "in foo"
        cur.execute("SHOW work_mem")
        assert cur.fetchone()[0] == "3MB"
    assert conn.get_parameter_status("application_name") == "it_startup_app"
    rows = pg.execute("SELECT application_name FROM pg_stat_activity WHERE pid = %d" % server_pid)
    assert rows == [("it_startup_app",)]


def test_unknown_database(target):
    c = target.raw()
    with pytest.raises(pgwire.PgError) as e:
        c.startup(SUPERUSER, "no_such_db_it")
    assert e.value.sqlstate == "3D000"
    assert e.value.message == 'database "no_such_db_it" does not exist'
    assert e.value.fields["S"] == "FATAL"
    assert c.wait_closed(5)


@pytest.mark.parametrize("user", [MD5_USER, SCRAM_USER])
def test_wrong_password(target, user):
    c = target.raw()
    with pytest.raises(pgwire.PgError) as e:
        c.startup(user, "postgres", password="not-the-password")
    assert e.value.sqlstate == "28P01"
    assert e.value.message == 'password authentication failed for user "%s"' % user
    assert c.wait_closed(5)
    # and what a libpq user sees
    r = target.psql("-c", "SELECT 1", user=user, dsn_extra={"password": "wrong"}, check=False)
    assert r.returncode == 2
    assert 'password authentication failed for user "%s"' % user in r.stderr.decode()


@pytest.mark.parametrize("user,code", [(MD5_USER, pgwire.AUTH_MD5), (SCRAM_USER, pgwire.AUTH_SASL)])
def test_password_login(target, user, code):
    c = target.raw()
    c.startup(user, "postgres", password=PASSWORDS[user])
    assert c.auth_codes[0] == code
    assert c.auth_codes[-1] == pgwire.AUTH_OK
    assert c.scalar("SELECT current_user") == user

    conn = target.connect(user=user)
    with conn.cursor() as cur:
        cur.execute("SELECT current_user, session_user")
        assert cur.fetchone() == (user, user)


def test_psycopg_password_logins(target):
    for user, password in ((MD5_USER, MD5_PASSWORD), (SCRAM_USER, SCRAM_PASSWORD)):
        conn = target.connect(user=user, password=password)
        with conn.cursor() as cur:
            cur.execute("SELECT 40 + 2")
            assert cur.fetchone() == (42,)
        conn.close()
        with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
            target.connect(user=user, password=password + "x")


def test_server_error_passes_unchanged(target):
    c = target.raw_session()
    msgs = c.simple("SELECT * FROM no_such_table_it")
    assert pgwire.types(msgs) == "EZ"
    f = msgs[0].fields()
    assert f["C"] == "42P01"
    assert f["M"] == 'relation "no_such_table_it" does not exist'
    assert f["P"] == "15"  # error position survives
    assert c.scalar("SELECT 'still usable'") == "still usable"


def test_transaction_status_in_ready_for_query(target):
    c = target.raw_session()
    assert c.simple("BEGIN")[-1].ready_status() == "T"
    msgs = c.simple("SELECT 1/0")
    assert msgs[0].sqlstate == "22012"
    assert msgs[-1].ready_status() == "E"
    assert c.simple("SELECT 1")[0].sqlstate == "25P02"
    assert c.simple("ROLLBACK")[-1].ready_status() == "I"


def test_terminate_closes_both_sides(pg, target):
    if POOLED and target is not pg:
        pytest.skip("a pooled server outlives its client (test_pool.py)")
    c = target.raw_session()
    server_pid = int(c.scalar("SELECT pg_backend_pid()"))
    c.send(pgwire.terminate())
    assert c.wait_closed(5)
    assert c.trailing == []
    wait_for(lambda: not pg.backend_alive(server_pid), 5, what="server backend to exit after Terminate")


def test_statements_sent_before_terminate_still_run(pg, target):
    """A client that sends its last statement and Terminate in one write, without waiting for
    the answer (fire and forget), has the statement run, as PostgreSQL runs what it read
    before the Terminate; pgward does not cancel it."""
    pg.execute("DROP TABLE IF EXISTS public.fire_and_forget; CREATE TABLE public.fire_and_forget (x int)")
    c = target.raw_session()
    c.send(pgwire.query("SELECT pg_sleep(0.3); INSERT INTO public.fire_and_forget VALUES (1)"), pgwire.terminate())
    assert c.wait_closed(10)
    wait_for(lambda: pg.execute("SELECT count(*) FROM public.fire_and_forget") == [(1,)], 10,
             what="the INSERT sent before Terminate")


def test_gssenc_request_declined(pgward):
    """PostgreSQL built with GSSAPI would answer 'G'; pgward cannot do GSS and must say 'N'."""
    c = pgward.raw()
    assert c.ssl_negotiate(pgwire.gssenc_request()) == b"N"
    c.startup(SUPERUSER, "postgres")
    assert c.scalar("SELECT 1") == "1"


def test_ssl_request_declined_then_plain_startup(pgward):
    """pgward without client TLS answers 'N' and then serves the plain connection."""
    c = pgward.raw()
    assert c.ssl_negotiate() == b"N"
    c.startup(SUPERUSER, "postgres")
    assert c.scalar("SELECT 2") == "2"
