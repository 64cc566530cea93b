"""[tenant] notify_roles: which NOTIFYs on listen_channel empty pgward's tenant cache, through a
real PostgreSQL with the example schema of conf/tenant/. Any role that can connect may NOTIFY,
so pgward looks up each sender's backend pid on its own connection and acts only for
superusers, its lookup role and the roles listed; everything else (another role, a payload that
is neither '*' nor an identity, a sender gone before the check) is ignored, counted and logged.
The senders here connect straight to PostgreSQL, as one bypassing pgward would."""

import re
import time

import pytest

from conftest import ROOT, SUPERUSER, run_in_thread, wait_for

CONF = ROOT / "conf" / "tenant"
DB = "tenant_notify"
CHANNEL = "pgward_tenant_changed"
ORG_A = "11111111-1111-4111-8111-111111111111"
ORG_B = "22222222-2222-4222-8222-222222222222"
ALICE = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"
BOB = "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb"
SLOW = "cccccccc-cccc-4ccc-8ccc-cccccccccccc"  # its lookup takes SLOW_SECONDS
SLOW_SECONDS = 1.5
PASSWORD = "notify-secret"
SECRET = "notify-test-signing-secret"
APP, LOOKUP, ADMIN, MALLORY = "nt_app", "nt_lookup", "nt_admin", "nt_mallory"
# The organizations of $1; one identity's lookup is slow, so a test can hold the connection busy.
QUERY = ("WITH s AS (SELECT pg_sleep(CASE WHEN $1 = '%s'::uuid THEN %s ELSE 0 END)) "
         "SELECT organization_id FROM organization_members, s WHERE user_id = $1" % (SLOW, SLOW_SECONDS))
IGNORED = re.compile(r"event=tenant_notify_ignored .*reason=(\w+) pid=(\d+) role=\"([^\"]*)\" "
                     r"payload=\"([^\"]*)\" notifications=(\d+) ignored_total=(\d+)")


@pytest.fixture(scope="module")
def notify_db(pg):
    for role in (APP, LOOKUP, ADMIN, MALLORY):
        pg.execute("DROP ROLE IF EXISTS %s; CREATE ROLE %s LOGIN PASSWORD '%s'" % (role, role, PASSWORD))
    # the lookup role must see organization_members whole
    pg.execute("ALTER ROLE %s BYPASSRLS" % LOOKUP)
    pg.execute("DROP DATABASE IF EXISTS %s WITH (FORCE)" % DB)
    pg.execute("CREATE DATABASE %s" % DB)
    sql = "".join((CONF / f).read_text() for f in ("signing.sql", "schema.sql", "notify.sql", "seed.sql"))
    sql += "INSERT INTO pgward.secret VALUES ('%s');" % SECRET
    sql += "GRANT SELECT ON organization_members TO %s;" % LOOKUP
    pg.execute(sql, dbname=DB)
    return DB


def settings(pg, **kw):
    s = {"tenant.mode": "on", "tenant.source": "query", "tenant.identity": "startup_option",
         "tenant.trusted_roles": APP, "tenant.cache_ttl": "1h", "tenant.lookup_timeout": "5s",
         "tenant.query": QUERY, "tenant.notify_roles": ADMIN, "tenant.signing_secret": SECRET,
         "tenant.conninfo": "host=127.0.0.1 port=%d user=%s password=%s dbname=%s"
                            % (pg.port, LOOKUP, PASSWORD, DB),
         "admin.users": SUPERUSER}
    s.update(kw)
    return s


def start(pgward_factory, pg, **kw):
    pw = pgward_factory(**settings(pg, **kw))
    pw.wait_log("event=tenant_listening channel=%s" % CHANNEL, timeout=10)
    return pw


def context(pw, user_id):
    c = pw.connect(APP, DB, password=PASSWORD, options="-c app.user_id=%s" % user_id)
    try:
        with c.cursor() as cur:
            cur.execute("SELECT current_setting('app.user_org_ids')")
            return cur.fetchone()[0]
    finally:
        c.close()


def stats(pw):
    out = pw.psql("-F", "|", "-c", "SHOW COUNTERS", dbname="pgward").stdout.decode()
    s = dict(line.split("|") for line in out.splitlines())
    return {k: int(s["tenant_" + k]) for k in ("cache_hits", "cache_misses", "cache_invalidations", "lookups")}


def direct(pg, user):
    """A session straight to PostgreSQL, not through pgward."""
    return pg.connect(user, DB, password=None if user == SUPERUSER else PASSWORD)


