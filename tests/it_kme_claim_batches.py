#!/usr/bin/python3
"""it_kme_claim_batches.py — prefetched keys taken in batches of any size.

With prefetching on (the default), the pool authority hands out keys
recorded ahead at the peer from an in-memory claim of its pair, refilled
from the store 64 at a time.  Requests of mixed sizes (more than the claim
holds, then fewer, then more again) must each get exactly the keys asked
for: every key of the configured size, no key_ID twice, and every key the
same at the slave's KME.  curl is the SAE.
"""
import base64
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import kmelab as kc  # noqa: E402
from kmelab import tap  # noqa: E402

SIZES = [1, 40, 30, 50, 7, 63, 64, 2, 33, 61, 5, 64, 17]
t = tap.Tap()
extra = {"prefetch_keys": "1024", "max_key_per_request": "128"}
lab = kc.Lab(t, {
    "KME_A": {"saes": ["SAE_A"], "peers": ["KME_B"], "extra": extra},
    "KME_B": {"saes": ["SAE_B"], "peers": ["KME_A"], "extra": extra},
})
lab.start()
A, B = lab.kmes["KME_A"], lab.kmes["KME_B"]
t.ok(tap.wait_for(lambda: A.metric('kme_link_up{peer="KME_B"}') == 1, 10, 0.2), "link up")
t.ok(tap.wait_for(lambda: (B.metric("kme_reserved_keys") or 0) >= 2 * sum(SIZES), 30, 0.2),
     "keys are recorded ahead at KME_B for the pair")

before = A.metric("kme_keys_prefetched_total") or 0
got, bad = [], []
for n in SIZES:
    r = lab.curl("KME_A", "SAE_A", "/api/v1/keys/SAE_B/enc_keys?number=%d" % n)
    keys = (r.json or {}).get("keys", []) if r.code == 200 else []
    if len(keys) != n:
        bad.append("number=%d: %d %r" % (n, r.code, len(keys)))
    for k in keys:
        if len(base64.b64decode(k.get("key", ""))) != 32:
            bad.append("number=%d: key %s of %d octets" % (n, k.get("key_ID"), len(base64.b64decode(k.get("key", "")))))
    got += keys
t.ok(not bad, "each request gets exactly its keys, each of 256 bits", bad[:5])
t.eq(len({k["key_ID"] for k in got}), len(got), "no key_ID is handed out twice")
t.ok((A.metric("kme_keys_prefetched_total") or 0) - before == sum(SIZES),
     "all of them came from the prefetched keys")

same, i = True, 0
while i < len(got):
    chunk = got[i:i + 32]
    r = lab.curl("KME_B", "SAE_B", "/api/v1/keys/SAE_A/dec_keys", "POST",
                 {"key_IDs": [{"key_ID": k["key_ID"]} for k in chunk]})
    back = {k["key_ID"]: k["key"] for k in (r.json or {}).get("keys", [])}
    same = same and r.code == 200 and all(back.get(k["key_ID"]) == k["key"] for k in chunk)
    i += 32
t.ok(same, "the slave's KME returns the same key for every key_ID")
t.done()
