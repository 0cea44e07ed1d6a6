#!/usr/bin/python3
"""it_conform_skip.py — qkdlab-conform's SKIP suites, tested.

  - `qkdlab-conform skip`: its command line (--help, --list, exit status 2
    for a bad one); against a correct double of two SKIP key providers
    (tests/lib/skip_double.py: Python's http.server behind
    tests/skip_psk_front, TLS-PSK on loopback) every check passes; against
    the double broken for one check (one switch per check) the whole suite
    fails exactly that check, naming the draft's section, what was sent and
    what came back, without key bytes;
  - against qkdlab's own two skip-proxies in front of a kme-sim pair, in
    the test's own network namespaces (tests/lib/twosite.py), every check
    passes;
  - `qkdlab-conform skip-client`: the same skip-proxies write request
    records (record = PATH); mka-agent's SKIP client keying MACsec between
    the two sites grades pass, and `openssl s_client` (not project code)
    with a suite not in Table 1, or with a bad parameter, grades fail with
    the reason.
"""
import json
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import tap  # noqa: E402
import conformtest  # noqa: E402

CONFORM = os.path.join(tap.SRC, "conform", "qkdlab-conform")
DOUBLE = os.path.join(tap.SRC, "tests", "lib", "skip_double.py")
sys.path.insert(0, os.path.dirname(DOUBLE))
from skip_double import BREAKS  # noqa: E402

t = tap.Tap()
tap.require_root(t)
tap.require_bins(t, "conform/qkdlab-skip-probe", "tests/skip_psk_front", "skip-proxy/skip-proxy",
                 "kme-sim/kme-sim", "mka-agent/mka-agent", "macsec-sw/macsec-sw")
PROBE = tap.binpath("conform/qkdlab-skip-probe")
FRONT = tap.binpath("tests/skip_psk_front")

work = tempfile.mkdtemp(prefix="qkdlab-conform-skip-")
t.cleanup(lambda: subprocess.run(["rm", "-rf", work]))


def private(name, text):
    p = os.path.join(work, name)
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return p


PSK = {s: os.urandom(32).hex() for s in "ab"}
psk_all = private("double.psk", "".join("router-%s:%s\n" % (s, PSK[s]) for s in "ab"))
psk_file = {s: private("%s.psk" % s, "router-%s:%s\n" % (s, PSK[s])) for s in "ab"}
cert, key = os.path.join(work, "front.crt"), os.path.join(work, "front.key")
subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                "-days", "2", "-subj", "/CN=localhost"], check=True, capture_output=True)


def conform(args, netns=None, timeout=180):
    argv = [CONFORM] + list(args)
    if netns:
        argv = ["ip", "netns", "exec", netns] + argv
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)


class Double:
    def __init__(self, brk=None):
        self.ports = (tap.free_port(), tap.free_port())
        argv = [sys.executable, DOUBLE, "--front", FRONT, "--psk", psk_all, "--id-a", "KP_A", "--id-b", "KP_B",
                "--port-a", str(self.ports[0]), "--port-b", str(self.ports[1]), "--cert", cert, "--key", key]
        if brk:
            argv += ["--break", brk]
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True)
        if self.p.stdout.readline().strip() != "ready":
            raise RuntimeError("the SKIP double did not start: %s" % self.p.stdout.read())

    def args(self):
        return ["skip", "--a", "127.0.0.1:%d" % self.ports[0], "--b", "127.0.0.1:%d" % self.ports[1],
                "--psk-a", psk_file["a"], "--psk-b", psk_file["b"], "--probe", PROBE, "--timeout", "5"]

    def close(self):
        self.p.stdin.close()
        try:
            self.p.wait(15)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()


# ---- command line ------------------------------------------------------------
r = conform(["skip", "--help"])
t.ok(r.returncode == 0 and "--psk-a" in r.stdout and "--only" in r.stdout, "skip --help", r)
r = conform(["skip", "--list"])
ids = [ln.split()[0] for ln in r.stdout.splitlines() if ln.strip()]
t.ok(r.returncode == 0 and len(ids) >= 14 and all(i.startswith("skip.") for i in ids),
     "skip --list shows %d checks" % len(ids), r)
