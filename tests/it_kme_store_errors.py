#!/usr/bin/python3
"""it_kme_store_errors.py — a key store kme-sim cannot use gets one clear
message, at error level, and `kme-sim -n` finds it too.

database names a directory, a file that is not an SQLite database, or the
database of a kme-sim that is running: each is refused by `-n` (exit 1)
and at start (exit 1) with one error line that says what is wrong and
what to do, and no warning.  A usable database passes `-n` unchanged.
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import kmelab as kc  # noqa: E402
from kmelab import tap  # noqa: E402

t = tap.Tap()
lab = kc.Lab(t, {
    "KME_A": {"saes": ["SAE_A"], "peers": ["KME_B"]},
    "KME_B": {"saes": ["SAE_B"], "peers": ["KME_A"]},
})
A = lab.kmes["KME_A"]
exe = tap.binpath("kme-sim/kme-sim")


def conf_with(db):
    p = os.path.join(lab.dir, "probe.conf")
    with open(A.conf) as f:
        text = f.read().replace("database = %s" % A.db, "database = %s" % db)
    with open(p, "w") as f:
        f.write(text)
    return p


def run(db, *args):
    r = subprocess.run([exe, "-f", conf_with(db)] + list(args), capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout + r.stderr


def refused(what, db, words):
    for args in (["-n"], ["-d"]):
        rc, out = run(db, *args)
        store = [ln for ln in out.splitlines() if "store:" in ln]
        t.ok(rc == 1 and len(store) == 1 and " error: " in store[0] and words in store[0] and
             " warn" not in out, "%s, kme-sim %s: exit 1, one error line saying '%s'" % (what, args[0], words), out)


d = os.path.join(lab.dir, "dir.db")
os.mkdir(d, 0o700)
refused("a directory", d, "is a directory")
f = os.path.join(lab.dir, "text.db")
with open(f, "w") as fh:
    fh.write("not a database\n" * 100)
os.chmod(f, 0o600)
refused("a text file", f, "is not an SQLite database")

A.start()
refused("the database of a running kme-sim", A.db, "locked by another process")
t.eq(A.stop(), 0, "the running kme-sim was not disturbed (exits 0)")

before = sorted(os.listdir(lab.dir))
rc, out = run(A.db, "-n")
t.ok(rc == 0 and "configuration OK" in out and " warn" not in out, "-n passes the stopped KME's database", out)
t.eq(sorted(os.listdir(lab.dir)), before, "... and creates no file")
t.done()
