#!/usr/bin/python3
"""it_vm_lab.py — the lab with a Linux VM as one site's router, and with a
router of the user's own (here also a VM) in place of a site's SecY and
agent; scripts/lab as a user runs it, in namespaces and a state directory
of the test's own.

1. `scripts/lab up --vm b`: site B's router is a VM running wpa_supplicant
   with the lab's QKD key (fetched via SKIP) as pre-shared CAK; site A runs
   mka-agent + macsec-sw.  The kernel's SecY in the VM is secured, pings
   pass both ways over MACsec, the VM reaches KME_B and skip-proxy B over
   its service link, `lab status` and lab.env describe the VM site, and
   `lab down` leaves no process, namespace or state behind.
2. `scripts/lab up --byo b=TAP,svc=TAP`: two TAPs left in the root
   namespace by a VM of the test's (its wire and service NICs) become site
   B's router.  Configured only from lab.env's ROUTER_B_* lines, the VM
   fetches the CAK by its key ID from skip-proxy B (TLS-PSK, openssl), runs
   wpa_supplicant, and the link is secured with pings both ways; `lab down`
   gives the TAPs back to the root namespace."""
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import qvm  # noqa: E402
import tap  # noqa: E402

sys.path.insert(0, os.path.join(tap.SRC, "scripts"))
import lablib  # noqa: E402

t = tap.Tap()
tap.require_root(t)
try:
    qvm.check_host()
except qvm.VMError as e:
    if os.environ.get("CI"):
        raise
    t.skip_all(str(e))

LAB = os.path.join(tap.SRC, "scripts", "lab")
state = tempfile.mkdtemp(prefix="qkdlab-vmlab-")
os.rmdir(state)
prefix = "qvl%d" % (os.getpid() % 100000)
env = dict(os.environ, QKDLAB_LAB_DIR=state, QKDLAB_LAB_NS=prefix, QKDLAB_BUILD=tap.BUILD)
env.pop("QKDLAB_LAB_VM", None)
env.pop("QKDLAB_LAB_BYO", None)


def lab(*args, timeout=240):
    return subprocess.run([LAB] + list(args), capture_output=True, text=True, env=env, timeout=timeout)


def down():
    lab("down", timeout=60)


t.cleanup(down)
ns = {s: "%s-%s" % (prefix, s) for s in ("a", "b")}


def nsrun(s, cmd, timeout=30):
    return subprocess.run(["ip", "netns", "exec", ns[s], "sh", "-c", cmd], capture_output=True, text=True,
                          timeout=timeout)


def qemu_pids():
    out = subprocess.run(["pgrep", "-f", "qemu-system-x86_64 -name qkdlab-b .*%s" % re.escape(state)],
                         capture_output=True, text=True).stdout
    return out.split()


# ---- 1. a VM as site B's router ---------------------------------------------
t0 = time.monotonic()
r = lab("up", "--vm", "b")
t.ok(r.returncode == 0, "lab up --vm b: up in %.0f s" % (time.monotonic() - t0), r.stdout + r.stderr)
e = lablib.load_env(os.path.join(state, "lab.env")) if r.returncode == 0 else {}
t.eq((e.get("ROUTER_B_KIND"), e.get("LAB_MODE"), e.get("ROUTER_B_SVC_IP"), e.get("ROUTER_B_KME_URL")),
     ("vm-wpa", "interim", "198.51.100.130/30", "https://198.51.100.2:8443"),
     "lab.env describes site B's router VM, its service address and KME")
st = lab("status")
t.ok(re.search(r"site B: router vm-wpa; VM running \(pid \d+\); kernel MACsec secured: \S+, GCM-AES-128",
               st.stdout) and re.search(r"site A: MKA secured", st.stdout),
     "lab status: site A's MKA secured, site B's VM running with its kernel SecY secured", st.stdout)
p = nsrun("a", "ping -n -c 3 -i 0.2 -W 2 192.0.2.2")
t.ok(p.returncode == 0, "site A pings the VM over MACsec", p.stdout + p.stderr)
if r.returncode == 0:
    vm = qvm.attach(e["ROUTER_B_VM_DIR"])
    try:
        pv = vm.run("ping -n -c 3 -i 0.2 -W 2 192.0.2.1", timeout=30)
        t.ok(pv.rc == 0, "the VM pings site A over MACsec", pv.out)
        x = [d for d in qvm.kernel_macsec(vm) if d.get("rx_sc")]
        ka = open(os.path.join(state, "site-a", "keys.log")).read() if os.path.exists(
            os.path.join(state, "site-a", "keys.log")) else ""
        t.ok(x and x[0]["rx_sc"][0]["sa_list"][0]["InPktsOK"] >= 3 and e.get("ROUTER_B_CKN", "-") in ka,
             "the kernel validated site A's frames; the CAK is the QKD key %s of site A's key log"
             % e.get("ROUTER_B_CKN"), x)
        # The service link: KME_B and skip-proxy B answer a TCP connect.
        sv = vm.run("for p in 8443 443; do openssl s_client -connect 198.51.100.2:$p </dev/null 2>&1 | "
                    "grep -q CONNECTED && echo open $p; done", timeout=40)
        t.eq(sorted(re.findall(r"open (\d+)", sv.out)), ["443", "8443"],
             "the VM reaches KME_B (8443) and skip-proxy B (443) over its service link")
    finally:
        if vm.sock:
            vm.sock.close()
