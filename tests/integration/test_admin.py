"""The admin console: a virtual database answered by pgward itself, for the roles in
[admin] users, whose login PostgreSQL still checks."""

import psycopg2
import pytest

import pgwire
from conftest import MD5_USER, SCRAM_PASSWORD, SCRAM_USER, SUPERUSER

ADMIN = {"admin.users": "%s, %s" % (SUPERUSER, SCRAM_USER), "guard.rules": "all",
         "guard.role_rules": "migrator: drop_database"}


@pytest.fixture
def console(pgward_factory):
    return pgward_factory(**ADMIN)


def rows(pw, command, user=SUPERUSER):
    out = pw.psql("-F", "|", "-c", command, user=user, dbname="pgward").stdout
    return [line.split("|") for line in out.decode().splitlines()]




def test_sessions_lists_live_sessions(pg, console):
    app = console.connect()
    with app.cursor() as cur:
        cur.execute("BEGIN; SELECT pg_backend_pid()")
        pid = cur.fetchone()[0]
    c = psycopg2.connect(console.dsn(SUPERUSER, "pgward"))
    c.autocommit = True
    with c.cursor() as cur:
        cur.execute("SHOW SESSIONS")
        cols = [d[0] for d in cur.description]
        found = [dict(zip(cols, r)) for r in cur.fetchall()]
    assert cols[:6] == ["id", "user", "database", "tenant", "peer", "state"]
    mine = [r for r in found if r["server_pid"] == str(pid)]
    assert len(mine) == 1, found
    assert mine[0]["user"] == SUPERUSER and mine[0]["database"] == "postgres"
    assert mine[0]["state"] == "idle in transaction"
    me = [r for r in found if r["state"] == "admin"]
    assert len(me) == 1 and me[0]["database"] == "pgward" and me[0]["server_pid"] is None
    c.close()
    app.close()


def test_rules_counters_config_tenants(pg, console):
    conn = console.connect()
    with conn.cursor() as cur:
        for _ in range(3):
            with pytest.raises(psycopg2.Error) as e:
                cur.execute("DROP TABLE nothing_here")
            assert e.value.pgcode == "42501"
    rules = {r[0]: r for r in rows(console, "SHOW RULES")}
    assert rules["drop_table"][1:5] == ["42501", "on", "", "migrator"]
    assert rules["drop_database"][3] == "migrator"
    assert rules["query_size"][1] == "54000" and int(rules["query_size"][5]) > 0
    # every statement rule shows an example it refuses and the safe form
    guard_rules = [r for r in rules.values() if r[1] == "42501"]
    assert len(guard_rules) == 35
    for r in guard_rules:
        assert r[7] and r[8], r
    assert rules["rls_weakening"][7] == "ALTER TABLE t DISABLE ROW LEVEL SECURITY"
    assert "CONCURRENTLY" in rules["reindex_blocking"][8]
    stats = dict(rows(console, "SHOW COUNTERS"))
    assert int(stats["sql_cache_misses"]) >= 1 and int(stats["sql_cache_hits"]) >= 2, stats
    assert int(stats["sessions"]) >= 2
    config = {(r[0], r[1]): r[2:] for r in rows(console, "SHOW CONFIG")}
    assert config[("pgward", "listen_port")] == [str(console.port), "no"]
    assert config[("guard", "rules")] == ["all", "yes"]
    tenants = {r[0]: r for r in rows(console, "show tenants;")}
    assert tenants[SUPERUSER][1] == "1" and int(tenants[SUPERUSER][3]) >= 3, tenants
    conn.close()


def reload_with(pw, key, value):
    """Changes one setting in pgward's file, RELOADs through the console, returns SHOW CONFIG."""
    pw.settings[key] = value
    pw.write_config()
    assert rows(pw, "RELOAD") == []
    pw.wait_log(r"reload")
    return {(r[0], r[1]): r[2] for r in rows(pw, "SHOW CONFIG")}


def test_reload_applies_the_file(console):
    config = reload_with(console, "client_idle_timeout", "77")
    assert config[("pgward", "client_idle_timeout")] == "77s"


def test_help_and_unknown_command(console):
    commands = [r[0] for r in rows(console, "SHOW HELP")]
    assert "SHOW SESSIONS" in commands and "RELOAD" in commands
    r = console.psql("-c", "DROP TABLE x", dbname="pgward", check=False)
    assert r.returncode != 0 and b"pgward admin: unknown command" in r.stderr


