"""TLS on both legs and authentication across it: client TLS with certificates of the test CA,
server TLS modes checked on the server (pg_stat_ssl), verification failures (08006), TLS
required from clients (28000), and SCRAM channel binding (PLUS never offered by pgward)."""

import os
import ssl

import pytest

import pgwire
from conftest import MD5_USER, SCRAM_USER, SUPERUSER, PASSWORDS


@pytest.fixture
def tls_settings(tls):
    return {"client_tls_cert_file": tls.server_cert, "client_tls_key_file": tls.server_key}


def _ssl_in_use_on_server(endpoint, **kw):
    r = endpoint.psql("-c", "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", **kw)
    return r.stdout.decode().strip()


def test_client_tls_verify_full(pgward_factory, tls, tls_settings):
    pw = pgward_factory(client_tls_sslmode="require", **tls_settings)
    r = pw.psql("-c", "SELECT 'over tls'",
                dsn_extra={"host": "localhost", "sslmode": "verify-full", "sslrootcert": tls.ca_cert})
    assert r.stdout.decode().strip() == "over tls"
    conn = pw.connect(host="localhost", sslmode="verify-full", sslrootcert=str(tls.ca_cert))
    assert conn.info.ssl_in_use
    assert conn.info.ssl_attribute("protocol").startswith("TLSv1.")
    # pgward's leg to the server is plain (server_tls_sslmode=disable in the defaults)
    with conn.cursor() as cur:
        cur.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        assert cur.fetchone() == (False,)


def test_client_tls_wrong_root_certificate_rejected_by_client(pgward_factory, tls, tls_settings):
    pw = pgward_factory(client_tls_sslmode="require", **tls_settings)
    r = pw.psql("-c", "SELECT 1", check=False,
                dsn_extra={"host": "localhost", "sslmode": "verify-full", "sslrootcert": tls.wrong_ca_cert})
    assert r.returncode == 2
    assert "certificate verify failed" in r.stderr.decode()
    # pgward survives the failed handshake
    assert pw.alive()
    assert pw.psql("-c", "SELECT 1", dsn_extra={"sslmode": "require"}).stdout.strip() == b"1"


def test_client_tls_prefer_serves_both(pgward_factory, tls_settings):
    pw = pgward_factory(client_tls_sslmode="prefer", **tls_settings)
    tls_conn = pw.connect(sslmode="require")
    plain_conn = pw.connect(sslmode="disable")
    assert tls_conn.info.ssl_in_use and not plain_conn.info.ssl_in_use
    for conn in (tls_conn, plain_conn):
        with conn.cursor() as cur:
            cur.execute("SELECT 5")
            assert cur.fetchone() == (5,)


def test_sslmode_require_against_tls_disabled_fails(pgward):
    r = pgward.psql("-c", "SELECT 1", check=False, dsn_extra={"sslmode": "require"})
    assert r.returncode == 2
    assert "server does not support SSL, but SSL was required" in r.stderr.decode()


def test_plain_client_rejected_when_tls_required(pgward_factory, tls_settings):
    pw = pgward_factory(client_tls_sslmode="require", **tls_settings)
    c = pw.raw()
    with pytest.raises(pgwire.PgError) as e:
        c.startup(SUPERUSER, "postgres")
    assert e.value.sqlstate == "28000"
    assert e.value.message.startswith("pgward: TLS is required")
    assert e.value.fields["S"] == "FATAL"
    assert c.wait_closed(5)
    r = pw.psql("-c", "SELECT 1", check=False, dsn_extra={"sslmode": "disable"})
    assert r.returncode == 2 and "pgward: TLS is required" in r.stderr.decode()


SERVER_MODES = [("disable", "f"), ("prefer", "t"), ("require", "t"), ("verify-ca", "t"), ("verify-full", "t")]


@pytest.mark.parametrize("mode,expected", SERVER_MODES, ids=[m for m, _ in SERVER_MODES])
def test_server_tls_modes(pgward_factory, tls, mode, expected):
    settings = {"server_tls_sslmode": mode}
    if mode.startswith("verify"):
        settings["server_tls_ca_file"] = tls.ca_cert
    pw = pgward_factory(**settings)
    assert _ssl_in_use_on_server(pw) == expected
    # and password authentication across that leg
    r = pw.psql("-c", "SELECT current_user", user=SCRAM_USER)
    assert r.stdout.decode().strip() == SCRAM_USER


@pytest.mark.parametrize("mode", ["verify-ca", "verify-full"])
def test_server_tls_wrong_ca_fails(pgward_factory, tls, mode):
    pw = pgward_factory(server_tls_sslmode=mode, server_tls_ca_file=tls.wrong_ca_cert)
    c = pw.raw()
    with pytest.raises(pgwire.PgError) as e:
        c.startup(SUPERUSER, "postgres")
    assert e.value.sqlstate == "08006"
    assert e.value.fields["S"] == "FATAL"
    assert e.value.message.startswith("pgward:")
    assert c.wait_closed(5)
    assert pw.alive()


