#!/usr/bin/python3
"""it_fault_mka.py — kill -9 of mka-agent under traffic and its restart, at
each site in turn, with a key audit (docs/SECURITY.md, faults).

Two sites in namespaces of the test's own (tests/lib/twosite.py): a kme-sim
pair, a skip-proxy per site, macsec-sw and mka-agent with cak_source = skip
(QKD via SKIP).  A ping at 10/s runs over the MACsec link the whole time.

  1. mka-agent of site A (the initiator and key server) is killed with
     SIGKILL and started again at once.  Its SecY keeps the old SAs, so
     traffic goes on until site B's agent drops the silent peer after the
     MKA life time; B then announces itself, the new agent takes a fresh
     key, B fetches it, and a new SAK is installed over the stale SAs.
  2. The same for site B (the responder).  The initiator ends its CA with
     the old responder once that peer was live and fell silent (MKA life
     time), and takes a new key on the restarted responder's next
     announcement (without waiting out its 15 s dead time), so the
     responder is held to the initiator's bound; meanwhile the restarted
     responder's lookup of the old key ID is refused by its KME (the key was
     consumed: not served twice).

For each, the time from the kill until both agents are secured on a CA
with a new key ID and a ping passes over MACsec is measured and held to a
bound built from the protocol's timers (below), and the longest gap in the
background ping is reported.  The audit then shows, from both key logs
and the KMEs' counters, that no key was served twice and none was lost.
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

# The bounds, from the timers involved (seconds).
LIFE = twosite.MKA_LIFE_TIME    # a silent peer is live this long
HELLO = 1.0                     # lablib's hello_time: the last MKPDU may be this old at the kill
ANNOUNCE = 1.0                  # the responder announces once a second until it is in a live CA
KEYS = 4.0                      # one key fetch at each site and the SAK distribution, on a loaded machine
# The same for either site: the initiator's dead time (15 s) is not in the
# responder's bound.
BOUND = {"a": LIFE + HELLO + ANNOUNCE + KEYS,
         "b": LIFE + HELLO + ANNOUNCE + KEYS}
WHY = {"a": "MKA life time + hello + announcement + key fetches",
       "b": "MKA life time + hello + announcement + key fetches, no dead time"}

lab = twosite.Sites(t, "fmka")
lab.start_kmes()
lab.start_skips()
lab.start_secys()
served0 = lab.served()
for s in twosite.SITES:
    lab.start_agent(s, lab.agent_conf(s, "skip"))
ok, took = twosite.wait_until(lab.link_up, 60, 0.2)
t.ok(ok, "QKD via SKIP: both agents secured, ping passes (%.1f s)" % took,
     "A %r\nB %r" % (lab.status("a"), lab.status("b")))
if not ok:
    sys.exit(1)
pinger = twosite.Pinger(lab, "a")
time.sleep(1.0)


def dec_400():
    m = lab.kme_metrics("b") or {}
    return m.get('kme_requests_total{method="dec_keys",code="400"}', 0)


for victim in ("a", "b"):
    role = "initiator" if victim == "a" else "responder"
    old = lab.latest_ckn("a")
    d400 = dec_400()
    name = "mka-agent-" + victim
    t0, w0 = time.monotonic(), time.time()
    lab.kill9(name)
    lab.start_agent(victim, name=name)

    def recovered():
        # A new CA at both sites (same new key ID), both secured, and a
        # frame through it.
        ca, cb = lab.latest_ckn("a"), lab.latest_ckn("b")
        return (ca != old and ca == cb and lab.link_up())
    ok, took = twosite.wait_until(recovered, BOUND[victim] + 20, 0.2)
    gap = pinger.outage(w0, time.time())
    t.ok(ok and took <= BOUND[victim],
         "kill -9 of site %s's mka-agent (%s), restarted: secured again on a new key after %.1f s "
         "(bound %.0f s = %s); longest gap in the ping %.1f s" % (victim.upper(), role, took, BOUND[victim],
                                                                  WHY[victim], gap),
         "A %r\nB %r\n--- %s\n%s" % (lab.status("a"), lab.status("b"), name, lab.output(name)[-2500:]))
    if victim == "b":
        st = lab.status("b")
        t.ok(dec_400() > d400 and int(st.get("key_errors", 0) or 0) >= 1,
             "the restarted responder's lookup of the old key ID was refused by KME_B (consumed, not served "
             "twice)", "dec_keys 400s %s -> %s; B %r" % (d400, dec_400(), st))
    time.sleep(1.0)

now = time.time()
ok = tap.wait_for(lambda: len([x for x in pinger.replies() if x > now]) >= 10, 15, 0.2)
t.ok(ok, "the background ping flows again after the faults (%d replies in all)" % len(pinger.replies()),
     lab.output(pinger.name)[-1500:])
lab.stop(pinger.name)
twosite.audit_keys(t, lab, "skip", served0)

for name in ("mka-agent-a", "mka-agent-b", "macsec-sw-a", "macsec-sw-b", "skip-proxy-a", "skip-proxy-b",
             "kme-sim-a", "kme-sim-b"):
    rc = lab.stop(name)
    out = lab.output(name)
    t.ok(rc == 0 and tap.sanitizer_clean(out), "%s exits 0 on SIGTERM, its log sanitizer-clean" % name,
         "exit %r\n%s" % (rc, out[-2000:]))