def test_non_admin_refused(console):
    c = console.raw()
    with pytest.raises(pgwire.PgError) as e:
        c.startup(MD5_USER, "pgward")
    assert e.value.sqlstate == "28000"
    assert "may not use the admin console" in str(e.value)


def test_login_still_checked_by_postgres(console):
    c = console.raw()
    with pytest.raises(pgwire.PgError) as e:
        c.startup(SCRAM_USER, "pgward", password="wrong")
    assert e.value.sqlstate == "28P01"
    ok = console.raw()
    ok.startup(SCRAM_USER, "pgward", password=SCRAM_PASSWORD)
    ok.send(pgwire.query("SHOW COUNTERS"))
    assert any(m.type == "D" for m in ok.recv_until("Z"))


def test_extended_protocol_refused_then_usable(console):
    c = console.raw_session(database="pgward")
    c.send(pgwire.parse("", "SHOW COUNTERS"), pgwire.bind("", ""), pgwire.execute(), pgwire.sync())
    msgs = c.recv_until("Z")
    errors = [m.fields() for m in msgs if m.type == "E"]
    assert len(errors) == 1 and errors[0]["C"] == "0A000", msgs
    c.send(pgwire.query(""))
    assert [m.type for m in c.recv_until("Z")] == ["I", "Z"]
    c.send(pgwire.query("SHOW HELP"))
    assert [m.type for m in c.recv_until("Z")][0] == "T"


def test_console_off_is_an_ordinary_database(pgward):
    r = pgward.psql("-c", "SHOW SESSIONS", dbname="pgward", check=False)
    assert r.returncode != 0 and b'database "pgward" does not exist' in r.stderr


def test_config_shows_each_job_section(pgward_factory):
    pw = pgward_factory(**dict(ADMIN, **{"job scrape_jobs.key_columns": "domain, job_type",
                                         "job scrape_jobs.on_conflict": "skip"}))
    config = {(r[0], r[1]): r[2] for r in rows(pw, "SHOW CONFIG")}
    assert config[("job scrape_jobs", "key_columns")] == "domain, job_type"
    assert config[("job scrape_jobs", "on_conflict")] == "skip"
    assert config[("job scrape_jobs", "active")] == ""


def test_config_hides_secrets(pgward_factory):
    secret = "a-signing-secret-of-some-length"
    pw = pgward_factory(**dict(ADMIN, **{"tenant.signing_secret": secret,
                                         "tenant.conninfo": "'host=127.0.0.1 password=pw-123 dbname=x'"}))
    out = pw.psql("-c", "SHOW CONFIG", dbname="pgward").stdout.decode()
    assert secret not in out and "pw-123" not in out
    config = {(r[0], r[1]): r[2] for r in rows(pw, "SHOW CONFIG")}
    assert config[("tenant", "signing_secret")] == "(hidden)"
    assert config[("tenant", "conninfo")] == "host=127.0.0.1 password=(hidden)"
    config = reload_with(pw, "tenant.conninfo", "postgresql://u:pw-123@127.0.0.1/x")
    assert config[("tenant", "conninfo")] == "(hidden)"
    assert config[("tenant", "query")].startswith("SELECT organization_id")


def test_counters_show_job_counters(pg, pgward_factory):
    pg.execute("DROP TABLE IF EXISTS admin_jobs; CREATE TABLE admin_jobs (k text, status text DEFAULT 'pending')")
    pw = pgward_factory(**dict(ADMIN, **{"job admin_jobs.key_columns": "k",
                                         "job admin_jobs.on_conflict": "error"}))
    c = pw.connect()
    with c.cursor() as cur:
        cur.execute("INSERT INTO admin_jobs (k) VALUES ('a')")
        with pytest.raises(psycopg2.Error) as e:
            cur.execute("INSERT INTO admin_jobs (k) VALUES ('a')")
        assert e.value.pgcode == "23505"
    c.close()
    stats = dict(rows(pw, "SHOW COUNTERS"))
    assert stats["job_admin_jobs_serialized"] == "2"
    assert stats["job_admin_jobs_conflicts"] == "1"
    assert "tenant_cache_hits" in stats
