"""pgward's classifier against squawk (https://squawkhq.com), a migration linter, on a corpus of
migration statements (tests/data/squawk/*.sql): for every squawk rule about locking, rewrites or
breaking running clients, squawk's verdict on each statement must equal pgward's (the guard
rules tests/tools/classify prints with "rules = all"), except for the disagreements listed in
KNOWN with their reasons. Both tools see a whole file at once, so both know which tables the
file created earlier.

squawk is installed by scripts/test.sh (install_squawk in scripts/lib.sh, pinned) into
.cache/npm; this test installs it there itself when it is missing. $SQUAWK_BIN overrides the
path, $PGWARD_CLASSIFY that of the classifier (default: classify next to $PGWARD_BIN)."""

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from conftest import PGWARD_BIN, ROOT

CORPUS = sorted((ROOT / "tests" / "data" / "squawk").glob("*.sql"))
CLASSIFY = Path(os.environ.get("PGWARD_CLASSIFY", str(PGWARD_BIN.parent / "classify")))
SQUAWK = Path(os.environ.get("SQUAWK_BIN", str(ROOT / ".cache" / "npm" / "node_modules" / ".bin" / "squawk")))
SQUAWK_VERSION = "2.66.0"
# pgward judges a file sent as one Query, which the server runs as one implicit transaction: so
# squawk is told to assume one around the file, so that its exemption for tables created in the
# same transaction comes close to pgward's for tables created earlier in the same text (what still
# differs is in KNOWN).
SQUAWK_ARGS = ["--assume-in-transaction"]

# squawk rules -> the pgward rules that judge the same thing: "any of the squawk rules fired" must
# equal "any of the pgward rules raised" (ALL: every one of them raised).
ANY, ALL = "any", "all"
MAPPED = {
    ("adding-field-with-default",): (ANY, {"add_column_default_volatile"}),
    ("adding-foreign-key-constraint",): (ANY, {"add_foreign_key"}),
    ("adding-not-nullable-field",): (ANY, {"set_not_null"}),
    ("adding-required-field",): (ANY, {"add_required_column"}),
    # squawk splits what pgward calls add_unique_constraint: PRIMARY KEY and UNIQUE
    ("adding-serial-primary-key-field", "disallowed-unique-constraint"): (ANY, {"add_unique_constraint"}),
    ("ban-drop-column",): (ANY, {"alter_drop_column"}),
    ("ban-drop-database",): (ANY, {"drop_database"}),
    ("ban-drop-table",): (ANY, {"drop_table"}),
    ("ban-truncate-cascade",): (ALL, {"truncate", "cascade"}),
    ("changing-column-type",): (ANY, {"alter_column_type"}),
    ("constraint-missing-not-valid",): (ANY, {"add_foreign_key", "add_check_constraint"}),
    ("prefer-repack",): (ANY, {"vacuum_full", "cluster"}),
    ("renaming-column",): (ANY, {"rename_column"}),
    ("renaming-table",): (ANY, {"rename_table"}),
    ("require-concurrent-index-creation",): (ANY, {"create_index_blocking"}),
    ("require-concurrent-index-deletion",): (ANY, {"drop_index_blocking"}),
    ("require-concurrent-partition-detach",): (ANY, {"detach_partition"}),
    ("require-concurrent-reindex",): (ANY, {"reindex_blocking"}),
    ("ban-drop-not-null",): (ANY, {"drop_not_null"}),
    ("ban-alter-domain-with-add-constraint", "ban-create-domain-with-constraint"): (ANY, {"domain_constraint"}),
}
MAPPED_RULES = [r for group in MAPPED for r in group]

# Every other squawk rule, and why it has no pgward counterpart here.
UNMAPPED = {
    "ban-char-field": "style: a column type choice",
    "prefer-bigint-over-int": "style: a column type choice",
    "prefer-bigint-over-smallint": "style: a column type choice",
    "prefer-identity": "style: identity over serial",
    "prefer-text-field": "style: a column type choice",
    "prefer-timestamptz": "style: a column type choice",
    "prefer-robust-stmts": "re-runnable migration files (IF NOT EXISTS), not what a statement does",
    "identifier-too-long": "names, not locking",
    "require-table-schema": "style, opt-in",
    "require-enum-value-ordering": "enum value order, no lock beyond ALTER TYPE's",
    "ban-duplicate-column-assignments": "a mistake the server rejects itself",
    "require-lock-timeout": "pgward sets lock_timeout for DDL itself ([guard] ddl_lock_timeout)",
    "require-statement-timeout": "a per-file setting, not a property of a statement",
    "require-timeout-settings": "alias of the two timeout rules, opt-in",
    "transaction-nesting": "about a migration file's BEGIN/COMMIT, not one statement",
    "ban-uncommitted-transaction": "about a migration file's BEGIN/COMMIT, not one statement",
    "ban-concurrent-index-creation-in-transaction": "the server refuses it (25001); a file-level check",
}

