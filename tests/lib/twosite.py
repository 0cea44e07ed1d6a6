"""twosite.py — the two-site lab of the MKA integration tests, in network
namespaces of the test's own.

Built on scripts/lablib.py (the lab behind `make lab-up` and the demo)
through testlab.Lab (the test's own namespace prefix and state directory,
debug flags, stopping one daemon and reading its exit status, kill -9 and
restart): lablib's PKI, namespaces and veths, kme-sim and skip-proxy
configurations, status and metrics readers and its tear-down are used as
they are; extra configuration keys and the MKA steps are added here.  Topology and identities are lablib's
(docs/LAB.md): KME_A/KME_B over the veth "kmelink", SAE_A_01 and SAE_B_01,
the MACsec wire "wire0", TAPs macsec0 with 192.0.2.1 and 192.0.2.2.

    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
    import tap, twosite
    t = tap.Tap()
    lab = twosite.Sites(t, "mytest")      # PKI, namespaces; torn down at exit
    lab.start_kmes()                      # both KMEs, linked, pool filling
    lab.start_secys()                     # macsec-sw + TAP addresses
    lab.start_skips()                     # optional: skip-proxies
    lab.start_agent("a", lab.agent_conf("a", "skip"))
"""
import base64
import json
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tap  # noqa: E402
import testlab  # noqa: E402

sys.path.insert(0, os.path.join(tap.SRC, "scripts"))
import lablib  # noqa: E402
from lablib import (ADMIN_PORT, KME, KME_PORT, LINK_IP, SAE, SKIP_PORT, TAP,  # noqa: E402,F401
                    TAP_IP, WIRE, metric)

SITES = ("a", "b")
MKA_LIFE_TIME = 6.0         # s, IEEE 802.1X-2020 Table 9-3 (mka-agent's MKA_LIFE_TIME)


def other(s):
    return "b" if s == "a" else "a"


def edit_conf(text, top=None, section=None):
    """A configuration text with keys set or replaced: `top` before the first
    [section] (the global keys), `section` in the last section.  A key that
    is already there gets the new value in place; a value None removes it."""
    top, section = dict(top or {}), dict(section or {})
    lines = text.splitlines()
    first = next((i for i, ln in enumerate(lines) if ln.startswith("[")), len(lines))
    last = max((i for i, ln in enumerate(lines) if ln.startswith("[")), default=len(lines))
    out = []
    for i, ln in enumerate(lines):
        want = top if i < first else section if i > last else {}
        m = re.match(r"\s*([A-Za-z_][\w]*)\s*=", ln)
        if m and m.group(1) in want:
            v = want.pop(m.group(1))
            if v is not None:
                out.append("%s = %s" % (m.group(1), v))
            continue
        if i == first and top:
            out += ["%s = %s" % kv for kv in top.items() if kv[1] is not None]
            top = {}
        out.append(ln)
    if top:                         # no section at all
        out += ["%s = %s" % kv for kv in top.items() if kv[1] is not None]
    out += ["%s = %s" % kv for kv in section.items() if kv[1] is not None]
    return "\n".join(out) + "\n"


