#!/usr/bin/python3
"""it_conform_mka.py — `qkdlab-conform mka`, MKA peer grading.

  - crafted captures (tests/lib/mkacraft.py: MKPDUs encoded by hand from
    IEEE 802.1X-2020 with Python's `cryptography`, not with mka-agent's
    codec): a correct two-member conversation passes every check, in PSK
    and in QKD form; the same conversation with one rule broken fails
    exactly the check for that rule, with its clause, and no other one;
    text, TAP and JUnit reports and the exit status agree;
  - live: mka-agent + macsec-sw on a namespace wire (tests/lib/twosite.py)
    recorded by `qkdlab-conform mka --interface` while traffic flows,
    with a pre-shared CAK and then with QKD CAKs from kme-sim over
    ETSI 014: every check passes; tshark counts the same MKPDUs as the
    grader; graded as the responder alone, B's announcements pass and the
    key server checks are not applicable.
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
import mkacraft  # noqa: E402

CONFORM = os.path.join(tap.SRC, "conform", "qkdlab-conform")
GRADER = tap.binpath("conform/qkdlab-mkagrade")
CAK = bytes.fromhex("135bd758b0ee5c11c55ff6ab19fdb199")
CKN = bytes.fromhex("96437a93ccf10d9dfe347846cce52c7d")
QKD_IDS = ("mka.qkd.kmd", "mka.qkd.ckn", "mka.qkd.announce")

t = tap.Tap()
tap.require_bins(t, "conform/qkdlab-mkagrade")
work = tempfile.mkdtemp(prefix="qkdlab-conform-mka-")
t.cleanup(lambda: subprocess.run(["rm", "-rf", work]))
env = dict(os.environ, QKDLAB_MKAGRADE=GRADER)
cak_file = os.path.join(work, "cak")
fd = os.open(cak_file, os.O_WRONLY | os.O_CREAT, 0o600)
os.write(fd, (CAK.hex() + "\n").encode())
os.close(fd)


def conform(args, timeout=120):
    r = subprocess.run([CONFORM, "mka"] + args, capture_output=True, text=True, env=env, timeout=timeout)
    return r.returncode, r.stdout, r.stderr


# ---- the command line ------------------------------------------------------
rc, out, err = conform(["--list"])
ids = [ln.split()[0] for ln in out.splitlines()]
t.ok(rc == 0 and len(ids) == 12 and set(mkacraft.BREAKS) == set(ids),
     "--list names the 12 MKA checks, one crafted break each", out + err)
rc, out, _ = conform(["--list", "--only", "mka.sak.*", "--skip", "mka.sak.use"])
t.eq([ln.split()[0] for ln in out.splitlines()], ["mka.sak.distributed"], "--only/--skip select by glob")
rc, _, err = conform(["--pcap", os.path.join(work, "none.pcap")])
t.ok(rc == 2 and "cannot be read" in err, "an unreadable capture: exit 2 and why", err)
with open(os.path.join(work, "junk.pcap"), "wb") as f:
    f.write(b"not a capture at all, really")
rc, _, err = conform(["--pcap", os.path.join(work, "junk.pcap")])
t.ok(rc == 2 and "not a pcap" in err, "a file that is no capture: exit 2", err)
os.chmod(cak_file, 0o644)
rc, _, err = conform(["--pcap", os.path.join(work, "junk.pcap"), "--ckn", CKN.hex(), "--cak-file", cak_file])
t.ok(rc == 2 and "0600" in err, "a CAK file others may read is refused", err)
os.chmod(cak_file, 0o600)
r = subprocess.run([GRADER, "--version"], capture_output=True, text=True)
t.ok(r.returncode == 0 and "qkdlab-mkagrade" in r.stdout, "qkdlab-mkagrade --version")


# ---- crafted captures --------------------------------------------------------
def crafted(qkd, brk, fmt="tap", key=True):
    path = os.path.join(work, "craft-%s-%s.pcap" % ("qkd" if qkd else "psk", brk or "good"))
    mkacraft.Conversation(CAK, CKN).build(qkd=qkd, brk=brk).write(path)
    args = ["--pcap", path, "--format", fmt]
    if key:
        args += ["--ckn", CKN.hex(), "--cak-file", cak_file]
    if qkd:
        args.append("--qkd")
    return conform(args)


for qkd in (False, True):
    mode = "QKD" if qkd else "PSK"
    rc, out, err = crafted(qkd, None)
    v = conformtest.verdicts(out)
    want = {i: "n/a" if i in QKD_IDS and not qkd else "pass" for i in ids}
    t.ok(rc == 0 and v == want, "crafted %s conversation: every check passes" % mode, out + err)
    for brk, what in mkacraft.BREAKS.items():
        if brk in QKD_IDS and not qkd:
            continue
        rc, out, err = crafted(qkd, brk, key=brk != "mka.qkd.ckn")
        v = conformtest.verdicts(out)
        others = {i: x for i, x in v.items() if i != brk and x == "fail"}
        clause = re.search(r"^# violates: (.*)$", out, re.M)
        t.ok(rc == 1 and v.get(brk) == "fail" and not others and clause,
             "%s, %s: fails %s (%s) and nothing else" % (mode, what, brk, clause.group(1) if clause else "?"),
             out + err)

good = os.path.join(work, "craft-psk-good.pcap")
ng = os.path.join(work, "craft-psk-good.pcapng")
subprocess.run(["tshark", "-r", good, "-F", "pcapng", "-w", ng], capture_output=True, timeout=60)
rc, out, err = conform(["--pcap", ng, "--ckn", CKN.hex(), "--cak-file", cak_file, "--format", "tap"])
t.ok(rc == 0 and conformtest.verdicts(out) == {i: "n/a" if i in QKD_IDS else "pass" for i in ids},
     "the same conversation rewritten as pcapng by tshark passes too", out + err)
rc, out, _ = crafted(False, "mka.icv", fmt="text")
t.ok(rc == 1 and re.search(r"^FAIL mka\.icv .*\n(\s+note:.*\n)*\s+violates: IEEE 802\.1X-2020 9\.3\.1, 9\.4\.1", out, re.M)
     and CAK.hex() not in out, "text report: FAIL line, clause, no key bytes", out)
rc, out, _ = crafted(True, "mka.qkd.announce", fmt="junit")
suite = ET.fromstring(out).find("testsuite")
t.ok(rc == 1 and suite.get("tests") == "12" and suite.get("failures") == "1"
     and suite.find("testcase[@name='mka.qkd.announce']/failure") is not None,
     "JUnit report: 12 cases, the one failure", out)

# ---- live: mka-agent + macsec-sw on a namespace wire --------------------------
tap.require_root(t)
tap.require_bins(t, "mka-agent/mka-agent", "macsec-sw/macsec-sw", "kme-sim/kme-sim")
import twosite  # noqa: E402

lab = twosite.Sites(t, "cmka")
lab.start_secys()
mac_b = lab.sh("b", "cat /sys/class/net/%s/address" % twosite.WIRE).stdout.strip()


def record(name, seconds, grade_args):
    """qkdlab-conform mka --interface in site A's namespace, started now."""
    pcap = os.path.join(lab.dir, name + ".pcap")
    argv = ["ip", "netns", "exec", lab.ns["a"], CONFORM, "mka", "--interface", twosite.WIRE,
            "--duration", str(seconds), "--save", pcap, "--format", "tap", "--hello-time", "1"] + grade_args
    return pcap, subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def tshark_mkpdus(pcap):
    r = subprocess.run(["tshark", "-n", "-r", pcap, "-Y", "eapol.type == 5", "-T", "fields", "-e", "frame.number"],
                       capture_output=True, text=True, timeout=60)
    return len(r.stdout.split())


