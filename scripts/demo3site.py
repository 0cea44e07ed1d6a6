"""demo3site.py — `scripts/demo --three-site`: a line of three sites, A - B -
C (docs/examples/three-site.toml), the MACsec link A-C keyed by a QKD key
relayed through KME_B, then an eavesdropper on the QKD link A-B.

Steps, each checked (the demo exits 1 naming every step that did not
happen): the lab comes up; A-C is secured on a QKD CAK relayed through
KME_B (its key ID, and the pools of both hops spent); a ping crosses
A-C as MACsec; an eavesdropper on A-B (qkdlab-link eve) lifts its QBER
above the abort threshold and A-B's key production stops; A-C keeps its
current CAK while the pool runs dry, enc_keys then says why (503), and
A-C moves to its fallback CAK with traffic passing; the eavesdropper
removed, A-C returns to a fresh QKD CAK.  Then everything is taken down.
"""
import json
import os
import subprocess
import time

import lablib
import labtopo
from lablib import LabError

SRC = lablib.SRC
TOPOLOGY = os.path.join(SRC, "docs", "examples", "three-site.toml")
LINK = os.path.join(SRC, "scripts", "qkdlab-link")
EVE = "0.8"                 # the eavesdropper's share of the pulses (intercept-resend)
FALLBACK_WAIT = 60          # s: pool dry + cak_lifetime + fallback_after, on a loaded machine
RETURN_WAIT = 60            # s: pool refill, announcement, a fresh key