class Sites(testlab.Lab):
    """Two sites of lablib's lab under a prefix and state directory of the
    test's own (testlab.Lab); everything is torn down by the test's
    cleanups (also when it fails or is killed by tests/run's timeout)."""

    vm_outlive = False

    def __init__(self, t, tag, verbose=False):
        super().__init__(t, tag, verbose)
        for s in SITES:
            os.makedirs(self.site(s), exist_ok=True)
            # The SKIP PSK of each site's router, as lablib.up writes it.
            self.write(self.site(s, "skip.psk"), "router-%s:%s\n" % (s, os.urandom(32).hex()), 0o600)
        self.make_pki()
        self.make_netns()
        self.mode = "qkd-skip"

    # ---- processes (start, stop, kill9, output: testlab.Lab) -------------
    def sh(self, s, cmd, timeout=60):
        """A shell command in site s's namespace (CompletedProcess)."""
        return subprocess.run(["ip", "netns", "exec", self.ns[s], "sh", "-c", cmd],
                              capture_output=True, text=True, timeout=timeout)

    # ---- KMEs ------------------------------------------------------------
    def kme_conf_text(self, s, extra=None, peer=None):
        """peer: keys for the [peer] section (e.g. link_model)."""
        return edit_conf(self.kme_conf(s), top=extra, section=peer)

    def start_kme(self, s, extra=None, peer=None):
        path = self.site(s, "kme-sim.conf")
        self.write(path, self.kme_conf_text(s, extra, peer))
        return self.daemon("kme-sim-" + s, s, [self.bin("kme-sim"), "-d", "-f", path])

    def start_kmes(self, extra=None, timeout=40, peer=None):
        """Both KMEs; returns once their link is up and the pool has keys."""
        for s in SITES:
            self.start_kme(s, extra, peer)
        names = ("kme-sim-a", "kme-sim-b")

        def ready():
            ms = [self.kme_metrics(s) for s in SITES]
            return (all(ms) and all(metric(m, "kme_link_up") == 1 for m in ms) and
                    all((metric(m, "kme_pool_keys") or 0) >= 1 for m in ms))
        self.wait("the KME link and key pool", ready, timeout, names)

    def kme_admin(self, s, method, path):
        """(HTTP status, body) of one request to site s's admin listener."""
        r = self.sh(s, "curl -s -m 10 -X %s -w '\\n%%{http_code}' 'http://127.0.0.1:%d%s'"
                    % (method, ADMIN_PORT, path))
        body, _, code = r.stdout.rpartition("\n")
        return int(code) if code.isdigit() else 0, body

    # ---- SKIP ------------------------------------------------------------
    def start_skips(self, extra=None, timeout=30):
        for s in SITES:
            path = self.site(s, "skip-proxy.conf")
            self.write(path, edit_conf(self.skip_conf(s), top=extra))
            self.daemon("skip-proxy-" + s, s, [self.bin("skip-proxy"), "-d", "-f", path])
        for s in SITES:
            self.wait("skip-proxy %s" % s.upper(), lambda s=s: self.skip_metrics(s) is not None, timeout,
                      ("skip-proxy-" + s,))

    # ---- data plane ----------------------------------------------------
    def start_secy(self, s, timeout=30):
        """macsec-sw of site s; returns once its control socket answers and
        the TAP has its address (a TAP goes with the process that made it,
        so a restarted macsec-sw needs the address again)."""
        name = "macsec-sw-" + s
        self.daemon(name, s, [self.bin("macsec-sw"), "-d", "-i", WIRE, "-t", TAP,
                              "-s", self.site(s, "macsec.sock"), "-m", "127.0.0.1:%d" % lablib.SECY_METRICS])
        self.wait("macsec-sw %s's control socket" % s.upper(),
                  lambda: self.ctl(s, "get-sci") is not None, timeout, (name,))
        self.nsrun(s, ["sysctl", "-q", "-w", "net.ipv6.conf.%s.disable_ipv6=1" % TAP])
        self.nsrun(s, ["ip", "addr", "add", TAP_IP[s] + "/24", "dev", TAP], check=True)
        self.nsrun(s, ["ip", "link", "set", TAP, "up"], check=True)

    def start_secys(self):
        for s in SITES:
            self.start_secy(s)

    def secy_stats(self, s):
        """macsec-ctl stats as {'secy': {...}, ('rxsa', sci, an): {...}, ...}."""
        out = self.ctl(s, "stats") or ""
        res = {}
        for line in out.splitlines():
            words = line.split()
            if not words:
                continue
            kv = dict(w.split("=", 1) for w in words[1:] if "=" in w)
            if words[0] == "secy":
                key = "secy"
            elif words[0] == "txsa":
                key = ("txsa", kv.pop("an", "?"))
            elif words[0] == "rxsc":
                key = ("rxsc", kv.pop("sci", "?"))
            else:
                key = (words[0], kv.pop("sci", "?"), kv.pop("an", "?"))
            res[key] = {k: int(v) if v.isdigit() else v for k, v in kv.items()}
        return res

    def ping(self, s, count=3, interval=0.2, wait=2):
        r = self.nsrun(s, ["ping", "-n", "-c", str(count), "-i", str(interval), "-W", str(wait),
                           TAP_IP[other(s)]], timeout=count * (interval + wait) + 20)
        return r.returncode == 0, r.stdout + r.stderr

    # ---- MKA -------------------------------------------------------------
    def agent_conf(self, s, source="skip", top=None, port=None):
        """site s's mka-agent configuration: lablib's for the key source
        ('skip' or 'etsi014'), then the test's own global and [port] keys."""
        mode, self.mode = self.mode, {"skip": "qkd-skip", "etsi014": "qkd-014"}[source]
        try:
            text = self.mka_conf(s)
        finally:
            self.mode = mode
        return edit_conf(text, top=top, section=port)

    def start_agent(self, s, conf=None, name=None):
        """Writes site s's mka-agent.conf (0600: it may hold a PSK) when conf
        is given, and starts the agent under name (default mka-agent-<s>)."""
        path = self.site(s, "mka-agent.conf")
        if conf is not None:
            self.write(path, conf, 0o600)
        return self.daemon(name or "mka-agent-" + s, s, [self.bin("mka-agent"), "-d", "-f", path])

    def status(self, s):
        """mka-agent status of site s as a dict ({} when it does not answer)."""
        return self.mka_status(s)

    def secured(self, s):
        return self.status(s).get("state") == "secured"

    def both_secured(self):
        return all(self.secured(s) for s in SITES)

    def key_log(self, s):
        """[(kind, ckn, key)] of site s's key log: kind CAK or SAK."""
        out = []
        try:
            with open(self.site(s, "keys.log")) as f:
                for ln in f:
                    w = ln.split()
                    if len(w) >= 3 and w[0] == "CAK":
                        out.append(("CAK", w[1], w[2]))
                    elif len(w) >= 5 and w[0] == "SAK":
                        out.append(("SAK", w[1], w[4]))
        except OSError:
            pass
        return out

    def latest_ckn(self, s):
        """The CKN of the newest CAK in site s's key log, or None."""
        c = self.caks(s)
        return c[-1][0] if c else None

    def link_up(self):
        """Both agents secured and one ping from site A over the link answered."""
        return self.both_secured() and self.ping("a", 1, 0.2, 1)[0]

    def caks(self, s):
        return [(ckn, key) for kind, ckn, key in self.key_log(s) if kind == "CAK"]


    # ---- keys by hand, at site B (the slave) ----------------------------
    def fetch_at_b(self, ckn, source):
        """Site B's router asks its key service for the key with ID ckn
        (hex), as mka-agent would: SKIP GET /key/{keyId} through B's
        skip-proxy, or ETSI 014 dec_keys at KME_B with SAE_B's certificate.
        Returns (HTTP status, key hex or None)."""
        if source == "skip":
            code, js = self.skip_get("b", "/key/%s?remoteSystemID=%s" % (ckn, SAE["a"]))
            return code, (js.get("key") or "").lower() or None
        uuid = "%s-%s-%s-%s-%s" % (ckn[:8], ckn[8:12], ckn[12:16], ckn[16:20], ckn[20:])
        r = self.sh("b", "curl -s -m 10 --cacert %s/sae-ca.crt --cert %s/%s.crt --key %s/%s.key "
                    "-w '\\n%%{http_code}' 'https://%s:%d/api/v1/keys/%s/dec_keys?key_ID=%s'"
                    % (self.pki, self.pki, SAE["b"], self.pki, SAE["b"], LINK_IP["b"], KME_PORT, SAE["a"], uuid))
        body, _, code = r.stdout.rpartition("\n")
        try:
            key = base64.b64decode(json.loads(body)["keys"][0]["key"]).hex()
        except (ValueError, KeyError, IndexError, TypeError):
            key = None
        return int(code) if code.isdigit() else 0, key

    def served(self):
        """Keys the KMEs have handed out so far: (KME_A enc_keys, KME_B dec_keys)."""
        ma, mb = self.kme_metrics("a") or {}, self.kme_metrics("b") or {}
        return (int(ma.get('kme_keys_served_total{method="enc_keys"}', -1)),
                int(mb.get('kme_keys_served_total{method="dec_keys"}', -1)))


