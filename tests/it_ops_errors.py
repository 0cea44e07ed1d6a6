#!/usr/bin/python3
"""it_ops_errors.py — configuration errors that say what to do, at error
level, with exit 1 (checked with -n, as an operator would).

  - mka-agent: an invalid cak_source names the valid ones.
  - A TLS file that cannot be loaded is named by its configuration key and
    path, with OpenSSL's reason: skip-proxy (kme_cert_file not PEM,
    kme_key_file of another certificate: the reason Python's ssl module,
    an independent OpenSSL binding, gives for the same pair), kme-sim
    (link_key missing), mka-agent (kme_ca that holds no certificate).
  - skip-proxy: a missing required key and a bad kme_unavailable_status.
Every such line is logged at error level ("<prog> error: ...").
"""
import os
import ssl
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import tap  # noqa: E402

t = tap.Tap()
tmp = tempfile.mkdtemp(prefix="qkdlab-iterrors-")
t.cleanup(lambda: subprocess.run(["rm", "-rf", tmp]))
pki = os.path.join(tmp, "pki")
subprocess.run([os.path.join(tap.SRC, "scripts", "qkdlab-pki"), "-d", pki, "-k", "KME_A", "-k", "KME_B",
                "-s", "SAE_A", "-s", "SAE_B"], check=True, capture_output=True, timeout=120)


def write(name, text, mode=0o600):
    path = os.path.join(tmp, name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    os.write(fd, text.encode())
    os.close(fd)
    os.chmod(path, mode)
    return path


def check(prog, conf):
    return subprocess.run([tap.binpath(prog), "-n", "-f", conf], capture_output=True, text=True, timeout=30)


def error_lines(r, name):
    return [ln for ln in r.stderr.splitlines() if " %s error: " % name in ln]


garbage = write("garbage.pem", "this is not PEM\n", 0o600)
psk = write("skip.psk", "router-a:%s\n" % os.urandom(32).hex())

# ---- mka-agent: cak_source ------------------------------------------------
conf = write("mka-bad-source.conf", "status_socket = %s/m.sock\n[port lo]\ncak_source = quantum\n" % tmp)
r = check("mka-agent/mka-agent", conf)
errs = error_lines(r, "mka-agent")
t.ok(r.returncode == 1 and any("cak_source" in ln and "quantum" in ln and "psk, skip, etsi014" in ln for ln in errs),
     "an invalid cak_source is an error naming the valid ones", r.stderr)

# ---- skip-proxy: TLS files ------------------------------------------------
SKIP_BASE = ("port = 8443\npsk_file = %s\nlocal_system_id = SAE_A\nremote_system_id = SAE_B\n"
             "kme_url = https://127.0.0.1:1\nkme_ca_file = %s/sae-ca.crt\n" % (psk, pki))
conf = write("skip-garbage.conf", SKIP_BASE + "kme_cert_file = %s\nkme_key_file = %s/SAE_A.key\n" % (garbage, pki))
r = check("skip-proxy/skip-proxy", conf)
errs = error_lines(r, "skip-proxy")
t.ok(r.returncode == 1 and any("kme_cert_file %s: cannot load the certificate: PEM routines" % garbage in ln
                               for ln in errs),
     "skip-proxy: a kme_cert_file that is not PEM: key, file and OpenSSL's reason, at error level", r.stderr)

cert, wrong_key = os.path.join(pki, "SAE_A.crt"), os.path.join(pki, "SAE_B.key")
try:
    ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_cert_chain(cert, wrong_key)
    reason = None
except ssl.SSLError as e:
    # "[X509: KEY_VALUES_MISMATCH] key values mismatch (_ssl.c:NNN)"
    reason = str(e).split("] ", 1)[-1].rsplit(" (", 1)[0]
conf = write("skip-mismatch.conf", SKIP_BASE + "kme_cert_file = %s\nkme_key_file = %s\n" % (cert, wrong_key))
r = check("skip-proxy/skip-proxy", conf)
errs = error_lines(r, "skip-proxy")
t.ok(reason is not None and r.returncode == 1 and
     any("kme_key_file %s does not belong to kme_cert_file %s" % (wrong_key, cert) in ln and reason in ln
         for ln in errs),
     "skip-proxy: a key of another certificate names both and OpenSSL's reason ('%s')" % reason, r.stderr)

conf = write("skip-missing.conf", "port = 8443\npsk_file = %s\nlocal_system_id = SAE_A\n" % psk)
r = check("skip-proxy/skip-proxy", conf)
errs = error_lines(r, "skip-proxy")
t.ok(r.returncode == 1 and any("kme_url is required" in ln for ln in errs) and
     any("configuration refused" in ln for ln in errs),
     "skip-proxy: a missing required key and the refusal are errors", r.stderr)

conf = write("skip-status.conf", SKIP_BASE + "kme_cert_file = %s\nkme_key_file = %s/SAE_A.key\n"
             "kme_unavailable_status = 502\n" % (cert, pki))
r = check("skip-proxy/skip-proxy", conf)
errs = error_lines(r, "skip-proxy")
t.ok(r.returncode == 1 and any("kme_unavailable_status 502" in ln and "500" in ln and "503" in ln for ln in errs),
     "skip-proxy: kme_unavailable_status other than 500/503 is refused naming both", r.stderr)

# ---- kme-sim: a missing key file --------------------------------------------
missing = os.path.join(tmp, "nosuch-link.key")
conf = write("kme.conf", """kme_id = KME_A
listen = 127.0.0.1:18443
cert = {p}/KME_A.crt
key = {p}/KME_A.key
sae_ca = {p}/sae-ca.crt
link_listen = 127.0.0.1:19443
link_cert = {p}/KME_A-link.crt
link_key = {m}
link_ca = {p}/kme-ca.crt
database = {t}/kme.db
saes = SAE_A
[peer KME_B]
address = 127.0.0.1:19444
saes = SAE_B
""".format(p=pki, m=missing, t=tmp))
r = check("kme-sim/kme-sim", conf)
errs = error_lines(r, "kme-sim")
t.ok(r.returncode == 1 and any("link_key %s: cannot open: No such file or directory" % missing in ln for ln in errs),
     "kme-sim: a missing link_key names the key, the file and why, at error level", r.stderr)

# ---- mka-agent: kme_ca with no certificate ----------------------------------
conf = write("mka-014.conf", """status_socket = {t}/m.sock
[port lo]
cak_source = etsi014
sae_id = SAE_A
allowed_peers = SAE_B
kme_url = https://127.0.0.1:1
kme_cert = {p}/SAE_A.crt
kme_key = {p}/SAE_A.key
kme_ca = {g}
""".format(t=tmp, p=pki, g=garbage))
r = check("mka-agent/mka-agent", conf)
errs = error_lines(r, "mka-agent")
t.ok(r.returncode == 1 and any("kme_ca %s: cannot load CA certificates" % garbage in ln for ln in errs),
     "mka-agent: a kme_ca holding no certificate names key, file and reason, at error level", r.stderr)
t.done()
