#!/usr/bin/python3
"""it_sec_badinput.py — malformed HTTP at kme-sim's ETSI 014 port and
skip-proxy's SKIP port (docs/SECURITY.md, bad input matrix), sent as raw bytes over
TLS by Python's ssl (kme-sim, client certificate) and `openssl s_client`
(skip-proxy, TLS 1.3 external PSK): garbage request lines, a 64 KiB
target, a 64 KiB header, an absurd Content-Length, a chunked body, NUL and
dot-dot escapes in the path, invalid UTF-8 and deep nesting in JSON,
HTTP/1.0 without Host, and idle or half-sent connections.  Each request
must get a 4xx (or the connection closed) and the daemon must go on
serving; at the end both exit 0, sanitizer-clean.
"""
import json
import os
import socket
import ssl
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import kmelab as kc  # noqa: E402
import skiplab as sk  # noqa: E402
from kmelab import tap  # noqa: E402

t = tap.Tap()
tap.require_bins(t, "kme-sim/kme-sim", "skip-proxy/skip-proxy")

lab = kc.Lab(t, {
    "KME_A": {"saes": ["SAE_A"], "peers": ["KME_B"], "extra": {"threads": "2"}},
    "KME_B": {"saes": ["SAE_B"], "peers": ["KME_A"], "extra": {"threads": "2"}},
})
lab.start()
A = lab.kmes["KME_A"]
t.ok(lab.wait_keys("KME_A", "SAE_A", "SAE_B", 4) is not None, "pool fills (the lab works)")
ctx = ssl.create_default_context(cafile=os.path.join(lab.pki, "sae-ca.crt"))
ctx.load_cert_chain(os.path.join(lab.pki, "SAE_A.crt"), os.path.join(lab.pki, "SAE_A.key"))
ENC = "/api/v1/keys/SAE_B/enc_keys"


def kme_raw(data, timeout=10):
    """Sends data on one TLS connection; returns the HTTP status or 0 if
    the connection closed without an answer."""
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", A.port), timeout=timeout),
                        server_hostname="localhost")
    try:
        s.sendall(data)
        out = b""
        while b"\r\n\r\n" not in out:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    except socket.timeout:
        return -1
    except (OSError, ssl.SSLError):
        out = b""
    finally:
        s.close()
    if out.startswith(b"HTTP/1."):
        return int(out.split()[1])
    return 0


def req(method, target, headers=(), body=b"", version="HTTP/1.1", host=True):
    h = "%s %s %s\r\n" % (method, target, version)
    if host:
        h += "Host: localhost\r\n"
    h += "Connection: close\r\n" + "".join("%s: %s\r\n" % kv for kv in headers)
    if body and not any(k.lower() in ("content-length", "transfer-encoding") for k, _ in headers):
        h += "Content-Length: %d\r\nContent-Type: application/json\r\n" % len(body)
    return h.encode() + b"\r\n" + body


def kme_serves():
    r = lab.curl("KME_A", "SAE_A", "/api/v1/keys/SAE_B/status")
    return r.code == 200


def client_error(code):
    return code == 0 or 400 <= code < 500


