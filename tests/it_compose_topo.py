#!/usr/bin/python3
"""it_compose_topo.py — scripts/compose-topo's files, without a container engine.

For line:3 and ring:4 the generated compose file is YAML with a KME, a
skip-proxy per site and a router at each end of every Ethernet link, on
the networks of the site, of each QKD link and of each Ethernet link, the
images the two-site compose file uses; podman-compose (when installed)
parses it (a dry run).  Every site's kme-sim.conf is accepted by kme-sim -n (the
real daemon, against a PKI made by qkdlab-pki); its [peer], `network` and
[remote] sections match what the namespace lab (labtopo.NLab.kme_conf)
writes for the same topology; a configuration with a relay hop that is no
QKD link is rejected by kme-sim -n.  Bad topologies get labtopo's errors.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import tap  # noqa: E402

sys.path.insert(0, os.path.join(tap.SRC, "scripts"))
import labtopo  # noqa: E402

t = tap.Tap()
CT = os.path.join(tap.SRC, "scripts", "compose-topo")
tmp = tempfile.mkdtemp(prefix="qkdlab-itctopo-")
t.cleanup(lambda: subprocess.run(["rm", "-rf", tmp]))
env = dict(os.environ, QKDLAB_BUILD=tap.BUILD)
with open(os.path.join(tap.SRC, "docker", "docker-compose.yml")) as f:
    TWO = yaml.safe_load(f)["services"]


def ct(*args):
    return subprocess.run([CT] + list(args), capture_output=True, text=True, timeout=120, env=env)


def sections(text):
    """{section header or "": {key: [values]}} of a kme-sim.conf."""
    out, cur = {}, ""
    out[cur] = {}
    for ln in text.splitlines():
        ln = ln.strip()
        if not ln or ln.startswith("#"):
            continue
        if ln.startswith("["):
            cur = ln
            out[cur] = {}
            continue
        k, v = [x.strip() for x in ln.split("=", 1)]
        out[cur].setdefault(k, []).append(v)
    return out


def netns_view(spec, s):
    """The namespace lab's [peer]/network/[remote] for site s, its KME IDs
    (KME_X) and addresses mapped onto the compose lab's (kme-x)."""
    lab = labtopo.NLab.__new__(labtopo.NLab)
    topo = labtopo.parse(spec)
    lab.topo, lab.relay, lab.prefix, lab.pki, lab.dir = topo, True, "p", "/pki", tmp
    lab.keys = [x.lower() for x in topo.sites]
    lab.name = dict(zip(lab.keys, topo.sites))
    lab.kme = {x: "KME_" + lab.name[x].upper() for x in lab.keys}
    lab.sae = {x: labtopo.sae_id(lab.name[x]) for x in lab.keys}
    lab.ip = {x: "ip-" + x for x in lab.keys}
    lab.eth = [(x.lower(), y.lower()) for x, y in topo.eth]
    lab.qkd = [dict(q, sites=(q["sites"][0].lower(), q["sites"][1].lower())) for q in topo.qkd]
    lab.site = lambda x, f: f
    text = lab.kme_conf(s, relay=True)
    text = re.sub(r"KME_([A-H])", lambda m: "kme-" + m.group(1).lower(), text)
    text = re.sub(r"ip-([a-h]):\d+", r"kme-\1:7443", text)
    d = sections(text)
    return d[""]["network"], {k: v for k, v in d.items() if k}


