"""One canonical view of the StartupMessage, and nothing of pgward's left on the server.

pgward reads a StartupMessage once, as PostgreSQL 15 reads it (ProcessStartupPacket: last
`user`/`database`/`options` wins, names cut to 63 bytes, `options` split by pg_split_opts
and walked like process_postgres_switches), makes every decision (tenant identity, trusted
roles, guard role rules, protected settings) on that view, and sends the server a packet
rebuilt from it. Each test here is an attacker trying to make pgward and PostgreSQL read
one packet differently; the docstrings state the attacker's goal. After every attempt the
tenant's context is checked where a session survives and in a new session: the context is
the tenant's and a row-level-security protected SELECT shows the tenant's rows only, with
and without [tenant] signing_secret.

The client_encoding / standard_conforming_strings cases set the setting by every spelling,
and a set_config disguised with it (a multibyte character hiding a quote, a backslash-quote
that escapes only with standard strings off) is still refused: pgward reads the text as the
server does.
"""

import struct

import psycopg2
import pytest

import pgwire
from conftest import ROOT, SUPERUSER, clean_env

ORG_A = "11111111-1111-4111-8111-111111111111"
ORG_B = "22222222-2222-4222-8222-222222222222"
ALICE_ID = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"
BOB_ID = "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb"
PASSWORD = "startup-view-secret"
SECRET = "0123456789abcdef-startup-view"
APP, ALICE, BOB = "sv_app", "sv_alice", "sv_bob"
# NOLOGIN, BYPASSRLS, and (by mistake) granted to alice: the role an attacker wants to become.
OWNER = "sv_rls_owner"
# Exactly 63 bytes: PostgreSQL cuts any longer name given at login to this.
LONG = ("sv_long_role_" + "x" * 63)[:63]
DB_PLAIN, DB_SIGNED = "sv_plain", "sv_signed"
SIGNING_SQL = ROOT / "conf" / "tenant" / "signing.sql"

ALICE_ROWS = "a1,a2"
BOB_ROWS = "b1"
ALL_ROWS = "a1,a2,b1"

# The context a session sees: organization ids, user id, and the rows RLS lets through.
CONTEXT_SQL = ("SELECT current_setting('app.user_org_ids', true), current_setting('app.user_id', true),"
               " (SELECT string_agg(body, ',' ORDER BY body) FROM sv_docs)")


# ---------------------------------------------------------------- raw startup packets


def _b(s):
    return s if isinstance(s, bytes) else s.encode()


def startup_packet(pairs, version=pgwire.PROTOCOL_3_0):
    """A StartupMessage with the (key, value) pairs in order, duplicates included."""
    body = struct.pack("!I", version)
    for k, v in pairs:
        body += _b(k) + b"\0" + _b(v) + b"\0"
    body += b"\0"
    return struct.pack("!I", len(body) + 4) + body


class Attempt:
    """What a client got for one StartupMessage: a session (ok) or the error that ended it."""

    def __init__(self, ok, conn=None, msgs=(), fields=None, why=None):
        self.ok = ok
        self.conn = conn
        self.msgs = list(msgs)
        self.fields = fields or {}
        self.why = why

    @property
    def sqlstate(self):
        return self.fields.get("C")

    @property
    def message(self):
        return self.fields.get("M", "")

    def __repr__(self):
        if self.ok:
            return "Attempt(ok)"
        return "Attempt(refused %s %s: %s %s)" % (self.fields.get("S"), self.sqlstate, self.message,
                                                   self.why or "")


def attempt(endpoint, pairs, password=PASSWORD, user=None, after=b"", timeout=10.0):
    """Sends <pairs> as a StartupMessage (and <after> right behind it), answers any password
    request with <password>, and returns an Attempt; the caller closes attempt.conn."""
    c = endpoint.raw(timeout)
    c.send(startup_packet(pairs) + after)
    if user is None:
        users = [v for k, v in pairs if k == "user"]
        user = users[-1] if users else ""
    try:
        msgs = c.finish_startup(_b(user).decode(errors="replace"), password)
    except pgwire.PgError as e:
        return Attempt(False, c, e.messages, e.fields)
    except pgwire.Closed as e:
        return Attempt(False, c, e.messages, why="closed: %s" % e)
    except AssertionError as e:  # a password was asked for and none given
        return Attempt(False, c, why=str(e))
    return Attempt(True, c, msgs)


def got_auth_request(msgs):
    return any(m.type == "R" for m in msgs)


def assert_refused(a, sqlstates, *names):
    """A FATAL with one of <sqlstates> whose message names every one of <names>
    (case-insensitively); no ReadyForQuery reached the client."""
    if isinstance(sqlstates, str):
        sqlstates = (sqlstates,)
    assert not a.ok, "pgward let the startup through; expected FATAL %s" % "/".join(sqlstates)
    assert a.fields, "no ErrorResponse before the connection ended (%s)" % a.why
    assert a.fields.get("S") == "FATAL", a.fields
    assert a.sqlstate in sqlstates, a.fields
    for n in names:
        assert n.lower() in a.message.lower(), "message does not name %r: %r" % (n, a.message)
    assert not any(m.type == "Z" for m in a.msgs)


