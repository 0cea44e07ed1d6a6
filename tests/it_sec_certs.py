#!/usr/bin/python3
"""it_sec_certs.py — certificates and PSKs that must be refused (docs/SECURITY.md,
security checks), driven by curl, `openssl s_client` and Python's ssl.

kme-sim's ETSI 014 port refuses, at the TLS handshake, client certificates
that are expired, not yet valid, self-signed, signed by the wrong CA (an
unrelated CA, and the lab's own kme-ca that signs KME-link certificates),
and the KME-link port refuses an SAE certificate.  An SAE asks for keys it
is not party to: 401.  skip-proxy refuses a wrong PSK and an unknown
identity at the handshake, and refuses to take keys from a KME whose
server certificate is expired or from the wrong CA (500, no key).
Certificates are made here with Python's `cryptography`, never by project
code.
"""
import datetime
import os
import ssl
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import kmelab as kc  # noqa: E402
import skiplab as sk  # noqa: E402
from kmelab import tap  # noqa: E402

t = tap.Tap()
tap.require_bins(t, "kme-sim/kme-sim", "skip-proxy/skip-proxy")
try:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
except ImportError:
    t.skip_all("python3-cryptography is missing")

lab = kc.Lab(t, {
    "KME_A": {"saes": ["SAE_A"], "peers": ["KME_B"], "extra": {"threads": "2"}},
    "KME_B": {"saes": ["SAE_B", "SAE_C"], "peers": ["KME_A"], "extra": {"threads": "2"}},
})
lab.start()
A = lab.kmes["KME_A"]
NOW = datetime.datetime.now(datetime.timezone.utc)
DAY = datetime.timedelta(days=1)


def load_ca(name, pki=None):
    d = pki or lab.pki
    with open(os.path.join(d, name + ".crt"), "rb") as f:
        crt = x509.load_pem_x509_certificate(f.read())
    with open(os.path.join(d, name + ".key"), "rb") as f:
        key = serialization.load_pem_private_key(f.read(), None)
    return crt, key


