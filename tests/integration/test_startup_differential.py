"""Random StartupMessages, sent to PostgreSQL directly and through pgward, compared with a
small model of how PostgreSQL 15 reads a StartupMessage.

The model (pg_view below) follows PostgreSQL 15's code:
- ProcessStartupPacket (postmaster.c): keys compared exactly (case-sensitive): `database`,
  `user`, `options` (the last of each wins), `replication` (every one parsed: "database"
  exactly, else parse_bool, anything else FATAL 22023; "database" sticks even when a later
  boolean follows), `_pq_.*` (protocol options: answered with NegotiateProtocolVersion, no
  setting), every other key a setting. No user: FATAL 28000. An empty or missing database
  is the user name; both are then cut to 63 bytes; physical replication has no database.
- process_startup_options (postinit.c): the options string first, then the packet's
  settings in packet order (so a packet key beats an option of the same setting).
- pg_split_opts: every isspace() byte separates ("C" ctype: space \\t \\n \\v \\f \\r), a
  backslash makes the next byte literal (a trailing one vanishes), no length limit.
- process_postgres_switches: glibc getopt over "B:bc:C:D:d:EeFf:h:ijk:lN:nOPp:r:S:sTt:v:W:-:",
  which permutes (a word anywhere is left over and refused with 42601), stops at a lone
  "--" (anything after it is left over), takes a switch's value from the rest of the token
  or the next token whatever it looks like; -c and -- go through ParseLongOption: split at
  the first '=', no '=' is "requires a value" (42601), '-' becomes '_' in the name only.
- set_config rules decide whether a value is valid and what SHOW prints; the test asks
  PostgreSQL itself (set_config in a transaction that is rolled back, in application order).

For every case: if PostgreSQL refuses it, pgward must refuse it; if pgward lets it through,
what PostgreSQL reports through pgward (current_user, current_database(), every setting,
ParameterStatus, NegotiateProtocolVersion) must equal the model's view and the direct
session's. Cases pgward must refuse by its own rules (a key twice, a setting twice by any
route, switches other than -c/--) must be refused with the matching SQLSTATE (or with
PostgreSQL's own, when PostgreSQL refuses the case too); a case with none of these that
PostgreSQL accepts must be accepted. A setting whose name starts with "_pq_." in any case
(a placeholder setting for PostgreSQL, a protocol option once rebuilt as a key) may be
refused.
"""

import collections
import random
import re
import time

import psycopg2
import pytest

import pgwire
from conftest import SCRAM_PASSWORD, SCRAM_USER, SUPERUSER
from test_startup_view import attempt, startup_packet

ORG_A = "11111111-1111-4111-8111-111111111111"
ORG_B = "22222222-2222-4222-8222-222222222222"
LONG = ("sd_long_role_" + "q" * 63)[:63]  # exactly 63 bytes
LONG_PASSWORD = "sd-long-secret"
PASSWORDS = {SUPERUSER: None, SCRAM_USER: SCRAM_PASSWORD, LONG: LONG_PASSWORD}
DATABASES = {"postgres", "sd_db", SCRAM_USER, LONG}
NAMEDATALEN = 64
MAX_PACKET = 10000

WHITESPACE = b" \t\n\x0b\x0c\r"
OPTSTRING = "B:bc:C:D:d:EeFf:h:ijk:lN:nOPp:r:S:sTt:v:W:-:"
OLD_NAMES = {"sort_mem": "work_mem", "vacuum_mem": "maintenance_work_mem"}

SEED = 20240611
CASES_TENANT_OFF = 320
CASES_TENANT_ON = 80


# ---------------------------------------------------------------- the model of PostgreSQL 15


def parse_bool(v):
    """PostgreSQL's parse_bool: True/False, or None when it is not a boolean."""
    s = v.lower()
    n = len(s)
    if n == 0:
        return None
    c = s[0]
    if c == "t" and "true".startswith(s):
        return True
    if c == "f" and "false".startswith(s):
        return False
    if c == "y" and "yes".startswith(s):
        return True
    if c == "n" and "no".startswith(s):
        return False
    if c == "o":
        if "on".startswith(s) and n >= 2:
            return True
        if "off".startswith(s) and n >= 2:
            return False
        return None
    if s == "1":
        return True
    if s == "0":
        return False
    return None


