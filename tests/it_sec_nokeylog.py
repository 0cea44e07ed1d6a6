#!/usr/bin/python3
"""it_sec_nokeylog.py — no key bytes in any log (issue 7, security checks).

A full run at debug verbosity (-v) of every daemon: two sites in two
network namespaces, each with kme-sim (KME link over a second veth pair),
skip-proxy, macsec-sw and mka-agent (cak_source = skip, a fallback CAK
configured, the opt-in key log on).  The run reaches SECURED and pings;
then the test itself takes keys over ETSI 014 (curl) and SKIP (openssl
s_client) and provokes the error paths (a consumed key asked again, a key
for the wrong SAE, a wrong PSK).

Every secret the run used is collected — the QKD keys from the API
answers (base64 and hex), the CAKs and SAKs from the agents' key logs, the
SKIP PSK and the fallback CAK — and every daemon log is searched for each
in lowercase hex, uppercase hex, standard and URL-safe base64 (padding
stripped), and for its first 8 octets in hex.  None may appear.  The key
log itself is the one place keys are meant to be, and is not searched.
"""
import base64
import json
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import it_skip_common as sk  # noqa: E402
from it_skip_common import tap  # noqa: E402

SAE = ["SAE_A_01", "SAE_B_02"]
KME = ["KME_A", "KME_B"]
LINK_IP = ["198.51.100.1", "198.51.100.2"]
PSK = "5e1d7c3b9a2f4e6d8c0b1a3f5e7d9c2b4a6f8e0d1c3b5a7f9e2d4c6b8a0f1e3d"
FB_CAK = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"
FB_CKN = "66616c6c6261636b"

t = tap.Tap()
tap.require_root(t)
AGENT = tap.binpath("mka-agent/mka-agent")
MSW = tap.binpath("macsec-sw/macsec-sw")
KMESIM = tap.binpath("kme-sim/kme-sim")
SKIPPROXY = tap.binpath("skip-proxy/skip-proxy")
PKI = os.path.join(tap.SRC, "scripts", "qkdlab-pki")
for p in (AGENT, MSW, KMESIM, SKIPPROXY):
    if not os.access(p, os.X_OK):
        t.skip_all("%s not built" % os.path.basename(p))

tmp = tempfile.mkdtemp(prefix="qkdlab-nokeylog-")
t.cleanup(lambda: subprocess.run(["rm", "-rf", tmp]))
pki = os.path.join(tmp, "pki")
subprocess.run([PKI, "-d", pki, "-k", KME[0], "-k", KME[1], "-s", SAE[0], "-s", SAE[1],
                "-S", "IP:" + LINK_IP[0], "-S", "IP:" + LINK_IP[1]], check=True, stdout=subprocess.DEVNULL)
ns = [tap.Netns(t, "qnkA"), tap.Netns(t, "qnkB")]
tap.veth_pair(t, ns[0], ns[1])
tap.veth_pair(t, ns[0], ns[1], "kmel0", "kmel0")
for i in range(2):
    ns[i].run("ip addr add %s/24 dev kmel0" % LINK_IP[i])


def write(path, lines, mode=0o600):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    os.write(fd, ("\n".join(lines) + "\n").encode())
    os.close(fd)
    return path


procs = {}
for i in range(2):
    o = 1 - i
    conf = write(os.path.join(tmp, "kme-%d.conf" % i), [
        "kme_id = %s" % KME[i], "listen = 127.0.0.1:8443",
        "cert = %s/%s.crt" % (pki, KME[i]), "key = %s/%s.key" % (pki, KME[i]),
        "sae_ca = %s/sae-ca.crt" % pki, "link_listen = %s:9443" % LINK_IP[i],
        "link_cert = %s/%s-link.crt" % (pki, KME[i]), "link_key = %s/%s-link.key" % (pki, KME[i]),
        "link_ca = %s/kme-ca.crt" % pki, "admin_listen = 127.0.0.1:9080",
        "database = %s/kme-%d.db" % (tmp, i), "saes = %s" % SAE[i], "threads = 2",
        "", "[peer %s]" % KME[o], "address = %s:9443" % LINK_IP[o], "saes = %s" % SAE[o]])
    procs["kme-%d" % i] = tap.Proc(t, [KMESIM, "-d", "-v", "-f", conf], "nk-kme-%d" % i, netns=ns[i].name)
    procs["msw-%d" % i] = tap.Proc(t, [MSW, "-d", "-v", "-i", "wire0", "-t", "macsec0", "-s",
                                       "%s/msw-%d.sock" % (tmp, i)], "nk-msw-%d" % i, netns=ns[i].name)
    write(os.path.join(tmp, "skip-%d.psk" % i), ["router%d:%s" % (i, PSK)])
    conf = write(os.path.join(tmp, "skip-%d.conf" % i), [
        "listen = 127.0.0.1", "port = 8445", "psk_file = %s/skip-%d.psk" % (tmp, i),
        "local_system_id = %s" % SAE[i], "remote_system_id = %s" % SAE[o],
        "kme_url = https://127.0.0.1:8443", "kme_ca_file = %s/sae-ca.crt" % pki,
        "kme_cert_file = %s/%s.crt" % (pki, SAE[i]), "kme_key_file = %s/%s.key" % (pki, SAE[i]),
        "threads = 2"])
    procs["skip-%d" % i] = tap.Proc(t, [SKIPPROXY, "-d", "-v", "-f", conf], "nk-skip-%d" % i, netns=ns[i].name)
