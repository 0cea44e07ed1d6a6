#!/usr/bin/python3
"""it_privdrop.py — every daemon gives up the privileges it no longer needs.

Brings the two-site lab up (QKD via SKIP, all four daemons per site, in
namespaces of its own) and reads /proc/<pid>/task/*/status of each daemon:
every thread must have no_new_privs set and an effective, permitted and
ambient capability set no larger than the daemon's documented need
(docs/SECURITY.md): kme-sim and skip-proxy CAP_NET_BIND_SERVICE only,
mka-agent CAP_NET_RAW, macsec-sw CAP_NET_RAW + CAP_NET_ADMIN.  Then the lab
must still have secured the link and pass a ping."""
import glob
import os
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "scripts"))
import tap  # noqa: E402

t = tap.Tap()
tap.require_root(t)
import lablib  # noqa: E402

CAP_NET_BIND_SERVICE, CAP_NET_ADMIN, CAP_NET_RAW = 10, 12, 13
ALLOWED = {
    "kme-sim": 1 << CAP_NET_BIND_SERVICE,
    "skip-proxy": 1 << CAP_NET_BIND_SERVICE,
    "mka-agent": 1 << CAP_NET_RAW,
    "macsec-sw": (1 << CAP_NET_RAW) | (1 << CAP_NET_ADMIN),
}

state = tempfile.mkdtemp(prefix="qkdlab-priv-")
lab = lablib.Lab(state=state, prefix="qkdpriv%d" % (os.getpid() % 10000), build=tap.BUILD)
t.cleanup(lambda: lab.down())
os.environ.setdefault("QKDLAB_LAB_MODE", "qkd-skip")
lab.up()


def thread_status(pid):
    out = []
    for path in glob.glob("/proc/%d/task/*/status" % pid):
        fields = {}
        try:
            with open(path) as f:
                for line in f:
                    k, _, v = line.partition(":")
                    fields[k] = v.strip()
        except OSError:
            continue
        out.append(fields)
    return out


for name, p in sorted(lab.procs.items()):
    daemon = name.rsplit("-", 1)[0]
    if daemon not in ALLOWED or p.poll() is not None:
        continue
    threads = thread_status(p.pid)
    bad = []
    for st in threads:
        for field in ("CapEff", "CapPrm", "CapAmb"):
            v = int(st.get(field, "0"), 16)
            if v & ~ALLOWED[daemon]:
                bad.append("%s=%x" % (field, v))
        if st.get("NoNewPrivs") != "1":
            bad.append("NoNewPrivs=%s" % st.get("NoNewPrivs"))
    t.ok(threads and not bad, "%s: %d thread(s), no_new_privs and capabilities within %x"
         % (name, len(threads), ALLOWED[daemon]), ", ".join(sorted(set(bad))))

st = {s: lab.mka_status(s) for s in ("a", "b")}
t.ok(all(st[s].get("state") == "secured" for s in ("a", "b")), "the link is secured with reduced privileges", st)
r = lab.nsrun("a", ["ping", "-c", "2", "-W", "2", lablib.TAP_IP["b"]])
t.ok(r.returncode == 0, "ping passes over MACsec", r.stdout + r.stderr)
