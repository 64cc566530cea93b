"""[limits] column_limits with the shipped example (messages.content <= 100000 characters,
conversations.metadata <= 100000 bytes): literals in simple and extended protocol, bound
parameters in text and binary format, rule column_size with SQLSTATE 54000 and a message giving
table.column, the limit and the size seen; nothing refused reaches the table; the session
goes on."""

import json

import pytest

import pgwire

LIMITS = {"limits.column_limits": "messages.content: 100000 chars, conversations.metadata: 100000 bytes"}
JSONB_OID = 3802

SETUP = """
DROP TABLE IF EXISTS messages, conversations;
CREATE TABLE messages (id serial PRIMARY KEY, content text, note text);
CREATE TABLE conversations (id serial PRIMARY KEY, metadata jsonb);
"""


@pytest.fixture
def pw(pg, pgward_factory):
    pg.execute(SETUP)
    return pgward_factory(**LIMITS)


def refusal(msgs, text):
    errors = [m.fields() for m in msgs if m.type == "E"]
    assert len(errors) == 1, pgwire.types(msgs)
    f = errors[0]
    assert f["C"] == "54000", f
    assert "(rule column_size)" in f["M"] and text in f["M"], f["M"]
    assert f.get("H")
    return f


def metadata(nbytes):
    """A JSON object whose text is exactly <nbytes> bytes."""
    doc = json.dumps({"k": ""})
    return json.dumps({"k": "x" * (nbytes - len(doc))})


def test_literals(pw, pg):
    c = pw.raw_session()
    ok = c.simple("INSERT INTO messages (content) VALUES ('%s')" % ("a" * 100000))
    assert pgwire.types(ok) == "CZ"
    # 100000 characters of two bytes each: characters are what count.
    assert pgwire.types(c.simple("INSERT INTO messages (content) VALUES ('%s')" % ("é" * 100000))) == "CZ"
    msgs = c.simple("INSERT INTO messages (note, content) VALUES ('n', '%s')" % ("a" * 100001))
    refusal(msgs, "value of 100001 characters for messages.content (a literal in VALUES row 1) "
                  "exceeds the limit of 100000 characters")
    assert pgwire.types(msgs) == "EZ" and msgs[-1].ready_status() == "I"
    msgs = c.simple("UPDATE messages SET content = '%s' WHERE id = 1" % ("b" * 100001))
    refusal(msgs, "100001 characters for messages.content (a literal)")
    msgs = c.simple("INSERT INTO conversations (metadata) VALUES ('%s'::jsonb)" % metadata(100001))
    refusal(msgs, "value of 100001 bytes for conversations.metadata")
    assert pgwire.types(c.simple("INSERT INTO conversations (metadata) VALUES ('%s')" % metadata(100000))) == "CZ"
    # Extended protocol: the literal is checked at Parse; Bind and Execute are skipped to Sync.
    c.send(pgwire.parse("", "INSERT INTO messages (content) VALUES ('%s')" % ("c" * 100001)),
           pgwire.bind("", ""), pgwire.execute(), pgwire.sync())
    msgs = c.recv_until("Z")
    assert pgwire.types(msgs) == "EZ"
    refusal(msgs, "100001 characters")
    assert c.scalar("SELECT count(*) FROM messages") == "2"
    assert c.scalar("SELECT max(length(content)) FROM messages WHERE content LIKE 'b%'") is None


def test_psycopg2_in_a_transaction(pw):
    conn = pw.connect(autocommit=False)
    cur = conn.cursor()
    cur.execute("INSERT INTO messages (content) VALUES (%s)", ("fine",))
    with pytest.raises(Exception) as e:
        cur.execute("INSERT INTO messages (content) VALUES (%s)", ("z" * 100001,))
    assert e.value.pgcode == "54000" and "rule column_size" in str(e.value)
    # The refusal failed the transaction, as a server error would.
    with pytest.raises(Exception) as e:
        cur.execute("SELECT 1")
    assert e.value.pgcode == "25P02"
    conn.rollback()
    cur.execute("SELECT count(*) FROM messages")
    assert cur.fetchone() == (0,)


