"""labtopo.py — qkdlab labs of 2 to 8 sites in network namespaces, shared
by scripts/lab (up --topology SPEC), scripts/demo (--three-site) and the
tests.  lablib.py's Lab is the two-site lab; NLab reuses its processes,
checks and tear-down and replaces what is two-site about it.

A topology (docs/LAB.md, "Topologies") is `line:N`, `ring:N` or a TOML
file: sites, QKD links between KMEs (with their physical model) and
Ethernet links between routers.  Per site: a namespace <prefix>-<site>
with kme-sim, skip-proxy, one mka-agent with a port per Ethernet link and
a macsec-sw per Ethernet link.  The KMEs reach each other over one
bridge in the namespace <prefix>-kme-net (the classical KME network); the
[peer] sections say which KME pairs share a QKD link.  An Ethernet link
between sites without a direct QKD link is keyed by trusted-node relay
through the KMEs between them, when kme-sim offers it (`network` and
[remote] in kme-sim.conf(5)); without it that link runs on a pre-shared
CAK, and lab status and lab.env say so.
"""
import json
import os
import re
import shutil
import subprocess
import tomllib

import lablib
from lablib import LabError, run

MIN_SITES, MAX_SITES = 2, 8
NAMES = "ABCDEFGH"
HUB = "kme-net"             # the KME network namespace's suffix (a site name has no '-')
HUB_BR = "kmenet"
KME_NET = "198.51.100.%d"   # site i (0-based) at .i+1 on the KME network, /24
ETH_NET = "192.0.2.%d"      # Ethernet link j: .8j+1 and .8j+2, /29
SECY_METRICS0 = 9110        # macsec-sw of a site's port j: 127.0.0.1:9110+j
# Generated topologies (line:N, ring:N): a QKD link of the high-rate
# preset (10 km) on every neighbour pair.
DEFAULT_QKD = {"preset": "high-rate"}
PRESETS = ("gys", "high-rate", "field")
MODEL_KEYS = ("fibre_length_km", "attenuation_db_km", "extra_loss_db", "detector_efficiency",
              "dark_count_yield", "misalignment", "ec_inefficiency", "repetition_rate_hz", "mu",
              "sifting", "qber_abort")
QKD_KEYS = ("sites", "preset", "link_model", "key_rate", "max_key_count") + MODEL_KEYS
TOP_KEYS = ("sites", "qkd", "ethernet", "mka", "kme")
MKA_KEYS = ("cak_lifetime", "fallback_after")
KME_KEYS = ("prefetch_keys", "max_key_count")
DURATION = re.compile(r"^[0-9]{1,9}(ms|s|m|h)?$")
LEFT_OVER = "(left over)"  # the topology of namespaces found without state
SITE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,5}$")


# ---- topology -----------------------------------------------------------------
class Topology:
    """Sites (names, in order), QKD links [{"sites": (X, Y), param: value}],
    Ethernet links [(X, Y)], mka and kme options; spec says where it came
    from (for messages and lab.env)."""

    def __init__(self, spec, sites, qkd, eth, mka=None, kme=None):
        self.spec = spec
        self.sites = sites
        self.qkd = qkd
        self.eth = eth
        self.mka = mka or {}
        self.kme = kme or {}

    def to_json(self):
        return {"spec": self.spec, "sites": self.sites, "ethernet": [list(e) for e in self.eth],
                "qkd": [dict(q, sites=list(q["sites"])) for q in self.qkd],
                "mka": self.mka, "kme": self.kme}

    @classmethod
    def from_json(cls, d):
        return cls(d["spec"], d["sites"], [dict(q, sites=tuple(q["sites"])) for q in d["qkd"]],
                   [tuple(e) for e in d["ethernet"]], d.get("mka"), d.get("kme"))

    def qkd_pairs(self):
        return [q["sites"] for q in self.qkd]

    def neighbours(self, s):
        return [y if x == s else x for x, y in self.qkd_pairs() if s in (x, y)]

    def route(self, a, b, avoid=None):
        """The sites between a and b on a shortest path of QKD links ([]
        for neighbours), or None when no path joins them; avoid: a QKD
        link (pair of sites) the path may not use."""
        prev = {a: None}
        todo = [a]
        while todo:
            x = todo.pop(0)
            if x == b:
                path = []
                while prev[x] != a:
                    x = prev[x]
                    path.insert(0, x)
                return path
            for y in self.neighbours(x):
                if y not in prev and {x, y} != set(avoid or ()):
                    prev[y] = x
                    todo.append(y)
        return None

    def describe(self):
        return "%d sites (%s); QKD links %s; Ethernet links %s" % (
            len(self.sites), " ".join(self.sites), " ".join("%s-%s" % p for p in self.qkd_pairs()),
            " ".join("%s-%s" % e for e in self.eth))


