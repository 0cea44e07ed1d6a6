#!/usr/bin/python3
"""it_kme_prefetch_share.py — prefetching takes no more than its share.

KME_A (masters SAE_A1, SAE_A2) and KME_B (slaves SAE_B1..SAE_B3) share a
pool of max_key_count = 2000 keys, with the default prefetch_keys (1024
per pair): six pairs want more than the pool holds.  Every pair still
gets keys, and so do the peer's masters, another key size and multicast;
the prefetched keys stay within the rule of kme-sim(8) ("KME LINK": one
share of max_key_count per ordered pair of the two KMEs' SAEs, plus one
for everything else), and a request larger than a pair's prefetched keys
is served on demand.  curl is the SAE.
"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import kmelab as kc  # noqa: E402
from kmelab import tap  # noqa: E402

MAX = 2000
extra = {"max_key_count": str(MAX), "prefetch_keys": "1024", "max_key_per_request": "1024"}
t = tap.Tap()
lab = kc.Lab(t, {
    "KME_A": {"saes": ["SAE_A1", "SAE_A2"], "peers": ["KME_B"], "extra": extra},
    "KME_B": {"saes": ["SAE_B1", "SAE_B2", "SAE_B3"], "peers": ["KME_A"], "extra": extra},
})
lab.start()
A, B = lab.kmes["KME_A"], lab.kmes["KME_B"]
masters, slaves = A.saes, B.saes
pairs = len(masters) * len(slaves)
share = MAX // (2 * pairs + 1)

# The pool fills in about half a second at the default key_rate; give the
# authority time to prefetch all it will.
t.ok(tap.wait_for(lambda: A.metric('kme_link_up{peer="KME_B"}') == 1, 10, 0.2), "link up")
time.sleep(3)
held = B.metric("kme_reserved_keys")
t.ok(held is not None and 0 < held <= pairs * share,
     "prefetched keys (recorded at KME_B) stay within %d pairs x %d: %s" % (pairs, share, held))

for m in masters:
    for s in slaves:
        r = lab.curl("KME_A", m, "/api/v1/keys/%s/enc_keys?number=4" % s)
        t.eq(r.code, 200, "%s -> %s gets keys" % (m, s)) or t.diag(repr(r))
for m in slaves:
    r = lab.curl("KME_B", m, "/api/v1/keys/%s/enc_keys?number=4" % masters[0])
    t.eq(r.code, 200, "the peer's master %s -> %s gets keys" % (m, masters[0])) or t.diag(repr(r))
r = lab.curl("KME_A", masters[0], "/api/v1/keys/%s/enc_keys?number=4&size=512" % slaves[0])
t.eq(r.code, 200, "another key size gets keys") or t.diag(repr(r))
r = lab.curl("KME_A", masters[0], "/api/v1/keys/%s/enc_keys" % slaves[0], "POST",
             {"number": 2, "additional_slave_SAE_IDs": slaves[1:]})
t.eq(r.code, 200, "multicast to three slaves gets keys") or t.diag(repr(r))

before = A.metric("kme_keys_prefetched_total")
r = lab.curl("KME_A", masters[1], "/api/v1/keys/%s/enc_keys?number=%d" % (slaves[2], share + 20))
t.eq(r.code, 200, "a request for more than a pair's prefetched keys (%d) is served" % (share + 20)) \
    or t.diag(repr(r))
t.eq(A.metric("kme_keys_prefetched_total"), before, "... on demand, from the pool")
ids = {"key_IDs": [{"key_ID": k["key_ID"]} for k in (r.json or {}).get("keys", [])]}
r2 = lab.curl("KME_B", slaves[2], "/api/v1/keys/%s/dec_keys" % masters[1], "POST", ids)
t.eq((r2.code, r2.json and len(r2.json["keys"])), (200, share + 20), "and its slave gets them")

kc.stop_all(t, lab)
t.done()