def pid_of(conn):
    with conn.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        return cur.fetchone()[0]


def notify(conn, *payloads):
    with conn.cursor() as cur:
        for p in payloads:
            cur.execute("SELECT pg_notify(%s, %s)", (CHANNEL, p))


def ignored_lines(pw, start=0):
    return [m.groups() for m in IGNORED.finditer(pw.log_text()[start:])]


def ignored_total(pw):
    lines = ignored_lines(pw)
    return int(lines[-1][5]) if lines else 0


def change_behind_pgwards_back(pg):
    """Adds Globex to alice without the trigger: only an invalidation shows it to new sessions."""
    pg.execute("SET session_replication_role = replica;"
               "INSERT INTO organization_members VALUES ('%s', '%s') ON CONFLICT DO NOTHING" % (ORG_B, ALICE),
               dbname=DB)


def undo_change(pg):
    pg.execute("SET session_replication_role = replica;"
               "DELETE FROM organization_members WHERE organization_id = '%s' AND user_id = '%s'" % (ORG_B, ALICE),
               dbname=DB)


BOTH = {"{%s,%s}" % (ORG_A, ORG_B), "{%s,%s}" % (ORG_B, ORG_A)}


@pytest.fixture
def cached(notify_db, pgward_factory, pg):
    """pgward with alice's and bob's organizations cached, then a change pgward has not heard of."""
    pw = start(pgward_factory, pg)
    assert context(pw, ALICE) == "{%s}" % ORG_A
    assert context(pw, BOB) == "{%s}" % ORG_B
    change_behind_pgwards_back(pg)
    yield pw
    undo_change(pg)


def hold_lookup_busy(pw, pg):
    """Starts a slow lookup on pgward's connection: checks wait until it is answered."""
    t, res = run_in_thread(context, pw, SLOW)
    wait_for(lambda: pg.execute("SELECT count(*) FROM pg_stat_activity WHERE usename = '%s' "
                                "AND state = 'active' AND query LIKE '%%pg_sleep%%'" % LOOKUP)[0][0] == 1,
             5, what="the slow lookup running")
    return t, res


# ---------------------------------------------------------------- (a) a role not allowed


def test_disallowed_role_cannot_empty_the_cache(cached, pg):
    pw = cached
    before = stats(pw)
    mallory = direct(pg, MALLORY)
    pid = pid_of(mallory)
    with mallory.cursor() as cur:
        cur.execute("NOTIFY %s, '*'" % CHANNEL)
    notify(mallory, ALICE)
    pw.wait_log(r"event=tenant_notify_ignored .*pid=%d role=\"%s\"" % (pid, MALLORY))
    wait_for(lambda: ignored_total(pw) >= 2, 5, what="both notifications counted")
    assert all(l[0] == "role_not_allowed" and l[2] == MALLORY for l in ignored_lines(pw))
    # nothing was dropped: the next logins are cache hits, with the cached (old) ids
    assert context(pw, ALICE) == "{%s}" % ORG_A
    assert context(pw, BOB) == "{%s}" % ORG_B
    after = stats(pw)
    assert after["cache_invalidations"] == before["cache_invalidations"], (before, after)
    assert after["lookups"] == before["lookups"], (before, after)
    assert after["cache_hits"] == before["cache_hits"] + 2, (before, after)
    assert "tenant_invalidated" not in pw.log_text()


def test_flood_from_a_disallowed_role_is_counted_not_logged_line_by_line(cached, pg):
    pw = cached
    mallory = direct(pg, MALLORY)
    # While pgward's connection is busy the flood piles up: it is checked in a batch or two,
    # a line per sender and batch, with every notification counted.
    t, res = hold_lookup_busy(pw, pg)
    with mallory.cursor() as cur:
        cur.execute("SELECT pg_notify(%s, md5(g::text)::uuid::text) FROM generate_series(1, 500) g", (CHANNEL,))
        for g in range(200):
            cur.execute("SELECT pg_notify(%s, md5(%s)::uuid::text)", (CHANNEL, "x%d" % g))
    t.join(10)
    wait_for(lambda: sum(int(l[4]) for l in ignored_lines(pw)) >= 700, 10, what="700 notifications counted")
    lines = ignored_lines(pw)
    assert len(lines) <= 5, lines
    assert ignored_total(pw) == 700
    assert {l[:3] for l in lines} == {("role_not_allowed", str(pid_of(mallory)), MALLORY)}
    # Many senders (a line each): at most 20 lines a minute.
    for _ in range(25):
        notify(direct(pg, MALLORY), "*")
    wait_for(lambda: len(ignored_lines(pw)) >= 20, 10, what="the rate limit reached")
    time.sleep(0.5)
    assert len(ignored_lines(pw)) == 20, pw.log_text()
    assert context(pw, ALICE) == "{%s}" % ORG_A
    assert "tenant_invalidated" not in pw.log_text()
    assert pw.alive()


