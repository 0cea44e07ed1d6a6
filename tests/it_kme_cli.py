#!/usr/bin/python3
"""it_kme_cli.py — kme-sim's command line and configuration checks.

--help, -n on a good configuration, and a clear error (exit 1, a message
naming the problem, never a crash) for each kind of bad configuration,
including a private key readable by others.  The key store (database,
-wal, -shm) is created mode 0600 whatever the umask, and an existing store
that group or others can read is refused at start, naming the file.
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import kmelab as kc  # noqa: E402
from kmelab import tap  # noqa: E402

t = tap.Tap()
lab = kc.Lab(t, {"KME_A": {"saes": ["SAE_A"], "peers": ["KME_B"]},
                 "KME_B": {"saes": ["SAE_B"], "peers": ["KME_A"]}})
A = lab.kmes["KME_A"]
BIN = tap.binpath("kme-sim/kme-sim")


def run(*args):
    p = subprocess.run([BIN] + list(args), capture_output=True, text=True, timeout=30)
    return p.returncode, p.stdout + p.stderr


rc, out = run("--help")
t.ok(rc == 0 and "usage: kme-sim" in out and "-f file" in out, "--help prints usage, exit 0")
rc, out = run("-x")
t.eq(rc, 2, "unknown option: exit 2")
rc, out = run("-d", "extra")
t.ok(rc == 2 and "unexpected argument" in out, "stray argument: exit 2 with a message")
rc, out = run("-n", "-f", A.conf)
t.ok(rc == 0 and "configuration OK" in out, "-n on the lab configuration: OK", out)
rc, out = run("-n", "-f", "/nonexistent/kme.conf")
t.ok(rc == 1 and "/nonexistent/kme.conf" in out, "missing file: exit 1 naming it", out)

good = open(A.conf).read()
bad = [
    ("unknown key", "colour = blue\n" + good, "unknown key 'colour'"),
    ("no kme_id", good.replace("kme_id = KME_A\n", ""), "kme_id is required"),
    ("bad port", good.replace("listen = 127.0.0.1:%d" % A.port, "listen = 127.0.0.1:99999"), "host:port"),
    ("admin off loopback", good.replace("admin_listen = 127.0.0.1", "admin_listen = 192.0.2.1"), "loopback"),
    ("size order", "min_key_size = 512\n" + good, "min_key_size <= key_size"),
    ("size not /8", "key_size = 100\n" + good, "multiples of 8"),
    ("bad duration", "key_ttl = soon\n" + good, "key_ttl must be a duration"),
    ("bad section", good + "[router x]\nname = y\n", "unknown section"),
    ("peer is self", good.replace("[peer KME_B]", "[peer KME_A]"), "this KME itself"),
    ("SAE twice", good.replace("saes = SAE_A", "saes = SAE_A SAE_B"), "listed twice"),
    ("no peers", good[:good.index("[peer")], "at least one [peer"),
    ("bad id", good.replace("saes = SAE_A", "saes = SAE/A"), "bad SAE ID"),
]
for name, text, want in bad:
    path = os.path.join(lab.dir, "bad.conf")
    with open(path, "w") as f:
        f.write(text)
    rc, out = run("-n", "-f", path)
    t.ok(rc == 1 and want in out, "%s: exit 1 with '%s'" % (name, want), out[-400:])

key = os.path.join(lab.pki, "KME_A.key")
os.chmod(key, 0o644)
rc, out = run("-n", "-f", A.conf)
t.ok(rc == 1 and "accessible by group or others" in out, "a private key readable by others is refused", out[-400:])
os.chmod(key, 0o600)
st = os.stat(os.path.join(lab.pki, "SAE_A.key")).st_mode & 0o777
t.eq(st, 0o600, "qkdlab-pki writes private keys with mode 0600")
p = subprocess.run([kc.PKI, "-h"], capture_output=True, text=True)
t.ok(p.returncode == 0 and "usage: qkdlab-pki" in p.stdout, "qkdlab-pki -h")
p = subprocess.run([kc.PKI, "-d", lab.dir, "-s", "bad/id"], capture_output=True, text=True)
t.ok(p.returncode != 0 and "bad ID" in p.stderr, "qkdlab-pki refuses a bad ID")

# --- the key store holds key bytes: private files only
os.umask(0o022)                      # the usual umask; kme-sim must not rely on it
lab.start()
t.ok(lab.wait_keys("KME_A", "SAE_A", "SAE_B", 1) is not None, "pair up")
r = lab.curl("KME_A", "SAE_A", "/api/v1/keys/SAE_B/enc_keys")
t.eq(r.code, 200, "a key taken (written to both stores)")
for k in lab.kmes.values():
    files = [k.db + s for s in ("", "-wal", "-shm") if os.path.exists(k.db + s)]
    modes = {os.path.basename(f): oct(os.stat(f).st_mode & 0o777) for f in files}
    # -shm exists only if SQLite uses shared memory (not in exclusive mode).
    t.ok(k.db in files and k.db + "-wal" in files and set(modes.values()) == {"0o600"},
         "%s: store files are mode 0600 under umask 022: %s" % (k.id, modes))
kc.stop_all(t, lab)


def start_refused(kme):
    """Starts kme-sim on a store it must refuse; returns (exited, rc, output)."""
    p = subprocess.Popen([BIN, "-d", "-f", kme.conf], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        out, _ = p.communicate(timeout=15)
        return True, p.returncode, out
    except subprocess.TimeoutExpired:
        p.kill()
        out, _ = p.communicate()
        return False, None, out


for suffix, mode in (("", 0o644), ("-wal", 0o640)):
    f = A.db + suffix
    if not os.path.exists(f):
        open(f, "wb").close()
    os.chmod(f, mode)
    exited, rc, out = start_refused(A)
    t.ok(exited and rc == 1 and f + " holds secrets but is accessible by group or others" in out and
         "chmod 600 " + f in out, "a %04o store file (%s) is refused at start, naming it and the fix"
         % (mode, os.path.basename(f)), out[-600:])
    rc, out = run("-n", "-f", A.conf)
    t.ok(rc == 1 and f in out, "-n reports it too", out[-400:])
    t.eq(os.stat(f).st_mode & 0o777, mode, "the file is left as it was (for the operator to judge)")
    if suffix:
        os.unlink(f)
    else:
        os.chmod(f, 0o600)
A.start()
t.ok(tap.wait_for(lambda: lab.curl("KME_A", "SAE_A", "/api/v1/keys/SAE_B/status").code == 200, 10),
     "with the modes fixed it starts on the same store")
rc = A.stop()
t.eq(rc, 0, "and stops cleanly")
t.done()
