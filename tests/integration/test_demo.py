"""The README's first command: scripts/demo.sh starts PostgreSQL with the example schema and
pgward with every policy on, and prints a tour. This runs the script on free ports, runs
every command the tour prints exactly as printed, checks that each shows what its step says,
that the README shows the same commands, and that starting again and stopping work."""

import os
import re
import subprocess

import pytest

from conftest import PG_OS_USER, PGBIN, PGWARD_BIN, ROOT, SANITIZER_MARKERS, clean_env, free_port, listening, run, wait_for

DEMO = ROOT / "scripts" / "demo.sh"
PORT_VARS = ("PG_PORT", "PGWARD_PORT", "METRICS_PORT")
ACME = "{11111111-1111-4111-8111-111111111111}"


def has(*needles, absent=()):
    def check(out):
        for n in needles:
            assert n in out, "expected %r in:\n%s" % (n, out)
        for n in absent:
            assert n not in out, "did not expect %r in:\n%s" % (n, out)
    return check


def matches(pattern):
    def check(out):
        assert re.search(pattern, out, re.M), "expected /%s/ in:\n%s" % (pattern, out)
    return check


def every(*checks):
    def check(out):
        for c in checks:
            c(out)
    return check


def alice_counted(out):
    m = re.search(r'^pgward_query_duration_seconds_count\{tenant="alice",kind="select"\} (\d+)$', out, re.M)
    assert m and int(m.group(1)) >= 1, out


# One check per command the tour prints, in order.
TOUR_CHECKS = [
    has(ACME, " Acme", "How much is an anvil?", "From 10 coins.", absent=("Globex", "everything")),
    # straight to PostgreSQL with Acme's ids set by hand: the policies want pgward's signature
    every(has(ACME), matches(r"^\s+0$")),
    has("ERROR:  42501: pgward: DROP TABLE messages is not allowed", "(rule drop_table)"),
    has("42501: pgward: SET of app.user_org_ids is not allowed", "(rule tenant_context)",
        "42501: pgward: set_config() of app.user_org_ids is not allowed"),
    has("ERROR:  23505: pgward: an active job with this key already exists in scrape_jobs",
        "Key (domain, job_type)=(globex.example, full_crawl) already has an active job."),
    has("ERROR:  54000:", "(rule query_size, max_query_size)"),
    alice_counted,
    has("ok: 127.0.0.1:"),
    # checked with an open session of alice's, see test_demo_tour
    matches(r"^ \d+\s+\| alice\s+\| app\s+\| alice\s+\|.*\| idle\s+\|"),
]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    env = clean_env(DEMO_RUN=tmp_path_factory.mktemp("demo"), PGWARD_BIN=PGWARD_BIN, PGBIN=PGBIN,
                    PGWARD_PG_USER=PG_OS_USER, **{k: free_port() for k in PORT_VARS})
    yield env
    run(["bash", str(DEMO), "stop"], env=env, timeout=120, check=False)


def start(env):
    r = run(["bash", str(DEMO)], env=env, timeout=600)
    return r.stdout.decode()


def tour_commands(out):
    return [line[4:] for line in out.splitlines() if line.startswith("    ") and not line[4].isspace()]


def run_tour_command(cmd, env):
    r = subprocess.run(["bash", "-c", cmd], env=env, capture_output=True, timeout=60, cwd=ROOT)
    return (r.stdout + r.stderr).decode()


def test_demo_tour(demo):
    out = start(demo)
    commands = tour_commands(out)
    assert len(commands) == len(TOUR_CHECKS), commands
    for cmd, check in zip(commands, TOUR_CHECKS):
        if "SHOW SESSIONS" in cmd:
            # a session of alice's to be listed
            alice = subprocess.Popen(["psql", "-X", "-q", commands[0].split()[1]], stdin=subprocess.PIPE,
                                     stdout=subprocess.DEVNULL, env=demo)
            alice.stdin.write(b"SELECT 1;\n")
            alice.stdin.flush()
            try:
                wait_for(lambda: "| alice " in run_tour_command(cmd, demo), 10, 0.2, "alice's session")
                check(run_tour_command(cmd, demo))
            finally:
                alice.stdin.close()
                alice.wait(10)
        else:
            check(run_tour_command(cmd, demo))
    # README: the application role passing Alice's user id is Alice too; alice may not pass one
    as_app = ("psql -X -At \"host=127.0.0.1 port=%s dbname=app user=%s password=x "
              "options='-c app.user_id=aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa'\" -c 'SELECT name FROM organizations'")
    assert run_tour_command(as_app % (demo["PGWARD_PORT"], "app"), demo).strip() == "Acme"
    assert "is not one of [tenant] trusted_roles" in run_tour_command(as_app % (demo["PGWARD_PORT"], "alice"), demo)


def test_the_demo_secret_is_stored_once_and_is_pgwards():
    """Every policy reads pgward.org_ids(), which shows rows only when PostgreSQL holds the secret
    pgward signs with: conf/tenant/demo.sql is the one file that stores it (for the demo and
    compose alike), and it is docker/pgward.ini's signing_secret."""
    stored = {}
    for f in sorted((ROOT / "conf" / "tenant").glob("*.sql")):
        code = "\n".join(l for l in f.read_text().splitlines() if not l.lstrip().startswith("--"))
        for m in re.finditer(r"INSERT INTO pgward\.secret\b[^;]*?VALUES \('([^']*)'\)", code):
            stored.setdefault(f.name, []).append(m.group(1))
    ini = (ROOT / "docker" / "pgward.ini").read_text()
    tenant = re.search(r"^\[tenant\]$(.*?)^\[", ini, re.M | re.S).group(1)
    configured = re.findall(r"^signing_secret = (\S+)$", tenant, re.M)
    assert len(configured) == 1, tenant
    assert stored == {"demo.sql": configured}, stored


def test_readme_shows_the_tour():
    out = run(["bash", str(DEMO), "tour"], env=clean_env()).stdout.decode()
    commands = tour_commands(out)
    assert len(commands) == len(TOUR_CHECKS) and ":6432/" in commands[0], out
    readme = (ROOT / "README.md").read_text()
    missing = [c for c in commands if c not in readme]
    assert not missing, "README.md lacks the tour commands\n" + "\n".join(missing)


def test_demo_starts_again_from_the_seed_and_stops(demo):
    start(demo)
    # rows a first run may have added are gone: the database is made afresh
    conninfo = "postgresql://postgres@127.0.0.1:%s/app" % demo["PG_PORT"]
    run(["psql", "-X", "-q", conninfo, "-c",
         "UPDATE scrape_jobs SET status = 'completed' WHERE domain = 'globex.example'"], env=demo)
    out = start(demo)
    bob_insert = [c for c in tour_commands(out) if "INSERT INTO scrape_jobs" in c]
    assert len(bob_insert) == 1
    assert "23505" in run_tour_command(bob_insert[0], demo)
    log = (demo["DEMO_RUN"] + "/pgward.log")
    run(["bash", str(DEMO), "stop"], env=demo)
    assert not listening(int(demo["PGWARD_PORT"])) and not listening(int(demo["METRICS_PORT"]))
    wait_for(lambda: not listening(int(demo["PG_PORT"])), 10, what="PostgreSQL to stop")
    text = open(log, errors="replace").read()
    assert not [m for m in SANITIZER_MARKERS if m in text], text[-3000:]
    # stopping twice is fine too
    run(["bash", str(DEMO), "stop"], env=demo)
