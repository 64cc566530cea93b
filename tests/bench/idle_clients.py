#!/usr/bin/python3
"""idle_clients.py - opens N PostgreSQL client connections that log in and then stay idle,
for tests/bench/idle_clients.sh. Standard library only (Debian's /usr/bin/python3).

A client counts as connected once it reaches --until:
  ready   ReadyForQuery: the login is complete, as an application's pool would see it
  authok  AuthenticationOk
  sent    its startup message is sent and the connection stays open (a password request
          is still answered): a client a pooler holds in its queue without an answer counts

Logins run --parallel at a time. Once every client has reached --until (or --timeout passed)
it prints one line, "done connected=<n> open=<n> lost=<n> elapsed=<s>", then keeps every
connection open, reading and dropping whatever arrives, and prints the same counts as
"status ..." each second until SIGTERM or SIGINT. <open>: connections not lost, whether
connected or still logging in; <lost>: connections the server closed or refused (an
ErrorResponse, EOF, a reset) at any time; the first few reasons go to stderr.
Exit status: 0 if all N were connected when "done" was printed, else 1.
"""

import argparse
import errno
import hashlib
import selectors
import signal
import socket
import struct
import sys
import time

UNTIL = ("ready", "authok", "sent")


def startup_message(user, database):
    body = struct.pack("!I", 196608)
    for k, v in (("user", user), ("database", database)):
        body += k.encode() + b"\0" + v.encode() + b"\0"
    body += b"\0"
    return struct.pack("!I", len(body) + 4) + body


def password_message(password):
    body = password.encode() + b"\0"
    return b"p" + struct.pack("!I", len(body) + 4) + body


def md5_password(user, password, salt):
    inner = hashlib.md5(password.encode() + user.encode()).hexdigest()
    return "md5" + hashlib.md5(inner.encode() + salt).hexdigest()


class Client:
    __slots__ = ("sock", "out", "inbuf", "state", "reached")

    def __init__(self, sock, first):
        self.sock = sock
        self.out = first
        self.inbuf = b""
        self.state = "connecting"
        self.reached = False


class Runner:
    def __init__(self, args):
        self.a = args
        self.sel = selectors.DefaultSelector()
        self.started = 0
        self.in_flight = 0  # started, not yet connected or lost
        self.connected = 0
        self.lost = 0
        self.reasons = 0

    def lose(self, c, why):
        if c.state == "lost":
            return
        if not c.reached:
            self.in_flight -= 1
        else:
            self.connected -= 1
        c.state = "lost"
        self.lost += 1
        if self.reasons < 5:
            self.reasons += 1
            print("lost a client: %s" % why, file=sys.stderr, flush=True)
        try:
            self.sel.unregister(c.sock)
        except (KeyError, ValueError):
            pass
        c.sock.close()

    def reach(self, c):
        if not c.reached:
            c.reached = True
            self.in_flight -= 1
            self.connected += 1

    def start_one(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        c = Client(s, startup_message(self.a.user, self.a.database))
        self.started += 1
        self.in_flight += 1
        err = s.connect_ex((self.a.host, self.a.port))
        if err not in (0, errno.EINPROGRESS):
            self.sel.register(s, selectors.EVENT_READ, c)
            self.lose(c, "connect: %s" % errno.errorcode.get(err, err))
            return
        self.sel.register(s, selectors.EVENT_WRITE, c)

    def wants(self, c):
        return selectors.EVENT_READ | (selectors.EVENT_WRITE if c.out or c.state == "connecting" else 0)

    def send(self, c, data):
        c.out += data
        self.sel.modify(c.sock, self.wants(c), c)

    def on_write(self, c):
        if c.state == "connecting":
            err = c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                self.lose(c, "connect: %s" % errno.errorcode.get(err, err))
                return
            c.state = "login"
        try:
            n = c.sock.send(c.out)
        except BlockingIOError:
            return
        except OSError as e:
            self.lose(c, "send: %s" % e)
            return
        c.out = c.out[n:]
        if not c.out and self.a.until == "sent" and c.state == "login":
            self.reach(c)  # whatever it has to send is sent; it waits for the answer
        self.sel.modify(c.sock, self.wants(c), c)

    def on_read(self, c):
        try:
            data = c.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError as e:
            self.lose(c, "recv: %s" % e)
            return
        if not data:
            self.lose(c, "closed by the server")
            return
        if c.reached and self.a.until != "sent":
            return  # idle from here: nothing more to decode
        c.inbuf += data
        while len(c.inbuf) >= 5:
            t = c.inbuf[0:1]
            length = struct.unpack("!I", c.inbuf[1:5])[0]
            if len(c.inbuf) < 1 + length:
                break
            body = c.inbuf[5:1 + length]
            c.inbuf = c.inbuf[1 + length:]
            if not self.on_message(c, t, body) or c.state == "lost":
                return

    def on_message(self, c, t, body):
        if t == b"E":
            fields = dict((f[0:1], f[1:]) for f in body.split(b"\0") if f)
            self.lose(c, "%s %s" % (fields.get(b"C", b"?").decode(), fields.get(b"M", b"").decode()))
            return False
        if t == b"R":
            code = struct.unpack("!I", body[0:4])[0]
            if code == 0:
                if self.a.until == "authok":
                    self.reach(c)
            elif code == 3:
                self.send(c, password_message(self.a.password))
            elif code == 5:
                self.send(c, password_message(md5_password(self.a.user, self.a.password, body[4:8])))
            else:
                self.lose(c, "authentication request %d is not supported here" % code)
                return False
        elif t == b"Z" and self.a.until == "ready":
            self.reach(c)
        return True

    def poll(self, timeout):
        for key, ev in self.sel.select(timeout):
            c = key.data
            if c.state == "lost":
                continue
            if ev & selectors.EVENT_WRITE:
                self.on_write(c)
            if ev & selectors.EVENT_READ and c.state != "lost":
                self.on_read(c)

    def run(self):
        stop = []
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.append(1))
        t0 = time.monotonic()
        deadline = t0 + self.a.timeout
        while (self.started < self.a.n or self.in_flight > 0) and time.monotonic() < deadline and not stop:
            while self.started < self.a.n and self.in_flight < self.a.parallel:
                self.start_one()
            self.poll(0.05)
        ok = self.connected == self.a.n
        print("done connected=%d open=%d lost=%d elapsed=%.1f"
              % (self.connected, self.started - self.lost, self.lost, time.monotonic() - t0), flush=True)
        last = time.monotonic()
        while not stop:
            self.poll(0.2)
            if time.monotonic() - last >= 1:
                last = time.monotonic()
                print("status connected=%d open=%d lost=%d" % (self.connected, self.started - self.lost, self.lost),
                      flush=True)
        return 0 if ok else 1


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-n", type=int, default=10000, help="clients (default 10000)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--user", default="postgres")
    p.add_argument("--database", default="postgres")
    p.add_argument("--password", default="", help="for cleartext or md5 requests")
    p.add_argument("--until", choices=UNTIL, default="ready")
    p.add_argument("--parallel", type=int, default=100, help="logins under way at once (default 100)")
    p.add_argument("--timeout", type=float, default=120, help="seconds for every login (default 120)")
    sys.exit(Runner(p.parse_args()).run())


if __name__ == "__main__":
    main()