def audit_keys(t, lab, source, served_before=(0, 0)):
    """The key audit after faults (docs/SECURITY.md, faults), from the two
    key logs (every CAK each agent run used; appended across restarts) and
    the KMEs' own counters:
      - no key ID and no key value taken twice at site A (the initiator);
      - no key ID obtained twice at site B, and every key B has, A has, with
        the same bytes;
      - none lost: every key A took is in B's key log, or still held for B
        by KME_B (fetched here by hand: 200, the same bytes);
      - KME_A handed out exactly the keys in A's log, KME_B exactly those in
        B's log (and the ones fetched here), so none went astray between a
        KME and an agent;
      - every key B got is refused when asked for again (not served twice)."""
    A, B = lab.caks("a"), lab.caks("b")
    a_ids, b_ids = [c for c, _ in A], [c for c, _ in B]
    t.ok(len(A) >= 2, "audit: site A's key log holds %d CAKs (one per CA across the restarts)" % len(A), A)
    t.eq(sorted(x for x in set(a_ids) if a_ids.count(x) > 1), [], "audit: no key ID taken twice at site A")
    t.eq(len(set(k for _, k in A)), len(A), "audit: no key value taken twice at site A")
    t.eq(sorted(x for x in set(b_ids) if b_ids.count(x) > 1), [], "audit: no key ID obtained twice at site B")
    a_map = dict(A)
    t.eq([c for c, k in B if a_map.get(c) != k], [], "audit: every key site B used is one site A took, same bytes")
    missing = [c for c in a_ids if c not in set(b_ids)]
    late = {c: lab.fetch_at_b(c, source) for c in missing}
    t.eq({c: r for c, r in late.items() if r != (200, a_map[c])}, {},
         "audit: none lost: every key site A took reached site B (%d) or is still held for it by KME_B "
         "(%d, fetched now with the same bytes)" % (len(B), len(missing)))
    ea, db = lab.served()
    t.eq((ea - served_before[0], db - served_before[1]), (len(A), len(B) + len(missing)),
         "audit: KME_A handed out exactly the %d keys of A's key log, KME_B exactly the %d B used "
         "(+ %d fetched now)" % (len(A), len(B), len(missing)))
    again = {c: lab.fetch_at_b(c, source)[0] for c in b_ids + missing}
    t.eq({c: code for c, code in again.items() if code != 400}, {},
         "audit: each of those %d keys is refused when asked for again at site B (400)" % len(again))


class Pinger:
    """Bounded background traffic over the MACsec link: ping at 10/s from
    site s, timestamped (-D), in a shell loop so that it survives its TAP
    going away with a killed macsec-sw."""

    def __init__(self, lab, s="a"):
        self.lab = lab
        self.name = "ping-" + s
        lab.start(self.name, s, ["sh", "-c", "while :; do ping -n -D -O -i 0.1 -W 1 %s; sleep 0.2; done"
                                 % TAP_IP[other(s)]])

    def replies(self):
        """Wall-clock times of the echo replies so far."""
        return [float(m.group(1)) for m in
                re.finditer(r"^\[(\d+\.\d+)\] \d+ bytes from", self.lab.output(self.name), re.M)]

    def outage(self, since, until):
        """Longest time without a reply between since and until (wall
        clock), i.e. how long the data plane was cut."""
        ts = [since] + [x for x in self.replies() if since < x < until] + [until]
        return max(b - a for a, b in zip(ts, ts[1:]))


def wait_until(pred, timeout, interval=0.1):
    """Polls pred() until truthy; returns (value, seconds it took) or
    (None, timeout)."""
    t0 = time.monotonic()
    v = tap.wait_for(pred, timeout, interval)
    return v, time.monotonic() - t0
