#!/usr/bin/python3
"""it_vm_macsec_static.py — macsec-sw against the Linux kernel's MACsec
(drivers/net/macsec.c, in a QEMU VM) with static SAs set by `ip macsec`:
all four cipher suites, integrity only and confidentiality, replay
protection on, traffic both ways.

Topology (all of it the test's own):

    ns vsw: macsec-sw on wire0 --veth-- ns vmid: bridge br0 --TAP vm0-- VM: wire0, macsec0

For each suite and mode: a fresh macsec-sw and a fresh kernel macsec0 with
the same keys (XPN: SSCI and salt); pings both ways with fixed neighbours
(no ARP) and IPv6 off, so that the frames sent are exactly the pings.  A
capture on the bridge port, dissected by tshark, counts the frames each
side put on the wire; both SecYs' counters must equal those counts; the
E and C bits and the plaintext's visibility must match the mode.  Last,
one captured frame of each direction is sent again: both replay checks
(the kernel's and macsec-sw's) count it late and deliver nothing."""
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import macsecnode as m  # noqa: E402
import qvm  # noqa: E402
import tap  # noqa: E402

t = tap.Tap()
tap.require_root(t)
try:
    qvm.check_host()
except qvm.VMError as e:
    if os.environ.get("CI"):
        raise
    t.skip_all(str(e))

SUITES = ("gcm-aes-128", "gcm-aes-256", "gcm-aes-xpn-128", "gcm-aes-xpn-256")
SW_IP, VM_IP = "192.0.2.1", "192.0.2.2"
PING_SW, PING_VM = 4, 6               # echo requests each side sends
PATTERN = "716b646c61622d766d2d706c61696e21"   # "qkdlab-vm-plain!" in every ICMP payload
SALT = "e630e81a48de86a21c66fa6d"
SSCI_SW, SSCI_VM = "00000001", "00000002"
NOIPV6 = "for f in /proc/sys/net/ipv6/conf/*/disable_ipv6; do echo 1 > $f; done\n"

sw = tap.Netns(t, "vsw")
mid = tap.Netns(t, "vmid")
for ns in (sw, mid):
    ns.run("sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1")
tap.veth_pair(t, sw, mid, "wire0", "sw0")

vm = qvm.VM(nics=[qvm.Nic(mid.name, "vm0", "wire0")], rc=NOIPV6, name="it-vm-static")
t.cleanup(vm.stop)
vm.start()
t.ok(True, "VM up with kernel %s in %.1f s" % (vm.kernel_version, vm.boot_seconds))
# The bridge is the switch between the two; EAPOL's group address is
# forwarded too (group_fwd_mask bit 3), as a wire would.
mid.run("ip link add br0 type bridge stp_state 0 group_fwd_mask 8 && ip link set sw0 master br0 && "
        "ip link set vm0 master br0 && ip link set br0 up")
vm.sh("ip link set wire0 up")
VM_MAC = vm.nics[0].mac
VM_SCI = m.sci_of(VM_MAC)


def kernel_stats():
    js = json.loads(vm.sh("ip -s -j macsec show macsec0"))[0]
    return js


def frames(pcap):
    """[(src MAC, E, C, AN)] of every frame in pcap, as tshark dissects them."""
    out = subprocess.run(["tshark", "-r", pcap, "-T", "fields", "-E", "separator=,", "-e", "eth.src",
                          "-e", "eth.type", "-e", "macsec.TCI.E", "-e", "macsec.TCI.C", "-e", "macsec.AN"],
                         capture_output=True, text=True, timeout=60).stdout.split()
    return [tuple(ln.split(",")) for ln in out]


def onoff(v):
    return "1" if v in ("1", "True", "true") else "0"


INJECT = r"""
import socket, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((sys.argv[1], 0))
s.send(bytes.fromhex(sys.argv[2]))
"""


def raw_frames(pcap):
    """The frames of a classic pcap file as bytes (tcpdump -w writes one)."""
    import struct
    data = open(pcap, "rb").read()
    off, out = 24, []
    while off + 16 <= len(data):
        incl = struct.unpack_from("<I", data, off + 8)[0]
        out.append(data[off + 16:off + 16 + incl])
        off += 16 + incl
    return out


