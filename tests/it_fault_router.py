#!/usr/bin/python3
"""it_fault_router.py — kill -9 of macsec-sw, and the restart of a whole
router side, under traffic, with a key audit (issue 7, faults).

Two sites in namespaces of the test's own (tests/lib/twosite.py): a kme-sim
pair, macsec-sw and mka-agent with cak_source = etsi014 (QKD via ETSI 014,
so that this file and it_fault_mka.py together cover both key paths).  A
ping at 10/s runs over the MACsec link the whole time.

  1. macsec-sw of site A is killed with SIGKILL and started again (its TAP
     goes with it, so the TAP gets its address again).  The new SecY has
     no SA and its default policy protects: nothing may leave the site
     unprotected meanwhile (OutPktsUntagged stays 0, the frames are counted
     as OutPktsSAUnusable).  mka-agent does not notice a SecY that lost its
     SAs under it, so it is what must restart with macsec-sw: it is
     restarted (SIGTERM, start), and the link must be secured again on a
     new key within the MKA life time plus the key fetches.
  2. Router side B (the responder) is restarted as a whole: mka-agent and
     macsec-sw stopped with SIGTERM (each exits 0) and started again.  The
     initiator keeps its CA for a silent peer for its dead time (15 s)
     before it takes a new key, which the bound includes.

Each recovery time is printed in its TAP line with the longest gap in the
ping; then the key audit (no key served twice, none lost) from both key
logs and the KMEs' counters.
"""
import os
import sys
import time

sys.dont_write_bytecode = True      # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import tap  # noqa: E402

t = tap.Tap()
tap.require_root(t)
for b in ("kme-sim/kme-sim", "macsec-sw/macsec-sw", "macsec-sw/macsec-ctl", "mka-agent/mka-agent"):
    if not os.access(tap.binpath(b), os.X_OK):
        t.skip_all("%s is not built in %s" % (b, tap.BUILD))
import twosite  # noqa: E402

# The bounds, from the timers involved (seconds); see it_fault_mka.py.
LIFE = twosite.MKA_LIFE_TIME
HELLO = 1.0
ANNOUNCE = 1.0
DEAD = 15.0
KEYS = 4.0
BOUND_A = LIFE + HELLO + ANNOUNCE + KEYS
BOUND_B = LIFE + HELLO + DEAD + ANNOUNCE + KEYS

lab = twosite.Sites(t, "frtr")
lab.start_kmes()
lab.start_secys()
served0 = lab.served()
for s in twosite.SITES:
    lab.start_agent(s, lab.agent_conf(s, "etsi014"))
ok, took = twosite.wait_until(lambda: lab.both_secured() and lab.ping("a", 1, 0.2, 1)[0], 60, 0.2)
t.ok(ok, "QKD via ETSI 014: both agents secured, ping passes (%.1f s)" % took,
     "A %r\nB %r" % (lab.status("a"), lab.status("b")))
if not ok:
    sys.exit(1)
pinger = twosite.Pinger(lab, "a")
time.sleep(1.0)


def latest_ckn(s):
    c = lab.caks(s)
    return c[-1][0] if c else None


def recovered(old):
    ca, cb = latest_ckn("a"), latest_ckn("b")
    return ca != old and ca == cb and lab.both_secured() and lab.ping("a", 1, 0.2, 1)[0]


# ---- 1. kill -9 of macsec-sw at site A
old = latest_ckn("a")
t0, w0 = time.monotonic(), time.time()
lab.kill9("macsec-sw-a")
lab.start_secy("a")
secy_back = time.monotonic() - t0
lab.ping("a", 5, 0.1, 1)
st = lab.secy_stats("a").get("secy", {})
t.ok(st.get("OutPktsUntagged") == 0 and st.get("OutPktsSAUnusable", 0) >= 1,
     "restarted macsec-sw (%.1f s) without SAs sends nothing unprotected (%d frames discarded as "
     "OutPktsSAUnusable, OutPktsUntagged 0)" % (secy_back, st.get("OutPktsSAUnusable", 0)), st)
t.diag("mka-agent A after its SecY restarted: state=%s (it does not notice the lost SAs)"
       % lab.status("a").get("state"))
rc = lab.stop("mka-agent-a")
t1 = time.monotonic()
lab.start_agent("a", name="mka-agent-a")
ok, took = twosite.wait_until(lambda: recovered(old), BOUND_A + 20, 0.2)
gap = pinger.outage(w0, time.time())
t.ok(rc == 0 and ok and took <= BOUND_A,
     "kill -9 of site A's macsec-sw, restarted with its mka-agent: secured again on a new key %.1f s after "
     "the agent's restart, %.1f s after the kill (bound %.0f s from the restart = MKA life time + hello + "
     "announcement + key fetches); longest gap in the ping %.1f s" % (took, time.monotonic() - t0, BOUND_A, gap),
     "agent exit %r\nA %r\nB %r\n%s" % (rc, lab.status("a"), lab.status("b"), lab.output("mka-agent-a")[-2000:]))
time.sleep(1.0)

# ---- 2. the whole router side B, stopped and started
old = latest_ckn("a")
t0, w0 = time.monotonic(), time.time()
rcs = (lab.stop("mka-agent-b"), lab.stop("macsec-sw-b"))
t.eq(rcs, (0, 0), "router side B: mka-agent and macsec-sw exit 0 on SIGTERM")
lab.start_secy("b")
lab.start_agent("b", name="mka-agent-b")
ok, took = twosite.wait_until(lambda: recovered(old), BOUND_B + 20, 0.2)
gap = pinger.outage(w0, time.time())
t.ok(ok and took <= BOUND_B,
     "router side B (responder) restarted: secured again on a new key after %.1f s (bound %.0f s = MKA life "
     "time + hello + the initiator's dead time + announcement + key fetches); longest gap in the ping %.1f s"
     % (took, BOUND_B, gap), "A %r\nB %r" % (lab.status("a"), lab.status("b")))

now = time.time()
ok = tap.wait_for(lambda: len([x for x in pinger.replies() if x > now]) >= 10, 15, 0.2)
t.ok(ok, "the background ping flows again after the faults (%d replies in all)" % len(pinger.replies()),
     lab.output(pinger.name)[-1500:])
lab.stop(pinger.name)
twosite.audit_keys(t, lab, "etsi014", served0)

for name in ("mka-agent-a", "mka-agent-b", "macsec-sw-a", "macsec-sw-b", "kme-sim-a", "kme-sim-b"):
    rc = lab.stop(name)
    out = lab.output(name)
    t.ok(rc == 0 and twosite.sanitizer_clean(out), "%s exits 0 on SIGTERM, its log sanitizer-clean" % name,
         "exit %r\n%s" % (rc, out[-2000:]))