def shape(spec):
    """line:N or ring:N -> Topology.  line: QKD and Ethernet links between
    neighbours, and for line:3 also the Ethernet link A-C (keyed through
    B); ring: the same around the ring (N >= 3)."""
    m = re.match(r"^(line|ring):(.*)$", spec)
    kind, n = m.group(1), m.group(2)
    if not re.match(r"^[0-9]{1,3}$", n):
        raise LabError("topology %s: N must be a number of sites (%d..%d)" % (spec, MIN_SITES, MAX_SITES),
                       "e.g.  --topology %s:3" % kind)
    n = int(n)
    lo = 3 if kind == "ring" else MIN_SITES
    if not lo <= n <= MAX_SITES:
        raise LabError("topology %s: a %s has %d to %d sites, not %d" % (spec, kind, lo, MAX_SITES, n),
                       "e.g.  --topology %s:%d" % (kind, max(lo, 3)))
    sites = list(NAMES[:n])
    pairs = [(sites[i], sites[i + 1]) for i in range(n - 1)]
    if kind == "ring":
        pairs.append((sites[-1], sites[0]))
    eth = list(pairs)
    if spec == "line:3":
        eth.append(("A", "C"))
    return Topology(spec, sites, [dict(DEFAULT_QKD, sites=p) for p in pairs], eth)


def _pair(where, v, sites):
    if not isinstance(v, list) or len(v) != 2 or not all(isinstance(x, str) for x in v):
        raise LabError("%s: sites must be a list of two site names, e.g. sites = [\"A\", \"B\"]" % where)
    for x in v:
        if x not in sites:
            raise LabError("%s: no site %r in this topology (sites: %s)" % (where, x, ", ".join(sites)))
    if v[0] == v[1]:
        raise LabError("%s: a link joins two different sites, not %s with itself" % (where, v[0]))
    return (v[0], v[1])


def _number(where, k, v):
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise LabError("%s: %s must be a number, not %r" % (where, k, v))
    return v


def parse_file(path):
    """A topology file (TOML) -> Topology; every error names the file and
    what is wrong in it."""
    try:
        with open(path, "rb") as f:
            d = tomllib.load(f)
    except OSError as e:
        raise LabError("topology file %s: %s" % (path, e.strerror))
    except tomllib.TOMLDecodeError as e:
        raise LabError("topology file %s is not valid TOML: %s" % (path, e),
                       "see docs/LAB.md (Topologies) and docs/examples/three-site.toml")
    f = "topology file %s" % path
    for k in d:
        if k not in TOP_KEYS:
            raise LabError("%s: unknown key %r (known: %s)" % (f, k, ", ".join(TOP_KEYS)))
    sites = d.get("sites")
    if not isinstance(sites, list) or not all(isinstance(s, str) for s in sites):
        raise LabError("%s: sites must be a list of site names, e.g. sites = [\"A\", \"B\", \"C\"]" % f)
    if not MIN_SITES <= len(sites) <= MAX_SITES:
        raise LabError("%s: %d sites; a lab has %d to %d" % (f, len(sites), MIN_SITES, MAX_SITES))
    seen = set()
    for s in sites:
        if not SITE_NAME.match(s):
            raise LabError("%s: site name %r: 1 to 6 letters and digits, starting with a letter" % (f, s))
        if s.lower() in seen:
            raise LabError("%s: site %s is named twice (names are compared without case)" % (f, s))
        seen.add(s.lower())
    qkd, eth = [], []
    for i, q in enumerate(d.get("qkd", [])):
        w = "%s: QKD link %d" % (f, i + 1)
        if not isinstance(q, dict):
            raise LabError("%s: write QKD links as [[qkd]] tables" % f)
        for k in q:
            if k not in QKD_KEYS:
                raise LabError("%s: unknown key %r (known: %s)" % (w, k, ", ".join(QKD_KEYS)))
        p = _pair(w, q.get("sites"), sites)
        w = "%s (%s-%s)" % (w, p[0], p[1])
        link = {"sites": p}
        model = q.get("link_model", "decoy-bb84" if "preset" in q or any(k in q for k in MODEL_KEYS)
                      else "constant")
        if model not in ("constant", "decoy-bb84"):
            raise LabError("%s: link_model %r: constant or decoy-bb84" % (w, model))
        if model == "constant" and any(k in q for k in MODEL_KEYS + ("preset",)):
            raise LabError("%s: preset and the physical parameters need link_model = \"decoy-bb84\"" % w)
        if model == "decoy-bb84" and "key_rate" in q:
            raise LabError("%s: key_rate is a constant link's rate; a decoy-bb84 link's rate comes "
                           "from its physical parameters" % w)
        if "preset" in q and q["preset"] not in PRESETS:
            raise LabError("%s: preset %r: one of %s" % (w, q["preset"], ", ".join(PRESETS)))
        link["link_model"] = model
        for k in q:
            if k in ("sites", "link_model"):
                continue
            link[k] = q[k] if k == "preset" else _number(w, k, q[k])
        if frozenset(p) in {frozenset(x["sites"]) for x in qkd}:
            raise LabError("%s: a second QKD link between %s and %s" % (w, p[0], p[1]))
        qkd.append(link)
    for i, e in enumerate(d.get("ethernet", [])):
        w = "%s: Ethernet link %d" % (f, i + 1)
        if not isinstance(e, dict):
            raise LabError("%s: write Ethernet links as [[ethernet]] tables" % f)
        for k in e:
            if k != "sites":
                raise LabError("%s: unknown key %r (an Ethernet link has only sites)" % (w, k))
        p = _pair(w, e.get("sites"), sites)
        if frozenset(p) in {frozenset(x) for x in eth}:
            raise LabError("%s: a second Ethernet link between %s and %s" % (w, p[0], p[1]))
        eth.append(p)
    opts = {}
    for tab, keys in (("mka", MKA_KEYS), ("kme", KME_KEYS)):
        o = d.get(tab, {})
        if not isinstance(o, dict):
            raise LabError("%s: [%s] must be a table" % (f, tab))
        for k, v in o.items():
            if k not in keys:
                raise LabError("%s: [%s]: unknown key %r (known: %s)" % (f, tab, k, ", ".join(keys)))
            if tab == "mka" and (not isinstance(v, str) or not DURATION.match(v)):
                raise LabError("%s: [mka] %s: a duration such as \"5s\" or \"500ms\", not %r" % (f, k, v))
            if tab == "kme" and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
                raise LabError("%s: [kme] %s: a whole number >= 0, not %r" % (f, k, v))
        opts[tab] = dict(o)
    t = Topology(path, sites, qkd, eth, opts["mka"], opts["kme"])
    for x, y in eth:
        if t.route(x, y) is None:
            raise LabError("%s: Ethernet link %s-%s: no chain of QKD links joins %s and %s, so "
                           "nothing can key it" % (f, x, y, x, y))
    return t


