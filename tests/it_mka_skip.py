#!/usr/bin/python3
"""it_mka_skip.py — QKD-keyed MACsec through SKIP: two sites in two
network namespaces (tests/lib/twosite.py), each with a real kme-sim (KME
link over a second veth pair), a skip-proxy (TLS-PSK towards the router,
ETSI 014 towards its KME), macsec-sw and mka-agent with cak_source = skip.

Checked: both secure and ping passes over the TAPs; both key logs hold the
same CAK under the same 16-octet CKN (the SKIP keyId); tshark shows the
initiator's KMD SAE ID and that CKN with no malformed or expert mark; a
wrong SKIP PSK gets no key; every daemon exits 0 on SIGTERM.
"""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import tap  # noqa: E402

t = tap.Tap()
tap.require_root(t)
tap.require_bins(t, "mka-agent/mka-agent", "macsec-sw/macsec-sw", "macsec-sw/macsec-ctl",
                 "kme-sim/kme-sim", "skip-proxy/skip-proxy")
import twosite  # noqa: E402

SAE = twosite.SAE
lab = twosite.Sites(t, "mkaskip")
lab.start_kmes()
lab.start_skips()
lab.start_secys()
pcap = os.path.join(lab.dir, "wire.pcap")
lab.start("tcpdump", "a", ["tcpdump", "-U", "-n", "-i", twosite.WIRE, "-w", pcap, "ether", "proto", "0x888e"])
lab.wait("tcpdump", lambda: "listening on" in lab.output("tcpdump"), 20, ("tcpdump",))

for s in twosite.SITES:
    lab.start_agent(s, lab.agent_conf(s, "skip"))
ok = tap.wait_for(lab.both_secured, 40, 0.2)
t.ok(ok, "SKIP: both agents reach SECURED",
     "A %r\nB %r\n--- A log\n%s\n--- B log\n%s" % (lab.status("a"), lab.status("b"),
                                                   lab.output("mka-agent-a")[-2000:],
                                                   lab.output("mka-agent-b")[-2000:]))
t.eq(lab.status("a").get("cipher_suite"), "GCM-AES-256", "GCM-AES-256 agreed")
ok, out = lab.ping("a")
t.ok(ok, "ping over the SKIP-keyed MACsec link", out)

caks = [lab.caks(s) for s in twosite.SITES]
same = caks[0] and caks[1] and caks[0][-1] == caks[1][-1]
t.ok(same, "both sites hold the same CAK under the same CKN", caks)
ckn = caks[0][-1][0] if caks[0] else ""
t.ok(len(ckn) == 32, "CKN is the 16-octet SKIP keyId")

time.sleep(0.5)     # the last frames reach the capture file (tcpdump -U)
lab.stop("tcpdump")
r = subprocess.run(["tshark", "-n", "-r", pcap, "-T", "fields", "-E", "separator=|",
                    "-e", "frame.number", "-e", "_ws.malformed", "-e", "_ws.expert.severity",
                    "-e", "eapol.type", "-e", "mka.cak_name", "-e", "mka.kmd"],
                   capture_output=True, text=True)
rows = [ln.split("|") for ln in r.stdout.splitlines() if ln]
mk = [x for x in rows if x[3] == "5"]
t.ok(mk and not [x for x in mk if x[1] or x[2]],
     "tshark: %d MKPDUs, none malformed or with expert marks" % len(mk), r.stdout[-1500:])
t.ok([x for x in mk if x[4] == ckn and x[5] == SAE["a"].encode().hex()],
     "tshark shows the initiator's KMD %s and the keyId CKN" % SAE["a"])

# A router with the wrong PSK gets no key: the responder never joins.
lab.stop("mka-agent-b")
lab.start_agent("b", lab.agent_conf("b", "skip", port={"skip_psk": "00" * 32}))
tap.wait_for(lambda: int(lab.status("b").get("key_errors", 0) or 0) > 0, 20, 0.2)
secured = tap.wait_for(lambda: lab.secured("b"), 3, 0.2)     # and it stays so
s1 = lab.status("b")
t.ok(not secured and s1.get("state") != "secured" and int(s1.get("key_errors", 0) or 0) > 0 and
     s1.get("keys_fetched") == "0", "wrong SKIP PSK: no key, not secured", s1)

for s in twosite.SITES:
    t.eq(lab.stop("mka-agent-" + s), 0, "SIGTERM: mka-agent %s exits 0" % s.upper())
for name in ("kme-sim-a", "macsec-sw-a", "kme-sim-b", "macsec-sw-b", "skip-proxy-a", "skip-proxy-b"):
    t.eq(lab.stop(name), 0, "SIGTERM: %s exits 0" % name)