for i in range(2):
    t.ok(tap.wait_port(8443, netns=ns[i].name, timeout=20) and tap.wait_port(8445, netns=ns[i].name, timeout=20),
         "site %d: kme-sim and skip-proxy listen" % i)
    tap.wait_for(lambda i=i: os.path.exists("%s/msw-%d.sock" % (tmp, i)), 10)
    ns[i].run("ip addr add 192.0.2.%d/24 dev macsec0 && ip link set macsec0 up" % (i + 1))


def agent_conf(i):
    return write(os.path.join(tmp, "mka-%d.conf" % i), [
        "status_socket = %s/mka-%d.sock" % (tmp, i), "key_log = %s/keys-%d.log" % (tmp, i),
        "log_level = debug", "[port wire0]", "cak_source = skip", "sae_id = %s" % SAE[i],
        "allowed_peers = %s" % SAE[1 - i], "skip_address = 127.0.0.1:8445",
        "skip_identity = router%d" % i, "skip_psk = %s" % PSK, "cak_bits = 256",
        "cipher_suites = gcm-aes-256", "fallback_cak = %s" % FB_CAK, "fallback_ckn = %s" % FB_CKN,
        "fallback_after = 60s", "hello_time = 500ms", "secy_socket = %s/msw-%d.sock" % (tmp, i)])


