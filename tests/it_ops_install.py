#!/usr/bin/python3
"""it_ops_install.py — `make install` and the conventions every program
shares.

Installed into a prefix of the test's own: every program, a section 8 (or
1) page for each with an EXIT STATUS section, the systemd units (checked
with systemd-analyze verify, the man pages they cite found), the sample
configurations.  Every program answers --version with one and the same
version (the VERSION file's, as `make` sets it) and exit 0, and a bad
command line with exit 2.  The samples, with the paths of a PKI made by
qkdlab-pki, pass each daemon's -n check; the units' CapabilityBoundingSet
is exactly what each daemon keeps (priv_drop) as the kernel reports it in
/proc/PID/status for a running daemon.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import tap  # noqa: E402

t = tap.Tap()
tmp = tempfile.mkdtemp(prefix="qkdlab-itinstall-")
t.cleanup(lambda: subprocess.run(["rm", "-rf", tmp]))
prefix = os.path.join(tmp, "usr")
r = subprocess.run(["make", "-s", "-C", tap.SRC, "install", "B=" + os.path.abspath(tap.BUILD), "PREFIX=" + prefix],
                   capture_output=True, text=True, timeout=600)
t.ok(r.returncode == 0, "make install PREFIX=... exits 0", r.stdout[-2000:] + r.stderr[-2000:])
if r.returncode != 0:
    t.done()
    sys.exit(1)

sbin = sorted(os.listdir(os.path.join(prefix, "sbin")))
binp = sorted(os.listdir(os.path.join(prefix, "bin")))
t.eq(sbin, ["kme-sim", "macsec-ctl", "macsec-sw", "mka-agent", "qkdlab-dash", "qkdlab-key", "qkdlab-mkagrade",
           "qkdlab-skip-probe",
           "skip-proxy"],
     "the daemons, macsec-ctl, qkdlab-dash and qkdlab-key in sbin")
t.ok("qkdlab-pki" in binp, "qkdlab-pki in bin", binp)
man = os.path.join(prefix, "share", "man")
for sect, progs in (("8", sbin), ("1", binp)):
    for p in progs:
        page = os.path.join(man, "man" + sect, "%s.%s" % (p, sect))
        text = open(page).read() if os.path.exists(page) else ""
        t.ok(re.search(r'^\.SH "?EXIT STATUS"?$', text, re.M) and "2 on a bad command line" in text,
             "%s(%s) is installed with an EXIT STATUS section (2: bad command line)" % (p, sect))

# ---- --version and exit 2 ------------------------------------------------
with open(os.path.join(tap.SRC, "VERSION")) as f:
    base = f.read().strip()
versions = {}
for p in [os.path.join(prefix, "sbin", x) for x in sbin] + [os.path.join(prefix, "bin", x) for x in binp]:
    name = os.path.basename(p)
    r = subprocess.run([p, "--version"], capture_output=True, text=True, timeout=10)
    m = re.fullmatch(r"%s \(qkdlab\) (\S+)\n" % re.escape(name), r.stdout)
    t.ok(r.returncode == 0 and m is not None, "%s --version: '%s (qkdlab) VERSION', exit 0" % (name, name),
         r.stdout + r.stderr)
    versions[name] = m.group(1) if m else None
    r = subprocess.run([p, "--no-such-option"], capture_output=True, text=True, timeout=10)
    t.ok(r.returncode == 2 and "usage" in r.stderr.lower(), "%s: a bad option is exit 2 with usage" % name,
         "%d %s" % (r.returncode, r.stderr[-300:]))
t.ok(len(set(versions.values())) == 1 and all(v and v.startswith(base) for v in versions.values()),
     "one version string for every program, from VERSION (%s)" % base, versions)

# ---- systemd units ---------------------------------------------------------
unitdir = os.path.join(prefix, "lib", "systemd", "system")
units = sorted(os.listdir(unitdir))
t.eq(units, ["kme-sim.service", "macsec-sw.service", "mka-agent.service", "skip-proxy.service"],
     "a unit per daemon")
analyze = shutil.which("systemd-analyze")
for u in units:
    text = open(os.path.join(unitdir, u)).read()
    d = u[:-len(".service")]
    t.ok(re.search(r"^Type=notify$", text, re.M) and
         re.search(r"^ExecStart=%s -d -f /etc/qkdlab/%s\.conf$" % (re.escape(os.path.join(prefix, "sbin", d)), d),
                   text, re.M), "%s: Type=notify, the installed daemon in the foreground" % u)
    if analyze is None:
        t.skip("%s: systemd-analyze verify" % u, "systemd-analyze is not installed")
        continue
    r = subprocess.run([analyze, "verify", os.path.join(unitdir, u)], capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, MANPATH=man))
    t.ok(r.returncode == 0 and not r.stderr.strip(), "%s: systemd-analyze verify is clean" % u, r.stderr)

# ---- the samples pass -n with a real PKI ------------------------------------
ex = os.path.join(prefix, "share", "doc", "qkdlab", "examples")
pki = os.path.join(tmp, "pki")
r = subprocess.run([os.path.join(prefix, "bin", "qkdlab-pki"), "-d", pki, "-k", "KME_A", "-k", "KME_B",
                    "-s", "SAE_A", "-s", "SAE_B"], capture_output=True, text=True, timeout=120)
t.eq(r.returncode, 0, "qkdlab-pki makes the sample's PKI")
psk = os.path.join(tmp, "skip.psk")
with open(psk, "w") as f:
    f.write("router-a:%s\n" % os.urandom(32).hex())
os.chmod(psk, 0o600)


def sample(name):
    with open(os.path.join(ex, name + ".conf")) as f:
        text = f.read()
    text = text.replace("/etc/qkdlab/pki", pki).replace("/etc/qkdlab/skip-proxy.psk", psk)
    text = text.replace("/var/lib/qkdlab", tmp).replace("/run/qkdlab", tmp)
    # Loopback only, and kme-sim and skip-proxy side by side in one namespace.
    text = re.sub(r"kme-[ab]\.example\.net", "127.0.0.1", text)
    text = text.replace("port = 443", "port = 8443").replace("127.0.0.1:443\n", "127.0.0.1:8443\n")
    path = os.path.join(tmp, name + ".conf")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.write(fd, text.encode())
    os.close(fd)
    return path


for d in ("kme-sim", "skip-proxy", "mka-agent", "macsec-sw"):
    r = subprocess.run([os.path.join(prefix, "sbin", d), "-n", "-f", sample(d)], capture_output=True, text=True,
                       timeout=30)
    t.ok(r.returncode == 0, "%s -n accepts the installed sample (with this PKI's paths)" % d, r.stdout + r.stderr)

# ---- CapabilityBoundingSet = what the daemon keeps -------------------------
CAPS = {"CAP_NET_BIND_SERVICE": 10, "CAP_NET_ADMIN": 12, "CAP_NET_RAW": 13}


def unit_caps(d):
    text = open(os.path.join(unitdir, d + ".service")).read()
    m = re.search(r"^CapabilityBoundingSet=(.*)$", text, re.M)
    return sum(1 << CAPS[c] for c in m.group(1).split()) if m else None


def kernel_capbnd(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(re.search(r"^CapBnd:\s*([0-9a-f]+)$", f.read(), re.M).group(1), 16)


if os.geteuid() != 0:
    t.skip("CapabilityBoundingSet matches the running daemons", "needs root")
    t.done()
    sys.exit(0)
ns = tap.Netns(t, "opsi")
ns.run("ip link add eth1 type veth peer name peer1 && ip link set eth1 up && ip link set peer1 up && "
       "ip link set lo up")
procs = {}
kconf = sample("kme-sim")
procs["kme-sim"] = tap.Proc(t, ["ip", "netns", "exec", ns.name, os.path.join(prefix, "sbin", "kme-sim"), "-d",
                                "-f", kconf], "opsi-kme")
procs["skip-proxy"] = tap.Proc(t, ["ip", "netns", "exec", ns.name, os.path.join(prefix, "sbin", "skip-proxy"),
                                   "-d", "-f", sample("skip-proxy")], "opsi-skip")
procs["macsec-sw"] = tap.Proc(t, ["ip", "netns", "exec", ns.name, os.path.join(prefix, "sbin", "macsec-sw"), "-d",
                                  "-f", sample("macsec-sw")], "opsi-secy")
tap.wait_for(lambda: os.path.exists(os.path.join(tmp, "macsec-sw.sock")), timeout=15)
procs["mka-agent"] = tap.Proc(t, ["ip", "netns", "exec", ns.name, os.path.join(prefix, "sbin", "mka-agent"), "-d",
                                  "-f", sample("mka-agent")], "opsi-mka")
for d, p in procs.items():
    want = unit_caps(d)
    got = {}

    def settled(p=p, want=want):
        try:
            got["v"] = kernel_capbnd(p.p.pid)
        except (OSError, AttributeError):
            return False
        return got["v"] == want

    ok = tap.wait_for(settled, timeout=15)
    t.ok(ok, "%s: the unit's CapabilityBoundingSet is what the running daemon keeps (CapBnd %s)"
         % (d, hex(got.get("v", 0))), p.output()[-800:])
for p in procs.values():
    p.stop()
t.done()
