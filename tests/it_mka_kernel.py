#!/usr/bin/python3
"""it_mka_kernel.py — mka-agent keying Linux's own MACsec (secy = kernel)
in a VM against mka-agent + macsec-sw.

Site A is the two-site lab's (tests/lib/twosite.py): kme-sim, skip-proxy,
macsec-sw and mka-agent in its namespace.  Site B's router is the lab's VM
router as `scripts/lab up --vm-router mka` makes it (scripts/lablib.py over
tests/lib/qvm.py: Debian's cloud kernel under QEMU) running the host-built
mka-agent with the kernel backend: its NIC wire0 is a TAP that is site A's
wire0 (the wire), its NIC svc0 the service link to site B's namespace (TAP
vmsvc), routed to KME_B and skip-proxy B at 198.51.100.2; its status is read as lab status
reads it.

Checked, with the kernel as the independent implementation of 802.1AE:
  - the bad input at the seam first, on a fresh VM: with no gcm(aes) in
    the kernel it refuses the SAs, and the agent says so, stays unsecured
    and the port closed (nothing but EAPOL leaves the VM, no ping);
    without the macsec module, or with a macsec link of another SCI in the
    way, the agent stops with a clear error and leaves nothing open;
  - a pre-shared CAK with each of the four cipher suites (one integrity
    only): secured, ping both ways, the kernel's SecY has that suite and
    has validated frames from site A on its receive SA;
  - a QKD CAK via SKIP and via ETSI 014: secured, the same CAK on both
    sides, ping, and a CAK rollover under traffic with no ping lost;
  - every created macsec netdev is gone when its agent exits.
"""
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import tap  # noqa: E402

t = tap.Tap()
tap.require_root(t)
tap.require_bins(t, "mka-agent/mka-agent", "macsec-sw/macsec-sw", "macsec-sw/macsec-ctl",
                 "kme-sim/kme-sim", "skip-proxy/skip-proxy")
import qvm  # noqa: E402
import twosite  # noqa: E402
from lablib import VM_CONF, kv_line  # noqa: E402

SAE, WIRE, TAP_IP = twosite.SAE, twosite.WIRE, twosite.TAP_IP
PSK_CAK = "135bd758b0ee5c11c55ff6ab19fdb19935bd758b0ee5c11c55ff6ab19fdb1991"
PSK_CKN = "96437a93ccf10d9dfe347846cce52c7d"
# Commands get a long timeout: a VM under TCG on a loaded machine is slow.
VT = 90

lab = twosite.Sites(t, "mkakern")
# Site B's router is the lab's VM router, as `scripts/lab up --vm-router mka`
# makes it (lablib): its wire0 TAP is site A's wire, svc0 reaches site B.
lab.vm_router = "mka"
lab.vm_router_up(lambda ev, **kw: t.diag(ev if not kw else "%s %r" % (ev, kw)))
vm = lab.vm
t.cleanup(vm.stop)
VM_MAC = next(n.mac for n in vm.nics if n.guest == "wire0")


# ---- site B in the VM ----------------------------------------------------------
def conf(s, source, port=None):
    """Site s's agent configuration as the lab writes it for the key
    source ("skip", "etsi014" or "psk"; site B's for the VM), with the
    test's [port] keys."""
    mode, lab.mode = lab.mode, {"skip": "qkd-skip", "etsi014": "qkd-014", "psk": "interim"}[source]
    try:
        text = lab.vm_router_conf(PSK_CAK, PSK_CKN) if s == "b" else lab.mka_conf("a", PSK_CAK, PSK_CKN)
    finally:
        lab.mode = mode
    return twosite.edit_conf(text, section=port)


VM_LOGS = []     # each VM agent run's log, checked for sanitizer reports at the end


def vm_start_agent(text):
    if VM_LOGS:
        VM_LOGS[-1] = agent_log()
    lab.vm_router_agent(text)
    VM_LOGS.append("")


def agent_log():
    r = vm.run("cat /var/log/mka-agent.log", timeout=VT)
    return r.out if r.rc == 0 else ""


