#!/usr/bin/python3
"""it_kme_model.py — a kme-sim pair whose link follows the decoy-BB84 model.

The pair's [peer] sections say link_model = decoy-bb84 with the gys preset
(Gobby, Yuan & Shields parameters as Ma, Qi, Zhao & Lo use them) at 50 km,
a 10 MHz pulse rate and a fixed mu = 0.48, which gives about 2.2 kbit/s:
a few 256-bit keys a second.  The expected gain, QBER and key rate are
computed here, independently of kme-sim, from the formulas of Ma, Qi,
Zhao & Lo, PRA 72, 012326 (2005), section II, with GLLP's key rate
(intercept-resend on a fraction F of the pulses adds F/4 of error, the
BB84 figure for a random-basis intercept-resend attack).

Then the pool is watched filling at that rate, the admin API (through
scripts/qkdlab-link) injects an eavesdropper, a fibre cut and added loss,
enc_keys answer 503 naming the cause once the pool is empty, clearing
brings keys back, and bad parameters are refused.
"""
import json
import math
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import kmelab as kc  # noqa: E402
from kmelab import tap  # noqa: E402

LINK = os.path.join(tap.SRC, "scripts", "qkdlab-link")
GYS = dict(atten=0.21, det_eff=0.045, y0=1.7e-6, ed=0.033, f=1.22, q=0.5)
LENGTH, REP, MU, BITS = 50.0, 1e7, 0.48, 256
PEER_LINES = ["link_model = decoy-bb84", "link_preset = gys",
              "fibre_length_km = %g" % LENGTH, "repetition_rate_hz = %g" % REP,
              "mu = %g" % MU]


def h2(x):
    return 0.0 if x <= 0 or x >= 1 else -x * math.log2(x) - (1 - x) * math.log2(1 - x)


def model(extra_db=0.0, eve=0.0):
    """(QBER, secret bits/s) of the link, from the published formulas."""
    loss = LENGTH * GYS["atten"] + extra_db
    eta = GYS["det_eff"] * 10 ** (-loss / 10)
    y0, ed = GYS["y0"], GYS["ed"]
    y1 = y0 + eta - y0 * eta
    e1 = (y0 / 2 + ed * eta) / y1
    q_mu = y0 + 1 - math.exp(-eta * MU)
    e_mu = (y0 / 2 + ed * (1 - math.exp(-eta * MU))) / q_mu
    e1, e_mu = (1 - eve) * e1 + eve / 4, (1 - eve) * e_mu + eve / 4
    r = GYS["q"] * (y1 * MU * math.exp(-MU) * (1 - h2(e1)) - q_mu * GYS["f"] * h2(e_mu))
    return e_mu, max(r, 0.0) * REP


QBER0, RATE0 = model()
extra = {"max_key_count": "400", "key_ttl": "30s", "link_timeout": "1s",
         "sync_interval": "100ms"}
t = tap.Tap()
lab = kc.Lab(t, {
    "KME_A": {"saes": ["SAE_A"], "peers": ["KME_B"], "extra": extra},
    "KME_B": {"saes": ["SAE_B"], "peers": ["KME_A"], "extra": extra},
})
A, B = lab.kmes["KME_A"], lab.kmes["KME_B"]
for k in (A, B):
    # The [peer] section is the file's last: these lines belong to it.
    with open(k.conf, "a") as f:
        f.write("\n".join(PEER_LINES) + "\n")
base_conf = open(A.conf).read()
lab.start()
t.diag("expected from the published formulas: QBER %.5f, %.1f bit/s (%.2f keys/s)"
       % (QBER0, RATE0, RATE0 / BITS))


def link(*args, kme=A):
    return subprocess.run([LINK, "-a", "127.0.0.1:%d" % kme.admin_port] + list(args),
                          capture_output=True, text=True, timeout=30)


def admin_peer(kme=A):
    st, body = kme.admin("GET", "/admin/v1/faults")
    return json.loads(body)["peers"][0]


