#!/usr/bin/python3
"""it_lab_nsite.py — `scripts/lab up --topology` labs of several sites.

With a namespace prefix and state directory of its own:

  1. Bad topologies and parameters (unknown site in a link, a site named
     twice, N out of range, a bad physical parameter, malformed TOML) get
     a clear error naming the fault, and leave nothing behind.
  2. line:3 and ring:4 come up; lab status says every daemon runs and
     every Ethernet link is secured; a ping crosses every Ethernet link,
     and the SecYs at both ends count it as encrypted MACsec frames; lab
     down leaves no namespace, link, process or file (compared with
     before).
  3. The eavesdropper, on the three-site example topology: an eavesdropper
     on the QKD link A-B (qkdlab-link eve) lifts its QBER above the abort
     threshold; once the pool is spent, enc_keys for B gets 503 naming the
     QBER; the MACsec link A-B keeps its key, then runs on its fallback
     CAK (mka-agent status) with traffic passing; the fault cleared, it
     returns to a fresh QKD CAK.  The same for A-C, keyed by relay through
     KME_B, when kme-sim offers relay (otherwise that part is skipped,
     naming the missing kme-sim feature).
"""
import json
import os
import re
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True      # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import tap  # noqa: E402

t = tap.Tap()
tap.require_root(t)
tap.require_bins(t, "kme-sim/kme-sim", "skip-proxy/skip-proxy", "macsec-sw/macsec-sw",
                 "macsec-sw/macsec-ctl", "mka-agent/mka-agent")
sys.path.insert(0, os.path.join(tap.SRC, "scripts"))
import lablib  # noqa: E402
import labtopo  # noqa: E402

LAB = os.path.join(tap.SRC, "scripts", "lab")
LINK = os.path.join(tap.SRC, "scripts", "qkdlab-link")
EXAMPLE = os.path.join(tap.SRC, "docs", "examples", "three-site.toml")
tmp = tempfile.mkdtemp(prefix="qkdlab-itnsite-")
os.chmod(tmp, 0o755)
t.cleanup(lambda: subprocess.run(["rm", "-rf", tmp]))
prefix = "qns%d" % (os.getpid() % 100000)
state = os.path.join(tmp, "lab")
env = dict(os.environ, QKDLAB_LAB_DIR=state, QKDLAB_LAB_NS=prefix, QKDLAB_BUILD=tap.BUILD)
env.pop("QKDLAB_LAB_MODE", None)


def cleanup():
    labtopo.open_lab(state=state, prefix=prefix, build=tap.BUILD).down()


t.cleanup(cleanup)


def labcmd(*args, timeout=240):
    return subprocess.run([LAB] + list(args), env=env, capture_output=True, text=True, timeout=timeout)


def snapshot():
    """What a lab could leave behind: namespaces of our prefix, links of
    the root namespace, processes naming our state directory."""
    ns = {n for n in lablib.netns_list() if n.startswith(prefix + "-")}
    r = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True)
    links = {ln.split(":")[1].strip().split("@")[0] for ln in r.stdout.splitlines()}
    links = {x for x in links if re.match(r"^(w-|m-|k-|kmelink|kmenet)", x) or prefix in x}
    procs = set()
    for pid in os.listdir("/proc"):
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                if state.encode() in f.read():
                    procs.add(int(pid))
        except (OSError, ValueError):
            pass
    procs.discard(os.getpid())
    return {"namespaces": ns, "links": links, "processes": procs, "state": os.path.exists(state)}


def env_of():
    return lablib.load_env(os.path.join(state, "lab.env"))


def ns_run(ns, argv, timeout=30):
    return subprocess.run(["ip", "netns", "exec", ns] + argv, capture_output=True, text=True, timeout=timeout)


def secy_encrypted(ns, addr):
    """Octets the SecY at addr (its metrics, in namespace ns) sent
    encrypted and received decrypted (SecY counters, which outlive SAs)."""
    r = ns_run(ns, ["curl", "-s", "-m", "3", "http://%s/metrics" % addr])
    m = lablib.parse_metrics(r.stdout)
    return (lablib.metric(m, "macsec_out_octets_encrypted_total") or 0,
            lablib.metric(m, "macsec_in_octets_decrypted_total") or 0)


