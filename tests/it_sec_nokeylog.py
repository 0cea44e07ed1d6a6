#!/usr/bin/python3
"""it_sec_nokeylog.py — no key bytes in any log (docs/SECURITY.md, security checks).

A full run at the highest verbosity (-v, and log_level = debug for
mka-agent) of every daemon: two sites in two network namespaces
(tests/lib/twosite.py), each with kme-sim (KME link over a second veth
pair), skip-proxy, macsec-sw and mka-agent (a fallback CAK configured, the
opt-in key log on).  First with cak_source = skip: the run reaches SECURED
and pings; then the test itself takes keys over ETSI 014 (curl) and SKIP
(openssl s_client) and provokes the error paths (a consumed key asked
again, a key for the wrong SAE, a wrong PSK).  Then both agents are
replaced by agents with cak_source = etsi014 (straight to their KMEs),
which secure the link, pass a ping and roll their CAK over at least once;
a restarted responder is then refused the consumed key of the live CA
(the 014 client's error path).

Every secret the run used is collected — the QKD keys from the API
answers (base64 and hex), the CAKs and SAKs of both key paths from the
agents' key logs, the SKIP PSKs and the fallback CAK — and every daemon
log is searched for each in lowercase hex, uppercase hex, standard and
URL-safe base64 (padding stripped), and for its first 8 octets in hex.
None may appear.  The key log itself is the one place keys are meant to
be, and is not searched.
"""
import base64
import json
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import skiplab as sk  # noqa: E402
from skiplab import tap  # noqa: E402

FB_CAK = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"
FB_CKN = "66616c6c6261636b"

t = tap.Tap()
tap.require_root(t)
tap.require_bins(t, "mka-agent/mka-agent", "macsec-sw/macsec-sw", "macsec-sw/macsec-ctl",
                 "kme-sim/kme-sim", "skip-proxy/skip-proxy")
import twosite  # noqa: E402

SAE = [twosite.SAE["a"], twosite.SAE["b"]]
SITE = "ab"
lab = twosite.Sites(t, "nokey", verbose=True)
lab.start_kmes(extra={"threads": "2"})
lab.start_skips(extra={"threads": "2"})
lab.start_secys()
pki = lab.pki
DEBUG = {"log_level": "debug"}
PORT = {"fallback_cak": FB_CAK, "fallback_ckn": FB_CKN, "fallback_after": "60s", "hello_time": "500ms"}

for s in SITE:
    lab.start_agent(s, lab.agent_conf(s, "skip", top=DEBUG, port=PORT))
ok = tap.wait_for(lab.both_secured, 40, 0.2)
t.ok(ok, "both agents reach SECURED over SKIP", "%r %r" % (lab.status("a"), lab.status("b")))
ok, out = lab.ping("a")
t.ok(ok, "ping over MACsec", out)

secrets = {}   # bytes -> where it came from


def add(b, what):
    if b and len(b) >= 8:
        secrets.setdefault(bytes(b), what)


# --- ETSI 014 by hand at site A (curl in the namespace), and its errors
def curl(i, sae, path, method="GET", body=None):
    argv = ["ip", "netns", "exec", lab.ns[SITE[i]], "curl", "-sS", "--max-time", "10",
            "--cacert", "%s/sae-ca.crt" % pki, "--cert", "%s/%s.crt" % (pki, sae),
            "--key", "%s/%s.key" % (pki, sae), "-o", "-", "-w", "\n%{http_code}", "-X", method]
    if body is not None:
        argv += ["-H", "Content-Type: application/json", "--data-binary", json.dumps(body)]
    argv.append("https://%s:%d%s" % (twosite.LINK_IP[SITE[i]], twosite.KME_PORT, path))
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
PSK = {s: lab.psk(s) for s in SITE}       # (identity, key hex) of each site's router
sess = {}
for s in SITE + "x":
    sess[s] = os.path.join(lab.dir, "router-%s.pem" % s)
    with open(sess[s], "w") as f:
        f.write(sk.session_pem(PSK[s][1] if s in PSK else "00" * 32))


def skip(i, target, session=None):
    s = SITE[i]
    argv = ["ip", "netns", "exec", lab.ns[s], "openssl", "s_client", "-connect",
            "%s:%d" % (twosite.LINK_IP[s], twosite.SKIP_PORT), "-brief", "-ign_eof", "-tls1_3",
            "-ciphersuites", "TLS_AES_256_GCM_SHA384", "-psk_identity", PSK[s][0],
            "-psk_session", session or sess[s]]
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
    r = skip(1, "/key/%s?remoteSystemID=%s" % (kid, SAE[0]))
    if r is not None and r[0] == 200:
        break
    time.sleep(0.1)
