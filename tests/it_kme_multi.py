#!/usr/bin/python3
"""it_kme_multi.py — one KME with two peers and several SAEs.

KME_A (SAE_A, SAE_A2) is paired with KME_B (SAE_B) and with KME_C (SAE_C);
KME_B and KME_C are not paired with each other.  Keys flow on each pair,
each pair has its own pool, a key for one slave is not obtainable at the
other KME, a multicast across two KMEs is refused, and taking one link
down leaves the other serving.  curl is the SAE.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import kmelab as kc  # noqa: E402
from kmelab import tap  # noqa: E402

t = tap.Tap()
lab = kc.Lab(t, {
    "KME_A": {"saes": ["SAE_A", "SAE_A2"], "peers": ["KME_B", "KME_C"]},
    "KME_B": {"saes": ["SAE_B"], "peers": ["KME_A"]},
    "KME_C": {"saes": ["SAE_C"], "peers": ["KME_A"]},
})
lab.start()
A = lab.kmes["KME_A"]

t.ok(lab.wait_keys("KME_A", "SAE_A", "SAE_B", 10) is not None, "pool A-B fills")
t.ok(lab.wait_keys("KME_A", "SAE_A", "SAE_C", 10) is not None, "pool A-C fills")
sb = lab.curl("KME_A", "SAE_A", "/api/v1/keys/SAE_B/status").json
sc = lab.curl("KME_A", "SAE_A2", "/api/v1/keys/SAE_C/status").json
t.eq((sb["target_KME_ID"], sc["target_KME_ID"], sc["master_SAE_ID"]), ("KME_B", "KME_C", "SAE_A2"),
     "status names the right target KME per slave, and the calling master")

for master, slave, kme in (("SAE_A", "SAE_B", "KME_B"), ("SAE_A2", "SAE_C", "KME_C"), ("SAE_A", "SAE_C", "KME_C")):
    r = lab.curl("KME_A", master, "/api/v1/keys/%s/enc_keys?number=2" % slave)
    t.eq(r.code, 200, "%s -> %s: enc_keys 200" % (master, slave))
    keys = r.json["keys"] if r.code == 200 else []
    ids = {"key_IDs": [{"key_ID": k["key_ID"]} for k in keys]}
    other = "KME_C" if kme == "KME_B" else "KME_B"
    other_sae = "SAE_C" if kme == "KME_B" else "SAE_B"
    r = lab.curl(other, other_sae, "/api/v1/keys/%s/dec_keys" % master, "POST", ids)
    t.eq(r.code, 400, "the keys are not at the other peer %s" % other)
    r = lab.curl(kme, slave, "/api/v1/keys/%s/dec_keys" % master, "POST", ids)
    t.eq((r.code, r.json and r.json["keys"]), (200, keys), "%s gets them at %s" % (slave, kme))

# The other direction: masters at the peers, slaves at KME_A.
r = lab.curl("KME_C", "SAE_C", "/api/v1/keys/SAE_A2/enc_keys")
t.eq(r.code, 200, "SAE_C -> SAE_A2 via KME_C: 200")
r2 = lab.curl("KME_A", "SAE_A", "/api/v1/keys/SAE_C/dec_keys?key_ID=" + r.json["keys"][0]["key_ID"])
t.eq(r2.code, 400, "SAE_A (not the slave) asking at KME_A: 400, as for a key that does not exist")
r2 = lab.curl("KME_A", "SAE_A2", "/api/v1/keys/SAE_C/dec_keys?key_ID=" + r.json["keys"][0]["key_ID"])
t.eq((r2.code, r2.json and r2.json["keys"]), (200, r.json["keys"]), "SAE_A2 gets it")

r = lab.curl("KME_A", "SAE_A", "/api/v1/keys/SAE_B/enc_keys", "POST", {"additional_slave_SAE_IDs": ["SAE_C"]})
t.ok(r.code == 400 and "served by another KME" in (r.message() or ""),
     "multicast to slaves at two different KMEs: 400 saying why", r)
r = lab.curl("KME_B", "SAE_B", "/api/v1/keys/SAE_C/enc_keys")
t.ok(r.code == 400 and "not known" in (r.message() or ""), "KME_B does not know SAE_C (no B-C pair): 400", r)

r = lab.curl("KME_A", "SAE_A", "/api/v1/keys/SAE_A2/enc_keys")
t.ok(r.code == 400 and "itself" in (r.message() or ""), "a slave at the same KME: 400 saying so", r)

A.fault("KME_B", "down")
r = lab.curl("KME_A", "SAE_A", "/api/v1/keys/SAE_B/enc_keys")
t.eq(r.code, 503, "link A-B down: 503 for SAE_B")
r = lab.curl("KME_A", "SAE_A", "/api/v1/keys/SAE_C/enc_keys")
t.eq(r.code, 200, "link A-C unaffected: 200 for SAE_C")
A.clear("KME_B")
t.ok(tap.wait_for(lambda: lab.curl("KME_A", "SAE_A", "/api/v1/keys/SAE_B/enc_keys").code == 200, 8, 0.3),
     "A-B recovers")
t.ok(A.metric('kme_pool_keys{peer="KME_B"}') is not None and A.metric('kme_pool_keys{peer="KME_C"}') is not None,
     "metrics have one pool per peer")
# Text format 0.0.4: the samples of one family come together, also with
# two peers (each family is printed over all peers before the next).
_, body = A.admin("GET", "/metrics")
order = [ln.split("{")[0].split(" ")[0] for ln in body.splitlines() if ln and not ln.startswith("#")]
runs = [n for i, n in enumerate(order) if i == 0 or order[i - 1] != n]
split = sorted(n for n in set(runs) if runs.count(n) > 1 and not n.endswith(("_bucket", "_sum", "_count")))
t.eq(split, [], "every metric family's samples are contiguous with two peers")

kc.stop_all(t, lab)
t.done()
