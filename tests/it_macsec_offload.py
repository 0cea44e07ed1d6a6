#!/usr/bin/python3
"""it_macsec_offload.py — macsec-sw with the TAP offloads on (TSO super-frames
segmented by the daemon, validated TCP segments coalesced into the TAP) and
off (one frame per TAP read/write): the wire never carries a frame larger
than its MTU allows, and the segments on it are correct TCP.

Two namespaces joined by a veth pair, a SecY in each (integrity only, so
that tshark can dissect the TCP inside the SecTAG).  A sends 4 MiB over
IPv4 and 2 MiB over IPv6 to B, which hashes what arrives.  tcpdump captures
A's wire end and both TAPs.  Checked against tshark: every frame on the
wire is MACsec, at most MTU + 14 octets, with IP and TCP checksums tshark
finds good, and the TCP payloads in the capture, put in sequence order,
are exactly the bytes sent.  With offloads on, the sending TAP did hand
the daemon super-frames and the receiving TAP did get coalesced ones (both
larger than the MTU), so the test sees the offload path at work; with
them off, neither TAP sees a frame above the MTU."""
import hashlib
import os
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import macsecnode as m  # noqa: E402
import tap  # noqa: E402

t = tap.Tap()
tap.require_root(t)

KEY_AB = "00112233445566778899aabbccddeeff"
KEY_BA = "ffeeddccbbaa99887766554433221100"
WIRE_MTU = 1500
TAP_MAX = WIRE_MTU - 32 + 14    # TAP MTU (wire MTU - SecTAG - ICV) + Ethernet
WIRE_MAX = WIRE_MTU + 14
TRANSFERS = (("192.0.2.2", 4 << 20, 5001), ("2001:db8::2", 2 << 20, 5002))
tmp = tempfile.mkdtemp(prefix="qkdlab-offload-")
t.cleanup(lambda: subprocess.run(["rm", "-rf", tmp]))

SERVER = """
import hashlib, socket, sys
fam = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
s = socket.socket(fam); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(1); s.settimeout(60)
print("ready", flush=True)
c, _ = s.accept(); h = hashlib.sha256(); n = 0
while True:
    d = c.recv(1 << 20)
    if not d: break
    h.update(d); n += len(d)
print(n, h.hexdigest(), flush=True)
"""
CLIENT = """
import socket, sys
d = sys.stdin.buffer.read()
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=60); c.sendall(d); c.close()
"""