def status(i):
    try:
        r = subprocess.run([AGENT, "-f", os.path.join(tmp, "mka-%d.conf" % i), "status"],
                           capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return {}
    return dict(tok.split("=", 1) for tok in r.stdout.split() if "=" in tok)


for i in range(2):
    procs["mka-%d" % i] = tap.Proc(t, [AGENT, "-d", "-v", "-f", agent_conf(i)], "nk-mka-%d" % i,
                                   netns=ns[i].name)
ok = tap.wait_for(lambda: status(0).get("state") == "secured" and status(1).get("state") == "secured", 40, 0.2)
t.ok(ok, "both agents reach SECURED over SKIP", "%r %r" % (status(0), status(1)))
r = ns[0].run("ping -c 3 -W 2 -i 0.2 192.0.2.2", check=False)
t.ok(r.returncode == 0, "ping over MACsec", r.stdout + r.stderr)

secrets = {}   # bytes -> where it came from


def add(b, what):
    if b and len(b) >= 8:
        secrets.setdefault(bytes(b), what)


# --- ETSI 014 by hand at site A (curl in the namespace), and its errors
def curl(i, sae, path, method="GET", body=None):
    argv = ["ip", "netns", "exec", ns[i].name, "curl", "-sS", "--max-time", "10",
            "--cacert", "%s/sae-ca.crt" % pki, "--cert", "%s/%s.crt" % (pki, sae),
            "--key", "%s/%s.key" % (pki, sae), "-o", "-", "-w", "\n%{http_code}", "-X", method]
    if body is not None:
        argv += ["-H", "Content-Type: application/json", "--data-binary", json.dumps(body)]
    argv.append("https://127.0.0.1:8443" + path)
    out = subprocess.run(argv, capture_output=True, text=True).stdout
    text, _, code = out.rpartition("\n")
    try:
        return int(code), json.loads(text) if text else None
    except ValueError:
        return int(code) if code.isdigit() else 0, None


code, js = curl(0, SAE[0], "/api/v1/keys/%s/enc_keys?number=2&size=256" % SAE[1])
t.eq(code, 200, "014 enc_keys at KME_A: 200")
ids = []
for k in (js or {}).get("keys", []):
    add(base64.b64decode(k["key"]), "014 enc_keys")
    ids.append(k["key_ID"])
code, js = curl(0, SAE[0], "/api/v1/keys/%s/enc_keys" % SAE[1], "POST", {"number": 1, "size": 512})
for k in (js or {}).get("keys", []):
    add(base64.b64decode(k["key"]), "014 enc_keys POST")
got = None
for _ in range(40):
    code, js = curl(1, SAE[1], "/api/v1/keys/%s/dec_keys?key_ID=%s" % (SAE[0], ids[0] if ids else "x"))
    if code == 200:
        got = js
        break
    time.sleep(0.1)
t.ok(got is not None, "014 dec_keys at KME_B: 200")
code, _ = curl(1, SAE[1], "/api/v1/keys/%s/dec_keys?key_ID=%s" % (SAE[0], ids[0] if ids else "x"))
t.eq(code, 400, "014 dec_keys of a consumed key: 400")
code, _ = curl(0, SAE[0], "/api/v1/keys/%s/dec_keys?key_ID=%s" % (SAE[1], ids[1] if len(ids) > 1 else "x"))
t.eq(code, 400 if len(ids) > 1 else 0, "014 dec_keys by the master itself: refused (400)")


# --- SKIP by hand (openssl s_client in the namespace), and its errors
sess = os.path.join(tmp, "router.pem")
with open(sess, "w") as f:
    f.write(sk.session_pem(PSK))
wrong = os.path.join(tmp, "wrong.pem")
with open(wrong, "w") as f:
    f.write(sk.session_pem("00" * 32))


def skip(i, target, ident="router0", session=sess):
    argv = ["ip", "netns", "exec", ns[i].name, "openssl", "s_client", "-connect", "127.0.0.1:8445",
            "-brief", "-ign_eof", "-tls1_3", "-ciphersuites", "TLS_AES_256_GCM_SHA384",
            "-psk_identity", ident, "-psk_session", session]
    r = subprocess.run(argv, input=sk.http_req("GET", target), capture_output=True, timeout=20)
    return sk.parse_http(r.stdout)


r = skip(0, "/key?remoteSystemID=%s&size=256" % SAE[1])
t.ok(r is not None and r[0] == 200, "SKIP GET /key at site A: 200", r)
kid = None
if r is not None and r[0] == 200:
    kid = json.loads(r[2])["keyId"]
    add(bytes.fromhex(json.loads(r[2])["key"]), "SKIP /key")
r = None
for _ in range(40):
    r = skip(1, "/key/%s?remoteSystemID=%s" % (kid, SAE[0]), ident="router1")
    if r is not None and r[0] == 200:
        break
    time.sleep(0.1)
t.ok(r is not None and r[0] == 200, "SKIP GET /key/{keyId} at site B: 200", r)
r = skip(1, "/key/%s?remoteSystemID=%s" % (kid, SAE[0]), ident="router1")
t.ok(r is not None and r[0] == 400, "SKIP: the same keyId again: 400", r)
r = skip(0, "/entropy?minentropy=256")
if r is not None and r[0] == 200:
    add(bytes.fromhex(json.loads(r[2])["randomStr"]), "SKIP /entropy")
t.ok(skip(0, "/capabilities", session=wrong) is None, "SKIP with a wrong PSK: refused")

# Let a CAK or SAK rollover-free run idle a moment so hellos are logged.
time.sleep(1.0)

# --- the key logs: every CAK and SAK the agents used
for i in range(2):
    with open(os.path.join(tmp, "keys-%d.log" % i)) as f:
        for ln in f.read().splitlines():
            w = ln.split()
            if w and w[0] == "CAK" and len(w) >= 3:
                add(bytes.fromhex(w[2]), "CAK (key log)")
            elif w and w[0] == "SAK" and len(w) >= 5:
                add(bytes.fromhex(w[4]), "SAK (key log)")
add(bytes.fromhex(PSK), "SKIP PSK")
add(bytes.fromhex(FB_CAK), "fallback CAK")
kinds = sorted(set(secrets.values()))
t.ok("CAK (key log)" in kinds and "SAK (key log)" in kinds and "014 enc_keys" in kinds and "SKIP /key" in kinds,
     "collected %d secrets: %s" % (len(secrets), ", ".join(kinds)))

for i in range(2):
    t.eq(procs["mka-%d" % i].stop(), 0, "mka-agent %d exits 0 on SIGTERM" % i)
for name in ("skip-0", "skip-1", "msw-0", "msw-1", "kme-0", "kme-1"):
    t.eq(procs[name].stop(), 0, "%s exits 0 on SIGTERM" % name)


def forms(b):
    b64 = base64.b64encode(b).decode().rstrip("=")
    return {b.hex(), b.hex().upper(), b64, base64.urlsafe_b64encode(b).decode().rstrip("="),
            b[:8].hex(), b[:8].hex().upper()}


logs = {name: p.output() for name, p in procs.items()}
lines = sum(len(v.splitlines()) for v in logs.values())
t.ok(all(v.strip() for v in logs.values()) and
     all(re.search(r" debug: ", logs[n]) for n in ("kme-0", "skip-0", "mka-0")),
     "every daemon logged; kme-sim, skip-proxy and mka-agent at debug level (%d lines in %d logs)"
     % (lines, len(logs)))
leaks = []
for b, what in secrets.items():
    for f in forms(b):
        for name, text in logs.items():
            if f in text:
                leaks.append("%s (%s) in %s's log" % (what, f, name))
t.eq(leaks, [], "no log holds any of the %d secrets in hex, HEX, base64 or by its first 8 octets" % len(secrets))
t.ok(all(sk.sanitizer_clean(v) for v in logs.values()), "no sanitizer report in any log")