cases = [
    ("garbage request line", b"\x16\x03\x01 hello\r\n\r\n", client_error),
    ("unknown method FOO", req("FOO", ENC), lambda c: c in (400, 405, 501) or c == 0),
    ("64 KiB request target", req("GET", ENC + "?number=1&" + "a" * 65536), client_error),
    ("64 KiB header", req("GET", ENC, [("X-Pad", "b" * 65536)]), client_error),
    ("negative Content-Length", req("POST", ENC, [("Content-Length", "-5")]) + b"{}", client_error),
    ("NUL escape in the path", req("GET", "/api/v1/keys/SAE_B%00/status"), client_error),
    ("dot-dot escapes in the path", req("GET", "/api/v1/keys/%2e%2e/%2e%2e/status"), client_error),
    ("raw non-ASCII in the path", req("GET", "/api/v1/keys/SAE_\xc3\xa9/status".encode("latin-1").decode("latin-1")),
     client_error),
    ("invalid UTF-8 in the JSON body", req("POST", ENC, body=b'{"number": 1, "x\xff\xfe": 1}'), client_error),
    ("JSON nested 100000 deep", req("POST", ENC, body=b"[" * 100000 + b"]" * 100000), client_error),
    ("JSON with a 400-digit number", req("POST", ENC, body=b'{"number": 1' + b"0" * 400 + b"}"), client_error),
    ("duplicate JSON keys", req("POST", ENC, body=b'{"number": 1, "number": 2}'),
     lambda c: c in (200, 400)),
    ("HTTP/1.0 without Host", req("GET", "/api/v1/keys/SAE_B/status", version="HTTP/1.0", host=False),
     lambda c: c in (200, 400)),
    ("HTTP/2.0 request line", req("GET", ENC, version="HTTP/2.0"), lambda c: c in (0, 400, 505)),
]
chunked = (b"POST " + ENC.encode() + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
           b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"5\r\n{\"num\r\n8\r\nber\": 1}\r\n0\r\n\r\n")
cases.append(("chunked JSON body", chunked, lambda c: c in (200, 400, 411)))
for name, data, want in cases:
    code = kme_raw(data)
    t.ok(want(code), "kme-sim: %s -> %s" % (name, code or "closed"))
# A declared body over the limit (KME_MAX_BODY) was
# only refused once that many bytes had arrived; the connection was held.
code = kme_raw(req("POST", ENC, [("Content-Length", "10000000000"), ("Content-Type", "application/json")]) + b"{",
               timeout=3)
t.ok(code in (0, 400, 413), "kme-sim: Content-Length of 10 GB is refused at once -> %s"
     % {0: "closed", -1: "no answer within 3 s"}.get(code, code))
t.ok(kme_serves(), "kme-sim still serves after the malformed requests")

# Idle and half-sent connections must not starve a 2-thread KME.
idle = []
for i in range(6):
    s = socket.create_connection(("127.0.0.1", A.port), timeout=5)
    if i % 2:
        s = ctx.wrap_socket(s, server_hostname="localhost")
        s.sendall(b"GET /api/v1/keys/SAE_B/status HTTP/1.1\r\nHost: x\r\n")   # never finished
    idle.append(s)
t0 = time.monotonic()
ok = kme_serves()
took = time.monotonic() - t0
t.ok(ok and took < 5, "kme-sim serves while 3 silent TCP and 3 half-sent TLS connections wait (%.2f s)" % took)
for s in idle:
    s.close()

# ---- kme-sim's admin interface (loopback, no authentication by design)
admin_cases = [
    ("POST", "/admin/v1/fault?kind=down", 400, "no peer"),
    ("POST", "/admin/v1/fault?peer=NOPE&kind=down", 400, "unknown peer"),
    ("POST", "/admin/v1/fault?peer=KME_B&kind=melt", 400, "unknown kind"),
    ("POST", "/admin/v1/fault?peer=KME_B&kind=slow", 400, "slow without delay_ms"),
    ("POST", "/admin/v1/fault?peer=KME_B&kind=slow&delay_ms=abc", 400, "delay_ms not a number"),
    ("POST", "/admin/v1/fault?peer=KME_B&kind=slow&delay_ms=99999999999", 400, "delay_ms too large"),
    ("GET", "/admin/v1/fault?peer=KME_B&kind=down", 404, "GET on the POST path"),
    ("POST", "/admin/v1/%2e%2e/x", 404, "dot-dot path"),
]
for method, path, want, what in admin_cases:
    try:
        code, _ = A.admin(method, path)
    except Exception as e:  # noqa: BLE001
        code = repr(e)
    t.eq(code, want, "kme-sim admin: %s -> %d" % (what, want))
code, body = A.admin("GET", "/admin/v1/faults")
peers = json.loads(body).get("peers", []) if code == 200 else []
t.ok(peers and not any(p["down"] or p["starve"] or p["delay_ms"] for p in peers),
     "kme-sim admin: none of those set a fault", body)