def test_set_role_does_not_make_a_sender_allowed(cached, pg):
    """pg_stat_activity names the session's login role; SET ROLE to an allowed one changes
    nothing (mallory is made a member of nt_admin for this)."""
    pw = cached
    pg.execute("GRANT %s TO %s" % (ADMIN, MALLORY))
    try:
        mallory = direct(pg, MALLORY)
        with mallory.cursor() as cur:
            cur.execute("SET ROLE %s; NOTIFY %s, '*'" % (ADMIN, CHANNEL))
        wait_for(lambda: ignored_total(pw) >= 1, 5, what="the notification counted")
        assert ignored_lines(pw)[-1][:1] == ("role_not_allowed",) and ignored_lines(pw)[-1][2] == MALLORY
        assert context(pw, ALICE) == "{%s}" % ORG_A
    finally:
        pg.execute("REVOKE %s FROM %s" % (ADMIN, MALLORY))


# ---------------------------------------------------------------- (b) allowed senders


@pytest.mark.parametrize("sender", [ADMIN, LOOKUP, SUPERUSER])
def test_allowed_roles_invalidate(cached, pg, sender):
    """A role of notify_roles, pgward's own lookup role and a superuser: an identity drops that
    identity only; '*' drops everything."""
    pw = cached
    before = stats(pw)
    c = direct(pg, sender)
    notify(c, ALICE)
    wait_for(lambda: context(pw, ALICE) in BOTH, 5, what="alice's new context")
    assert context(pw, BOB) == "{%s}" % ORG_B
    after = stats(pw)
    assert after["cache_invalidations"] == before["cache_invalidations"] + 1, (before, after)
    assert after["lookups"] == before["lookups"] + 1, (before, after)
    pg.execute("SET session_replication_role = replica; UPDATE organization_members SET role = 'x' "
               "WHERE user_id = '%s'" % BOB, dbname=DB)
    notify(c, "*")
    wait_for(lambda: stats(pw)["cache_invalidations"] >= after["cache_invalidations"] + 2, 5,
             what="every identity dropped")
    n = stats(pw)["lookups"]
    assert context(pw, BOB) == "{%s}" % ORG_B
    assert stats(pw)["lookups"] == n + 1
    assert ignored_lines(pw) == []


def test_the_trigger_still_invalidates(cached, pg):
    """conf/tenant/notify.sql's trigger sends the NOTIFY from the session that changed
    organization_members: here a superuser, so it counts."""
    pw = cached
    assert context(pw, ALICE) == "{%s}" % ORG_A  # still the cached ids
    pg.execute("UPDATE organization_members SET role = 'admin' WHERE user_id = '%s' AND organization_id = '%s'"
               % (ALICE, ORG_B), dbname=DB)
    wait_for(lambda: context(pw, ALICE) in BOTH, 5, what="alice's new context")
    pg.execute("DELETE FROM organization_members WHERE user_id = '%s' AND organization_id = '%s'"
               % (ALICE, ORG_B), dbname=DB)
    wait_for(lambda: context(pw, ALICE) == "{%s}" % ORG_A, 5, what="alice's old context")
    assert ignored_lines(pw) == []


def test_the_trigger_from_a_role_not_listed_is_ignored(cached, pg):
    """The same trigger fired by a role that is not allowed (mallory, given write access to
    organization_members and BYPASSRLS for this) invalidates nothing: list such roles in
    notify_roles."""
    pw = cached
    pg.execute("ALTER ROLE %s BYPASSRLS" % MALLORY)
    pg.execute("GRANT UPDATE, SELECT ON organization_members TO %s" % MALLORY, dbname=DB)
    try:
        mallory = direct(pg, MALLORY)
        with mallory.cursor() as cur:
            cur.execute("UPDATE organization_members SET role = 'admin' WHERE user_id = %s", (ALICE,))
            assert cur.rowcount == 2
        wait_for(lambda: ignored_total(pw) >= 1, 5, what="the trigger's notifications counted")
        assert ignored_lines(pw)[-1][0] == "role_not_allowed"
        assert context(pw, ALICE) == "{%s}" % ORG_A
    finally:
        pg.execute("REVOKE ALL ON organization_members FROM %s" % MALLORY, dbname=DB)
        pg.execute("ALTER ROLE %s NOBYPASSRLS" % MALLORY)


