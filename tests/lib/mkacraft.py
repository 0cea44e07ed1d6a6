"""mkacraft.py — whole MKA conversations written as pcap files, built from
IEEE 802.1X-2020 by hand (not with mka-agent's codec) so that a grader
reading them is checked against an independent encoder: Basic, Live and
Potential Peer List, SAK Use, Distributed SAK and KMD parameter sets
(Figures 11-7 to 11-11), EAPOL-Announcements with a KMD TLV (11.12), the
ICK/KEK KDF (6.2.1, 9.3), the ICV (9.4.1) and the SAK key wrap (RFC 3394)
with Python's `cryptography`.

    conv = Conversation(cak, ckn)        # station A (priority 16, key
    conv.build(qkd=False)                 # server) and B (priority 32)
    conv.write(path)

Conversation.build() takes keyword switches that break one rule each
(see BREAKS); the test grades every broken conversation.
"""
import os
import struct

from cryptography.hazmat.primitives.cmac import CMAC
from cryptography.hazmat.primitives.ciphers import algorithms
from cryptography.hazmat.primitives.keywrap import aes_key_wrap

PAE_GROUP = bytes.fromhex("0180c2000003")
ALGO_AGILITY = 0x0080c201
MAC_A = bytes.fromhex("02000000000a")
MAC_B = bytes.fromhex("02000000000b")
SAE_A, SAE_B = "SAE_A_01", "SAE_B_01"

# One rule each, named by the check that must catch it.
BREAKS = {
    "mka.eapol.header": "one MKPDU of B to B's own (individual) address",
    "mka.basic.encoding": "one MKPDU of B with an unknown Algorithm Agility",
    "mka.icv": "one MKPDU of B with a corrupted ICV",
    "mka.mn.increasing": "one MKPDU of B repeats its previous MN",
    "mka.peers.consistent": "B lists A with an MN A never sent",
    "mka.keyserver.election": "B (priority 32) claims key server beside A (16)",
    "mka.sak.distributed": "A wraps the SAK with a KEK not derived from the CAK",
    "mka.sak.use": "B reports the latest key under the wrong AN",
    "mka.hello.time": "B is silent for 7 s (MKA Life Time 6 s)",
    "mka.qkd.kmd": "one MKPDU of the initiator A lacks the KMD set",
    "mka.qkd.ckn": "the CKN is no QKD key ID (no key has it)",
    "mka.qkd.announce": "B announces while it is in a live CA",
}


def cmac(key, msg):
    c = CMAC(algorithms.AES(key))
    c.update(msg)
    return c.finalize()


