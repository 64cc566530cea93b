"""The attacker's goals against pgward's own authentication, each tried with raw protocol
messages (pgwire.py, authkit.ScramClient) and then checked where it could have left a trace:
in the connection the attacker used (it must be closed, or be the attacker's own role) and in a
new session (nothing ran, the role's login still works, the server saw nothing). Where
PostgreSQL has the same case, its answer to the same bytes is the expectation (differential).

The server leg is checked against a fake server (authkit.FakeScramServer) that records what
pgward sends it: SCRAM-SHA-256-PLUS bound to the server's certificate, a valid proof, the
downgrade flag, and a forged server signature refused.
"""

import re
import struct

import pytest

import authkit
import pgwire
from authkit import (ATTACKER_PASSWORD, ATTACKER_USER, EXPIRED_PASSWORD, EXPIRED_USER, TRUST_PASSWORD,
                     TRUST_USER, ScramClient, fields_of)
from conftest import MD5_USER, SCRAM_PASSWORD, SCRAM_USER, SUPERUSER

HBA = """\
host all auth_trust  127.0.0.1/32 trust
host all md5_user    127.0.0.1/32 md5
host all auth_expired 127.0.0.1/32 password
host all all         127.0.0.1/32 scram-sha-256
"""


@pytest.fixture(scope="module")
def roles(pg):
    return authkit.ensure_roles(pg)


@pytest.fixture
def target(pgward_factory, tls, tmp_path, roles):
    """pgward with hba rules like the server's, client TLS offered, a TLS server leg."""
    hba = tmp_path / "pg_hba.conf"
    hba.write_text(HBA)
    ul = authkit.write_userlist(tmp_path / "userlist.txt", {TRUST_USER: TRUST_PASSWORD})
    return pgward_factory(auth_type="hba", auth_hba_file=hba, auth_file=ul, auth_user=SUPERUSER,
                          client_tls_sslmode="prefer", client_tls_cert_file=tls.server_cert,
                          client_tls_key_file=tls.server_key, server_tls_sslmode="require",
                          auth_failure_limit=0)


def ends_with_error(c):
    """The ErrorResponse a connection ends with (AssertionError if it logs in or stays open)."""
    msgs = []
    while True:
        try:
            m = c.recv_msg(timeout=10)
        except pgwire.Closed:
            raise AssertionError("closed without an ErrorResponse after %r" % msgs)
        msgs.append(m)
        assert not (m.type == "R" and m.auth_code() == pgwire.AUTH_OK), "logged in: %r" % msgs
        assert m.type not in "CDTZ", "something ran: %r" % msgs
        if m.type == "E":
            break
    assert c.wait_closed(5), "still open after %r" % msgs
    assert not [m for m in c.trailing if m.type in "CDTZ"], c.trailing
    return msgs[-1].fields()


def still_works(endpoint, user=SCRAM_USER, password=SCRAM_PASSWORD):
    c = endpoint.raw()
    c.startup(user, "postgres", password=password)
    assert c.rows("SELECT session_user, current_user") == [[user, user]]
    c.close()


# ---------------------------------------------------------------- SCRAM


def scram_messages(endpoint, user, password):
    """A full SCRAM login; returns (client-first, server-first, client-final) as sent."""
    c = endpoint.raw()
    scram = ScramClient(password)
    authkit.scram_login(c, user, scram)
    first = scram.client_first()
    final = scram.client_final(scram.server_first.encode())  # the same bytes it sent
    c.close()
    return first, scram.server_first, final


def replay(endpoint, user, first, final):
    c = endpoint.raw()
    c.send(pgwire.startup_message({"user": user, "database": "postgres"}))
    assert authkit.read_auth_request(c).auth_code() == pgwire.AUTH_SASL
    c.send(pgwire.sasl_initial_response("SCRAM-SHA-256", first))
    server_first = authkit.read_auth_request(c).body[4:].decode()
    c.send(pgwire.sasl_response(final))
    return server_first, ends_with_error(c)


