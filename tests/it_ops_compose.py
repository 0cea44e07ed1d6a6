#!/usr/bin/python3
"""it_ops_compose.py — the container lab's files, without a container engine.

scripts/lab-compose takes the Debian mirror for its base image from the
host's apt sources: one-line sources.list (with [options]) and *.list
files, deb822 *.sources stanzas (Enabled: no skipped, non-Debian
repositories such as NodeSource skipped), the -security suite's own mirror;
QKDLAB_DEBIAN_MIRROR overrides; deb.debian.org when the host names none.
The compose files carry no obsolete `version:` key; the bring-your-own-
router override sets every setting the stand-in's entrypoint requires;
kme-sim's admin_allow is the internal mgmt network; the dashboard's and
Prometheus's addresses are services on mgmt, their pages published on
127.0.0.1 only; the containerlab
topology uses no `volumes` node key (containerlab 0.79) and states the
release it needs for the keys it uses (containerlab's own history: the node
key privileged from 0.78.0).
"""
import os
import re
import subprocess
import sys
import tempfile

import yaml

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import tap  # noqa: E402

t = tap.Tap()
LC = os.path.join(tap.SRC, "scripts", "lab-compose")
tmp = tempfile.mkdtemp(prefix="qkdlab-itcompose-")
t.cleanup(lambda: subprocess.run(["rm", "-rf", tmp]))


def apt_etc(name, files):
    root = os.path.join(tmp, name)
    os.makedirs(os.path.join(root, "sources.list.d"))
    for rel, text in files.items():
        with open(os.path.join(root, rel), "w") as f:
            f.write(text)
    return root


def mirror(root, **env):
    e = {k: v for k, v in os.environ.items() if not k.startswith("QKDLAB_DEBIAN") and k != "http_proxy"}
    e.update(env, QKDLAB_APT_ETC=root)
    r = subprocess.run([LC, "mirror"], env=e, capture_output=True, text=True, timeout=30)
    got = dict(ln.split(" ", 1) for ln in r.stdout.splitlines() if " " in ln)
    return r.returncode, got.get("mirror"), got.get("security"), r.stderr


deb822 = apt_etc("deb822", {
    "sources.list.d/nodesource.sources":
        "Types: deb\nURIs: https://deb.nodesource.com/node_20.x\nSuites: nodistro\nComponents: main\n",
    "sources.list.d/debian.sources":
        "# a local mirror\nTypes: deb deb-src\nURIs: http://mirror.example.test/debian/\n"
        "Suites: bookworm bookworm-updates\nComponents: main\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n"
        "Types: deb\nURIs: http://disabled.example.test/debian-security\nSuites: bookworm-security\n"
        "Components: main\nEnabled: no\n\n"
        "Types: deb\nURIs: http://security.example.test/debian-security\nSuites: bookworm-security\n"
        "Components: main\nSigned-By:\n -----BEGIN PGP PUBLIC KEY BLOCK-----\n .\n -----END PGP PUBLIC KEY BLOCK-----\n",
})
rc, m, s, err = mirror(deb822)
t.eq((rc, m, s), (0, "http://mirror.example.test/debian", "http://security.example.test/debian-security"),
     "deb822 .sources: the Debian stanza's mirror, the enabled -security stanza's, NodeSource skipped")

oneline = apt_etc("oneline", {
    "sources.list": "# deb http://commented.example.test/debian bookworm main\n"
                    "deb [arch=amd64 signed-by=/usr/share/keyrings/x.gpg] http://10.0.0.5:3142/debian bookworm main\n"
                    "deb-src http://src.example.test/debian bookworm main\n",
    "sources.list.d/security.list": "deb http://10.0.0.5:3142/debian-security bookworm-security main\n",
})
rc, m, s, err = mirror(oneline)
t.eq((rc, m, s), (0, "http://10.0.0.5:3142/debian", "http://10.0.0.5:3142/debian-security"),
     "one-line sources.list with [options] and a .list file (an apt proxy's address)")

rc, m, s, err = mirror(oneline, QKDLAB_DEBIAN_MIRROR="http://override.example.test/debian")
t.eq(m, "http://override.example.test/debian", "QKDLAB_DEBIAN_MIRROR overrides the host's sources")

none = apt_etc("none", {"sources.list.d/google.list": "deb https://packages.cloud.google.com/apt cloud-sdk main\n"})
rc, m, s, err = mirror(none)
t.eq((m, s), ("http://deb.debian.org/debian", "http://deb.debian.org/debian-security"),
     "no Debian source on the host: deb.debian.org")

# This host's own apt sources, read independently with apt-get.
r = subprocess.run(["apt-get", "indextargets", "--format", "$(REPO_URI) $(RELEASE)", "Created-By: Packages"],
                   capture_output=True, text=True, timeout=30)
