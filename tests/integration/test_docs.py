"""The configuration reference is complete: every key pgward knows, as the admin console's
SHOW CONFIG lists them from the configuration table, is documented in README.md (in the
table of its section) and in conf/pgward.ini (in its section, set or commented out)."""

import re

from conftest import ROOT, SUPERUSER


def known_keys(pw):
    out = pw.psql("-F", "|", "-c", "SHOW CONFIG", dbname="pgward").stdout.decode()
    keys = set()
    for line in out.splitlines():
        section, key = line.split("|")[:2]
        keys.add(("job" if section.startswith("job ") else section, key))
    return keys


def readme_keys(text):
    """(section, key) for every `key` in a table row under a "### `[section]`" heading."""
    keys, section = set(), None
    for line in text.splitlines():
        m = re.match(r"^###\s+`\[(\w+)[^`]*\]`", line)
        if m:
            section = m.group(1)
        elif line.startswith("#"):
            section = None
        elif section and line.startswith("|"):
            first_cell = line.split("|")[1]
            keys.update((section, k) for k in re.findall(r"`(\w+)`", first_cell))
    return keys


def ini_keys(text):
    """(section, key) for every "key =" or ";key =" line of an INI file."""
    keys, section = set(), None
    for line in text.splitlines():
        m = re.match(r"^\[(\w+)[^\]]*\]", line)
        if m:
            section = m.group(1)
            continue
        m = re.match(r"^;?\s*(\w+)\s*=", line)
        if m and section:
            keys.add((section, m.group(1)))
    return keys


def test_every_key_is_documented(pgward_factory):
    pw = pgward_factory(**{"admin.users": SUPERUSER, "job scrape_jobs.key_columns": "domain"})
    keys = known_keys(pw)
    assert ("pgward", "listen_port") in keys and ("job", "key_columns") in keys, keys
    assert ("admin", "users") in keys and ("tenant", "cache_ttl") in keys, keys
    missing = {
        "README.md": sorted(keys - readme_keys((ROOT / "README.md").read_text())),
        "conf/pgward.ini": sorted(keys - ini_keys((ROOT / "conf" / "pgward.ini").read_text())),
    }
    assert missing == {"README.md": [], "conf/pgward.ini": []}, "keys not documented: %s" % missing


def test_a_missing_key_is_noticed():
    readme = (ROOT / "README.md").read_text()
    assert ("limits", "max_query_size") in readme_keys(readme)
    cut = "\n".join(l for l in readme.splitlines() if not l.startswith("| `max_query_size`"))
    assert ("limits", "max_query_size") not in readme_keys(cut)
    ini = (ROOT / "conf" / "pgward.ini").read_text()
    assert ("tenant", "cache_ttl") in ini_keys(ini)
    assert ("tenant", "cache_ttl") not in ini_keys(ini.replace("cache_ttl =", "cache ttl:"))