class ThreeSite:
    def __init__(self, step, section, green, bold):
        self.step, self.section, self.green, self.bold = step, section, green, bold
        self.lab = labtopo.NLab(labtopo.parse_file(TOPOLOGY))
        self.failed = []

    # ---- helpers ----------------------------------------------------------
    def fail(self, what, detail=""):
        self.failed.append(what)
        self.step("NOT DONE: " + what, *([detail] if detail else []))

    def port(self, s, peer):
        lab = self.lab
        return lab.mka_ports(s).get(lab.wire(s, peer), {})

    def ends(self, x, y):
        return self.port(x, y), self.port(y, x)

    def pools(self):
        """{(site, peer): keys in the pool} for every QKD link end."""
        out = {}
        for s in self.lab.keys:
            m = self.lab.kme_metrics(s) or {}
            for o, _ in self.lab.qkd_peers(s):
                out[(s, o)] = int(m.get('kme_pool_keys{peer="%s"}' % self.lab.kme[o], -1))
        return out

    def relay_counts(self):
        """Relay metrics of kme-sim (kme-sim(8), TRUSTED-NODE RELAY): link
        key spent on relay hops per QKD link end, and the keys KME_B
        forwarded."""
        pad, fwd = {}, 0
        for s in self.lab.keys:
            m = self.lab.kme_metrics(s) or {}
            for o, _ in self.lab.qkd_peers(s):
                pad[(s, o)] = int(m.get('kme_relay_pad_bits_total{peer="%s"}' % self.lab.kme[o], 0))
            if s == "b":
                fwd = int(sum(v for k, v in m.items() if k.startswith("kme_relay_keys_total") and
                              'role="forwarded"' in k))
        return pad, fwd

    def until(self, pred, timeout, every=0.5):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            v = pred()
            if v:
                return v
            time.sleep(every)
        return None

    def encrypted(self, s, peer):
        """Octets the SecY of site s towards peer sent encrypted (its
        metrics; the SecY's counter, which outlives SA changes)."""
        lab = self.lab
        j = [k for k, p in lab.ports(s) if p == peer][0]
        t = lab.http(s, labtopo.SECY_METRICS0 + lab.port_index(s, j))
        return lablib.metric(lablib.parse_metrics(t or ""), "macsec_out_octets_encrypted_total") or 0

    def ping(self, x, y, n=10):
        """n pings from x to y over their MACsec link: passed only if all
        came back and both SecYs encrypted at least n echo messages (64
        octets each) meanwhile."""
        lab = self.lab
        j = lab.eth.index((x, y))
        e0 = (self.encrypted(x, y), self.encrypted(y, x))
        r = lab.nsrun(x, ["ping", "-c", str(n), "-i", "0.2", "-W", "2", lab.eth_ip(j, y)])
        e1 = (self.encrypted(x, y), self.encrypted(y, x))
        ok = r.returncode == 0 and " 0% packet loss" in r.stdout and min(e1[0] - e0[0], e1[1] - e0[1]) >= 64 * n
        return ok, r.stdout + "\nencrypted frames: %s %r -> %r" % (lab.link_name(x, y), e0, e1)

    def enc_keys(self, s, slave):
        lab = self.lab
        r = lab.nsrun(s, ["curl", "-s", "-m", "10", "-w", "\n%{http_code}", "--cacert",
                          os.path.join(lab.pki, "sae-ca.crt"),
                          "--cert", os.path.join(lab.pki, lab.sae[s] + ".crt"),
                          "--key", os.path.join(lab.pki, lab.sae[s] + ".key"),
                          "https://%s:%d/api/v1/keys/%s/enc_keys?number=1"
                          % (lab.ip[s], lablib.KME_PORT, lab.sae[slave])])
        body, _, code = r.stdout.rpartition("\n")
        try:
            msg = json.loads(body).get("message", body)
        except ValueError:
            msg = body
        return int(code or 0), msg

    def link_cmd(self, *args):
        return self.lab.nsrun("a", [LINK, "-p", self.lab.kme["b"]] + list(args))

    # ---- the demo ------------------------------------------------------------
    def preflight(self):
        self.lab.preflight(tools=("ip", "openssl", "curl", "ping"))

    def run(self):
        lab, step, green = self.lab, self.step, self.green
        self.section("1. Three sites in a line: A - B - C")
        lab.up(lambda ev, **kw: step(kw["text"]) if ev == "say" else None)
        a_c, a_b = ("a", "c"), ("a", "b")

        self.section("2. A-C: a MACsec link keyed through KME_B (trusted node)")
        pa, pc = self.ends(*a_c)
        if lab.relay and pa.get("cak_in_use") == "etsi014" and pa.get("ckn") == pc.get("ckn"):
            ckn0 = pa.get("ckn")
            pad0, fwd0 = self.relay_counts()
            # The next CAK (cak_lifetime) is relayed as well: each hop
            # spends link key from its own pool.
            nxt = self.until(lambda: self.port("a", "c").get("ckn") not in (ckn0, None, "") and
                             self.port("a", "c"), 20)
            pad1, fwd1 = self.relay_counts()
            step(green("A-C secured on QKD key ID %s" % ckn0) + ", relayed KME_A -> KME_B -> KME_C;",
                 "the next CAK (every %s): key ID %s;" % (lab.topo.mka.get("cak_lifetime", "?"),
                                                          (nxt or {}).get("ckn", "none")),
                 "meanwhile KME_B forwarded %d relayed key(s), and the hops spent link key from their pools:"
                 % (fwd1 - fwd0),
                 "A-B %d bits, B-C %d bits (one-time pad + MAC key per hop, kme_relay_pad_bits_total)"
                 % (pad1[("b", "a")] - pad0[("b", "a")], pad1[("b", "c")] - pad0[("b", "c")]))
            if nxt and (fwd1 <= fwd0 or pad1[("b", "a")] <= pad0[("b", "a")] or
                        pad1[("b", "c")] <= pad0[("b", "c")]):
                self.fail("the relayed key spends key on both hops (KME_B's relay metrics)")
            if not nxt:
                self.fail("A-C took no fresh relayed key within 20 s")
        else:
            self.fail("A-C keyed by a QKD key relayed through KME_B",
                      "A-C runs on %s: %s" % (pa.get("cak_in_use", "?"), lab.relay_note or "no QKD CAK at A-C"))
        ok, out = self.ping(*a_c)
        if ok:
            step(green("ping A -> C passes over MACsec") + " (10 of 10; both SecYs counted them encrypted).")
        else:
            self.fail("ping A -> C over MACsec", out.strip().splitlines()[-1] if out.strip() else "")
        # The link the eavesdropper is watched on: A-C when it is QKD-keyed,
        # else A-B itself.
        watch = a_c if pa.get("cak_in_use") == "etsi014" else a_b
        wname = lab.link_name(*watch)
        if watch == a_b:
            step("(the rest follows the MACsec link A-B, the one A-B's QKD keys still reach)")

        self.section("3. An eavesdropper on the QKD link A-B")
        r = self.link_cmd("eve", EVE)
        first = r.stdout.strip().splitlines()
        if r.returncode == 0 and "QBER above the abort threshold" in r.stdout:
            step(green("Eve intercepts %s of the pulses on A-B:" % EVE), *first[:3])
        else:
            self.fail("eavesdropper on A-B halts its key production", (r.stdout + r.stderr).strip())
        t_eve = time.monotonic()
        before = self.port(*watch)
        step("%s keeps its current CAK (key ID %s) while the pool A-B runs dry..." % (wname, before.get("ckn")))
        last = [None]

        def dry():
            p = self.pools()[("a", "b")]
            if p != last[0]:
                step("  pool A-B: %d keys" % p)
                last[0] = p
            return p == 0
        self.until(dry, FALLBACK_WAIT)
        code, msg = self.enc_keys("a", watch[1])
        if code == 503:
            step(green("KME_A refuses a key for %s: 503" % lab.sae[watch[1]]), msg)
        else:
            self.fail("enc_keys for %s refused with 503 naming the cause" % lab.sae[watch[1]], "%d %s" % (code, msg))

        def fallback():
            x, y = self.ends(*watch)
            return all(p.get("cak_in_use") == "fallback" and p.get("state") == "secured" for p in (x, y)) and x
        fb = self.until(fallback, max(5, FALLBACK_WAIT - (time.monotonic() - t_eve)))
        if fb:
            ok, out = self.ping(*watch)
            step(green("%s on its fallback CAK" % wname) + " (CKN %s) %.0f s after Eve arrived, no fresh key"
                 % (fb.get("ckn"), time.monotonic() - t_eve),
                 "came in %s + %s; key errors at A: %s; ping: %s"
                 % (lab.topo.mka.get("cak_lifetime"), lab.topo.mka.get("fallback_after"),
                    fb.get("key_errors"), "passes" if ok else "FAILS"))
            if not ok:
                self.fail("traffic over %s on the fallback CAK" % wname, out)
        else:
            self.fail("%s moves to its fallback CAK" % wname, repr(self.ends(*watch)))

        self.section("4. The eavesdropper is gone")
        r = self.link_cmd("clear")
        if r.returncode == 0 and "faults: none" in r.stdout:
            step(green("A-B cleared:") + " " + r.stdout.strip().splitlines()[0])
        else:
            self.fail("clearing the fault on A-B", (r.stdout + r.stderr).strip())
        t_clr = time.monotonic()

        def back():
            x, y = self.ends(*watch)
            return all(p.get("cak_in_use") == "etsi014" and not p.get("fallback") and p.get("state") == "secured"
                       for p in (x, y)) and x.get("ckn") == y.get("ckn") and x
        q = self.until(back, RETURN_WAIT)
        if q:
            ok, out = self.ping(*watch)
            step(green("%s back on QKD:" % wname) + " key ID %s, %.0f s after the fault was cleared; ping %s"
                 % (q.get("ckn"), time.monotonic() - t_clr, "passes" if ok else "FAILS"))
            if not ok:
                self.fail("traffic over %s on the QKD CAK again" % wname, out)
        else:
            self.fail("%s returns to a QKD CAK" % wname, repr(self.ends(*watch)))