def test_replayed_scram_exchange_fails(pg, target):
    """Goal: log in as scram_user without its password by replaying a captured SCRAM exchange."""
    results = {}
    for name, endpoint in (("direct", pg), ("pgward", target)):
        first, server_first, final = scram_messages(endpoint, SCRAM_USER, SCRAM_PASSWORD)
        # a new connection, both messages replayed: the server's nonce is new
        new_first, f = replay(endpoint, SCRAM_USER, first, final)
        assert new_first != server_first
        results[name] = fields_of(f)
        # inside an exchange of the attacker's own (fresh client-first), the captured final
        _, f2 = replay(endpoint, SCRAM_USER, ScramClient("anything").client_first(), final)
        assert fields_of(f2) == results[name]
        still_works(endpoint)
    assert results["pgward"] == results["direct"]
    assert (results["pgward"]["C"], results["pgward"]["M"]) == ("08P01", "invalid SCRAM response")


def test_scram_authname_cannot_pick_the_role(pg, target):
    """Goal: log in as another role by naming it in the SCRAM n= attribute."""
    for endpoint in (pg, target):
        # n= names the victim, the proof is the attacker's: the startup user counts
        c = endpoint.raw()
        authkit.scram_login(c, ATTACKER_USER, ScramClient(ATTACKER_PASSWORD, authname=SCRAM_USER))
        assert c.rows("SELECT session_user, current_user") == [[ATTACKER_USER, ATTACKER_USER]]
        c.close()
        # the victim as startup user, the attacker named in n= with the attacker's password
        c = endpoint.raw()
        with pytest.raises(pgwire.PgError) as e:
            authkit.scram_login(c, SCRAM_USER, ScramClient(ATTACKER_PASSWORD, authname=ATTACKER_USER))
        assert (e.value.sqlstate, e.value.message) == ("28P01", 'password authentication failed for user "scram_user"')
        assert c.wait_closed(5)
        still_works(endpoint)


MALFORMED_FIRST = {
    "empty nonce": b"n,,n=,r=",
    "unknown flag": b"x,,n=,r=abc",
    "authzid": b"n,a=other,n=,r=abc",
    "extension": b"n,,m=ext,n=,r=abc",
    "missing nonce": b"n,,n=",
    "flag without comma": b"n;n=,r=abc",
    "bad attribute": b"n,,n=,r=abc,1=x",
    "plus data on plain": b"p=tls-server-end-point,,n=,r=abc",
}


@pytest.mark.parametrize("case", list(MALFORMED_FIRST))
def test_malformed_client_first_as_postgresql(pg, target, case):
    """Goal: confuse the SCRAM parser with a malformed client-first; the answer is PostgreSQL's."""
    got = {}
    for name, endpoint in (("direct", pg), ("pgward", target)):
        c = endpoint.raw()
        c.send(pgwire.startup_message({"user": SCRAM_USER, "database": "postgres"}))
        assert authkit.read_auth_request(c).auth_code() == pgwire.AUTH_SASL
        c.send(pgwire.sasl_initial_response("SCRAM-SHA-256", MALFORMED_FIRST[case]))
        try:
            m = c.recv_msg()
        except pgwire.Closed:
            m = None
        if m is not None and m.type == "R":
            # accepted as well formed: the exchange goes on and fails at the proof
            assert m.auth_code() == pgwire.AUTH_SASL_CONTINUE
            c.send(pgwire.sasl_response(b"c=biws,r=x,p=AAAA"))
            got[name] = fields_of(ends_with_error(c))
        else:
            assert m is not None and m.type == "E", m
            assert c.wait_closed(5)
            got[name] = fields_of(m.fields())
    assert got["pgward"] == got["direct"]