host = [ln.split() for ln in r.stdout.splitlines() if len(ln.split()) == 2]
want = next((u.rstrip("/") for u, rel in host
             if re.match(r"^(bookworm|trixie|bullseye|forky|sid|stable|testing|unstable|oldstable)$", rel)
             and re.match(r"^(https?|file):", u)), None)
rc, m, s, err = mirror("/etc/apt")
if want is None:
    t.skip("the host's mirror matches apt-get indextargets", "apt knows no Debian suite here")
else:
    t.eq(m, want, "the host's mirror matches apt-get indextargets")

# ---- the compose and containerlab files ----------------------------------
for name in ("docker-compose.yml", "compose.smoke.yml"):
    with open(os.path.join(tap.SRC, "docker", name)) as f:
        doc = yaml.safe_load(f)
    t.ok("version" not in doc and "services" in doc, "%s has services and no obsolete version: key" % name)
# ---- the override, the dashboard's and Prometheus's configurations ----------
D = os.path.join(tap.SRC, "docker")
with open(os.path.join(D, "docker-compose.yml")) as f:
    compose = yaml.safe_load(f)
with open(os.path.join(D, "byo-router.override.yml")) as f:
    override = yaml.safe_load(f)
with open(os.path.join(D, "bin", "byo-router")) as f:
    m = re.search(r"^REQUIRED=\(([^)]*)\)", f.read(), re.M)
required = set(m.group(1).split()) if m else set()
env = override["services"]["router-b"]["environment"]
t.ok(required and required <= set(env), "the override sets every setting byo-router requires",
     sorted(required - set(env)))
t.eq(env.get("WIRE_SUBNET"), compose["networks"]["wire"]["ipam"]["config"][0]["subnet"],
     "the override's WIRE_SUBNET is the wire network's subnet")
mgmt = compose["networks"]["mgmt"]
mgmt_net = mgmt["ipam"]["config"][0]["subnet"]
t.ok(mgmt.get("internal") is True, "the mgmt network is internal")
for k in ("kme-a", "kme-b"):
    with open(os.path.join(D, "conf", "%s.conf" % k)) as f:
        conf = dict(re.findall(r"^(\w+) = (.*)$", f.read(), re.M))
    t.eq(conf.get("admin_allow"), mgmt_net, "%s's admin_allow is the mgmt network and nothing else" % k)
svc = compose["services"]
with open(os.path.join(D, "conf", "qkdlab-dash.conf")) as f:
    hosts = re.findall(r"^\w+_(?:admin|metrics) = ([\w-]+):\d+$", f.read(), re.M)
t.ok(hosts and all("mgmt" in svc.get(h, {}).get("networks", []) for h in hosts),
     "every address of qkdlab-dash.conf is a service on mgmt", hosts)
with open(os.path.join(D, "conf", "prometheus.yml")) as f:
    prom = yaml.safe_load(f)
targets = [tg for j in prom["scrape_configs"] for c in j["static_configs"] for tg in c["targets"]]
t.ok(all(tg.startswith("localhost:") or "mgmt" in svc.get(tg.split(":")[0], {}).get("networks", [])
         for tg in targets), "every Prometheus target is a service on mgmt (or itself)", targets)
for name in ("dash", "prometheus"):
    ports = svc[name].get("ports", [])
    t.ok(ports and all(p.startswith("127.0.0.1:") for p in ports),
         "%s is published on the host's 127.0.0.1 only" % name, ports)

clab_path = os.path.join(tap.SRC, "docker", "qkdlab.clab.yml")
with open(clab_path) as f:
    text = f.read()
clab = yaml.safe_load(text)
nodes = clab["topology"]["nodes"]
keys = set(clab["topology"].get("defaults", {}))
for n in nodes.values():
    keys |= set(n)
t.ok("volumes" not in keys, "the containerlab topology uses no volumes node key (containerlab 0.79)", sorted(keys))
# The release each node key needs, from containerlab's git history.
since = {"privileged": (0, 78, 0), "cap-add": (0, 68, 0), "devices": (0, 68, 0), "stages": (0, 51, 0),
         "healthcheck": (0, 49, 0), "sysctls": (0, 26, 0)}
need = max([v for k, v in since.items() if k in keys] + [(0, 0, 0)])
m = re.search(r"Needs containerlab >= (\d+)\.(\d+)\.(\d+)", text)
t.ok(m is not None and tuple(map(int, m.groups())) >= need,
     "the topology states the containerlab release its keys need (>= %d.%d.%d)" % need,
     m and m.group(0))
binds = [b for n in nodes.values() for b in n.get("binds", [])]
t.ok(all(b.startswith("./") or b.startswith("/") for b in binds), "every bind names a host path", binds)
t.done()