def split_opts(s):
    """pg_split_opts on bytes."""
    out, i, n = [], 0, len(s)
    while i < n:
        while i < n and s[i] in WHITESPACE:
            i += 1
        if i >= n:
            break
        tok, esc = bytearray(), False
        while i < n:
            ch = s[i]
            if ch in WHITESPACE and not esc:
                break
            if not esc and ch == 0x5C:
                esc = True
            else:
                esc = False
                tok.append(ch)
            i += 1
        out.append(bytes(tok))
    return out


class View:
    """What PostgreSQL makes of one StartupMessage, plus what pgward must do with it."""

    def __init__(self):
        self.user = None
        self.database = None
        self.walsender = False
        self.db_walsender = False
        self.settings = []          # (name as looked up, value, route) in application order
        self.pq = []                # _pq_.* keys
        self.pg_refuses = None      # a reason PostgreSQL refuses, known from the packet alone
        self.pg_unknown = False     # switches whose effect the model does not follow
        self.must_refuse = {}       # reason -> (sqlstates, name the message must contain)
        self.unsure = []            # things pgward may refuse or accept

    @property
    def physical(self):
        return self.walsender and not self.db_walsender

    def refuse_pg(self, why):
        if self.pg_refuses is None:
            self.pg_refuses = why

    def canon(self, name):
        n = name.lower()
        return OLD_NAMES.get(n, n)

    def finals(self):
        """canonical name -> the name to read it by, for every setting the server applies."""
        out = collections.OrderedDict()
        for name, _, _ in self.settings:
            out[self.canon(name)] = name
        return out

    @property
    def clean(self):
        return not self.must_refuse and not self.unsure and not self.pg_unknown


def walk_switches(tokens, view):
    """process_postgres_switches' getopt loop; appends -c / -- settings to view.settings."""
    i = 0
    leftover = []
    while i < len(tokens):
        t = tokens[i]
        if t == b"--":
            if tokens[i + 1:]:
                view.refuse_pg("words after a lone --")
                view.must_refuse.setdefault("switch", (("0A000", "42601"), ""))
            else:
                view.unsure.append("a lone -- ends the switches")
            break
        if len(t) < 2 or t[0] != 0x2D:
            leftover.append(t)
            i += 1
            continue
        j = 1
        while j < len(t):
            ch = chr(t[j])
            pos = OPTSTRING.find(ch)
            if ch == ":" or pos < 0:
                view.refuse_pg("unknown switch -%s" % ch)
                view.must_refuse["switch"] = (("0A000", "42601"), "")
                return
            takes = pos + 1 < len(OPTSTRING) and OPTSTRING[pos + 1] == ":"
            if ch not in "c-":
                view.pg_unknown = True
                view.must_refuse["switch"] = (("0A000", "42601"), "-" + ch)
            if not takes:
                j += 1
                continue
            if j + 1 < len(t):
                arg = t[j + 1:]
            elif i + 1 < len(tokens):
                i += 1
                arg = tokens[i]
            else:
                view.refuse_pg("-%s without a value" % ch)
                view.must_refuse.setdefault("switch", (("0A000", "42601", "08P01"), ""))
                return
            if ch in "c-":
                name, eq, value = arg.partition(b"=")
                if not eq:
                    view.refuse_pg("-%s %r requires a value" % (ch, arg))
                    view.must_refuse.setdefault("switch", (("0A000", "42601", "08P01"), ""))
                    return
                view.settings.append((name.replace(b"-", b"_").decode(), value.decode(), "options"))
            break
        i += 1
    if leftover:
        view.refuse_pg("invalid command-line argument %r" % leftover[0])
        view.must_refuse.setdefault("switch", (("0A000", "42601"), leftover[0].decode()))


