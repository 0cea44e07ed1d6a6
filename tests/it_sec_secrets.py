#!/usr/bin/python3
"""it_sec_secrets.py — secret files with loose permissions (docs/SECURITY.md,
security checks).

Every daemon that reads a secret file refuses to start when group or
others may access it (mode 0644, and 0640 for one case), and says which
file and how to fix it; the same files at 0600 pass (the control).
Secrets: kme-sim's ETSI 014 and KME-link private keys; skip-proxy's PSK
file, its KME client key and (certificate mode) its server key;
mka-agent's configuration when it holds a CAK, a SKIP PSK or a fallback
CAK.  macsec-sw reads no secret file; its control socket, over which SAKs
travel, must be 0600.

Also kme-sim's key database mode, mka-agent's ETSI 014 client key and a
pre-existing key log.
"""
import os
import stat
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import tap  # noqa: E402

t = tap.Tap()
KMESIM = tap.binpath("kme-sim/kme-sim")
SKIPPROXY = tap.binpath("skip-proxy/skip-proxy")
AGENT = tap.binpath("mka-agent/mka-agent")
MSW = tap.binpath("macsec-sw/macsec-sw")
PKI = os.path.join(tap.SRC, "scripts", "qkdlab-pki")
tap.require_bins(t, "kme-sim/kme-sim", "skip-proxy/skip-proxy", "mka-agent/mka-agent", "macsec-sw/macsec-sw")

tmp = tempfile.mkdtemp(prefix="qkdlab-secrets-")
t.cleanup(lambda: subprocess.run(["rm", "-rf", tmp]))
pki = os.path.join(tmp, "pki")
subprocess.run([PKI, "-d", pki, "-k", "KME_A", "-k", "KME_B", "-s", "SAE_A"], check=True, stdout=subprocess.DEVNULL)
LOOSE = "accessible by group or others"


