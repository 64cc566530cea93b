#!/usr/bin/python3
"""Records real client traffic into libFuzzer seed corpora (tests/fuzz/corpus/).

Sits as a plain TCP relay between real clients (psql, pgbench in simple, extended and
prepared mode) and a running PostgreSQL, and writes what each client sent:
  corpus/startup/   the first packet of each connection (StartupMessage, SSLRequest, ...)
  corpus/frame/     the client's whole message stream after startup
  corpus/pipeline/  the same, behind the one role-selector byte fuzz_pipeline reads first
Usage: record_corpus.py PGHOST PGPORT PGUSER   (PostgreSQL must accept that user by trust)
"""
import hashlib
import os
import socket
import struct
import subprocess
import sys
import threading
from pathlib import Path

CORPUS = Path(__file__).resolve().parent / "corpus"
SESSIONS = [
    ["psql", "-X", "-c", "SELECT 1; SELECT now()", "-c", "CREATE TEMP TABLE t(a int, b text)",
     "-c", "INSERT INTO t VALUES (1, 'x') RETURNING *", "-c", "\\copy (SELECT 1) TO /dev/null"],
    ["psql", "-X", "-c", "BEGIN; SET LOCAL statement_timeout = '1s'; DELETE FROM pgbench_history WHERE false; ROLLBACK"],
    ["pgbench", "-n", "-t", "3", "-M", "simple"],
    ["pgbench", "-n", "-t", "3", "-M", "extended"],
    ["pgbench", "-n", "-t", "3", "-M", "prepared"],
    ["pgbench", "-n", "-S", "-t", "3", "-M", "prepared"],
]


def save(kind, data):
    d = CORPUS / kind
    d.mkdir(parents=True, exist_ok=True)
    (d / ("rec-" + hashlib.sha1(data).hexdigest()[:16])).write_bytes(data)


def pipe(src, dst, record):
    try:
        while True:
            b = src.recv(65536)
            if not b:
                break
            if record is not None:
                record.extend(b)
            dst.sendall(b)
    except OSError:
        pass
    finally:
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def serve(listener, target):
    while True:
        try:
            client, _ = listener.accept()
        except OSError:
            return
        server = socket.create_connection(target)
        sent = bytearray()
        threading.Thread(target=relay, args=(client, server, sent), daemon=True).start()


def relay(client, server, sent):
    back = threading.Thread(target=pipe, args=(server, client, None), daemon=True)
    back.start()
    pipe(client, server, sent)
    back.join(5)
    split(bytes(sent))


def split(stream):
    if len(stream) < 8:
        return
    (n,) = struct.unpack_from("!I", stream)
    save("startup", stream[:n])
    rest = stream[n:]
    if rest:
        save("frame", rest)
        save("pipeline", b"\x00" + rest)


def main():
    host, port, user = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    relay_port = listener.getsockname()[1]
    threading.Thread(target=serve, args=(listener, (host, port)), daemon=True).start()
    env = dict(os.environ, PGHOST="127.0.0.1", PGPORT=str(relay_port), PGUSER=user, PGDATABASE="postgres",
               PGSSLMODE="disable")
    subprocess.run(["pgbench", "-i", "-q", "-s", "1"], env=dict(env, PGPORT=str(port)), check=True,
                   capture_output=True)
    for cmd in SESSIONS:
        subprocess.run(cmd, env=env, check=True, capture_output=True)
    listener.close()


if __name__ == "__main__":
    main()