def pg_view(pairs, tenant=False):
    v = View()
    keys = collections.Counter(k for k, _ in pairs)
    for k, n in keys.items():
        if n > 1:
            v.must_refuse["key " + k] = (("08P01",), k)
    options = None
    packet_settings = []
    for k, val in pairs:
        if k == "database":
            v.database = val
        elif k == "user":
            v.user = val
        elif k == "options":
            options = val
        elif k == "replication":
            if val == "database":
                v.walsender = v.db_walsender = True
            else:
                b = parse_bool(val)
                if b is None:
                    v.refuse_pg("replication=%r" % val)
                else:
                    v.walsender = b
        elif k.startswith("_pq_."):
            v.pq.append(k)
        else:
            packet_settings.append((k, val, "key"))
    if not v.user:
        v.refuse_pg("no user")
        v.user = ""
    if not v.database:
        v.database = v.user
    v.user = v.user.encode()[:NAMEDATALEN - 1].decode()
    v.database = v.database.encode()[:NAMEDATALEN - 1].decode()
    if v.physical:
        v.database = ""
    if options is not None:
        walk_switches(split_opts(options.encode()), v)
    v.settings += packet_settings
    # pgward's own rules about the settings
    exact, canonical = set(), set()
    for name, val, route in v.settings:
        c = name.lower()
        if c in exact:
            v.must_refuse["setting " + c] = (("08P01",), c)
        elif OLD_NAMES.get(c, c) in canonical:
            v.unsure.append("an old name and the new name of one setting")
        exact.add(c)
        canonical.add(OLD_NAMES.get(c, c))
        if c.startswith("_pq_."):
            v.unsure.append("a setting named like a protocol option")
        if tenant and c in ("app.user_org_ids", "app.user_id", "app.tenant_sig"):
            v.must_refuse["protected " + c] = (("42501", "28000"), "")
    if tenant and v.walsender and v.db_walsender:
        v.must_refuse["logical replication"] = (("0A000",), "")
    # who may log in, and where
    if v.pg_refuses is None:
        if v.user not in PASSWORDS:
            v.refuse_pg("no such role %r" % v.user)
        elif v.walsender and v.user != SUPERUSER:
            v.refuse_pg("walsender for a role without REPLICATION")
        elif not v.physical and v.database not in DATABASES:
            v.refuse_pg("no such database %r" % v.database)
    return v


class Oracle:
    """Asks PostgreSQL what a sequence of set_config calls leaves (or that one fails), in a
    transaction that is rolled back: the same checks the settings meet at startup."""

    def __init__(self, pg):
        self.conn = psycopg2.connect(pg.dsn(SUPERUSER, "postgres", connect_timeout=10))
        self.cache = {}
        self.single = {}

    def close(self):
        self.conn.close()

    def __call__(self, view):
        seq = tuple((n, val) for n, val, _ in view.settings)
        finals = view.finals()
        key = (seq, tuple(finals.items()))
        if key not in self.cache:
            self.cache[key] = self._ask(seq, finals)
        return self.cache[key]

    def codes(self, view):
        """The SQLSTATE each setting would be refused with on its own (valid ones left out)."""
        out = set()
        for n, val, _ in view.settings:
            if (n, val) not in self.single:
                ok, err = self._ask(((n, val),), {})
                self.single[(n, val)] = None if ok else err[:5]
            if self.single[(n, val)]:
                out.add(self.single[(n, val)])
        return out

    def _ask(self, seq, finals):
        cur = self.conn.cursor()
        try:
            for n, val in seq:
                cur.execute("SELECT set_config(%s, %s, true)", (n, val))
            out = {}
            for canon, name in finals.items():
                cur.execute("SELECT current_setting(%s)", (name,))
                out[canon] = cur.fetchone()[0]
            return True, out
        except psycopg2.Error as e:
            return False, "%s %s" % (e.pgcode, (e.pgerror or "").strip())
        finally:
            self.conn.rollback()


# ---------------------------------------------------------------- random StartupMessages

GUCS = {
    "application_name": ["app", "a b", "", "x" * 70, "a\\b", "tab\there", "caf\u00e9"],
    "search_path": ["public", "foo, public", '"$user", public', "", "nosuch"],
    "work_mem": ["64kB", "1MB", "4096", "7MB", "1GB", "10", "abc", "-1", ""],
    "DateStyle": ["ISO, MDY", "German", "SQL, DMY", "Postgres", "iso", "bogus"],
    "TimeZone": ["UTC", "Europe/Paris", "America/New_York", "utc", "Mars/Base"],
    "extra_float_digits": ["0", "3", "-15", "4", "x", "2"],
    "statement_timeout": ["0", "5s", "1min", "100000", "-1", "forever"],
    "lock_timeout": ["0", "10s", "soon"],
    "client_min_messages": ["notice", "warning", "bogus"],
    "IntervalStyle": ["postgres", "iso_8601", "sql_standard", "nope"],
    "bytea_output": ["hex", "escape", "x"],
    "enable_seqscan": ["off", "fals", "1", "on", "o", "maybe"],
    "default_transaction_isolation": ["read committed", "serializable", "bogus"],
    "client_encoding": ["UTF8", "utf8", "unicode", "utf-8", "SJIS", "LATIN1", "bogus"],
    "standard_conforming_strings": ["on", "true", "1", "yes", "tr", "off", "0", "f", "of", "o"],
    "sd.custom": ["v", "", "with space"],
    "no_such_setting": ["1"],
    "sort_mem": ["2MB"],
}
WEIGHTS = {"no_such_setting": 0.2, "sort_mem": 0.3, "client_encoding": 0.6,
           "standard_conforming_strings": 0.6}
