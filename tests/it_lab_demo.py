#!/usr/bin/python3
"""it_lab_demo.py — scripts/demo end to end in namespaces (no pauses).

Runs the demo as `make demo` does (with its own namespace prefix and state
directory, so a lab a person has up is left alone), then checks with
independent tools: the demo's own account (paired, pool, SAK, SECURED,
ping, iperf3, tshark decodes); the kept capture holds only EAPOL and
MACsec frames (also the iperf3 run); the kept key log's SAK decrypts
captured MACsec frames with scapy's MACsecSA into the ping between the
TAP addresses; the MKPDUs name the key ID as CKN; nothing is left behind.
Then the demo is interrupted (SIGINT, as Ctrl-C) once the link is secured
and must still leave nothing behind.
"""
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import tap  # noqa: E402

t = tap.Tap()
tap.require_root(t)
tap.require_bins(t, "kme-sim/kme-sim", "skip-proxy/skip-proxy", "macsec-sw/macsec-sw", "mka-agent/mka-agent")
for prog in ("tshark", "tcpdump", "iperf3"):
    if subprocess.run(["which", prog], capture_output=True).returncode != 0:
        t.skip_all("%s missing" % prog)

DEMO = os.path.join(tap.SRC, "scripts", "demo")
sys.path.insert(0, os.path.join(tap.SRC, "scripts"))
import lablib  # noqa: E402

tmp = tempfile.mkdtemp(prefix="qkdlab-itlab-")
t.cleanup(lambda: subprocess.run(["rm", "-rf", tmp]))
prefix = "qkt%d" % (os.getpid() % 100000)
state = os.path.join(tmp, "lab")
env = dict(os.environ, QKDLAB_LAB_DIR=state, QKDLAB_LAB_NS=prefix, DEMO_PAUSE="0",
           DEMO_IPERF_SECONDS="1", DEMO_PCAP=os.path.join(tmp, "wire.pcap"),
           DEMO_KEYLOG=os.path.join(tmp, "keys.log"), QKDLAB_LAB_SAVE_LOGS=os.path.join(tmp, "logs"))
lab = lablib.Lab(state=state, prefix=prefix)
t.cleanup(lab.down)     # whatever happens, nothing stays up


def nothing_left(what):
    left = lab.leftovers()
    t.ok(not left, "%s: no namespace, process or file left behind" % what, "\n".join(left))
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    t.ok(prefix not in links and "kmelink" not in links, "%s: no veth or TAP left in the root namespace" % what)


# 1. The demo, all the way through.
start = time.monotonic()
r = subprocess.run([DEMO], env=env, capture_output=True, text=True, timeout=240)
took = time.monotonic() - start
out = r.stdout
t.eq(r.returncode, 0, "demo exits 0 (%.0f s)" % took)
if r.returncode != 0:
    t.diag(out[-3000:] + r.stderr[-2000:])
    nothing_left("after the failed demo")
    sys.exit(1)
for phrase in ("KMEs paired", "Key pool filling", "SAK installed at site A", "SAK installed at site B",
               "Link SECURED", " 0% packet loss", "iperf3 TCP", "CAK Name", "802.1AE Security tag",
               "decrypted with the SAK", "Everything removed"):
    t.ok(phrase in out, "demo says: %s" % phrase.strip())
qkd = "Mode: interim" not in out
mode = [ln for ln in out.splitlines() if "Mode:" in ln]
t.diag("demo %s" % (mode[0].split("]", 1)[-1].strip() if mode else "mode: ?"))
if qkd:
    t.ok("SAE ID announced" in out and "Key ID announced" in out and "Key ID received" in out,
         "QKD mode: SAE ID announced, key ID announced and received")
    t.ok("Key Management Domain SAE_A_01" in out, "QKD mode: tshark shows the KMD SAE ID of the initiator")
else:
    t.ok("interim" in out and "Key ID announced" in out, "interim mode is labelled as such")
nothing_left("after the demo")


