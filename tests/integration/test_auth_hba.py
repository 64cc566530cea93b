"""pgward's own authentication by rules: auth_hba_file (pg_hba.conf format: the first rule
matching connection type, database, user and address picks the method; reject and no entry
with PostgreSQL's 28000 messages), client certificates (auth_type=cert, hba cert rules, an
ident map with a literal and a regular-expression line, clientcert=verify-full|verify-ca, a
certificate of another CA), certificates on both legs (a PostgreSQL of this module that
authenticates pgward by pgward's own certificate), and the README's deployment: hba mirroring
the server's MAIN_HBA with TLS on both legs, where a default psql, channel_binding=require and
a client certificate all log in.
"""

import re
import shutil

import pytest

import authkit
import pgwire
from authkit import (ATTACKER_USER, CERT_PASSWORD, CERT_USER, MAPPED_PASSWORD, MAPPED_USER, OK_CLEARTEXT,
                     OK_MD5, OK_SCRAM, TRUST_PASSWORD, TRUST_USER, client_tls, login, refused)
from conftest import (IS_ROOT, MAIN_HBA, MD5_PASSWORD, MD5_USER, PG_OS_USER, SCRAM_PASSWORD, SCRAM_USER,
                      SUPERUSER, PgCluster, free_port)


@pytest.fixture(scope="module")
def roles(pg):
    return authkit.ensure_roles(pg)


# ---------------------------------------------------------------- hba


HBA_RULES = """\
# pgward's own rules (pg_hba.conf format)
host      all    auth_attacker  127.0.0.1/32  reject
host      bench  scram_user     127.0.0.1/32  reject
hostssl   all    md5_user       127.0.0.1/32  password
hostnossl all    md5_user       127.0.0.1/32  md5
host      all    scram_user     127.0.0.1/32  scram-sha-256
host      all    auth_trust     127.0.0.0/24  trust
host      all    auth_mapped    127.0.0.1     255.255.255.255  trust
host      all    auth_attacker  127.0.0.1/32  trust
"""


@pytest.fixture
def hba_pgward(pgward_factory, tls, tmp_path, roles):
    hba = tmp_path / "pg_hba.conf"
    hba.write_text(HBA_RULES)
    ul = authkit.write_userlist(tmp_path / "userlist.txt", {TRUST_USER: TRUST_PASSWORD, MAPPED_USER: MAPPED_PASSWORD})
    return pgward_factory(auth_type="hba", auth_hba_file=hba, auth_file=ul, auth_user=SUPERUSER, **client_tls(tls))


def test_hba_first_matching_rule_picks_the_method(hba_pgward, tls):
    """The first rule matching type, database, user and address decides the exchange."""
    ctx = authkit.tls_context(tls)
    cases = [
        (MD5_USER, MD5_PASSWORD, None, None, OK_MD5),
        (MD5_USER, MD5_PASSWORD, ctx, None, OK_CLEARTEXT),
        (SCRAM_USER, SCRAM_PASSWORD, None, None, OK_SCRAM),
        (TRUST_USER, None, None, None, [pgwire.AUTH_OK]),
        (TRUST_USER, None, None, "127.0.0.2", [pgwire.AUTH_OK]),
        (MAPPED_USER, None, None, None, [pgwire.AUTH_OK]),
    ]
    for user, password, c_ctx, source, codes in cases:
        c = login(hba_pgward, user, password, ctx=c_ctx, source=source)
        assert c.auth_codes == codes, (user, c_ctx, source)
        assert c.scalar("SELECT session_user") == user