# ---------------------------------------------------------------- the tenant setup


@pytest.fixture(scope="module")
def sv_db(pg):
    """Roles, and two databases with one RLS-protected table: sv_plain's policy reads
    app.user_org_ids, sv_signed's reads pgward.org_ids() (conf/tenant/signing.sql), which
    counts the ids only when pgward's signature verifies."""
    for role in (APP, ALICE, BOB, LONG):
        pg.execute('DROP ROLE IF EXISTS "%s"; CREATE ROLE "%s" LOGIN PASSWORD \'%s\'' % (role, role, PASSWORD))
    pg.execute("DROP ROLE IF EXISTS %s; CREATE ROLE %s NOLOGIN BYPASSRLS; GRANT %s TO %s"
               % (OWNER, OWNER, OWNER, ALICE))
    table = ("CREATE TABLE sv_docs (org uuid NOT NULL, body text NOT NULL);"
             "INSERT INTO sv_docs VALUES ('%s', 'a1'), ('%s', 'a2'), ('%s', 'b1');"
             "ALTER TABLE sv_docs ENABLE ROW LEVEL SECURITY;"
             "GRANT SELECT ON sv_docs TO PUBLIC;" % (ORG_A, ORG_A, ORG_B))
    for db in (DB_PLAIN, DB_SIGNED):
        pg.execute("DROP DATABASE IF EXISTS %s WITH (FORCE)" % db)
        pg.execute("CREATE DATABASE %s" % db)
    pg.execute(table + "CREATE POLICY tenant ON sv_docs USING "
               "(org = ANY (NULLIF(current_setting('app.user_org_ids', true), '')::uuid[]))", dbname=DB_PLAIN)
    pg.execute(SIGNING_SQL.read_text(), dbname=DB_SIGNED)
    pg.execute("INSERT INTO pgward.secret (secret) VALUES ('%s');" % SECRET + table +
               "CREATE POLICY tenant ON sv_docs USING (org = ANY ((SELECT pgward.org_ids())::uuid[]))",
               dbname=DB_SIGNED)
    return pg


class Setup:
    def __init__(self, pw, db, signed):
        self.pw, self.db, self.signed = pw, db, signed

    def pairs(self, user, *extra, database=None):
        return [("user", user), ("database", database or self.db)] + list(extra)

    def session(self, user=ALICE, *extra):
        a = attempt(self.pw, self.pairs(user, *extra))
        assert a.ok, a
        return a.conn

    def assert_alice(self, conn):
        assert conn.rows(CONTEXT_SQL) == [["{%s}" % ORG_A, ALICE, ALICE_ROWS]]

    def assert_alice_untouched(self, conn=None):
        """alice's context (and rows) in <conn> if a session survived, and in a new session."""
        if conn is not None:
            self.assert_alice(conn)
        fresh = self.session(ALICE)
        self.assert_alice(fresh)
        fresh.close()


def tenant_settings(map_file, signed, **kw):
    s = {"tenant.mode": "on", "tenant.source": "map", "tenant.map_file": map_file,
         "tenant.identity": "login_role", "tenant.trusted_roles": "%s, %s" % (APP, LONG),
         "guard.rules": "all"}
    if signed:
        s["tenant.signing_secret"] = SECRET
    s.update(kw)
    return s


@pytest.fixture
def map_file(tmp_path):
    p = tmp_path / "sv.map"
    p.write_text("%s = %s\n%s = %s\n%s = %s, %s\n%s = %s\n%s = %s\n%s = %s\n" % (
        ALICE, ORG_A, BOB, ORG_B, SUPERUSER, ORG_A, ORG_B, ALICE_ID, ORG_A, BOB_ID, ORG_B, LONG, ORG_B))
    return p


@pytest.fixture(params=["unsigned", "signed"])
def signed(request):
    return request.param == "signed"


@pytest.fixture
def setup(sv_db, pgward_factory, map_file, signed):
    pw = pgward_factory(**tenant_settings(map_file, signed))
    return Setup(pw, DB_SIGNED if signed else DB_PLAIN, signed)


def test_baseline_every_role_gets_its_context(setup):
    """Without any trick each role sees its own organization's rows (the checks below
    compare against this)."""
    setup.assert_alice_untouched()
    bob = setup.session(BOB)
    assert bob.rows(CONTEXT_SQL) == [["{%s}" % ORG_B, BOB, BOB_ROWS]]
    app = setup.session(APP, ("options", "-c app.user_id=" + BOB_ID))
    assert app.rows(CONTEXT_SQL) == [["{%s}" % ORG_B, BOB_ID, BOB_ROWS]]


# ---------------------------------------------------------------- a key given twice

