#!/usr/bin/python3
"""kme_stub.py — an HTTPS server (Python's ssl, not project code) that
stands in for a KME in the certificate tests: it presents the certificate
it is given, reports every TLS handshake on standard output ("handshake
ok" or "handshake refused: <reason>"), and answers every request that gets
through with a well-formed ETSI GS QKD 014 Key container (one fresh key of
the size asked for, 256 bits otherwise), so that only the certificate can
make a client refuse it.

    kme_stub.py --cert C --key K --port P [--host 127.0.0.1]
"""
import argparse
import base64
import json
import os
import socket
import ssl
import sys
import threading
import uuid


def log(msg):
    print(msg, flush=True)


def serve(conn, ctx):
    try:
        s = ctx.wrap_socket(conn, server_side=True)
    except (ssl.SSLError, OSError) as e:
        log("handshake refused: %s" % e)
        conn.close()
        return
    log("handshake ok")
    try:
        s.settimeout(5)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                return
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        log("request: %s" % head.split(b"\r\n")[0].decode(errors="replace"))
        length = 0
        for ln in head.split(b"\r\n")[1:]:
            k, _, v = ln.partition(b":")
            if k.strip().lower() == b"content-length":
                length = int(v.strip() or 0)
        while len(body) < length:
            chunk = s.recv(4096)
            if not chunk:
                break
            body += chunk
        try:
            size = int(json.loads(body or b"{}").get("size", 256))
        except (ValueError, AttributeError):
            size = 256
        out = json.dumps({"keys": [{"key_ID": str(uuid.uuid4()),
                                    "key": base64.b64encode(os.urandom(max(1, size // 8))).decode()}]}).encode()
        s.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                  b"Content-Length: %d\r\n\r\n" % len(out) + out)
    except (ssl.SSLError, OSError) as e:
        log("connection error: %s" % e)
    finally:
        s.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--host", default="127.0.0.1")
    a = ap.parse_args()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(a.cert, a.key)
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((a.host, a.port))
    ls.listen(16)
    log("listening on %s:%d" % (a.host, a.port))
    while True:
        c, _ = ls.accept()
        threading.Thread(target=serve, args=(c, ctx), daemon=True).start()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