def test_hba_reject_and_no_entry(hba_pgward, tls):
    """reject and no matching rule: PostgreSQL's 28000 messages with host, user, database, encryption."""
    ctx = authkit.tls_context(tls)
    host = '127.0.0.1", user "%s", database "%s", %s'
    cases = [
        (ATTACKER_USER, "postgres", None, None, "pg_hba.conf rejects connection for host \"" +
         host % (ATTACKER_USER, "postgres", "no encryption")),
        (ATTACKER_USER, "postgres", ctx, None, "pg_hba.conf rejects connection for host \"" +
         host % (ATTACKER_USER, "postgres", "SSL encryption")),
        (SCRAM_USER, "bench", None, None, "pg_hba.conf rejects connection for host \"" +
         host % (SCRAM_USER, "bench", "no encryption")),
        (CERT_USER, "postgres", None, None, "no pg_hba.conf entry for host \"" +
         host % (CERT_USER, "postgres", "no encryption")),
        (CERT_USER, "postgres", ctx, None, "no pg_hba.conf entry for host \"" +
         host % (CERT_USER, "postgres", "SSL encryption")),
        (MAPPED_USER, "postgres", None, "127.0.0.2", 'no pg_hba.conf entry for host "127.0.0.2", user '
         '"auth_mapped", database "postgres", no encryption'),
    ]
    for user, db, ctx_, source, message in cases:
        f = refused(hba_pgward, user, "whatever", database=db, ctx=ctx_, source=source)
        assert (f["S"], f["C"], f["M"]) == ("FATAL", "28000", message)
        assert f["auth_codes"] == []  # refused before any password was asked for
    # a physical replication connection matches only "replication" rules (there is none)
    c = hba_pgward.raw()
    with pytest.raises(pgwire.PgError) as e:
        c.startup(SCRAM_USER, "postgres", password=SCRAM_PASSWORD, params={"replication": "true"})
    assert (e.value.sqlstate, e.value.message) == (
        "28000", 'no pg_hba.conf entry for replication connection from host "127.0.0.1", user "scram_user", '
        'no encryption')


# ---------------------------------------------------------------- client certificates


CERT_HBA = """\
hostssl all auth_cert    127.0.0.1/32 cert
hostssl all auth_mapped  127.0.0.1/32 cert map=certmap
hostssl all scram_user   127.0.0.1/32 scram-sha-256 clientcert=verify-full
hostssl all md5_user     127.0.0.1/32 md5 clientcert=verify-ca
"""
CERT_IDENT = r"""
# MAPNAME  SYSTEM-USERNAME         PG-USERNAME
certmap    alice.example           auth_mapped
certmap    /^(.*)@example\.org$    \1
"""


@pytest.fixture
def cert_pgward(pgward_factory, tls, tmp_path, roles):
    hba, ident = tmp_path / "pg_hba.conf", tmp_path / "pg_ident.conf"
    hba.write_text(CERT_HBA)
    ident.write_text(CERT_IDENT)
    ul = authkit.write_userlist(tmp_path / "userlist.txt", {CERT_USER: CERT_PASSWORD, MAPPED_USER: MAPPED_PASSWORD})
    return pgward_factory(auth_type="hba", auth_hba_file=hba, auth_ident_file=ident, auth_file=ul,
                          auth_user=SUPERUSER, **client_tls(tls))


def test_cert_logins_with_psql(cert_pgward, tls):
    """Client certificates that the rules accept log in with psql (CN, ident map, regex, verify-ca)."""
    cases = [
        (CERT_USER, CERT_USER, None),
        (MAPPED_USER, "alice.example", None),
        (MAPPED_USER, "auth_mapped@example.org", None),
        (SCRAM_USER, SCRAM_USER, SCRAM_PASSWORD),
        (MD5_USER, "someone.else", MD5_PASSWORD),
    ]
    for user, cn, password in cases:
        crt, key = authkit.client_cert(tls, cn)
        r = authkit.psql_login(cert_pgward.port, user, password, sslmode="verify-full", sslrootcert=tls.ca_cert,
                               sslcert=crt, sslkey=key)
        assert r.ok and (r.user, r.client_tls) == (user, True), (user, cn, r)