DUPLICATE_KEYS = {
    # Goal: pgward judges the first user (the trusted application role, which may pass a
    # user id) while PostgreSQL logs in the last one: alice with bob's organizations.
    "user_trusted_then_alice": ("user", [("user", APP), ("options", "-c app.user_id=" + BOB_ID),
                                         ("user", ALICE)]),
    # Goal: pgward applies the superuser's rules (both organizations) to an alice session.
    "user_superuser_then_alice": ("user", [("user", SUPERUSER), ("user", ALICE)]),
    # Goal: pgward decides on one database (and its context), the session opens another.
    "database": ("database", [("user", ALICE), ("database", "postgres"), ("database", "{db}")]),
    # Goal: a logical replication session (refused in tenant mode) that pgward reads as an
    # ordinary one (the superuser may start walsenders).
    "replication": ("replication", [("user", SUPERUSER), ("replication", "false"),
                                    ("replication", "database")]),
    # Goal: a second options key that pgward does not read carries settings.
    "options": ("options", [("user", ALICE), ("options", "-c work_mem=1MB"),
                            ("options", "-c work_mem=2MB")]),
    "application_name": ("application_name", [("user", ALICE), ("application_name", "one"),
                                              ("application_name", "two")]),
}


@pytest.mark.parametrize("case", sorted(DUPLICATE_KEYS))
def test_duplicate_startup_key_refused(setup, case):
    """A key given twice is refused with 08P01 naming the key: PostgreSQL takes the last
    user, database and options, so any reader that takes the first can be lied to."""
    key, pairs = DUPLICATE_KEYS[case]
    pairs = [(k, v.format(db=setup.db)) for k, v in pairs]
    if not any(k == "database" for k, _ in pairs):
        pairs.insert(1, ("database", setup.db))
    a = attempt(setup.pw, pairs)
    assert_refused(a, "08P01", key)
    setup.assert_alice_untouched()


def test_identity_confusion_cannot_give_alice_bobs_context(setup, pg):
    """Goal: log in as alice while the trusted role's user id option names bob, so alice's
    session runs with bob's organizations. PostgreSQL itself would log in alice (the last
    user key); pgward refuses the packet, and alice's next session is alice's."""
    pairs = [("user", APP), ("database", setup.db), ("options", "-c app.user_id=" + BOB_ID),
             ("user", ALICE)]
    # Directly, PostgreSQL logs in the last user and would apply the option as a setting.
    direct = attempt(pg, pairs)
    assert direct.ok, direct
    assert direct.conn.rows("SELECT current_user, current_setting('app.user_id')") == [[ALICE, BOB_ID]]
    direct.conn.close()
    a = attempt(setup.pw, pairs)
    assert_refused(a, "08P01", "user")
    setup.assert_alice_untouched()


# ---------------------------------------------------------------- a setting given twice

DUPLICATE_SETTINGS = {
    "key_and_option": ("work_mem", [("work_mem", "1MB"), ("options", "-c work_mem=2MB")]),
    "two_c": ("work_mem", [("options", "-c work_mem=1MB -c work_mem=2MB")]),
    "c_and_dashdash": ("work_mem", [("options", "-cwork_mem=1MB --work-mem=2MB")]),
    "case_of_keys": ("client_encoding", [("client_encoding", "UTF8"), ("Client_Encoding", "UTF8")]),
    "case_key_and_option": ("datestyle", [("DateStyle", "ISO"), ("options", "-c datestyle=German")]),
    "escaped_name": ("search_path", [("search_path", "public"), ("options", r"-c search\_path=sv")]),
}


@pytest.mark.parametrize("case", sorted(DUPLICATE_SETTINGS))
def test_same_setting_twice_refused(setup, case):
    """Goal: make pgward check one value of a setting while the server applies another (the
    server applies options first, then packet keys, the last one winning). Any route,
    spelling or case twice is refused with 08P01 naming the setting."""
    name, extra = DUPLICATE_SETTINGS[case]
    a = attempt(setup.pw, setup.pairs(ALICE, *extra))
    assert_refused(a, "08P01", name)
    setup.assert_alice_untouched()


# ---------------------------------------------------------------- switches other than -c / --

OTHER_SWITCHES = {
    # -e sets DateStyle to European, -S sets work_mem: settings a reader of -c alone misses.
    "e": ("-e", "-e"),
    "S": ("-S 1MB", "-S"),
    "B": ("-B 10", "-B"),
    "bare_word": ("-c work_mem=1MB bareword", "bareword"),
    "after_c": ("-c work_mem=1MB -e", "-e"),
    "cluster": ("-ec work_mem=1MB", "-e"),
}


