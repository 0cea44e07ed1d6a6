#!/usr/bin/python3
"""it_sec_conf.py — bad configuration files (docs/SECURITY.md, bad input matrix):
mka-agent.conf refusals with `mka-agent -n` (exit 1, the message names
file:line or the port), which no other test lists, plus the findings of
docs/SECURITY.md's configuration rows.  kme-sim's,
skip-proxy's and macsec-sw's refusals are in it_kme_cli.py,
it_skip_tls.py and it_macsec_daemon.py.
"""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import tap  # noqa: E402

t = tap.Tap()
AGENT = tap.binpath("mka-agent/mka-agent")
KMESIM = tap.binpath("kme-sim/kme-sim")
PKI = os.path.join(tap.SRC, "scripts", "qkdlab-pki")
tap.require_bins(t, "mka-agent/mka-agent", "kme-sim/kme-sim")
tmp = tempfile.mkdtemp(prefix="qkdlab-conf-")
t.cleanup(lambda: subprocess.run(["rm", "-rf", tmp]))
n = [0]


def check(argv_for, text):
    n[0] += 1
    path = os.path.join(tmp, "c%d.conf" % n[0])
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.write(fd, text.encode())
    os.close(fd)
    r = subprocess.run(argv_for(path), capture_output=True, text=True, timeout=30)
    return r.returncode, r.stdout + r.stderr, os.path.basename(path)


def mka(path):
    return [AGENT, "-n", "-f", path]


PSK = "[port wire0]\ncak_source = psk\ncak = %s\nckn = 0102\nsecy_socket = none\n" % ("11" * 16)
rc, out, _ = check(mka, PSK)
t.eq(rc, 0, "mka-agent -n: control, a minimal PSK port is OK") or t.diag(out)
bad = [
    ("unknown key", PSK + "colour = blue\n", ":6: unknown key 'colour'"),
    ("unknown global key", "colour = blue\n" + PSK, ":1: unknown key 'colour'"),
    ("unknown section", PSK + "[router x]\nname = y\n", "unknown section"),
    ("CAK of 15 octets", PSK.replace("11" * 16, "11" * 15), "cak: 32 or 64 hex digits"),
    ("CAK not hex", PSK.replace("11" * 16, "zz" * 16), "cak: 32 or 64 hex digits"),
    ("CKN of 33 octets", PSK.replace("ckn = 0102", "ckn = " + "ab" * 33), "ckn: 2 to 64 hex digits"),
    ("odd CKN", PSK.replace("ckn = 0102", "ckn = 010"), "ckn: 2 to 64 hex digits"),
    ("no CKN", PSK.replace("ckn = 0102\n", ""), "needs cak and ckn"),
    ("no [port]", "log_level = info\n", "no [port] section"),
    ("interface name too long", PSK.replace("wire0", "w" * 16), "bad or too many [port]"),
    ("nine ports", "".join(PSK.replace("wire0", "w%d" % i) for i in range(9)), "bad or too many [port]"),
    ("unknown cipher suite", PSK + "cipher_suites = rot13\n", "cipher_suites: invalid value"),
    ("bad MAC", PSK + "eapol_destination = 01:80:c2:00:00\n", "eapol_destination: invalid value"),
    ("hello_time 50ms", PSK + "hello_time = 50ms\n", "hello_time: invalid value"),
    ("life_time 1h", PSK + "life_time = 1h\n", "life_time: invalid value"),
    ("priority 256", PSK + "priority = 256\n", "priority: invalid value"),
    ("port_id 0", PSK + "port_id = 0\n", "port_id: invalid value"),
    ("offset 40", PSK + "confidentiality_offset = 40\n", "confidentiality_offset: invalid value"),
    ("relative secy_socket", PSK.replace("secy_socket = none", "secy_socket = run/x.sock"),
     "secy_socket: invalid value"),
    ("relative key_log", "key_log = keys.log\n" + PSK, "key_log: invalid value"),
    ("kme_url over http", PSK + "kme_url = http://kme:80\n", "kme_url: invalid value"),
    ("SAE ID with a slash", PSK + "sae_id = SAE/A\n", "sae_id: invalid value"),
    ("skip port incomplete", "[port wire0]\ncak_source = skip\nsae_id = SAE_A\nallowed_peers = SAE_B\n",
     "cak_source skip needs"),
    ("SKIP PSK of 8 octets", PSK + "skip_psk = " + "ab" * 8 + "\n", "skip_psk: invalid value"),
    ("etsi014 port incomplete", "[port wire0]\ncak_source = etsi014\nsae_id = SAE_A\nallowed_peers = SAE_B\n",
     "cak_source etsi014 needs"),
    ("fallback CAK without CKN",
     "[port wire0]\ncak_source = etsi014\nsae_id = SAE_A\nallowed_peers = SAE_B\nkme_url = https://k:1\n"
     "kme_cert = /c\nkme_key = /k\nkme_ca = /a\nfallback_cak = %s\n" % ("22" * 16), "go together"),
    ("NUL in a line", PSK + "log_level = in\0fo\n", "NUL character"),
    ("line of 5000 characters", PSK + "key_log = /" + "x" * 5000 + "\n", "longer than"),
]
for what, text, want in bad:
    rc, out, name = check(mka, text)
    t.ok(rc == 1 and want in out and (name in out or "wire0" in out or "w" * 16 in out),
         "mka-agent -n refuses %s: exit 1, '%s'" % (what, want), "rc=%r\n%s" % (rc, out[-800:]))
    t.ok("11" * 16 not in out, "... and does not echo the CAK (%s)" % what, out[-800:])

