#!/usr/bin/python3
"""it_kme_admin_allow.py — kme-sim's admin listener off loopback.

admin_listen may name a non-loopback address only with admin_allow, the
prefixes of the clients it may serve (kme-sim.conf(5)); bad prefixes are
refused at start with a message.  In a network namespace of the test's
own (addresses of TEST-NET-3 on its loopback device), curl from an allowed
source address gets /metrics, curl from another source address of the
same host is turned away at accept, and a loopback client is served.
"""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import kmelab as kc  # noqa: E402
from kmelab import tap  # noqa: E402

t = tap.Tap()
lab = kc.Lab(t, {"KME_A": {"saes": ["SAE_A"], "peers": ["KME_B"]},
                 "KME_B": {"saes": ["SAE_B"], "peers": ["KME_A"]}})
A = lab.kmes["KME_A"]
BIN = tap.binpath("kme-sim/kme-sim")
good = open(A.conf).read()
path = os.path.join(lab.dir, "allow.conf")


def check(text):
    with open(path, "w") as f:
        f.write(text)
    p = subprocess.run([BIN, "-n", "-f", path], capture_output=True, text=True, timeout=30)
    return p.returncode, p.stdout + p.stderr


off = good.replace("admin_listen = 127.0.0.1", "admin_listen = 203.0.113.1")
rc, out = check(off)
t.ok(rc == 1 and "unless admin_allow" in out, "non-loopback admin_listen without admin_allow: exit 1", out[-300:])
rc, out = check("admin_allow = 203.0.113.64/28, 198.51.100.7/32\n" + off)
t.ok(rc == 0 and "configuration OK" in out, "with admin_allow: configuration OK", out[-300:])
for bad in ("0.0.0.0/0", "203.0.113.65/28", "kme-b/28", "203.0.113.64", ""):
    rc, out = check("admin_allow = %s\n" % bad + off)
    t.ok(rc == 1 and "admin_allow" in out, "admin_allow = '%s' is refused with a message" % bad, out[-300:])
rc, out = check("admin_allow = " + ", ".join("203.0.113.%d/32" % i for i in range(9)) + "\n" + off)
t.ok(rc == 1 and "at most 8" in out, "more than 8 prefixes are refused", out[-300:])

if os.geteuid() != 0:
    t.skip("served and refused clients in a namespace", "needs root (network namespaces)")
    t.done()
ns = "qkdadm%d" % os.getpid()
subprocess.run(["ip", "netns", "add", ns], check=True)
t.cleanup(lambda: subprocess.run(["ip", "netns", "del", ns]))


def nsrun(*argv, **kw):
    return subprocess.run(["ip", "netns", "exec", ns] + list(argv), capture_output=True, text=True,
                          timeout=30, **kw)


nsrun("ip", "link", "set", "lo", "up")
for a in ("203.0.113.1", "203.0.113.2", "203.0.113.3"):
    nsrun("ip", "addr", "add", a + "/32", "dev", "lo")
port = A.admin_port
with open(path, "w") as f:
    f.write("admin_allow = 203.0.113.2/32\n" +
            good.replace("admin_listen = 127.0.0.1:%d" % port, "admin_listen = 0.0.0.0:%d" % port))
log = open(os.path.join(lab.dir, "allow.log"), "w")
proc = subprocess.Popen(["ip", "netns", "exec", ns, BIN, "-d", "-f", path], stdout=log, stderr=subprocess.STDOUT)
t.cleanup(lambda: (proc.poll() is None and proc.terminate(), proc.wait()))


def get(src):
    r = nsrun("curl", "-s", "-m", "5", "--interface", src, "-o", "/dev/null", "-w", "%{http_code}",
              "http://203.0.113.1:%d/metrics" % port)
    return r.stdout


deadline = time.time() + 20
while get("127.0.0.1") != "200" and time.time() < deadline and proc.poll() is None:
    time.sleep(0.2)
t.eq(get("127.0.0.1"), "200", "a loopback client is served")
t.eq(get("203.0.113.2"), "200", "a client in admin_allow (203.0.113.2/32) is served")
t.eq(get("203.0.113.3"), "000", "a client outside admin_allow gets no HTTP answer")
r = nsrun("curl", "-s", "-m", "5", "--interface", "203.0.113.3", "-X", "POST",
          "http://203.0.113.1:%d/admin/v1/fault?peer=KME_B&kind=down" % port)
code = nsrun("curl", "-s", "-m", "5", "--interface", "203.0.113.2",
             "http://203.0.113.1:%d/admin/v1/faults" % port).stdout
t.ok('"down":false' in code, "and its fault request did not reach the KME", code)
proc.terminate()
t.eq(proc.wait(15), 0, "kme-sim exits 0 on SIGTERM")
t.done()