def test_notify_roles_applies_on_reload(cached, pg):
    pw = cached
    n = len(pw.log_text())
    pw.reload(**{"tenant.notify_roles": "%s, %s" % (ADMIN, MALLORY)})
    pw.wait_log("event=reloaded", start=n)
    mallory = direct(pg, MALLORY)
    notify(mallory, ALICE)
    wait_for(lambda: context(pw, ALICE) in BOTH, 5, what="alice's new context")
    assert ignored_lines(pw) == []


# ---------------------------------------------------------------- (c) malformed payloads


def test_malformed_payloads_are_ignored(cached, pg):
    """Only '*' and identities count (UUIDs, with identity = startup_option): an empty payload,
    free text or a list changes nothing, even from a superuser."""
    pw = cached
    before = stats(pw)
    su = direct(pg, SUPERUSER)
    pid = pid_of(su)
    with su.cursor() as cur:
        cur.execute("NOTIFY %s" % CHANNEL)  # no payload
    notify(su, "all", " * ", "%s,%s" % (ALICE, BOB), "x" * 300, "\x01*")
    wait_for(lambda: ignored_total(pw) >= 6, 5, what="six malformed payloads counted")
    lines = ignored_lines(pw)
    assert {l[0] for l in lines} == {"malformed_payload"}
    assert {int(l[1]) for l in lines} == {pid}
    assert [l[3] for l in lines][:4] == ["", "all", " * ", "%s,%s" % (ALICE, BOB)]
    assert r"\x01*" in pw.log_text()  # control bytes escaped, not written raw
    assert context(pw, ALICE) == "{%s}" % ORG_A
    after = stats(pw)
    assert after["cache_invalidations"] == before["cache_invalidations"]
    assert after["lookups"] == before["lookups"]


def test_role_names_are_identities_with_login_role(notify_db, pgward_factory, pg):
    """With identity = login_role a payload naming a role is an identity (the login roles are
    the identities), while one longer than a role name can be is malformed."""
    pw = start(pgward_factory, pg, **{
        "tenant.identity": "login_role",
        "tenant.query": "SELECT organization_id FROM organization_members m "
                        "WHERE m.user_id::text = $1 OR ($1 = '%s' AND m.user_id = '%s')" % (APP, ALICE)})
    c = pw.connect(APP, DB, password=PASSWORD)
    with c.cursor() as cur:
        cur.execute("SELECT current_setting('app.user_org_ids')")
        assert cur.fetchone()[0] == "{%s}" % ORG_A
    c.close()
    before = stats(pw)
    su = direct(pg, SUPERUSER)
    notify(su, "r" * 64, APP)
    wait_for(lambda: stats(pw)["cache_invalidations"] == before["cache_invalidations"] + 1, 5,
             what="nt_app dropped")
    assert [l[0] for l in ignored_lines(pw)] == ["malformed_payload"]


# ---------------------------------------------------------------- (d) a sender already gone


def test_sender_gone_before_the_check(cached, pg):
    """The check runs on pgward's lookup connection after the lookup in flight; a sender that
    disconnected meanwhile, with no record from notify.sql's trigger, cannot be checked, so
    even a superuser's '*' is then ignored (and counted): otherwise disconnecting at once
    would be the way around the check."""
    pw = cached
    before = stats(pw)
    t, res = hold_lookup_busy(pw, pg)
    su = direct(pg, SUPERUSER)
    pid = pid_of(su)
    notify(su, "*")
    su.close()
    wait_for(lambda: not pg.backend_alive(pid), 5, what="the sender's backend gone")
    t.join(10)
    assert res.get("value") == "{}", res  # the slow identity has no organizations
    pw.wait_log(r"event=tenant_notify_ignored reason=sender_gone pid=%d " % pid)
    assert ignored_lines(pw)[-1][4:] == ("1", "1")
    assert context(pw, ALICE) == "{%s}" % ORG_A
    after = stats(pw)
    assert after["cache_invalidations"] == before["cache_invalidations"]
    assert pw.alive()
    # and the connection goes on: an allowed sender that stays counts again
    admin = direct(pg, ADMIN)
    notify(admin, ALICE)
    wait_for(lambda: context(pw, ALICE) in BOTH, 5, what="alice's new context")