def daemons_clean(what):
    """Every daemon exited 0 on SIGTERM and logged no sanitizer report."""
    logs = os.path.join(tmp, "logs")
    try:
        with open(os.path.join(logs, "exit-status")) as f:
            st = dict(ln.split() for ln in f if ln.strip())
    except OSError:
        st = {}
    daemons = {k: v for k, v in st.items() if k.split("-")[0] in ("kme", "skip", "macsec", "mka")}
    t.ok(len(daemons) == 8 and all(v == "0" for v in daemons.values()),
         "%s: all 8 daemons exit 0 on SIGTERM" % what, repr(st))
    bad = []
    for name in os.listdir(logs) if os.path.isdir(logs) else []:
        with open(os.path.join(logs, name), errors="replace") as f:
            if not tap.sanitizer_clean(f.read()):
                bad.append(name)
    t.ok(not bad, "%s: no sanitizer report in the daemon logs" % what, bad)
    subprocess.run(["rm", "-rf", logs])


t.ok("Mode: QKD via SKIP" in out, "the demo runs QKD via SKIP (mka-agent -> skip-proxy -> KME)",
     "\n".join(mode))
with open(env["DEMO_KEYLOG"]) as f:
    used = [ln.split()[1] for ln in f if ln.startswith("CAK ")]


def log_of(name):
    try:
        with open(os.path.join(tmp, "logs", name + ".log"), errors="replace") as f:
            return f.read()
    except OSError:
        return ""


if used and qkd:
    kid = used[-1]
    t.ok(re.search(r"new key %s .*for SAE_B_01 by 'router-a'" % kid, log_of("skip-proxy-a")) and
         re.search(r"key %s .*from SAE_A_01 fetched by 'router-b'" % kid, log_of("skip-proxy-b")),
         "the CAK in use (key ID %s) went through both skip-proxies: new at A, by ID at B" % kid,
         log_of("skip-proxy-a")[-600:] + log_of("skip-proxy-b")[-600:])
daemons_clean("demo")

# 2. The capture: only EAPOL and MACsec on the wire.
from scapy.all import rdpcap, Ether  # noqa: E402
from scapy.contrib.macsec import MACsec, MACsecSA  # noqa: E402