def vm_status():
    """The VM agent's status, as scripts/lab status reads it (from site
    B's namespace over the VM's svc0)."""
    for _ in range(3):
        st = lab.mka_status("b")
        if st:
            return st
    return {}


def vm_agent_running():
    return vm.run("pidof mka-agent", timeout=VT).rc == 0


def vm_stop_agent():
    """SIGTERM; returns the agent's exit status (None: it did not end)."""
    r = vm.run("p=$(pidof mka-agent) || exit 0; kill $p; "
               "for i in $(seq 50); do kill -0 $p 2>/dev/null || break; sleep 0.1; done; "
               "! kill -0 $p 2>/dev/null", timeout=VT)
    return r.rc == 0


def both_secured():
    return lab.both_secured()


def vm_ping(count=3):
    r = vm.run("ping -c %d -i 0.2 -W 2 %s" % (count, TAP_IP["a"]), timeout=count * 3 + VT)
    return r.rc == 0, r.out


def ping_loss(count, interval):
    r = lab.sh("a", "ping -q -c %d -i %s -W 1 %s" % (count, interval, TAP_IP["b"]), timeout=count + 60)
    for part in r.stdout.split(","):
        if "packet loss" in part:
            return float(part.split("%")[0].strip()), r.stdout
    return 100.0, r.stdout + r.stderr


def kernel_secy():
    """`ip -s macsec show macsec0` in the VM: the kernel's own view."""
    return vm.run("ip -s macsec show macsec0", timeout=VT).out


def rx_ok(text):
    """InPktsOK summed over the kernel's receive SAs: in `ip -s macsec`,
    the row of numbers under each "stats: InPktsOK ..." header."""
    total, lines = 0, text.splitlines()
    for i, ln in enumerate(lines):
        cols = ln.split()
        if cols[:2] == ["stats:", "InPktsOK"] and i + 1 < len(lines):
            vals = lines[i + 1].split()
            if len(vals) == len(cols) - 1 and vals[0].isdigit():
                total += int(vals[0])
    return total


def stop_both():
    ok_b = vm_stop_agent()
    rc_a = lab.stop("mka-agent-a")
    return ok_b, rc_a


def netdev_gone():
    return vm.run("ip link show macsec0", timeout=VT).rc != 0


