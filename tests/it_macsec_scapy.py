#!/usr/bin/python3
"""it_macsec_scapy.py — interop with an independent MACsec implementation
(scapy.contrib.macsec.MACsecSA, Debian python3-scapy) and the receive
discards of 802.1AE 10.6 with their counters.

One namespace: macsec-sw on wire0, scapy on the other end (peer0) of the
veth.  For all four cipher suites, confidentiality offsets 0/30/50 (non-XPN),
integrity-only mode and several frame sizes: frames scapy protects must come
out of the TAP as the original UDP datagram, and frames macsec-sw protects
must decrypt with scapy to the datagram the test sent into the TAP.  Then
replayed, late, forged-ICV, unknown-SCI, truncated, untagged and EAPOL
frames are sent and the counters 802.1AE names are checked."""
import ctypes
import os
import socket
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import macsecnode as m  # noqa: E402
import tap  # noqa: E402

t = tap.Tap()
tap.require_root(t)
try:
    from scapy.contrib.macsec import MACsecSA, MACsec
    from scapy.layers.l2 import Ether
    from scapy.layers.inet import IP, UDP
    from scapy.packet import Raw
except ImportError:
    t.skip_all("python3-scapy not installed")

ns = tap.Netns(t, "mssc")
subprocess = m.subprocess
subprocess.run(["ip", "link", "add", "wire0", "netns", ns.name, "type", "veth", "peer", "name",
                "peer0", "netns", ns.name], check=True)
for ifn in ("wire0", "peer0"):
    ns.run("sysctl -qw net.ipv6.conf.%s.disable_ipv6=1 && ip link set %s up" % (ifn, ifn))

# Enter the namespace (this thread only; the test is single-threaded).
libc = ctypes.CDLL(None, use_errno=True)
home_ns = os.open("/proc/self/ns/net", os.O_RDONLY)
# Leave before the namespace is torn down (that kills what is inside it).
t.cleanup(lambda: libc.setns(home_ns, 0x40000000))
with open("/var/run/netns/" + ns.name) as f:
    if libc.setns(f.fileno(), 0x40000000) != 0:  # CLONE_NEWNET
        t.skip_all("setns failed")

node = m.Node(t, ns)
ns.run("sysctl -qw net.ipv6.conf.macsec0.disable_ipv6=1")
ns.run("ip addr add 192.0.2.1/24 dev macsec0 && ip link set macsec0 up")
PEER_MAC = m.mac_of(ns, "peer0")
PEER_SCI = m.sci_of(PEER_MAC)
ns.run("ip neigh replace 192.0.2.2 lladdr %s dev macsec0 nud permanent" % PEER_MAC)
TAP_MAC = m.mac_of(ns, "macsec0")
t.eq(TAP_MAC, node.mac, "the TAP carries the wire interface's MAC")

peer = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x88e5))
peer.bind(("peer0", 0))
peer.settimeout(2)
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
udp.bind(("192.0.2.1", 9999))
udp.settimeout(2)

KEYS = {16: bytes(range(1, 17)), 32: bytes(range(100, 132))}
SALT = bytes.fromhex("e630e81a48de86a21c66fa6d")
SUITES = [("gcm-aes-128", 16, False), ("gcm-aes-256", 32, False),
          ("gcm-aes-xpn-128", 16, True), ("gcm-aes-xpn-256", 32, True)]
SIZES = (1, 33, 200, 1400)
HDR = 28  # DA SA SecTAG-with-SCI: scapy's assoclen base


def configure(cipher, klen, xpn, offset, encrypt, rx_pn=1, tx_pn=1):
    """Fresh SAs (AN 0) in both directions; SSCI 1 for the peer, 2 for us."""
    for args in (("remove-txsa", "an=0"), ("delete-rxsc", "sci=" + PEER_SCI)):
        node.ctl_raw(*args)
    node.ctl("set-policy", "cipher=" + cipher, "offset=%d" % offset,
             "encrypt=" + ("on" if encrypt else "off"), "validate=strict",
             "replay-protect=on", "replay-window=0")
    key = KEYS[klen].hex()
    x_rx = ["ssci=00000001", "salt=" + SALT.hex()] if xpn else []
    x_tx = ["ssci=00000002", "salt=" + SALT.hex()] if xpn else []
    node.ctl("create-rxsc", "sci=" + PEER_SCI)
    node.ctl("install-rxsa", "sci=" + PEER_SCI, "an=0", "pn=%d" % rx_pn, "key=" + key, *x_rx)
    node.ctl("enable-rxsa", "sci=" + PEER_SCI, "an=0")
    node.ctl("install-txsa", "an=0", "pn=%d" % tx_pn, "key=" + key, *x_tx)
    node.ctl("enable-txsa", "an=0")


