#!/usr/bin/python3
"""Writes pg_regress_<name>.sql: the statements of PostgreSQL 15's regression script
src/test/regress/sql/<name>.sql that both pgward's parser and squawk's accept, one statement per
line range, psql meta-commands and statements that use psql variables left out.

    extract_regress.py SRC_DIR/src/test/regress/sql/alter_table.sql CLASSIFY_BIN SQUAWK_BIN

(apt-get source postgresql-15 gives SRC_DIR.) Run once; the output is committed."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path


def split(text):
    """Statements of a psql script: quotes, dollar quotes, comments; meta-command lines out."""
    out, cur, i, n = [], [], 0, len(text)
    depth = 0  # parentheses, so CREATE RULE (...; ...) stays one statement
    while i < n:
        c = text[i]
        if c == "\\" and (i == 0 or text[i - 1] == "\n") and not "".join(cur).strip():
            j = text.find("\n", i)
            i = n if j < 0 else j + 1
            continue
        if c == "-" and text.startswith("--", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
            continue
        if c == "/" and text.startswith("/*", i):
            lvl, j = 1, i + 2
            while j < n and lvl:
                if text.startswith("/*", j):
                    lvl, j = lvl + 1, j + 2
                elif text.startswith("*/", j):
                    lvl, j = lvl - 1, j + 2
                else:
                    j += 1
            i = j
            continue
        if c in "'\"":
            esc = c == "'" and i > 0 and text[i - 1] in "eE"
            j = i + 1
            while j < n:
                if esc and text[j] == "\\":
                    j += 2
                    continue
                if text[j] == c:
                    if j + 1 < n and text[j + 1] == c:
                        j += 2
                        continue
                    break
                j += 1
            cur.append(text[i:j + 1])
            i = j + 1
            continue
        m = re.match(r"\$([A-Za-z_][A-Za-z_0-9]*)?\$", text[i:i + 64]) if c == "$" else None
        if m and not (i > 0 and (text[i - 1].isalnum() or text[i - 1] == "_")):
            tag = m.group(0)
            j = text.find(tag, i + len(tag))
            j = n if j < 0 else j + len(tag)
            cur.append(text[i:j])
            i = j
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth = max(0, depth - 1)
        if c == ";" and depth == 0:
            s = "".join(cur).strip()
            if s:
                out.append(s)
            cur = []
        elif c == "\\" and text.startswith("\\\\", i):
            cur.append(" ")
            i += 1
        else:
            cur.append(c)
        i += 1
    return out


def parses(classify, squawk, stmt):
    tmp = Path("/tmp/extract_regress_%d.sql" % os.getpid())
    tmp.write_text(stmt + ";\n")
    r = subprocess.run([classify, str(tmp)], capture_output=True, text=True)
    if r.returncode != 0 or len(r.stdout.splitlines()) != 1:
        return False
    r = subprocess.run([squawk, "--reporter", "json", "--pg-version", "15", str(tmp)],
                       capture_output=True, text=True)
    try:
        return not any(v["rule_name"] == "syntax-error" for v in json.loads(r.stdout or "[]"))
    except ValueError:
        return False


def main():
    src, classify, squawk = sys.argv[1:4]
    name = Path(src).stem
    kept = []
    for s in split(Path(src).read_text()):
        if re.search(r"(^|[^:]):['\"]?[A-Za-z_]", s):  # psql variables
            continue
        if parses(classify, squawk, s):
            kept.append(s)
    dst = Path(__file__).with_name("pg_regress_%s.sql" % name)
    dst.write_text("-- The statements of PostgreSQL 15.18's src/test/regress/sql/%s.sql that both\n"
                   "-- parsers accept (tests/data/squawk/extract_regress.py). Regression test SQL:\n"
                   "-- PostgreSQL License, Copyright (c) 1996-2022, The PostgreSQL Global Development Group.\n\n"
                   % name + "".join(s + ";\n" for s in kept))
    print("%s: %d statements" % (dst, len(kept)))


main()