def check_links(tag, e):
    """Every Ethernet link: a ping from one end to the other, counted by
    the SecYs of both ends as MACsec frames."""
    for link in e["ETH_LINKS"].split():
        x, y = link.split("-")
        n = link.replace("-", "_")
        nsx, nsy = e["SITE_%s_NS" % x], e["SITE_%s_NS" % y]
        bx = secy_encrypted(nsx, e["ETH_%s_%s_METRICS" % (n, x)])
        by = secy_encrypted(nsy, e["ETH_%s_%s_METRICS" % (n, y)])
        r = ns_run(nsx, ["ping", "-c", "5", "-i", "0.2", "-W", "2", e["ETH_%s_%s_IP" % (n, y)]])
        ax = secy_encrypted(nsx, e["ETH_%s_%s_METRICS" % (n, x)])
        ay = secy_encrypted(nsy, e["ETH_%s_%s_METRICS" % (n, y)])
        # Five echo requests and replies of 64 octets of ICMP each.
        t.ok(r.returncode == 0 and " 0% packet loss" in r.stdout and
             min(ax[0] - bx[0], ay[1] - by[1], ay[0] - by[0], ax[1] - bx[1]) >= 5 * 64,
             "%s: Ethernet link %s (%s) carries a ping as MACsec both ways"
             % (tag, link, e["ETH_%s_KEYING" % n]),
             "%s\nSecY %s %r -> %r, %s %r -> %r" % (r.stdout + r.stderr, x, bx, ax, y, by, ay))


# 1. Refusals: each leaves nothing behind.
before = snapshot()
bad = {
    "unknown-site.toml": ('sites = ["A", "B"]\n[[qkd]]\nsites = ["A", "B"]\n[[ethernet]]\nsites = ["A", "D"]\n',
                          r"Ethernet link 1: no site 'D' in this topology \(sites: A, B\)"),
    "duplicate.toml": ('sites = ["A", "B", "a"]\n[[qkd]]\nsites = ["A", "B"]\n',
                       r"site a is named twice"),
    "too-many.toml": ('sites = ["A", "B", "C", "D", "E", "F", "G", "H", "I"]\n', r"9 sites; a lab has 2 to 8"),
    "bad-number.toml": ('sites = ["A", "B"]\n[[qkd]]\nsites = ["A", "B"]\nfibre_length_km = "far"\n',
                        r"QKD link 1 \(A-B\): fibre_length_km must be a number, not 'far'"),
    "bad-range.toml": ('sites = ["A", "B"]\n[[qkd]]\nsites = ["A", "B"]\npreset = "gys"\n'
                       'fibre_length_km = -5\n[[ethernet]]\nsites = ["A", "B"]\n',
                       r"kme-sim refuses the configuration of site A: .*fibre_length_km"),
    "malformed.toml": ('sites = ["A", "B"\n[[qkd]]\n', r"is not valid TOML"),
    "unknown-key.toml": ('sites = ["A", "B"]\n[[qkd]]\nsites = ["A", "B"]\nfiber_km = 3\n',
                         r"QKD link 1: unknown key 'fiber_km'"),
}
for name, (text, want) in sorted(bad.items()):
    path = os.path.join(tmp, name)
    with open(path, "w") as f:
        f.write(text)
    r = labcmd("up", "--topology", path)
    t.ok(r.returncode == 1 and re.search(want, r.stderr) and "Traceback" not in r.stderr,
         "bad topology %s: a clear error (%s)" % (name, want.replace("\\", "")), r.stdout + r.stderr)
for spec, want in (("line:9", r"a line has 2 to 8 sites, not 9"), ("line:1", r"a line has 2 to 8 sites, not 1"),
                   ("ring:2", r"a ring has 3 to 8 sites, not 2"), ("line:x", r"N must be a number"),
                   ("star:3", r"not line:N, ring:N or a topology file")):
    r = labcmd("up", "--topology", spec)
    t.ok(r.returncode == 1 and re.search(want, r.stderr) and "Traceback" not in r.stderr,
         "bad topology %s: a clear error" % spec, r.stdout + r.stderr)