ODD_SWITCHES = ["-e", "-B 10", "bareword", "-S 1MB", "-", "-c", "-c novalue", "-ce", "-c =x",
                "-c -c", "---work-mem=1MB", "-F", "-c user=postgres", "-c database=sd_db",
                "-c _pq_.opt=1"]


def pick_guc(rng):
    names = list(GUCS)
    return rng.choices(names, weights=[WEIGHTS.get(n, 1.0) for n in names])[0]


def vary_case(rng, name):
    r = rng.random()
    if r < 0.7:
        return name
    if r < 0.85:
        return name.upper()
    return "".join(ch.upper() if rng.random() < 0.5 else ch.lower() for ch in name)


def escape_token(rng, tok):
    out = []
    for ch in tok:
        if ch in " \t\n\x0b\x0c\r\\":
            out.append("\\" + ch)
        elif rng.random() < 0.05:
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


def separator(rng):
    r = rng.random()
    if r < 0.55:
        return " "
    if r < 0.85:
        return "".join(rng.choice(" \t\n\x0b\x0c\r") for _ in range(rng.randint(1, 4)))
    return "".join(rng.choice(" \t\n\x0b\x0c\r") for _ in range(rng.randint(100, 1500)))


def option_items(rng, settings):
    items = []
    for name, value in settings:
        spelled = vary_case(rng, name)
        form = rng.random()
        if form < 0.45:
            items.append("-c" + separator(rng) + escape_token(rng, spelled + "=" + value))
        elif form < 0.7:
            items.append(escape_token(rng, "-c" + spelled + "=" + value))
        else:
            dashed = spelled.replace("_", "-") if rng.random() < 0.6 else spelled
            items.append(escape_token(rng, "--" + dashed + "=" + value))
    return items