def peer_sa(klen, xpn, encrypt, pn, sci=PEER_SCI, ssci=1):
    return MACsecSA(sci=bytes.fromhex(sci), an=0, pn=pn, key=KEYS[klen], icvlen=16,
                    encrypt=encrypt, send_sci=True, xpn_en=xpn, ssci=ssci,
                    salt=SALT if xpn else None)


def scapy_frame(sa, payload, offset):
    plain = Ether(dst=TAP_MAC, src=PEER_MAC) / IP(src="192.0.2.2", dst="192.0.2.1") / \
        UDP(sport=4444, dport=9999) / Raw(payload)
    return bytes(sa.encrypt(sa.encap(plain), assoclen=HDR + offset))


def recv_udp():
    try:
        return udp.recv(65536)
    except socket.timeout:
        return None


def recv_wire():
    try:
        return peer.recv(65536)
    except socket.timeout:
        return None


def drain():
    udp.settimeout(0.05)
    peer.settimeout(0.05)
    while recv_udp() is not None or recv_wire() is not None:
        pass
    udp.settimeout(2)
    peer.settimeout(2)


cases = []
for cipher, klen, xpn in SUITES:
    for offset in ((0,) if xpn else (0, 30, 50)):
        cases.append((cipher, klen, xpn, offset, True))
    cases.append((cipher, klen, xpn, 0, False))

for cipher, klen, xpn, offset, encrypt in cases:
    label = "%s %s offset %d" % (cipher, "encrypt" if encrypt else "integrity", offset)
    configure(cipher, klen, xpn, offset, encrypt)
    drain()
    rx_ok = tx_ok = True
    diag = []
    for i, size in enumerate(SIZES):
        payload = bytes((i * 31 + j) & 0xff for j in range(size))
        # scapy -> macsec-sw -> TAP -> UDP socket
        peer.send(scapy_frame(peer_sa(klen, xpn, encrypt, pn=i + 1), payload, offset))
        got = recv_udp()
        if got != payload:
            rx_ok = False
            diag.append("rx size %d: got %r" % (size, got and got[:16]))
        # UDP socket -> TAP -> macsec-sw -> wire -> scapy decrypts
        udp.sendto(payload, ("192.0.2.2", 9999))
        wire = recv_wire()
        try:
            pkt = Ether(wire)
            sa = peer_sa(klen, xpn, encrypt, pn=i + 1, sci=node.sci, ssci=2)
            # scapy would take ICV octets into A when the frame is shorter
            # than the offset; 14.5 then authenticates the whole frame.
            dec = sa.decap(sa.decrypt(pkt, assoclen=min(HDR + offset, len(wire) - 16)))
            ok = (pkt[MACsec].PN == i + 1 and bytes(dec[UDP].payload) == payload and
                  pkt[MACsec].E == encrypt and pkt[MACsec].C == encrypt)
            if encrypt and offset and len(bytes(dec)) - 12 >= offset:
                # The first offset octets of user data travel in clear.
                ok = ok and wire[HDR:HDR + offset] == bytes(dec)[12:12 + offset]
                ok = ok and wire[HDR + offset:-16] != bytes(dec)[12 + offset:]
        except Exception as e:  # noqa: BLE001 - reported as a failure
            ok = False
            diag.append("tx size %d: %r" % (size, e))
        tx_ok = tx_ok and ok
    t.ok(rx_ok, "scapy -> macsec-sw, %s, sizes %s" % (label, SIZES), "\n".join(diag))
    t.ok(tx_ok, "macsec-sw -> scapy, %s, sizes %s" % (label, SIZES), "\n".join(diag))
    st = node.stats()[("rxsa", PEER_SCI, 0)]
    t.eq((st["InPktsOK"], st["InPktsNotValid"]), (len(SIZES), 0), "InPktsOK counts them, " + label)

# ---- XPN with PNs above 2^32: only 32 bits travel; both ends recover 64 ----
BASE = (7 << 32) + 0xfffffffe   # crosses into the next 2^32 window
configure("gcm-aes-xpn-256", 32, True, 0, True, rx_pn=BASE, tx_pn=BASE)
drain()
rx_ok = tx_ok = True
for i in range(4):
    pn = BASE + i
    payload = b"xpn-%d" % i
    peer.send(scapy_frame(peer_sa(32, True, True, pn=pn), payload, 0))
    rx_ok = rx_ok and recv_udp() == payload
    udp.sendto(payload, ("192.0.2.2", 9999))
    wire = recv_wire()
    try:
        pkt = Ether(wire)
        sa = peer_sa(32, True, True, pn=pn, sci=node.sci, ssci=2)
        dec = sa.decap(sa.decrypt(pkt, assoclen=HDR))
        tx_ok = tx_ok and pkt[MACsec].PN == pn & 0xffffffff and bytes(dec[UDP].payload) == payload
    except Exception:  # noqa: BLE001 - a failure, reported below
        tx_ok = False