# Disagreements between the two, each with its reason: (corpus file or "*", the statement: a
# regex its text matches or CREATED_IN_FILE, the squawk rules as in MAPPED joined by "+", the side
# that says yes, reason). Every entry must still occur.
CREATED_IN_FILE = "target created somewhere in the file"
KNOWN = [
    ("*", r"(?i)^\s*(vacuum\s*(\(\s*)?full|cluster)\b", "prefer-repack", "pgward",
     "squawk proposes REPACK, which PostgreSQL 15 lacks, so with --pg-version 15 it never flags "
     "VACUUM FULL or CLUSTER; pgward refuses both (ACCESS EXCLUSIVE for a whole rewrite)"),
    ("*", r"(?i)add column (if not exists )?\S+ (big|small)?serial", "adding-field-with-default", "pgward",
     "a serial column's default is nextval(), volatile: every row is written (a rewrite under "
     "ACCESS EXCLUSIVE); squawk flags it only as prefer-identity/adding-serial-primary-key-field"),
    ("*", r"(?i)validate constraint", "constraint-missing-not-valid", "squawk",
     "squawk (told to assume one transaction per file) flags VALIDATE in the same transaction as "
     "the ADD ... NOT VALID, which then holds the strong lock through the scan; pgward judges "
     "each statement alone, and VALIDATE alone takes SHARE UPDATE EXCLUSIVE"),
    ("*", r"(?i)add (constraint \S+ )?(unique|primary key|exclude)", "constraint-missing-not-valid",
     "squawk",
     "squawk asks for NOT VALID on UNIQUE, PRIMARY KEY and EXCLUDE too, which PostgreSQL does not "
     "accept there; pgward refuses those as add_unique_constraint (compared in its own row)"),
    ("*", r"(?i)add constraint \S+ exclude", "adding-serial-primary-key-field+disallowed-unique-constraint",
     "pgward",
     "an exclusion constraint builds its index under ACCESS EXCLUSIVE as UNIQUE does: pgward's "
     "add_unique_constraint covers it, squawk's unique rules do not"),
    ("*", r"(?i)^alter type \S+ (drop|alter) attribute", "ban-drop-column", "pgward",
     "ALTER TYPE ... DROP ATTRIBUTE is an ALTER TABLE on a composite type in the parse tree; "
     "pgward counts it as dropping a column (it breaks clients reading the type), squawk does not"),
    ("*", r"(?i)^alter type \S+ (drop|alter) attribute", "changing-column-type", "pgward",
     "likewise ALTER TYPE ... ALTER ATTRIBUTE ... TYPE: pgward counts it, squawk does not"),
    ("*", r"(?i)^alter (materialized )?view .* rename to", "renaming-table", "pgward",
     "pgward's rename_table also covers views (a renamed view breaks its readers); squawk's "
     "renaming-table only tables"),
    ("*", CREATED_IN_FILE, "*", "either",
     "both spare a table the file creates, but differently: squawk only inside the transaction "
     "that creates it (an explicit COMMIT or ROLLBACK in the file ends it), not for every rule, "
     "and also before the CREATE (it collects the file's tables first); pgward only after the "
     "CREATE, for every lock and rewrite rule, up to 64 CREATE TABLEs per text "
     "(SQL_MAX_CREATED: past them it fails closed)"),
]

_CREATE = re.compile(r"(?i)^\s*create\s+(?:(?:global\s+|local\s+)?(?:temp|temporary)\s+|unlogged\s+)?"
                     r"(?:table|materialized\s+view)\s+(?:if\s+not\s+exists\s+)?([\w.\"]+)")
_TARGET = re.compile(r"(?i)^\s*(?:alter\s+(?:table|index)\s+(?:if\s+exists\s+)?(?:only\s+)?|"
                     r"create\s+(?:unique\s+)?index\s+(?:concurrently\s+)?(?:if\s+not\s+exists\s+)?"
                     r"(?:[\w\"]+\s+)?on\s+(?:only\s+)?|cluster\s+(?:verbose\s+)?|"
                     r"vacuum\s+(?:\([^)]*\)\s*|full\s+)|reindex\s+table\s+(?:concurrently\s+)?)([\w.\"]+)")


def _name(n):
    return n.split(".")[-1].strip('"').lower()