def test_sasl_client_first_in_a_later_message(pg, target):
    """SASLInitialResponse without data, client-first in the next SASLResponse: PostgreSQL logs in; pgward too."""
    got = {}
    for name, endpoint in (("direct", pg), ("pgward", target)):
        c = endpoint.raw()
        c.send(pgwire.startup_message({"user": SCRAM_USER, "database": "postgres"}))
        assert authkit.read_auth_request(c).auth_code() == pgwire.AUTH_SASL
        c.send(pgwire.message("p", b"SCRAM-SHA-256\0" + struct.pack("!i", -1)))
        try:
            m = authkit.read_auth_request(c)
            assert (m.auth_code(), m.body[4:]) == (pgwire.AUTH_SASL_CONTINUE, b"")
            scram = ScramClient(SCRAM_PASSWORD)
            c.send(pgwire.sasl_response(scram.client_first()))
            m = authkit.read_auth_request(c)
            c.send(pgwire.sasl_response(scram.client_final(m.body[4:])))
            m = authkit.read_auth_request(c)
            assert scram.verify_server_final(m.body[4:])
            c.recv_until("Z")
            got[name] = c.scalar("SELECT session_user")
        except pgwire.PgError as e:
            got[name] = fields_of(e.fields)
    assert got == {"direct": SCRAM_USER, "pgward": SCRAM_USER}


def test_unterminated_password_packet_as_postgresql(pg, target):
    """A password message that is not one C string: PostgreSQL's 08P01, field for field."""
    got = {}
    for name, endpoint in (("direct", pg), ("pgward", target)):
        c = endpoint.raw()
        c.send(pgwire.startup_message({"user": MD5_USER, "database": "postgres"}))
        assert authkit.read_auth_request(c).auth_code() == pgwire.AUTH_MD5
        c.send(pgwire.message("p", b"md5" + b"0" * 32))
        got[name] = fields_of(ends_with_error(c))
    assert got["pgward"] == got["direct"]
    assert (got["pgward"]["C"], got["pgward"]["M"]) == ("08P01", "invalid password packet size")


def test_logins_held_open_are_cut(pg, roles, pgward_factory):
    """Goal: tie pgward up with logins that never answer the password request."""
    pw = pgward_factory(auth_type="scram-sha-256", auth_user=SUPERUSER, client_login_timeout=1)
    stalled = []
    for _ in range(50):
        c = pw.raw()
        c.send(pgwire.startup_message({"user": SCRAM_USER, "database": "postgres"}))
        stalled.append(c)
    for c in stalled:
        assert authkit.read_auth_request(c).auth_code() == pgwire.AUTH_SASL
    # meanwhile a real login goes through
    still_works(pw)
    for c in stalled:
        f = ends_with_error(c)
        assert (f["S"], f["C"], f["M"]) == ("FATAL", "08006", "pgward: client login timeout (client_login_timeout=1s)")


@pytest.mark.parametrize("method", ["scram-sha-256", "password"])
def test_oversized_auth_message_refused_unread(target, method):
    """Goal: make pgward buffer a huge message before authentication (a 100 MB password message)."""
    user, code = (SCRAM_USER, pgwire.AUTH_SASL) if method == "scram-sha-256" else (EXPIRED_USER, pgwire.AUTH_CLEARTEXT)
    c = target.raw()
    c.send(pgwire.startup_message({"user": user, "database": "postgres"}))
    assert authkit.read_auth_request(c).auth_code() == code
    # only the header and a few bytes: refused from the length alone, at once (PostgreSQL
    # refuses the same from its length: it logs "invalid message length" and answers 28P01)
    c.send(b"p" + struct.pack("!I", 100_000_000) + b"SCRAM-SHA-256\0")
    f = ends_with_error(c)
    assert (f["S"], f["C"], f["M"]) == ("FATAL", "08P01", "invalid message length")
    still_works(target)


# ---------------------------------------------------------------- channel binding


def tls_conn(endpoint, tls):
    c = endpoint.raw()
    c.start_tls(authkit.tls_context(tls), server_hostname="localhost")
    return c


def plus_attempt(endpoint, tls, gs2, cb_data, mechanism=None, over_tls=True):
    c = tls_conn(endpoint, tls) if over_tls else endpoint.raw()
    scram = ScramClient(SCRAM_PASSWORD, cb_data=cb_data, gs2=gs2)
    if mechanism:
        scram.mechanism = mechanism
    try:
        authkit.scram_login(c, SCRAM_USER, scram)
    except pgwire.PgError as e:
        assert c.wait_closed(5)
        return fields_of(e.fields)
    return c.rows("SELECT session_user")[0][0]


