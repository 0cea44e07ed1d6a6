#!/usr/bin/python3
"""it_sec_tlsfront.py — what the shared TLS front (lib/tls_front.c,
lib/http_frame.c) refuses, seen from third-party clients.

HTTP framing that RFC 9112 says to reject (two different Content-Length
values, Content-Length with Transfer-Encoding, HTTP/1.1 without Host, a NUL
in a header, an unknown transfer coding, a chunk size of 2^64-1) gets its
error status at once and the connection closed: raw bytes over TLS from
Python's ssl at kme-sim's ETSI 014 port and from `openssl s_client` at
skip-proxy's SKIP port.  An SAE certificate whose subject has two CNs, or
none (made here by the openssl command line, signed by the lab's SAE CA),
gets 401 with a log line saying why.  skip-proxy answers an unknown PSK
identity and a known identity with a wrong key with the same TLS alert
(TLS 1.3 and 1.2), logs the reason, and serves a TLS 1.3 PSK bound to
SHA-256 (`openssl s_client -psk`, whose binder is SHA-256) as well as the
draft's SHA-384.
"""
import os
import re
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
t.ok(lab.wait_keys("KME_A", "SAE_A", "SAE_B", 2) is not None, "pool fills (the lab works)")
STATUS = "/api/v1/keys/SAE_B/status"
ENC = "/api/v1/keys/SAE_B/enc_keys"


def kme_ctx(cert, key):
    ctx = ssl.create_default_context(cafile=os.path.join(lab.pki, "sae-ca.crt"))
    ctx.load_cert_chain(cert, key)
    return ctx


good_ctx = kme_ctx(os.path.join(lab.pki, "SAE_A.crt"), os.path.join(lab.pki, "SAE_A.key"))


def kme_raw(data, ctx=good_ctx, timeout=5):
    """(status or 0, closed after the answer, seconds) for data on one connection."""
    t0 = time.monotonic()
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", A.port), timeout=timeout),
                        server_hostname="localhost")
    out, closed = b"", False
    try:
        s.sendall(data)
        while True:
            chunk = s.recv(65536)
            if not chunk:
                closed = True
                break
            out += chunk
    except socket.timeout:
        pass
    except (OSError, ssl.SSLError):
        closed = True
    finally:
        s.close()
    took = time.monotonic() - t0
    code = int(out.split()[1]) if out.startswith(b"HTTP/1.") else 0
    return code, closed, took


def head(lines, version="HTTP/1.1"):
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


# RFC 9112: each of these is refused (6.3 item 5, 6.1, 3.2, 5 / 9110 5.5,
# 6.1 and 7.1); the answer comes at once and the connection is closed.
framing = [
    ("two different Content-Length values", 400,
     head(["POST %s HTTP/1.1" % ENC, "Host: x", "Content-Length: 2", "Content-Length: 3",
           "Content-Type: application/json"]) + b"{}"),
    ("Content-Length with Transfer-Encoding", 400,
     head(["POST %s HTTP/1.1" % ENC, "Host: x", "Content-Length: 2", "Transfer-Encoding: chunked",
           "Content-Type: application/json"]) + b"2\r\n{}\r\n0\r\n\r\n"),
    ("HTTP/1.1 without Host", 400, head(["GET %s HTTP/1.1" % STATUS])),
    ("NUL in a header", 400, b"GET " + STATUS.encode() + b" HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n"),
    ("Transfer-Encoding: xchunked", 501,
     head(["POST %s HTTP/1.1" % ENC, "Host: x", "Transfer-Encoding: xchunked",
           "Content-Type: application/json"]) + b"2\r\n{}\r\n"),
    ("chunk size 2^64-1", 413,
     head(["POST %s HTTP/1.1" % ENC, "Host: x", "Transfer-Encoding: chunked",
           "Content-Type: application/json"]) + b"ffffffffffffffff\r\n{}"),
    ("whitespace before a header colon", 400, head(["GET %s HTTP/1.1" % STATUS, "Host : x"])),
]
for what, want, data in framing:
    code, closed, took = kme_raw(data)
    t.ok(code == want and closed and took < 3,
         "kme-sim: %s -> %d and closed at once (got %s, closed %s, %.2f s)" % (what, want, code, closed, took))
code, closed, _ = kme_raw(head(["GET %s HTTP/1.1" % STATUS, "Host: x", "Content-Length: 0",
                                "Content-Length: 0", "Connection: close"]))