t.ok(r is not None and r[0] == 200, "SKIP GET /key/{keyId} at site B: 200", r)
r = skip(1, "/key/%s?remoteSystemID=%s" % (kid, SAE[0]))
t.ok(r is not None and r[0] == 400, "SKIP: the same keyId again: 400", r)
r = skip(0, "/entropy?minentropy=256")
if r is not None and r[0] == 200:
    add(bytes.fromhex(json.loads(r[2])["randomStr"]), "SKIP /entropy")
t.ok(skip(0, "/capabilities", session=sess["x"]) is None, "SKIP with a wrong PSK: refused")

# Let the run idle a moment so hellos are logged.
time.sleep(1.0)
skip_logged = {s: len(lab.key_log(s)) for s in SITE}

# --- the ETSI 014 key source: the agents are replaced by ones that take
# their CAKs straight from their KMEs, and roll them over.
for s in SITE:
    t.eq(lab.stop("mka-agent-" + s), 0, "mka-agent %s (SKIP) exits 0 on SIGTERM" % s.upper())
for s in SITE:
    lab.start_agent(s, lab.agent_conf(s, "etsi014", top=DEBUG, port=dict(PORT, cak_lifetime="5s")),
                    name="mka-agent-014-" + s)
ok = tap.wait_for(lambda: lab.both_secured() and all(int(lab.status(s).get("rollovers", 0) or 0) >= 1
                                                     for s in SITE), 60, 0.2)
t.ok(ok, "ETSI 014 agents: both SECURED and the CAK rolled over at least once",
     "%r %r" % (lab.status("a"), lab.status("b")))
ok, out = lab.ping("a")
t.ok(ok, "ping over MACsec keyed through ETSI 014", out)
# The 014 client's error path: a restarted responder asks its KME for the
# key of the CA it finds on the wire, which its predecessor consumed.
t.eq(lab.stop("mka-agent-014-b"), 0, "mka-agent B (ETSI 014) exits 0 on SIGTERM")
lab.start_agent("b", name="mka-agent-014-b2")
ok = tap.wait_for(lambda: int(lab.status("b").get("key_errors", 0) or 0) >= 1, 20, 0.2)
t.ok(ok, "a restarted ETSI 014 responder is refused the consumed key (key_errors)", lab.status("b"))

# --- the key logs: every CAK and SAK the agents used, both key paths
for s in SITE:
    for n, (kind, _, key) in enumerate(lab.key_log(s)):
        add(bytes.fromhex(key), "%s (key log, %s)" % (kind, "SKIP" if n < skip_logged[s] else "ETSI 014"))
for s in SITE:
    add(bytes.fromhex(PSK[s][1]), "SKIP PSK")
add(bytes.fromhex(FB_CAK), "fallback CAK")
kinds = sorted(set(secrets.values()))
want = ["CAK (key log, SKIP)", "SAK (key log, SKIP)", "CAK (key log, ETSI 014)", "SAK (key log, ETSI 014)",
        "014 enc_keys", "SKIP /key"]
t.ok(all(k in kinds for k in want), "collected %d secrets: %s" % (len(secrets), ", ".join(kinds)))
t.ok(len([v for v in secrets.values() if v == "CAK (key log, ETSI 014)"]) >= 2,
     "the ETSI 014 agents used at least 2 CAKs (a rollover)")

for name in ("mka-agent-014-a", "mka-agent-014-b2"):
    t.eq(lab.stop(name), 0, "%s exits 0 on SIGTERM" % name)
for name in ("skip-proxy-a", "skip-proxy-b", "macsec-sw-a", "macsec-sw-b", "kme-sim-a", "kme-sim-b"):
    t.eq(lab.stop(name), 0, "%s exits 0 on SIGTERM" % name)


def forms(b):
    b64 = base64.b64encode(b).decode().rstrip("=")
    return {b.hex(), b.hex().upper(), b64, base64.urlsafe_b64encode(b).decode().rstrip("="),
            b[:8].hex(), b[:8].hex().upper()}


logs = lab.outputs()
lines = sum(len(v.splitlines()) for v in logs.values())
t.ok(all(v.strip() for v in logs.values()) and
     all(re.search(r" debug: ", logs[n]) for n in ("kme-sim-a", "skip-proxy-a", "mka-agent-a", "mka-agent-014-a")),
     "every daemon logged; kme-sim, skip-proxy and both kinds of mka-agent at debug level (%d lines in %d logs)"
     % (lines, len(logs)))
leaks = []
for b, what in secrets.items():
    for f in forms(b):
        for name, text in logs.items():
            if f in text:
                leaks.append("%s (%s) in %s's log" % (what, f, name))
t.eq(leaks, [], "no log holds any of the %d secrets in hex, HEX, base64 or by its first 8 octets" % len(secrets))
t.ok(all(tap.sanitizer_clean(v) for v in logs.values()), "no sanitizer report in any log")