def graded(out, cid):
    m = re.search(r"^# note: graded (\d+) times$", out.split(" - %s" % cid, 1)[-1], re.M)
    return int(m.group(1)) if m else -1


def live(mode, seconds, confs, grade_args, prefix):
    pcap, rec = record(mode, seconds, grade_args)
    ready = rec.stderr.readline()
    t.ok("recording on" in ready, "%s: recording before the agents start" % mode, ready)
    for s in twosite.SITES:
        lab.start_agent(s, confs[s], name="%s-%s" % (prefix, s))
    secured = tap.wait_for(lab.both_secured, seconds - 8, 0.2)
    t.ok(secured, "%s: both agents secured while recording" % mode,
         lab.output("%s-a" % prefix)[-1500:] + lab.output("%s-b" % prefix)[-1500:])
    ok, pout = lab.ping("a", count=10, interval=0.3)
    t.ok(ok, "%s: traffic over the link while recording" % mode, pout)
    out, err = rec.communicate(timeout=seconds + 60)
    return pcap, rec.returncode, out, err


lab.mode = "psk"
psk = {s: lab.mka_conf(s, CAK.hex(), CKN.hex()) for s in twosite.SITES}
pcap, rc, out, err = live("PSK", 18, psk, ["--ckn", CKN.hex(), "--cak-file", cak_file], "mka-psk")
v = conformtest.verdicts(out)
want = {i: "n/a" if i in QKD_IDS else "pass" for i in ids}
t.ok(rc == 0 and v == want, "PSK: mka-agent passes every check", out + err)
n = tshark_mkpdus(pcap)
t.ok(n > 10 and graded(out, "mka.eapol.header") == n,
     "PSK: tshark and the grader count the same %d MKPDUs" % n, out)
for s in twosite.SITES:
    lab.stop("mka-psk-" + s)

lab.start_kmes()
qkd = {s: lab.agent_conf(s, "etsi014") for s in twosite.SITES}
key_log = lab.site("a", "keys.log")
pcap, rc, out, err = live("QKD", 26, qkd, ["--qkd", "--key-log", key_log], "mka-qkd")
v = conformtest.verdicts(out)
t.ok(rc == 0 and v == {i: "pass" for i in ids}, "QKD (ETSI 014): mka-agent passes every check", out + err)
rc, out, err = conform(["--pcap", pcap, "--qkd", "--key-log", key_log, "--peer", mac_b,
                        "--peer-sae", twosite.SAE["b"], "--hello-time", "1", "--format", "tap"])
v = conformtest.verdicts(out)
t.ok(rc == 0 and v.get("mka.qkd.announce") == "pass" and v.get("mka.qkd.kmd") == "n/a"
     and v.get("mka.sak.distributed") == "n/a" and v.get("mka.sak.use") == "pass",
     "QKD, the responder B alone: its announcements pass, key server checks n/a", out + err)
rc, out, err = conform(["--pcap", pcap, "--qkd", "--key-log", key_log, "--peer", mac_b,
                        "--peer-sae", "SAE_NOT_IT", "--hello-time", "1", "--format", "tap"])
t.ok(rc == 1 and conformtest.verdicts(out).get("mka.qkd.announce") == "fail",
     "QKD: a wrong --peer-sae fails the announcement check", out + err)
t.done()