def test_cert_refusals(cert_pgward, tls):
    """Missing certificate, CN of another role, a CN the map does not allow: FATAL 28000."""
    cases = [
        (CERT_USER, None, None, "connection requires a valid client certificate"),
        (CERT_USER, MAPPED_USER, None, 'certificate authentication failed for user "auth_cert"'),
        (MAPPED_USER, MAPPED_USER, None, 'certificate authentication failed for user "auth_mapped"'),
        (MAPPED_USER, "bob@example.org", None, 'certificate authentication failed for user "auth_mapped"'),
        (MAPPED_USER, None, None, "connection requires a valid client certificate"),
        (SCRAM_USER, None, SCRAM_PASSWORD, "connection requires a valid client certificate"),
        (SCRAM_USER, CERT_USER, SCRAM_PASSWORD,
         'certificate validation (clientcert=verify-full) failed for user "scram_user": CN mismatch'),
        (MD5_USER, None, MD5_PASSWORD, "connection requires a valid client certificate"),
    ]
    for user, cn, password, message in cases:
        ctx = authkit.tls_context(tls, authkit.client_cert(tls, cn) if cn else None)
        f = refused(cert_pgward, user, password, ctx=ctx)
        assert (f["S"], f["C"], f["M"]) == ("FATAL", "28000", message), (user, cn)
        assert f["auth_codes"] == [], "a password was asked for before the certificate was checked"


def test_cert_of_another_ca_fails_the_handshake(cert_pgward, tls):
    """A certificate not signed by client_tls_ca_file: the TLS handshake fails; pgward goes on."""
    crt, key = authkit.client_cert(tls, CERT_USER, wrong_ca=True)
    r = authkit.psql_login(cert_pgward.port, CERT_USER, sslmode="require", sslcert=crt, sslkey=key)
    assert not r.ok and "unknown ca" in r.error, r
    crt, key = authkit.client_cert(tls, CERT_USER)
    r = authkit.psql_login(cert_pgward.port, CERT_USER, sslmode="require", sslcert=crt, sslkey=key)
    assert r.ok and r.user == CERT_USER, r


def test_auth_type_cert(pgward_factory, tls, tmp_path, roles):
    """auth_type=cert: the CN is the role; no TLS or another CN is refused (psycopg2 and raw)."""
    ul = authkit.write_userlist(tmp_path / "userlist.txt", {CERT_USER: CERT_PASSWORD})
    pw = pgward_factory(auth_type="cert", auth_file=ul, **client_tls(tls))
    crt, key = authkit.client_cert(tls, CERT_USER)
    r = authkit.psycopg_login(pw.port, CERT_USER, sslmode="verify-full", sslrootcert=tls.ca_cert, sslcert=crt,
                              sslkey=key)
    assert r.ok and (r.user, r.client_tls) == (CERT_USER, True), r
    f = refused(pw, CERT_USER)
    assert (f["C"], f["M"]) == ("28000", "connection requires a valid client certificate")
    f = refused(pw, SCRAM_USER, ctx=authkit.tls_context(tls, (crt, key)))
    assert (f["C"], f["M"]) == ("28000", 'certificate authentication failed for user "scram_user"')


CERT_SERVER_HBA = """\
local   all  all                      trust
host    all  postgres   127.0.0.1/32  trust
hostssl all  all        127.0.0.1/32  cert map=proxy
host    all  all        127.0.0.1/32  reject
"""


@pytest.fixture(scope="module")
def cert_server(workdir, tls):
    """A PostgreSQL of this module that logs pgward in by pgward's own certificate (CN pgward-proxy,
    mapped to auth_cert only): the main cluster's pg_hba stays as it is."""
    cluster = PgCluster(workdir / "pg-auth-cert", free_port(), tls=tls, hba=CERT_SERVER_HBA,
                        extra_conf="ssl_ca_file = 'root.crt'")
    cluster.init()
    ident = cluster.data / "pg_ident.conf"
    ident.write_text("proxy  pgward-proxy  auth_cert\n")
    if IS_ROOT:
        shutil.chown(ident, PG_OS_USER, PG_OS_USER)
    cluster.start()
    cluster.execute("CREATE ROLE %s LOGIN; CREATE ROLE %s LOGIN" % (CERT_USER, TRUST_USER))
    yield cluster
    cluster.stop("immediate")


