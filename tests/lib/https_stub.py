#!/usr/bin/python3
"""https_stub.py — an HTTPS/1.1 server for tests/test_https_client (Python's
ssl and socket, not project code), with mutual TLS: the client must show a
certificate from --ca.

Each request's path picks the answer's framing, so the client's parser
and pool meet a real peer:

  /cl       Content-Length, kept alive          /chunked  chunked, kept alive
  /close    no framing, body ends at the close  /idle     kept alive, then the
  /big      a 4 KiB body (Content-Length)                 server closes 0.2 s later
  /hang     no answer, connection held          /drop     closed, no answer
  /interim  100 Continue first                  /te-cl    CL and TE (refused)
  /conn-close  "Connection: close", the connection left open

Every answer's body is JSON: {"conn": connection number (from 1), "req":
request number on it, "reads": records the request took, "method",
"host", "ctype", "body", "peer": the CN of the client's certificate}.  Prints "port N" once listening.

    https_stub.py --cert C --key K --ca CA
"""
import argparse
import json
import socket
import ssl
import threading
import time

lock = threading.Lock()
conns = [0]


def read_request(s, buf):
    """One request from s after buf: (head, body, reads, rest) or None."""
    reads = 0
    while b"\r\n\r\n" not in buf:
        d = s.recv(65536)
        reads += 1
        if not d:
            return None
        buf += d
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    fields = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        fields[k.strip().lower()] = v.strip()
    n = int(fields.get("content-length", "0"))
    while len(rest) < n:
        d = s.recv(65536)
        reads += 1
        if not d:
            return None
        rest += d
    return lines[0], fields, rest[:n], reads, rest[n:]


def peer_cn(s):
    for rdn in s.getpeercert().get("subject", ()):
        for k, v in rdn:
            if k == "commonName":
                return v
    return None


def serve(s, num):
    buf, req = b"", 0
    try:
        peer = peer_cn(s)
        while True:
            r = read_request(s, buf)
            if r is None:
                return
            line, fields, body, reads, buf = r
            req += 1
            method, path = line.split(" ")[0], line.split(" ")[1]
            doc = json.dumps({"conn": num, "req": req, "reads": reads, "method": method,
                              "host": fields.get("host"), "ctype": fields.get("content-type"),
                              "expect": fields.get("expect"), "path": path,
                              "body": body.decode("latin-1"), "peer": peer}).encode()
            path = path.split("?")[0]
            ok = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            if path == "/cl":
                s.sendall(ok + b"Content-Length: %d\r\n\r\n" % len(doc) + doc)
            elif path == "/conn-close":
                # says close, but leaves the connection open
                s.sendall(ok + b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(doc) + doc)
            elif path == "/big":
                pad = b'{"pad":"' + b"x" * 4096 + b'"}'
                s.sendall(ok + b"Content-Length: %d\r\n\r\n" % len(pad) + pad)
            elif path == "/chunked":
                out = ok + b"Transfer-Encoding: chunked\r\n\r\n"
                for i in range(0, len(doc), 7):
                    c = doc[i:i + 7]
                    out += b"%x\r\n" % len(c) + c + b"\r\n"
                s.sendall(out + b"0\r\n\r\n")
            elif path == "/interim":
                s.sendall(b"HTTP/1.1 100 Continue\r\n\r\n" + ok +
                          b"Content-Length: %d\r\n\r\n" % len(doc) + doc)
            elif path == "/te-cl":
                s.sendall(ok + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
            elif path == "/close":
                s.sendall(ok + b"\r\n" + doc)
                return
            elif path == "/idle":
                s.sendall(ok + b"Content-Length: %d\r\n\r\n" % len(doc) + doc)
                time.sleep(0.2)
                return
            elif path == "/hang":
                time.sleep(5)
                return
            else:  # /drop
                return
    except (OSError, ValueError, IndexError):
        return
    finally:
        try:
            s.close()
        except OSError:
            pass


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--ca", required=True)
    a = p.parse_args()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(a.cert, a.key)
    ctx.load_verify_locations(a.ca)
    ctx.verify_mode = ssl.CERT_REQUIRED
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(16)
    print("port %d" % ls.getsockname()[1], flush=True)
    while True:
        c, _ = ls.accept()
        try:
            s = ctx.wrap_socket(c, server_side=True)
        except (OSError, ssl.SSLError):
            c.close()
            continue
        with lock:
            conns[0] += 1
            num = conns[0]
        threading.Thread(target=serve, args=(s, num), daemon=True).start()


if __name__ == "__main__":
    main()