@pytest.mark.parametrize("case", sorted(OTHER_SWITCHES))
def test_other_switches_refused_before_the_server(setup, case):
    """Goal: change a setting through a server switch pgward does not interpret (-e, -S, ...)
    or slip a word past its reader. Refused with a FATAL naming the switch (0A000, or 42601
    as PostgreSQL refuses a bare word), before any server session: the client never sees an
    authentication request."""
    options, named = OTHER_SWITCHES[case]
    a = attempt(setup.pw, setup.pairs(ALICE, ("options", options)))
    assert_refused(a, ("0A000", "42601"), named)
    assert not got_auth_request(a.msgs), a.msgs
    setup.assert_alice_untouched()


# ---------------------------------------------------------------- protected names, any spelling

PAD = " " * 2000
SPOOF_ORGS = "{%s}" % ORG_B
PROTECTED = {
    "key": [("app.user_org_ids", SPOOF_ORGS)],
    "key_upper": [("APP.USER_ORG_IDS", SPOOF_ORGS)],
    "c": [("options", "-c app.user_org_ids=" + SPOOF_ORGS)],
    "c_joined": [("options", "-capp.user_org_ids=" + SPOOF_ORGS)],
    "dashdash": [("options", "--app.user-org-ids=" + SPOOF_ORGS)],
    "escaped": [("options", r"-c app.user\_org\_ids=" + SPOOF_ORGS)],
    "escaped_every_byte": [("options", "-c " + "".join("\\" + ch for ch in "app.user_org_ids") + "=" + SPOOF_ORGS)],
    "upper": [("options", "-c APP.USER_ORG_IDS=" + SPOOF_ORGS)],
    "newline_after_c": [("options", "-c\napp.user_org_ids=" + SPOOF_ORGS)],
    "vtab_after_c": [("options", "-c\x0bapp.user_org_ids=" + SPOOF_ORGS)],
    "padding": [("options", PAD + "-c app.user_org_ids=" + SPOOF_ORGS)],
    "padding_between": [("options", "-c work_mem=1MB" + PAD + "\t-c app.user_org_ids=" + SPOOF_ORGS)],
    "second_options_key": [("options", "-c work_mem=1MB"), ("options", "-c app.user_org_ids=" + SPOOF_ORGS)],
    "signature_key": [("app.tenant_sig", "0" * 64)],
    "signature_c": [("options", "-c app.tenant_sig=" + "0" * 64)],
    "signature_escaped": [("options", r"-c app.tenant\_sig=" + "0" * 64)],
}


@pytest.mark.parametrize("case", sorted(PROTECTED))
def test_protected_setting_refused_by_any_spelling(setup, case):
    """Goal: set alice's organization ids (or a signature) in the startup packet, spelled so
    that a reader other than PostgreSQL's misses it: case, escapes, switches glued or
    separated by odd whitespace, 2,000 bytes of padding, a second options key. Refused
    42501 naming the setting (a second options key may be refused as a duplicate key)."""
    extra = PROTECTED[case]
    name = "app.tenant_sig" if case.startswith("signature") else "app.user_org_ids"
    a = attempt(setup.pw, setup.pairs(ALICE, *extra))
    if case == "second_options_key":
        assert_refused(a, ("42501", "08P01"))
        assert name in a.message or "options" in a.message, a.message
    else:
        assert_refused(a, "42501", name)
    setup.assert_alice_untouched()


USER_ID = {
    # alice is not a trusted role: her user id option is refused however it is spelled.
    "untrusted_c": (ALICE, [("options", "-c app.user_id=" + BOB_ID)]),
    "untrusted_escaped": (ALICE, [("options", r"-c app.user\_id=" + BOB_ID)]),
    "untrusted_upper_dashdash": (ALICE, [("options", "--APP.USER-ID=" + BOB_ID)]),
    "untrusted_newline": (ALICE, [("options", "-c\napp.user_id=" + BOB_ID)]),
    "untrusted_key": (ALICE, [("app.user_id", BOB_ID)]),
    # the trusted role passes it once: twice, by any two routes, is refused.
    "trusted_twice": (APP, [("options", "-c app.user_id=%s -c app.user_id=%s" % (ALICE_ID, BOB_ID))]),
    "trusted_option_and_key": (APP, [("options", "-c app.user_id=" + ALICE_ID), ("app.user_id", BOB_ID)]),
    "trusted_second_options_key": (APP, [("options", "-c app.user_id=" + ALICE_ID),
                                         ("options", "-c app.user_id=" + BOB_ID)]),
}


@pytest.mark.parametrize("case", sorted(USER_ID))
def test_user_id_setting_only_from_a_trusted_role_once(setup, case):
    """Goal: choose the tenant identity: alice names bob's user id, or the trusted role
    passes two ids hoping pgward checks one and the server keeps the other. Refused (28000
    for an untrusted role's user id, 42501 for a protected name, 08P01 for a repetition)."""
    user, extra = USER_ID[case]
    a = attempt(setup.pw, setup.pairs(user, *extra))
    assert_refused(a, ("28000", "42501", "08P01"))
    setup.assert_alice_untouched()


