#!/usr/bin/python3
"""it_ops_key.py — qkdlab-key against the lab's daemons (tests/lib/twosite:
a kme-sim pair and a skip-proxy per site, in namespaces), driven by
nothing but the lab's lab.env values, as qkdlab-key(8) shows.

  SKIP      a key taken at site A over TLS 1.3 (PSK from QKDLAB_SKIP_PSK) is
            the key site B gets over TLS 1.2 DHE-PSK (PSK from a file of
            identity:hex lines), and the key `openssl s_client -psk`
            (TLS 1.2, an independent client) gets at site B for a keyId
            qkdlab-key took at A; capabilities; a wrong PSK fails the
            handshake with OpenSSL's reason; an unknown remote is the key
            provider's 400 with its message; a PSK file others can read
            is refused.
  ETSI 014  qkdlab-key enc at KME A as SAE A gives the key curl gets with
            dec_keys at KME B as SAE B, and the reverse (curl enc_keys,
            qkdlab-key dec).
  usage     exit 2 for a bad command line, 1 for a refusal.
"""
import base64
import json
import os
import re
import subprocess
import sys
import tempfile
import uuid

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import tap  # noqa: E402

t = tap.Tap()
tap.require_root(t)
tap.require_bins(t, "kme-sim/kme-sim", "skip-proxy/skip-proxy", "qkdlab-key/qkdlab-key")
import twosite  # noqa: E402

KEY = tap.binpath("qkdlab-key/qkdlab-key")
lab = twosite.Sites(t, "opsk")
lab.start_kmes()
lab.start_skips()
e = lab.lab_env()
tmp = tempfile.mkdtemp(prefix="qkdlab-itkey-")
t.cleanup(lambda: subprocess.run(["rm", "-rf", tmp]))


def key(ns, *args, psk=None):
    env = {k: v for k, v in os.environ.items() if k != "QKDLAB_SKIP_PSK"}
    if psk is not None:
        env["QKDLAB_SKIP_PSK"] = psk
    return subprocess.run(["ip", "netns", "exec", ns, KEY] + list(args), env=env, capture_output=True, text=True,
                          timeout=60)


def hostport(url):
    return url[len("https://"):]


def line(r):
    m = re.fullmatch(r"(\S+) ([0-9a-f]+)\n", r.stdout)
    return (m.group(1), m.group(2)) if r.returncode == 0 and m else (None, None)


skip_a = ["skip", "-c", hostport(e["SKIP_A_URL"]), "-i", e["SKIP_A_PSK_ID"]]
skip_b = ["skip", "-c", hostport(e["SKIP_B_URL"]), "-i", e["SKIP_B_PSK_ID"]]

# ---- SKIP: TLS 1.3 at A, TLS 1.2 at B -------------------------------------
r = key(e["SKIP_A_NS"], *skip_a, "new", e["SAE_B"], psk=e["SKIP_A_PSK"])
kid, k = line(r)
t.ok(kid is not None and re.fullmatch(r"[0-9a-f]{32}", kid) and len(k) == 64,
     "skip new over TLS 1.3: 'KEYID HEXKEY', a 256-bit key", r.stdout + r.stderr)