def test_oversized_bind_parameter_to_messages_content(pw):
    c = pw.raw_session()
    c.send(pgwire.parse("ins", "INSERT INTO messages (note, content) VALUES ($1, $2)"), pgwire.sync())
    assert pgwire.types(c.recv_until("Z")) == "1Z"
    # Pipelined: the first Execute is answered, the refused Bind gets the error in its place.
    c.send(pgwire.bind("", "ins", ["first", "ok"]), pgwire.execute(),
           pgwire.bind("", "ins", ["second", "d" * 100001]), pgwire.execute(), pgwire.sync())
    msgs = c.recv_until("Z")
    assert pgwire.types(msgs) == "2CEZ", pgwire.types(msgs)
    refusal(msgs, "value of 100001 characters for messages.content (parameter $2) exceeds the "
                  "limit of 100000 characters")
    # Binary format: for text the bytes are the UTF-8 text.
    c.send(pgwire.bind("", "ins", [b"bin", ("é" * 100001).encode()], param_formats=[1]),
           pgwire.execute(), pgwire.sync())
    refusal(c.recv_until("Z"), "(parameter $2)")
    c.send(pgwire.bind("", "ins", [b"bin", ("é" * 100000).encode()], param_formats=[1]),
           pgwire.execute(), pgwire.sync())
    assert pgwire.types(c.recv_until("Z")) == "2CZ"
    # "first" ran in the batch the refusal failed: the implicit transaction rolled it back.
    assert c.scalar("SELECT string_agg(note, ',' ORDER BY id) FROM messages") == "bin"


@pytest.mark.parametrize("deallocate", ["DEALLOCATE reused", "DEALLOCATE ALL", "DISCARD ALL"])
def test_a_deallocated_statement_is_forgotten(pw, deallocate):
    """SQL-level DEALLOCATE forgets a protocol-level statement, as the server does (they share
    one namespace): a statement of the same name prepared again is not judged by the
    forgotten one's text."""
    c = pw.raw_session()
    c.send(pgwire.parse("reused", "INSERT INTO messages (note, content) VALUES ($1, $2)"), pgwire.sync())
    assert pgwire.types(c.recv_until("Z")) == "1Z"
    c.rows(deallocate)
    c.rows("PREPARE reused(text, text) AS SELECT length($1) + length($2)")
    c.send(pgwire.bind("", "reused", ["x", "d" * 100001]), pgwire.execute(), pgwire.sync())
    msgs = c.recv_until("Z")
    assert pgwire.types(msgs) == "2DCZ", [m.fields() for m in msgs if m.type == "E"]


def test_binary_jsonb_parameter(pw):
    c = pw.raw_session()
    c.send(pgwire.parse("meta", "INSERT INTO conversations (metadata) VALUES ($1)", param_oids=[JSONB_OID]),
           pgwire.sync())
    assert pgwire.types(c.recv_until("Z")) == "1Z"
    # jsonb's binary form is a version byte, then the JSON text: the byte is not counted.
    for size, ok in ((100000, True), (100001, False)):
        c.send(pgwire.bind("", "meta", [b"\x01" + metadata(size).encode()], param_formats=[1]),
               pgwire.execute(), pgwire.sync())
        msgs = c.recv_until("Z")
        if ok:
            assert pgwire.types(msgs) == "2CZ", msgs
        else:
            refusal(msgs, "value of 100001 bytes for conversations.metadata (parameter $1)")
    assert c.scalar("SELECT count(*) FROM conversations") == "1"


def test_reload_turns_limits_off(pw):
    c = pw.raw_session()
    refusal(c.simple("INSERT INTO messages (content) VALUES ('%s')" % ("e" * 100001)), "100001")
    pw.reload(**{"limits.column_limits": ""})
    assert pw.wait_log(r"event=stats sql_cache_hits=\d+ sql_cache_misses=\d+")
    c2 = pw.raw_session()
    assert pgwire.types(c2.simple("INSERT INTO messages (content) VALUES ('%s')" % ("e" * 100001))) == "CZ"