def test_trusted_role_user_id_as_a_packet_key(setup):
    """Goal: the trusted role passes the user id as a packet key instead of in options,
    hoping pgward misses it and the server keeps it next to an identity of pgward's choice.
    Either refused, or taken as the identity exactly as -c app.user_id is: bob's context,
    bob's rows, and the server never sees a second value."""
    a = attempt(setup.pw, setup.pairs(APP, ("app.user_id", BOB_ID)))
    if a.ok:
        assert a.conn.rows(CONTEXT_SQL) == [["{%s}" % ORG_B, BOB_ID, BOB_ROWS]]
    else:
        assert_refused(a, ("28000", "42501"))
    setup.assert_alice_untouched()


# ---------------------------------------------------------------- role, session_authorization, row_security

ROLE_SETTINGS = {
    "c_role": (ALICE, [("options", "-c role=" + OWNER)], "set_role"),
    "dashdash_role": (ALICE, [("options", "--role=" + OWNER)], "set_role"),
    "c_role_upper": (ALICE, [("options", "-c ROLE=" + OWNER)], "set_role"),
    "key_role": (ALICE, [("role", OWNER)], "set_role"),
    "key_role_case": (ALICE, [("Role", OWNER)], "set_role"),
    "c_role_newline": (ALICE, [("options", "-c\nrole=" + OWNER)], "set_role"),
    "session_authorization": (SUPERUSER, [("options", "-c session_authorization=" + BOB)], "set_role"),
    "key_session_authorization": (SUPERUSER, [("session_authorization", BOB)], "set_role"),
    "row_security": (ALICE, [("options", "-c row_security=off")], "row_security_off"),
    "key_row_security": (ALICE, [("row_security", "0")], "row_security_off"),
}


@pytest.mark.parametrize("case", sorted(ROLE_SETTINGS))
def test_role_changing_settings_refused_like_set_role(setup, pg, case):
    """Goal: become another role at startup, which SET ROLE would not be allowed to do for
    a guarded role: alice becomes the BYPASSRLS role she was granted by mistake and reads
    every organization's rows (PostgreSQL accepts -c role directly, shown first). Through
    pgward these are refused 42501 with the guard's rule, as SET ROLE, SET SESSION
    AUTHORIZATION and SET row_security are. (PostgreSQL 15 accepts session_authorization at
    startup but leaves it at the login role, which sets it from a higher-priority source;
    pgward refuses it all the same.)"""
    user, extra, rule = ROLE_SETTINGS[case]
    direct = attempt(pg, [("user", user), ("database", setup.db)] + extra)
    assert direct.ok, direct
    if "role" in case:
        assert direct.conn.scalar("SELECT current_user") == OWNER
        assert direct.conn.scalar("SELECT string_agg(body, ',' ORDER BY body) FROM sv_docs") == ALL_ROWS
    direct.conn.close()
    a = attempt(setup.pw, setup.pairs(user, *extra))
    assert_refused(a, "42501", "(rule %s)" % rule)
    setup.assert_alice_untouched()


# ---------------------------------------------------------------- settings that change lexing

LEXING = {
    "scs_escaped": ("standard_conforming_strings", [("options", r"-c standard\_conforming_strings=off")]),
    "scs_newline": ("standard_conforming_strings", [("options", "-c\nstandard_conforming_strings=off")]),
    "scs_formfeed": ("standard_conforming_strings", [("options", "-c\x0cstandard_conforming_strings=off")]),
    "scs_prefix_of_false": ("standard_conforming_strings", [("options", "-c standard_conforming_strings=fal")]),
    "scs_of": ("standard_conforming_strings", [("options", "-c standard_conforming_strings=of")]),
    "scs_zero_key": ("standard_conforming_strings", [("standard_conforming_strings", "0")]),
    "scs_key_case": ("standard_conforming_strings", [("Standard_Conforming_Strings", "no")]),
    "scs_padding": ("standard_conforming_strings",
                    [("options", " " * 1100 + "-c standard_conforming_strings=off")]),
    "scs_second_options": ("standard_conforming_strings",
                           [("options", "-c work_mem=1MB"), ("options", "-c standard_conforming_strings=off")]),
    "enc_escaped": ("client_encoding", [("options", r"-c client\_encoding=SJIS")]),
    "enc_newline": ("client_encoding", [("options", "-c\nclient_encoding=SJIS")]),
    "enc_dashdash": ("client_encoding", [("options", "--client-encoding=BIG5")]),
    "enc_joined_upper": ("client_encoding", [("options", "-cCLIENT_ENCODING=sjis")]),
    "enc_key_case": ("client_encoding", [("Client_Encoding", "SJIS")]),
    "enc_padding": ("client_encoding",
                    [("options", "-c work_mem=1MB" + "\t" * 1100 + "-c client_encoding=SJIS")]),
    "enc_second_options": ("client_encoding",
                           [("options", "-c work_mem=1MB"), ("options", "-c client_encoding=SJIS")]),
}
# a character whose second byte is 0x5C, a backslash to a reader that ignores the encoding
BACKSLASH_CHAR = {"SJIS": b"\x95\x5c", "BIG5": b"\xa5\x5c"}
FORGE = b"SELECT set_config('app.user_org_ids', '{%s}', false)" % ORG_B.encode()


