"""[tenant] identity = login_role with source = query, through a real PostgreSQL with the example
schema of conf/tenant/: the lookup query gets the login role's name as $1 and compares it with a
role-name column; the session's context and row-level security follow from it. A query that
reads $1 as a uuid cannot work with role names: pgward says so, at load time for the default
query and in the login's FATAL for any other."""

import psycopg2
import pytest

from conftest import PGWARD_BIN, ROOT, SUPERUSER, run

CONF = ROOT / "conf" / "tenant"
DB = "tenant_login_role"
ORG_A = "11111111-1111-4111-8111-111111111111"
ORG_B = "22222222-2222-4222-8222-222222222222"
ALICE = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"
BOB = "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb"
PASSWORD = "login-role-secret"
SECRET = "login-role-signing-secret"
LR_ALICE, LR_BOB, LR_NOBODY = "lr_alice", "lr_bob", "lr_nobody"
# Which login role is which user: the lookup query joins it to organization_members.
ACCOUNTS = """
CREATE TABLE login_accounts (role_name text PRIMARY KEY, user_id uuid NOT NULL);
INSERT INTO login_accounts VALUES ('%s', '%s'), ('%s', '%s');
""" % (LR_ALICE, ALICE, LR_BOB, BOB)
BY_ROLE = ("SELECT m.organization_id FROM organization_members m "
           "JOIN login_accounts a ON a.user_id = m.user_id WHERE a.role_name = $1")
TABLES = ["organizations", "organization_members", "domains", "customer_configs", "scraped_pages",
          "conversations", "messages", "scrape_jobs", "embedding_queue"]
# rows per table visible to Acme and to Globex in seed.sql
SEEN_A = [1, 1, 1, 1, 2, 1, 2, 1, 1]
SEEN_B = [1, 1, 1, 1, 1, 1, 1, 1, 1]


@pytest.fixture(scope="module")
def login_role_db(pg):
    for role in (LR_ALICE, LR_BOB, LR_NOBODY):
        pg.execute("DROP ROLE IF EXISTS %s; CREATE ROLE %s LOGIN PASSWORD '%s'" % (role, role, PASSWORD))
    pg.execute("DROP DATABASE IF EXISTS %s WITH (FORCE)" % DB)
    pg.execute("CREATE DATABASE %s" % DB)
    sql = "".join((CONF / f).read_text() for f in ("signing.sql", "schema.sql", "notify.sql", "seed.sql"))
    sql += "INSERT INTO pgward.secret VALUES ('%s');" % SECRET
    pg.execute(sql + ACCOUNTS, dbname=DB)
    return DB


def settings(pg, **kw):
    s = {"tenant.mode": "on", "tenant.source": "query", "tenant.identity": "login_role",
         "tenant.query": BY_ROLE, "tenant.cache_ttl": "1h", "tenant.lookup_timeout": "2s",
         "tenant.conninfo": "host=127.0.0.1 port=%d user=%s dbname=%s" % (pg.port, SUPERUSER, DB),
         "tenant.signing_secret": SECRET}
    s.update(kw)
    return s


def connect(pw, user):
    return pw.connect(user, DB, password=PASSWORD)


def one(conn, sql):
    with conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchone()[0]


def counts(conn):
    return [one(conn, "SELECT count(*) FROM %s" % t) for t in TABLES]


def test_login_role_looked_up_by_name(login_role_db, pgward_factory, pg):
    pw = pgward_factory(**settings(pg))
    pw.wait_log("tenant_lookup_up", timeout=10)
    alice, bob = connect(pw, LR_ALICE), connect(pw, LR_BOB)
    assert one(alice, "SELECT current_setting('app.user_org_ids')") == "{%s}" % ORG_A
    assert one(alice, "SELECT current_setting('app.user_id')") == LR_ALICE
    assert one(bob, "SELECT current_setting('app.user_org_ids')") == "{%s}" % ORG_B
    assert counts(alice) == SEEN_A
    assert counts(bob) == SEEN_B
    assert one(alice, "SELECT string_agg(domain, ',') FROM domains") == "acme.example"
    assert one(bob, "SELECT string_agg(domain, ',') FROM domains") == "globex.example"
    # a role the query does not know gets no organizations, so RLS shows it nothing
    nobody = connect(pw, LR_NOBODY)
    assert one(nobody, "SELECT current_setting('app.user_org_ids')") == "{}"
    assert counts(nobody) == [0] * len(TABLES)
    assert "tenant_lookup_failed" not in pw.log_text()


def test_default_query_with_login_role_refused_at_load(tmp_path, pg):
    """The default query compares $1 with organization_members.user_id (a uuid): with role
    names as identities it would fail every login, so the configuration is refused."""
    conf = tmp_path / "pgward.ini"
    conf.write_text("[pgward]\nlisten_port = 6999\nserver_host = 127.0.0.1\nserver_port = %d\n"
                    "[tenant]\nmode = on\nsource = query\nidentity = login_role\n"
                    "conninfo = host=127.0.0.1 port=%d dbname=%s\n" % (pg.port, pg.port, DB))
    r = run([str(PGWARD_BIN), "--check-config", "-c", str(conf)], check=False)
    text = (r.stdout + r.stderr).decode()
    assert r.returncode != 0, text
    assert "%s:8:" % conf in text, text  # the identity line
    assert "identity = login_role with source = query needs a query keyed on login role names" in text
    # the same with the default written out, as conf/pgward.ini ships it
    conf.write_text(conf.read_text() + "query = SELECT organization_id FROM organization_members "
                    "WHERE user_id = $1\n")
    r = run([str(PGWARD_BIN), "--check-config", "-c", str(conf)], check=False)
    assert r.returncode != 0 and b"keyed on login role names" in r.stdout + r.stderr
    # with a query keyed on role names the file is fine
    conf.write_text(conf.read_text().replace("WHERE user_id = $1", "WHERE user_id::text = $1"))
    r = run([str(PGWARD_BIN), "--check-config", "-c", str(conf)], check=False)
    assert r.returncode == 0, (r.stdout + r.stderr).decode()


def test_uuid_query_with_a_role_name_names_the_cause(login_role_db, pgward_factory, pg):
    """Any other query that reads $1 as a uuid: each login's FATAL 58000 says that $1 was the
    login role's name. A trusted role's UUID user id still works with it."""
    q = "SELECT organization_id FROM organization_members WHERE user_id = $1 AND role <> 'banned'"
    pw = pgward_factory(**settings(pg, **{"tenant.query": q, "tenant.trusted_roles": LR_BOB}))
    pw.wait_log("tenant_lookup_up", timeout=10)
    with pytest.raises(psycopg2.OperationalError) as e:
        connect(pw, LR_ALICE)
    text = str(e.value)
    assert "58000" in text or "cannot resolve the tenant context" in text, text
    assert 'invalid input syntax for type uuid: "%s"' % LR_ALICE in text, text
    assert "$1 is the login role's name" in text, text
    c = pw.connect(LR_BOB, DB, password=PASSWORD, options="-c app.user_id=%s" % ALICE)
    assert one(c, "SELECT current_setting('app.user_org_ids')") == "{%s}" % ORG_A
    assert counts(c) == SEEN_A