for spec, sites, nlinks in (("line:3", "abc", 3), ("ring:4", "abcd", 4)):
    out = os.path.join(tmp, spec.replace(":", ""))
    r = ct("check", "--topology", spec, "-o", out)
    t.ok(r.returncode == 0 and "kme-sim -n accepts" in r.stdout,
         "%s: written, and kme-sim -n accepts every site's kme-sim.conf" % spec, r.stdout + r.stderr)
    if shutil.which("podman-compose"):
        t.ok("parses, %d services" % (1 + 2 * len(sites) + 2 * nlinks) in r.stdout,
             "%s: podman-compose --dry-run up parses the compose file" % spec, r.stdout)
    with open(os.path.join(out, "docker-compose.yml")) as f:
        doc = yaml.safe_load(f)
    svcs = doc["services"]
    want = {"pki"} | {"kme-" + s for s in sites} | {"skip-" + s for s in sites}
    topo = labtopo.parse(spec)
    for x, y in topo.eth:
        want |= {"router-%s-%s" % (x.lower(), y.lower()), "router-%s-%s" % (y.lower(), x.lower())}
    t.ok(set(svcs) == want and len(topo.eth) == nlinks, "%s: services %s" % (spec, " ".join(sorted(svcs))),
         "want %s" % sorted(want))
    imgs = {n: s["image"] for n, s in svcs.items()}
    same = all(imgs[n] == TWO[re.sub(r"^(kme|skip|router)-.*", r"\1-a", n)]["image"] for n in svcs)
    t.ok(same, "%s: every service runs the two-site compose file's image" % spec, imgs)
    nets = set(doc["networks"])
    wantnets = {"site-" + s for s in sites} | {"mgmt"} | \
        {"qkd-%s-%s" % (x.lower(), y.lower()) for x, y in topo.qkd_pairs()} | \
        {"eth-%s-%s" % (x.lower(), y.lower()) for x, y in topo.eth}
    t.ok(nets == wantnets and all(d["internal"] for d in doc["networks"].values()),
         "%s: internal networks per site, QKD link and Ethernet link" % spec, sorted(nets))
    subnets = [d["ipam"]["config"][0]["subnet"] for d in doc["networks"].values()]
    t.ok(len(set(subnets)) == len(subnets), "%s: no two networks share a subnet" % spec, subnets)
    ok = True
    for x, y in topo.qkd_pairs():
        n = "qkd-%s-%s" % (x.lower(), y.lower())
        on = {k for k, s in svcs.items() if n in s["networks"]}
        ok = ok and on == {"kme-" + x.lower(), "kme-" + y.lower()}
    for x, y in topo.eth:
        n = "eth-%s-%s" % (x.lower(), y.lower())
        on = {k for k, s in svcs.items() if n in s["networks"]}
        ok = ok and on == {"router-%s-%s" % (x.lower(), y.lower()), "router-%s-%s" % (y.lower(), x.lower())}
        r1 = svcs["router-%s-%s" % (x.lower(), y.lower())]["environment"]
        ok = ok and r1["WIRE_SUBNET"] == doc["networks"][n]["ipam"]["config"][0]["subnet"]
    t.ok(ok, "%s: a QKD link's network holds its two KMEs, an Ethernet link's its two routers" % spec)
    same = True
    for s in sites:
        with open(os.path.join(out, "conf", "kme-%s.conf" % s)) as f:
            d = sections(f.read())
        net, secs = netns_view(spec, s)
        mine = {k: v for k, v in d.items() if k}
        same = same and d[""]["network"] == net and mine == secs
        if not same:
            t.diag("site %s: compose %s %s\nnetns %s %s" % (s, d[""]["network"], mine, net, secs))
            break
    t.ok(same, "%s: network, [peer] and [remote] as the namespace lab writes them" % spec)
    if spec == "line:3":
        with open(os.path.join(out, "conf", "kme-a.conf")) as f:
            a = sections(f.read())
        t.ok(a.get("[remote kme-c]", {}).get("route") == ["kme-b"],
             "line:3: kme-a reaches kme-c through kme-b", a)
        with open(os.path.join(out, "conf", "skip-a.conf")) as f:
            t.ok(re.findall(r"(?m)^remote_system_id = (.*)$", f.read()) == ["SAE_B_01", "SAE_C_01"],
                 "line:3: skip-a serves the SAEs of both of site A's Ethernet peers")

# kme-sim -n is a real check: a route hop that is no QKD link fails it.
bad = os.path.join(tmp, "bad")
r = ct("gen", "--topology", "line:3", "-o", bad)
p = os.path.join(bad, "conf", "kme-a.conf")
with open(p) as f:
    text = f.read()
with open(p, "w") as f:
    f.write(text.replace("network = kme-a:kme-b kme-b:kme-c", "network = kme-a:kme-b kme-a:kme-c"))
sys.path.insert(0, os.path.join(tap.SRC, "scripts"))
r = subprocess.run([sys.executable, "-c", "import importlib.machinery as m, sys; "
                    "c = m.SourceFileLoader('ct', sys.argv[1]).load_module(); c.kme_check(sys.argv[2])",
                    CT, bad], capture_output=True, text=True, timeout=120, env=env)
t.ok(r.returncode != 0 and "kme-a.conf" in r.stderr, "kme-sim -n rejects a network that contradicts the [remote] route",
     r.stdout + r.stderr)

for spec, msg in (("ring:2", "a ring has 3 to 8 sites"), ("line:9", "not 9"), ("mesh:3", "not line:N"),
                  (os.path.join(tmp, "none.toml"), "No such file")):
    r = ct("gen", "--topology", spec, "-o", os.path.join(tmp, "x"))
    t.ok(r.returncode == 1 and msg in r.stderr and "Traceback" not in r.stderr,
         "bad topology %s: labtopo's error" % spec, r.stderr)
r = ct("--help")
t.ok(r.returncode == 0 and "--topology" in r.stdout, "--help")