def make_cert(name, cn, issuer=None, not_before=NOW - DAY, not_after=NOW + DAY,
              eku=ExtendedKeyUsageOID.CLIENT_AUTH, san=None):
    """Writes DIR/name.{crt,key}: CN=cn, signed by issuer (crt, key) or by
    itself; returns the directory, laid out as Lab.curl expects."""
    d = os.path.join(lab.dir, "certs-" + name)
    os.makedirs(d, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    ica, ikey = issuer if issuer else (None, key)
    b = (x509.CertificateBuilder().subject_name(subject)
         .issuer_name(ica.subject if ica else subject)
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(not_before).not_valid_after(not_after)
         .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
         .add_extension(x509.ExtendedKeyUsage([eku]), False))
    if san:
        b = b.add_extension(x509.SubjectAlternativeName(san), False)
    crt = b.sign(ikey, hashes.SHA256())
    with open(os.path.join(d, cn + ".crt"), "wb") as f:
        f.write(crt.public_bytes(serialization.Encoding.PEM))
    fd = os.open(os.path.join(d, cn + ".key"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    return d


sae_ca = load_ca("sae-ca")
kme_ca = load_ca("kme-ca")
STATUS = "/api/v1/keys/SAE_B/status"

t.ok(lab.wait_keys("KME_A", "SAE_A", "SAE_B", 4) is not None, "pool fills (the lab works)")
r = lab.curl("KME_A", "SAE_A", STATUS)
t.eq(r.code, 200, "control: SAE_A's own certificate is accepted (200)")
# A fresh certificate from the right CA, made the same way as the bad ones
# below, is accepted: the refusals are about what is wrong with each.
good = make_cert("good", "SAE_A", sae_ca)
r = lab.curl("KME_A", "SAE_A", STATUS, pki=good)
t.eq(r.code, 200, "control: a certificate made by this test, signed by sae-ca, is accepted (200)")


def refused(pki, what, s_client=False):
    r = lab.curl("KME_A", "SAE_A", STATUS, pki=pki)
    t.ok(r.code == 0 and r.curl_rc != 0, "kme-sim refuses %s at the TLS handshake (curl)" % what, r)
    for ver in ("-tls1_2", "-tls1_3") if s_client else ():
        p = subprocess.run(["openssl", "s_client", ver, "-connect", "127.0.0.1:%d" % A.port,
                            "-CAfile", os.path.join(lab.pki, "sae-ca.crt"),
                            "-cert", os.path.join(pki, "SAE_A.crt"), "-key", os.path.join(pki, "SAE_A.key")],
                           input="GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % STATUS,
                           capture_output=True, text=True, timeout=20)
        t.ok("HTTP/1.1" not in p.stdout, "kme-sim refuses %s (openssl s_client %s: no HTTP answer)" % (what, ver),
             p.stdout[-400:])


refused(make_cert("expired", "SAE_A", sae_ca, NOW - 30 * DAY, NOW - 2 * DAY), "an expired certificate", True)
refused(make_cert("future", "SAE_A", sae_ca, NOW + 2 * DAY, NOW + 30 * DAY), "a not-yet-valid certificate")
refused(make_cert("self", "SAE_A"), "a self-signed certificate", True)
refused(make_cert("kmeca", "SAE_A", kme_ca), "a certificate for SAE_A signed by kme-ca (the KME-link CA)")
refused(lab.rogue, "a certificate for SAE_A from an unrelated CA")
ekus = {}
r = lab.curl("KME_A", "SAE_A", STATUS, pki=make_cert("srvonly", "SAE_A", sae_ca, eku=ExtendedKeyUsageOID.SERVER_AUTH))
ekus["serverAuth only"] = r

t.ok(r.code == 0 and r.curl_rc != 0,
     "kme-sim refuses an sae-ca certificate for SAE_A whose EKU is serverAuth only (not a client cert)", r)

# The KME link (kme-ca only) refuses an SAE certificate (sae-ca), even one
# named like the peer KME.
imp = make_cert("imp", "KME_B", sae_ca)
p = subprocess.run(["openssl", "s_client", "-ign_eof", "-connect", "127.0.0.1:%d" % A.link_port,
                    "-cert", os.path.join(lab.pki, "KME_B-link.crt"), "-key", os.path.join(lab.pki, "KME_B-link.key")],
                   input="GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", capture_output=True, text=True, timeout=20)
t.ok("HTTP/1.1" in p.stdout, "control: KME link port answers HTTP to KME_B's link certificate", p.stdout[-400:])
for what, d, cn in (("SAE_A's certificate (sae-ca)", lab.pki, "SAE_A"),
                    ("a KME_B-named certificate from sae-ca", imp, "KME_B")):
    p = subprocess.run(["openssl", "s_client", "-ign_eof", "-connect", "127.0.0.1:%d" % A.link_port,
                        "-cert", os.path.join(d, cn + ".crt"), "-key", os.path.join(d, cn + ".key")],
                       input="GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", capture_output=True, text=True, timeout=20)
    t.ok("HTTP/1.1" not in p.stdout, "KME link port refuses %s" % what, p.stdout[-400:])

# --- keys an SAE is not party to
r = lab.curl("KME_A", "SAE_A", "/api/v1/keys/SAE_B/enc_keys?number=1&size=256")
key_id = r.json["keys"][0]["key_ID"] if r.code == 200 else "00000000-0000-0000-0000-000000000000"
t.eq(r.code, 200, "SAE_A gets a key for SAE_B")
r = lab.curl("KME_B", "SAE_C", "/api/v1/keys/SAE_A/dec_keys?key_ID=%s" % key_id)
t.eq(r.code, 400, "SAE_C (same KME, not the slave) asking for SAE_B's key by ID: 400, as for no key")
r = lab.curl("KME_B", "SAE_C", "/api/v1/keys/SAE_A/dec_keys", method="POST",
             body={"key_IDs": [{"key_ID": key_id}]})
t.eq(r.code, 400, "... and by POST: 400")
r = lab.curl("KME_A", "SAE_B", "/api/v1/keys/SAE_A/dec_keys?key_ID=%s" % key_id)
t.eq(r.code, 401, "SAE_B asking at the wrong KME (not its own): 401")
r = lab.curl("KME_B", "SAE_B", "/api/v1/keys/SAE_A/dec_keys?key_ID=%s" % key_id)
t.eq((r.code, [k["key_ID"] for k in (r.json or {}).get("keys", [])]), (200, [key_id]),
     "the slave SAE_B still gets it (the refusals consumed nothing)")
r = lab.curl("KME_B", "SAE_B", "/api/v1/keys/SAE_A/dec_keys?key_ID=%s" % key_id)
t.eq(r.code, 400, "... once")
# An SAE certificate from the right CA for an SAE no KME serves.
ghost = make_cert("ghost", "SAE_X", sae_ca)
r = lab.curl("KME_A", "SAE_X", STATUS, pki=ghost)
t.ok(r.code == 401 or (r.code == 0 and r.curl_rc != 0),
     "an unknown SAE with a valid certificate gets 401 (or no answer)", r)
r = lab.curl("KME_A", "SAE_X", "/api/v1/keys/SAE_B/enc_keys", pki=ghost)
t.ok(r.code in (0, 401), "... and no key from enc_keys", r)

# --- skip-proxy: PSKs at its TLS front, certificates of its KME
slab = sk.Lab(t, "sec-certs")
slab.pki = lab.pki
psk_file = slab.write_psk("routers.psk", [("router1", sk.PSK_A)])
good_sess = slab.write_session("router1.pem", sk.PSK_A)
wrong_sess = slab.write_session("wrong.pem", sk.PSK_B)


def proxy(name, ca_file, url=None):
    port = tap.free_port()
    conf = slab.proxy_conf(name, "SAE_A", ["SAE_B"], url or A.url(""), port,
                           "psk_file = %s\nkme_retries = 1\nkme_retry_delay = 10ms\nkme_timeout = 3s\n"
                           "kme_ca_file = %s\n" % (psk_file, ca_file))
    slab.start_proxy(name, conf, port)
    return port


def skip_get(port, target, session=good_sess, identity="router1"):
    return sk.s_client(port, sk.http_req("GET", target), identity=identity, session=session)


p_ok = proxy("skip-ok", os.path.join(lab.pki, "sae-ca.crt"))
r = skip_get(p_ok, "/key?remoteSystemID=SAE_B&size=256")
t.ok(r is not None and r.status == 200, "control: skip-proxy with the right KME CA serves a key", r)
t.ok(skip_get(p_ok, "/capabilities", session=wrong_sess) is None, "skip-proxy refuses a wrong PSK at the handshake")
t.ok(skip_get(p_ok, "/capabilities", identity="router9") is None,
     "skip-proxy refuses an unknown PSK identity at the handshake")
p_wrong = proxy("skip-wrongca", os.path.join(lab.pki, "kme-ca.crt"))
r = skip_get(p_wrong, "/key?remoteSystemID=SAE_B&size=256")
t.ok(r is not None and r.status == 500 and '"key"' not in r.body,
     "skip-proxy trusting another CA than the KME's refuses the KME (500, no key)", r)

# A KME front with an expired server certificate: a TLS proxy in Python
# (ssl module) presenting it, in front of nothing — the client must stop at
# the certificate.
exp_srv = make_cert("expsrv", "KME_A", sae_ca, NOW - 30 * DAY, NOW - 2 * DAY, ExtendedKeyUsageOID.SERVER_AUTH,
                    [x509.DNSName("localhost"), x509.IPAddress(__import__("ipaddress").ip_address("127.0.0.1"))])
import socket  # noqa: E402
import threading  # noqa: E402

srv_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
srv_ctx.load_cert_chain(os.path.join(exp_srv, "KME_A.crt"), os.path.join(exp_srv, "KME_A.key"))
lsock = socket.socket()
lsock.bind(("127.0.0.1", 0))
lsock.listen(8)
t.cleanup(lsock.close)
handshakes = []


def serve():
    while True:
        try:
            c, _ = lsock.accept()
        except OSError:
            return
        try:
            s = srv_ctx.wrap_socket(c, server_side=True)
            handshakes.append("ok")
            s.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 90\r\n\r\n"
                      b'{"keys":[{"key_ID":"11111111-2222-3333-4444-555555555555","key":"AAAAAAAAAAAAAAAAAAAAAA=="}]}')
            s.close()
        except (ssl.SSLError, OSError):
            handshakes.append("refused")
            c.close()


threading.Thread(target=serve, daemon=True).start()
p_exp = proxy("skip-expired", os.path.join(lab.pki, "sae-ca.crt"),
              "https://127.0.0.1:%d" % lsock.getsockname()[1])
r = skip_get(p_exp, "/key?remoteSystemID=SAE_B&size=256")
t.ok(r is not None and r.status == 500, "skip-proxy refuses a KME whose server certificate expired (500)", r)
t.ok("ok" not in handshakes, "... its handshake with that KME never completed", handshakes)

for name, p in slab.proxies:
    rc = p.stop()
    t.ok(rc == 0 and tap.sanitizer_clean(p.output()), "%s exits 0, sanitizer-clean" % name, p.output()[-2000:])
kc.stop_all(t, lab)