t.eq(code, 200, "kme-sim: the same Content-Length twice is still served (RFC 9112 6.3 allows it)")
# A chunked body that is well formed still reaches kme-sim.
code, _, _ = kme_raw(head(["POST %s HTTP/1.1" % ENC, "Host: x", "Transfer-Encoding: chunked",
                           "Content-Type: application/json", "Connection: close"]) +
                     b"5\r\n{\"num\r\n8;ext=1\r\nber\": 1}\r\n0\r\n\r\n")
t.eq(code, 200, "kme-sim: a well-formed chunked body (with an extension) is served")
log = A.proc.output()
t.ok("two different Content-Length" in log or "different Content-Length values" in log,
     "kme-sim logs why it refused the framing")

# ---- certificates with two CNs, or none
pki = lab.pki


def make_cert(name, subj):
    key, csr, crt = (os.path.join(lab.dir, name + ext) for ext in (".key", ".csr", ".crt"))
    subprocess.run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", key, "-out", csr, "-subj", subj, "-multivalue-rdn"],
                   check=True, capture_output=True)
    os.chmod(key, 0o600)
    subprocess.run(["openssl", "x509", "-req", "-in", csr, "-CA", os.path.join(pki, "sae-ca.crt"),
                    "-CAkey", os.path.join(pki, "sae-ca.key"), "-CAcreateserial", "-days", "2",
                    "-out", crt], check=True, capture_output=True)
    text = subprocess.run(["openssl", "x509", "-in", crt, "-noout", "-subject", "-nameopt", "RFC2253"],
                          check=True, capture_output=True, text=True).stdout
    return crt, key, text.strip()


two_crt, two_key, two_subj = make_cert("two-cn", "/CN=SAE_A/CN=SAE_B")
t.ok(two_subj.count("CN=") == 2, "openssl made a subject with two CNs: %s" % two_subj)
no_crt, no_key, no_subj = make_cert("no-cn", "/O=qkdlab/OU=SAE_A")
t.ok("CN=" not in no_subj, "openssl made a subject without a CN: %s" % no_subj)
req_status = head(["GET %s HTTP/1.1" % STATUS, "Host: x", "Connection: close"])
code, _, _ = kme_raw(req_status)
t.eq(code, 200, "kme-sim: the lab's own SAE_A certificate gets 200 (control)")
code, _, _ = kme_raw(req_status, kme_ctx(two_crt, two_key))
t.eq(code, 401, "kme-sim: a certificate with CN=SAE_A and CN=SAE_B gets 401")
code, _, _ = kme_raw(req_status, kme_ctx(no_crt, no_key))
t.eq(code, 401, "kme-sim: a certificate without a CN gets 401")
time.sleep(0.3)
log = A.proc.output()
t.ok(re.search(r"subject '.*CN=SAE_A.*CN=SAE_B.*' has 2 common names", log) is not None,
     "kme-sim logs that the subject has 2 CNs")
t.ok(re.search(r"has 0 common names", log) is not None, "kme-sim logs that the other has none")

# ---- skip-proxy: framing, PSK alerts, SHA-256 binders
slab = sk.Lab(t, "sec-tf")
slab.pki = lab.pki
psk_file = slab.write_psk("routers.psk", [("router1", sk.PSK_A)])
sess = slab.write_session("router1.pem", sk.PSK_A)
sport = tap.free_port()
conf = slab.proxy_conf("skip", "SAE_A", ["SAE_B"], A.url(""), sport, "psk_file = %s\n" % psk_file)
sp = slab.start_proxy("skip-tf", conf, sport)


