"""Text read as the server reads it: every client encoding PostgreSQL 15 supports and
standard_conforming_strings off work through pgward's default configuration exactly as they do
directly, and a statement disguised with them (a multibyte character whose second byte is a
backslash, a backslash-quote that only escapes with the setting off) is still seen and refused.

Through a real PostgreSQL with a UTF8 database and LATIN1 and SQL_ASCII databases; raw protocol
connections, so the bytes sent are exactly the test's."""

import subprocess

import psycopg2
import pytest

import pgwire
from conftest import PGWARD_BIN, SUPERUSER, clean_env
from test_tenant import ORG_A, ORG_B, T_ALICE, PASSWORD, SECRET, map_file, tenant_db  # noqa: F401

GUARD = {"guard.rules": "drop_table"}
VICTIM = "DROP TABLE IF EXISTS tf_victim; CREATE TABLE tf_victim (id int); INSERT INTO tf_victim VALUES (1)"
# the client-only encodings whose second byte may be a backslash (PostgreSQL's JOHAB accepts
# no such character: it reads a lead byte and 0x5C as invalid, 22021)
BACKSLASH_TRAIL = ["SJIS", "SHIFT_JIS_2004", "BIG5", "GBK", "GB18030"]
# code points to try for each encoding: ASCII, Latin, Greek, Cyrillic, Hebrew, Arabic, Thai, CJK
SAMPLE_CPS = list(range(0x20, 0x7f, 7)) + [0xe9, 0xfc, 0x3b1, 0x416, 0x5d0, 0x627, 0xe01, 0x3042,
                                            0x4e2d, 0x6587, 0xac00, 0x20ac, 0x2018, 0x5c0f, 0x8868]


def session(ep, database="postgres", params=None, user=SUPERUSER, password=None):
    c = ep.raw()
    c.startup(user, database, password=password, params=params)
    return c


def results(c, sql):
    """(data rows as bytes, (SQLSTATE, message) or None) of one simple Query of raw bytes. A
    refusal by pgward's text reader counts as the server's error it quotes."""
    c.send(pgwire.query(sql))
    msgs = c.recv_until("Z")
    err = [m.fields() for m in msgs if m.type == "E"]
    rows = [m.data_row() for m in msgs if m.type == "D"]
    if not err:
        return rows, None
    msg = err[0]["M"]
    if msg.startswith("pgward: ") and msg.endswith(" (rule encoding)"):
        msg = msg[len("pgward: "):-len(" (rule encoding)")]
    return rows, (err[0]["C"], msg)


def victim_alive(pg):
    return pg.execute("SELECT count(*) FROM tf_victim") == [(1,)]


def client_encodings(pg, database):
    """Every encoding a client of <database> can set, as PostgreSQL answers."""
    c = session(pg, database)
    names = [r[0].decode() for r in results(c, "SELECT pg_encoding_to_char(i) FROM generate_series(0, 41) i")[0]]
    ok = []
    for name in names:
        rows, err = results(c, "SET client_encoding = '%s'" % name)
        if err is None:
            ok.append(name)
        results(c, "RESET client_encoding")
    c.close()
    return ok


def sample(pg, enc):
    """Characters of SAMPLE_CPS that <enc> can hold, as that encoding's bytes."""
    c = session(pg)
    out = b""
    for cp in SAMPLE_CPS:
        rows, err = results(c, "SELECT convert_to(chr(%d), '%s')" % (cp, enc))
        if err is None:
            out += bytes.fromhex(rows[0][0].decode()[2:])
    c.close()
    return out.replace(b"'", b"")


def backslash_char(pg, enc):
    """A two-byte character of <enc> whose second byte is 0x5C (a backslash in ASCII)."""
    c = session(pg)
    try:
        for lead in range(0x81, 0xff):
            rows, err = results(c, "SELECT convert_from('\\x%02x5c'::bytea, '%s')" % (lead, enc))
            if err is None:
                return bytes([lead, 0x5C])
        return None
    finally:
        c.close()


@pytest.fixture(scope="module")
def other_dbs(pg):
    for name, enc in (("tf_latin1", "LATIN1"), ("tf_sqlascii", "SQL_ASCII")):
        pg.execute("DROP DATABASE IF EXISTS %s WITH (FORCE)" % name)
        pg.execute("CREATE DATABASE %s ENCODING '%s' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0"
                   % (name, enc))
    return ["tf_latin1", "tf_sqlascii"]