# A refused secret value must not be quoted.
for what, line, secret in (("skip_psk of 15 octets", "skip_psk = %s" % ("5a" * 15), "5a" * 15),
                           ("fallback_cak of 20 octets", "fallback_cak = %s" % ("6b" * 20), "6b" * 20)):
    rc, out, _ = check(mka, PSK + line + "\n")
    t.ok(rc == 1 and secret[:16] not in out, "mka-agent refuses a %s without quoting it" % what, out[-800:])
# Lib/cfg.c quoted 64 characters of a line without '='.
rc, out, _ = check(mka, PSK + "cak %s\n" % ("7c" * 16))
t.ok(rc == 1 and "7c" * 8 not in out,
     "a malformed line holding a CAK ('cak HEX', no '=') is refused without quoting it", out[-800:])

# Lax spots found while fuzzing the parsers.
rc, out, _ = check(mka, PSK + "[port wire1]\ncak_source = psk\ncak = %s\nckn = 03\n" % ("33" * 16) +
                   PSK.replace("ckn = 0102", "ckn = 0405"))
t.eq(rc, 1, "mka-agent refuses a second, non-adjacent [port wire0]") or t.diag(out)
rc, out, _ = check(mka, PSK + "eapol_destination = -1:+2: 3:4:5:6\n")
t.eq(rc, 1, "mka-agent refuses eapol_destination '-1:+2: 3:4:5:6'") or t.diag(out)

pki = os.path.join(tmp, "pki")
subprocess.run([PKI, "-d", pki, "-k", "KME_A"], check=True, stdout=subprocess.DEVNULL)


def kme(path):
    return [KMESIM, "-n", "-f", path]


KCONF = """kme_id = KME_A
listen = 127.0.0.1:1
cert = {p}/KME_A.crt
key = {p}/KME_A.key
sae_ca = {p}/sae-ca.crt
link_listen = 127.0.0.1:2
link_cert = {p}/KME_A-link.crt
link_key = {p}/KME_A-link.key
link_ca = {p}/kme-ca.crt
database = {d}/k.db
saes = SAE_A
[peer KME_B]
address = 127.0.0.1:3
saes = {s}
""".format(p=pki, d=tmp, s="%s")
rc, out, _ = check(kme, KCONF % "SAE_B")
t.eq(rc, 0, "kme-sim -n: control configuration OK") or t.diag(out)
rc, out, _ = check(kme, KCONF % "SAE_B SAE_B")
t.eq(rc, 1, "kme-sim refuses an SAE ID listed twice in one [peer]") or t.diag(out)
