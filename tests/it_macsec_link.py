#!/usr/bin/python3
"""it_macsec_link.py — two macsec-sw SecYs in two network namespaces joined
by a veth pair, static SAs installed over the control socket: ping and a
TCP transfer pass through the TAPs, a capture of the wire (tcpdump,
dissected by tshark) holds MACsec frames only, none carrying the plaintext,
and a SAK rollover under a ping flood loses no frame."""
import hashlib
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import macsecnode as m  # noqa: E402
import tap  # noqa: E402

t = tap.Tap()
tap.require_root(t)

KEY_AB = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
KEY_BA = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"
SALT = "e630e81a48de86a21c66fa6d"
MARKER = b"qkdlab-plaintext-marker-" * 40

a = tap.Netns(t, "msa")
b = tap.Netns(t, "msb")
tap.veth_pair(t, a, b)
# The wire interface's own IP stack stays quiet, so that the capture shows
# what macsec-sw puts on the wire and nothing else.
for ns in (a, b):
    ns.run("sysctl -qw net.ipv6.conf.wire0.disable_ipv6=1")
na = m.Node(t, a)
nb = m.Node(t, b)
t.ok(True, "two SecYs started")

m.install_static(na, nb.sci, KEY_AB, KEY_BA, "gcm-aes-xpn-256", ssci_tx="00000001",
                 ssci_rx="00000002", salt=SALT)
m.install_static(nb, na.sci, KEY_BA, KEY_AB, "gcm-aes-xpn-256", ssci_tx="00000002",
                 ssci_rx="00000001", salt=SALT)
t.ok("TXSC: %s on SA 0" % na.sci in na.ctl("show"), "show lists the TX SC and encoding SA")
t.eq(na.ctl("get-sci").strip(), "sci=" + na.sci, "get-sci is the wire MAC with port 1")

for ns, addr in ((a, "192.0.2.1"), (b, "192.0.2.2")):
    ns.run("sysctl -qw net.ipv6.conf.macsec0.disable_ipv6=1", check=False)
    ns.run("ip addr add %s/24 dev macsec0 && ip link set macsec0 up" % addr)