def kdf(key, label, ctx, bits):
    """802.1X-2020 6.2.1: SP 800-108 counter mode, AES-CMAC PRF."""
    out = b""
    i = 1
    while len(out) * 8 < bits:
        out += cmac(key, bytes([i]) + label + b"\0" + ctx + struct.pack("!H", bits))
        i += 1
    return out[:bits // 8]


def ick_kek(cak, ckn):
    ctx = ckn[:16]
    return (kdf(cak, b"IEEE8021 ICK", ctx, len(cak) * 8),
            kdf(cak, b"IEEE8021 KEK", ctx, len(cak) * 8))


def pad4(b):
    return b + b"\0" * (-len(b) % 4)


def pset(ptype, octet2, nibble, body):
    """Figure 11-7: type, a type-specific octet, 4 bits + 12-bit length."""
    return pad4(struct.pack("!BBBB", ptype, octet2, (nibble << 4) | (len(body) >> 8), len(body) & 0xff) + body)


def basic(version, prio, ks, sci, mi, mn, ckn, algo=ALGO_AGILITY, desired=True, cap=3):
    body = sci + mi + struct.pack("!II", mn, algo) + ckn
    o3 = (0x80 if ks else 0) | (0x40 if desired else 0) | (cap << 4) | (len(body) >> 8)
    return pad4(struct.pack("!BBBB", version, prio, o3, len(body) & 0xff) + body)


def peers(ptype, entries):
    return pset(ptype, 0, 0, b"".join(mi + struct.pack("!I", mn) for mi, mn in entries)) if entries else b""


def sak_use(lan, ltx, lrx, lki, lkn, llpn):
    o2 = (lan << 6) | (0x20 if ltx else 0) | (0x10 if lrx else 0)
    body = lki + struct.pack("!II", lkn, llpn) + bytes(12) + struct.pack("!II", 0, 0)
    return pset(3, o2, 0, body)


def dist_sak(an, kn, wrapped):
    return pset(4, an << 6, 0, struct.pack("!I", kn) + wrapped)


def kmd(sae):
    return pset(6, 0, 0, sae.encode())


def eapol(dst, src, etype, body, version=3):
    frame = dst + src + struct.pack("!HBBH", 0x888e, version, etype, len(body)) + body
    return frame


def mkpdu(ick, dst, src, sets, icv_flip=False, version=3):
    head = dst + src + struct.pack("!HBBH", 0x888e, version, 5, len(sets) + 16) + sets
    icv = cmac(ick, head)
    if icv_flip:
        icv = bytes([icv[0] ^ 1]) + icv[1:]
    frame = head + icv
    return frame + b"\0" * max(0, 60 - len(frame))


def announcement(src, sae):
    k = sae.encode() if isinstance(sae, str) else sae
    tlv = struct.pack("!BB", (113 << 1) | (len(k) >> 8), len(k) & 0xff) + k
    frame = eapol(PAE_GROUP, src, 6, tlv)
    return frame + b"\0" * max(0, 60 - len(frame))


class Conversation:
    """A and B in one CA for about 13 s: A (priority 16) is key server and
    distributes one SAK (KN 1, AN 0); both then use it and their lowest
    PNs grow.  In QKD form A (the initiator) carries its SAE ID in a KMD
    set and B announces its own until it is live."""

    def __init__(self, cak, ckn):
        self.cak, self.ckn = cak, ckn
        self.frames = []        # (time, bytes)

    def build(self, qkd=False, brk=None):
        ick, kek = ick_kek(self.cak, self.ckn)
        if brk == "mka.sak.distributed":
            kek = os.urandom(len(kek))
        sak = os.urandom(16)
        wrapped = aes_key_wrap(kek, sak)
        mi = {"a": os.urandom(12), "b": os.urandom(12)}
        mac = {"a": MAC_A, "b": MAC_B}
        prio = {"a": 16, "b": 32}
        mn = {"a": 0, "b": 0}
        heard = {"a": 0, "b": 0}        # the MN the other side accepted last
        lpn = {"a": 1, "b": 1}
        out = []
        if qkd:
            out += [(0.0, announcement(MAC_B, SAE_B)), (0.9, announcement(MAC_B, SAE_B))]
        # (time, sender): A starts, B answers; then each every second.
        sched = [(1.0, "a"), (1.3, "b"), (1.5, "a"), (1.8, "b")]
        sched += [(2.0 + k * 0.5, "a" if k % 2 == 0 else "b") for k in range(22)]
        if brk == "mka.hello.time":
            sched = [(ts, s) for ts, s in sched if not (s == "b" and 3.0 < ts < 10.5)]
        b_count = 0
        for ts, s in sched:
            o = "b" if s == "a" else "a"
            mn[s] += 1
            n = mn[s]
            if brk == "mka.mn.increasing" and s == "b" and b_count == 5:
                mn[s] -= 1
                n = mn[s]
            # A hears B first in B's MN 1 (B lists A as potential);
            # from then on each lists the other as live.
            first = (ts, s) in ((1.0, "a"), (1.3, "b"))
            live = [] if first else [(mi[o], heard[o])]
            pot = [(mi[o], heard[o])] if (ts, s) == (1.3, "b") else []
            if brk == "mka.peers.consistent" and s == "b" and b_count == 6:
                live = [(mi[o], heard[o] + 5)]
            ks = s == "a" and not first
            if brk == "mka.keyserver.election" and s == "b" and b_count == 7:
                ks = True
            bad_algo = brk == "mka.basic.encoding" and s == "b" and b_count == 4
            bad_icv = brk == "mka.icv" and s == "b" and b_count == 8
            sets = basic(3, prio[s], ks, mac[s] + b"\0\1", mi[s], n, self.ckn,
                         algo=ALGO_AGILITY + 1 if bad_algo else ALGO_AGILITY)
            sets += peers(1, live) + peers(2, pot)
            if not first:
                in_use = ts >= 1.8
                lan = 1 if brk == "mka.sak.use" and s == "b" and ts > 5 else 0
                sets += sak_use(lan, in_use, in_use, mi["a"], 1, lpn[s])
                if in_use:
                    lpn[s] += 37
            if s == "a" and not first and ts < 2.1:
                sets += dist_sak(0, 1, wrapped)
            if qkd and s == "a" and not (brk == "mka.qkd.kmd" and mn["a"] == 6):
                sets += kmd(SAE_A)
            dst = mac["b"] if brk == "mka.eapol.header" and s == "b" and b_count == 3 else PAE_GROUP
            out.append((ts, mkpdu(ick, dst, mac[s], sets, icv_flip=bad_icv)))
            if not (bad_algo or bad_icv):       # a receiver discards those
                heard[s] = n
            if s == "b":
                b_count += 1
        if brk == "mka.qkd.announce":
            out.append((9.05, announcement(MAC_B, SAE_B)))
        self.frames = sorted(out, key=lambda x: x[0])
        return self

    def write(self, path, t0=1700000000.0):
        with open(path, "wb") as f:
            f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
            for ts, fr in self.frames:
                ts += t0
                f.write(struct.pack("<IIII", int(ts), int(round((ts % 1) * 1e6)), len(fr), len(fr)) + fr)