def parse(spec):
    """--topology SPEC -> Topology."""
    if re.match(r"^(line|ring):", spec):
        return shape(spec)
    if os.path.exists(spec) or spec.endswith(".toml"):
        return parse_file(spec)
    raise LabError("--topology %s: not line:N, ring:N or a topology file" % spec,
                   "e.g.  --topology line:3,  --topology ring:4  or  --topology docs/examples/three-site.toml")


# ---- the lab ------------------------------------------------------------------------
def first_error(msg):
    """The line of a daemon's -n output that says what is wrong: its first
    error, without the log prefix (time, program)."""
    for ln in msg.splitlines():
        m = re.search(r"\berror: (?:\S*probe-\w+\.conf(?::\d+)?: )?(.*)", ln)
        if m:
            return m.group(1)
    return msg.splitlines()[-1] if msg else "?"


def sae_id(name):
    """SAE_<NAME>_0..1, its length a multiple of 4 (lablib.SAE's reason)."""
    base = "SAE_%s_" % name.upper()
    n = 2
    while (len(base) + n) % 4:
        n += 1
    return base + "0" * (n - 1) + "1"


class NLab(lablib.Lab):
    """A lab of the sites of topology topo (a Topology).  Sites are keyed
    by their lower-case name ("a", ...): self.ns[site] is the namespace,
    self.ns["hub"] the KME network's."""

    def __init__(self, topo, **kw):
        super().__init__(**kw)
        if self.replaced():
            raise LabError("--vm and --byo take the two-site lab; leave out --topology")
        self.topo = topo
        self.keys = [s.lower() for s in topo.sites]
        self.name = dict(zip(self.keys, topo.sites))
        self.ns = {s: "%s-%s" % (self.prefix, s) for s in self.keys}
        self.ns["hub"] = "%s-%s" % (self.prefix, HUB)
        self.kme = {s: "KME_" + self.name[s].upper() for s in self.keys}
        self.sae = {s: sae_id(self.name[s]) for s in self.keys}
        self.ip = {s: KME_NET % (i + 1) for i, s in enumerate(self.keys)}
        # kme-sim offers relay: set by up, kept in the state for status.
        self.relay = None
        self.relay_note = ""
        try:
            with open(os.path.join(self.dir, "relay")) as f:
                v = f.read().strip()
            self.relay, self.relay_note = v == "yes", "" if v == "yes" else v
        except OSError:
            pass
        self.mode = "qkd-014"
        # Ethernet links: (x, y) as site keys, with their index.
        self.eth = [(x.lower(), y.lower()) for x, y in topo.eth]
        self.qkd = [dict(q, sites=(q["sites"][0].lower(), q["sites"][1].lower())) for q in topo.qkd]

    # ---- the topology in site keys ------------------------------------------------------
    def qkd_peers(self, s):
        return [(y if x == s else x, q) for q in self.qkd for x, y in [q["sites"]] if s in (x, y)]

    def ports(self, s):
        """Site s's Ethernet links: [(j, peer)], j the link's index."""
        return [(j, y if x == s else x) for j, (x, y) in enumerate(self.eth) if s in (x, y)]

    def route(self, x, y, avoid=None):
        r = self.topo.route(self.name[x], self.name[y],
                            avoid=avoid and (self.name[avoid[0]], self.name[avoid[1]]))
        return None if r is None else [n.lower() for n in r]

    def keying(self, j):
        """How Ethernet link j gets its CAK: ("direct", []), ("relay",
        [sites between]) or ("psk", [sites between]) when relay is needed
        and kme-sim lacks it."""
        x, y = self.eth[j]
        r = self.route(x, y)
        if not r:
            return "direct", []
        return ("relay" if self.relay else "psk"), r

    def wire(self, s, peer):
        return "w-" + peer

    def tap(self, s, peer):
        return "m-" + peer

    def eth_ip(self, j, s):
        x, _ = self.eth[j]
        return ETH_NET % (8 * j + (1 if s == x else 2))

    def port_index(self, s, j):
        return [k for k, _ in self.ports(s)].index(j)

    def secy_sock(self, s, peer):
        return self.site(s, "macsec-%s.sock" % peer)

    def link_name(self, x, y):
        return "%s-%s" % (self.name[x], self.name[y])

    # ---- configuration -------------------------------------------------------------------
    def kme_conf(self, s, relay=None):
        relay = self.relay if relay is None else relay
        kopt = self.topo.kme
        lines = [
            "# kme-sim of site %s (written by scripts/lab, topology %s)" % (self.name[s], self.topo.spec),
            "kme_id = %s" % self.kme[s],
            "listen = %s:%d" % (self.ip[s], lablib.KME_PORT),
            "cert = %s/%s.crt" % (self.pki, self.kme[s]),
            "key = %s/%s.key" % (self.pki, self.kme[s]),
            "sae_ca = %s/sae-ca.crt" % self.pki,
            "link_listen = %s:%d" % (self.ip[s], lablib.LINK_PORT),
            "link_cert = %s/%s-link.crt" % (self.pki, self.kme[s]),
            "link_key = %s/%s-link.key" % (self.pki, self.kme[s]),
            "link_ca = %s/kme-ca.crt" % self.pki,
            "admin_listen = 127.0.0.1:%d" % lablib.ADMIN_PORT,
            "database = %s" % self.site(s, "kme.db"),
            "saes = %s" % self.sae[s],
            "key_size = 256",
            "key_rate = %d" % lablib.KEY_RATE,
            "max_key_count = %d" % kopt.get("max_key_count", lablib.MAX_KEYS),
        ]
        if "prefetch_keys" in kopt:
            lines.append("prefetch_keys = %d" % kopt["prefetch_keys"])
        if relay:
            lines.append("network = %s" % " ".join("%s:%s" % (self.kme[x], self.kme[y])
                                                   for x, y in (q["sites"] for q in self.qkd)))
        for o, q in self.qkd_peers(s):
            lines += ["", "[peer %s]" % self.kme[o],
                      "address = %s:%d" % (self.ip[o], lablib.LINK_PORT),
                      "saes = %s" % self.sae[o]]
            if q.get("link_model", "constant") != "constant":
                lines.append("link_model = %s" % q["link_model"])
            if "preset" in q:
                lines.append("link_preset = %s" % q["preset"])
            for k in ("key_rate", "max_key_count") + MODEL_KEYS:
                if k in q:
                    lines.append("%s = %s" % (k, q[k]))
        if relay:
            direct = {o for o, _ in self.qkd_peers(s)}
            for o in self.keys:
                if o == s or o in direct:
                    continue
                r = self.route(s, o)
                if r is None:
                    continue
                lines += ["", "[remote %s]" % self.kme[o], "saes = %s" % self.sae[o],
                          "route = %s" % " ".join(self.kme[x] for x in r)]
                # Another way round, if there is one (a ring): kme-sim
                # tries it when a hop of the first fails.
                alt = self.route(s, o, avoid=(s, r[0]))
                if alt and alt != r:
                    lines.append("route = %s" % " ".join(self.kme[x] for x in alt))
        return "\n".join(lines + [""])

    def kme_check(self, text):
        """kme-sim -n on a configuration: (ok, message)."""
        tmp = os.path.join(self.dir, "probe-kme.conf")
        try:
            self.write(tmp, text, 0o600)
            r = subprocess.run([self.bin("kme-sim"), "-n", "-f", tmp], capture_output=True, text=True,
                               timeout=30)
            return r.returncode == 0, (r.stdout + r.stderr).strip()
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def relay_check(self):
        """Whether kme-sim takes the relay configuration (the `network`
        key and [remote] sections): (True, ""), (False, kme-sim's
        message), or (None, why) when no Ethernet link needs relay."""
        need = [j for j in range(len(self.eth)) if self.route(*self.eth[j])]
        if not need:
            return None, "no Ethernet link needs it"
        ok, msg = self.kme_check(self.kme_conf(self.eth[need[0]][0], relay=True))
        return ok, msg

    def skip_conf(self, s):
        peers = [p for _, p in self.ports(s)] or [o for o in self.keys if o != s][:1]
        return "\n".join([
            "# skip-proxy of site %s (written by scripts/lab)" % self.name[s],
            "listen = 0.0.0.0",
            "port = %d" % lablib.SKIP_PORT,
            "tls_mode = psk",
            "psk_file = %s" % self.site(s, "skip.psk"),
            "local_system_id = %s" % self.sae[s]] +
            ["remote_system_id = %s" % self.sae[p] for p in peers] + [
            "kme_url = https://%s:%d" % (self.ip[s], lablib.KME_PORT),
            "kme_ca_file = %s/sae-ca.crt" % self.pki,
            "kme_cert_file = %s/%s.crt" % (self.pki, self.sae[s]),
            "kme_key_file = %s/%s.key" % (self.pki, self.sae[s]),
            "metrics_port = %d" % lablib.SKIP_METRICS,
            ""])

    def fallback(self, j):
        """Ethernet link j's fallback (or, without relay, pre-shared) CAK
        and CKN, the same at both ends; made once, kept in the state."""
        path = os.path.join(self.dir, "eth-%d.cak" % j)
        if not os.path.exists(path):
            self.write(path, "%s %s\n" % (os.urandom(32).hex(), ("fallback-%d" % j).encode().hex()), 0o600)
        with open(path) as f:
            cak, ckn = f.read().split()
        return cak, ckn

    def mka_conf(self, s, cak=None, ckn=None):
        mopt = self.topo.mka
        lines = ["# mka-agent of site %s (written by scripts/lab; one port per Ethernet link)"
                 % self.name[s],
                 "status_socket = %s" % self.site(s, "mka-agent.sock"),
                 "metrics_listen = 127.0.0.1:%d" % lablib.MKA_METRICS,
                 "key_log = %s" % self.site(s, "keys.log")]
        for j, p in self.ports(s):
            kind, _ = self.keying(j)
            fcak, fckn = self.fallback(j)
            lines += ["", "# Ethernet link %s: %s" % (self.link_name(*self.eth[j]), kind),
                      "[port %s]" % self.wire(s, p)]
            if kind == "psk":
                lines += ["cak_source = psk", "cak = %s" % fcak, "ckn = %s" % fckn]
            else:
                lines += [
                    "cak_source = etsi014",
                    "sae_id = %s" % self.sae[s],
                    "allowed_peers = %s" % self.sae[p],
                    "cak_bits = %d" % lablib.CAK_BITS,
                    "kme_url = https://%s:%d" % (self.ip[s], lablib.KME_PORT),
                    "kme_cert = %s/%s.crt" % (self.pki, self.sae[s]),
                    "kme_key = %s/%s.key" % (self.pki, self.sae[s]),
                    "kme_ca = %s/sae-ca.crt" % self.pki,
                    "fallback_cak = %s" % fcak,
                    "fallback_ckn = %s" % fckn]
                for k in MKA_KEYS:
                    if k in mopt:
                        lines.append("%s = %s" % (k, mopt[k]))
            x, _ = self.eth[j]
            lines += ["cipher_suites = gcm-aes-256",
                      "priority = %d" % (16 if s == x else 32),
                      "hello_time = 1s",
                      "secy_socket = %s" % self.secy_sock(s, p)]
        return "\n".join(lines + [""])

    # ---- up --------------------------------------------------------------------------------
    def make_netns(self):
        hub = self.ns["hub"]
        run(["ip", "netns", "add", hub])
        run(["ip", "netns", "exec", hub, "ip", "link", "set", "lo", "up"])
        run(["ip", "netns", "exec", hub, "ip", "link", "add", HUB_BR, "type", "bridge", "stp_state", "0"])
        run(["ip", "netns", "exec", hub, "ip", "link", "set", HUB_BR, "up"])
        for s in self.keys:
            run(["ip", "netns", "add", self.ns[s]])
            self.nsrun(s, ["ip", "link", "set", "lo", "up"], check=True)
            run(["ip", "link", "add", "kmelink", "netns", self.ns[s], "type", "veth",
                 "peer", "name", "k-" + s, "netns", hub])
            run(["ip", "netns", "exec", hub, "ip", "link", "set", "k-" + s, "master", HUB_BR, "up"])
            self.nsrun(s, ["ip", "addr", "add", self.ip[s] + "/24", "dev", "kmelink"], check=True)
            self.nsrun(s, ["ip", "link", "set", "kmelink", "up"], check=True)
        for j, (x, y) in enumerate(self.eth):
            run(["ip", "link", "add", self.wire(x, y), "netns", self.ns[x], "type", "veth",
                 "peer", "name", self.wire(y, x), "netns", self.ns[y]])
            for s, p in ((x, y), (y, x)):
                w = self.wire(s, p)
                # The wire carries only EAPOL and MACsec: no IPv6 on it.
                self.nsrun(s, ["sysctl", "-q", "-w", "net.ipv6.conf.%s.disable_ipv6=1" % w], check=True)
                self.nsrun(s, ["ip", "link", "set", w, "up"], check=True)

    def write_state(self):
        with open(os.path.join(self.dir, "topology.json"), "w") as f:
            json.dump(self.topo.to_json(), f, indent=1)

    def up(self, narrate=None):
        note = narrate or (lambda ev, **kw: None)

        def say(text, **kw):
            note("say", text=text, **kw)
        if os.path.exists(self.dir):
            shutil.rmtree(self.dir)
        os.makedirs(self.logs)
        for s in self.keys:
            os.makedirs(self.site(s))
        self.write_state()
        if not self.mka_has("etsi014"):
            raise LabError("this mka-agent has no ETSI 014 key source (cak_source = etsi014), which "
                           "the N-site lab uses", "build mka-agent with its key sources:  make -j2")
        say("topology %s: %s" % (self.topo.spec, self.topo.describe()))
        for s in self.keys:
            self.write(self.site(s, "skip.psk"), "router-%s:%s\n" % (s, os.urandom(32).hex()), 0o600)
            self.write(self.site(s, "skip-psk-session.pem"), lablib.psk_session_pem(self.psk(s)[1]), 0o600)
        for s in self.keys:
            lablib.issue_certs(self.pki, kmes=[self.kme[s]], san="IP:" + self.ip[s])
        lablib.issue_certs(self.pki, saes=[self.sae[s] for s in self.keys])
        say("certificates issued in %s" % self.pki)

        # The configurations, checked by the daemons themselves before
        # anything runs: a bad physical parameter is kme-sim's message.
        ok, msg = self.relay_check()
        self.relay = bool(ok)
        self.relay_note = "" if ok else msg if ok is None else (
            "kme-sim refuses the relay configuration: " + first_error(msg))
        self.write(os.path.join(self.dir, "relay"), "yes\n" if ok else self.relay_note + "\n")
        for s in self.keys:
            text = self.kme_conf(s)
            ok, msg = self.kme_check(text)
            if not ok:
                raise LabError("topology %s: kme-sim refuses the configuration of site %s: %s"
                               % (self.topo.spec, self.name[s], first_error(msg)),
                               "fix the QKD link parameters (kme-sim.conf(5) names their ranges)")
            self.write(self.site(s, "kme-sim.conf"), text)
        for s in self.keys:
            text = self.mka_conf(s)
            if self.ports(s):
                ok, msg = self.mka_check(text)
                if not ok:
                    raise LabError("mka-agent refuses site %s's configuration: %s"
                                   % (self.name[s], first_error(msg)))
            self.write(self.site(s, "mka-agent.conf"), text, 0o600)
        for j, (x, y) in enumerate(self.eth):
            kind, r = self.keying(j)
            if kind == "relay":
                say("Ethernet link %s: keyed by trusted-node relay through %s"
                    % (self.link_name(x, y), ", ".join(self.kme[k] for k in r)))
            elif kind == "psk":
                say("Ethernet link %s: no QKD link and kme-sim has no relay (%s): pre-shared CAK"
                    % (self.link_name(x, y), self.relay_note))

        self.make_netns()
        say("namespaces %s; KME network bridge in %s; %d wire veth(s)"
            % (" ".join(self.ns[s] for s in self.keys), self.ns["hub"], len(self.eth)))

        for s in self.keys:
            self.start("kme-sim-" + s, s, [self.bin("kme-sim"), "-d", "-f", self.site(s, "kme-sim.conf")])
        kmes = tuple("kme-sim-" + s for s in self.keys)

        def linked():
            for s in self.keys:
                m = self.kme_metrics(s)
                if m is None:
                    return False
                for o, _ in self.qkd_peers(s):
                    if m.get('kme_link_up{peer="%s"}' % self.kme[o]) != 1:
                        return False
            return True
        self.wait("every KME link (%s)" % ", ".join("%s-%s" % (self.kme[x], self.kme[y])
                                                     for x, y in (q["sites"] for q in self.qkd)),
                  linked, 60, kmes)
        say("KMEs paired: %d QKD link(s) up" % len(self.qkd))

        for s in self.keys:
            self.write(self.site(s, "skip-proxy.conf"), self.skip_conf(s))
            self.start("skip-proxy-" + s, s, [self.bin("skip-proxy"), "-d", "-f",
                                               self.site(s, "skip-proxy.conf")])
        for s in self.keys:
            self.wait("skip-proxy %s" % self.name[s], lambda s=s: self.skip_metrics(s) is not None, 30,
                      ("skip-proxy-" + s,))
        say("SKIP proxies listening")

        for s in self.keys:
            for j, p in self.ports(s):
                self.start("macsec-sw-%s-%s" % (s, p), s, [
                    self.bin("macsec-sw"), "-d", "-i", self.wire(s, p), "-t", self.tap(s, p),
                    "-s", self.secy_sock(s, p),
                    "-m", "127.0.0.1:%d" % (SECY_METRICS0 + self.port_index(s, j))])
        for s in self.keys:
            for j, p in self.ports(s):
                name = "macsec-sw-%s-%s" % (s, p)
                self.wait("macsec-sw %s (towards %s)'s control socket" % (self.name[s], self.name[p]),
                          lambda s=s, p=p: self.sw_ctl(s, p, "get-sci") is not None, 30, (name,))
                t = self.tap(s, p)
                self.nsrun(s, ["sysctl", "-q", "-w", "net.ipv6.conf.%s.disable_ipv6=1" % t])
                self.nsrun(s, ["ip", "addr", "add", self.eth_ip(j, s) + "/29", "dev", t], check=True)
                self.nsrun(s, ["ip", "link", "set", t, "up"], check=True)
        say("macsec-sw up: one SecY per Ethernet link end (%d)" % (2 * len(self.eth)))

        agents = []
        for s in self.keys:
            if self.ports(s):
                self.start("mka-agent-" + s, s, [self.bin("mka-agent"), "-d", "-f",
                                                  self.site(s, "mka-agent.conf")])
                agents.append("mka-agent-" + s)
        say("mka-agents started (one per site, a port per Ethernet link)")
        st = self.wait("MKA to secure every Ethernet link", self.all_secured, 90,
                       tuple(agents) + tuple("macsec-sw-%s-%s" % (s, p) for s in self.keys
                                             for _, p in self.ports(s)))
        for j, (x, y) in enumerate(self.eth):
            a = st[j][x]
            say("Ethernet link %s SECURED (%s, CAK %s, CKN %s)"
                % (self.link_name(x, y), a.get("cipher_suite"), a.get("cak_in_use"), a.get("ckn")))
        self.write_env()
        note("env", path=self.env_path())
        return st

    # ---- state -------------------------------------------------------------------------------
    def sw_ctl(self, s, p, *args):
        r = subprocess.run([self.bin("macsec-ctl"), "-s", self.secy_sock(s, p)] + list(args),
                           capture_output=True, text=True, timeout=5)
        return r.stdout if r.returncode == 0 else None

    def mka_ports(self, s):
        """Site s's mka-agent status: {port ifname: {field: value}}."""
        try:
            r = subprocess.run([self.bin("mka-agent"), "-f", self.site(s, "mka-agent.conf"), "status",
                                "--json"], capture_output=True, text=True, timeout=5)
            return {p["port"]: p for p in json.loads(r.stdout)["ports"]} if r.returncode == 0 else {}
        except (OSError, ValueError, KeyError, subprocess.TimeoutExpired):
            return {}

    def link_status(self, j, ports=None):
        """{site: port status} of both ends of Ethernet link j."""
        x, y = self.eth[j]
        ports = ports or {}
        out = {}
        for s, p in ((x, y), (y, x)):
            if s not in ports:
                ports[s] = self.mka_ports(s)
            out[s] = ports[s].get(self.wire(s, p), {})
        return out

    def all_secured(self):
        ports = {}
        st = [self.link_status(j, ports) for j in range(len(self.eth))]
        for j, (x, y) in enumerate(self.eth):
            for s, p in ((x, y), (y, x)):
                if st[j][s].get("state") != "secured":
                    return None
                if not re.search(r"TXSC: \S+ on SA \d", self.sw_ctl(s, p, "show") or ""):
                    return None
        return st

    def lab_env(self):
        e = {"LAB_TOPOLOGY": self.topo.spec, "LAB_SITES": " ".join(self.topo.sites),
             "LAB_MODE": self.mode, "LAB_DIR": self.dir,
             "LAB_RELAY": "yes" if self.relay else "no (%s)" % self.relay_note,
             "CA_CERT": os.path.join(self.pki, "sae-ca.crt"),
             "KME_NET_NS": self.ns["hub"]}
        for s in self.keys:
            S = self.name[s].upper()
            ident, key = self.psk(s)
            e.update({
                "SITE_%s_NS" % S: self.ns[s],
                "KME_%s_ID" % S: self.kme[s],
                "KME_%s_URL" % S: "https://%s:%d" % (self.ip[s], lablib.KME_PORT),
                "KME_%s_ADMIN" % S: "http://127.0.0.1:%d" % lablib.ADMIN_PORT,
                "SAE_%s" % S: self.sae[s],
                "SAE_%s_CERT" % S: os.path.join(self.pki, self.sae[s] + ".crt"),
                "SAE_%s_KEY" % S: os.path.join(self.pki, self.sae[s] + ".key"),
                "SKIP_%s_URL" % S: "https://%s:%d" % (self.ip[s], lablib.SKIP_PORT),
                "SKIP_%s_PSK_ID" % S: ident,
                "SKIP_%s_PSK" % S: key,
                "SKIP_%s_PSK_SESSION" % S: self.site(s, "skip-psk-session.pem"),
                "MKA_STATUS_%s" % S: self.site(s, "mka-agent.sock"),
                "MKA_CONF_%s" % S: self.site(s, "mka-agent.conf"),
                "KEYLOG_%s" % S: self.site(s, "keys.log")})
        e["QKD_LINKS"] = " ".join(self.link_name(*q["sites"]) for q in self.qkd)
        for q in self.qkd:
            n = self.link_name(*q["sites"]).upper().replace("-", "_")
            e["QKD_%s" % n] = " ".join("%s=%s" % (k, q[k]) for k in sorted(q) if k != "sites")
        e["ETH_LINKS"] = " ".join(self.link_name(x, y) for x, y in self.eth)
        for j, (x, y) in enumerate(self.eth):
            n = self.link_name(x, y).upper().replace("-", "_")
            kind, r = self.keying(j)
            e["ETH_%s_KEYING" % n] = kind + ("" if not r else " via " + " ".join(self.kme[k] for k in r))
            for s, p in ((x, y), (y, x)):
                S = self.name[s].upper()
                e["ETH_%s_%s_WIRE" % (n, S)] = self.wire(s, p)
                e["ETH_%s_%s_MACSEC" % (n, S)] = self.tap(s, p)
                e["ETH_%s_%s_IP" % (n, S)] = self.eth_ip(j, s)
                e["ETH_%s_%s_MACSEC_CTL" % (n, S)] = self.secy_sock(s, p)
                e["ETH_%s_%s_METRICS" % (n, S)] = "127.0.0.1:%d" % (SECY_METRICS0 + self.port_index(s, j))
        return e

    def status_lines(self):
        """lab status for an N-site lab: (lines, problems)."""
        lines, problems = [], []
        if self.topo.spec == LEFT_OVER:
            problems.append("namespaces without the lab's state (%s): take it down with scripts/lab down"
                            % self.dir)
        alive = {}
        for pid in self.lab_pids():
            try:
                with open("/proc/%d/comm" % pid) as f:
                    alive.setdefault(f.read().strip(), []).append(pid)
            except OSError:
                pass
        n_eth_ends = 2 * len(self.eth)
        want = {"kme-sim": len(self.keys), "skip-proxy": len(self.keys), "macsec-sw": n_eth_ends,
                "mka-agent": len([s for s in self.keys if self.ports(s)])}
        for d in lablib.DAEMONS:
            n = len(alive.get(d, []))
            lines.append("  %-11s %d of %d running" % (d, n, want[d]))
            if n < want[d]:
                problems.append("%s: %d of %d running" % (d, n, want[d]))
        for s in self.keys:
            m = self.kme_metrics(s)
            peers = []
            for o, q in self.qkd_peers(s):
                up = m and m.get('kme_link_up{peer="%s"}' % self.kme[o]) == 1
                pool = int(m.get('kme_pool_keys{peer="%s"}' % self.kme[o], 0)) if m else 0
                peers.append("%s %s, pool %d" % (self.kme[o], "up" if up else "DOWN", pool))
            lines.append("  site %s (%s): %s; QKD links: %s" % (self.name[s], self.ns[s], self.kme[s],
                                                              "; ".join(peers) or "none"))
        ports = {}
        for j, (x, y) in enumerate(self.eth):
            st = self.link_status(j, ports)
            kind, r = self.keying(j)
            ends = []
            for s in (x, y):
                p = st[s]
                ends.append("%s %s (CAK %s%s)" % (self.name[s], p.get("state", "?"), p.get("cak_in_use", "?"),
                                                  ", fallback" if p.get("fallback") else ""))
                if p.get("state") != "secured":
                    problems.append("Ethernet link %s: site %s not secured" % (self.link_name(x, y),
                                                                              self.name[s]))
            lines.append("  Ethernet %s [%s%s]: %s" % (self.link_name(x, y), kind,
                                                       " via " + ",".join(self.name[k] for k in r) if r else "",
                                                       "; ".join(ends)))
        return lines, problems


def state_topology(lab_dir):
    """The Topology of the N-site lab whose state is lab_dir, or None."""
    try:
        with open(os.path.join(lab_dir, "topology.json")) as f:
            return Topology.from_json(json.load(f))
    except (OSError, ValueError, KeyError):
        return None


def open_lab(**kw):
    """The lab (lablib.Lab or NLab) that is up under the state directory
    and prefix of kw, for lab down and status: an N-site lab when its
    state says so, or when namespaces of one are left without state."""
    probe = lablib.Lab(**kw)
    topo = state_topology(probe.dir)
    if topo is None:
        hub = "%s-%s" % (probe.prefix, HUB)
        names = lablib.netns_list()
        if hub not in names:
            return probe
        sites = sorted(n[len(probe.prefix) + 1:] for n in names
                       if n.startswith(probe.prefix + "-") and n != hub and
                       SITE_NAME.match(n[len(probe.prefix) + 1:]))
        topo = Topology(LEFT_OVER, [x.upper() for x in sites] or ["A", "B"], [], [])
    return NLab(topo, **kw)