# ---------------------------------------------------------------- transparency


def test_every_client_encoding_round_trips_like_direct(pg, pgward, other_dbs):
    """Each encoding the server accepts for a database, set at startup and by SET: the same
    query bytes give byte-identical results (or the same error) directly and through pgward."""
    checked = 0
    for database in ["postgres"] + other_dbs:
        for enc in client_encodings(pg, database):
            text = sample(pg, enc) if enc not in ("SQL_ASCII", "MULE_INTERNAL") else b"plain ascii"
            sql = b"SELECT '" + text + b"'::text, length('" + text + b"'), E'\\x41' || $$" + text + b"$$"
            by = {}
            for name, ep in (("direct", pg), ("pgward", pgward)):
                at_startup = session(ep, database, params={"client_encoding": enc})
                by_set = session(ep, database)
                assert results(by_set, "SET client_encoding = '%s'" % enc)[1] is None
                by[name] = (results(at_startup, sql), results(by_set, sql))
                at_startup.close()
                by_set.close()
            assert by["pgward"] == by["direct"], (database, enc)
            checked += 1
    assert checked > 60, checked


def test_invalid_bytes_get_the_servers_error(pg, pgward):
    for enc, bad in (("UTF8", b"\xc3\x28"), ("SJIS", b"\x95"), ("LATIN1", None), ("EUC_JP", b"\xa4\x20")):
        if bad is None:
            continue
        sql = b"SELECT 'x" + bad + b"'"
        direct = results(session(pg, params={"client_encoding": enc}), sql)[1]
        c = session(pgward, params={"client_encoding": enc})
        through = results(c, sql)[1]
        assert direct[0] == through[0] == "22021", (enc, direct, through)
        assert direct[1] in through[1], (direct, through)
        assert results(c, b"SELECT 1")[0] == [[b"1"]]
        c.close()


def test_standard_conforming_strings_off_reads_like_direct(pg, pgward):
    sqls = [r"SELECT 'a\'b', 'c\\d', 'tab\there', E'e\'f', $$g\h$$, 'i''j'",
            "SELECT 'first\\'\n'second\\n' AS continued, N'n\\'s', U&'\\0041' AS u",
            r"SELECT '\x41\101\u0042' /* 'a /* nested ' */ */, 'k' -- 'comment\'",
            r"SELECT length('\\\\'), date'2020-01-01', x'1F', b'101'"]
    for sql in sqls:
        by = {}
        for name, ep in (("direct", pg), ("pgward", pgward)):
            c = session(ep, params={"options": "-c standard_conforming_strings=off"})
            s = session(ep)
            assert results(s, "SET standard_conforming_strings = off")[1] is None
            by[name] = (results(c, sql), results(s, sql))
            c.close()
            s.close()
        assert by["pgward"] == by["direct"], sql