pskfile = os.path.join(tmp, "psk")
fd = os.open(pskfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
os.write(fd, ("# identity:hex lines\nsomeone-else:%s\n%s:%s\n" % (
    "00" * 32, e["SKIP_B_PSK_ID"], e["SKIP_B_PSK"])).encode())
os.close(fd)
r = key(e["SKIP_B_NS"], *skip_b[:3], "-2", "-P", pskfile, "-i", e["SKIP_B_PSK_ID"], "get", e["SAE_A"], kid or "0")
t.eq(line(r), (kid, k), "skip get at site B over TLS 1.2 (PSK from an identity:hex file): the same key")

# An independent SKIP client at B for a key qkdlab-key took at A.
r = key(e["SKIP_A_NS"], *skip_a, "new", e["SAE_B"], "512", psk=e["SKIP_A_PSK"])
kid2, k2 = line(r)
t.ok(kid2 is not None and len(k2) == 128, "skip new with BITS 512: a 512-bit key", r.stderr)
req = "GET /key/%s?remoteSystemID=%s HTTP/1.1\r\nHost: kp\r\nConnection: close\r\n\r\n" % (kid2, e["SAE_A"])
host, port = hostport(e["SKIP_B_URL"]).rsplit(":", 1)
o = subprocess.run(["ip", "netns", "exec", e["SKIP_B_NS"], "openssl", "s_client", "-connect", "%s:%s" % (host, port),
                    "-tls1_2", "-cipher", "DHE-PSK-AES256-GCM-SHA384", "-psk_identity", e["SKIP_B_PSK_ID"],
                    "-psk", e["SKIP_B_PSK"], "-quiet", "-ign_eof"], input=req.encode(), capture_output=True,
                   timeout=60)
body = o.stdout.decode(errors="replace").split("\r\n\r\n", 1)[-1]
m = re.search(r"\{.*\}", body, re.S)
got = json.loads(m.group(0)) if m else {}
t.eq((got.get("keyId"), got.get("key")), (kid2, k2),
     "openssl s_client -psk (TLS 1.2) at B gets the key qkdlab-key took at A")

r = key(e["SKIP_A_NS"], *skip_a, "capabilities", psk=e["SKIP_A_PSK"])
try:
    caps = json.loads(r.stdout)
except ValueError:
    caps = {}
t.ok(r.returncode == 0 and caps.get("localSystemID") == e["SAE_A"], "skip capabilities: site A's", r.stdout)

r = key(e["SKIP_A_NS"], *skip_a, "new", e["SAE_B"], psk="11" * 32)
t.ok(r.returncode == 1 and "handshake" in r.stderr and "failed:" in r.stderr and r.stdout == "",
     "a wrong PSK: exit 1, the failed handshake and OpenSSL's reason", r.stderr)
r = key(e["SKIP_A_NS"], *skip_a, "new", "NOBODY", psk=e["SKIP_A_PSK"])
t.ok(r.returncode == 1 and "HTTP 400" in r.stderr and "NOBODY" in r.stderr and r.stdout == "",
     "an unknown remote: exit 1 with the key provider's 400 and message", r.stderr)
os.chmod(pskfile, 0o644)
r = key(e["SKIP_B_NS"], *skip_b, "-P", pskfile, "get", e["SAE_A"], kid or "0")
t.ok(r.returncode == 1 and "chmod 600" in r.stderr, "a PSK file others can read is refused", r.stderr)

# ---- ETSI 014 ---------------------------------------------------------------
def etsi(site, sae, *args):
    return key(e["KME_%s_NS" % site], "etsi014", "-u", e["KME_%s_URL" % site], "-C", e["SAE_%s_CERT" % sae],
               "-K", e["SAE_%s_KEY" % sae], "-A", e["CA_CERT"], *args)


def curl(site, sae, path):
    r = subprocess.run(["ip", "netns", "exec", e["KME_%s_NS" % site], "curl", "-s", "-m", "20", "--cacert",
                        e["CA_CERT"], "--cert", e["SAE_%s_CERT" % sae], "--key", e["SAE_%s_KEY" % sae],
                        e["KME_%s_URL" % site] + path], capture_output=True, text=True, timeout=30)
    try:
        return json.loads(r.stdout)
    except ValueError:
        return {}


r = etsi("A", "A", "enc", e["SAE_B"])
uid, k = line(r)
ok_uuid = uid is not None and str(uuid.UUID(uid)) == uid
t.ok(ok_uuid and len(k) == 64, "etsi014 enc at KME A: 'KEY_ID HEXKEY' (a UUID, 256 bits)", r.stdout + r.stderr)
got = curl("B", "B", "/api/v1/keys/%s/dec_keys?key_ID=%s" % (e["SAE_A"], uid))
keys = got.get("keys") or [{}]
t.eq(base64.b64decode(keys[0].get("key", "")).hex(), k, "curl dec_keys at KME B as SAE B: the same key")

got = curl("A", "A", "/api/v1/keys/%s/enc_keys" % e["SAE_B"])
keys = got.get("keys") or [{}]
r = etsi("B", "B", "dec", e["SAE_A"], keys[0].get("key_ID", "x"))
t.eq(line(r), (keys[0].get("key_ID"), base64.b64decode(keys[0].get("key", "")).hex()),
     "etsi014 dec at KME B gets the key curl took with enc_keys at KME A")
r = etsi("B", "B", "dec", e["SAE_A"], keys[0].get("key_ID", "x"))
t.ok(r.returncode == 1 and "HTTP 400" in r.stderr and r.stdout == "",
     "the same key ID again: exit 1 with the KME's 400 and message", r.stderr)

# ---- the command line ---------------------------------------------------------
for args in (["skip"], ["skip", "-c", "x:1", "new", "B"], ["etsi014", "-u", "https://x", "enc", "B"],
             ["skip", "-c", "x:1", "-i", "y", "frobnicate"], ["etsi014", "-u", "u", "-C", "c", "-K", "k", "-A", "a",
                                                             "dec", "B", "not-a-uuid"], ["bogus"]):
    r = subprocess.run([KEY] + args, capture_output=True, text=True, timeout=10)
    t.eq(r.returncode, 2, "bad command line %s: exit 2" % " ".join(args))
for n in ("kme-sim-a", "kme-sim-b", "skip-proxy-a", "skip-proxy-b"):
    t.ok(tap.sanitizer_clean(lab.output(n)), "%s: no sanitizer report" % n)
t.done()
