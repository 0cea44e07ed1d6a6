#!/usr/bin/python3
"""it_vm_mka_wpa.py — mka-agent + macsec-sw against the reference MKA of
wpa_supplicant (-D macsec_linux) + the Linux kernel's MACsec, in a QEMU VM,
with a pre-shared CAK.

    ns vmk: mka-agent, macsec-sw on wire0 --veth-- ns vmkm: bridge --TAP-- VM: wpa_supplicant, wire0

Independent truth: the kernel's own view of its SecY (`ip -s -j macsec
show`: cipher suite, the receive SC of macsec-sw's SCI, the encoding SA
and its counters), pings over both controlled ports, and the agents'
election as the other side reports it.

Twice, once with each side elected key server (Key Server Priority): MKA
converges, traffic passes both ways, then under a ping flood the kernel's
transmit PN is moved past the exhaustion threshold of 802.1X 9.8
(0xC0000000, `ip macsec set ... pn`): the key server — mka-agent from the
LPN wpa_supplicant reports, or wpa_supplicant from its own — distributes
a new SAK; both data planes take it into use (new AN, higher KN) while
the link stays secured and the flood loses nothing.  (wpa_supplicant 2.10
reports the key it uses as its Old Key in SAK Use, so mka-agent's key
server must read the exhaustion there too.)

QKDLAB_DEBUG=1 runs both MKA peers with debug logs; QKDLAB_ONLY=<case
name> runs one case."""
import os
import re
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
AGENT = tap.binpath("mka-agent/mka-agent")

CAK = os.urandom(16).hex()
CKN = os.urandom(16).hex()
SW_IP, VM_IP = "192.0.2.1", "192.0.2.2"
EXHAUSTED_PN = 0xC0000000 + 16       # past 802.1X 9.8's threshold for 32-bit PNs
NOIPV6 = "for f in /proc/sys/net/ipv6/conf/*/disable_ipv6; do echo 1 > $f; done\n"

sw = tap.Netns(t, "vmk")
mid = tap.Netns(t, "vmkm")
for ns in (sw, mid):
    ns.run("sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1")
tap.veth_pair(t, sw, mid, "wire0", "sw0")
tmp = tempfile.mkdtemp(prefix="qkdlab-vm-mka-")
t.cleanup(lambda: subprocess.run(["rm", "-rf", tmp]))

vm = qvm.VM(nics=[qvm.Nic(mid.name, "vm0", "wire0")], binaries=["wpa_supplicant"], rc=NOIPV6,
            name="it-vm-mka")
t.cleanup(vm.stop)
vm.start()
t.ok(True, "VM up with kernel %s in %.1f s" % (vm.kernel_version, vm.boot_seconds))
# MKPDUs go to the PAE group address; the bridge forwards it (bit 3).
mid.run("ip link add br0 type bridge stp_state 0 group_fwd_mask 8 && ip link set sw0 master br0 && "
        "ip link set vm0 master br0 && ip link set br0 up")
vm.sh("ip link set wire0 up")
VM_SCI = m.sci_of(vm.nics[0].mac)

node = m.Node(t, sw)
sw.run("sysctl -qw net.ipv6.conf.macsec0.disable_ipv6=1", check=False)
sw.run("ip addr add %s/24 dev macsec0 && ip link set macsec0 up" % SW_IP)
agent = None


def agent_conf(priority):
    path = os.path.join(tmp, "mka-agent.conf")
    text = "\n".join([
        "status_socket = %s/mka.sock" % tmp,
        "key_log = %s/keys.log" % tmp,
        "[port wire0]",
        "cak_source = psk",
        "cak = %s" % CAK,
        "ckn = %s" % CKN,
        "priority = %d" % priority,
        "cipher_suites = gcm-aes-128",
        "secy_socket = %s" % node.sock, ""])
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.write(fd, text.encode())
    os.close(fd)
    return path


def status():
    r = subprocess.run([AGENT, "-f", os.path.join(tmp, "mka-agent.conf"), "status"],
                       capture_output=True, text=True, timeout=5)
    return dict(tok.split("=", 1) for tok in r.stdout.split() if "=" in tok) if r.returncode == 0 else {}


def vm_secy():
    """The kernel SecY wpa_supplicant made on wire0 (its dict), or None."""
    for x in qvm.kernel_macsec(vm):
        if x.get("rx_sc"):
            return x
    return None


def kernel_ready():
    """The SecY once it transmits on an SA and receives from macsec-sw's SCI."""
    x = vm_secy()
    if not x:
        return None
    rx = [sc for sc in x["rx_sc"] if int(sc["sci"], 16) == int(node.sci, 16)]
    txa = [sa for sa in x.get("sa_list", []) if sa.get("active") and sa["an"] == x.get("encoding_sa")]
    if rx and txa and any(sa.get("active") for sa in rx[0].get("sa_list", [])):
        return x
    return None


def start_both(agent_prio, wpa_prio):
    global agent
    vm.run("rm -f /var/log/wpa.log")
    vm.put("/etc/wpa.conf", qvm.wpa_supplicant_conf(CAK, CKN, priority=wpa_prio))
    vm.spawn("wpa", "wpa_supplicant -D macsec_linux -i wire0 -c /etc/wpa.conf" + (" -d" if os.environ.get("QKDLAB_DEBUG") else ""))
    agent = tap.Proc(t, [AGENT, "-d"] + (["-v"] if os.environ.get("QKDLAB_DEBUG") else []) +
                     ["-f", agent_conf(agent_prio)], "vm-mka-agent-%d" % agent_prio, netns=sw.name)


