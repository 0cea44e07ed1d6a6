#!/usr/bin/python3
"""it_mka_etsi014.py — QKD-keyed MACsec: two sites in two network
namespaces, each with a real kme-sim (ETSI GS QKD 014 over mTLS, the KME
link over a second veth pair), macsec-sw and mka-agent with
cak_source = etsi014.

The initiator (SAE_A_01, the lower SAE ID) gets a key from its KME on the
responder's EAPOL-Announcement; the responder fetches it by key ID from
its own KME.  Checked against outside truth: ping over the TAPs; both key
logs hold the same CAK under a CKN that is a UUID; tshark shows the KMD
SAE ID and that CKN in the initiator's MKPDUs with no malformed or expert
mark; the responder's EAPOL-Announcements carry KMD TLV 113 "SAE_B_02";
every daemon exits 0 on SIGTERM.
"""
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import tap  # noqa: E402

SAE = ["SAE_A_01", "SAE_B_02"]  # multiples of 4 octets: clean tshark KMD
KME = ["KME_A", "KME_B"]
LINK_IP = ["198.51.100.1", "198.51.100.2"]
FB_CAK = "000102030405060708090a0b0c0d0e0f"
FB_CKN = "66616c6c6261636b"  # "fallback"

t = tap.Tap()
tap.require_root(t)
AGENT = tap.binpath("mka-agent/mka-agent")
MSW = tap.binpath("macsec-sw/macsec-sw")
KMESIM = tap.binpath("kme-sim/kme-sim")
PKI = os.path.join(tap.SRC, "scripts", "qkdlab-pki")
for p in (AGENT, MSW, KMESIM, PKI):
    if not os.access(p, os.X_OK):
        t.skip_all("%s not built" % os.path.basename(p))

tmp = tempfile.mkdtemp(prefix="qkdlab-mka014-")
t.cleanup(lambda: subprocess.run(["rm", "-rf", tmp]))
pki = os.path.join(tmp, "pki")
subprocess.run([PKI, "-d", pki, "-k", KME[0], "-k", KME[1], "-s", SAE[0], "-s", SAE[1],
                "-S", "IP:" + LINK_IP[0], "-S", "IP:" + LINK_IP[1]],
               check=True, stdout=subprocess.DEVNULL)

ns = [tap.Netns(t, "q14A"), tap.Netns(t, "q14B")]
tap.veth_pair(t, ns[0], ns[1])                      # the MACsec link
tap.veth_pair(t, ns[0], ns[1], "kmel0", "kmel0")    # the KME link
for i in range(2):
    ns[i].run("ip addr add %s/24 dev kmel0" % LINK_IP[i])


def write(path, lines, mode=0o600):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    os.write(fd, ("\n".join(lines) + "\n").encode())
    os.close(fd)
    return path


procs = []
for i in range(2):
    o = 1 - i
    conf = write(os.path.join(tmp, "kme-%d.conf" % i), [
        "kme_id = %s" % KME[i],
        "listen = 127.0.0.1:8443",
        "cert = %s/%s.crt" % (pki, KME[i]),
        "key = %s/%s.key" % (pki, KME[i]),
        "sae_ca = %s/sae-ca.crt" % pki,
        "link_listen = %s:9443" % LINK_IP[i],
        "link_cert = %s/%s-link.crt" % (pki, KME[i]),
        "link_key = %s/%s-link.key" % (pki, KME[i]),
        "link_ca = %s/kme-ca.crt" % pki,
        "admin_listen = 127.0.0.1:9080",
        "database = %s/kme-%d.db" % (tmp, i),
        "saes = %s" % SAE[i],
        "key_size = 256",
        "key_rate = 1000000",
        "",
        "[peer %s]" % KME[o],
        "address = %s:9443" % LINK_IP[o],
        "saes = %s" % SAE[o],
    ])
    procs.append(tap.Proc(t, [KMESIM, "-d", "-f", conf], "kme-%d" % i, netns=ns[i].name))
    procs.append(tap.Proc(t, [MSW, "-d", "-i", "wire0", "-t", "macsec0", "-s",
                              "%s/msw-%d.sock" % (tmp, i)], "msw-%d" % i, netns=ns[i].name))
for i in range(2):
    t.ok(tap.wait_port(8443, netns=ns[i].name, timeout=20), "kme-sim %s listens" % KME[i])
    tap.wait_for(lambda i=i: os.path.exists("%s/msw-%d.sock" % (tmp, i)), 10)
    ns[i].run("ip addr add 192.0.2.%d/24 dev macsec0 && ip link set macsec0 up" % (i + 1))

pcap = os.path.join(tmp, "wire.pcap")
dump = tap.Proc(t, ["tcpdump", "-U", "-n", "-i", "wire0", "-w", pcap, "ether", "proto", "0x888e"],
                "tcpdump", netns=ns[0].name)
time.sleep(1.0)