@pytest.mark.parametrize("case", sorted(LEXING))
def test_lexing_settings_by_any_spelling_hide_nothing(setup, case):
    """Goal: make the server lex SQL differently from pgward's parser (a multi-byte client
    encoding whose second byte is a backslash, backslash escapes in plain strings) so that a
    set_config of the tenant context passes as a string literal. Every spelling that the
    server accepts is followed (a second options key is refused as a duplicate; 'of' and 'fal'
    read as off, as in parse_bool), and the disguised set_config is refused with 42501."""
    name, extra = LEXING[case]
    a = attempt(setup.pw, setup.pairs(ALICE, *extra))
    if case.endswith("second_options"):
        assert_refused(a, ("08P01",))
        return setup.assert_alice_untouched()
    assert a.ok, a
    c = a.conn
    if name == "standard_conforming_strings":
        assert c.scalar("SHOW standard_conforming_strings") == "off"
        disguised = b"SELECT 'a\\' , ' ; " + FORGE + b"; --'"
    else:
        enc = c.scalar("SHOW client_encoding")
        assert enc in BACKSLASH_CHAR, enc
        disguised = b"SELECT E'" + BACKSLASH_CHAR[enc] + b"', 1; " + FORGE + b"; --'"
    msgs = c.simple(disguised)
    errors = [m.fields() for m in msgs if m.type == "E"]
    assert errors and errors[0]["C"] == "42501" and "tenant_context" in errors[0]["M"], errors
    setup.assert_alice_untouched(c)
    c.close()


# ---------------------------------------------------------------- startup keys named as settings

@pytest.mark.parametrize("name", ["user", "database", "options", "replication", "USER"])
def test_option_named_like_a_startup_key(setup, pg, name):
    """Goal: an options setting named like a startup key (-c user=postgres) that PostgreSQL
    refuses as an unknown setting, but that a proxy rebuilding the packet could turn into a
    real key and log in as someone else. PostgreSQL refuses it directly; so must pgward."""
    value = {"user": SUPERUSER, "USER": SUPERUSER, "database": "postgres", "replication": "database",
             "options": r"-c\ app.user_org_ids=" + SPOOF_ORGS}[name]
    extra = ("options", "-c %s=%s" % (name, value))
    direct = attempt(pg, [("user", ALICE), ("database", setup.db), extra])
    assert not direct.ok, "PostgreSQL accepted -c %s" % name
    a = attempt(setup.pw, setup.pairs(ALICE, extra))
    assert not a.ok, "pgward let -c %s=%s through" % (name, value)
    setup.assert_alice_untouched()


def test_option_named_like_a_protocol_option(setup, pg):
    """Goal: -c _pq_.x=1 is an ordinary (placeholder) setting for PostgreSQL; rebuilt as a
    packet key it would become a protocol option instead. Either refused, or the server
    applies it as the setting it is, as directly."""
    extra = ("options", "-c _pq_.sv_flag=1")
    direct = attempt(pg, [("user", ALICE), ("database", setup.db), extra])
    assert direct.ok, direct
    assert direct.conn.scalar("SELECT current_setting('_pq_.sv_flag')") == "1"
    assert not [m for m in direct.msgs if m.type == "v"]
    a = attempt(setup.pw, setup.pairs(ALICE, extra))
    if a.ok:
        assert a.conn.scalar("SELECT current_setting('_pq_.sv_flag', true)") == "1"
        assert not [m for m in a.msgs if m.type == "v"], "a setting came back as a protocol option"
        setup.assert_alice_untouched(a.conn)
    else:
        setup.assert_alice_untouched()


# ---------------------------------------------------------------- the server gets the view

def observe(conn, names):
    cols = ", ".join("current_setting('%s')" % n for n in names)
    return conn.rows("SELECT current_user, current_database(), " + cols)[0]


REBUILT = [
    # (user, options, packet keys)
    (APP, "-c application_name=x\\ y  -c app.user_id=%s\t--statement-timeout=5s -cwork_mem=3MB" % ALICE_ID,
     [("search_path", "sv, public"), ("DateStyle", "German")]),
    (APP, "\n\n-c app.user_id=%s" % ALICE_ID, [("application_name", "only the id option")]),
    (ALICE, "--application-name=back\\\\slash\\ and\\ spaces -c extra_float_digits=2",
     [("TimeZone", "Europe/Paris"), ("IntervalStyle", "iso_8601")]),
    (ALICE, None, [("work_mem", "5MB"), ("sv.custom", "kept")]),
]