def test_psql_psycopg2_and_bulk_inserts_in_the_default_configuration(pg, pgward):
    """LATIN1 from psql (PGCLIENTENCODING and \\encoding) and psycopg2, scs off from psql, and a
    4 MB and a 16 MB query: what the old defaults refused."""
    for ep in (pg, pgward):
        r = ep.psql(input=b"SELECT 'caf\xe9', length('caf\xe9');\n", env=clean_env(PGCLIENTENCODING="LATIN1"))
        assert r.stdout == b"caf\xe9|4\n", r
        r = ep.psql(input=b"\\encoding LATIN1\nSELECT convert_to('\xe9', 'UTF8');\n")
        assert r.stdout.strip() == b"\\xc3a9", r
        r = ep.psql(input=b"SET standard_conforming_strings = off;\nSELECT 'a\\'b';\n")
        assert r.stdout.strip().splitlines()[-1] == b"a'b", r
    conn = pgward.connect()
    conn.set_client_encoding("LATIN1")
    with conn.cursor() as cur:
        cur.execute("SELECT %s || 'x', length(%s)", ("\xe9t\xe9", "\xe9t\xe9"))
        assert cur.fetchone() == ("\xe9t\xe9x", 3)
        cur.execute("CREATE TEMP TABLE tf_blob (b bytea)")
        for size in (1 << 20, 6 << 20):  # 1 MB (4 MB query in psycopg2's escaping) and 6 MB
            blob = bytes(range(256)) * (size // 256)
            cur.execute("INSERT INTO tf_blob VALUES (%s)", (psycopg2.Binary(blob),))
            cur.execute("SELECT length(b) FROM tf_blob ORDER BY length(b) DESC LIMIT 1")
            assert cur.fetchone()[0] == size
        cur.execute("SELECT length(%s)", ("x" * (16 << 20),))
        assert cur.fetchone()[0] == 16 << 20


def test_check_config_warns_about_small_limits(tmp_path, pg):
    conf = tmp_path / "small.ini"
    conf.write_text("[pgward]\nlisten_port = 6999\nserver_port = %d\n[limits]\nmax_query_size = 1MB\n" % pg.port)
    r = subprocess.run([str(PGWARD_BIN), "--check-config", "-c", str(conf)], capture_output=True)
    assert r.returncode == 0, r
    err = r.stderr.decode()
    assert "warning: [limits] max_query_size = 1048576 bytes is smaller than a typical bulk insert" in err
    assert "max_message_size" not in err  # its default is PostgreSQL's own cap
    conf.write_text("[pgward]\nlisten_port = 6999\n")
    r = subprocess.run([str(PGWARD_BIN), "--check-config", "-c", str(conf)], capture_output=True)
    assert r.returncode == 0 and b"warning" not in r.stderr, r


# ---------------------------------------------------------------- disguises


@pytest.mark.parametrize("enc", BACKSLASH_TRAIL)
def test_drop_hidden_behind_a_multibyte_backslash_is_refused(pg, pgward_factory, enc):
    """Goal: a DROP TABLE that a UTF-8 reader sees inside E'...' (the character's second byte
    escapes the quote) but the server, reading <enc>, runs. It must be refused, in E'...' and,
    with standard_conforming_strings off, in '...', with the encoding set at startup or by SET."""
    pg.execute(VICTIM)
    ch = backslash_char(pg, enc)
    assert ch is not None, enc
    attacks = [b"SELECT E'" + ch + b"', 1; DROP TABLE tf_victim; --'",
               b"SELECT '" + ch + b"', 1; DROP TABLE tf_victim; --'"]
    pw = pgward_factory(**GUARD)
    for attack in attacks:
        for how in ("startup", "set"):
            params = {"client_encoding": enc, "options": "-c standard_conforming_strings=off"}
            c = session(pw, params=params if how == "startup" else None)
            if how == "set":
                assert results(c, "SET client_encoding = '%s'" % enc)[1] is None
                assert results(c, "SET standard_conforming_strings = off")[1] is None
            rows, err = results(c, attack)
            assert err is not None and err[0] == "42501" and "(rule drop_table)" in err[1], (enc, attack, err)
            assert victim_alive(pg)
            assert results(c, b"SELECT 'alive'")[0] == [[b"alive"]]
            c.close()
    # and the same bytes in a UTF8 session are one harmless string: not refused
    c = session(pw, params={"options": "-c standard_conforming_strings=on"})
    assert results(c, attacks[0])[1][0] == "22021"  # not UTF-8 at all: the server's own error


def test_drop_hidden_behind_backslash_quote_with_scs_off_is_refused(pg, pgward_factory):
    """Goal: with standard_conforming_strings off, 'a\\' , ' is one constant to the server and two
    to a reader with it on, which would hide the DROP between them."""
    pg.execute(VICTIM)
    pw = pgward_factory(**GUARD)
    attack = r"SELECT 'a\' , ' ; DROP TABLE tf_victim; --'"
    c = session(pw)
    assert results(c, attack)[1] is None  # scs on: two constants, harmless
    assert results(c, "SET standard_conforming_strings = off")[1] is None
    err = results(c, attack)[1]
    assert err[0] == "42501" and "(rule drop_table)" in err[1], err
    assert victim_alive(pg)
    fresh = session(pw, params={"options": "-c standard_conforming_strings=off"})
    assert results(fresh, attack)[1][0] == "42501"
    assert victim_alive(pg)
    # E'' and dollar quotes read the same either way; nested comments hide nothing
    for safe in [r"SELECT E'a\' ; DROP TABLE tf_victim; --'", "SELECT $q$ ' ; DROP TABLE x; $q$",
                 "SELECT 1 /* ' /* ' */ ; DROP TABLE x; */"]:
        assert results(fresh, safe)[1] is None, safe


def test_set_config_hidden_behind_a_multibyte_backslash_is_refused(pg, pgward_factory, tenant_db, map_file):
    """Goal: replace the tenant context with another organization's, hidden from a UTF-8 reader
    by an SJIS character; same session and a new one keep pgward's context."""
    pw = pgward_factory(**{"tenant.mode": "on", "tenant.source": "map", "tenant.map_file": map_file,
                           "tenant.signing_secret": SECRET})
    ch = backslash_char(pg, "SJIS")
    attack = (b"SELECT E'" + ch + b"', 1; SELECT set_config('app.user_org_ids', '{" + ORG_B.encode() +
              b"}', false); --'")
    c = session(pw, "tenant", params={"client_encoding": "SJIS"}, user=T_ALICE, password=PASSWORD)
    rows, err = results(c, attack)
    assert err is not None and err[0] == "42501", err
    assert results(c, "SELECT current_setting('app.user_org_ids')")[0] == [[("{%s}" % ORG_A).encode()]]
    c2 = session(pw, "tenant", params={"client_encoding": "SJIS"}, user=T_ALICE, password=PASSWORD)
    assert results(c2, "SELECT current_setting('app.user_org_ids')")[0] == [[("{%s}" % ORG_A).encode()]]


def test_a_change_in_flight_is_followed_or_refused(pg, pgward_factory):
    """Pipelined after a SET that pgward has forwarded but the server not yet confirmed, a text
    that reads the same either way goes through; one that would read differently is refused
    (55000), never passed on a guess. Also after ROLLBACK undoes the change."""
    pg.execute(VICTIM)
    pw = pgward_factory(**GUARD)
    ch = backslash_char(pg, "SJIS")
    c = session(pw)
    c.send(pgwire.query("SET client_encoding = 'SJIS'"), pgwire.query(b"SELECT 'plain ascii'"),
           pgwire.query(b"SELECT E'" + ch + b"', 1; DROP TABLE tf_victim; --'"))
    msgs = c.recv_until("Z") + c.recv_until("Z") + c.recv_until("Z")
    errors = [m.fields() for m in msgs if m.type == "E"]
    assert [r for m in msgs if m.type == "D" for r in m.data_row()] == [b"plain ascii"]
    assert len(errors) == 1 and errors[0]["C"] in ("55000", "42501"), errors
    assert victim_alive(pg)
    # settled: the same text is now read in SJIS and refused by its rule
    assert results(c, b"SELECT E'" + ch + b"', 1; DROP TABLE tf_victim; --'")[1][0] == "42501"
    # a transaction's SET LOCAL, then ROLLBACK: pgward follows back to 'on'
    c = session(pw)
    for sql in ("BEGIN", "SET LOCAL standard_conforming_strings = off"):
        assert results(c, sql)[1] is None
    attack = r"SELECT 'a\' , ' ; DROP TABLE tf_victim; --'"
    assert results(c, attack)[1][0] == "42501"
    assert results(c, "ROLLBACK")[1] is None
    assert results(c, attack)[1] is None  # on again: two harmless constants
    c.send(pgwire.query("BEGIN"), pgwire.query("SET LOCAL standard_conforming_strings = off"),
           pgwire.query("ROLLBACK"), pgwire.query(attack))
    msgs = c.recv_until("Z") + c.recv_until("Z") + c.recv_until("Z") + c.recv_until("Z")
    assert [m.fields()["C"] for m in msgs if m.type == "E"] in ([], ["55000"])
    assert victim_alive(pg)


def test_byte_escapes_in_another_database_encoding_hide_nothing(pg, pgward_factory, other_dbs):
    """Goal: in a LATIN1 database, E'\\xe9' is a character to the server but invalid UTF-8 to
    pgward's parser; if a text that fails to parse were forwarded unread, the DROP after it
    would run. It is refused (22021, rule encoding); without a statement pgward must see, the
    same constant goes through and reads like direct."""
    pg.execute(VICTIM, dbname="tf_latin1")
    pw = pgward_factory(**GUARD)
    c = session(pw, "tf_latin1", params={"client_encoding": "LATIN1"})
    err = results(c, r"SELECT E'\xe9', 1; DROP TABLE tf_victim")[1]
    assert err is not None and err[0] == "22021" and "cannot inspect a constant" in err[1], err
    assert pg.execute("SELECT count(*) FROM tf_victim", dbname="tf_latin1") == [(1,)]
    direct = session(pg, "tf_latin1", params={"client_encoding": "LATIN1"})
    assert results(c, r"SELECT E'\xe9\101'") == results(direct, r"SELECT E'\xe9\101'") == ([[b"\xe9A"]], None)
    # in a UTF8 database the server rejects the same bytes itself: its own error comes back
    c = session(pw, params={"client_encoding": "LATIN1"})
    err = results(c, r"SELECT E'\xe9', 1; DROP TABLE tf_victim")[1]
    assert err == ("22021", 'invalid byte sequence for encoding "UTF8": 0xe9'), err
    assert victim_alive(pg)


def test_drop_after_a_constant_continued_past_a_comment_is_refused(pg, pgward_factory):
    """Goal: the server reads 'a' -- c<newline>'b' as one constant 'ab' (a continuation may
    hold -- comments); libpg_query returns the comment as a token, sees two constants, fails
    to parse, and a text that fails to parse would be forwarded unread with the DROP in it.
    With standard strings on, the default; and in the same session after it, and a new one."""
    pg.execute(VICTIM)
    pw = pgward_factory(**GUARD)
    c = session(pw)
    for attack in ["DROP TABLE tf_victim; SELECT 'a' -- c\n'b'",
                   "SELECT 'a' -- c\n'b'; DROP TABLE tf_victim",
                   "SELECT B'1' -- c\n'0'; DROP TABLE tf_victim"]:
        err = results(c, attack)[1]
        assert err is not None and err[0] == "42501" and "(rule drop_table)" in err[1], (attack, err)
        assert victim_alive(pg)
    assert results(c, "SELECT 'a' -- c\n'b'") == ([[b"ab"]], None)
    assert results(session(pw), "SELECT 'a' -- c\n'b' AS x, 'c--d'") == ([[b"ab", b"c--d"]], None)


def test_set_config_with_a_value_continued_past_a_comment_is_refused(pg, pgward_factory, tenant_db, map_file):
    """Goal: set another organization's context with a value the server continues past a --
    comment ('{<org>' -- c<newline>'}'), which pgward's parser alone could not parse."""
    pw = pgward_factory(**{"tenant.mode": "on", "tenant.source": "map", "tenant.map_file": map_file,
                           "tenant.signing_secret": SECRET})
    c = session(pw, "tenant", user=T_ALICE, password=PASSWORD)
    attack = "SELECT set_config('app.user_org_ids', '{%s' -- c\n'}', false)" % ORG_B
    err = results(c, attack)[1]
    assert err is not None and err[0] == "42501" and "tenant_context" in err[1], err
    assert results(c, "SELECT current_setting('app.user_org_ids')")[0] == [[("{%s}" % ORG_A).encode()]]
    fresh = session(pw, "tenant", user=T_ALICE, password=PASSWORD)
    assert results(fresh, "SELECT current_setting('app.user_org_ids')")[0] == [[("{%s}" % ORG_A).encode()]]


@pytest.mark.parametrize("attack", [
    "SELECT 1 WHERE 1 NOT /**/ IN (2); DROP TABLE tf_victim",
    "SELECT '2020-01-01'::timestamp WITH /**/ TIME ZONE; DROP TABLE tf_victim",
    "SELECT U&'!0061' /**/ UESCAPE '!'; DROP TABLE tf_victim",
    "SELECT 1 ORDER BY 1 NULLS -- c\nFIRST; DROP TABLE tf_victim",
])
def test_drop_after_a_comment_between_paired_words_is_refused(pg, pgward_factory, attack):
    """Goal: a comment where the grammar reads two words as a pair (NOT IN, WITH TIME ZONE,
    UESCAPE, NULLS FIRST) is whitespace to the server but a token to libpg_query, which then
    fails to parse the text; a text that fails to parse would be forwarded unread."""
    pg.execute(VICTIM)
    c = session(pgward_factory(**GUARD))
    err = results(c, attack)[1]
    assert err is not None and err[0] == "42501" and "(rule drop_table)" in err[1], (attack, err)
    assert victim_alive(pg)
    assert results(c, attack.split(";")[0])[1] is None  # the same statement alone runs


def test_setting_changed_by_a_portal_or_sql_from_a_string_is_not_guessed(pg, pgward_factory):
    """Goal: change standard_conforming_strings where pgward does not read a SET (a portal bound
    in one batch and run in the next; SQL run from a string) and pipeline the disguised DROP
    behind it. It must be refused (55000) or read as the server reads it, never passed."""
    pg.execute(VICTIM)
    pw = pgward_factory(**GUARD)
    attack = r"SELECT 'a\'' ; DROP TABLE tf_victim; -- '"
    c = session(pw)
    assert results(c, "BEGIN")[1] is None
    c.send(pgwire.parse("s1", "SET standard_conforming_strings = off"), pgwire.bind("p1", "s1"),
           pgwire.message("S", b""))
    c.recv_until("Z")
    c.send(pgwire.message("E", b"p1\0\0\0\0\0"), pgwire.message("S", b""), pgwire.query(attack))
    msgs = c.recv_until("Z") + c.recv_until("Z")
    assert [m.fields()["C"] for m in msgs if m.type == "E"] == ["55000"], msgs
    assert victim_alive(pg)
    c = session(pw)
    c.send(pgwire.query("SELECT query_to_xml('SELECT set_config(''standard_conforming_strings'', "
                        "''off'', false)', true, false, '')"), pgwire.query(attack))
    msgs = c.recv_until("Z") + c.recv_until("Z")
    assert [m.fields()["C"] for m in msgs if m.type == "E"] == ["55000"], msgs
    assert victim_alive(pg)


@pytest.mark.parametrize("hidden", [
    "SELECT query_to_xml('SELECT set'||'_config(''standard_conforming_strings'', ''off'', false)', "
    "true, false, '')",
    "SELECT query_to_xml(E'SELECT set\\137config(''standard_conforming_strings'', ''off'', false)', "
    "true, false, '')",
])
def test_sql_from_a_string_is_seen_without_guard_rules(pg, pgward_factory, hidden):
    """Goal: with no [guard] rule (the checks every role gets ask least of the text), turn
    standard_conforming_strings off through SQL run from a string whose set_config is never
    written whole, then write past a column limit behind a constant that reads differently
    with the setting off. It must be refused (55000) or read as the server reads it, in the
    same session and in a new one where the setting was changed the same way."""
    pg.execute("DROP TABLE IF EXISTS tf_notes; CREATE TABLE tf_notes (body text)")
    pw = pgward_factory(**{"limits.column_limits": "tf_notes.body: 10 chars"})
    attack = r"SELECT 'a\'' ; INSERT INTO tf_notes VALUES (repeat('x', 100)); -- '"
    for c in (session(pw), session(pw)):
        c.send(pgwire.query(hidden), pgwire.query(attack))
        msgs = c.recv_until("Z") + c.recv_until("Z")
        assert [m.fields()["C"] for m in msgs if m.type == "E"] == ["55000"], msgs
    assert pg.execute("SELECT count(*) FROM tf_notes") == [(0,)]


@pytest.mark.parametrize("definition", [
    "CREATE VIEW tf_v AS SELECT set_config('standard_conforming_strings', 'off', false) AS x",
    "CREATE TABLE tf_d (a text DEFAULT set_config('standard_conforming_strings', 'off', false), b int)",
    "PREPARE tf_p AS SELECT set_config('client_encoding', 'SJIS', false)",
])
def test_a_change_kept_for_later_is_refused(pg, pgward_factory, definition):
    """Goal: keep a set_config of a text setting in a view, a column default or a SQL-level
    PREPARE, then run it with the disguise pipelined behind, where pgward reads no set_config.
    Refused for every role when defined (text_form_unseen)."""
    c = session(pgward_factory(**{"guard.rules": "none"}))
    err = results(c, definition)[1]
    assert err is not None and err[0] == "42501" and "text_form_unseen" in err[1], err
    assert results(c, "SELECT set_config('standard_conforming_strings', 'off', false)")[1] is None