def write(name, lines, mode=0o600):
    path = os.path.join(tmp, name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.write(fd, ("\n".join(lines) + "\n").encode())
    os.close(fd)
    os.chmod(path, mode)
    return path


def run(argv, timeout=20):
    """(exit status or None if still running after timeout, output)."""
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        out, _ = p.communicate(timeout=timeout)
        return p.returncode, out.decode(errors="replace")
    except subprocess.TimeoutExpired:
        p.terminate()
        try:
            out, _ = p.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            out, _ = p.communicate()
        return None, out.decode(errors="replace")


def refused(argv, path, what, mode=0o644):
    """Starts the daemon (foreground) with path at mode: it must exit
    non-zero at once, naming the file and the problem; then 0600 again."""
    os.chmod(path, mode)
    rc, out = run(argv)
    os.chmod(path, 0o600)
    t.ok(rc not in (None, 0) and path in out and LOOSE in out,
         "%s: refused at start with %04o, message names the file" % (what, mode), "rc=%r\n%s" % (rc, out[-1500:]))


def passes_check(argv, what):
    rc, out = run(argv + ["-n"])
    t.eq(rc, 0, "%s: control, -n accepts the same files at 0600" % what) or t.diag(out[-1500:])


# ---------------------------------------------------------------- kme-sim
def kme_conf(name, db):
    return write(name, [
        "kme_id = KME_A", "listen = 127.0.0.1:%d" % tap.free_port(),
        "cert = %s/KME_A.crt" % pki, "key = %s/KME_A.key" % pki, "sae_ca = %s/sae-ca.crt" % pki,
        "link_listen = 127.0.0.1:%d" % tap.free_port(), "link_cert = %s/KME_A-link.crt" % pki,
        "link_key = %s/KME_A-link.key" % pki, "link_ca = %s/kme-ca.crt" % pki,
        "database = %s" % db, "saes = SAE_A", "threads = 2",
        "[peer KME_B]", "address = 127.0.0.1:%d" % tap.free_port(), "saes = SAE_B"])


kconf = kme_conf("kme.conf", os.path.join(tmp, "kme.db"))
kargv = [KMESIM, "-d", "-f", kconf]
passes_check(kargv, "kme-sim")
refused(kargv, os.path.join(pki, "KME_A.key"), "kme-sim ETSI 014 key")
refused(kargv, os.path.join(pki, "KME_A-link.key"), "kme-sim KME-link key")

# The key database holds every unused key: nobody else may read it.
old = os.umask(0o022)
db = os.path.join(tmp, "kme2.db")
p = tap.Proc(t, [KMESIM, "-d", "-f", kme_conf("kme2.conf", db)], "sec-kme-db")
os.umask(old)
tap.wait_for(lambda: os.path.exists(db), 20)
time.sleep(0.3)
files = [f for f in os.listdir(tmp) if f.startswith("kme2.db")]
loose = ["%s %04o" % (f, stat.S_IMODE(os.stat(os.path.join(tmp, f)).st_mode)) for f in files
         if os.stat(os.path.join(tmp, f)).st_mode & 0o077]
t.ok(files and not loose, "kme-sim creates its key database (and WAL files) 0600 under umask 022",
     ", ".join(loose) or "no database file")
t.eq(p.stop(), 0, "kme-sim exits 0")

# ------------------------------------------------------------- skip-proxy
psk = write("routers.psk", ["router1:" + "ab" * 32])
sport = tap.free_port()
base = ["listen = 127.0.0.1", "port = %d" % sport, "local_system_id = SAE_A", "remote_system_id = SAE_B",
        "kme_url = https://127.0.0.1:%d" % tap.free_port(), "kme_ca_file = %s/sae-ca.crt" % pki,
        "kme_cert_file = %s/SAE_A.crt" % pki, "kme_key_file = %s/SAE_A.key" % pki, "threads = 2"]
sconf = write("skip.conf", base + ["psk_file = %s" % psk])
sargv = [SKIPPROXY, "-d", "-f", sconf]
passes_check(sargv, "skip-proxy")
refused(sargv, psk, "skip-proxy PSK file")
refused(sargv, psk, "skip-proxy PSK file", 0o640)
refused(sargv, os.path.join(pki, "SAE_A.key"), "skip-proxy KME client key")
cconf = write("skip-cert.conf", base + ["tls_mode = certificate", "cert_file = %s/KME_B.crt" % pki,
                                        "key_file = %s/KME_B.key" % pki, "client_ca_file = %s/sae-ca.crt" % pki])
cargv = [SKIPPROXY, "-d", "-f", cconf]
passes_check(cargv, "skip-proxy (certificate mode)")
refused(cargv, os.path.join(pki, "KME_B.key"), "skip-proxy server key (certificate mode)")

# -------------------------------------------------------------- mka-agent
# Refusals happen while the configuration is read, before any port opens.
port = ["[port qsec0]", "secy_socket = none"]
cases = [
    ("mka-agent config holding a CAK", ["cak_source = psk", "cak = " + "11" * 16, "ckn = 0102"]),
    ("mka-agent config holding a SKIP PSK",
     ["cak_source = skip", "sae_id = SAE_A", "allowed_peers = SAE_B", "skip_address = 127.0.0.1:1",
      "skip_identity = router1", "skip_psk = " + "22" * 32]),
    ("mka-agent config holding a fallback CAK",
     ["cak_source = etsi014", "sae_id = SAE_A", "allowed_peers = SAE_B", "kme_url = https://127.0.0.1:1",
      "kme_cert = %s/SAE_A.crt" % pki, "kme_key = %s/SAE_A.key" % pki, "kme_ca = %s/sae-ca.crt" % pki,
      "fallback_cak = " + "33" * 16, "fallback_ckn = 0a0b"]),
]
for i, (what, lines) in enumerate(cases):
    mconf = write("mka-%d.conf" % i, ["status_socket = %s/mka-%d.sock" % (tmp, i)] + port + lines)
    margv = [AGENT, "-d", "-f", mconf]
    if i == 0:
        passes_check(margv, what)
    refused(margv, mconf, what)

# The ETSI 014 client key named by kme_key.
ns = tap.Netns(t, "qsec")
ns.run("ip link add qsec0 type veth peer name qsec1 && ip link set qsec0 up && ip link set qsec1 up")
mconf = write("mka-014.conf", ["status_socket = %s/mka-014.sock" % tmp] + port + [
    "cak_source = etsi014", "sae_id = SAE_A", "allowed_peers = SAE_B", "kme_url = https://127.0.0.1:1",
    "kme_cert = %s/SAE_A.crt" % pki, "kme_key = %s/SAE_A.key" % pki, "kme_ca = %s/sae-ca.crt" % pki])
os.chmod(os.path.join(pki, "SAE_A.key"), 0o644)
rc, out = run(["ip", "netns", "exec", ns.name, AGENT, "-d", "-f", mconf], timeout=2.5)
os.chmod(os.path.join(pki, "SAE_A.key"), 0o600)
t.ok(rc not in (None, 0) and LOOSE in out, "mka-agent refuses an ETSI 014 client key (kme_key) with mode 0644",
     "rc=%r\n%s" % (rc, out[-800:]))

# An existing key log that others may read.
klog = write("keys.log", [], 0o644)
mconf = write("mka-klog.conf", ["status_socket = %s/mka-klog.sock" % tmp, "key_log = %s" % klog] + port +
              ["cak_source = psk", "cak = " + "11" * 16, "ckn = 0102"])
rc, out = run(["ip", "netns", "exec", ns.name, AGENT, "-d", "-f", mconf], timeout=2.5)
kmode = stat.S_IMODE(os.stat(klog).st_mode)
t.ok((rc not in (None, 0) and klog in out) or kmode & 0o077 == 0,
     "mka-agent refuses (or tightens) a key log readable by others", "mode %04o rc=%r\n%s" % (kmode, rc, out[-800:]))
t.eq(os.path.getsize(klog), 1, "... and wrote no key into it")

# -------------------------------------------------------------- macsec-sw
ns.run("ip link add qmsw0 type veth peer name qmsw1 && ip link set qmsw0 up && ip link set qmsw1 up")
sock = os.path.join(tmp, "msw.sock")
old = os.umask(0)
p = tap.Proc(t, [MSW, "-d", "-i", "qmsw0", "-t", "qtap0", "-s", sock], "sec-msw", netns=ns.name)
os.umask(old)
tap.wait_for(lambda: os.path.exists(sock), 20)
mode = stat.S_IMODE(os.stat(sock).st_mode) if os.path.exists(sock) else None
t.eq(mode, 0o600, "macsec-sw's control socket (SAKs travel on it) is 0600 even under umask 0")
t.eq(p.stop(), 0, "macsec-sw exits 0")