def capture(ns, dev, path, snap, buf_kib):
    p = subprocess.Popen(["ip", "netns", "exec", ns.name, "tcpdump", "-i", dev, "-U", "-n", "-s", str(snap),
                          "-B", str(buf_kib), "--immediate-mode", "-w", path], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    t.cleanup(lambda: p.poll() is None and p.kill())
    p.stderr.readline()  # "listening on ...": the capture is running
    return p


def tshark(path, *args):
    r = subprocess.run(["tshark", "-r", path, "-o", "tcp.desegment_tcp_streams:FALSE",
                        "-o", "tcp.check_checksum:TRUE", "-o", "ip.check_checksum:TRUE"] + list(args),
                       capture_output=True, text=True, timeout=300)
    return [line.split("\t") for line in r.stdout.splitlines() if line]


def frame_lens(path):
    return [int(r[0]) for r in tshark(path, "-T", "fields", "-e", "frame.len")]


def reassemble(rows, port):
    """The payload bytes A sent to port, in sequence order, from the capture."""
    segs = {}
    for _, _, _, dport, seq, plen, payload in rows:
        if dport == str(port) and int(plen) > 0:
            segs[int(seq)] = bytes.fromhex(payload.replace(":", ""))
    out, nxt = bytearray(), None
    for seq in sorted(segs):
        nxt = seq if nxt is None else nxt
        if seq > nxt:
            return None                 # a hole: a segment never crossed the wire
        out += segs[seq][nxt - seq:]
        nxt = max(nxt, seq + len(segs[seq]))
    return bytes(out)


def run(offload):
    tag = "on" if offload else "off"
    a, b = tap.Netns(t, "mo%sa" % tag[:2]), tap.Netns(t, "mo%sb" % tag[:2])
    tap.veth_pair(t, a, b)
    conf = os.path.join(tmp, "offload-%s.conf" % tag)
    with open(conf, "w") as f:
        f.write("offload = %s\n" % tag)
    for ns in (a, b):
        ns.run("sysctl -qw net.ipv6.conf.wire0.disable_ipv6=1 && ip link set wire0 mtu %d" % WIRE_MTU)
    na, nb = m.Node(t, a, extra=("-f", conf)), m.Node(t, b, extra=("-f", conf))
    for node, peer, tx, rx in ((na, nb, KEY_AB, KEY_BA), (nb, na, KEY_BA, KEY_AB)):
        m.install_static(node, peer.sci, tx, rx, "gcm-aes-128", encrypt="off")
    for ns, n in ((a, 1), (b, 2)):
        ns.run("ip addr add 192.0.2.%d/24 dev macsec0 && ip addr add 2001:db8::%d/64 dev macsec0 nodad"
               " && ip link set macsec0 up" % (n, n))
    t.eq(a.run("cat /sys/class/net/macsec0/mtu").stdout.strip(), str(WIRE_MTU - 32),
         "offload %s: the TAP's MTU leaves room for SecTAG and ICV" % tag)
    # Offloads bring the memory-mapped packet rings (the kernel accepted
    # them, no fallback); without offloads the plain path stays.
    logs = na.proc.output() + nb.proc.output()
    t.ok(logs.count("packet rings %s)" % tag) == 2,
         "offload %s: both SecYs run with packet rings %s" % (tag, tag), logs[-400:])

    wire, tap_a, tap_b = (os.path.join(tmp, "%s-%s.pcap" % (n, tag)) for n in ("wire", "tapa", "tapb"))
    # The wire is captured where A sends: B's veth end would drop a frame
    # above its MTU before any capture there saw it.  A 64 MiB buffer holds
    # the whole transfer, so the capture loses nothing when tcpdump is slow
    # to be scheduled (frame.len is the length on the wire even for a frame
    # longer than the 2048-octet snapshot); the TAP captures need the
    # lengths only.
    dumps = [capture(a, "wire0", wire, 2048, 65536), capture(a, "macsec0", tap_a, 128, 4096),
             capture(b, "macsec0", tap_b, 128, 4096)]
    sent = {}
    for addr, size, port in TRANSFERS:
        data = os.urandom(size)
        sent[port] = data
        srv = subprocess.Popen(["ip", "netns", "exec", b.name, "python3", "-c", SERVER, addr, str(port)],
                               stdout=subprocess.PIPE, text=True)
        t.cleanup(lambda srv=srv: srv.poll() is None and srv.kill())
        srv.stdout.readline()
        subprocess.run(["ip", "netns", "exec", a.name, "python3", "-c", CLIENT, addr, str(port)],
                       input=data, capture_output=True, timeout=120)
        try:
            got = srv.communicate(timeout=60)[0].split()
        except subprocess.TimeoutExpired:
            got = []
        t.eq(got, [str(size), hashlib.sha256(data).hexdigest()],
             "offload %s: %d MiB over %s arrive intact (sha256)" % (tag, size >> 20, addr))
    # tcpdump writes what it has read when interrupted; give it time to
    # read everything first.
    tap.wait_for(lambda: os.path.getsize(wire) > sum(len(v) for v in sent.values()), 20)
    time.sleep(1)
    for d in dumps:
        d.send_signal(signal.SIGINT)
        d.wait(timeout=30)
    report = dumps[0].stderr.read().decode()
    counts = dict((w[2], int(w[0])) for w in (line.split() for line in report.splitlines())
                  if len(w) >= 3 and w[0].isdigit())
    t.ok(counts.get("captured") and counts.get("captured") == counts.get("received") and
         counts.get("dropped") == 0, "offload %s: the wire capture lost nothing" % tag, report)

    lens = frame_lens(wire)
    t.ok(len(lens) > 4000, "offload %s: the wire capture holds the transfers (%d frames)" % (tag, len(lens)))
    t.ok(lens and max(lens) <= WIRE_MAX,
         "offload %s: no frame on the wire above MTU + 14 = %d octets (largest %d)" %
         (tag, WIRE_MAX, max(lens or [0])))
    rows = tshark(wire, "-Y", "tcp", "-T", "fields", "-e", "eth.type", "-e", "tcp.checksum.status",
                  "-e", "ip.checksum.status", "-e", "tcp.dstport", "-e", "tcp.seq_raw", "-e", "tcp.len",
                  "-e", "tcp.payload")
    rows = [r + [""] * (7 - len(r)) for r in rows]
    t.ok(len(rows) > 4000 and all(r[0] == "0x88e5" for r in rows),
         "offload %s: tshark finds the TCP segments inside 802.1AE frames (%d)" % (tag, len(rows)))
    bad = [r[:6] for r in rows if r[1] != "1" or r[2] not in ("1", "")]
    t.ok(not bad, "offload %s: every TCP and IPv4 checksum on the wire is good (tshark)" % tag, bad[:5])
    for _, size, port in TRANSFERS:
        t.ok(reassemble(rows, port) == sent[port],
             "offload %s: the segments to port %d reassemble to the bytes sent" % (tag, port))
    big_a, big_b = max(frame_lens(tap_a) or [0]), max(frame_lens(tap_b) or [0])
    if offload:
        t.ok(big_a > TAP_MAX, "offload on: the sending TAP handed over super-frames (largest %d)" % big_a)
        t.ok(big_b > TAP_MAX, "offload on: the receiving TAP got coalesced frames (largest %d)" % big_b)
    else:
        t.ok(big_a <= TAP_MAX and big_b <= TAP_MAX,
             "offload off: no TAP frame above the MTU (largest %d, %d)" % (big_a, big_b))
    drops = b.run("cat /sys/class/net/wire0/statistics/rx_dropped").stdout.strip()
    t.eq(drops, "0", "offload %s: B's veth end dropped nothing (it drops frames above its MTU)" % tag)
    sa, sb = na.stats(), nb.stats()
    rx = sb[("rxsa", na.sci, 0)]
    t.ok(rx["InPktsOK"] >= len([r for r in rows if r[3] in ("5001", "5002")]),
         "offload %s: B validated every data frame (InPktsOK %d)" % (tag, rx["InPktsOK"]))
    t.eq((rx["InPktsNotValid"], rx["InPktsLate"], sb["secy"]["InPktsBadTag"],
          sa["secy"]["OutPktsTooLong"]), (0, 0, 0, 0),
         "offload %s: nothing invalid, late, badly tagged or too long" % tag)
    t.eq((na.stop(), nb.stop()), (0, 0), "offload %s: both SecYs exit 0" % tag)


if subprocess.run(["which", "tshark"], capture_output=True).returncode != 0:
    t.skip_all("tshark not installed")
for key in ("offload", "qdisc-bypass", "packet-rings"):
    bad = os.path.join(tmp, "bad-%s.conf" % key)
    with open(bad, "w") as f:
        f.write("interface = eth9\n%s = maybe\n" % key)
    r = subprocess.run([tap.binpath("macsec-sw/macsec-sw"), "-n", "-f", bad], capture_output=True, text=True)
    t.ok(r.returncode == 1 and "%s must be on or off" % key in r.stderr and ":2" in r.stderr,
         "-n: '%s = maybe' is an error naming the line" % key, r.stderr)
run(True)
run(False)
t.done()
