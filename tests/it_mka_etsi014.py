#!/usr/bin/python3
"""it_mka_etsi014.py — QKD-keyed MACsec: two sites in two network
namespaces (tests/lib/twosite.py), each with a real kme-sim (ETSI GS QKD
014 over mTLS, the KME link over a second veth pair), macsec-sw and
mka-agent with cak_source = etsi014.

The initiator (SAE_A_01, the lower SAE ID) gets a key from its KME on the
responder's EAPOL-Announcement; the responder fetches it by key ID from
its own KME.  Checked against outside truth: ping over the TAPs; both key
logs hold the same CAK under a CKN that is a UUID; tshark shows the KMD
SAE ID and that CKN in the initiator's MKPDUs with no malformed or expert
mark; the responder's EAPOL-Announcements carry KMD TLV 113 "SAE_B_01";
every daemon exits 0 on SIGTERM.
"""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import tap  # noqa: E402

FB_CAK = "000102030405060708090a0b0c0d0e0f"
FB_CKN = "66616c6c6261636b"  # "fallback"

t = tap.Tap()
tap.require_root(t)
tap.require_bins(t, "mka-agent/mka-agent", "macsec-sw/macsec-sw", "macsec-sw/macsec-ctl", "kme-sim/kme-sim")
import twosite  # noqa: E402

SAE = twosite.SAE
lab = twosite.Sites(t, "mka014")
lab.start_kmes()
lab.start_secys()
pcap = os.path.join(lab.dir, "wire.pcap")
lab.start("tcpdump", "a", ["tcpdump", "-U", "-n", "-i", twosite.WIRE, "-w", pcap, "ether", "proto", "0x888e"])
lab.wait("tcpdump", lambda: "listening on" in lab.output("tcpdump"), 20, ("tcpdump",))

for s in twosite.SITES:
    lab.start_agent(s, lab.agent_conf(s, "etsi014", port={
        "cipher_suites": "gcm-aes-xpn-256",
        "eapol_destination": "broadcast",
        "cak_lifetime": "12s",
        "fallback_cak": FB_CAK,
        "fallback_ckn": FB_CKN,
        "fallback_after": "5s",
    }))


def status(i):
    return lab.status("ab"[i])


ok = tap.wait_for(lambda: status(0).get("state") == "secured" and
                  status(1).get("state") == "secured", 40, 0.2)
t.ok(ok, "ETSI 014: both agents reach SECURED",
     "A %r\nB %r\n--- A log\n%s\n--- B log\n%s" % (status(0), status(1),
                                                   lab.output("mka-agent-a")[-2000:],
                                                   lab.output("mka-agent-b")[-2000:]))
t.eq(status(0).get("cipher_suite"), "GCM-AES-XPN-256", "XPN-256 agreed")
ok, out = lab.ping("a")
t.ok(ok, "ping over the QKD-keyed MACsec link", out)

caks = [lab.caks(s) for s in twosite.SITES]
same = caks[0] and caks[1] and caks[0][-1] == caks[1][-1]
t.ok(same, "both sites hold the same QKD CAK under the same CKN", caks)
ckn = caks[0][-1][0] if caks[0] else ""
t.ok(len(ckn) == 32 and len(caks[0][-1][1]) == 64, "CKN is a 16-octet key ID, CAK 256 bits")

time.sleep(0.5)     # the last frames reach the capture file (tcpdump -U)
lab.stop("tcpdump")
r = subprocess.run(["tshark", "-n", "-r", pcap, "-T", "fields", "-E", "separator=|",
                    "-e", "frame.number", "-e", "_ws.malformed", "-e", "_ws.expert.severity",
                    "-e", "eapol.type", "-e", "mka.cak_name", "-e", "mka.kmd", "-e", "data.data"],
                   capture_output=True, text=True)
rows = [ln.split("|") for ln in r.stdout.splitlines() if ln]
mk = [x for x in rows if x[3] == "5"]
ann = [x for x in rows if x[3] == "6"]
t.ok(mk and not [x for x in mk if x[1] or x[2]],
     "tshark: %d MKPDUs, none malformed or with expert marks" % len(mk), r.stdout[-1500:])
kmd_hex = SAE["a"].encode().hex()
t.ok([x for x in mk if x[4] == ckn and x[5] == kmd_hex],
     "tshark shows the initiator's KMD %s and the key-ID CKN" % SAE["a"])
t.ok(ann and all(x[6].startswith("e208" + SAE["b"].encode().hex()) for x in ann),
     "responder's EAPOL-Announcements carry KMD TLV 113 = %s" % SAE["b"], ann[:3])


def ping_loss(count, interval):
    r = lab.sh("a", "ping -q -c %d -i %s -W 1 %s" % (count, interval, twosite.TAP_IP["b"]))
    for part in r.stdout.split(","):
        if "packet loss" in part:
            return float(part.split("%")[0].strip()), r.stdout
    return 100.0, r.stdout + r.stderr


# CAK rollover (cak_lifetime 12 s) under steady traffic: no frame lost.
loss, out = ping_loss(400, "0.05")
s0, s1 = status(0), status(1)
t.ok(int(s0.get("rollovers", 0)) >= 1 and int(s1.get("rollovers", 0)) >= 1,
     "CAK rolled over at least once on both sides during the traffic", "A %r\nB %r" % (s0, s1))
t.eq(loss, 0.0, "no ping lost across the CAK rollover (%s)" % out.strip().splitlines()[-2:])
ckns = {c for c, _ in lab.caks("a")}
t.ok(len(ckns) >= 2, "the rollover used a new key ID as CKN (%d CKNs)" % len(ckns))

# KME link down (kme-sim fault injection: enc_keys answer 503): a
# restarted peer cannot get a QKD CA -> fallback PSK.


def kme_admin(path):
    return str(lab.kme_admin("a", "POST", path)[0])


t.eq(kme_admin("/admin/v1/fault?peer=KME_B&kind=down"), "200", "KME_A: QKD link to KME_B taken down")
lab.stop("mka-agent-b")
lab.start_agent("b")
ok = tap.wait_for(lambda: status(0).get("fallback") == "yes" and
                  status(1).get("fallback") == "yes" and
                  status(0).get("state") == "secured" and
                  status(1).get("state") == "secured", 60, 0.2)
t.ok(ok, "KME down: both sides secured on the fallback PSK CA", "A %r\nB %r" % (status(0), status(1)))
loss, out = ping_loss(5, "0.2")
t.eq(loss, 0.0, "ping passes on the fallback CA")

# The KME link comes back: QKD takes over again, the fallback CA ends.
t.eq(kme_admin("/admin/v1/clear?peer=KME_B"), "200", "KME_A: QKD link restored")
ok = tap.wait_for(lambda: status(0).get("fallback") == "no" and
                  status(1).get("fallback") == "no" and
                  status(0).get("state") == "secured" and
                  status(1).get("state") == "secured", 60, 0.2)
t.ok(ok, "KME back: QKD CA in use again, fallback ended", "A %r\nB %r" % (status(0), status(1)))
loss, out = ping_loss(5, "0.2")
t.eq(loss, 0.0, "ping passes on the QKD CA again")

for s in twosite.SITES:
    t.eq(lab.stop("mka-agent-" + s), 0, "SIGTERM: mka-agent %s exits 0" % s.upper())
for name in ("kme-sim-a", "macsec-sw-a", "kme-sim-b", "macsec-sw-b"):
    t.eq(lab.stop(name), 0, "SIGTERM: %s exits 0" % name)