t.eq(sorted(ids), sorted(BREAKS), "every SKIP check has a switch in the double that breaks it, and no more")
r = conform(["--list"])
t.ok(r.returncode == 0 and not [ln for ln in r.stdout.splitlines() if ln.startswith("skip")],
     "without a subcommand the ETSI 014 suite is listed, as before", r)
for bad, why in ((["skip", "--a", "127.0.0.1:1"], "missing arguments"),
                 (["skip", "--a", "nohost", "--b", "127.0.0.1:1", "--psk-a", psk_file["a"], "--psk-b",
                   psk_file["b"], "--probe", PROBE], "an address without a port"),
                 (["skip", "--a", "127.0.0.1:1", "--b", "127.0.0.1:1", "--psk-a", "/nonexistent", "--psk-b",
                   psk_file["b"], "--probe", PROBE], "an unreadable PSK file"),
                 (["skip-client"], "skip-client without --record")):
    r = conform(bad)
    t.ok(r.returncode == 2 and "error:" in r.stderr and "Traceback" not in r.stderr,
         "exit status 2 and a clear error for %s" % why, r)
r = subprocess.run([PROBE, "--version"], capture_output=True, text=True)
t.ok(r.returncode == 0 and r.stdout.startswith("qkdlab-skip-probe "), "qkdlab-skip-probe --version", r)
r = subprocess.run([PROBE, "-c", "127.0.0.1:1"], capture_output=True, text=True)
t.ok(r.returncode == 2 and "-P pskfile" in r.stderr, "qkdlab-skip-probe without a PSK: exit 2 and why", r)

# ---- the correct double, then one broken per check ----------------------------------
d = Double()
t.cleanup(d.close)
r = conform(d.args() + ["--format", "tap"])
v = conformtest.verdicts(r.stdout)
t.ok(r.returncode == 0 and v == {i: "pass" for i in ids}, "every SKIP check passes against the correct double",
     r.stdout + r.stderr)
d.close()


def against_broken(cid):
    d = Double(cid)
    try:
        return conform(d.args() + ["--format", "tap"])
    finally:
        d.close()


conformtest.each_fails_alone(t, ids, BREAKS, against_broken)

d = Double("skip.key.by_id")
r = conform(d.args() + ["--only", "skip.key.by_id"])
d.close()
t.ok(r.returncode == 1 and "violates: draft-cisco-skip-02 section 4.2" in r.stdout and
     "sent: GET /key/" in r.stdout and re.search(r'"key": "<32 bytes>"', r.stdout) and
     not re.search(r"[0-9a-f]{64}", r.stdout),
     "a failure names the section, what was sent and what came back, key bytes left out", r.stdout)

# ---- qkdlab's own skip-proxies, and grading clients from their records --------------
import twosite  # noqa: E402
from twosite import LINK_IP, SAE, SKIP_PORT, edit_conf  # noqa: E402

lab = twosite.Sites(t, "cfskip")
lab.start_kmes()
record = {s: lab.site(s, "skip-record.jsonl") for s in twosite.SITES}
for s in twosite.SITES:
    path = lab.site(s, "skip-proxy.conf")
    lab.write(path, edit_conf(lab.skip_conf(s), top={"record": record[s]}))
    lab.daemon("skip-proxy-" + s, s, [lab.bin("skip-proxy"), "-d", "-f", path])
for s in twosite.SITES:
    lab.wait("skip-proxy %s" % s.upper(), lambda s=s: lab.skip_metrics(s) is not None, 30, ("skip-proxy-" + s,))

own = ["skip", "--a", "%s:%d" % (LINK_IP["a"], SKIP_PORT), "--b", "%s:%d" % (LINK_IP["b"], SKIP_PORT),
       "--psk-a", lab.site("a", "skip.psk"), "--psk-b", lab.site("b", "skip.psk"), "--probe", PROBE]
r = conform(own + ["--format", "tap"], netns=lab.ns["a"])
v = conformtest.verdicts(r.stdout)
t.ok(r.returncode == 0 and v == {i: "pass" for i in ids}, "every SKIP check passes against qkdlab's skip-proxies",
     r.stdout + r.stderr + lab.output("skip-proxy-a")[-2000:])


def truncate(paths):
    """Empties the record files (skip-proxy appends: it goes on at the new end)."""
    for p in paths:
        open(p, "w").close()


