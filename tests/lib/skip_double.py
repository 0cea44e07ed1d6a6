#!/usr/bin/python3
"""skip_double.py — a test double of two SKIP key providers of one link
(draft-cisco-skip-02) for qkdlab-conform's self-test: Python's http.server
behind tests/skip_psk_front (TLS-PSK, every TLS parameter chosen here),
not project code.

Both providers live in one process and share one key store, each on its
own loopback port.  Unbroken the double behaves as the draft asks;
`--break ID` makes it violate exactly the check ID (BREAKS says how), so
the self-test can show that every SKIP check fails when it should.

    skip_double.py --front PATH --psk FILE --id-a ID --id-b ID
                   --port-a P --port-b P [--cert F --key F] [--break CHECK]

It prints "ready" once both ports listen and stops when its standard
input closes.
"""
import argparse
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

BREAKS = {
    "skip.capabilities": "remoteSystemID is a string, not an array",
    "skip.key.new": "a GET /key without size right after another one repeats its answer",
    "skip.key.size": "size is ignored: every key has 256 bits",
    "skip.key.by_id": "B returns the key with one byte changed",
    "skip.key.once": "B does not remove a key once it has given it out",
    "skip.entropy": "minentropy is ignored: always 256 bits",
    "skip.error.unknown_key": "a keyId never issued gets 404",
    "skip.error.params": "size=abc is taken as the default size",
    "skip.error.method": "405 without an Allow header",
    "skip.error.path": "an unknown path gets 400",
    "skip.tls.psk": "a certificate handshake without any PSK is let in",
    "skip.tls.v13": "TLS 1.3 is not served (TLS 1.2 only)",
    "skip.tls.v12": "TLS 1.2 only with PSK-AES256-GCM-SHA384, not a Table 1 suite",
    "skip.tls.weak": "TLS 1.1 is accepted",
}

# What each TLS break changes in the front's arguments.
FRONT = {
    "skip.tls.v13": ["-M", "1.2"],
    "skip.tls.v12": ["-C", "PSK-AES256-GCM-SHA384"],
    "skip.tls.weak": ["-m", "1.1", "-C", "DHE-PSK-AES256-CBC-SHA384:DHE-PSK-AES256-CBC-SHA"],
}


class Pair:
    def __init__(self, args):
        self.ids = {"A": args.id_a, "B": args.id_b}
        self.brk = args.brk
        self.lock = threading.Lock()
        self.keys = {}          # keyId -> (key bytes, provider it was taken at)
        self.last = {}          # "" -> (was a plain GET /key, its answer)
        self.gone = set()       # keyIds given out at the peer (no longer there)

    def serve(self, me, method, target):
        """(status, body dict, extra headers) for one request at provider me."""
        b = self.brk
        other = "B" if me == "A" else "A"
        with self.lock:
            prev = self.last.pop("", None)      # the request just before, at either
        u = urlsplit(target)
        q = {k: v[0] for k, v in parse_qs(u.query, keep_blank_values=True).items()}
        path = u.path
        known = path in ("/capabilities", "/key", "/entropy") or re.match(r"^/key/[^/]+$", path)
        if not known:
            return (400 if b == "skip.error.path" else 404), {"message": "no such resource"}, {}
        if method != "GET":
            return 405, {"message": "only GET"}, ({} if b == "skip.error.method" else {"Allow": "GET"})
        if path == "/capabilities":
            rs = self.ids[other] if b == "skip.capabilities" else [self.ids[other]]
            return 200, {"entropy": True, "key": True, "algorithm": "test double",
                         "localSystemID": self.ids[me], "remoteSystemID": rs}, {}
        if path == "/entropy":
            bits = q.get("minentropy", "256")
            if not bits.isdigit() or int(bits) % 8 or not 8 <= int(bits) <= 4096:
                return 400, {"message": "minentropy"}, {}
            bits = 256 if b == "skip.entropy" else int(bits)
            return 200, {"randomStr": os.urandom(bits // 8).hex().upper(), "minentropy": bits}, {}
        if q.get("remoteSystemID") != self.ids[other]:
            return 400, {"message": "unknown or missing remoteSystemID"}, {}
        if path == "/key":
            size = q.get("size", "256")
            if b == "skip.error.params" and size == "abc":
                size = "256"
            if not size.isdigit() or int(size) % 8 or not 128 <= int(size) <= 512:
                return 400, {"message": "size"}, {}
            bits = 256 if b == "skip.key.size" else int(size)
            plain = "size" not in q
            with self.lock:
                if b == "skip.key.new" and plain and prev and prev[0]:
                    return 200, prev[1], {}
                kid, key = os.urandom(16).hex(), os.urandom(bits // 8)
                self.keys[kid] = (key, me)
                ans = {"keyId": kid, "key": key.hex()}
                self.last[""] = (plain, ans)
            return 200, ans, {}
        kid = path[len("/key/"):]
        if not re.match(r"^(?:[0-9a-fA-F]{2})+$", kid):
            return 400, {"message": "keyId is not hex"}, {}
        with self.lock:
            got = self.keys.get(kid.lower())
            if got is None or got[1] != other:
                never = got is None and kid.lower() not in self.gone
                return (404 if b == "skip.error.unknown_key" and never else 400), \
                    {"message": "key not found"}, {}
            if b != "skip.key.once":
                del self.keys[kid.lower()]
                self.gone.add(kid.lower())
        key = got[0]
        if b == "skip.key.by_id":
            key = bytes([key[0] ^ 1]) + key[1:]
        return 200, {"keyId": kid, "key": key.hex()}, {}


def handler(pair, me):
    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def any(self):
            n = int(self.headers.get("Content-Length") or 0)
            if n:
                self.rfile.read(n)
            status, body, extra = pair.serve(me, self.command, self.path)
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in extra.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = any
    return H


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--front", required=True)
    p.add_argument("--psk", required=True)
    p.add_argument("--id-a", required=True)
    p.add_argument("--id-b", required=True)
    p.add_argument("--port-a", type=int, required=True)
    p.add_argument("--port-b", type=int, required=True)
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--break", dest="brk", choices=sorted(BREAKS))
    args = p.parse_args()
    pair = Pair(args)
    fronts = []
    for me, port in (("A", args.port_a), ("B", args.port_b)):
        srv = ThreadingHTTPServer(("127.0.0.1", 0), handler(pair, me))
        srv.daemon_threads = True
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        argv = [args.front, "-l", str(port), "-b", str(srv.server_address[1]), "-P", args.psk]
        argv += FRONT.get(args.brk, [])
        if args.brk == "skip.tls.psk":
            argv += ["-c", args.cert, "-k", args.key]
        fronts.append(subprocess.Popen(argv, stdin=subprocess.PIPE))
    # Ready once each front listens; a front that ends first (its port
    # taken) or never answers is an error, not "ready".
    for f, port in zip(fronts, (args.port_a, args.port_b)):
        deadline = time.monotonic() + 10
        while f.poll() is None and time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        else:
            print("front on port %d did not start (exit status %s)" % (port, f.poll()), flush=True)
            sys.exit(1)
    print("ready", flush=True)
    sys.stdin.read()
    for f in fronts:
        f.stdin.close()
        f.wait(10)


if __name__ == "__main__":
    main()