def test_channel_binding_as_postgresql(pg, target, tls):
    """Goal: pass a SCRAM exchange through a man in the middle (another certificate, downgrade flag)."""
    pgward_cert = authkit.cert_end_point_hash(authkit.ssl.PEM_cert_to_DER_cert(tls.server_cert.read_text()))
    other_cert = authkit.cert_end_point_hash(authkit.ssl.PEM_cert_to_DER_cert(tls.wrong_ca_cert.read_text()))
    cases = {
        # the right binding logs in
        "bound": ("p=tls-server-end-point,,", pgward_cert, None, True),
        # a relay terminating TLS with its own certificate: the hash is not pgward's
        "relayed": ("p=tls-server-end-point,,", other_cert, None, True),
        # the client says it could bind but thinks the server cannot: a stripped PLUS offer
        "downgrade flag": ("y,,", None, None, True),
        # PLUS without TLS, where it is not offered
        "plus on plain": ("p=tls-server-end-point,,", pgward_cert, None, False),
        # PLUS chosen, but the message does not bind
        "plus without data": ("n,,", None, "SCRAM-SHA-256-PLUS", True),
        # another binding type
        "unique binding type": ("p=tls-unique,,", pgward_cert, None, True),
    }
    for name, (gs2, cb, mech, over_tls) in cases.items():
        direct = plus_attempt(pg, tls, gs2, cb, mech, over_tls)
        mine = plus_attempt(target, tls, gs2, cb, mech, over_tls)
        assert mine == direct, name
        if name == "bound":
            assert mine == SCRAM_USER
        else:
            assert isinstance(mine, dict) and mine["S"] == "FATAL", (name, mine)
    # the offer itself: PLUS first on TLS, plain SCRAM only without
    c = tls_conn(target, tls)
    c.startup(SCRAM_USER, "postgres", password=SCRAM_PASSWORD)
    assert c.sasl_mechanisms == ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"]
    c = target.raw()
    c.startup(SCRAM_USER, "postgres", password=SCRAM_PASSWORD)
    assert c.sasl_mechanisms == ["SCRAM-SHA-256"]


# ---------------------------------------------------------------- the role pgward logs in as


def startup_packet(pairs):
    body = struct.pack("!I", pgwire.PROTOCOL_3_0)
    for k, v in pairs:
        body += k.encode() + b"\0" + v.encode() + b"\0"
    body += b"\0"
    return struct.pack("!I", len(body) + 4) + body


def test_startup_packet_cannot_change_the_login_role(pg, target):
    """Goal: make pgward log in to the server as a role it did not authenticate."""
    offset = len(pg.log.read_text(errors="replace"))
    # two user keys: the trusted role first, the victim last (PostgreSQL takes the last)
    c = target.raw()
    c.send(startup_packet([("user", TRUST_USER), ("database", "postgres"), ("application_name", "auth-attack"),
                           ("user", SCRAM_USER)]))
    f = ends_with_error(c)
    assert (f["S"], f["C"]) == ("FATAL", "08P01"), f
    # settings naming another role, from a role that needs no password at pgward
    for options in ("-c role=%s" % SCRAM_USER, "-c session_authorization=%s" % SUPERUSER,
                    "--role=%s" % SUPERUSER, "-c user=%s" % SCRAM_USER, "-c is_superuser=on"):
        c = target.raw()
        c.send(pgwire.startup_message({"user": TRUST_USER, "database": "postgres", "options": options,
                                       "application_name": "auth-attack"}))
        msgs = []
        try:
            msgs = c.recv_until("EZ")
        except pgwire.Closed as e:
            msgs = e.messages
        if msgs and msgs[-1].type == "Z":
            # a session: it is the trusted role's and nobody else's
            assert c.rows("SELECT session_user, current_user") == [[TRUST_USER, TRUST_USER]], options
        else:
            # refused: by pgward, or by the server after its AuthenticationOk (as PostgreSQL
            # refuses such a setting itself); either way the session ends there
            assert msgs and msgs[-1].type == "E" and msgs[-1].fields()["S"] == "FATAL", (options, msgs)
            assert c.wait_closed(5)
        c.close()
    # every session the server authorized for these attempts was the trusted role's
    authorized = re.findall(r"connection authorized: user=(\S+) .*application_name=auth-attack",
                            pg.log.read_text(errors="replace")[offset:])
    assert set(authorized) <= {TRUST_USER}, authorized
    still_works(target, TRUST_USER, None)