def skip_raw(data, timeout=10):
    argv = ["openssl", "s_client", "-connect", "127.0.0.1:%d" % sport, "-quiet", "-ign_eof", "-tls1_3",
            "-ciphersuites", "TLS_AES_256_GCM_SHA384", "-psk_identity", "router1", "-psk_session", sess]
    t0 = time.monotonic()
    try:
        r = subprocess.run(argv, input=data, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return -1, 99.0
    i = r.stdout.find(b"HTTP/1.")
    return (int(r.stdout[i:].split()[1]) if i >= 0 else 0), time.monotonic() - t0


for what, want, data in framing:
    data = data.replace(ENC.encode(), b"/key?remoteSystemID=SAE_B").replace(STATUS.encode(), b"/capabilities")
    code, took = skip_raw(data)
    # s_client -ign_eof returns only once the server has closed.
    t.ok(code == want and took < 3, "skip-proxy: %s -> %d, closed at once (got %s, %.2f s)"
         % (what, want, code, took))


def alert(args):
    """The alert s_client reports for a handshake, or None if it got through."""
    argv = ["openssl", "s_client", "-connect", "127.0.0.1:%d" % sport, "-brief"] + args
    r = subprocess.run(argv, input=sk.http_req("GET", "/capabilities"), capture_output=True, timeout=15)
    m = re.search(r"alert ([a-z ]+?)(?::|\n|$)|SSL alert number (\d+)", r.stderr.decode(errors="replace"))
    if b"HTTP/1.1 200" in r.stdout:
        return None
    return m.group(0).strip() if m else "no alert: " + r.stderr.decode(errors="replace")[-200:]


tls13 = ["-tls1_3", "-ciphersuites", "TLS_AES_256_GCM_SHA384"]
wrong_sess = slab.write_session("wrong.pem", sk.PSK_B)
a_unknown = alert(tls13 + ["-psk_identity", "nobody", "-psk_session", sess])
a_wrong = alert(tls13 + ["-psk_identity", "router1", "-psk_session", wrong_sess])
t.ok(a_unknown is not None and a_unknown == a_wrong,
     "TLS 1.3: unknown identity and wrong key get the same alert (%r, %r)" % (a_unknown, a_wrong))
tls12 = ["-tls1_2", "-cipher", "PSK-AES256-GCM-SHA384"]
b_unknown = alert(tls12 + ["-psk_identity", "nobody", "-psk", sk.PSK_A])
b_wrong = alert(tls12 + ["-psk_identity", "router1", "-psk", sk.PSK_B])
t.ok(b_unknown is not None and b_unknown == b_wrong,
     "TLS 1.2: unknown identity and wrong key get the same alert (%r, %r)" % (b_unknown, b_wrong))
t.ok("unknown psk identity" not in (b_unknown or ""), "TLS 1.2: no unknown_psk_identity alert")

# openssl s_client -psk binds a TLS 1.3 PSK to SHA-256 (its session uses
# TLS_AES_128_GCM_SHA256); s_client's default suite list, nothing chosen.
r = sk.s_client(sport, sk.http_req("GET", "/capabilities"), identity="router1", psk=sk.PSK_A, tls="1.3",
                cipher="TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256")
t.ok(r is not None and r.status == 200 and r.cipher in ("TLS_AES_128_GCM_SHA256", "TLS_CHACHA20_POLY1305_SHA256"),
     "TLS 1.3 PSK bound to SHA-256 (s_client -psk) is served with a SHA-256 suite", r)
argv = ["openssl", "s_client", "-connect", "127.0.0.1:%d" % sport, "-brief", "-ign_eof", "-tls1_3",
        "-psk_identity", "router1", "-psk", sk.PSK_A]
out = subprocess.run(argv, input=sk.http_req("GET", "/capabilities"), capture_output=True, timeout=15)
t.ok(b"HTTP/1.1 200" in out.stdout, "plain `openssl s_client -psk HEX -tls1_3` (no suite named) gets 200")
r = sk.s_client(sport, sk.http_req("GET", "/capabilities"), identity="router1", session=sess)
t.ok(r is not None and r.status == 200 and r.cipher == "TLS_AES_256_GCM_SHA384",
     "a PSK bound to SHA-384 still gets the draft's TLS_AES_256_GCM_SHA384", r)
r = sk.s_client(sport, sk.http_req("GET", "/capabilities"), identity="router1", psk=sk.PSK_B, tls="1.3",
                cipher="TLS_AES_128_GCM_SHA256")
t.ok(r is None, "a SHA-256 PSK with the wrong key is refused")
time.sleep(0.3)
log = sp.output()
t.ok("PSK identity 'nobody' is not configured" in log, "skip-proxy logs the unknown identity")
t.ok(re.search(r"PSK identity 'router1' \(bound to SHA-384\): the client's key is not the one", log),
     "skip-proxy logs a wrong SHA-384 key clearly")
t.ok(re.search(r"PSK identity 'router1' \(bound to SHA-256\): the client's key is not the one", log),
     "skip-proxy logs a wrong SHA-256 key clearly")

rc = sp.stop()
t.ok(rc == 0 and tap.sanitizer_clean(sp.output()), "skip-proxy exits 0, sanitizer-clean", sp.output()[-2000:])
kc.stop_all(t, lab)
t.ok(all(tap.sanitizer_clean(k.proc.output()) for k in lab.kmes.values()), "kme-sim logs hold no sanitizer report")
t.done()