def ensure_squawk():
    if not SQUAWK.exists() and "SQUAWK_BIN" not in os.environ:
        subprocess.run(["bash", "-c", 'source scripts/lib.sh && install_squawk'], cwd=ROOT, check=True,
                       capture_output=True, timeout=300)
    out = subprocess.run([str(SQUAWK), "--version"], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "squawk " + SQUAWK_VERSION, out


def squawk_verdicts(path):
    r = subprocess.run([str(SQUAWK), "--reporter", "json", "--pg-version", "15"] + SQUAWK_ARGS + [str(path)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode in (0, 1), r.stderr
    return json.loads(r.stdout or "[]")


def pgward_verdicts(path):
    assert CLASSIFY.exists(), "%s is missing: build the classify target (CMakeLists.txt)" % CLASSIFY
    r = subprocess.run([str(CLASSIFY), str(path)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    return [json.loads(line) for line in r.stdout.splitlines()]


def statement_text(lines, st):
    text = "\n".join(lines[st["line"]:st["end_line"] + 1])
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--")).strip()


def compare(path):
    """(statements, disagreements): each disagreement is (text, squawk rules joined by "+", squawk
    says, pgward says, the statement's table is created somewhere in the file)."""
    lines = path.read_text().splitlines()
    stmts = pgward_verdicts(path)
    fired = [set() for _ in stmts]
    for v in squawk_verdicts(path):
        assert v["rule_name"] != "syntax-error", (path.name, v)
        hit = [i for i, st in enumerate(stmts) if st["line"] <= v["line"] <= st["end_line"]]
        assert hit, "squawk reported line %d of %s outside every statement" % (v["line"], path.name)
        fired[hit[-1]].add(v["rule_name"])
    texts = [statement_text(lines, st) for st in stmts]
    created = {_name(m.group(1)) for m in map(_CREATE.match, texts) if m}
    disagreements = []
    for st, sq, text in zip(stmts, fired, texts):
        raised = set(st["rules"])
        m = _TARGET.match(text)
        in_file = bool(m) and _name(m.group(1)) in created
        for group, (how, pgw) in MAPPED.items():
            ours = pgw <= raised if how == ALL else bool(pgw & raised)
            theirs = bool(set(group) & sq)
            if theirs != ours:
                disagreements.append((text, "+".join(group), theirs, ours, in_file))
    return stmts, disagreements


def known(path, d):
    """The KNOWN entry that explains disagreement <d>, or None."""
    text, rule, theirs, ours, in_file = d
    side = "squawk" if theirs else "pgward"
    for i, (f, what, r, who, _) in enumerate(KNOWN):
        if f not in ("*", path.name) or r not in ("*", rule) or who not in ("either", side):
            continue
        if in_file if what == CREATED_IN_FILE else re.search(what, text):
            return i
    return None


def test_every_squawk_rule_is_mapped_or_left_out_with_a_reason():
    ensure_squawk()
    assert not set(MAPPED_RULES) & set(UNMAPPED)
    sql = ROOT / "tests" / "data" / "squawk" / "squawk_docs.sql"
    for rule in MAPPED_RULES + list(UNMAPPED):
        r = subprocess.run([str(SQUAWK), "--exclude", rule, str(sql)], capture_output=True, text=True)
        assert "invalid rule name" not in r.stderr, rule
    # squawk's whole rule set, as its --help and documentation list it for 2.66.0: anything new
    # after an upgrade must be sorted into one table or the other.
    r = subprocess.run([str(SQUAWK), "--exclude", "no-such-rule", str(sql)], capture_output=True, text=True)
    assert "invalid rule name" in r.stderr


def test_corpus_is_large_and_parses():
    ensure_squawk()
    assert {p.name for p in CORPUS} >= {"squawk_docs.sql", "pgward_own.sql", "pg_regress_alter_table.sql",
                                         "pg_regress_create_index.sql"}
    total = sum(len(pgward_verdicts(p)) for p in CORPUS)
    assert total >= 1000, total


@pytest.mark.parametrize("path", CORPUS, ids=[p.name for p in CORPUS])
def test_verdicts_agree(path):
    ensure_squawk()
    stmts, disagreements = compare(path)
    assert stmts
    unexplained = [d for d in disagreements if known(path, d) is None]
    assert not unexplained, "\n".join(
        "%s: squawk %s=%s, pgward=%s: %s" % (path.name, rule, sq, ours, " ".join(text.split())[:200])
        for text, rule, sq, ours, _ in unexplained)


def test_every_known_disagreement_still_occurs():
    ensure_squawk()
    seen = set()
    for path in CORPUS:
        seen |= {known(path, d) for d in compare(path)[1]}
    stale = [KNOWN[i][:4] for i in range(len(KNOWN)) if i not in seen]
    assert not stale, stale


def test_both_tools_flag_the_corpus_risky_forms():
    """The comparison is only worth something if both sides say yes somewhere: every mapped squawk
    rule fires on some statement of the corpus."""
    ensure_squawk()
    fired = set()
    for path in CORPUS:
        fired |= {v["rule_name"] for v in squawk_verdicts(path)}
    missing = set(MAPPED_RULES) - fired - {"prefer-repack"}
    assert not missing, missing