def stop_both():
    agent.stop()
    vm.run("kill $(pidof wpa_supplicant) 2>/dev/null; sleep 1; "
           "for d in $(ip -j macsec show | grep -o '\"ifname\":\"[^\"]*' | cut -d'\"' -f4); do "
           "ip link del $d; done", timeout=20)


def ping_both():
    r1 = sw.run("ping -n -c 3 -i 0.2 -W 2 %s" % VM_IP, check=False)
    r2 = vm.run("ping -n -c 3 -i 0.2 -W 2 %s" % SW_IP, timeout=30)
    return r1.returncode == 0 and r2.rc == 0, r1.stdout + r1.stderr + r2.out


def phase(label, agent_prio, wpa_prio, agent_is_ks):
    t0 = time.monotonic()
    start_both(agent_prio, wpa_prio)
    ok = tap.wait_for(lambda: status().get("state") == "secured" and kernel_ready(), 60, 0.5)
    secs = time.monotonic() - t0
    st = status()
    x = kernel_ready()
    t.ok(ok, "%s: MKA converges: mka-agent secured, the kernel transmits on an SA and receives from "
         "macsec-sw's SCI (%.1f s)" % (label, secs),
         "status: %s\nkernel: %s\nwpa: %s" % (st, x, vm.log("wpa")[-1500:]))
    if not ok:
        stop_both()
        return
    want_ks = node.sci if agent_is_ks else VM_SCI
    t.eq((st.get("key_server"), st.get("ks_sci")), ("yes" if agent_is_ks else "no", want_ks),
         "%s: the key server elected is %s (priority %d against %d)"
         % (label, "mka-agent" if agent_is_ks else "wpa_supplicant", min(agent_prio, wpa_prio),
            max(agent_prio, wpa_prio)))
    t.eq((x["cipher_suite"], x["encrypt"], x["replay"], st.get("cipher_suite")),
         ("GCM-AES-128", True, True, "GCM-AES-128"),
         "%s: the kernel SecY uses GCM-AES-128 with confidentiality and replay protection" % label)

    # IP over the kernel's SecY.
    dev = x["ifname"]
    vm.sh("ip addr replace %s/24 dev %s && ip link set %s up" % (VM_IP, dev, dev))
    ok, out = ping_both()
    t.ok(ok, "%s: traffic passes both ways (ping from each side)" % label, out)
    before = kernel_ready()
    an0, kn0 = before["encoding_sa"], int(st.get("kn", 0))

    # A new SAK under traffic: the kernel's transmit PN is moved past the
    # exhaustion threshold; the key server must distribute a new key.
    flood = subprocess.Popen(["ip", "netns", "exec", sw.name, "ping", "-n", "-q", "-i", "0.05", "-c", "400",
                              "-W", "2", VM_IP], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    t.cleanup(lambda: flood.poll() is None and flood.kill())
    time.sleep(1)
    vm.sh("ip macsec set %s tx sa %d pn %d on" % (dev, an0, EXHAUSTED_PN))
    states = []

    def rekeyed():
        s = status()
        states.append(s.get("state"))
        k = kernel_ready()
        if k and k["encoding_sa"] != an0 and int(s.get("kn", 0)) > kn0:
            return s, k
        return None
    got = tap.wait_for(rekeyed, 30, 0.5)
    out = flood.communicate(timeout=60)[0]
    t.ok(got is not None, "%s: a new SAK from %s is taken into use by both (kernel AN %d -> %s, KN %d -> %s)"
         % (label, "mka-agent" if agent_is_ks else "wpa_supplicant", an0,
            got[1]["encoding_sa"] if got else "?", kn0, got[0].get("kn") if got else "?"),
         "status: %s\nkernel: %s\nwpa: %s\nagent: %s" % (status(), kernel_ready(), vm.log("wpa")[-3000:],
                                                          agent.output()[-3000:]))
    if got:
        s, k = got
        if agent_is_ks:
            t.ok(int(s.get("rekeys_pn") or 0) >= 1, "%s: mka-agent counted a rekey for PN exhaustion (the LPN the kernel's "
                 "side reported)" % label, s)
        new_tx = [sa for sa in k["sa_list"] if sa["an"] == k["encoding_sa"]][0]
        t.ok(new_tx["OutPktsEncrypted"] > 0,
             "%s: the kernel encrypts with the new SA (%d frames)" % (label, new_tx["OutPktsEncrypted"]), k)
    t.ok(all(x == "secured" for x in states),
         "%s: mka-agent stayed secured throughout (%d samples)" % (label, len(states)), states)
    m_loss = re.search(r"(\d+) packets transmitted, (\d+) received", out)
    t.ok(m_loss and m_loss.group(1) == m_loss.group(2) and int(m_loss.group(1)) > 100,
         "%s: the ping flood across the rollover lost nothing" % label, out)
    ok, out = ping_both()
    t.ok(ok, "%s: traffic passes both ways after the rollover" % label, out)
    stop_both()


for case in ("mka-agent key server", "wpa_supplicant key server"):
    if os.environ.get("QKDLAB_ONLY", case) == case:
        t.case(case)(phase, case, *((16, 32, True) if case.startswith("mka") else (64, 8, False)))
t.eq(node.stop(), 0, "macsec-sw exits 0")
t0 = time.monotonic()
vm.stop()
t.ok(time.monotonic() - t0 < 20, "VM stopped in %.1f s" % (time.monotonic() - t0))
t.eq(vm.leftovers(), [], "nothing of the VM left: QEMU, TAP, work directory")
