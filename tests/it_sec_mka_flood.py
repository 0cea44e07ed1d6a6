#!/usr/bin/python3
"""it_sec_mka_flood.py — floods of MKPDUs with unknown CKNs and of
EAPOL-Announcements against a secured QKD link (docs/SECURITY.md, bad input:
docs/DESIGN.md "QKD in MKA", lookups rate-limited).

Two sites in namespaces of the test's own (tests/lib/twosite.py), QKD via
SKIP, secured, a ping at 10/s over the link.  The frames are built by hand
(tests/lib/eapol.py, from 802.1X-2020 clause 11, not with mka-agent's
codec) and sent from the far end of the wire:

  1. 3000 MKPDUs at up to 1000/s to site B (the responder), each with a
     random 16-octet CKN, a random MI and a KMD set naming SAE_A_01, the
     peer B is allowed to take keys for.  Each is an "unknown CKN" for B,
     which may look the key up, but at most lookups_per_s (2) a second:
     the lookups made, counted by B (key errors + keys fetched), by B's
     skip-proxy (GET /key/{keyId}) and by KME_B (dec_keys), stay within
     2 per second of flood, and all three counts agree.
  2. 100 MKPDUs with one and the same unknown CKN over 5 s: one lookup at
     most (one per (SAE ID, CKN)), though the per-second budget would
     allow ten.
  3. 2000 EAPOL-Announcements at up to 1000/s to site A (the initiator),
     KMD SAE_B_01: no key is taken for a peer with a live CA (KME_A hands
     out nothing).
Throughout, the existing CA stays the one in use at both sites (same CKN,
secured) and the ping goes on; at the end every daemon exits 0.
"""
import os
import sys
import time

sys.dont_write_bytecode = True      # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import tap  # noqa: E402

t = tap.Tap()
tap.require_root(t)
tap.require_bins(t, "kme-sim/kme-sim", "skip-proxy/skip-proxy", "macsec-sw/macsec-sw",
                 "macsec-sw/macsec-ctl", "mka-agent/mka-agent")
import twosite  # noqa: E402

EAPOL = os.path.join(tap.SRC, "tests", "lib", "eapol.py")
LOOKUPS_PER_S = 2           # mka-agent's bound (mka_qkd.c lookups_per_s)
SAE = twosite.SAE

lab = twosite.Sites(t, "flood")
lab.start_kmes()
lab.start_skips()
lab.start_secys()
for s in twosite.SITES:
    lab.start_agent(s, lab.agent_conf(s, "skip"))
ok, took = twosite.wait_until(lab.link_up, 60, 0.2)
t.ok(ok, "QKD via SKIP: both agents secured, ping passes (%.1f s)" % took,
     "A %r\nB %r" % (lab.status("a"), lab.status("b")))
if not ok:
    sys.exit(1)
pinger = twosite.Pinger(lab, "a")
ckn0 = lab.caks("a")[-1][0]


def counts():
    """What the flood may move: B's agent, B's skip-proxy, both KMEs."""
    st = lab.status("b")
    sa = lab.status("a")
    sm = lab.skip_metrics("b") or {}
    kb = lab.kme_metrics("b") or {}
    ka = lab.kme_metrics("a") or {}
    return {
        "rx_unknown_ckn": int(st.get("rx_unknown_ckn", 0) or 0),
        "lookups": int(st.get("key_errors", 0) or 0) + int(st.get("keys_fetched", 0) or 0),
        "skip_key_by_id": int(sm.get('skip_requests_total{resource="key_by_id"}', 0)),
        "kme_b_dec_keys": int(twosite.metric({k: v for k, v in kb.items()
                                              if k.startswith('kme_requests_total{method="dec_keys"')},
                                             "kme_requests_total") or 0),
        "kme_a_enc_served": int(ka.get('kme_keys_served_total{method="enc_keys"}', 0)),
        "a_keys_fetched": int(sa.get("keys_fetched", 0) or 0),
    }


def delta(before, after):
    return {k: after[k] - before[k] for k in before}


