#!/usr/bin/python3
"""it_conform.py — qkdlab-conform's self-test.

  - its command line: --help, --version, --list, --only/--skip by id and
    glob, exit status 2 for a bad command line;
  - against a correct test double of a KME pair (tests/lib/kme_double.py:
    Python's ssl and http.server, mutual TLS on loopback) every check
    passes, and the JUnit XML and TAP reports say so;
  - against the double broken for one check (one switch per check), the
    whole suite fails exactly that check and no other, with the clause, what
    was sent and what came back, and without printing key bytes: no check
    can pass vacuously;
  - without a third SAE the checks that need one are not applicable; a
    KME answering 200 [] to everything fails every check above TLS; with
    no target listening every check fails;
  - against qkdlab's own kme-sim pair (two sites in the test's own network
    namespaces, tests/lib/twosite.py) every check passes.
"""
import os
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import tap  # noqa: E402
import conformtest  # noqa: E402

CONFORM = os.path.join(tap.SRC, "conform", "qkdlab-conform")
DOUBLE = os.path.join(tap.SRC, "tests", "lib", "kme_double.py")
sys.path.insert(0, os.path.dirname(DOUBLE))
from kme_double import BREAKS  # noqa: E402

t = tap.Tap()
tap.require_root(t)
tap.require_bins(t, "kme-sim/kme-sim")

work = tempfile.mkdtemp(prefix="qkdlab-conform-")
t.cleanup(lambda: subprocess.run(["rm", "-rf", work]))
pki = os.path.join(work, "pki")
subprocess.run([os.path.join(tap.SRC, "scripts", "qkdlab-pki"), "-d", pki, "-k", "KME_A", "-k", "KME_B",
                "-s", "SAE_A_01", "-s", "SAE_B_01", "-s", "SAE_C_01"], check=True, stdout=subprocess.DEVNULL)


def conform(args, netns=None, timeout=90):
    argv = [CONFORM] + list(args)
    if netns:
        argv = ["ip", "netns", "exec", netns] + argv
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)


def target_args(pki_dir, url_a, url_b, saes=("SAE_A_01", "SAE_B_01", "SAE_C_01")):
    args = ["--kme-a", url_a, "--kme-b", url_b, "--ca", os.path.join(pki_dir, "sae-ca.crt")]
    for s, sae in zip("abc", saes):
        args += ["--sae-" + s, sae, "--sae-%s-cert" % s, os.path.join(pki_dir, sae + ".crt"),
                 "--sae-%s-key" % s, os.path.join(pki_dir, sae + ".key")]
    return args


class Double:
    def __init__(self, brk=None, extra=()):
        self.ports = (tap.free_port(), tap.free_port())
        argv = [sys.executable, DOUBLE, "--pki", pki, "--kme-a", "KME_A", "--kme-b", "KME_B",
                "--sae-a", "SAE_A_01", "--sae-b", "SAE_B_01", "--sae-c", "SAE_C_01",
                "--port-a", str(self.ports[0]), "--port-b", str(self.ports[1])]
        if brk:
            argv += ["--break", brk]
        argv += list(extra)
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True)
        if self.p.stdout.readline().strip() != "ready":
            raise RuntimeError("the test double did not start: %s" % self.p.stdout.read())

    def args(self, saes=("SAE_A_01", "SAE_B_01", "SAE_C_01")):
        return target_args(pki, "https://127.0.0.1:%d" % self.ports[0], "https://127.0.0.1:%d" % self.ports[1],
                           saes) + ["--wait", "2"]

    def close(self):
        self.p.stdin.close()
        try:
            self.p.wait(10)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()


# ---- command line ------------------------------------------------------------
r = conform(["--version"])
t.ok(r.returncode == 0 and r.stdout.startswith("qkdlab-conform "), "--version", r)
r = conform(["--help"])
t.ok(r.returncode == 0 and "--only" in r.stdout and "--format" in r.stdout, "--help", r)
r = conform(["--list"])
ids = [ln.split()[0] for ln in r.stdout.splitlines() if ln.strip()]
t.ok(r.returncode == 0 and len(ids) >= 20 and all(i.startswith("etsi014.") for i in ids),
     "--list shows %d checks" % len(ids), r)
t.eq(sorted(ids), sorted(BREAKS), "every check has a switch in the test double that breaks it, and no more")
r = conform(["--list", "--only", "etsi014.auth.*", "--skip", "etsi014.auth.other_kme"])
t.eq([ln.split()[0] for ln in r.stdout.splitlines()], ["etsi014.auth.third_sae", "etsi014.auth.wrong_master"],
     "--only by glob, --skip by id")
for bad, why in ((["--bogus"], "an unknown option"), (["--format", "xml"], "an unknown format"),
                 (["--kme-a", "https://127.0.0.1:1"], "missing target arguments"),
                 (["--only", "nothing.*"], "no check selected"),
                 (["--kme-a", "http://x", "--kme-b", "https://y", "--ca", "/nonexistent", "--sae-a", "A",
                   "--sae-a-cert", "/nonexistent", "--sae-a-key", "k", "--sae-b", "B",
                   "--sae-b-cert", "c", "--sae-b-key", "k"], "an unreadable file")):
    r = conform(bad)
    t.ok(r.returncode == 2 and "qkdlab-conform: error:" in r.stderr, "exit status 2 and a clear error for %s" % why, r)

