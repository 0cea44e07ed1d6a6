#!/usr/bin/python3
"""it_mka_skip.py — QKD-keyed MACsec through SKIP: two sites in two
network namespaces, each with a real kme-sim (KME link over a second veth
pair), a skip-proxy (TLS 1.3 external PSK towards the router, ETSI 014
towards its KME), macsec-sw and mka-agent with cak_source = skip.

Checked: both secure and ping passes over the TAPs; both key logs hold the
same CAK under the same 16-octet CKN (the SKIP keyId); tshark shows the
initiator's KMD SAE ID and that CKN with no malformed or expert mark; a
wrong SKIP PSK gets no key; every daemon exits 0 on SIGTERM.
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
SKIPPROXY = tap.binpath("skip-proxy/skip-proxy")
for p in (AGENT, MSW, KMESIM, PKI, SKIPPROXY):
    if not os.access(p, os.X_OK):
        t.skip_all("%s not built" % os.path.basename(p))

tmp = tempfile.mkdtemp(prefix="qkdlab-mkaskip-")
t.cleanup(lambda: subprocess.run(["rm", "-rf", tmp]))
pki = os.path.join(tmp, "pki")
subprocess.run([PKI, "-d", pki, "-k", KME[0], "-k", KME[1], "-s", SAE[0], "-s", SAE[1],
                "-S", "IP:" + LINK_IP[0], "-S", "IP:" + LINK_IP[1]],
               check=True, stdout=subprocess.DEVNULL)

ns = [tap.Netns(t, "qskA"), tap.Netns(t, "qskB")]
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

PSK = "8f2c4e6a0b1d3f5e7a9c2b4d6f8e0a1c3e5b7d9f1a2c4e6b8d0f2a4c6e8b0d2f"
for i in range(2):
    write(os.path.join(tmp, "skip-%d.psk" % i), ["router%d:%s" % (i, PSK)])
    conf = write(os.path.join(tmp, "skip-%d.conf" % i), [
        "listen = 127.0.0.1",
        "port = 8445",
        "psk_file = %s/skip-%d.psk" % (tmp, i),
        "local_system_id = %s" % SAE[i],
        "remote_system_id = %s" % SAE[1 - i],
        "kme_url = https://127.0.0.1:8443",
        "kme_ca_file = %s/sae-ca.crt" % pki,
        "kme_cert_file = %s/%s.crt" % (pki, SAE[i]),
        "kme_key_file = %s/%s.key" % (pki, SAE[i]),
    ])
    procs.append(tap.Proc(t, [SKIPPROXY, "-d", "-f", conf], "skip-%d" % i, netns=ns[i].name))
for i in range(2):
    t.ok(tap.wait_port(8445, netns=ns[i].name, timeout=20), "skip-proxy %d listens" % i)

pcap = os.path.join(tmp, "wire.pcap")
dump = tap.Proc(t, ["tcpdump", "-U", "-n", "-i", "wire0", "-w", pcap, "ether", "proto", "0x888e"],
                "tcpdump", netns=ns[0].name)
time.sleep(1.0)



def agent_conf(i, psk=PSK):
    return write(os.path.join(tmp, "mka-%d.conf" % i), [
        "status_socket = %s/mka-%d.sock" % (tmp, i),
        "key_log = %s/keys-%d.log" % (tmp, i),
        "[port wire0]",
        "cak_source = skip",
        "sae_id = %s" % SAE[i],
        "allowed_peers = %s" % SAE[1 - i],
        "skip_address = 127.0.0.1:8445",
        "skip_identity = router%d" % i,
        "skip_psk = %s" % psk,
        "cak_bits = 256",
        "cipher_suites = gcm-aes-256",
        "secy_socket = %s/msw-%d.sock" % (tmp, i),
    ])


def status(i):
    try:
        r = subprocess.run([AGENT, "-f", os.path.join(tmp, "mka-%d.conf" % i), "status"],
                           capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return {}
    return dict(tok.split("=", 1) for tok in r.stdout.split() if "=" in tok)


agents = [tap.Proc(t, [AGENT, "-d", "-f", agent_conf(i)], "mka-%d" % i, netns=ns[i].name)
          for i in range(2)]
ok = tap.wait_for(lambda: status(0).get("state") == "secured" and
                  status(1).get("state") == "secured", 40, 0.2)
t.ok(ok, "SKIP: both agents reach SECURED",
     "A %r\nB %r\n--- A log\n%s\n--- B log\n%s" % (status(0), status(1),
                                                   agents[0].output()[-2000:], agents[1].output()[-2000:]))
t.eq(status(0).get("cipher_suite"), "GCM-AES-256", "GCM-AES-256 agreed")
r = ns[0].run("ping -c 3 -W 2 -i 0.2 192.0.2.2", check=False)
t.ok(r.returncode == 0, "ping over the SKIP-keyed MACsec link", r.stdout + r.stderr)

cak_lines = []
for i in range(2):
    with open(os.path.join(tmp, "keys-%d.log" % i)) as f:
        cak_lines.append([ln.split() for ln in f.read().splitlines() if ln.startswith("CAK ")])
same = cak_lines[0] and cak_lines[1] and cak_lines[0][-1] == cak_lines[1][-1]
t.ok(same, "both sites hold the same CAK under the same CKN", cak_lines)
ckn = cak_lines[0][-1][1] if cak_lines[0] else ""
t.ok(len(ckn) == 32, "CKN is the 16-octet SKIP keyId")

time.sleep(0.5)
dump.stop()
r = subprocess.run(["tshark", "-n", "-r", pcap, "-T", "fields", "-E", "separator=|",
                    "-e", "frame.number", "-e", "_ws.malformed", "-e", "_ws.expert.severity",
                    "-e", "eapol.type", "-e", "mka.cak_name", "-e", "mka.kmd"],
                   capture_output=True, text=True)
rows = [ln.split("|") for ln in r.stdout.splitlines() if ln]
mk = [x for x in rows if x[3] == "5"]
t.ok(mk and not [x for x in mk if x[1] or x[2]],
     "tshark: %d MKPDUs, none malformed or with expert marks" % len(mk), r.stdout[-1500:])
t.ok([x for x in mk if x[4] == ckn and x[5] == SAE[0].encode().hex()],
     "tshark shows the initiator's KMD %s and the keyId CKN" % SAE[0])

# A router with the wrong PSK gets no key: the responder never joins.
agents[1].stop()
agents[1] = tap.Proc(t, [AGENT, "-d", "-f", agent_conf(1, psk="00" * 32)], "mka-1b",
                     netns=ns[1].name)
time.sleep(8)
s1 = status(1)
t.ok(s1.get("state") != "secured" and int(s1.get("key_errors", 0)) > 0 and
     s1.get("keys_fetched") == "0", "wrong SKIP PSK: no key, not secured", s1)

for i, a in enumerate(agents):
    t.eq(a.stop(), 0, "SIGTERM: mka-agent %d exits 0" % i)
for i, p in enumerate(procs):
    t.eq(p.stop(), 0, "SIGTERM: %s exits 0" % ("kme-sim", "macsec-sw", "kme-sim", "macsec-sw",
                                                "skip-proxy", "skip-proxy")[i])