def flood(src_site, kind, kmd, count, rate, *extra):
    r = lab.nsrun(src_site, ["python3", EAPOL, "--iface", twosite.WIRE, "--kind", kind, "--kmd", kmd,
                             "--count", str(count), "--rate", str(rate)] + list(extra), timeout=120)
    out = (r.stdout + r.stderr).strip()
    if r.returncode != 0 or not out.startswith("sent %d " % count):
        raise RuntimeError("eapol.py failed: %s" % out)
    return float(out.split()[3])


def same_ca():
    ca, cb = lab.caks("a")[-1][0], lab.caks("b")[-1][0]
    return ca == cb == ckn0 and lab.both_secured()


def settled(want_unknown):
    """Waits until B has taken in the flood (its counter stops moving)."""
    last = [None]

    def stable():
        c = counts()
        done = c == last[0] and c["rx_unknown_ckn"] >= want_unknown
        last[0] = c
        return c if done else None
    return tap.wait_for(stable, 20, 0.5) or counts()


# ---- 1. unknown CKNs, random, naming an allowed peer
N = 3000
before = counts()
w0 = time.time()
dt = flood("a", "mkpdu", SAE["a"], N, 1000)
after = settled(before["rx_unknown_ckn"] + N // 2)
w1 = time.time()
d = delta(before, after)
limit = LOOKUPS_PER_S * (int(w1 - w0) + 2)
t.ok(d["rx_unknown_ckn"] >= N // 2, "site B took in the flood: %d of %d MKPDUs with unknown CKNs in %.1f s"
     % (d["rx_unknown_ckn"], N, dt), d)
t.ok(1 <= d["lookups"] <= limit,
     "unknown-CKN flood: site B made %d key lookups for %d unknown CKNs (at most %d a second: <= %d)"
     % (d["lookups"], d["rx_unknown_ckn"], LOOKUPS_PER_S, limit), d)
t.eq((d["skip_key_by_id"], d["kme_b_dec_keys"]), (d["lookups"], d["lookups"]),
     "... and B's skip-proxy and KME_B saw exactly those lookups (GET /key/{keyId}, dec_keys)")
t.ok(same_ca(), "the existing CA is still the one in use at both sites, secured",
     "A %r\nB %r" % (lab.status("a"), lab.status("b")))
gap = pinger.outage(w0, w1)
t.ok(gap < 2.0, "traffic kept flowing during the flood (longest gap in the 10/s ping %.2f s)" % gap)

# ---- 2. one unknown CKN, again and again
before = counts()
dt = flood("a", "mkpdu", SAE["a"], 100, 20, "--same-ckn")
after = settled(before["rx_unknown_ckn"] + 50)
d = delta(before, after)
t.ok(d["rx_unknown_ckn"] >= 50 and d["lookups"] <= 1,
     "the same unknown CKN 100 times over %.1f s: %d lookup(s) (one per SAE ID and CKN)" % (dt, d["lookups"]), d)

# ---- 3. announcements to the initiator
before = counts()
w0 = time.time()
dt = flood("b", "announce", SAE["b"], 2000, 1000)
time.sleep(1.0)         # the agent's next tick, in which a new key would be asked for
after = counts()
d = delta(before, after)
t.eq((d["a_keys_fetched"], d["kme_a_enc_served"]), (0, 0),
     "2000 announcements from SAE_B_01 in %.1f s: site A took no key (its CA with that peer is live)" % dt)
t.ok(same_ca(), "the existing CA is still the one in use at both sites, secured",
     "A %r\nB %r" % (lab.status("a"), lab.status("b")))
ok, out = lab.ping("a", 5, 0.1, 1)
t.ok(ok, "ping over the MACsec link after the floods", out)

lab.stop(pinger.name)
for name in ("mka-agent-a", "mka-agent-b", "macsec-sw-a", "macsec-sw-b", "skip-proxy-a", "skip-proxy-b",
             "kme-sim-a", "kme-sim-b"):
    rc = lab.stop(name)
    out = lab.output(name)
    t.ok(rc == 0 and tap.sanitizer_clean(out), "%s exits 0 on SIGTERM, its log sanitizer-clean" % name,
         "exit %r\n%s" % (rc, out[-2000:]))
