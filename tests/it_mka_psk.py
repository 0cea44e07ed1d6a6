#!/usr/bin/python3
"""it_mka_psk.py — two mka-agents in two network namespaces over a veth
pair, PSK mode, each driving its own macsec-sw.

Independent truth: ping over the TAPs (the data plane really carries the
agreed SAK both ways), tshark dissection of every captured MKPDU (no
malformed or expert mark; the CKN it shows), scapy parsing, the ICVs
recomputed here with Python's `cryptography` from the CAK (802.1X 9.3,
9.4.1), and a captured MACsec frame decrypted by scapy with the SAK from
the key log.  Then: a forged MKPDU changes nothing, a peer restart with a
new MI recovers, a mismatched PSK never secures, SIGTERM exits cleanly.
"""
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import tap  # noqa: E402

CAK = "135bd758b0ee5c11c55ff6ab19fdb199"
CKN = "96437a93ccf10d9dfe347846cce52c7d"

t = tap.Tap()
tap.require_root(t)
AGENT = tap.binpath("mka-agent/mka-agent")
MSW = tap.binpath("macsec-sw/macsec-sw")
tap.require_bins(t, "mka-agent/mka-agent")
HAVE_MSW = os.access(MSW, os.X_OK)

tmp = tempfile.mkdtemp(prefix="qkdlab-mka-")
t.cleanup(lambda: subprocess.run(["rm", "-rf", tmp]))
ns = [tap.Netns(t, "mkaA"), tap.Netns(t, "mkaB")]
tap.veth_pair(t, ns[0], ns[1])
# A second link between the same agents: several ports per agent (this
# one agrees keys without a data plane: secy_socket = none).
subprocess.run(["ip", "link", "add", "qc%d" % os.getpid(), "type", "veth", "peer", "name",
                "qd%d" % os.getpid()], check=True)
subprocess.run(["ip", "link", "set", "qc%d" % os.getpid(), "netns", ns[0].name, "name", "wire1"], check=True)
subprocess.run(["ip", "link", "set", "qd%d" % os.getpid(), "netns", ns[1].name, "name", "wire1"], check=True)
for n in ns:
    n.run("ip link set wire1 up")
CKN2 = "7888f5d48ba8b24e96bb95bd8c7304ec"
CAK2 = "a29efdb63d6fba73c65daab2295340a837a8886e94a905b5c9c7ef1d9dbb297e"


def write_conf(i, cak=CAK, prio=None):
    path = os.path.join(tmp, "mka-%d.conf" % i)
    lines = [
        "status_socket = %s/mka-%d.sock" % (tmp, i),
        "key_log = %s/keys-%d.log" % (tmp, i),
        "[port wire0]",
        "cak_source = psk",
        "cak = %s" % cak,
        "ckn = %s" % CKN,
        "priority = %d" % (prio if prio is not None else 16 + 16 * i),
        "secy_socket = %s" % ("%s/msw-%d.sock" % (tmp, i) if HAVE_MSW else "none"),
        "[port wire1]",
        "cak = %s" % CAK2,
        "ckn = %s" % CKN2,
        "cipher_suites = gcm-aes-xpn-256",
        "eapol_destination = broadcast",
        "secy_socket = none",
    ]
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.write(fd, ("\n".join(lines) + "\n").encode())
    os.close(fd)
    return path


