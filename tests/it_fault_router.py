#!/usr/bin/python3
"""it_fault_router.py — kill -9 of macsec-sw, and the restart of a whole
router side, under traffic, with a key audit (docs/SECURITY.md, faults).

Two sites in namespaces of the test's own (tests/lib/twosite.py): a kme-sim
pair, macsec-sw and mka-agent with cak_source = etsi014 (QKD via ETSI 014,
so that this file and it_fault_mka.py together cover both key paths).  A
ping at 10/s runs over the MACsec link the whole time.

  1. macsec-sw of site A is killed with SIGKILL and started again (its TAP
     goes with it, so the TAP gets its address again).  The new SecY has
     no SA and its default policy protects: nothing may leave the site
     unprotected meanwhile (OutPktsUntagged stays 0, the frames are counted
     as OutPktsSAUnusable).  mka-agent is left running: it sees its control
     connection to a new SecY, installs the receive SAs again and,
     since its transmit PN died with the old SecY, rolls to a new SAK on
     the same CA (no new QKD key); the link must be secured again within
     the same bound as an agent's restart.
  2. Router side B (the responder) is restarted as a whole: mka-agent and
     macsec-sw stopped with SIGTERM (each exits 0) and started again.  The
     initiator takes a new key on the restarted responder's announcement
     once the old peer fell silent, so the initiator's bound holds.

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
tap.require_bins(t, "kme-sim/kme-sim", "macsec-sw/macsec-sw", "macsec-sw/macsec-ctl", "mka-agent/mka-agent")
import twosite  # noqa: E402

# The bounds, from the timers involved (seconds); see it_fault_mka.py.
LIFE = twosite.MKA_LIFE_TIME
HELLO = 1.0
ANNOUNCE = 1.0
KEYS = 4.0
BOUND_A = LIFE + HELLO + ANNOUNCE + KEYS
BOUND_B = BOUND_A       # no dead time for a peer that was live

lab = twosite.Sites(t, "frtr")
lab.start_kmes()
lab.start_secys()
served0 = lab.served()
for s in twosite.SITES:
    lab.start_agent(s, lab.agent_conf(s, "etsi014"))
ok, took = twosite.wait_until(lab.link_up, 60, 0.2)
t.ok(ok, "QKD via ETSI 014: both agents secured, ping passes (%.1f s)" % took,
     "A %r\nB %r" % (lab.status("a"), lab.status("b")))
if not ok:
    sys.exit(1)
pinger = twosite.Pinger(lab, "a")
time.sleep(1.0)


def recovered(old):
    ca, cb = lab.latest_ckn("a"), lab.latest_ckn("b")
    return ca != old and ca == cb and lab.link_up()


# ---- 1. kill -9 of macsec-sw at site A, its mka-agent left running
old = lab.latest_ckn("a")
saks = [k for kind, _, k in lab.key_log("a") if kind == "SAK"]
t0, w0 = time.monotonic(), time.time()
lab.kill9("macsec-sw-a")
lab.start_secy("a")
secy_back = time.monotonic() - t0
lab.ping("a", 5, 0.1, 1)
st = lab.secy_stats("a").get("secy", {})
# The agent may already have restored its receive SAs; it transmits only
# on a new SAK, so the frames meanwhile are discarded, never sent plain.
t.ok(st.get("OutPktsUntagged") == 0,
     "restarted macsec-sw (%.1f s) sends nothing unprotected before the agent gives it a transmit SA "
     "(OutPktsUntagged 0, %d frames discarded as OutPktsSAUnusable)" % (secy_back, st.get("OutPktsSAUnusable", 0)),
     st)


def resecured():
    # Same CA (no new QKD key), a SAK not used before the kill, both
    # secured, and a frame through it.
    new = [k for kind, _, k in lab.key_log("a") if kind == "SAK" and k not in saks]
    return lab.latest_ckn("a") == old and new and lab.link_up()


ok, took = twosite.wait_until(resecured, BOUND_A + 20, 0.2)
since_kill = time.monotonic() - t0
gap = pinger.outage(w0, time.time())
t.ok(ok and since_kill <= BOUND_A and lab.alive("mka-agent-a"),
     "kill -9 of site A's macsec-sw, restarted, its mka-agent left running: secured again on a new SAK of the "
     "same CA %.1f s after the kill, %.1f s after macsec-sw was back (bound %.0f s from the kill = MKA life time "
     "+ hello + announcement + key fetches); longest gap in the ping %.1f s"
     % (since_kill, since_kill - secy_back, BOUND_A, gap),
     "A %r\nB %r\n%s" % (lab.status("a"), lab.status("b"), lab.output("mka-agent-a")[-2000:]))
time.sleep(1.0)

# ---- 2. the whole router side B, stopped and started
old = lab.latest_ckn("a")
t0, w0 = time.monotonic(), time.time()
rcs = (lab.stop("mka-agent-b"), lab.stop("macsec-sw-b"))
t.eq(rcs, (0, 0), "router side B: mka-agent and macsec-sw exit 0 on SIGTERM")
lab.start_secy("b")
lab.start_agent("b", name="mka-agent-b")
ok, took = twosite.wait_until(lambda: recovered(old), BOUND_B + 20, 0.2)
gap = pinger.outage(w0, time.time())
t.ok(ok and took <= BOUND_B,
     "router side B (responder) restarted: secured again on a new key after %.1f s (bound %.0f s = MKA life "
     "time + hello + announcement + key fetches, no dead time); longest gap in the ping %.1f s"
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
    t.ok(rc == 0 and tap.sanitizer_clean(out), "%s exits 0 on SIGTERM, its log sanitizer-clean" % name,
         "exit %r\n%s" % (rc, out[-2000:]))