agents = []
for i in range(2):
    conf = write(os.path.join(tmp, "mka-%d.conf" % i), [
        "status_socket = %s/mka-%d.sock" % (tmp, i),
        "key_log = %s/keys-%d.log" % (tmp, i),
        "[port wire0]",
        "cak_source = etsi014",
        "sae_id = %s" % SAE[i],
        "allowed_peers = %s" % SAE[1 - i],
        "kme_url = https://127.0.0.1:8443",
        "kme_cert = %s/%s.crt" % (pki, SAE[i]),
        "kme_key = %s/%s.key" % (pki, SAE[i]),
        "kme_ca = %s/sae-ca.crt" % pki,
        "cak_bits = 256",
        "cipher_suites = gcm-aes-xpn-256",
        "eapol_destination = broadcast",
        "secy_socket = %s/msw-%d.sock" % (tmp, i),
        "cak_lifetime = 12s",
        "fallback_cak = %s" % FB_CAK,
        "fallback_ckn = %s" % FB_CKN,
        "fallback_after = 5s",
    ])
    agents.append(tap.Proc(t, [AGENT, "-d", "-f", conf], "mka-%d" % i, netns=ns[i].name))


def status(i):
    try:
        r = subprocess.run([AGENT, "-f", os.path.join(tmp, "mka-%d.conf" % i), "status"],
                           capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return {}
    return dict(tok.split("=", 1) for tok in r.stdout.split() if "=" in tok)


ok = tap.wait_for(lambda: status(0).get("state") == "secured" and
                  status(1).get("state") == "secured", 40, 0.2)
t.ok(ok, "ETSI 014: both agents reach SECURED",
     "A %r\nB %r\n--- A log\n%s\n--- B log\n%s" % (status(0), status(1),
                                                   agents[0].output()[-2000:], agents[1].output()[-2000:]))
t.eq(status(0).get("cipher_suite"), "GCM-AES-XPN-256", "XPN-256 agreed")
r = ns[0].run("ping -c 3 -W 2 -i 0.2 192.0.2.2", check=False)
t.ok(r.returncode == 0, "ping over the QKD-keyed MACsec link", r.stdout + r.stderr)

cak_lines = []
for i in range(2):
    with open(os.path.join(tmp, "keys-%d.log" % i)) as f:
        cak_lines.append([ln.split() for ln in f.read().splitlines() if ln.startswith("CAK ")])
same = cak_lines[0] and cak_lines[1] and cak_lines[0][-1] == cak_lines[1][-1]
t.ok(same, "both sites hold the same QKD CAK under the same CKN", cak_lines)
ckn = cak_lines[0][-1][1] if cak_lines[0] else ""
t.ok(len(ckn) == 32 and len(cak_lines[0][-1][2]) == 64, "CKN is a 16-octet key ID, CAK 256 bits")

time.sleep(0.5)
dump.stop()
r = subprocess.run(["tshark", "-n", "-r", pcap, "-T", "fields", "-E", "separator=|",
                    "-e", "frame.number", "-e", "_ws.malformed", "-e", "_ws.expert.severity",
                    "-e", "eapol.type", "-e", "mka.cak_name", "-e", "mka.kmd", "-e", "data.data"],
                   capture_output=True, text=True)
rows = [ln.split("|") for ln in r.stdout.splitlines() if ln]
mk = [x for x in rows if x[3] == "5"]
ann = [x for x in rows if x[3] == "6"]
t.ok(mk and not [x for x in mk if x[1] or x[2]],
     "tshark: %d MKPDUs, none malformed or with expert marks" % len(mk), r.stdout[-1500:])
kmd_hex = SAE[0].encode().hex()
t.ok([x for x in mk if x[4] == ckn and x[5] == kmd_hex],
     "tshark shows the initiator's KMD %s and the key-ID CKN" % SAE[0])
t.ok(ann and all(x[6].startswith("e208" + SAE[1].encode().hex()) for x in ann),
     "responder's EAPOL-Announcements carry KMD TLV 113 = %s" % SAE[1], ann[:3])


def ping_loss(count, interval):
    r = ns[0].run("ping -q -c %d -i %s -W 1 192.0.2.2" % (count, interval), check=False)
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
with open(os.path.join(tmp, "keys-0.log")) as f:
    ckns = {ln.split()[1] for ln in f.read().splitlines() if ln.startswith("CAK ")}
t.ok(len(ckns) >= 2, "the rollover used a new key ID as CKN (%d CKNs)" % len(ckns))

# KME link down (kme-sim fault injection: enc_keys answer 503): a
# restarted peer cannot get a QKD CA -> fallback PSK.


def kme_admin(path):
    r = ns[0].run("curl -s -o /dev/null -w '%%{http_code}' -X POST 'http://127.0.0.1:9080%s'" % path,
                  check=False)
    return r.stdout.strip()


t.eq(kme_admin("/admin/v1/fault?peer=KME_B&kind=down"), "200", "KME_A: QKD link to KME_B taken down")
agents[1].stop()
agents[1] = tap.Proc(t, [AGENT, "-d", "-f", os.path.join(tmp, "mka-1.conf")], "mka-1b",
                     netns=ns[1].name)
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

for i, a in enumerate(agents):
    t.eq(a.stop(), 0, "SIGTERM: mka-agent %d exits 0" % i)
for i, p in enumerate(procs):
    t.eq(p.stop(), 0, "SIGTERM: %s exits 0" % ("kme-sim", "macsec-sw")[i % 2])