# ---------------------------------------------------------------- queries before the login


def pipelined(target, scenario, table):
    """Sends the scenario's login with a CREATE TABLE in the same write as its last message."""
    q = pgwire.query("CREATE TABLE %s (); SELECT session_user" % table)
    c = target.raw()
    if scenario == "with the startup packet":
        c.send(pgwire.startup_message({"user": SCRAM_USER, "database": "postgres"}), q)
        return c
    if scenario == "trust, with the startup packet":
        c.send(pgwire.startup_message({"user": TRUST_USER, "database": "postgres"}), q)
        return c
    if scenario in ("md5, wrong password", "md5, right password"):
        c.send(pgwire.startup_message({"user": MD5_USER, "database": "postgres"}))
        salt = authkit.read_auth_request(c).body[4:8]
        pw = "wrong" if "wrong" in scenario else authkit.ROLE_PASSWORDS[MD5_USER]
        inner = authkit.hashlib.md5((pw + MD5_USER).encode()).hexdigest()
        c.send(pgwire.password_message("md5" + authkit.hashlib.md5(inner.encode() + salt).hexdigest()), q)
        return c
    if scenario == "password accepted, server refuses":
        c.send(pgwire.startup_message({"user": EXPIRED_USER, "database": "postgres"}))
        assert authkit.read_auth_request(c).auth_code() == pgwire.AUTH_CLEARTEXT
        c.send(pgwire.password_message(EXPIRED_PASSWORD), q)
        return c
    c.send(pgwire.startup_message({"user": SCRAM_USER, "database": "postgres"}))
    assert authkit.read_auth_request(c).auth_code() == pgwire.AUTH_SASL
    scram = ScramClient("wrong" if "wrong" in scenario else SCRAM_PASSWORD)
    if scenario == "with the SASL initial response":
        c.send(pgwire.sasl_initial_response("SCRAM-SHA-256", scram.client_first()), q)
        return c
    c.send(pgwire.sasl_initial_response("SCRAM-SHA-256", scram.client_first()))
    m = authkit.read_auth_request(c)
    c.send(pgwire.sasl_response(scram.client_final(m.body[4:])), q)
    return c


REFUSED = {
    "with the startup packet": ("08P01", "expected SASL response, got message type 81"),
    "with the SASL initial response": ("08P01", "expected SASL response, got message type 81"),
    "scram, wrong proof": ("28P01", 'password authentication failed for user "scram_user"'),
    "md5, wrong password": ("28P01", 'password authentication failed for user "md5_user"'),
    "password accepted, server refuses": ("28P01", 'password authentication failed for user "auth_expired"'),
}
RUN_AFTER_LOGIN = {
    "scram, right proof": SCRAM_USER,
    "md5, right password": MD5_USER,
    "trust, with the startup packet": TRUST_USER,
}


@pytest.mark.parametrize("scenario", list(REFUSED) + list(RUN_AFTER_LOGIN))
def test_query_pipelined_into_the_login(pg, target, scenario):
    """Goal: have a query run before (or without) authentication by pipelining it into the login."""
    table = "%s.pwned_%d" % (authkit.SCHEMA, list(REFUSED).index(scenario) if scenario in REFUSED
                             else 100 + list(RUN_AFTER_LOGIN).index(scenario))
    pg.execute("DROP TABLE IF EXISTS %s" % table)
    c = pipelined(target, scenario, table)
    try:
        if scenario in REFUSED:
            f = ends_with_error(c)
            assert pg.execute("SELECT to_regclass('%s') IS NULL" % table) == [(True,)]
            if scenario != "password accepted, server refuses":  # the server has no password rule
                direct = ends_with_error(pipelined(pg, scenario, table))
                assert fields_of(f) == fields_of(direct)
            assert (f["S"], f["C"], f["M"]) == ("FATAL",) + REFUSED[scenario]
        else:
            msgs = c.recv_until("Z")  # the login
            kinds = [(m.type, m.auth_code() if m.type == "R" else None) for m in msgs]
            assert ("R", 0) in kinds and not [m for m in msgs if m.type in "CDE"], msgs
            # then the query, run as the authenticated role
            out = c.recv_until("Z")
            assert [m.type for m in out] == ["C", "T", "D", "C", "Z"], out
            assert out[2].data_row() == [RUN_AFTER_LOGIN[scenario].encode()]
            assert pg.execute("SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = to_regclass('%s')"
                              % table) == [(RUN_AFTER_LOGIN[scenario],)]
    finally:
        pg.execute("DROP TABLE IF EXISTS %s" % table)