@pytest.mark.parametrize("i", range(len(REBUILT)))
def test_server_gets_what_the_client_asked(setup, pg, i):
    """The packet pgward sends is rebuilt from its view: every setting arrives with its value
    (escapes, odd whitespace and --name spellings included), the trusted role's user id
    option is taken out and nothing else. What PostgreSQL reports through pgward equals
    what it reports for the same packet directly (without the user id option)."""
    user, options, keys = REBUILT[i]
    names = [k for k, _ in keys] + ["application_name", "work_mem", "statement_timeout",
                                    "extra_float_digits"]
    pairs = [("user", user), ("database", setup.db)] + keys
    a = attempt(setup.pw, pairs + ([("options", options)] if options is not None else []))
    assert a.ok, a
    direct_options = options.replace("-c app.user_id=%s" % ALICE_ID, "") if options else None
    d = attempt(pg, pairs + ([("options", direct_options)] if direct_options is not None else []))
    assert d.ok, d
    want = observe(d.conn, names)
    assert want[:2] == [user, setup.db]
    assert observe(a.conn, names) == want
    if options and "application_name=x" in options:
        assert want[2:] == ["sv, public", "German, DMY", "x y", "3MB", "5s", "1"]
    if options and "back" in options:
        assert a.conn.scalar("SHOW application_name") == "back\\slash and spaces"
    # alice's or the trusted role's user id: alice's context either way
    ctx = a.conn.rows(CONTEXT_SQL)[0]
    assert ctx[0] == "{%s}" % ORG_A and ctx[2] == ALICE_ROWS
    assert ctx[1] == (ALICE_ID if user == APP else ALICE)


def test_libpq_clients(setup):
    """The same view through libpq: psql with PGOPTIONS and psycopg2's options. Settings
    spelled with escapes and --name reach the server; a protected name hidden by escapes,
    and a role switch, are refused with the FATAL the client prints."""
    ok = setup.pw.psql("-c", "SELECT current_setting('work_mem'), current_setting('statement_timeout'),"
                       " current_setting('search_path'), current_setting('app.user_org_ids')",
                       user=ALICE, dbname=setup.db, dsn_extra={"password": PASSWORD},
                       env=clean_env(PGOPTIONS=r"-c work\_mem=3MB --statement-timeout=5s -c search_path=a,\ b"))
    assert ok.stdout.decode().strip() == "3MB|5s|a, b|{%s}" % ORG_A
    # psql sends application_name itself (its fallback name): the same setting in PGOPTIONS
    # is that setting twice. PostgreSQL would apply the option, then the key over it.
    twice = setup.pw.psql("-c", "SELECT 1", user=ALICE, dbname=setup.db, dsn_extra={"password": PASSWORD},
                          env=clean_env(PGOPTIONS="-c application_name=mine"), check=False)
    err = twice.stderr.decode()
    assert twice.returncode != 0 and "application_name" in err and "more than once" in err, err
    bad = setup.pw.psql("-c", "SELECT 1", user=ALICE, dbname=setup.db, dsn_extra={"password": PASSWORD},
                        env=clean_env(PGOPTIONS=r"-c app.user\_org\_ids=" + SPOOF_ORGS), check=False)
    err = bad.stderr.decode()
    assert bad.returncode != 0 and "FATAL" in err and "app.user_org_ids" in err, err
    with pytest.raises(psycopg2.OperationalError) as e:
        setup.pw.connect(ALICE, setup.db, password=PASSWORD, options="-c role=" + OWNER)
    assert "(rule set_role)" in str(e.value), str(e.value)
    conn = setup.pw.connect(ALICE, setup.db, password=PASSWORD, options="-c work_mem=6MB")
    with conn.cursor() as cur:
        cur.execute(CONTEXT_SQL + ", current_setting('work_mem')")
        assert cur.fetchone() == ("{%s}" % ORG_A, ALICE, ALICE_ROWS, "6MB")


# ---------------------------------------------------------------- names longer than 63 bytes

def test_long_user_name_identity_and_trust_use_the_cut_name(sv_db, pgward_factory, map_file, signed):
    """Goal: send a role name longer than 63 bytes so that pgward decides on the whole name
    while PostgreSQL logs in the role named by its first 63 bytes. The identity (map entry
    of the 63-byte role) and trusted_roles (which lists the 63-byte role) must follow the
    role PostgreSQL logs in as."""
    pw = pgward_factory(**tenant_settings(map_file, signed))
    db = DB_SIGNED if signed else DB_PLAIN
    for tail in ("", "_and_more", "z" * 40):
        a = attempt(pw, [("user", LONG + tail), ("database", db)])
        assert a.ok, (tail, a)
        assert a.conn.rows("SELECT current_user")[0][0] == LONG
        assert a.conn.rows(CONTEXT_SQL) == [["{%s}" % ORG_B, LONG, BOB_ROWS]], tail
        # trusted: the 63-byte role is listed in trusted_roles
        t = attempt(pw, [("user", LONG + tail), ("database", db), ("options", "-c app.user_id=" + ALICE_ID)])
        assert t.ok, (tail, t)
        assert t.conn.rows(CONTEXT_SQL) == [["{%s}" % ORG_A, ALICE_ID, ALICE_ROWS]], tail
    Setup(pw, db, signed).assert_alice_untouched()