def grade():
    r = conform(["skip-client", "--record", record["a"], "--record", record["b"], "--format", "tap"])
    return r, conformtest.verdicts(r.stdout)


GRADES = ["skip-client.params", "skip-client.peer_fetch", "skip-client.requests", "skip-client.tls"]
r = conform(["skip-client", "--list"])
t.eq(sorted(ln.split()[0] for ln in r.stdout.splitlines() if ln.strip()), GRADES, "skip-client --list")

# mka-agent's SKIP client keys MACsec between the sites: it grades pass.
truncate(record.values())
lab.start_secys()
for s in twosite.SITES:
    lab.start_agent(s, lab.agent_conf(s, "skip"))
ok = tap.wait_for(lab.both_secured, 40, 0.2)
t.ok(ok, "mka-agent over SKIP: both sites SECURED", lab.output("mka-agent-a")[-1500:])
recs = [json.loads(ln) for s in twosite.SITES for ln in open(record[s]) if ln.strip()]
t.ok(recs and all(x.get("tls_version") and x.get("tls_suite") and x.get("identity") for x in recs) and
     {x["route"] for x in recs} >= {"key", "key_by_id"},
     "the records name route, identity, TLS version and suite of every request", recs)
kids = {x.get("key_id") for x in recs if x["route"] == "key"}
body = "".join(open(record[s]).read() for s in twosite.SITES)
ck = lab.caks("a")
t.ok(ck and ck[-1][0] in kids and ck[-1][1] not in body and PSK["a"] not in body and
     not re.search(r'"key"\s*:', body), "the records hold keyIds, never a key or PSK", body[-1500:])
r, v = grade()
t.ok(r.returncode == 0 and v == {g: "pass" for g in GRADES}, "mka-agent's SKIP client grades pass",
     r.stdout + r.stderr)
for s in twosite.SITES:
    lab.stop("mka-agent-" + s)


def s_client(s, request, suites=None, session=None):
    """openssl s_client in site s's namespace: TLS 1.3 with its router's PSK."""
    ident, psk = lab.psk(s)
    argv = ["ip", "netns", "exec", lab.ns[s], "openssl", "s_client", "-connect", "127.0.0.1:%d" % SKIP_PORT,
            "-brief", "-ign_eof", "-tls1_3", "-psk_identity", ident]
    argv += ["-ciphersuites", suites, "-psk", psk] if suites else ["-psk_session", session]
    req = ("GET %s HTTP/1.1\r\nHost: kp\r\nConnection: close\r\n\r\n" % request).encode()
    return subprocess.run(argv, input=req, capture_output=True, timeout=30)


# A client on a suite Table 1 does not list: tls fails, naming it.
truncate(record.values())
s_client("a", "/capabilities", suites="TLS_AES_128_GCM_SHA256")
r, v = grade()
t.ok(r.returncode == 1 and v.get("skip-client.tls") == "fail" and v.get("skip-client.requests") == "pass" and
     "TLS_AES_128_GCM_SHA256" in r.stdout, "openssl s_client on TLS_AES_128_GCM_SHA256 grades fail, naming it",
     r.stdout)

# A client with a misspelt parameter, and a key never fetched at the peer.
import skiplab  # noqa: E402
truncate(record.values())
sess = os.path.join(lab.dir, "a-session.pem")
lab.write(sess, skiplab.session_pem(lab.psk("a")[1]), 0o600)
s_client("a", "/key?remoteSystemId=%s" % SAE["b"], session=sess)
s_client("a", "/key?remoteSystemID=%s" % SAE["b"], session=sess)
r, v = grade()
t.ok(r.returncode == 1 and v.get("skip-client.params") == "fail" and v.get("skip-client.peer_fetch") == "fail" and
     v.get("skip-client.tls") == "pass" and "remoteSystemId" in r.stdout and "never fetched" in r.stdout,
     "a misspelt remoteSystemID and a key never fetched at B grade fail with the reasons", r.stdout)

for s in twosite.SITES:
    t.eq(lab.stop("skip-proxy-" + s), 0, "skip-proxy %s (recording) exits cleanly" % s.upper())
    t.ok(tap.sanitizer_clean(lab.output("skip-proxy-" + s)), "skip-proxy %s: no sanitizer report" % s.upper(),
         lab.output("skip-proxy-" + s)[-3000:])