t.ok(rx_ok, "XPN-256 PNs 2^35-2 .. 2^35+1 from scapy recovered and accepted")
t.ok(tx_ok, "XPN-256 PNs 2^35-2 .. 2^35+1 sent with the right 32 bits, scapy decrypts")
t.eq(node.ctl("get-rxsa-pn", "sci=" + PEER_SCI, "an=0").split()[2], "next-pn=%d" % (BASE + 4),
     "64-bit next PN after the 2^32 boundary")

# ---- receive discards, GCM-AES-128 with encryption, replay window 0 ----
configure("gcm-aes-128", 16, False, 0, True)
drain()


def counters():
    s = node.stats()
    return s["secy"], s[("rxsc", PEER_SCI)], s[("rxsa", PEER_SCI, 0)]


tapsock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
tapsock.bind(("macsec0", 0))


def tap_frames(timeout):
    """Frames arriving on the TAP (macsec-sw's Controlled Port output)."""
    seen = []
    tapsock.settimeout(timeout)
    try:
        while True:
            fr, addr = tapsock.recvfrom(65536)
            if addr[2] != socket.PACKET_OUTGOING:
                seen.append(fr)
    except socket.timeout:
        pass
    return seen


def send_and_expect_drop(frame, what, scope, counter):
    tap_frames(0.05)
    before = counters()
    peer.send(frame)
    # Judged on the TAP: what reaches the wire interface's own IP stack
    # is the host's business (see macsec-sw(8), SECURITY).
    got = [f for f in tap_frames(0.5) if f[12:14] != b"\x86\xdd"] or None
    after = tap.wait_for(lambda: counters() if counters()[scope][counter] >
                         before[scope][counter] else None, 3) or counters()
    t.ok(got is None, "%s: not delivered" % what)
    t.eq(after[scope][counter] - before[scope][counter], 1, "%s: %s + 1" % (what, counter))


f10 = scapy_frame(peer_sa(16, False, True, pn=10), b"ten", 0)
peer.send(f10)
t.eq(recv_udp(), b"ten", "PN 10 accepted")
send_and_expect_drop(f10, "replayed frame", 2, "InPktsLate")
send_and_expect_drop(scapy_frame(peer_sa(16, False, True, pn=5), b"five", 0), "late frame (PN 5)",
                     2, "InPktsLate")
forged = bytearray(scapy_frame(peer_sa(16, False, True, pn=11), b"forged", 0))
forged[-1] ^= 0x40
send_and_expect_drop(bytes(forged), "forged ICV", 2, "InPktsNotValid")
send_and_expect_drop(scapy_frame(peer_sa(16, False, True, pn=12, sci="0200000000990001"),
                                 b"who", 0), "unknown SCI", 0, "InPktsNoSCI")
trunc = scapy_frame(peer_sa(16, False, True, pn=13), b"x" * 100, 0)[:40]
send_and_expect_drop(trunc, "truncated frame", 0, "InPktsBadTag")
plain = bytes(Ether(dst=TAP_MAC, src=PEER_MAC) / IP(src="192.0.2.2", dst="192.0.2.1") /
              UDP(sport=4444, dport=9999) / Raw(b"plain"))
send_and_expect_drop(plain, "untagged frame (strict)", 0, "InPktsNoTag")
an1 = bytearray(scapy_frame(peer_sa(16, False, True, pn=14), b"an1", 0))
an1[14] = (an1[14] & 0xfc) | 1
send_and_expect_drop(bytes(an1), "AN without an SA", 1, "InPktsNotUsingSA")
# A genuine frame still passes after all that (nothing moved the window).
drain()
peer.send(scapy_frame(peer_sa(16, False, True, pn=15), b"fifteen", 0))
t.eq(recv_udp(), b"fifteen", "a valid frame after the discards is delivered")

# EAPOL is for the MKA agent: not delivered to the TAP, not counted.
before = node.stats()
eapol = bytes.fromhex("0180c2000003") + bytes.fromhex(PEER_MAC.replace(":", "")) + \
    b"\x88\x8e" + bytes([3, 5, 0, 4]) + b"mka!" + bytes(40)
peer.send(eapol)
seen = [f for f in tap_frames(1) if f[12:14] == b"\x88\x8e"]
after = node.stats()
t.eq(seen, [], "EAPOL is never delivered to the TAP")
t.eq(after["secy"], before["secy"], "EAPOL touches no SecY counter")

t.eq(node.stop(), 0, "macsec-sw exits 0 on SIGTERM")