@pytest.mark.parametrize("rules, role_rules, refused", [
    ("none", "all", True),    # the 63-byte role is guarded: the long spelling must be too
    ("all", "none", False),   # the 63-byte role is exempt: the long spelling is that role
])
def test_long_user_name_guard_rules_use_the_cut_name(sv_db, pgward_factory, map_file, signed, rules,
                                                     role_rules, refused):
    """Goal: escape the guard's role_rules entry of a 63-byte role by logging in with that
    name plus extra bytes (PostgreSQL cuts it and logs in the same role). The decision must
    be the one for the role PostgreSQL reports as current_user, both ways."""
    pw = pgward_factory(**tenant_settings(map_file, signed, **{
        "guard.rules": rules, "guard.role_rules": "%s: %s" % (LONG, role_rules)}))
    db = DB_SIGNED if signed else DB_PLAIN
    for tail in ("", "_overflow"):
        a = attempt(pw, [("user", LONG + tail), ("database", db)])
        assert a.ok, a
        assert a.conn.scalar("SELECT current_user") == LONG
        assert [m.type for m in a.conn.simple("CREATE TEMP TABLE sv_tmp (x int)") if m.type == "E"] == []
        msgs = a.conn.simple("DELETE FROM sv_tmp")
        errors = [m.fields() for m in msgs if m.type == "E"]
        if refused:
            assert len(errors) == 1 and errors[0]["C"] == "42501", (tail, errors)
            assert "(rule delete_without_where)" in errors[0]["M"]
        else:
            assert errors == [], (tail, errors)
            assert [m.command_tag() for m in msgs if m.type == "C"] == ["DELETE 0"]
        assert a.conn.rows(CONTEXT_SQL) == [["{%s}" % ORG_B, LONG, BOB_ROWS]]


# ---------------------------------------------------------------- nothing of pgward's left on the server

def first_messages(kind, signed):
    own = ["app.user_org_ids", SPOOF_ORGS, "app.user_id", BOB_ID]
    if signed:
        own += ["app.tenant_sig", "0" * 64]
    return {
        "bind": pgwire.bind("", "") + pgwire.execute() + pgwire.sync(),
        "bind_own_values": pgwire.bind("", "", own) + pgwire.execute() + pgwire.sync(),
        "describe_statement": pgwire.describe("S", "") + pgwire.sync(),
        "execute_portal": pgwire.execute() + pgwire.sync(),
        "describe_portal": pgwire.describe("P", "") + pgwire.sync(),
    }[kind]


FIRST = ["bind", "bind_own_values", "describe_statement", "execute_portal", "describe_portal"]


@pytest.mark.parametrize("kind", FIRST)
def test_first_message_finds_no_statement_of_pgwards(setup, pg, kind):
    """Goal: reuse the unnamed statement (or portal) pgward prepared to set the context,
    as the client's first message, re-running set_config with the client's own values.
    The client gets exactly what a fresh PostgreSQL session answers (26000 "unnamed
    prepared statement does not exist" for the statement), and the context is unchanged."""
    msgs = first_messages(kind, setup.signed)
    d = setup.pairs(ALICE)
    direct = attempt(pg, d)
    assert direct.ok
    direct.conn.send(msgs)
    want = [(m.type, m.fields().get("C"), m.fields().get("M")) if m.type == "E" else (m.type,)
            for m in direct.conn.recv_until("Z")]
    if kind.startswith("bind") or kind == "describe_statement":
        assert ("E", "26000", "unnamed prepared statement does not exist") in want, want
    c = setup.session(ALICE)
    c.send(msgs)
    got = [(m.type, m.fields().get("C"), m.fields().get("M")) if m.type == "E" else (m.type,)
           for m in c.recv_until("Z")]
    assert got == want
    setup.assert_alice_untouched(c)


@pytest.mark.parametrize("kind", ["bind_own_values", "describe_statement"])
def test_pipelined_first_message_finds_no_statement_of_pgwards(setup, kind):
    """The same, with the Bind sent in the same write as the StartupMessage (trust login):
    it waits for the context and still finds nothing of pgward's."""
    a = attempt(setup.pw, setup.pairs(SUPERUSER), after=first_messages(kind, setup.signed))
    assert a.ok, a
    msgs = a.conn.recv_until("Z")
    errors = [m.fields() for m in msgs if m.type == "E"]
    assert [(f["C"], f["M"]) for f in errors] == [("26000", "unnamed prepared statement does not exist")]
    assert a.conn.rows("SELECT current_setting('app.user_org_ids'), current_setting('app.user_id')") == \
        [["{%s,%s}" % (ORG_A, ORG_B), SUPERUSER]]
    setup.assert_alice_untouched()