after = snapshot()
t.ok(after == before and not after["state"], "the refusals leave nothing behind", "before %r\nafter %r"
     % (before, after))

# 2. line:3 and ring:4.
for spec, nsites, eth in (("line:3", 3, "A-B B-C A-C"), ("ring:4", 4, "A-B B-C C-D D-A")):
    before = snapshot()
    t0 = time.monotonic()
    r = labcmd("up", "--topology", spec)
    up_s = time.monotonic() - t0
    t.ok(r.returncode == 0 and "lab is up" in r.stdout, "%s: lab up (%.1f s)" % (spec, up_s),
         r.stdout + r.stderr)
    if r.returncode != 0:
        cleanup()
        continue
    e = env_of()
    t.ok(e.get("LAB_SITES") == " ".join("ABCDEFGH"[:nsites]) and e.get("ETH_LINKS") == eth,
         "%s: lab.env names %d sites and the Ethernet links %s" % (spec, nsites, eth),
         "%r %r" % (e.get("LAB_SITES"), e.get("ETH_LINKS")))
    if spec == "line:3":
        if e.get("LAB_RELAY") == "yes":
            t.eq(e.get("ETH_A_C_KEYING"), "relay via KME_B", "line:3: A-C is keyed by relay through KME_B")
        else:
            t.skip("line:3: A-C is keyed by relay through KME_B",
                   "kme-sim has no trusted-node relay (the network key and [remote] sections): %s"
                   % e.get("LAB_RELAY"))
    st = labcmd("status")
    t.ok(st.returncode == 0 and "lab status: OK" in st.stdout and
         st.stdout.count("secured (CAK") == 2 * len(eth.split()) and
         ("[relay via B]" in st.stdout) == (spec == "line:3" and e.get("LAB_RELAY") == "yes") and
         "mka-agent   %d of %d running" % (nsites, nsites) in st.stdout,
         "%s: lab status: every daemon runs, every Ethernet link end is secured" % spec, st.stdout + st.stderr)
    check_links(spec, e)
    r = labcmd("down")
    left = snapshot()
    t.ok(r.returncode == 0 and left == before and not left["state"],
         "%s: lab down leaves nothing behind (namespaces, links, processes, files)" % spec,
         "%s\nbefore %r\nafter %r" % (r.stdout + r.stderr, before, left))

# 3. The eavesdropper on A-B.
r = labcmd("up", "--topology", EXAMPLE)
t.ok(r.returncode == 0, "three-site example topology: lab up", r.stdout + r.stderr)
if r.returncode != 0:
    t.done()
    sys.exit(1)
e = env_of()
NS = {s: e["SITE_%s_NS" % s] for s in "ABC"}
relay = e.get("LAB_RELAY") == "yes"
links = ["A-B"] + (["A-C"] if relay else [])
if not relay:
    t.skip("A-C keyed by relay through KME_B: eavesdropper sequence",
           "kme-sim has no trusted-node relay (the network key and [remote] sections): %s" % e.get("LAB_RELAY"))


def port(site, peer):
    """mka-agent status of site's port towards peer."""
    r = subprocess.run([tap.binpath("mka-agent/mka-agent"), "-f", e["MKA_CONF_%s" % site], "status", "--json"],
                       capture_output=True, text=True, timeout=10)
    try:
        return {p["port"]: p for p in json.loads(r.stdout)["ports"]}.get("w-" + peer.lower(), {})
    except (ValueError, KeyError):
        return {}


def ends(link):
    x, y = link.split("-")
    return port(x, y), port(y, x)


def enc_keys(slave):
    """enc_keys at KME_A as SAE A for slave (curl): (HTTP status, body)."""
    r = ns_run(NS["A"], ["curl", "-s", "-m", "10", "-w", "\n%{http_code}", "--cacert", e["CA_CERT"],
                         "--cert", e["SAE_A_CERT"], "--key", e["SAE_A_KEY"],
                         "%s/api/v1/keys/%s/enc_keys?number=1" % (e["KME_A_URL"], slave)])
    body, _, code = r.stdout.rpartition("\n")
    return int(code or 0), body


