#!/usr/bin/python3
"""it_sec_mka_certs.py — mka-agent with the ETSI 014 key source refuses a
KME whose server certificate it must not trust (docs/SECURITY.md, security checks:
"clients refuse a KME with a wrong-CA or expired server cert").

mka-agent runs as the QKD initiator (SAE_A_01, cak_source = etsi014,
kme_ca = the lab's sae-ca, secy_socket = none) in a namespace of the
test's own; its KME is tests/lib/kme_stub.py, an HTTPS server in Python's
ssl that presents a given certificate and answers any request that gets
through with a well-formed 014 Key container.  An EAPOL-Announcement from
the allowed peer SAE_B_01, built by hand (tests/lib/eapol.py) and sent
from the far end of the agent's wire, makes the agent ask that KME for a
key (enc_keys).

Control: a server certificate from sae-ca (made by scripts/qkdlab-pki,
subjectAltName 127.0.0.1) — the agent gets the key.  Refused, each with
subjectAltName 127.0.0.1 so that only the named defect is wrong: from an
unrelated CA, from the lab's kme-ca (the KME-link CA), expired, and
self-signed.  For each the agent must get no key, its TLS handshake with
the stub must never complete (no request reaches it), and the agent must
log a TLS error naming the certificate problem.
"""
import datetime
import os
import re
import subprocess
import sys

sys.dont_write_bytecode = True      # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import tap  # noqa: E402

t = tap.Tap()
tap.require_root(t)
AGENT = tap.binpath("mka-agent/mka-agent")
tap.require_bins(t, "mka-agent/mka-agent")
try:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
except ImportError:
    t.skip_all("python3-cryptography is missing")
import ipaddress  # noqa: E402
import tempfile  # noqa: E402

PKI = os.path.join(tap.SRC, "scripts", "qkdlab-pki")
STUB = os.path.join(tap.SRC, "tests", "lib", "kme_stub.py")
EAPOL = os.path.join(tap.SRC, "tests", "lib", "eapol.py")
SAE_A, SAE_B = "SAE_A_01", "SAE_B_01"
NOW = datetime.datetime.now(datetime.timezone.utc)
DAY = datetime.timedelta(days=1)

tmp = tempfile.mkdtemp(prefix="qkdlab-mkacerts-")
t.cleanup(lambda: subprocess.run(["rm", "-rf", tmp]))
pki, rogue = os.path.join(tmp, "pki"), os.path.join(tmp, "rogue")
subprocess.run([PKI, "-d", pki, "-k", "KME_A", "-s", SAE_A], check=True, stdout=subprocess.DEVNULL)
subprocess.run([PKI, "-d", rogue, "-k", "KME_A"], check=True, stdout=subprocess.DEVNULL)


def load(path):
    with open(path + ".crt", "rb") as f:
        crt = x509.load_pem_x509_certificate(f.read())
    with open(path + ".key", "rb") as f:
        key = serialization.load_pem_private_key(f.read(), None)
    return crt, key