def ethertypes(path):
    """EtherType of every frame of a classic pcap file (read here, not by
    scapy: the iperf3 capture holds tens of thousands of frames)."""
    import struct
    out = []
    with open(path, "rb") as f:
        hdr = f.read(24)
        end = "<" if hdr[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
        while True:
            rec = f.read(16)
            if len(rec) < 16:
                break
            incl = struct.unpack(end + "IIII", rec)[2]
            data = f.read(incl)
            out.append(int.from_bytes(data[12:14], "big") if len(data) >= 14 else None)
    return out


frames = rdpcap(env["DEMO_PCAP"]) if os.path.exists(env["DEMO_PCAP"]) else []
iperf_pcap = os.path.join(tmp, "wire-iperf.pcap")
types_iperf = ethertypes(iperf_pcap) if os.path.exists(iperf_pcap) else []
types = {}
for ty in ethertypes(env["DEMO_PCAP"]) + types_iperf:
    types[ty] = types.get(ty, 0) + 1
t.ok(len(frames) > 5 and len(types_iperf) > 100, "captures kept (%d frames, iperf3 run %d frames)"
     % (len(frames), len(types_iperf)))
t.ok(set(types) <= {0x888E, 0x88E5} and types.get(0x888E) and types.get(0x88E5),
     "the wire carries only EAPOL (0x888e) and MACsec (0x88e5)", repr(types))

# 3. The key log decrypts the capture (scapy as an independent peer).
with open(env["DEMO_KEYLOG"]) as f:
    klog = f.read().splitlines()
t.eq(oct(os.stat(env["DEMO_KEYLOG"]).st_mode & 0o777), "0o600", "kept key log is mode 0600")
caks = [ln.split() for ln in klog if ln.startswith("CAK ")]
saks = [ln.split() for ln in klog if ln.startswith("SAK ")]
t.ok(caks and saks, "key log has CAK and SAK lines", "\n".join(klog))
ckns = {c[1] for c in caks}
ckn = caks[-1][1] if caks else ""
r = subprocess.run(["tshark", "-n", "-r", env["DEMO_PCAP"], "-Y", "eapol.type == 5", "-T", "fields",
                    "-e", "mka.cak_name"], capture_output=True, text=True)
mkpdus = [x.replace(":", "") for x in r.stdout.split()]
named = sum(1 for x in mkpdus if x in ckns)
if qkd:
    r = subprocess.run(["tshark", "-n", "-r", env["DEMO_PCAP"], "-Y", "eapol.type == 5", "-T", "fields",
                        "-e", "_ws.malformed", "-e", "_ws.expert.severity", "-e", "mka.kmd"],
                       capture_output=True, text=True)
    rows = [ln.split("\t") for ln in r.stdout.splitlines()]
    t.ok(rows and not [x for x in rows if x[0] or x[1]], "tshark: no MKPDU malformed or marked", r.stdout[-800:])
    t.ok([x for x in rows if x[2].replace(":", "") == b"SAE_A_01".hex()],
         "tshark: initiator MKPDUs carry KMD SAE_A_01")
t.ok(mkpdus and named == len(mkpdus) and len(ckn) == 32,
     "every MKPDU names a 16-octet key ID from the key log as CKN",
     "%d of %d: %r\n%s" % (named, len(mkpdus), sorted(set(mkpdus)), "\n".join(klog)))
pings = 0
for f in frames:
    if Ether not in f or f[Ether].type != 0x88E5:
        continue
    e = Ether(bytes(f))
    m = e[MACsec]
    sci = m.sci if isinstance(m.sci, (bytes, int)) else bytes(m.sci)
    for s in saks:
        if int(s[2]) != m.an:
            continue
        sa = MACsecSA(sci=sci, an=m.an, pn=m.pn, key=bytes.fromhex(s[4]), icvlen=16, encrypt=1, send_sci=1)
        try:
            p = sa.decap(sa.decrypt(e))
        except Exception:  # noqa: BLE001 - GCM tag mismatch: not this SAK
            continue
        if p.haslayer("ICMP") and {p["IP"].src, p["IP"].dst} == {lablib.TAP_IP["a"], lablib.TAP_IP["b"]}:
            pings += 1
        break
t.ok(pings >= 10, "scapy decrypts the ping (%d ICMP frames) with the SAK from the key log" % pings)
dec = os.path.join(tmp, "wire-decrypted.pcap")
dframes = rdpcap(dec) if os.path.exists(dec) else []
t.ok(sum(1 for f in dframes if f.haslayer("ICMP")) >= 10, "the demo's decrypted capture holds the ping in clear")

# 4. Interrupted (Ctrl-C) while MKA is at work (every daemon running): still
# nothing left.
env2 = dict(env)
for k in ("DEMO_PCAP", "DEMO_KEYLOG"):
    env2.pop(k)
p = subprocess.Popen([DEMO], env=env2, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                     start_new_session=True)
seen = ""
end = time.monotonic() + 120
while time.monotonic() < end:
    ln = p.stdout.readline()
    if not ln:
        break
    seen += ln
    # The agents' first announcements or SAKs: they are in their main loop
    # (a SIGTERM before an agent installed its handlers would kill it).
    if "SAE ID announced" in ln or "SAK installed" in ln:
        break
t.ok("SAE ID announced" in seen or "SAK installed" in seen, "second run gets every daemon running",
     seen[-2000:])
os.killpg(p.pid, signal.SIGINT)
try:
    rest, _ = p.communicate(timeout=60)
except subprocess.TimeoutExpired:
    p.kill()
    rest, _ = p.communicate()
t.eq(p.returncode, 130, "interrupted demo exits 130")
t.ok("interrupted" in rest and "Everything removed" in rest, "interrupted demo says it tore down", rest[-1500:])
nothing_left("after the interrupted demo")
daemons_clean("interrupted demo")