def one(suite, encrypt):
    mode = "confidentiality" if encrypt else "integrity only"
    tag = "%s %s" % (suite, mode)
    klen = 64 if "256" in suite else 32
    k_sw, k_vm = os.urandom(klen // 2).hex(), os.urandom(klen // 2).hex()
    xpn = "xpn" in suite

    # macsec-sw: a fresh one for each case (counters from zero).
    node = m.Node(t, sw)
    m.install_static(node, VM_SCI, k_sw, k_vm, suite, ssci_tx=SSCI_SW if xpn else None,
                     ssci_rx=SSCI_VM if xpn else None, salt=SALT if xpn else None,
                     encrypt="on" if encrypt else "off", replay_protect="on", replay_window=0,
                     validate="strict")
    sw.run("sysctl -qw net.ipv6.conf.macsec0.disable_ipv6=1", check=False)
    sw.run("ip addr add %s/24 dev macsec0 && ip link set macsec0 up" % SW_IP)
    tap_mac = m.mac_of(sw, "macsec0")
    sw.run("ip neigh replace %s lladdr %s dev macsec0 nud permanent" % (VM_IP, VM_MAC))

    # The kernel's SecY, the same keys the other way round.
    pn = "xpn 1" if xpn else "pn 1"
    x_vm = " ssci %s salt %s" % (SSCI_VM, SALT) if xpn else ""
    x_sw = " ssci %s salt %s" % (SSCI_SW, SALT) if xpn else ""
    vm.sh("ip link del macsec0 2>/dev/null; "
          "ip link add link wire0 macsec0 type macsec port 1 cipher %s encrypt %s replay on window 0 "
          "validate strict && "
          "ip macsec add macsec0 tx sa 0 %s on%s key 01 %s && "
          "ip macsec add macsec0 rx port 1 address %s on && "
          "ip macsec add macsec0 rx port 1 address %s sa 0 %s on%s key 02 %s && "
          "ip addr add %s/24 dev macsec0 && ip link set macsec0 up && "
          "ip neigh replace %s lladdr %s dev macsec0 nud permanent"
          % (suite, "on" if encrypt else "off", pn, x_vm, k_vm, node.mac, node.mac, pn, x_sw, k_sw,
             VM_IP, SW_IP, tap_mac))

    pcap = tempfile.mktemp(prefix="qkdlab-vm-static-", suffix=".pcap")
    t.cleanup(lambda: os.path.exists(pcap) and os.unlink(pcap))
    dump = subprocess.Popen(["ip", "netns", "exec", mid.name, "tcpdump", "-i", "sw0", "--immediate-mode", "-U",
                             "-n", "-w", pcap],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    t.cleanup(lambda: dump.poll() is None and dump.kill())
    dump.stderr.readline()          # "listening on sw0 ...": the capture is live
    r1 = sw.run("ping -n -c %d -i 0.1 -W 2 -p %s %s" % (PING_SW, PATTERN, VM_IP), check=False)
    r2 = vm.run("ping -n -c %d -i 0.1 -W 2 -p %s %s" % (PING_VM, PATTERN, SW_IP), timeout=30)
    time.sleep(0.3)
    dump.terminate()
    dump.wait(10)
    t.ok(r1.returncode == 0 and r2.rc == 0, "%s: pings both ways (%d from macsec-sw, %d from the kernel)"
         % (tag, PING_SW, PING_VM), r1.stdout + r1.stderr + r2.out)

    # What the two ends put on the wire (macsec-sw's wire and controlled
    # port, the VM's NIC); the bridge's own frames (IGMP reports of an
    # interface that just came up) are not theirs.
    fr = [f for f in frames(pcap) if f[0] in (node.mac, tap_mac, VM_MAC)]
    n = PING_SW + PING_VM          # each side: its requests and its replies
    from_sw = [f for f in fr if f[0] == node.mac]
    from_vm = [f for f in fr if f[0] == VM_MAC]
    e = "1" if encrypt else "0"
    t.ok(len(fr) == 2 * n and len(from_sw) == n and len(from_vm) == n and
         all(f[1] == "0x88e5" and onoff(f[2]) == e and onoff(f[3]) == e and f[4] in ("0", "0x00")
             for f in fr),
         "%s: the wire carried %d MACsec frames each way, E=C=%s, AN 0 (tshark)" % (tag, n, e), fr)
    raw = open(pcap, "rb").read()
    plain = bytes.fromhex(PATTERN)
    t.ok((plain in raw) != encrypt, "%s: the ICMP payload is %s on the wire"
         % (tag, "hidden" if encrypt else "in the clear (integrity only)"))

    ks = kernel_stats()
    ss = node.stats()
    out_k = ks["sa_list"][0]
    in_k = ks["rx_sc"][0]["sa_list"][0]
    got = {
        "macsec-sw tx": ss[("txsa", 0)]["OutPktsEncrypted" if encrypt else "OutPktsProtected"],
        "macsec-sw tx other": ss[("txsa", 0)]["OutPktsProtected" if encrypt else "OutPktsEncrypted"],
        "kernel rx OK": in_k["InPktsOK"],
        "kernel rx bad": in_k["InPktsInvalid"] + in_k["InPktsNotValid"] + ks["rx_sc"][0]["InPktsLate"],
        "kernel tx": out_k["OutPktsEncrypted" if encrypt else "OutPktsProtected"],
        "kernel tx other": out_k["OutPktsProtected" if encrypt else "OutPktsEncrypted"],
        "macsec-sw rx OK": ss[("rxsa", VM_SCI, 0)]["InPktsOK"],
        "macsec-sw rx bad": ss[("rxsa", VM_SCI, 0)]["InPktsNotValid"] + ss[("rxsa", VM_SCI, 0)]["InPktsLate"],
        "kernel octets": ks["rx_sc"][0]["InOctetsDecrypted" if encrypt else "InOctetsValidated"] > 0,
    }
    want = {"macsec-sw tx": len(from_sw), "macsec-sw tx other": 0, "kernel rx OK": len(from_sw),
            "kernel rx bad": 0, "kernel tx": len(from_vm), "kernel tx other": 0,
            "macsec-sw rx OK": len(from_vm), "macsec-sw rx bad": 0, "kernel octets": True}
    t.eq(got, want, "%s: both SecYs' SA counters equal the frames on the wire" % tag)

    # Replay: one frame of each direction again.  The kernel and macsec-sw
    # count it late (PN below the lowest acceptable PN) and deliver nothing.
    frs = raw_frames(pcap)
    sw_frame = next(f for f in frs if f[6:12] == bytes.fromhex(node.mac.replace(":", "")))
    vm_frame = next(f for f in frs if f[6:12] == bytes.fromhex(VM_MAC.replace(":", "")))
    mid.run("python3 -c '%s' vm0 %s && python3 -c '%s' sw0 %s" % (INJECT, sw_frame.hex(), INJECT, vm_frame.hex()))
    time.sleep(0.5)
    ks2, ss2 = kernel_stats(), node.stats()
    t.eq((ks2["rx_sc"][0]["InPktsLate"], ks2["rx_sc"][0]["sa_list"][0]["InPktsOK"],
          ss2[("rxsa", VM_SCI, 0)]["InPktsLate"], ss2[("rxsa", VM_SCI, 0)]["InPktsOK"]),
         (1, len(from_sw), 1, len(from_vm)),
         "%s: a replayed frame is late for the kernel and for macsec-sw, delivered by neither" % tag)
    t.eq(node.stop(), 0, "%s: macsec-sw exits 0" % tag)


for suite in SUITES:
    for encrypt in (False, True):
        t.case("%s encrypt=%s" % (suite, encrypt))(one, suite, encrypt)

t0 = time.monotonic()
rc = vm.stop()
t.ok(time.monotonic() - t0 < 15 and not vm.alive(), "VM stopped in %.1f s" % (time.monotonic() - t0))
left = mid.run("ip -br link show vm0", check=False)
t.ok(left.returncode != 0, "its TAP went with it", left.stdout)
t.eq(vm.leftovers(), [], "nothing of the VM left: QEMU, TAP, work directory")