# ---- the correct double ---------------------------------------------------------
d = Double()
t.cleanup(d.close)
r = conform(d.args() + ["--format", "tap"])
v = conformtest.verdicts(r.stdout)
t.ok(r.returncode == 0 and v == {i: "pass" for i in ids}, "every check passes against the correct double",
     r.stdout + r.stderr)
junit = os.path.join(work, "report.xml")
r = conform(d.args() + ["--format", "junit", "-o", junit, "--only", "etsi014.status.*"])
suite = ET.parse(junit).getroot().find("testsuite")
t.ok(r.returncode == 0 and suite.get("tests") == "3" and suite.get("failures") == "0" and
     len(suite.findall("testcase")) == 3, "JUnit XML report: three test cases, no failures", r)
r = conform(d.args(("SAE_A_01", "SAE_B_01")) + ["--format", "tap"])
v = conformtest.verdicts(r.stdout)
t.ok(r.returncode == 0 and v.get("etsi014.auth.third_sae") == "n/a" and v.get("etsi014.multicast") == "n/a"
     and sum(x == "pass" for x in v.values()) == len(ids) - 2,
     "without a third SAE: its two checks not applicable, the rest pass", r.stdout + r.stderr)
d.close()

# ---- each check against the double broken for it ---------------------------------
def against_broken(cid):
    d = Double(cid)
    try:
        return conform(d.args() + ["--format", "tap"])
    finally:
        d.close()


conformtest.each_fails_alone(t, ids, BREAKS, against_broken)

d = Double("etsi014.dec.get")
r = conform(d.args() + ["--only", "etsi014.dec.get"])
d.close()
t.ok(r.returncode == 1 and "violates: ETSI GS QKD 014 V1.1.1 clause 5.3" in r.stdout and
     "sent: GET https://127.0.0.1:%d/api/v1/keys/SAE_A_01/dec_keys?key_ID=" % d.ports[1] in r.stdout and
     re.search(r'got:  200 \{"keys": \[\{"key_ID": "[0-9a-f-]{36}", "key": "<32 bytes>"\}\]\}', r.stdout),
     "a failure names the clause, what was sent and what came back, key bytes left out", r.stdout)

d = Double(extra=["--garbage"])
r = conform(d.args() + ["--format", "tap"])
d.close()
v = conformtest.verdicts(r.stdout)
t.ok(r.returncode == 1 and v == {i: "pass" if i.startswith("etsi014.tls.") else "fail" for i in ids}
     and "Traceback" not in r.stderr,
     "a KME answering 200 [] to everything fails every check above TLS, without a crash", r.stdout + r.stderr)

closed = "https://127.0.0.1:%d" % tap.free_port()
r = conform(target_args(pki, closed, closed) + ["--format", "tap", "--wait", "0"])
v = conformtest.verdicts(r.stdout)
t.ok(r.returncode == 1 and v == {i: "fail" for i in ids}, "no target listening: every check fails", r.stdout)

# ---- qkdlab's own KMEs --------------------------------------------------------------
import twosite  # noqa: E402
from twosite import KME_PORT, LINK_IP, SAE, edit_conf  # noqa: E402

lab = twosite.Sites(t, "conform")
for s in ("a", "b"):
    # Multicast to SAE_C_01 (an SAE of KME_B) advertised; prefetching kept
    # small so that keys of other sizes have key material from the start.
    conf = edit_conf(lab.kme_conf(s), top={"max_sae_id_count": 1, "prefetch_keys": 64},
                     section={"saes": "%s %s" % (SAE["b"], SAE["c"])} if s == "a" else None)
    lab.write(lab.site(s, "kme-sim.conf"), conf)
    lab.daemon("kme-sim-" + s, s, [lab.bin("kme-sim"), "-d", "-f", lab.site(s, "kme-sim.conf")])


def linked():
    ms = [lab.kme_metrics(s) for s in ("a", "b")]
    return all(ms) and all(twosite.metric(m, "kme_link_up") == 1 for m in ms)


lab.wait("the KME link", linked, 40, ("kme-sim-a", "kme-sim-b"))
args = target_args(lab.pki, "https://%s:%d" % (LINK_IP["a"], KME_PORT), "https://%s:%d" % (LINK_IP["b"], KME_PORT),
                   (SAE["a"], SAE["b"], SAE["c"]))
r = conform(args + ["--format", "tap"], netns=lab.ns["a"])
v = conformtest.verdicts(r.stdout)
t.ok(r.returncode == 0 and v == {i: "pass" for i in ids}, "every check passes against qkdlab's kme-sim pair",
     r.stdout + r.stderr + lab.output("kme-sim-a")[-3000:])
r = conform(args, netns=lab.ns["a"])
t.ok(r.returncode == 0 and r.stdout.rstrip().endswith("%d checks: %d pass, 0 fail, 0 not applicable"
                                                       % (len(ids), len(ids))),
     "the text report of the same run", r.stdout)
for s in ("a", "b"):
    t.eq(lab.stop("kme-sim-" + s), 0, "kme-sim %s exits cleanly after the suite" % s.upper())
    t.ok(tap.sanitizer_clean(lab.output("kme-sim-" + s)), "kme-sim %s: no sanitizer report" % s.upper(),
         lab.output("kme-sim-" + s)[-3000:])