def test_server_tls_required_but_server_refuses(pg2, pgward_factory):
    pg2.start()
    pw = pgward_factory(server_port=pg2.port, server_tls_sslmode="require")
    c = pw.raw()
    with pytest.raises(pgwire.PgError) as e:
        c.startup(SUPERUSER, "postgres")
    assert e.value.sqlstate == "08006"
    assert e.value.message.startswith("pgward:")
    # prefer falls back to plain text
    pw2 = pgward_factory(server_port=pg2.port, server_tls_sslmode="prefer")
    assert _ssl_in_use_on_server(pw2) == "f"


@pytest.fixture
def tls_both_legs(pgward_factory, tls, tls_settings):
    return pgward_factory(client_tls_sslmode="require", server_tls_sslmode="verify-full",
                          server_tls_ca_file=tls.ca_cert, **tls_settings)


@pytest.fixture(params=["direct", "pgward"])
def tls_target(request, pg):
    """PostgreSQL with ssl=on directly, or pgward with TLS on both legs."""
    if request.param == "direct":
        if os.environ.get("PGWARD_SKIP_DIRECT"):
            pytest.skip("direct variant skipped (PGWARD_SKIP_DIRECT)")
        return pg
    return request.getfixturevalue("tls_both_legs")


def test_scram_channel_binding_prefer(tls_target, tls):
    dsn = {"host": "localhost", "sslmode": "verify-full", "sslrootcert": tls.ca_cert}
    r = tls_target.psql("-c", "SELECT current_user", user=SCRAM_USER, check=False,
                        dsn_extra=dict(dsn, channel_binding="prefer"))
    if tls_target.name == "direct":
        assert r.stdout.decode().strip() == SCRAM_USER
    else:
        # With TLS on both legs the server must reject libpq's 'y' flag as a downgrade;
        # pgward says so itself, naming the way out.
        assert r.returncode == 2
        err = r.stderr.decode()
        assert "pgward: SCRAM channel binding cannot pass through pgward" in err
        assert "channel_binding=disable" in err
    r = tls_target.psql("-c", "SELECT current_user", user=SCRAM_USER,
                        dsn_extra=dict(dsn, channel_binding="disable"))
    assert r.stdout.decode().strip() == SCRAM_USER


def test_scram_channel_binding_require(tls_target, tls):
    r = tls_target.psql("-c", "SELECT current_user", user=SCRAM_USER, check=False,
                        dsn_extra={"sslmode": "require", "channel_binding": "require"})
    if tls_target.name == "direct":
        assert r.returncode == 0 and r.stdout.decode().strip() == SCRAM_USER
    else:
        # pgward cannot forward tls-server-end-point binding (two TLS sessions): it must fail
        assert r.returncode == 2
        assert "channel binding" in r.stderr.decode()


def test_scram_channel_binding_client_tls_only(pgward_factory, tls, tls_settings):
    """TLS to pgward, plain TCP to the server: libpq's channel_binding=prefer (its default) sends
    the 'y' flag, which a server without TLS accepts; require fails as PLUS is not offered."""
    pw = pgward_factory(client_tls_sslmode="require", server_tls_sslmode="disable", **tls_settings)
    dsn = {"host": "localhost", "sslmode": "verify-full", "sslrootcert": tls.ca_cert}
    r = pw.psql("-c", "SELECT current_user", user=SCRAM_USER, dsn_extra=dict(dsn, channel_binding="prefer"))
    assert r.stdout.decode().strip() == SCRAM_USER
    r = pw.psql("-c", "SELECT 1", user=SCRAM_USER, check=False, dsn_extra=dict(dsn, channel_binding="require"))
    assert r.returncode == 2 and "channel binding" in r.stderr.decode()


def test_sasl_mechanisms_over_tls(tls_target):
    c = tls_target.raw()
    c.start_tls()
    c.startup(SCRAM_USER, "postgres", password=PASSWORDS[SCRAM_USER])
    if tls_target.name == "direct":
        assert c.sasl_mechanisms == ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"]
    else:
        assert c.sasl_mechanisms == ["SCRAM-SHA-256"]
    assert c.scalar("SELECT current_user") == SCRAM_USER
    assert c.scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()") == "t"


@pytest.mark.parametrize("user", [MD5_USER, SCRAM_USER])
def test_password_auth_over_tls_both_legs(tls_both_legs, user):
    conn = tls_both_legs.connect(user=user, sslmode="require", channel_binding="disable")
    assert conn.info.ssl_in_use
    with conn.cursor() as cur:
        cur.execute("SELECT current_user, ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        assert cur.fetchone() == (user, True)


def test_wrong_password_over_tls_both_legs(tls_both_legs, tls):
    c = tls_both_legs.raw()
    c.start_tls(ssl.create_default_context(cafile=str(tls.ca_cert)), server_hostname="localhost")
    with pytest.raises(pgwire.PgError) as e:
        c.startup(SCRAM_USER, "postgres", password="wrong")
    assert e.value.sqlstate == "28P01"