def gen_case(rng, tenant=False):
    pairs = []
    r = rng.random()
    user = rng.choice([SUPERUSER, SUPERUSER, SCRAM_USER, LONG])
    if user == LONG and rng.random() < 0.6:
        user += "".join(rng.choice("abcxyz_") for _ in range(rng.randint(1, 12)))
    if r < 0.93:
        pairs.append(("user", user))
    elif r < 0.96:
        pairs.append(("user", ""))
    if rng.random() < 0.03:
        pairs.append(("User", SUPERUSER))
    r = rng.random()
    if r < 0.55:
        pairs.append(("database", rng.choice(["postgres", "sd_db", LONG, LONG + "tail", SCRAM_USER])))
    elif r < 0.65:
        pairs.append(("database", ""))
    elif r < 0.68:
        pairs.append(("database", "sd_nosuch"))
    elif r < 0.70:
        pairs.append(("Database", "postgres"))
    # settings by packet key and by options
    key_settings = [(pick_guc(rng), None) for _ in range(rng.choice([0, 0, 1, 1, 2, 3]))]
    key_settings = [(n, rng.choice(GUCS[n])) for n, _ in key_settings]
    opt_settings = [(n, rng.choice(GUCS[n])) for n in (pick_guc(rng) for _ in range(rng.choice([0, 1, 2, 3, 4])))]
    if tenant and rng.random() < 0.08:
        opt_settings.append((rng.choice(["app.user_org_ids", "app.user_id", "App.Tenant_Sig"]), "{%s}" % ORG_B))
    for n, val in key_settings:
        pairs.append((vary_case(rng, n), val))
    if opt_settings or rng.random() < 0.25:
        items = option_items(rng, opt_settings)
        if rng.random() < 0.12:
            items.insert(rng.randint(0, len(items)), rng.choice(ODD_SWITCHES))
        text = separator(rng) if rng.random() < 0.3 else ""
        for it in items:
            text += it + separator(rng)
        if rng.random() < 0.5:
            text = text.rstrip(" ")
        pairs.append(("options", text))
    # unknown keys, protocol options, replication
    r = rng.random()
    if r < 0.05:
        pairs.append(("_pq_.sd_option", "1"))
    elif r < 0.07:
        pairs.append(("_PQ_.sd_option", "1"))
    elif r < 0.09:
        pairs.append(("Options", "-c work_mem=1MB"))
    r = rng.random()
    if r < 0.04:
        pairs.append(("replication", rng.choice(["false", "0", "off", "no", "f"])))
    elif r < 0.06:
        pairs.append(("replication", "database"))
    elif r < 0.07:
        pairs.append(("replication", rng.choice(["maybe", "", "Database", "o"])))
    elif r < 0.08:
        pairs.append(("replication", rng.choice(["true", "1", "on", "yes"])))
    # the same key twice, or the same setting by another route
    r = rng.random()
    if r < 0.08 and pairs:
        k, val = rng.choice(pairs)
        if k == "user":
            val = rng.choice([SUPERUSER, SCRAM_USER, LONG])
        elif k == "database":
            val = rng.choice(["postgres", "sd_db"])
        pairs.append((k, val))
    elif r < 0.14:
        n = pick_guc(rng)
        pairs.append((vary_case(rng, n), rng.choice(GUCS[n])))
        if any(k == "options" for k, _ in pairs):
            pairs.append((vary_case(rng, n), rng.choice(GUCS[n])))
        else:
            pairs.append(("options", "-c %s=%s" % (vary_case(rng, n), escape_token(rng, rng.choice(GUCS[n])))))
    rng.shuffle(pairs)
    while len(startup_packet(pairs)) > MAX_PACKET:  # keep under PostgreSQL's limit
        pairs = [(k, v[: len(v) // 2]) if k == "options" else (k, v) for k, v in pairs]
    return pairs


# ---------------------------------------------------------------- running one case


class Result:
    def __init__(self, a, observed=None, params=None, npv=None):
        self.a = a
        self.ok = a.ok
        self.observed = observed
        self.params = params
        self.npv = npv

    def __repr__(self):
        if self.ok:
            return "accepted %r" % (self.observed,)
        return "refused %s %s" % (self.a.sqlstate, self.a.message or self.a.why)


def password_for(view):
    return PASSWORDS.get(view.user) or SCRAM_PASSWORD


def run_case(endpoint, pairs, view, tenant=False):
    a = attempt(endpoint, pairs, password=password_for(view), user=view.user)
    try:
        if not a.ok:
            return Result(a)
        c = a.conn
        npv = [m.body for m in a.msgs if m.type == "v"]
        observed = {}
        finals = view.finals()
        if view.physical:
            rows = c.rows("IDENTIFY_SYSTEM")
            observed["identify_system"] = len(rows)
            for canon, name in finals.items():
                observed[canon] = c.scalar('SHOW "%s"' % name.lower())
        else:
            names = list(finals.items())
            cols = "".join(", current_setting('%s')" % n.replace("'", "''") for _, n in names)
            if tenant:
                cols += ", current_setting('app.user_org_ids', true), current_setting('app.user_id', true)"
            row = c.rows("SELECT current_user, current_database()" + cols)[0]
            observed["current_user"], observed["current_database"] = row[0], row[1]
            for (canon, _), val in zip(names, row[2:]):
                observed[canon] = val
            if tenant:
                observed["app.user_org_ids"], observed["app.user_id"] = row[-2], row[-1]
        return Result(a, observed, dict(c.params), npv)
    finally:
        if a.conn is not None:
            try:
                a.conn.send(pgwire.terminate())
            except OSError:
                pass
            a.conn.close()


def expected_observation(view, finals_values, tenant_map=None):
    want = dict(finals_values)
    if view.physical:
        want["identify_system"] = 1
        return want
    want["current_user"] = view.user
    want["current_database"] = view.database
    if tenant_map is not None:
        want["app.user_org_ids"] = tenant_map.get(view.user, "{}")
        want["app.user_id"] = view.user
    return want


def check_case(pairs, view, oracle, direct, through, tenant_map=None):
    """The differential's rules for one case; returns [(category, text)] of violations."""
    bad = []
    predicted_ok, finals = (False, None)
    if view.pg_refuses is None and not view.pg_unknown:
        predicted_ok, finals = oracle(view)
    # 1. the model agrees with PostgreSQL (only where it claims to know)
    if view.pg_refuses is not None and direct.ok:
        bad.append(("model", "model says PostgreSQL refuses (%s); it accepted" % view.pg_refuses))
    if view.pg_refuses is None and not view.pg_unknown:
        if predicted_ok != direct.ok:
            bad.append(("model", "model predicts %s (%s); PostgreSQL: %r" % (
                "accept" if predicted_ok else "refuse", finals, direct)))
        elif direct.ok:
            want = expected_observation(view, finals)
            got = {k: v for k, v in direct.observed.items() if k in want}
            if got != want:
                bad.append(("model", "model view %r; PostgreSQL reports %r" % (want, got)))
            if view.pq and len(direct.npv) != 1:
                bad.append(("model", "no NegotiateProtocolVersion for %r" % view.pq))
    # 2. what PostgreSQL refuses, pgward refuses
    if not direct.ok and through.ok:
        bad.append(("pg_refuses_pgward_accepts", "PostgreSQL: %r; pgward accepted" % direct))
    # 3. what pgward lets through reaches the server as asked
    if through.ok:
        if direct.ok:
            want_direct = dict(direct.observed)
            got = {k: v for k, v in through.observed.items() if k in want_direct}
            if got != want_direct:
                bad.append(("view", "direct %r; through pgward %r" % (want_direct, got)))
            if through.params != direct.params:
                bad.append(("view", "ParameterStatus direct %r; through pgward %r" % (direct.params, through.params)))
            if through.npv != direct.npv:
                bad.append(("view", "NegotiateProtocolVersion direct %r; through pgward %r"
                            % (direct.npv, through.npv)))
        if finals is not None and predicted_ok:
            want = expected_observation(view, finals, tenant_map)
            got = {k: v for k, v in through.observed.items() if k in want}
            if got != want:
                bad.append(("view", "model view %r; through pgward %r" % (want, got)))
    # 4. pgward's own refusals
    if view.must_refuse:
        if through.ok:
            bad.append(("must_refuse", "pgward accepted; its rules refuse %s" % sorted(view.must_refuse)))
        elif not view.unsure:
            codes = {"28000"} if not view.user else set()
            if not direct.ok:  # refused for a reason PostgreSQL gives too
                codes.add(direct.a.sqlstate)
            codes |= oracle.codes(view)
            for c, _ in view.must_refuse.values():
                codes.update(c)
            if through.a.sqlstate not in codes:
                bad.append(("sqlstate", "refused %s (%s); expected one of %s for %s" % (
                    through.a.sqlstate, through.a.message or through.a.why, sorted(codes),
                    sorted(view.must_refuse))))
            else:
                names = [n for c, n in view.must_refuse.values() if through.a.sqlstate in c and n]
                if names and not any(n.lower() in through.a.message.lower() for n in names):
                    bad.append(("message", "%r names none of %r" % (through.a.message, names)))
    # 5. no refusal without a reason
    elif view.clean and direct.ok and not through.ok:
        bad.append(("must_accept", "PostgreSQL accepted; pgward refused: %r" % through))
    return bad


def run_random(pg, pw, n, seed, tenant_map=None, budget=45.0):
    rng = random.Random(seed)
    oracle = Oracle(pg)
    failures = collections.defaultdict(list)
    counts = collections.Counter()
    started = time.monotonic()
    try:
        for i in range(n):
            pairs = gen_case(rng, tenant=tenant_map is not None)
            view = pg_view(pairs, tenant=tenant_map is not None)
            direct = run_case(pg, pairs, view)
            through = run_case(pw, pairs, view, tenant=tenant_map is not None)
            counts["direct ok" if direct.ok else "direct refused"] += 1
            counts["pgward ok" if through.ok else "pgward refused"] += 1
            for cat, text in check_case(pairs, view, oracle, direct, through, tenant_map):
                failures[cat].append("case %d %s:\n    %s" % (i, brief(pairs), text))
            assert time.monotonic() - started < budget, "the differential took longer than %ss" % budget
    finally:
        oracle.close()
    return counts, failures


def brief(pairs):
    """The pairs for a failure message, long whitespace runs shown by their length."""
    def short(v):
        return re.sub(r"[ \t\n\x0b\x0c\r]{12,}", lambda m: "<%d whitespace>" % len(m.group(0)), v)
    return "[%s]" % ", ".join("(%r, %r)" % (k, short(v)) for k, v in pairs)


def report(counts, failures, limit=4):
    lines = ["%s" % dict(counts)]
    for cat in sorted(failures):
        lines.append("== %s: %d case(s)" % (cat, len(failures[cat])))
        lines += failures[cat][:limit]
    return "\n".join(lines)


@pytest.fixture(scope="module")
def sd_setup(pg):
    pg.execute('DROP ROLE IF EXISTS "%s"; CREATE ROLE "%s" LOGIN PASSWORD \'%s\'' % (LONG, LONG, LONG_PASSWORD))
    have = {r[0] for r in pg.execute("SELECT datname FROM pg_database")}
    for db in ("sd_db", SCRAM_USER, LONG):
        if db not in have:
            pg.execute('CREATE DATABASE "%s"' % db)
    return pg


def test_model_reads_options_as_postgresql_does():
    """The model itself, on hand-checked strings (pg_split_opts and the switch walk)."""
    assert split_opts(b"  -c\ta=b\\ c\\\\d  -cx=\\") == [b"-c", b"a=b c\\d", b"-cx="]
    assert split_opts(b"\x0b\x0c\r\n") == []
    v = pg_view([("user", "u"), ("options", "-c a.b=1 --c-d.e-f=2 -cg.h=3"), ("a.b", "4")])
    assert v.settings == [("a.b", "1", "options"), ("c_d.e_f", "2", "options"), ("g.h", "3", "options"),
                          ("a.b", "4", "key")]
    assert "setting a.b" in v.must_refuse
    v = pg_view([("user", "x" * 70), ("replication", "database"), ("replication", "true")])
    assert (v.user, v.database, v.walsender, v.db_walsender) == ("x" * 63, "x" * 63, True, True)
    v = pg_view([("user", "u"), ("options", "word -c a.b=1")])
    assert v.pg_refuses and "switch" in v.must_refuse
    assert pg_view([("user", "u"), ("options", "-c")]).pg_refuses
    assert pg_view([("user", "u"), ("options", "-c -c")]).pg_refuses
    assert parse_bool("of") is False and parse_bool("o") is None and parse_bool("tr") is True


def test_random_startups_tenant_off(sd_setup, pgward_factory):
    """A few hundred random StartupMessages through pgward without tenant mode."""
    pw = pgward_factory()
    counts, failures = run_random(sd_setup, pw, CASES_TENANT_OFF, SEED)
    assert counts["direct ok"] > CASES_TENANT_OFF // 5, counts
    assert not failures, report(counts, failures)


def test_random_startups_tenant_on(sd_setup, pgward_factory, tmp_path):
    """Random StartupMessages with tenant mode on (login-role identity from a map): the same
    rules, plus the context of every session pgward lets through is its login role's, as
    PostgreSQL names it (cut to 63 bytes)."""
    tenant_map = {SUPERUSER: "{%s}" % ORG_A, SCRAM_USER: "{%s}" % ORG_B, LONG: "{%s,%s}" % (ORG_A, ORG_B)}
    m = tmp_path / "sd.map"
    m.write_text("".join("%s = %s\n" % (k, v.strip("{}")) for k, v in tenant_map.items()))
    pw = pgward_factory(**{"tenant.mode": "on", "tenant.source": "map", "tenant.map_file": m})
    counts, failures = run_random(sd_setup, pw, CASES_TENANT_ON, SEED + 1, tenant_map=tenant_map)
    assert not failures, report(counts, failures)


@pytest.mark.parametrize("pairs", [
    [("user", SUPERUSER), ("work_mem", "1MB"), ("sort_mem", "2MB")],
    [("user", SUPERUSER), ("options", "-c sort_mem=2MB -c work_mem=1MB")],
], ids=["keys", "options"])
def test_old_name_of_a_setting_is_the_same_setting(sd_setup, pgward, pairs):
    """PostgreSQL reads sort_mem as work_mem (map_old_guc_names): giving both is giving one
    setting twice, the last one winning; pgward refuses it as it refuses any setting twice."""
    d = attempt(sd_setup, pairs)
    assert d.ok and d.conn.scalar("SHOW work_mem") in ("1MB", "2MB")
    a = attempt(pgward, pairs)
    assert not a.ok and a.sqlstate == "08P01", a
    assert "work_mem" in a.message or "sort_mem" in a.message, a.message
