#!/usr/bin/python3
"""it_kme_crash_claim.py — prefetched keys taken ahead of requests are never
handed out twice, even when the KME is killed holding them.

KME_A (the pool authority, prefetch_keys = 256) takes prefetched keys from
its store a batch at a time, ahead of the requests that hand them out.
The test reads the ready keys of (SAE_A, SAE_B) from KME_A's database
(sqlite3, not kme-sim code) while KME_A is stopped, restarts it, takes one
key and kills KME_A with SIGKILL at once.  Then, from the database again:
  - the key handed out had left KME_A's store before the crash, together
    with the rest of its batch (the keys taken ahead of requests);
after a restart:
  - no key of that batch is ever handed out again (the oldest ready keys
    are drained first, so a key still in the store would come next);
  - the slave gets the key handed out before the crash, once, with the
    bytes its master got, and so every key drained after it.
curl is the SAE.
"""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import kmelab as kc  # noqa: E402
from kmelab import tap  # noqa: E402

extra = {"prefetch_keys": "256", "max_key_count": "3000", "key_rate": "10000000",
         "max_key_per_request": "64"}
t = tap.Tap()
lab = kc.Lab(t, {
    "KME_A": {"saes": ["SAE_A"], "peers": ["KME_B"], "extra": extra},
    "KME_B": {"saes": ["SAE_B"], "peers": ["KME_A"], "extra": extra},
})
lab.start()
A, B = lab.kmes["KME_A"], lab.kmes["KME_B"]
t.ok(lab.wait_keys("KME_A", "SAE_A", "SAE_B", 200) is not None, "pair up, pool filling")


def ready_ids():
    p = subprocess.run(["sqlite3", A.db, "SELECT lower(hex(key_id)) FROM ready "
                        "WHERE master = 'SAE_A' AND slave = 'SAE_B'"],
                       capture_output=True, text=True, check=True)
    return set(p.stdout.split())


def hexid(kid):
    return kid.replace("-", "").lower()


# The ticker tops the ready keys up every sync; the store can be read only
# while KME_A is stopped (it holds the database locked while it runs).
for _ in range(10):
    rc = A.stop()
    before = ready_ids()
    A.start()
    if len(before) >= 128:
        break
    time.sleep(0.5)
t.eq(rc, 0, "KME_A stops on SIGTERM")
t.ok(len(before) >= 128, "KME_A's store holds %d ready keys for the pair" % len(before))
lab.wait_keys("KME_A", "SAE_A", "SAE_B", 1)
r = lab.curl("KME_A", "SAE_A", "/api/v1/keys/SAE_B/enc_keys")
t.ok(r.code == 200, "enc_keys after the restart", r)
A.kill9()
first = r.json["keys"][0] if r.code == 200 else {"key_ID": "", "key": ""}
after = ready_ids()
claimed = before - after
t.ok(hexid(first["key_ID"]) in claimed, "the key handed out had left KME_A's store before the crash")
t.ok(len(claimed) > 1, "with the rest of its batch, taken ahead of requests (%d keys)" % len(claimed))
t.eq(hexid(first["key_ID"]) in before, True, "it was one of the ready keys recorded before")

A.start()
t.ok(lab.wait_keys("KME_A", "SAE_A", "SAE_B", 1) is not None, "KME_A restarted, link up")
handed = []
for _ in range(8):
    r = lab.curl("KME_A", "SAE_A", "/api/v1/keys/SAE_B/enc_keys?number=64")
    if r.code != 200:
        break
    handed += r.json["keys"]
t.ok(len(handed) >= len(after & before),
     "drained %d keys after the restart (%d were left ready from before)" % (len(handed), len(after & before)))
again = [k["key_ID"] for k in handed if hexid(k["key_ID"]) in claimed]
t.eq(again, [], "no key of the batch held at the crash is handed out again")
ids = [k["key_ID"] for k in handed] + [first["key_ID"]]
t.eq(len(set(ids)), len(ids), "no key_ID handed out twice")

d = lab.curl("KME_B", "SAE_B", "/api/v1/keys/SAE_A/dec_keys?key_ID=%s" % first["key_ID"])
t.ok(d.code == 200 and d.json["keys"] == [first], "the slave gets the key handed out before the crash", d)
d2 = lab.curl("KME_B", "SAE_B", "/api/v1/keys/SAE_A/dec_keys?key_ID=%s" % first["key_ID"])
t.eq(d2.code, 400, "... once")
bad = []
for i in range(0, len(handed), 16):
    part = handed[i:i + 16]
    d = lab.curl("KME_B", "SAE_B", "/api/v1/keys/SAE_A/dec_keys", method="POST",
                 body={"key_IDs": [{"key_ID": k["key_ID"]} for k in part]})
    if d.code != 200 or sorted(d.json["keys"], key=lambda k: k["key_ID"]) != \
            sorted(part, key=lambda k: k["key_ID"]):
        bad.append((i, d.code))
t.eq(bad, [], "the slave gets every key drained after the restart, with its master's bytes")
kc.stop_all(t, lab)
t.done()