# ---------------------------------------------------------------- the server leg


@pytest.mark.parametrize("case", ["plus offered", "plus offered, password method", "plus not offered",
                                  "plain leg", "forged server signature", "server refuses"])
def test_server_leg_scram(pg, roles, pgward_factory, tls, tmp_path, case):
    """Goal: impersonate the server or strip channel binding on pgward's leg; pgward binds and checks."""
    secret = authkit.server_secret(pg, SCRAM_USER)
    fake = authkit.FakeScramServer(
        tls, secret,
        mechanisms=("SCRAM-SHA-256",) if case == "plus not offered" else ("SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"),
        use_tls=case != "plain leg", bad_signature=case == "forged server signature",
        refuse={"S": "FATAL", "V": "FATAL", "C": "28000", "M": "fake server says no"} if case == "server refuses"
        else None)
    fake.start()
    ul = authkit.write_userlist(tmp_path / "userlist.txt", {SCRAM_USER: secret})
    # unpooled: the fake server ends when pgward hangs up, which a pool would not do
    pw = pgward_factory(auth_type="password" if "password" in case else "scram-sha-256", auth_file=ul,
                        server_port=fake.port, server_tls_sslmode="disable" if case == "plain leg" else "require",
                        pool_mode="none")
    c = pw.raw()
    error = None
    try:
        c.startup(SCRAM_USER, "postgres", password=SCRAM_PASSWORD)
    except pgwire.PgError as e:
        error = e.fields
        assert c.wait_closed(5)
    codes = c.auth_codes
    c.close()  # pgward then hangs up on the fake server, which ends it
    assert fake.done.wait(10)
    assert fake.error is None, fake.error
    seen = fake.seen
    assert seen["user"] == SCRAM_USER
    if case in ("plus offered", "plus offered, password method"):
        assert error is None, error
        assert (seen["mechanism"], seen["gs2"]) == ("SCRAM-SHA-256-PLUS", "p=tls-server-end-point,,")
        assert seen["cbind_is_cert_hash"] and seen["proof_ok"] and seen["nonce_ok"], seen
        assert codes[-1] == pgwire.AUTH_OK
    elif case == "plus not offered":
        # pgward could bind: it says so ("y"), so a real server that can bind sees the downgrade
        assert error is None, error
        assert (seen["mechanism"], seen["gs2"]) == ("SCRAM-SHA-256", "y,,")
        assert seen["cbind"] == b"y,," and seen["proof_ok"], seen
    elif case == "plain leg":
        assert error is None, error
        assert (seen["mechanism"], seen["gs2"]) == ("SCRAM-SHA-256", "n,,")
        assert seen["cbind"] == b"n,," and seen["proof_ok"], seen
    elif case == "forged server signature":
        assert seen["proof_ok"] and seen.get("sent_ok"), seen
        assert error is not None and (error["S"], error["C"]) == ("FATAL", "08006"), error
        assert error["M"].startswith('pgward: SCRAM login to the server as "scram_user" failed'), error
        assert pgwire.AUTH_OK not in codes
    else:
        # the server's refusal reaches the client as it was sent
        assert error is not None and fields_of(error) == {"S": "FATAL", "V": "FATAL", "C": "28000",
                                                          "M": "fake server says no", "D": None}