def server_cert(name, issuer=None, not_before=NOW - DAY, not_after=NOW + 30 * DAY):
    """A KME server certificate for 127.0.0.1 (CN KME_A), signed by issuer
    (crt, key) or by itself; returns the path without extension."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "KME_A")])
    ica, ikey = issuer if issuer else (None, key)
    crt = (x509.CertificateBuilder().subject_name(subject)
           .issuer_name(ica.subject if ica else subject)
           .public_key(key.public_key()).serial_number(x509.random_serial_number())
           .not_valid_before(not_before).not_valid_after(not_after)
           .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
           .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
           .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                       x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
           .sign(ikey, hashes.SHA256()))
    path = os.path.join(tmp, name)
    with open(path + ".crt", "wb") as f:
        f.write(crt.public_bytes(serialization.Encoding.PEM))
    fd = os.open(path + ".key", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    return path


sae_ca = load(os.path.join(pki, "sae-ca"))
cases = [
    ("control: a server certificate from sae-ca", os.path.join(pki, "KME_A"), True),
    ("a server certificate from an unrelated CA", os.path.join(rogue, "KME_A"), False),
    ("a server certificate from the lab's kme-ca (the KME-link CA)", os.path.join(pki, "KME_A-link"), False),
    ("an expired server certificate (from sae-ca)",
     server_cert("expired", sae_ca, NOW - 30 * DAY, NOW - 2 * DAY), False),
    ("a self-signed server certificate", server_cert("self"), False),
]

ns = tap.Netns(t, "qmkc")
peer = tap.Netns(t, "qmkp")
tap.veth_pair(t, ns, peer)


def status(conf):
    try:
        r = subprocess.run([AGENT, "-f", conf, "status"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return {}
    return dict(tok.split("=", 1) for tok in r.stdout.split() if "=" in tok)


def announce():
    """One EAPOL-Announcement from the allowed peer, into the agent's wire."""
    r = peer.run("python3 %s --iface wire0 --kind announce --kmd %s --count 1" % (EAPOL, SAE_B), check=False)
    return r.returncode == 0


for i, (what, cert, trusted) in enumerate(cases):
    port = 9443 + i
    stub = tap.Proc(t, ["python3", STUB, "--cert", cert + ".crt", "--key", cert + ".key", "--port", str(port)],
                    "kmestub-%d" % i, netns=ns.name)
    tap.wait_for(lambda: "listening on" in stub.output(), 10)
    conf = os.path.join(tmp, "mka-%d.conf" % i)
    fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("\n".join([
            "status_socket = %s/mka-%d.sock" % (tmp, i),
            "[port wire0]",
            "cak_source = etsi014",
            "sae_id = %s" % SAE_A,
            "allowed_peers = %s" % SAE_B,
            "kme_url = https://127.0.0.1:%d" % port,
            "kme_cert = %s/%s.crt" % (pki, SAE_A),
            "kme_key = %s/%s.key" % (pki, SAE_A),
            "kme_ca = %s/sae-ca.crt" % pki,
            "cak_bits = 256",
            "secy_socket = none",
            ""]))
    agent = tap.Proc(t, [AGENT, "-d", "-v", "-f", conf], "mkacert-%d" % i, netns=ns.name)

    def asked():
        # The agent asks on an announcement; after a key service error it
        # waits 5 s, so one attempt is all this needs.
        st = status(conf)
        if int(st.get("keys_fetched", 0) or 0) + int(st.get("key_errors", 0) or 0) > 0:
            return st
        announce()
        return None
    st = tap.wait_for(asked, 20, 0.5) or status(conf)
    got = int(st.get("keys_fetched", 0) or 0)
    stub_out = stub.output()
    if trusted:
        t.ok(got == 1 and "handshake ok" in stub_out and
             "request: GET /api/v1/keys/%s/enc_keys?number=1&size=256" % SAE_B in stub_out,
             "%s: mka-agent takes the key (the stub and the injection work)" % what,
             "%r\n--- stub\n%s\n--- agent\n%s" % (st, stub_out[-800:], agent.output()[-1500:]))
    else:
        t.ok(got == 0 and int(st.get("key_errors", 0) or 0) >= 1,
             "mka-agent (ETSI 014) refuses a KME with %s: no key" % what,
             "%r\n--- agent\n%s" % (st, agent.output()[-1500:]))
        t.ok("handshake ok" not in stub_out and "request:" not in stub_out,
             "... its TLS handshake with that KME never completed", stub_out[-800:])
        err = re.search(r"etsi014: enc_keys %s: .*(certificate|SSL).*" % SAE_B, agent.output())
        t.ok(err is not None, "... and it logs a TLS error: %r" % (err.group(0) if err else None),
             agent.output()[-1500:])
    rc = agent.stop()
    t.ok(rc == 0 and tap.sanitizer_clean(agent.output()),
         "mka-agent exits 0 on SIGTERM (%s)" % ("control" if trusted else "case %d" % i), agent.output()[-1500:])
    stub.stop()