pids = qemu_pids()
t0 = time.monotonic()
d = lab("down", timeout=60)
t.ok(d.returncode == 0 and time.monotonic() - t0 < 30, "lab down in %.1f s" % (time.monotonic() - t0),
     d.stdout + d.stderr)
time.sleep(0.5)
t.eq(([p for p in pids if not lablib._zombie(int(p))], [n for n in ns.values() if n in lablib.netns_list()],
      os.path.exists(state)), ([], [], False), "nothing left: QEMU gone, namespaces and state removed")

# ---- 2. your own router: a VM on two root-namespace TAPs ----------------------
tag = os.getpid() % 100000
wire_if, svc_if = "qbw%d" % tag, "qbs%d" % tag
own = qvm.VM(nics=[qvm.Nic(None, wire_if, "wire0"), qvm.Nic(None, svc_if, "svc0")],
             binaries=["wpa_supplicant", "openssl"], name="it-own-router",
             rc="for f in /proc/sys/net/ipv6/conf/*/disable_ipv6; do echo 1 > $f; done\n")
t.cleanup(own.stop)
own.start()
t0 = time.monotonic()
r = lab("up", "--byo", "b=%s,svc=%s" % (wire_if, svc_if))
t.ok(r.returncode == 0 and "waits for your router" in r.stdout, "lab up --byo b=%s,svc=%s: up in %.0f s"
     % (wire_if, svc_if, time.monotonic() - t0), r.stdout + r.stderr)
e = lablib.load_env(os.path.join(state, "lab.env")) if r.returncode == 0 else {}
need = ("ROUTER_B_SVC_IP", "ROUTER_B_SVC_GW", "ROUTER_B_SKIP", "ROUTER_B_SKIP_PSK_ID", "ROUTER_B_SKIP_PSK",
        "ROUTER_B_CKN", "ROUTER_B_PEER_SAE")
t.eq([k for k in need if not e.get(k)], [], "lab.env gives the own router's settings (%s)" % ", ".join(need))
t.ok(not os.path.exists("/sys/class/net/" + wire_if), "the router's interfaces moved into site B's namespace")

# The router's operator, from lab.env alone: address, route, the CAK by
# its key ID from skip-proxy B over TLS-PSK, then wpa_supplicant.
if e:
    gw = e["ROUTER_B_SVC_GW"]
    skip_ip = e["ROUTER_B_SKIP"].split(":")[0]
    own.sh("ip link set wire0 up && ip addr add %s dev svc0 && ip link set svc0 up && "
           "ip route add %s/32 via %s" % (e["ROUTER_B_SVC_IP"], skip_ip, gw))
    req = "GET /key/%s?remoteSystemID=%s HTTP/1.1\r\nHost: skip\r\nConnection: close\r\n\r\n" % (
        e["ROUTER_B_CKN"], e["ROUTER_B_PEER_SAE"])
    own.put("/root/req", req)
    got = own.run("openssl s_client -quiet -ign_eof -connect %s -tls1_2 -cipher DHE-PSK-AES256-GCM-SHA384 "
                  "-psk_identity %s -psk %s < /root/req 2>/dev/null"
                  % (e["ROUTER_B_SKIP"], e["ROUTER_B_SKIP_PSK_ID"], e["ROUTER_B_SKIP_PSK"]), timeout=30)
    m = re.search(r'"key"\s*:\s*"([0-9A-Fa-f]+)"', got.out)
    t.ok(m and got.out.startswith("HTTP/1.1 200"), "the own router fetched its CAK by key ID from skip-proxy B "
         "over the service link", got.out[-600:])
    if m:
        own.put("/etc/wpa.conf", qvm.wpa_supplicant_conf(m.group(1).lower(), e["ROUTER_B_CKN"], priority=32))
        own.spawn("wpa", "wpa_supplicant -D macsec_linux -i wire0 -c /etc/wpa.conf")

    def secured():
        st = subprocess.run([tap.binpath("mka-agent/mka-agent"), "-f", os.path.join(state, "site-a",
                             "mka-agent.conf"), "status"], capture_output=True, text=True).stdout
        x = [d for d in qvm.kernel_macsec(own) if d.get("rx_sc")]
        return "state=secured" in st and x and x[0]
    x = tap.wait_for(secured, 60, 0.5)
    t.ok(x, "site A's mka-agent and the own router's kernel SecY are secured", own.log("wpa")[-1500:])
    if x:
        own.sh("ip addr add 192.0.2.2/24 dev %s && ip link set %s up" % (x["ifname"], x["ifname"]))
    p = nsrun("a", "ping -n -c 3 -i 0.2 -W 2 192.0.2.2")
    pv = own.run("ping -n -c 3 -i 0.2 -W 2 192.0.2.1", timeout=30)
    t.ok(p.returncode == 0 and pv.rc == 0, "pings pass both ways between site A and the own router",
         p.stdout + pv.out)
d = lab("down", timeout=60)
t.ok(d.returncode == 0 and os.path.exists("/sys/class/net/" + wire_if) and
     os.path.exists("/sys/class/net/" + svc_if),
     "lab down gives the own router's interfaces back to the root namespace", d.stdout + d.stderr)
own.stop()
t.ok(not os.path.exists("/sys/class/net/" + wire_if), "and they go with the VM")