# ---- skip-proxy
slab = sk.Lab(t, "sec-bad")
slab.pki = lab.pki
psk_file = slab.write_psk("routers.psk", [("router1", sk.PSK_A)])
sess = slab.write_session("router1.pem", sk.PSK_A)
sport = tap.free_port()
conf = slab.proxy_conf("skip", "SAE_A", ["SAE_B"], A.url(""), sport, "psk_file = %s\n" % psk_file)
sp = slab.start_proxy("skip-bad", conf, sport)


def skip_raw(data, timeout=15):
    argv = ["openssl", "s_client", "-connect", "127.0.0.1:%d" % sport, "-quiet", "-ign_eof", "-tls1_3",
            "-ciphersuites", "TLS_AES_256_GCM_SHA384", "-psk_identity", "router1", "-psk_session", sess]
    try:
        r = subprocess.run(argv, input=data, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return -1
    i = r.stdout.find(b"HTTP/1.")
    return int(r.stdout[i:].split()[1]) if i >= 0 else 0


def skip_serves():
    r = sk.s_client(sport, sk.http_req("GET", "/capabilities"), identity="router1", session=sess)
    return r is not None and r.status == 200


t.ok(skip_serves(), "control: skip-proxy serves /capabilities")
skip_cases = [
    ("garbage request line", b"\x16\x03\x01 hello\r\n\r\n", client_error),
    ("unknown method FOO", req("FOO", "/capabilities"), lambda c: c in (0, 400, 405, 501)),
    ("64 KiB request target", req("GET", "/key?remoteSystemID=SAE_B&" + "a" * 65536), client_error),
    ("64 KiB header", req("GET", "/capabilities", [("X-Pad", "b" * 65536)]), client_error),
    ("NUL escape in remoteSystemID", req("GET", "/key?remoteSystemID=SAE_B%00x"), client_error),
    ("bad percent escape", req("GET", "/key?remoteSystemID=SAE_%zz"), client_error),
    ("dot-dot escapes in the keyId", req("GET", "/key/%2e%2e%2f%2e%2e?remoteSystemID=SAE_B"), client_error),
    ("raw 8-bit bytes in the path", b"GET /key/\xff\xfe?remoteSystemID=SAE_B HTTP/1.1\r\nHost: x\r\n"
                                    b"Connection: close\r\n\r\n", client_error),
    ("HTTP/1.0 without Host", req("GET", "/capabilities", version="HTTP/1.0", host=False),
     lambda c: c in (200, 400)),
]
for name, data, want in skip_cases:
    code = skip_raw(data)
    t.ok(want(code), "skip-proxy: %s -> %s" % (name, {0: "closed", -1: "hung"}.get(code, code)))
# A declared body over the limit is only refused once that
# many bytes have arrived, so the connection is held until idle_timeout.
code = skip_raw(req("POST", "/key?remoteSystemID=SAE_B", [("Content-Length", "10000000000"),
                                                         ("Content-Type", "application/json")]) + b"{", 3)
t.ok(code in (0, 400, 405, 413), "skip-proxy: Content-Length of 10 GB is refused at once -> %s"
     % {0: "closed", -1: "no answer within 3 s"}.get(code, code))
t.ok(skip_serves(), "skip-proxy still serves after the malformed requests")
idle = [socket.create_connection(("127.0.0.1", sport), timeout=5) for _ in range(6)]
t0 = time.monotonic()
ok = skip_serves()
took = time.monotonic() - t0
t.ok(ok and took < 5, "skip-proxy serves while 6 silent TCP connections wait (%.2f s)" % took)
for s in idle:
    s.close()

rc = sp.stop()
t.ok(rc == 0 and tap.sanitizer_clean(sp.output()), "skip-proxy exits 0, sanitizer-clean", sp.output()[-2000:])
kc.stop_all(t, lab)
t.ok(all(tap.sanitizer_clean(k.proc.output()) for k in lab.kmes.values()), "kme-sim logs hold no sanitizer report")