def ping(link, n=10):
    x, y = link.split("-")
    k = link.replace("-", "_")
    return ns_run(NS[x], ["ping", "-c", str(n), "-i", "0.2", "-W", "2", e["ETH_%s_%s_IP" % (k, y)]])


qkd_ckn = {ln: ends(ln)[0].get("ckn") for ln in links}
t.ok(all(ends(ln)[0].get("cak_in_use") == "etsi014" and ends(ln)[1].get("cak_in_use") == "etsi014"
         for ln in links), "before the fault: %s on QKD CAKs" % ", ".join(links),
     repr({ln: ends(ln) for ln in links}))
r = ns_run(NS["A"], [LINK, "-p", e["KME_B_ID"], "eve", "0.8"])
t.ok(r.returncode == 0 and "QBER above the abort threshold" in r.stdout,
     "qkdlab-link eve 0.8 on A-B: QBER above the abort threshold, key production stops", r.stdout + r.stderr)
t_eve = time.monotonic()
# The pool holds at most max_key_count keys: spend them as another
# application would; then the next request says why there are none.
codes = []
for _ in range(12):
    code, body = enc_keys(e["SAE_B"])
    codes.append(code)
    if code != 200:
        break
t.ok(code == 503 and re.search(r"QKD link KME_A-KME_B halted: QBER [0-9.]+ above abort threshold", body),
     "enc_keys for SAE B: 503 naming the QBER above the abort threshold", "%r %s" % (codes, body))
if relay:
    code, body = enc_keys(e["SAE_C"])
    t.ok(code == 503 and "QBER" in body and "KME_A-KME_B" in body,
         "enc_keys for SAE C (relayed through KME_B): 503 naming A-B's QBER", "%d %s" % (code, body))


def on_fallback(ln):
    a, b = ends(ln)
    return all(p.get("state") == "secured" and p.get("cak_in_use") == "fallback" and p.get("fallback")
               for p in (a, b))


# cak_lifetime 5 s + fallback_after 6 s after the last fresh key, a few
# ticks, and a loaded machine.
for ln in links:
    ok = tap.wait_for(lambda ln=ln: on_fallback(ln), timeout=60, interval=0.5)
    t.ok(ok, "%s: on its fallback CAK at both ends %.0f s after the eavesdropper (mka-agent status)"
         % (ln, time.monotonic() - t_eve), repr(ends(ln)))
    r = ping(ln)
    t.ok(r.returncode == 0 and " 0% packet loss" in r.stdout, "%s: traffic passes on the fallback CAK" % ln,
         r.stdout + r.stderr)
r = ns_run(NS["A"], [LINK, "-p", e["KME_B_ID"], "clear"])
t.ok(r.returncode == 0 and "faults: none" in r.stdout, "qkdlab-link clear: the eavesdropper is gone",
     r.stdout + r.stderr)


def back_on_qkd(ln):
    a, b = ends(ln)
    return all(p.get("state") == "secured" and p.get("cak_in_use") == "etsi014" and not p.get("fallback")
               for p in (a, b)) and a.get("ckn") == b.get("ckn")


for ln in links:
    ok = tap.wait_for(lambda ln=ln: back_on_qkd(ln), timeout=60, interval=0.5)
    a, _ = ends(ln)
    t.ok(ok and a.get("ckn") not in (qkd_ckn[ln], "") and not a.get("ckn", "").startswith("66616c6c"),
         "%s: back on a fresh QKD CAK (CKN %s)" % (ln, a.get("ckn")), repr(ends(ln)))
    r = ping(ln)
    t.ok(r.returncode == 0 and " 0% packet loss" in r.stdout, "%s: traffic passes on the QKD CAK" % ln,
         r.stdout + r.stderr)
r = labcmd("down")
t.ok(r.returncode == 0 and not snapshot()["namespaces"], "lab down", r.stdout + r.stderr)
t.done()
