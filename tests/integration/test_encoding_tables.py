"""pgward's reading of client encodings (src/sql/encoding.c, through tests/tools/enc_convert)
against the server's own: PostgreSQL's convert_from() into the UTF8 test database, which checks
the bytes with the same verifier as a query's text and converts them with the same function
(pg_any_to_server). For every client encoding: every high byte of a single-byte encoding;
every lead 0x80-0xff x trail 0x30-0xfe of a multibyte one, alone and between ASCII; every
three-byte EUC_JP / EUC_JIS_2004 character and samples of EUC_TW's four-byte, GB18030's
four-byte and UTF-8's three- and four-byte sequences.

Where the server converts, pgward's UTF-8 must be the server's, or the server's with some
characters replaced by U+FFFD (counted; under 1 % per encoding), and the ASCII bytes of both
must be the same bytes in the same order. Where the server finds an invalid byte sequence
(22021), pgward must report the same SQLSTATE and message. Where the server only lacks a
mapping (22P05) or a conversion (42883, MULE_INTERNAL), pgward may pass the text as valid,
but it must not call it invalid.

$PGWARD_ENC_CONVERT overrides the tool's path (default: enc_convert next to $PGWARD_BIN)."""

import os
import random
import re
import subprocess
from pathlib import Path

import pytest

from conftest import PGWARD_BIN, SANITIZER_MARKERS, clean_env

ENC_CONVERT = Path(os.environ.get("PGWARD_ENC_CONVERT", str(PGWARD_BIN.parent / "enc_convert")))

SINGLE_BYTE = [
    "LATIN1", "LATIN2", "LATIN3", "LATIN4", "LATIN5", "LATIN6", "LATIN7", "LATIN8", "LATIN9",
    "LATIN10", "WIN1250", "WIN1251", "WIN1252", "WIN1253", "WIN1254", "WIN1255", "WIN1256",
    "WIN1257", "WIN1258", "WIN866", "WIN874", "KOI8R", "KOI8U", "ISO_8859_5", "ISO_8859_6",
    "ISO_8859_7", "ISO_8859_8",
]
MULTI_BYTE = [
    "EUC_JP", "EUC_CN", "EUC_KR", "EUC_TW", "EUC_JIS_2004", "UTF8", "MULE_INTERNAL", "SJIS",
    "BIG5", "GBK", "UHC", "GB18030", "JOHAB", "SHIFT_JIS_2004",
]
MAX_SUBSTITUTED = 0.01

# One round trip per batch: each text's UTF-8 as hex, or "ERROR <sqlstate> <message>".
CONVERT_FUNCTION = """
CREATE FUNCTION pg_temp.pgw_convert(enc text, texts text[]) RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY texts LOOP
        BEGIN
            RETURN NEXT encode(convert_to(convert_from(decode(t, 'hex'), enc), 'UTF8'), 'hex');
        EXCEPTION WHEN OTHERS THEN
            RETURN NEXT 'ERROR ' || SQLSTATE || ' ' || SQLERRM;
        END;
    END LOOP;
END
$$"""


def texts_for(enc):
    """The byte sequences (hex) to compare in <enc>."""
    rnd = random.Random(enc)
    if enc in SINGLE_BYTE:
        chars = ["%02x" % b for b in range(0x80, 0x100)]
        return chars + ["5c%s272020" % c for c in chars]
    pairs = ["%02x%02x" % (a, b) for a in range(0x80, 0x100) for b in range(0x30, 0xff)]
    # between a backslash and a quote: where a character ends decides the statement's
    # structure; the three bytes after it show how much of it an error message quotes
    texts = pairs + ["5c%s272020" % p for p in pairs]
    # a lead byte at the end, before NUL, a space or a newline
    texts += ["%02x%s" % (a, t) for a in range(0x80, 0x100) for t in ("", "00", "20", "0a")]
    if enc in ("EUC_JP", "EUC_JIS_2004"):
        texts += ["8f%02x%02x" % (a, b) for a in range(0xa1, 0xff) for b in range(0xa0, 0x100)]
    elif enc == "EUC_TW":
        texts += ["8e%02x%02x%02x" % (rnd.randint(0xa0, 0xa8), rnd.randint(0xa0, 0xff),
                                      rnd.randint(0xa0, 0xff)) for _ in range(8000)]
    elif enc == "GB18030":
        # the two-byte trails 0x30-0x39 start a four-byte character: the BMP part in full
        texts += ["%02x%02x%02x%02x" % (a, b, c, d) for a in range(0x81, 0x85)
                  for b in range(0x30, 0x3a) for c in range(0x81, 0xff) for d in range(0x30, 0x3a)]
        texts += ["%02x%02x%02x%02x" % (rnd.randint(0x80, 0xff), rnd.randint(0x30, 0x39),
                                        rnd.randint(0x80, 0xff), rnd.randint(0x2f, 0x3a))
                  for _ in range(8000)]
    elif enc == "UTF8":
        texts += ["%02x%02x%02x" % (rnd.randint(0xe0, 0xef), rnd.randint(0x7f, 0xc0),
                                    rnd.randint(0x7f, 0xc0)) for _ in range(6000)]
        texts += ["%02x%02x%02x%02x" % (rnd.randint(0xf0, 0xf5), rnd.randint(0x7f, 0xc0),
                                        rnd.randint(0x7f, 0xc0), rnd.randint(0x7f, 0xc0))
                  for _ in range(6000)]
    elif enc == "MULE_INTERNAL":
        texts += ["%02x%02x%02x%02x" % (rnd.randint(0x80, 0x9f), rnd.randint(0x7f, 0xff),
                                        rnd.randint(0x7f, 0xff), rnd.randint(0x20, 0xff))
                  for _ in range(4000)]
    return texts