pcap = tempfile.mktemp(prefix="qkdlab-macsec-", suffix=".pcap")
t.cleanup(lambda: os.path.exists(pcap) and os.unlink(pcap))
dump = subprocess.Popen(["ip", "netns", "exec", b.name, "tcpdump", "-i", "wire0", "-U", "-n",
                         "-w", pcap], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
t.cleanup(lambda: dump.poll() is None and dump.kill())
tap.wait_for(lambda: os.path.exists(pcap) and os.path.getsize(pcap) > 0, 5)
time.sleep(0.5)

r = a.run("ping -c 3 -i 0.2 -W 2 192.0.2.2", check=False)
t.ok(r.returncode == 0, "ping A -> B through the TAPs", r.stdout + r.stderr)

# TCP: B listens, A sends 4 MiB with a plaintext marker; B hashes what came.
data = (MARKER * (4 * 1024 * 1024 // len(MARKER) + 1))[:4 * 1024 * 1024]
want = hashlib.sha256(data).hexdigest()
server = subprocess.Popen(["ip", "netns", "exec", b.name, "python3", "-c", """
import hashlib, socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("192.0.2.2", 5001)); s.listen(1); s.settimeout(30)
c, _ = s.accept(); h = hashlib.sha256(); n = 0
while True:
    d = c.recv(65536)
    if not d: break
    h.update(d); n += len(d)
print(n, h.hexdigest())
"""], stdout=subprocess.PIPE, text=True)
t.cleanup(lambda: server.poll() is None and server.kill())
time.sleep(0.5)
client = subprocess.run(["ip", "netns", "exec", a.name, "python3", "-c", """
import socket, sys
d = sys.stdin.buffer.read()
c = socket.create_connection(("192.0.2.2", 5001), timeout=30); c.sendall(d); c.close()
"""], input=data, capture_output=True, timeout=60)
try:
    out = server.communicate(timeout=60)[0].split()
except subprocess.TimeoutExpired:
    out = []
t.eq(out, [str(len(data)), want], "4 MiB TCP transfer arrives intact (sha256)")

time.sleep(0.5)
dump.terminate()
dump.wait()
raw = open(pcap, "rb").read()
t.ok(MARKER[:24] not in raw, "the capture never shows the plaintext")
fr = subprocess.run(["tshark", "-r", pcap, "-T", "fields", "-e", "eth.type"],
                    capture_output=True, text=True)
types = fr.stdout.split()
t.ok(len(types) > 1000, "capture holds the transfer (%d frames)" % len(types))
t.eq(sorted(set(types)), ["0x88e5"], "every frame on the wire is MACsec (tshark eth.type)")
bad = subprocess.run(["tshark", "-r", pcap, "-Y", "not macsec"], capture_output=True, text=True)
t.eq(bad.stdout.strip(), "", "tshark dissects every frame as 802.1AE")

# tshark's own SecTAG dissection: A's frames carry A's SCI, AN 0, E=C=1,
# and strictly increasing PNs starting at 1.
ft = subprocess.run(["tshark", "-r", pcap, "-Y", "eth.src == %s" % na.mac, "-T", "fields",
                     "-e", "macsec.SCI.system_identifier", "-e", "macsec.SCI.port_identifier",
                     "-e", "macsec.AN", "-e", "macsec.TCI.E", "-e", "macsec.TCI.C", "-e", "macsec.PN"],
                    capture_output=True, text=True).stdout.split("\n")
rows = [r.split("\t") for r in ft if r]
pns = [int(r[5]) for r in rows]
t.ok(rows and all(r[0] == na.mac and r[1] == "1" and int(r[2], 0) == 0 for r in rows),
     "SecTAGs from A: SCI = A's MAC / port 1, AN 0 (tshark)", rows[:3])
t.ok(rows and all(r[3] in ("1", "True") and r[4] in ("1", "True") for r in rows),
     "SecTAGs from A: E and C set (tshark)", rows[:3])
t.ok(pns == sorted(set(pns)) and pns and pns[0] >= 1, "PNs from A strictly increase", pns[:5])

sa = na.stats()
sb = nb.stats()
t.ok(sb[("rxsa", na.sci, 0)]["InPktsOK"] > 1000, "B counted InPktsOK",
     sb[("rxsa", na.sci, 0)])
t.eq(sb[("rxsa", na.sci, 0)]["InPktsNotValid"] + sb["secy"]["InPktsBadTag"], 0,
     "no invalid frames on a clean link")
t.ok(sa[("txsa", 0)]["OutPktsEncrypted"] > 1000, "A counted OutPktsEncrypted")
pn = int(na.ctl("get-txsa-pn", "an=0").split()[1].split("=")[1])
t.eq(pn, sa[("txsa", 0)]["OutPktsEncrypted"] + 1, "next TX PN = frames sent + 1")

# SAK rollover the way an MKA key server drives it (802.1X 12.8): new
# receive SAs first, then the new transmit SAs, then the old ones go, all
# while a ping flood runs; no echo may be lost.
NEW_AB = "0f" * 32
NEW_BA = "f0" * 32
flood = subprocess.Popen(["ip", "netns", "exec", a.name, "ping", "-q", "-c", "400", "-i", "0.005",
                          "-W", "2", "192.0.2.2"], stdout=subprocess.PIPE, text=True)
time.sleep(0.4)
for node, peer, rxkey, ssci_rx in ((na, nb, NEW_BA, "00000002"), (nb, na, NEW_AB, "00000001")):
    node.ctl("install-rxsa", "sci=" + peer.sci, "an=1", "pn=1", "key=" + rxkey,
             "ssci=" + ssci_rx, "salt=" + SALT)
    node.ctl("enable-rxsa", "sci=" + peer.sci, "an=1")
for node, txkey, ssci_tx in ((na, NEW_AB, "00000001"), (nb, NEW_BA, "00000002")):
    node.ctl("install-txsa", "an=1", "pn=1", "key=" + txkey, "ssci=" + ssci_tx, "salt=" + SALT)
    node.ctl("enable-txsa", "an=1")
time.sleep(0.4)
for node, peer in ((na, nb), (nb, na)):
    node.ctl("remove-txsa", "an=0")
    node.ctl("remove-rxsa", "sci=" + peer.sci, "an=0")
out = flood.communicate(timeout=60)[0]
t.ok(" 0% packet loss" in out, "SAK rollover under a ping flood loses nothing", out)
sb = nb.stats()
t.ok(sb[("rxsa", na.sci, 1)]["InPktsOK"] > 0 and ("rxsa", na.sci, 0) not in sb,
     "B receives on AN 1 and AN 0 is gone", sb)
t.ok("TXSC: %s on SA 1" % na.sci in na.ctl("show"), "A encodes with AN 1")

t.eq(na.stop(), 0, "A exits 0 on SIGTERM")
t.eq(nb.stop(), 0, "B exits 0 on SIGTERM")
t.ok(not os.path.exists(na.sock), "control socket removed on exit")
