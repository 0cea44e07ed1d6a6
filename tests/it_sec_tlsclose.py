#!/usr/bin/python3
"""it_sec_tlsclose.py — how the shared TLS front (lib/tls_front.c) ends a
connection, seen from third-party clients at kme-sim's ETSI 014 port.

A body refused before it has all arrived (kme-sim's 400 "too large", the
front's own 413) must not cost the client its answer: the front sends it,
close_notify, half-closes and reads what the client still sends for a
bounded time before it closes (RFC 9112 9.6), so the kernel does not reset
the connection over unread bytes.  curl is asked 50 times in a row, and a
Python client that keeps sending slowly for longer than a second after the
answer still reads it whole.  A client that half-closes after its request
(close_notify, as `openssl s_client` does at the end of its input; or a
bare TCP FIN) still gets the answer, then the front's close.
"""
import os
import socket
import ssl
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import kmelab as kc  # noqa: E402
from kmelab import tap  # noqa: E402

t = tap.Tap()
tap.require_bins(t, "kme-sim/kme-sim")

lab = kc.Lab(t, {
    "KME_A": {"saes": ["SAE_A"], "peers": ["KME_B"], "extra": {"threads": "2"}},
    "KME_B": {"saes": ["SAE_B"], "peers": ["KME_A"], "extra": {"threads": "2"}},
})
lab.start()
A = lab.kmes["KME_A"]
t.ok(lab.wait_keys("KME_A", "SAE_A", "SAE_B", 1) is not None, "pool fills (the lab works)")
ENC = "/api/v1/keys/SAE_B/enc_keys"
STATUS = "/api/v1/keys/SAE_B/status"
TRIES = 50

# kme-sim refuses a 300 kB body (400) once it sees the Content-Length; the
# front refuses one over its 1 MiB limit (413) itself.
for size, code, msg in ((300000, 400, "request body too large"),
                        (2 * 1024 * 1024, 413, "request body too large")):
    lost = []
    for i in range(TRIES):
        r = lab.curl("KME_A", "SAE_A", ENC, "POST", "x" * size)
        if r.code != code or r.message() != msg:
            lost.append((i, r.code, r.curl_rc, r.err.strip()[-80:]))
    t.ok(not lost, "curl POST of %d bytes: %d of %d answers %d '%s' (first misses: %s)"
         % (size, TRIES - len(lost), TRIES, code, msg, lost[:3]))

ctx = ssl.create_default_context(cafile=os.path.join(lab.pki, "sae-ca.crt"))
ctx.load_cert_chain(os.path.join(lab.pki, "SAE_A.crt"), os.path.join(lab.pki, "SAE_A.key"))


def read_all(s):
    out = b""
    try:
        while True:
            c = s.recv(65536)
            if not c:
                return out, "eof"
            out += c
    except socket.timeout:
        return out, "timeout"
    except (OSError, ssl.SSLError) as e:
        return out, repr(e)


# A slow sender: the answer comes after the head; the body keeps coming for
# 1.6 s more, past any short linger, and only then does the client read.
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", A.port), timeout=10),
                    server_hostname="localhost")
s.sendall(("POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           "Content-Length: 300000\r\n\r\n" % ENC).encode())
send_err = None
try:
    for _ in range(16):
        s.sendall(b"x" * 8000)
        time.sleep(0.1)
except (OSError, ssl.SSLError) as e:
    send_err = repr(e)
out, end = read_all(s)
s.close()
t.ok(out.startswith(b"HTTP/1.1 400 ") and b"request body too large" in out,
     "slow sender reads the 400 sent while it was still sending (send: %s, end: %s)"
     % (send_err, end), out[:200])

REQ = ("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % STATUS).encode()


def half_close_notify(version):
    """Request, then close_notify and TCP FIN at once; returns (answer, end)."""
    c = ssl.create_default_context(cafile=os.path.join(lab.pki, "sae-ca.crt"))
    c.load_cert_chain(os.path.join(lab.pki, "SAE_A.crt"), os.path.join(lab.pki, "SAE_A.key"))
    c.minimum_version = c.maximum_version = version
    raw = socket.create_connection(("127.0.0.1", A.port), timeout=10)
    inc, outg = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = c.wrap_bio(inc, outg, server_hostname="localhost")

    def pump_out():
        data = outg.read()
        if data:
            raw.sendall(data)

    def pump_in():
        data = raw.recv(65536)
        if not data:
            inc.write_eof()
        else:
            inc.write(data)
        return bool(data)

    while True:
        try:
            obj.do_handshake()
            break
        except ssl.SSLWantReadError:
            pump_out()
            pump_in()
    obj.write(REQ)
    try:
        obj.unwrap()          # sends close_notify; the server's comes later
    except ssl.SSLWantReadError:
        pass
    pump_out()
    raw.shutdown(socket.SHUT_WR)
    out, end = b"", "?"
    try:
        while True:
            try:
                out += obj.read(65536)
                continue
            except ssl.SSLWantReadError:
                pass
            except ssl.SSLZeroReturnError:
                end = "close_notify"
                break
            if not pump_in():
                end = end if end != "?" else "eof"
                try:
                    out += obj.read(65536)
                except (ssl.SSLError, OSError):
                    pass
                break
    except (OSError, ssl.SSLError) as e:
        end = repr(e)
    raw.close()
    return out, end


for version, name in ((ssl.TLSVersion.TLSv1_3, "TLS 1.3"), (ssl.TLSVersion.TLSv1_2, "TLS 1.2")):
    ok = 0
    for _ in range(10):
        out, end = half_close_notify(version)
        ok += out.startswith(b"HTTP/1.1 200 ") and b"stored_key_count" in out
    t.ok(ok == 10, "%s: request then close_notify and FIN at once: %d/10 answered (last end: %s)"
         % (name, ok, end), out[:200])

ok = 0
for _ in range(10):
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", A.port), timeout=10),
                        server_hostname="localhost")
    s.sendall(REQ)
    socket.socket.shutdown(s, socket.SHUT_WR)   # TCP FIN, no close_notify
    out, end = read_all(s)
    s.close()
    ok += out.startswith(b"HTTP/1.1 200 ") and b"stored_key_count" in out
t.ok(ok == 10, "request then a bare TCP FIN: %d/10 answered (last end: %s)" % (ok, end), out[:200])

# openssl s_client without -ign_eof: at the end of its input it sends
# close_notify, half-closes, and drains what comes for up to 0.5 s without
# printing it, so whether the answer shows is a race in s_client; what the
# front owes it is no reset and no error, and the request served.
SERVED = 'kme_requests_total{method="status",code="200"}'
before = A.metric(SERVED)
t0 = time.monotonic()
p = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % A.port, "-tls1_3",
                    "-CAfile", os.path.join(lab.pki, "sae-ca.crt"),
                    "-cert", os.path.join(lab.pki, "SAE_A.crt"),
                    "-key", os.path.join(lab.pki, "SAE_A.key")],
                   input=REQ, capture_output=True, timeout=30)
t.ok(p.returncode == 0 and b"DONE" in p.stderr and b"errno" not in p.stderr,
     "openssl s_client without -ign_eof: request, close_notify, clean end in %.2f s"
     % (time.monotonic() - t0), p.stderr[-300:])
t.eq(A.metric(SERVED) - before, 1, "... and kme-sim served that request")
log = A.proc.output()
t.ok("no answer in" not in log, "kme-sim's front answered every half-closed request in time")
t.done()