def main():
    # ---- 1. bad input at the seam ----------------------------------------------------
    lab.start_secy("a")
    lab.start_agent("a", conf("a", "psk"))

    # No gcm(aes) in the kernel: every provider removed before any SA used one
    # (the VM has no modprobe, so the kernel cannot load it back).
    vm.run("rmmod ghash_clmulni_intel aesni_intel; rmmod gcm", timeout=VT)
    crypto = vm.run("cat /proc/crypto", timeout=VT).out
    t.ok(not re.search(r"^name\s*:\s*gcm\(aes\)", crypto, re.M) and
         "gcm" not in vm.run("cat /proc/modules", timeout=VT).out,
         "VM: gcm(aes) removed from the kernel (the gcm template and AES-NI modules unloaded)")
    vm_start_agent(conf("b", "psk"))
    refused = tap.wait_for(lambda: "kernel MACsec refused" in agent_log(), 30, 0.5)
    log = agent_log()
    t.ok(refused and re.search(r"refused a (receive|transmit) SA", log),
         "no gcm(aes): the kernel refuses the SA and the agent logs it with the kernel's reason", log[-1500:])
    time.sleep(3)
    st = vm_status()
    t.ok(st.get("state") != "secured" and int(st.get("secy_errors", 0) or 0) > 0 and
         "SecY refused" in st.get("last_error", ""),
         "the refused SA: port not secured, secy_errors counted, last_error says so", st)
    ks = kernel_secy()
    t.ok(re.search(r"protect on validate strict", ks) and not re.search(r"^\s+\d: PN", ks, re.M),
         "the kernel SecY stays closed: protect on, validate strict, no SA", ks)
    lab.start("sniff", "a", ["timeout", "12", "tcpdump", "-l", "-n", "-e", "-i", WIRE, "ether", "src", VM_MAC])
    lab.wait("tcpdump", lambda: "listening on" in lab.output("sniff"), 20, ("sniff",))
    ok_b, out_b = vm_ping(4)
    loss, out_a = ping_loss(4, "0.3")
    time.sleep(1)
    lab.stop("sniff")
    frames = [ln for ln in lab.output("sniff").splitlines() if re.match(r"\d\d:\d\d:", ln)]
    eapol = [ln for ln in frames if "(0x888e)" in ln]
    t.ok(not ok_b and loss == 100.0, "no ping passes either way over the unsecured port", out_b + out_a)
    t.ok(eapol and len(eapol) == len(frames),
         "nothing but EAPOL (%d MKPDUs) leaves the VM's port while it is unsecured (tcpdump on the wire)"
         % len(eapol), "\n".join(frames[-20:]))
    t.ok(vm_stop_agent() and netdev_gone(), "the agent ends on SIGTERM and deletes the netdev it created")
    order = vm.run("cat /etc/qvm/modules", timeout=VT).out.split("\n")
    for ln in order:
        w = ln.split()
        if w and w[0] in ("gcm", "aesni_intel", "ghash_clmulni_intel"):
            vm.run("insmod /lib/modules/qvm/%s.ko" % w[0], timeout=VT)
    t.ok(re.search(r"^gcm ", vm.run("cat /proc/modules", timeout=VT).out, re.M), "VM: gcm loaded again")

    # No MACsec in the kernel at all.
    t.eq(vm.run("rmmod macsec", timeout=VT).rc, 0, "VM: macsec module unloaded")
    vm_start_agent(conf("b", "psk"))
    ended = tap.wait_for(lambda: not vm_agent_running(), 20, 0.5)
    log = agent_log()
    t.ok(ended and "this kernel has no MACsec" in log,
         "no macsec module: the agent stops with a clear error", log[-800:])
    t.ok(netdev_gone(), "no macsec module: nothing created on the port")
    vm.sh("insmod /lib/modules/qvm/macsec.ko", timeout=VT)

    # A macsec link of another SCI where the agent's would be: not adopted.
    vm.sh("ip link add link wire0 macsec0 type macsec port 7", timeout=VT)
    vm_start_agent(conf("b", "psk"))
    ended = tap.wait_for(lambda: not vm_agent_running(), 20, 0.5)
    log = agent_log()
    t.ok(ended and re.search(r"macsec0: its SCI is \w+0007, the agent's is \w+0001", log),
         "a macsec link with another SCI in the way: the agent refuses to adopt it and says why", log[-800:])
    t.ok(vm.run("ip -d link show macsec0", timeout=VT).out.find("sci %s0007" % VM_MAC.replace(":", "")) > 0,
         "that link is left as it was")
    vm.sh("ip link del macsec0", timeout=VT)
    lab.stop("mka-agent-a")

    # ---- 2. every cipher suite, pre-shared CAK -------------------------------------
    SUITES = [("gcm-aes-128", "0", "GCM-AES-128"), ("gcm-aes-256", "none", "GCM-AES-256"),
              ("gcm-aes-xpn-128", "0", "GCM-AES-XPN-128"), ("gcm-aes-xpn-256", "0", "GCM-AES-XPN-256")]
    for suite, offset, kname in SUITES:
        port = {"cipher_suites": suite, "confidentiality_offset": offset}
        vm_start_agent(conf("b", "psk", port))
        lab.start_agent("a", conf("a", "psk", port))
        ok = tap.wait_for(both_secured, 40, 0.3)
        t.ok(ok, "%s (offset %s): both agents reach SECURED" % (suite, offset),
             "A %r\nB %r\n--- B log\n%s" % (lab.status("a"), vm_status(), agent_log()[-1500:]))
        ok_a, out = lab.ping("a", 5, 0.2)
        ok_b, out_b = vm_ping(3)
        t.ok(ok_a and ok_b, "%s: ping both ways between macsec-sw and the kernel" % suite, out + out_b)
        ks = kernel_secy()
        enc = "encrypt off" if offset == "none" else "encrypt on"
        t.ok(("cipher suite: %s" % kname) in ks and enc in ks and rx_ok(ks) >= 5,
             "%s: the kernel SecY has that suite, %s, and validated site A's frames (InPktsOK %d)"
             % (suite, enc, rx_ok(ks)), ks)
        ok_b, rc_a = stop_both()
        t.ok(ok_b and rc_a == 0 and netdev_gone(), "%s: both agents exit on SIGTERM, the netdev is deleted" % suite)

    # ---- 3. QKD CAK via SKIP and via ETSI 014, rollover under traffic ----------------
    lab.start_kmes()
    lab.start_skips()
    for source in ("skip", "etsi014"):
        vm.sh(": > /run/keys.log", timeout=VT)
        vm_start_agent(conf("b", source, {"cak_lifetime": "12s"}))
        lab.start_agent("a", conf("a", source, {"cak_lifetime": "12s"}))
        ok = tap.wait_for(both_secured, 60, 0.3)
        t.ok(ok, "%s: both agents reach SECURED (site B: kernel MACsec in the VM)" % source,
             "A %r\nB %r\n--- B log\n%s" % (lab.status("a"), vm_status(), agent_log()[-2000:]))
        b_caks = [tuple(ln.split()[1:3]) for ln in vm.run("cat /run/keys.log", timeout=VT).out.splitlines()
                  if ln.startswith("CAK ")]
        a_caks = lab.caks("a")
        t.ok(b_caks and a_caks and b_caks[-1] in a_caks and len(b_caks[-1][0]) == 32,
             "%s: the VM's agent holds site A's QKD CAK under the same key-ID CKN" % source, (a_caks, b_caks))
        ok_a, out = lab.ping("a", 5, 0.2)
        t.ok(ok_a and vm_ping(3)[0], "%s: ping both ways over the QKD-keyed link" % source, out)
        loss, out = ping_loss(400, "0.05")
        sa, sb = lab.status("a"), vm_status()
        t.ok(int(sa.get("rollovers", 0)) >= 1 and int(sb.get("rollovers", 0)) >= 1,
             "%s: the CAK rolled over at least once on both sides during the traffic" % source, (sa, sb))
        t.eq(loss, 0.0, "%s: no ping lost across the CAK rollover (%s)" % (source, out.strip().splitlines()[-2:]))
        # The kernel counts per SA, and a CAK lifetime may end after the
        # flood: the SAs of that newest SAK have seen no frame yet.
        lab.ping("a", 3, 0.2)
        kx = kernel_secy()
        t.ok(sb.get("state") == "secured" and rx_ok(kx) > 0,
             "%s: still secured after the rollover, the kernel validating frames" % source, (sb, kx))
        ok_b, rc_a = stop_both()
        t.ok(ok_b and rc_a == 0 and netdev_gone(), "%s: both agents exit on SIGTERM, the netdev is deleted" % source)

    for name in ("kme-sim-a", "kme-sim-b", "skip-proxy-a", "skip-proxy-b", "macsec-sw-a"):
        t.eq(lab.stop(name), 0, "SIGTERM: %s exits 0" % name)
    VM_LOGS[-1] = agent_log()
    dirty = [i for i, x in enumerate(VM_LOGS) if not tap.sanitizer_clean(x)]
    t.ok(not dirty, "the VM's %d agent runs logged no sanitizer report" % len(VM_LOGS),
         "\n".join(VM_LOGS[i][-1500:] for i in dirty))
    t.ok(all(tap.sanitizer_clean(x) for x in lab.outputs().values()), "site A's daemon logs are clean",
         {n: x[-800:] for n, x in lab.outputs().items() if not tap.sanitizer_clean(x)})


try:
    main()
except Exception:  # noqa: BLE001 - reported with the VM's console
    import traceback
    t.ok(False, "the test ran to its end", traceback.format_exc() + "\n--- VM console (tail)\n" +
         vm.console()[-3000:] + "\n--- agent log\n" + (agent_log()[-1500:] if vm.alive() else ""))
t0 = time.monotonic()
vm.stop()
t.ok(time.monotonic() - t0 < 20, "VM stopped in %.1f s" % (time.monotonic() - t0))
t.eq(vm.leftovers(), [], "nothing of the VM left: QEMU, TAPs, command socket, initramfs")