def test_cert_at_both_legs(cert_server, pgward_factory, tls):
    """Client certificate to pgward, pgward's certificate to the server: no password anywhere."""
    proxy_crt, proxy_key = authkit.client_cert(tls, "pgward-proxy")
    pw = pgward_factory(auth_type="cert", server_port=cert_server.port, server_tls_sslmode="verify-full",
                        server_tls_ca_file=tls.ca_cert, server_tls_cert_file=proxy_crt,
                        server_tls_key_file=proxy_key, **client_tls(tls))
    ctx = authkit.tls_context(tls, authkit.client_cert(tls, CERT_USER))
    c = login(pw, CERT_USER, ctx=ctx)
    assert c.rows("SELECT session_user, ssl, client_dn FROM pg_stat_ssl WHERE pid = pg_backend_pid()") == \
        [[CERT_USER, "t", "/CN=pgward-proxy"]]
    # a role the server's map does not give pgward: the server's own refusal, as it sent it
    f = refused(pw, TRUST_USER, ctx=authkit.tls_context(tls, authkit.client_cert(tls, TRUST_USER)))
    assert (f["S"], f["C"], f["M"]) == ("FATAL", "28000", 'certificate authentication failed for user "auth_trust"')


# ---------------------------------------------------------------- the README's deployment


def readme_hba():
    """MAIN_HBA (the server's rules) for pgward, with a client-certificate rule for auth_cert."""
    lines = MAIN_HBA.splitlines()
    last = [i for i, line in enumerate(lines) if re.match(r"host\s+all\s+all\s", line)][0]
    lines.insert(last, "hostssl all          auth_cert   127.0.0.1/32 cert")
    return "\n".join(lines) + "\n"


def test_readme_deployment_tls_both_legs(pg, roles, pgward_factory, tls, tmp_path):
    """hba mirroring the server's, TLS both legs: default psql, channel_binding=require and a certificate log in."""
    hba = tmp_path / "pg_hba.conf"
    hba.write_text(readme_hba())
    ul = authkit.write_userlist(tmp_path / "userlist.txt", {CERT_USER: CERT_PASSWORD})
    pw = pgward_factory(auth_type="hba", auth_hba_file=hba, auth_file=ul, auth_user=SUPERUSER,
                        server_tls_sslmode="require", **client_tls(tls))
    # libpq's defaults: sslmode=prefer, channel_binding=prefer
    for fn in (authkit.psql_login, authkit.psycopg_login):
        r = fn(pw.port, SCRAM_USER, SCRAM_PASSWORD)
        assert r.ok and (r.user, r.server_ssl, r.client_tls) == (SCRAM_USER, True, True), r
        r = fn(pw.port, SCRAM_USER, SCRAM_PASSWORD, channel_binding="require")
        assert r.ok and (r.user, r.server_ssl, r.client_tls) == (SCRAM_USER, True, True), r
        r = fn(pw.port, SCRAM_USER, SCRAM_PASSWORD, sslmode="verify-full", sslrootcert=tls.ca_cert,
               channel_binding="require")
        assert r.ok and r.user == SCRAM_USER, r
        r = fn(pw.port, MD5_USER, MD5_PASSWORD)
        assert r.ok and (r.user, r.server_ssl) == (MD5_USER, True), r
        r = fn(pw.port, SUPERUSER)
        assert r.ok and r.user == SUPERUSER, r
        crt, key = authkit.client_cert(tls, CERT_USER)
        r = fn(pw.port, CERT_USER, sslcert=crt, sslkey=key)
        assert r.ok and (r.user, r.server_ssl, r.client_tls) == (CERT_USER, True, True), r
        r = fn(pw.port, SCRAM_USER, "not-the-password")
        assert not r.ok and 'password authentication failed for user "scram_user"' in r.error, r
        r = fn(pw.port, CERT_USER, sslmode="disable")
        assert not r.ok and "password" in r.error, r  # no cert rule without TLS: the scram rule asks one
    # MAIN_HBA's replication rule: a physical replication connection as postgres
    c = login(pw, SUPERUSER, params={"replication": "true"}, ctx=authkit.tls_context(tls))
    system = c.rows("IDENTIFY_SYSTEM")[0]
    assert system[0] == pg.execute("SELECT system_identifier::text FROM pg_control_system()")[0][0]