def status_all(i):
    """One dict per port of `mka-agent status` (blocks of key=value lines)."""
    try:
        r = subprocess.run([AGENT, "-f", os.path.join(tmp, "mka-%d.conf" % i), "status"],
                           capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [dict(ln.split("=", 1) for ln in block.splitlines() if "=" in ln)
            for block in r.stdout.split("\n\n")]


def status(i):
    """The wire0 line (the port with the data plane)."""
    return next((p for p in status_all(i) if p.get("port") == "wire0"), {})


def start_agent(i, cak=CAK):
    conf = write_conf(i, cak)
    return tap.Proc(t, [AGENT, "-d", "-f", conf], "mka-%d" % i, netns=ns[i].name)


# The data plane first (its control socket must exist for the agent).
msw = []
if HAVE_MSW:
    for i in range(2):
        msw.append(tap.Proc(t, [MSW, "-d", "-i", "wire0", "-t", "macsec0", "-s",
                                "%s/msw-%d.sock" % (tmp, i)], "msw-%d" % i,
                            netns=ns[i].name))
    for i in range(2):
        tap.wait_for(lambda i=i: os.path.exists("%s/msw-%d.sock" % (tmp, i)), 10)
        ns[i].run("ip addr add 192.0.2.%d/24 dev macsec0 && ip link set macsec0 up" % (i + 1))

pcap = os.path.join(tmp, "wire.pcap")
dump = tap.Proc(t, ["tcpdump", "-U", "-n", "-i", "wire0", "-w", pcap], "tcpdump",
                netns=ns[0].name)
time.sleep(1.0)

# 1. Both secured, A (priority 16) is the key server.
agents = [start_agent(0), start_agent(1)]
ok = tap.wait_for(lambda: status(0).get("state") == "secured" and
                  status(1).get("state") == "secured", 20)
t.ok(ok, "PSK: both agents reach SECURED", "A: %r\nB: %r" % (status(0), status(1)))
sa, sb = status(0), status(1)
t.eq((sa.get("key_server"), sb.get("key_server")), ("yes", "no"), "A (priority 16) is key server")
t.eq(sa.get("live_peers"), "1", "A has one live peer")
ok = tap.wait_for(lambda: all(len(status_all(i)) == 2 and
                              all(p.get("state") == "secured" for p in status_all(i))
                              for i in range(2)), 10)
t.ok(ok, "several ports per agent: wire0 and wire1 both secured",
     "A %r\nB %r" % (status_all(0), status_all(1)))
w1 = [p for p in status_all(0) if p.get("port") == "wire1"]
t.ok(w1 and w1[0].get("cipher_suite") == "GCM-AES-XPN-256",
     "wire1 runs its own CA and suite (XPN-256)", w1)

# 2. Traffic over the TAPs.
if HAVE_MSW:
    r = ns[0].run("ping -c 3 -W 2 -i 0.2 192.0.2.2", check=False)
    t.ok(r.returncode == 0, "ping over the MACsec TAPs passes", r.stdout + r.stderr)
else:
    t.skip("ping over the MACsec TAPs", "macsec-sw not built")

# 3. A forged MKPDU (a captured one, one bit flipped) changes nothing.
time.sleep(0.5)
dump.stop()
from scapy.all import rdpcap, sendp, Ether, Raw  # noqa: E402
from scapy.layers.eap import EAPOL, MKAPDU  # noqa: E402
from cryptography.hazmat.primitives.cmac import CMAC  # noqa: E402
from cryptography.hazmat.primitives.ciphers import algorithms  # noqa: E402

frames = rdpcap(pcap)
mkpdus = [bytes(f) for f in frames if Ether in f and f[Ether].type == 0x888E and bytes(f)[15] == 5]
t.ok(len(mkpdus) >= 4, "captured %d MKPDUs" % len(mkpdus))

before = status(1)
mac_a = bytes.fromhex(ns[0].run("cat /sys/class/net/wire0/address").stdout.strip().replace(":", ""))
from_a = [m for m in mkpdus if m[6:12] == mac_a]
if from_a:
    forged = bytearray(from_a[-1])
    forged[40] ^= 0x01  # inside the Member Identifier: the ICV no longer fits
    ns[0].run("/usr/bin/python3 -c \"from scapy.all import sendp, Raw; "
              "sendp(Raw(bytes.fromhex('%s')), iface='wire0', verbose=False)\"" % bytes(forged).hex())
time.sleep(1.0)
after = status(1)
t.ok(int(after.get("rx_bad_icv", 0)) > int(before.get("rx_bad_icv", 0)),
     "forged MKPDU counted as bad ICV", "before %r\nafter %r" % (before, after))
t.eq((after.get("state"), after.get("kn"), after.get("live_peers")),
     (before.get("state"), before.get("kn"), before.get("live_peers")),
     "forged MKPDU changed nothing")


# 4. Independent checks of the capture: our own ICV computation, scapy, tshark.
def kdf(key, label, ctx, bits):
    out = b""
    i = 1
    while len(out) < bits // 8:
        c = CMAC(algorithms.AES(key))
        c.update(bytes([i]) + label + b"\x00" + ctx + bits.to_bytes(2, "big"))
        out += c.finalize()
        i += 1
    return out[:bits // 8]


cak, ckn = bytes.fromhex(CAK), bytes.fromhex(CKN)
ick = kdf(cak, b"IEEE8021 ICK", (ckn + bytes(16))[:16], 128)
bad = 0
for m in mkpdus:
    blen = int.from_bytes(m[16:18], "big")
    body_end = 18 + blen
    c = CMAC(algorithms.AES(ick))
    c.update(m[:body_end - 16])
    if c.finalize() != m[body_end - 16:body_end]:
        bad += 1
t.eq(bad, 0, "every captured MKPDU's ICV verifies with an independent CMAC")

parsed = 0
for m in mkpdus:
    blen = int.from_bytes(m[16:18], "big")
    e = Ether(m[:18 + blen - 16])  # scapy parses the trailing ICV as a set
    if MKAPDU in e and e[MKAPDU].basic_param_set.cak_name == ckn:
        parsed += 1
t.eq(parsed, len(mkpdus), "scapy parses every MKPDU and finds the CKN")

r = subprocess.run(["tshark", "-n", "-r", pcap, "-Y", "eapol", "-T", "fields",
                    "-E", "separator=|", "-e", "frame.number", "-e", "_ws.malformed",
                    "-e", "_ws.expert.severity", "-e", "mka.cak_name"],
                   capture_output=True, text=True)
rows = [ln.split("|") for ln in r.stdout.splitlines() if ln]
marked = [x for x in rows if x[1] or x[2]]
t.ok(rows and not marked, "tshark dissects %d MKPDUs without malformed/expert marks" % len(rows),
     "\n".join("|".join(x) for x in marked[:5]))
t.ok(rows and all(x[3] == CKN for x in rows), "tshark shows the configured CKN")

# The Distributed SAK in A's MKPDUs, unwrapped here with a KEK derived
# here (802.1X 9.3, RFC 3394 via `cryptography`), is the SAK the key log
# and the data plane use.
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap  # noqa: E402
kek = kdf(cak, b"IEEE8021 KEK", (ckn + bytes(16))[:16], 128)
unwrapped = set()
for m in mkpdus:
    blen = int.from_bytes(m[16:18], "big")
    off, end = 18 + 4 + (((m[20] & 0x0F) << 8 | m[21]) + 3) // 4 * 4, 18 + blen - 16
    while off + 4 <= end:
        typ, ln = m[off], (m[off + 2] & 0x0F) << 8 | m[off + 3]
        if typ == 4 and ln == 28:  # KN + 24-octet wrap (GCM-AES-128)
            unwrapped.add(aes_key_unwrap(kek, m[off + 8:off + 32]).hex())
        off += 4 + (ln + 3) // 4 * 4
t.ok(unwrapped, "independent unwrap of the Distributed SAK (%d SAKs)" % len(unwrapped))

# 5. The key log's SAK decrypts a captured MACsec frame (scapy as the peer).
if HAVE_MSW:
    from scapy.contrib.macsec import MACsec, MACsecSA  # noqa: E402
    with open(os.path.join(tmp, "keys-0.log")) as f:
        log = f.read().split("\n")
    t.ok(any(ln == "CAK %s %s" % (CKN, CAK) for ln in log), "key log has the CAK line")
    saks = [ln.split() for ln in log if ln.startswith("SAK %s " % CKN)]
    t.ok(saks and saks[0][1] == CKN and len(saks[0][4]) == 32, "key log has a SAK line", log)
    t.ok(saks and {x[4] for x in saks} == unwrapped,
         "the unwrapped SAKs are exactly the key log's SAKs", (unwrapped, saks))
    sec = [Ether(bytes(f)) for f in frames if Ether in f and f[Ether].type == 0x88E5]
    decrypted = False
    if saks and sec:
        an, sak = int(saks[-1][2]), bytes.fromhex(saks[-1][4])
        for f in sec:
            m = f[MACsec]
            if m.an != an or not m.SC:
                continue
            sci = m.sci if isinstance(m.sci, (bytes, int)) else bytes(m.sci)
            sa = MACsecSA(sci=sci, an=an, pn=m.pn, key=sak, icvlen=16,
                          encrypt=1, send_sci=1)
            try:
                p = sa.decrypt(f)  # GCM: raises unless the ICV verifies
            except Exception:  # noqa: BLE001 - InvalidTag: not this SAK
                continue
            # The ICV verified; the plaintext must be a frame the TAP sends.
            decrypted = p[MACsec].type in (0x0800, 0x0806, 0x86DD)
            if decrypted:
                break
    t.ok(decrypted, "scapy decrypts a captured MACsec frame with the logged SAK",
         "%d MACsec frames, %d SAK lines" % (len(sec), len(saks)))
else:
    t.skip("key log SAK decrypts MACsec", "macsec-sw not built")

# 6. Peer restart with a new MI recovers.
kn_before = int(status(0).get("kn", 0))
rc = agents[1].stop()
t.eq(rc, 0, "SIGTERM: agent B exits 0 (sanitizers clean)")
agents[1] = start_agent(1)
ok = tap.wait_for(lambda: status(1).get("state") == "secured" and
                  status(0).get("state") == "secured" and
                  int(status(0).get("kn", 0)) > kn_before, 30)
t.ok(ok, "peer restart with a new MI: secured again with a new SAK",
     "A: %r\nB: %r" % (status(0), status(1)))
if HAVE_MSW:
    r = ns[0].run("ping -c 2 -W 2 -i 0.2 192.0.2.2", check=False)
    t.ok(r.returncode == 0, "ping passes after the restart", r.stdout + r.stderr)

# 7. Mismatched PSK never secures.
agents[1].stop()
wrong = CAK[:-2] + "00"
agents[1] = start_agent(1, cak=wrong)
time.sleep(8)
s0, s1 = status(0), status(1)
t.ok(s0.get("state") != "secured" and s1.get("state") != "secured" and
     s1.get("live_peers") == "0", "mismatched PSK never secures", "A %r\nB %r" % (s0, s1))
t.ok(int(s1.get("rx_bad_icv", 0)) > 0, "mismatched PSK: MKPDUs fail the ICV")

for i, a in enumerate(agents):
    t.eq(a.stop(), 0, "SIGTERM: agent %d exits 0" % i)
for i, m in enumerate(msw):
    m.stop()