def openapi_check(doc, path, status, body):
    """None if body is what the OpenAPI document promises (tests/lib/openapi.py)."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
    import openapi  # python3-yaml and python3-jsonschema: scripts/deps
    return openapi.validate(openapi.load(doc), path, "GET", status, json.loads(body))


def close(got, want, rel):
    return got is not None and abs(got - want) <= rel * abs(want)


def enc(kme, master, slave, n=1):
    return lab.curl(kme, master, "/api/v1/keys/%s/enc_keys?number=%d" % (slave, n))


def drain(kme, master, slave):
    """enc_keys until 503; returns the last response."""
    last = None
    for _ in range(200):
        last = enc(kme, master, slave, 64)
        if last.code != 200:
            r = enc(kme, master, slave, 1)
            if r.code != 200:
                return r
    return last


# --- the model's figures in Status, metrics and the admin JSON
r = lab.curl("KME_A", "SAE_A", "/api/v1/keys/SAE_B/status")
ext = (r.json or {}).get("status_extension", {}).get("qkdlab_link", {}) if r.code == 200 else {}
t.ok(close(ext.get("qber"), QBER0, 1e-6), "Status extension: QBER %.5f as published formulas give" % QBER0,
     diag=repr(ext))
t.ok(close(ext.get("key_rate_bps"), RATE0, 1e-6), "Status extension: key rate %.1f bit/s" % RATE0)
t.ok(close(ext.get("loss_db"), LENGTH * GYS["atten"], 1e-9), "Status extension: loss 10.5 dB (50 km x 0.21)")
t.eq(ext.get("preset"), "gys", "Status extension names the preset")
_, mbody = A.admin("GET", "/metrics")
t.ok("# TYPE kme_qkd_qber gauge" in mbody and "# HELP kme_qkd_key_rate_bits_per_second" in mbody,
     "/metrics has HELP/TYPE for the QKD gauges")
t.ok(close(A.metric('kme_qkd_qber{peer="KME_B"}'), QBER0, 1e-6), "metric kme_qkd_qber")
t.ok(close(A.metric('kme_qkd_key_rate_bits_per_second{peer="KME_B"}'), RATE0, 1e-6),
     "metric kme_qkd_key_rate_bits_per_second")
t.eq(A.metric('kme_qkd_halted{peer="KME_B"}'), 0.0, "metric kme_qkd_halted 0")

# --- the pool fills at the model's rate (the authority's pool figures)
t.ok(lab.wait_keys("KME_A", "SAE_A", "SAE_B", 1, timeout=15) is not None, "the link comes up, keys arrive")
p0, t0 = admin_peer()["pool_bits"], time.monotonic()
time.sleep(4.0)
p1, t1 = admin_peer()["pool_bits"], time.monotonic()
measured = (p1 - p0) / (t1 - t0)
t.diag("pool grew %.1f bit/s over %.2f s (model %.1f)" % (measured, t1 - t0, RATE0))
t.ok(close(measured, RATE0, 0.15), "pool grows at the model's rate (within 15 %)")

# --- an eavesdropper on every pulse: QBER 1/4, no key, 503 naming it
p = link("eve", "1.0")
t.eq(p.returncode, 0, "qkdlab-link eve 1.0") or t.diag(p.stderr)
q = admin_peer()["qkd"]
want_q, _ = model(eve=1.0)
t.ok(abs(q["qber"] - 0.25) < 0.001 and close(q["qber"], want_q, 1e-6),
     "QBER with intercept-resend on every pulse: %.4f (~0.25)" % q["qber"])
t.ok(q["halted"] and q["key_rate_bps"] == 0, "key production stops")
st, body = A.admin("GET", "/admin/v1/faults")
t.eq(openapi_check("admin.yaml", "/admin/v1/faults", st, body), None, "admin JSON matches api/admin.yaml (QkdLink)")
r = lab.curl("KME_A", "SAE_A", "/api/v1/keys/SAE_B/status")
t.eq(openapi_check("etsi014.yaml", "/api/v1/keys/SAE_B/status", r.code, r.body), None,
     "Status with its extension matches api/etsi014.yaml")
t.ok(r.json["status_extension"]["qkdlab_link"]["halted"], "Status extension says halted")
t.eq(A.metric('kme_qkd_halted{peer="KME_B"}'), 1.0, "metric kme_qkd_halted 1")
t.eq(A.metric('kme_qkd_key_rate_bits_per_second{peer="KME_B"}'), 0.0, "metric key rate 0")
p = link("show")
t.ok(p.returncode == 0 and "eavesdropper on 1 of the pulses" in p.stdout, "qkdlab-link show names the fault",
     diag=p.stdout + p.stderr)
a0 = admin_peer()["pool_bits"]
time.sleep(1.0)
t.ok(admin_peer()["pool_bits"] <= a0, "the pool does not grow")
r = drain("KME_A", "SAE_A", "SAE_B")
cause = "QKD link KME_A-KME_B halted: QBER 0.25 above abort threshold 0.11 (eavesdropper?)"
t.eq((r.code, r.message()), (503, cause), "enc_keys once the pool is empty: 503 naming the cause")
r = enc("KME_B", "SAE_B", "SAE_A")
t.ok(r.code == 503 and cause in r.message(), "and at the peer KME too", diag=repr(r))

# --- clearing resumes key production
p = link("clear")
t.eq(p.returncode, 0, "qkdlab-link clear")
t.ok(lab.wait_keys("KME_A", "SAE_A", "SAE_B", 2, timeout=10) is not None, "keys again after clear")
t.eq(enc("KME_A", "SAE_A", "SAE_B").code, 200, "enc_keys 200 again")

# --- fibre cut
p = link("cut")
t.eq(p.returncode, 0, "qkdlab-link cut")
r = drain("KME_A", "SAE_A", "SAE_B")
t.eq((r.code, r.message()), (503, "QKD link KME_A-KME_B halted: fibre cut"), "cut: 503 names the fibre cut")
link("clear", "cut")
t.ok(lab.wait_keys("KME_A", "SAE_A", "SAE_B", 1, timeout=10) is not None, "keys again after the cut is mended")

# --- added loss: the rate the model gives 6 dB further down
p = link("loss", "6")
q = admin_peer()["qkd"]
_, want = model(extra_db=6)
t.ok(close(q["loss_db"], LENGTH * GYS["atten"] + 6, 1e-9) and close(q["key_rate_bps"], want, 1e-6),
     "loss 6: %.1f dB, %.2f bit/s as the formulas give" % (q["loss_db"], q["key_rate_bps"]))
t.ok(not q["halted"], "6 dB more still makes key")
link("clear")
t.ok(close(admin_peer()["qkd"]["key_rate_bps"], RATE0, 1e-6), "clear: the rate is back")

# --- bad fault requests
for query, why in (("kind=eve&fraction=1.5", "fraction above 1"), ("kind=eve&fraction=abc", "fraction not a number"),
                   ("kind=eve", "eve without fraction"), ("kind=loss&db=-1", "negative loss"),
                   ("kind=loss&db=nan", "loss NaN"), ("kind=fire", "unknown kind")):
    st, body = A.admin("POST", "/admin/v1/fault?peer=KME_B&" + query)
    t.eq(st, 400, "admin refuses %s: 400" % why)
st, body = B.admin("POST", "/admin/v1/fault?peer=KME_A&kind=cut")
t.ok(st == 409 and "KME_A" in body, "a physics fault at the KME without the pool: 409 naming the other")
p = link("eve", "2")
t.ok(p.returncode != 0 and "fraction=0..1" in p.stderr, "qkdlab-link eve 2 fails with the API's message",
     diag=p.stderr)
t.eq(admin_peer()["qkd"]["eve_fraction"], 0, "and changes nothing")

p = subprocess.run([LINK, "--help"], capture_output=True, text=True, timeout=30)
t.ok(p.returncode == 0 and "usage: qkdlab-link" in p.stdout, "qkdlab-link --help")
p = link("melt")
t.ok(p.returncode == 2 and "invalid choice" in p.stderr, "qkdlab-link: unknown command, exit 2")
p = subprocess.run([LINK, "-a", "127.0.0.1:%d" % tap.free_port(), "show"], capture_output=True, text=True,
                   timeout=30)
t.ok(p.returncode == 1 and "cannot reach the kme-sim admin API" in p.stderr, "qkdlab-link: no KME there, exit 1")

kc.stop_all(t, lab)

# --- bad parameters in the configuration: kme-sim refuses to start
for line, key in (("detector_efficiency = 1.5", "detector_efficiency"), ("mu = abc", "mu"),
                  ("link_preset = moon", "link_preset"), ("sifting = 0", "sifting"),
                  ("qber_abort = 0.7", "qber_abort"), ("fibre_length_km = -3", "fibre_length_km"),
                  ("link_model = magic", "link_model")):
    bad = os.path.join(lab.dir, "bad.conf")
    with open(bad, "w") as f:
        f.write(base_conf + line + "\n")
    p = subprocess.run([tap.binpath("kme-sim/kme-sim"), "-d", "-n", "-f", bad], capture_output=True,
                       text=True, timeout=30)
    t.ok(p.returncode != 0 and re.search(r"\b%s\b" % key, p.stderr),
         "config '%s': refused, the error names %s" % (line, key), diag=p.stderr[-500:])
t.done()