def test_many_senders_gone_and_present_in_one_batch(cached, pg):
    """Several senders queued behind one slow lookup: those gone are ignored, the allowed one
    still connected counts, in the same check."""
    pw = cached
    t, res = hold_lookup_busy(pw, pg)
    gone = []
    for _ in range(5):
        c = direct(pg, ADMIN)
        gone.append(pid_of(c))
        notify(c, BOB)
        c.close()
    stays = direct(pg, ADMIN)
    notify(stays, ALICE)
    for pid in gone:
        wait_for(lambda: not pg.backend_alive(pid), 5, what="a sender gone")
    t.join(10)
    wait_for(lambda: ignored_total(pw) >= 5, 5, what="five gone senders counted")
    assert sorted(int(l[1]) for l in ignored_lines(pw)) == sorted(gone)
    assert {l[0] for l in ignored_lines(pw)} == {"sender_gone"}
    assert context(pw, ALICE) in BOTH  # the one still connected counted
    n = stats(pw)["lookups"]
    assert context(pw, BOB) == "{%s}" % ORG_B  # those gone did not: still cached
    assert stats(pw)["lookups"] == n
    assert pw.alive()


def test_trigger_from_a_session_already_gone(cached, pg):
    """A session that changes organization_members and disconnects at once (here while
    pgward's connection is busy, so it is surely gone before the check): notify.sql's trigger
    recorded its role in pgward.notify_senders, and that record is checked instead."""
    pw = cached
    t, res = hold_lookup_busy(pw, pg)
    su = direct(pg, SUPERUSER)
    pid = pid_of(su)
    with su.cursor() as cur:
        cur.execute("UPDATE organization_members SET role = 'admin' WHERE user_id = %s", (ALICE,))
    su.close()
    wait_for(lambda: not pg.backend_alive(pid), 5, what="the sender's backend gone")
    t.join(10)
    assert res.get("value") == "{}", res
    pw.wait_log(r"event=tenant_invalidated pid=%d role=\"%s\" via=notify_senders" % (pid, SUPERUSER))
    assert context(pw, ALICE) in BOTH
    assert ignored_lines(pw) == []


def test_trigger_from_a_disallowed_session_already_gone(cached, pg):
    """The record names the sender's own login role: a role not allowed that fires the
    trigger and disconnects is still refused, by that role's name."""
    pw = cached
    pg.execute("ALTER ROLE %s BYPASSRLS" % MALLORY)
    pg.execute("GRANT UPDATE, SELECT ON organization_members TO %s" % MALLORY, dbname=DB)
    try:
        t, res = hold_lookup_busy(pw, pg)
        mallory = direct(pg, MALLORY)
        pid = pid_of(mallory)
        with mallory.cursor() as cur:
            cur.execute("UPDATE organization_members SET role = 'admin' WHERE user_id = %s", (ALICE,))
        mallory.close()
        wait_for(lambda: not pg.backend_alive(pid), 5, what="the sender's backend gone")
        t.join(10)
        wait_for(lambda: ignored_total(pw) >= 1, 5, what="the trigger's notification counted")
        assert ignored_lines(pw)[-1][:3] == ("role_not_allowed", str(pid), MALLORY)
        assert context(pw, ALICE) == "{%s}" % ORG_A
    finally:
        pg.execute("REVOKE ALL ON organization_members FROM %s" % MALLORY, dbname=DB)
        pg.execute("ALTER ROLE %s NOBYPASSRLS" % MALLORY)


def test_without_sender_records_connected_senders_still_count(cached, pg):
    """When pgward's lookup role cannot read pgward.notify_senders (or notify.sql's table is
    missing), pgward says so once and checks connected senders in pg_stat_activity only."""
    pw = cached
    pg.execute("REVOKE SELECT ON pgward.notify_senders FROM PUBLIC", dbname=DB)
    try:
        admin = direct(pg, ADMIN)
        notify(admin, ALICE)
        pw.wait_log("event=tenant_notify_no_sender_records")
        wait_for(lambda: context(pw, ALICE) in BOTH, 5, what="alice's new context")
        mallory = direct(pg, MALLORY)
        notify(mallory, "*")
        wait_for(lambda: ignored_total(pw) >= 1, 5, what="mallory's notification counted")
        assert ignored_lines(pw)[-1][0] == "role_not_allowed"
        assert context(pw, BOB) == "{%s}" % ORG_B
        assert pw.log_text().count("tenant_notify_no_sender_records") == 1
    finally:
        pg.execute("GRANT SELECT ON pgward.notify_senders TO PUBLIC", dbname=DB)
