#!/usr/bin/python3
"""eapol.py — MKPDUs and EAPOL-Announcements built by hand from IEEE
802.1X-2020 clause 11 (not with mka-agent's codec, so that the agent is
fed by an independent peer), and a bounded sender for them.

As a module: mkpdu(), announcement(), send().  As a program, run inside
the namespace that owns the interface:

    ip netns exec NS tests/lib/eapol.py --iface wire0 --kind mkpdu \\
        --kmd SAE_A_01 --count 3000 --rate 1000

sends COUNT frames at most RATE per second, each an MKPDU with a random
CKN and MI (or an announcement), and prints "sent N in S s".
"""
import argparse
import os
import socket
import struct
import sys
import time

PAE_GROUP = bytes.fromhex("0180c2000003")   # the default EAPOL destination (802.1X 11.1.1)
ETH_P_PAE = 0x888e
EAPOL_VERSION = 3                            # 802.1X-2010 and -2020
EAPOL_MKA, EAPOL_ANNOUNCE = 5, 6
ALGO_AGILITY = 0x0080c201                    # the only defined value, 11.11.1
PS_KMD = 6                                   # Key Management Domain parameter set
TLV_KMD = 113                                # announcement TLV, Table 11-8


def pad4(b):
    return b + b"\0" * (-len(b) % 4)


def eth(dst, src, eapol_type, body):
    frame = dst + src + struct.pack("!HBBH", ETH_P_PAE, EAPOL_VERSION, eapol_type, len(body)) + body
    return frame + b"\0" * max(0, 60 - len(frame))     # Ethernet minimum, after the EAPOL body


def mkpdu(ckn, kmd=None, dst=PAE_GROUP, src=None, sci=None, mi=None, mn=1, priority=32, icv=None):
    """An MKPDU: Basic Parameter Set (Figure 11-8) with ckn, an optional
    KMD parameter set (type 6) naming kmd, and a 16-octet ICV (random
    unless given: nobody but the CA's members can compute it)."""
    src = src or b"\x02" + os.urandom(5)
    sci = sci or src + b"\x00\x01"
    mi = mi or os.urandom(12)
    body = sci + mi + struct.pack("!II", mn, ALGO_AGILITY) + ckn
    # octet 3: MACsec Desired, capability 3 (confidentiality, offsets 0/30/50), length high nibble
    sets = pad4(struct.pack("!BBBB", 1, priority, 0x40 | 0x30 | (len(body) >> 8), len(body) & 0xff) + body)
    if kmd:
        k = kmd.encode() if isinstance(kmd, str) else kmd
        sets += pad4(struct.pack("!BBBB", PS_KMD, 0, len(k) >> 8, len(k) & 0xff) + k)
    return eth(dst, src, EAPOL_MKA, sets + (icv or os.urandom(16)))


def announcement(kmd, dst=PAE_GROUP, src=None):
    """An EAPOL-Announcement (generic) with one KMD TLV (7-bit type, 9-bit
    length) carrying an SAE ID."""
    k = kmd.encode() if isinstance(kmd, str) else kmd
    tlv = struct.pack("!BB", (TLV_KMD << 1) | (len(k) >> 8), len(k) & 0xff) + k
    return eth(dst, src or b"\x02" + os.urandom(5), EAPOL_ANNOUNCE, tlv)


def send(iface, frames, rate):
    """Sends the frames (an iterable) on iface at most rate per second;
    returns (count, seconds)."""
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((iface, 0))
    t0 = time.monotonic()
    n = 0
    for f in frames:
        ahead = t0 + n / rate - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)
        s.send(f)
        n += 1
    s.close()
    return n, time.monotonic() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--iface", required=True)
    ap.add_argument("--kind", choices=("mkpdu", "announce"), default="mkpdu")
    ap.add_argument("--kmd", required=True, help="SAE ID in the KMD")
    ap.add_argument("--count", type=int, default=1)
    ap.add_argument("--rate", type=float, default=100.0, help="frames per second, at most")
    ap.add_argument("--ckn-len", type=int, default=16)
    ap.add_argument("--same-ckn", action="store_true", help="one random CKN for every frame")
    ap.add_argument("--dst", default=PAE_GROUP.hex(), help="destination MAC, hex")
    a = ap.parse_args()
    if not (0 < a.count <= 100000 and 0 < a.rate <= 10000):
        sys.exit("eapol.py: count 1..100000 and rate up to 10000/s (bounded load)")
    dst = bytes.fromhex(a.dst.replace(":", ""))
    if a.kind == "mkpdu":
        one = os.urandom(a.ckn_len)
        frames = (mkpdu(one if a.same_ckn else os.urandom(a.ckn_len), a.kmd, dst) for _ in range(a.count))
    else:
        frames = (announcement(a.kmd, dst) for _ in range(a.count))
    n, dt = send(a.iface, frames, a.rate)
    print("sent %d in %.2f s" % (n, dt))


if __name__ == "__main__":
    main()