def server_results(conn, enc, texts):
    with conn.cursor() as cur:
        cur.execute("SELECT * FROM pg_temp.pgw_convert(%s, %s)", (enc, texts))
        return [r[0] for r in cur.fetchall()]


def pgward_results(enc, texts, server="UTF8"):
    assert ENC_CONVERT.exists(), "%s is missing: build the enc_convert target (CMakeLists.txt)" % ENC_CONVERT
    env = clean_env(ASAN_OPTIONS="detect_leaks=1:halt_on_error=1",
                    UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1")
    r = subprocess.run([str(ENC_CONVERT), server], input="".join("%s %s\n" % (enc, t) for t in texts),
                       capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0 and not any(m in r.stderr for m in SANITIZER_MARKERS), r.stderr[-3000:]
    out = r.stdout.splitlines()
    assert len(out) == len(texts)
    return out


def ascii_of(b):
    return bytes(c for c in b if c < 0x80)


def substituted(server, ours):
    """<ours> is <server> with some characters (one or more non-ASCII code points each)
    replaced by U+FFFD, and nothing else changed."""
    pieces = ours.split("\ufffd")
    if len(pieces) == 1:
        return False
    return re.fullmatch("[^\x00-\x7f]+?".join(map(re.escape, pieces)), server, re.S) is not None


# Default conversions into a database encoding other than UTF8 (pg_conversion, condefault):
# the server converts a client's text straight into the database's encoding and parses it
# there, so what matters is that the ASCII of that text is the ASCII pgward reads.
OTHER_DATABASE_PAIRS = [
    ("BIG5", "EUC_TW"), ("BIG5", "MULE_INTERNAL"), ("EUC_CN", "MULE_INTERNAL"),
    ("EUC_JP", "MULE_INTERNAL"), ("EUC_KR", "MULE_INTERNAL"), ("EUC_TW", "MULE_INTERNAL"),
    ("SHIFT_JIS_2004", "EUC_JIS_2004"), ("SJIS", "EUC_JP"), ("SJIS", "MULE_INTERNAL"),
    ("ISO_8859_5", "KOI8R"), ("ISO_8859_5", "MULE_INTERNAL"), ("ISO_8859_5", "WIN1251"),
    ("ISO_8859_5", "WIN866"), ("KOI8R", "ISO_8859_5"), ("KOI8R", "MULE_INTERNAL"),
    ("KOI8R", "WIN1251"), ("KOI8R", "WIN866"), ("LATIN1", "MULE_INTERNAL"),
    ("LATIN2", "MULE_INTERNAL"), ("LATIN2", "WIN1250"), ("LATIN3", "MULE_INTERNAL"),
    ("LATIN4", "MULE_INTERNAL"), ("WIN1250", "LATIN2"), ("WIN1250", "MULE_INTERNAL"),
    ("WIN1251", "ISO_8859_5"), ("WIN1251", "KOI8R"), ("WIN1251", "MULE_INTERNAL"),
    ("WIN1251", "WIN866"), ("WIN866", "ISO_8859_5"), ("WIN866", "KOI8R"),
    ("WIN866", "MULE_INTERNAL"), ("WIN866", "WIN1251"),
] + [("MULE_INTERNAL", s) for s in ("EUC_JP", "EUC_CN", "EUC_KR", "EUC_TW", "LATIN1", "LATIN2",
                                     "LATIN3", "LATIN4", "WIN866", "KOI8R", "WIN1251",
                                     "ISO_8859_5", "WIN1250")] \
  + [("UTF8", s) for s in SINGLE_BYTE + ["EUC_JP", "EUC_CN", "EUC_KR", "EUC_TW", "EUC_JIS_2004"]]

CONVERT_TO_FUNCTION = """
CREATE FUNCTION pg_temp.pgw_convert_to(src text, dst text, texts text[]) RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY texts LOOP
        BEGIN
            RETURN NEXT encode(convert(decode(t, 'hex'), src, dst), 'hex');
        EXCEPTION WHEN OTHERS THEN
            RETURN NEXT 'ERROR ' || SQLSTATE || ' ' || SQLERRM;
        END;
    END LOOP;
END
$$"""


def texts_for_pair(client):
    """Fewer texts than texts_for(): each between a backslash and a quote."""
    rnd = random.Random(client)
    if client in SINGLE_BYTE:
        chars = ["%02x" % b for b in range(0x80, 0x100)]
    elif client == "UTF8":
        cps = list(range(0x80, 0x800)) + list(range(0x800, 0x10000, 7)) + [
            0xa5, 0x203e, 0x2015, 0x2016, 0x2212, 0x301c, 0xff3c, 0xff5e, 0xffe3, 0xffe5]
        cps += [rnd.randint(0x10000, 0x10ffff) for _ in range(1000)]
        chars = [chr(c).encode().hex() for c in cps if not 0xd800 <= c <= 0xdfff]
    else:
        chars = ["%02x%02x" % (a, b) for a in range(0x80, 0x100) for b in range(0x30, 0xff)]
        if client == "EUC_JP":
            chars += ["8f%02x%02x" % (a, b) for a in range(0xa1, 0xff) for b in range(0xa1, 0xff)]
        elif client == "EUC_TW":
            chars += ["8e%02x%02x%02x" % (rnd.randint(0xa1, 0xa7), rnd.randint(0xa1, 0xfe),
                                          rnd.randint(0xa1, 0xfe)) for _ in range(4000)]
        elif client == "MULE_INTERNAL":
            chars += ["%02x%02x%02x" % (lc, a, b) for lc in range(0x90, 0x9c)
                      for a in range(0xa0, 0x100) for b in range(0xa0, 0x100, 3)]
    return ["5c%s27" % c for c in chars]


@pytest.fixture
def conn(pg):
    """A direct connection with pg_temp.pgw_convert (closed after each test by conftest)."""
    c = pg.connect()
    with c.cursor() as cur:
        cur.execute(CONVERT_FUNCTION)
        cur.execute(CONVERT_TO_FUNCTION)
    return c


@pytest.mark.parametrize("enc", SINGLE_BYTE + MULTI_BYTE)
def test_conversion_matches_the_server(conn, enc, capsys):
    texts = texts_for(enc)
    theirs = server_results(conn, enc, texts)
    ours = pgward_results(enc, texts)
    counts = dict(identical=0, substituted=0, invalid=0, unmapped=0)
    problems = []

    for text, s, p in zip(texts, theirs, ours):
        where = "%s %s: server %r, pgward %r" % (enc, text, s[:120], p[:120])
        if s.startswith("ERROR 22021 "):
            counts["invalid"] += 1
            if p != "INVALID 22021 " + s[len("ERROR 22021 "):]:
                problems.append("not refused alike: " + where)
            continue
        if s.startswith("ERROR "):
            # no mapping (22P05) or no conversion at all (42883): the server refuses the
            # character, not the byte sequence
            counts["unmapped"] += 1
            if p.startswith("INVALID"):
                problems.append("valid to the server's verifier: " + where)
            continue
        if p.startswith("INVALID"):
            problems.append("refused, the server converts it: " + where)
            continue
        sb, pb = bytes.fromhex(s), bytes.fromhex(p)
        try:
            pu = pb.decode("utf-8")
        except UnicodeDecodeError:
            problems.append("not UTF-8: " + where)
            continue
        if ascii_of(sb) != ascii_of(pb):
            problems.append("ASCII differs: " + where)
        elif sb == pb:
            counts["identical"] += 1
        elif substituted(sb.decode("utf-8"), pu):
            counts["substituted"] += 1
        else:
            problems.append("another character: " + where)

    converted = counts["identical"] + counts["substituted"]
    with capsys.disabled():
        print("\n%-15s %6d texts: %6d identical, %4d U+FFFD (%.2f %%), %6d invalid, %6d unmapped"
              % (enc, len(texts), counts["identical"], counts["substituted"],
                 100.0 * counts["substituted"] / max(converted, 1), counts["invalid"],
                 counts["unmapped"]))
    assert not problems, "%d differences, the first ones:\n%s" % (len(problems), "\n".join(problems[:25]))
    assert counts["substituted"] <= MAX_SUBSTITUTED * converted, counts
    # the enumeration reached both sides of the server's rules
    assert counts["invalid"] > 0 or enc in SINGLE_BYTE
    assert converted > 0 or enc == "MULE_INTERNAL"


def test_a_text_of_many_characters_reads_as_its_characters(conn):
    """Whole statements, not single characters: the server's UTF-8 and pgward's agree."""
    cases = {
        "SJIS": "SELECT E'\x95\x5c', '\x82\xa0\x83\x41' -- '".encode("latin-1"),
        "SHIFT_JIS_2004": "SELECT '\x81\x5f\x81\xb0', E'\x95\x5c'".encode("latin-1"),
        "BIG5": "SELECT '\xa5\x5c\xb3\x5c', '\xc6\xa1\xc7\xfc'".encode("latin-1"),
        "GB18030": "SELECT '\x81\x30\x81\x30\x95\x32\x82\x36\x81\x5c'".encode("latin-1"),
        "UHC": "SELECT '\xc9\xa1\xb0\xa1\x81\x41'".encode("latin-1"),
        "EUC_JIS_2004": "SELECT '\xa4\xf7\x8f\xa1\xa1\xa1\xb1'".encode("latin-1"),
        "WIN1258": "SELECT 'a\xec\xd2'".encode("latin-1"),
    }
    texts = {enc: t.hex() for enc, t in cases.items()}
    for enc, text in texts.items():
        [theirs] = server_results(conn, enc, [text])
        [ours] = pgward_results(enc, [text])
        assert not theirs.startswith("ERROR"), (enc, theirs)
        assert ours == theirs, (enc, bytes.fromhex(theirs).decode(), ours)


def test_other_database_pairs_are_the_servers_default_conversions(conn):
    with conn.cursor() as cur:
        cur.execute("SELECT pg_encoding_to_char(conforencoding), pg_encoding_to_char(contoencoding)"
                    " FROM pg_conversion WHERE condefault AND contoencoding < 35"  # database ones
                    " AND contoencoding NOT IN (0, 6)")  # SQL_ASCII, UTF8
        assert sorted(cur.fetchall()) == sorted(OTHER_DATABASE_PAIRS)


@pytest.mark.parametrize("client,server", OTHER_DATABASE_PAIRS)
def test_ascii_is_the_servers_in_another_database_encoding(conn, client, server):
    """A text sent in <client> to a database in <server>: the server converts it straight into
    <server> (parsing it there, where every multibyte character is non-ASCII), so the ASCII of
    its conversion must be the ASCII of pgward's UTF-8."""
    texts = texts_for_pair(client)
    with conn.cursor() as cur:
        cur.execute("SELECT * FROM pg_temp.pgw_convert_to(%s, %s, %s)", (client, server, texts))
        theirs = [r[0] for r in cur.fetchall()]
    ours = pgward_results(client, texts, server)
    problems, converted = [], 0

    for text, s, p in zip(texts, theirs, ours):
        where = "%s %s into %s: server %r, pgward %r" % (client, text, server, s[:120], p[:120])
        if s.startswith("ERROR 22021 "):
            if p != "INVALID 22021 " + s[len("ERROR 22021 "):]:
                problems.append("not refused alike: " + where)
        elif s.startswith("ERROR "):
            if p.startswith("INVALID"):
                problems.append("valid to the server's verifier: " + where)
        elif p.startswith("INVALID"):
            problems.append("refused, the server converts it: " + where)
        else:
            converted += 1
            pb = bytes.fromhex(p)
            try:
                pb.decode("utf-8")
            except UnicodeDecodeError:
                problems.append("not UTF-8: " + where)
            if ascii_of(bytes.fromhex(s)) != ascii_of(pb):
                problems.append("ASCII differs: " + where)
    assert not problems, "%d differences, the first ones:\n%s" % (len(problems), "\n".join(problems[:25]))
    assert converted > 0