def main(step, section, green, bold):
    """Runs the demo; returns its exit status."""
    import signal
    import sys
    demo = None
    rc = 0
    started = False

    def on_signal(sig, _frame):
        raise KeyboardInterrupt()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    try:
        demo = ThreeSite(step, section, green, bold)
        demo.preflight()
        started = True
        demo.run()
        if demo.failed:
            rc = 1
    except LabError as e:
        print("\ndemo: error: %s" % e.msg, file=sys.stderr)
        if e.hint:
            print("demo: what to do: %s" % e.hint, file=sys.stderr)
        rc = 1
    except (KeyboardInterrupt, subprocess.TimeoutExpired) as e:
        print("\ndemo: %s" % ("interrupted" if isinstance(e, KeyboardInterrupt) else e), file=sys.stderr)
        rc = 130 if isinstance(e, KeyboardInterrupt) else 1
    finally:
        if started:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            section("5. Tearing down")
            demo.lab.down()
            left = demo.lab.leftovers()
            if left:
                print("demo: could not remove: %s" % ", ".join(left), file=sys.stderr)
                rc = rc or 1
            else:
                step("Everything removed: processes, namespaces, veths, TAPs and %s." % demo.lab.dir)
    if demo and demo.failed:
        print("demo: steps that did not happen: %s" % "; ".join(demo.failed), file=sys.stderr)
    return rc
