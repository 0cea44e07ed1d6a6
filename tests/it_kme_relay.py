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


def reserved(k):
    return k.metric("kme_reserved_keys")


# ---------------------------------------------------------------- line A-B-C
# B-C runs the decoy-BB84 link model, so that a fibre cut can be injected.
NET = "KME_A:KME_B KME_B:KME_C"
X = {"network": NET, "relay_hold": "2s"}
MODEL = {"link_model": "decoy-bb84", "fibre_length_km": "10"}
lab = kc.Lab(t, {
    "KME_A": {"saes": ["SAE_A"], "peers": ["KME_B"], "extra": X, "remotes": {"KME_C": []}},
    "KME_B": {"saes": ["SAE_B"], "peers": ["KME_A", "KME_C"], "extra": X,
              "peer_extra": {"KME_C": MODEL}},
    "KME_C": {"saes": ["SAE_C"], "peers": ["KME_B"], "extra": X, "remotes": {"KME_A": []},
              "peer_extra": {"KME_B": MODEL}},
})
lab.start()
A, B, C = (lab.kmes[x] for x in ("KME_A", "KME_B", "KME_C"))
t.ok(link_up(A, "KME_B") and link_up(B, "KME_C") and link_up(C, "KME_B"), "links A-B and B-C up")
t.ok(lab.wait_keys("KME_A", "SAE_A", "SAE_C", 4) is not None, "status at A towards remote SAE_C shows keys")
t.ok(tap.wait_for(lambda: (B.metric('kme_pool_bits{peer="KME_C"}') or 0) >= 8192, 30, 0.3),
     "pool B-C holds 8192 bits (link model)")
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

# The other way, C -> A.
r = enc(lab, "KME_C", "SAE_C", "SAE_A")
r2 = dec(lab, "KME_A", "SAE_A", "SAE_C", [k["key_ID"] for k in r.json["keys"]]) if r.code == 200 else r
t.ok(r.code == 200 and r2.code == 200 and r2.json["keys"] == r.json["keys"], "C -> A relays too", (r, r2))

# Multicast: SAE_B (a direct peer's) and SAE_C (beyond it) get the same key.
r = enc(lab, "KME_A", "SAE_A", "SAE_B", {"number": 2, "additional_slave_SAE_IDs": ["SAE_C"]})
t.eq(r.code, 200, "multicast to SAE_B at KME_B and SAE_C at KME_C: 200") or t.diag(repr(r))
ids = [k["key_ID"] for k in r.json["keys"]] if r.code == 200 else []
rb, rc = dec(lab, "KME_B", "SAE_B", "SAE_A", ids), dec(lab, "KME_C", "SAE_C", "SAE_A", ids)
t.ok(r.code == 200 and rb.code == 200 and rc.code == 200 and rb.json["keys"] == r.json["keys"] == rc.json["keys"],
     "both slaves fetch the master's keys, each at its own KME", (rb, rc))

# A fibre cut on B-C (set at KME_B, the pool authority): both ends report
# it; a relay through it is refused with the hop named; nothing is left
# fetchable anywhere, also of a multicast that reached KME_B first.
st, _ = B.fault("KME_C", "cut")
t.eq(st, 200, "admin: cut B-C at KME_B")
t.ok(tap.wait_for(lambda: C.metric('kme_qkd_halted{peer="KME_B"}') == 1, 10, 0.2),
     "KME_C (not the pool authority) reports the cut too")
sc = lab.curl("KME_C", "SAE_C", "/api/v1/keys/SAE_B/status").json or {}
t.eq(sc.get("status_extension", {}).get("qkdlab_link", {}).get("state"), "fibre cut",
     "KME_C's Status extension shows the link state set at KME_B")
r = enc(lab, "KME_A", "SAE_A", "SAE_C")
t.ok(r.code == 503 and "relay hop KME_B->KME_C" in (r.message() or "") and "fibre cut" in (r.message() or ""),
     "cut on B-C: 503 naming the hop KME_B->KME_C and the cut", r)
res0 = (reserved(B), reserved(C))
r = enc(lab, "KME_A", "SAE_A", "SAE_B", {"additional_slave_SAE_IDs": ["SAE_C"]})
t.eq(r.code, 503, "multicast with B-C cut: 503")
t.eq((reserved(B), reserved(C)), res0, "the copy already recorded at KME_B is cancelled, none at KME_C")
B.clear("KME_C")
t.ok(tap.wait_for(lambda: C.metric('kme_qkd_halted{peer="KME_B"}') == 0, 10, 0.2), "KME_C sees the cut mended")
t.ok(tap.wait_for(lambda: enc(lab, "KME_A", "SAE_A", "SAE_C").code == 200, 20, 0.5),
     "once the cut is mended (and relay_hold is over) the relay works again")

# The link itself down (at KME_B).
B.fault("KME_C", "down")
r = enc(lab, "KME_A", "SAE_A", "SAE_C")
t.ok(r.code == 503 and "relay hop KME_B->KME_C: link down" in (r.message() or ""),
     "B-C down: 503 naming the hop KME_B->KME_C, link down", r)
B.clear("KME_C")
t.ok(tap.wait_for(lambda: enc(lab, "KME_A", "SAE_A", "SAE_C").code == 200, 20, 0.5),
     "after the fault clears (and relay_hold) the relay works again")

# Bad configurations: refused by kme-sim -n with a clear message.
base = open(A.conf).read()
bad = [  # (top-level lines, sections, message)
    ("network = KME_A:KME_C\n", "", "network pair KME_A:KME_C names KME KME_C, which is not a [peer] of KME KME_A"),
    ("network = KME_A-KME_B\n", "", "network needs pairs KME_X:KME_Y"),
    ("", "\n[remote KME_D]\nsaes = SAE_D\nroute = KME_Z\n", "route names KME KME_Z, which is no peer"),
    ("network = KME_C:KME_D\n", "\n[remote KME_D]\nsaes = SAE_D\nroute = KME_C\n",
     "route starts at KME KME_C, which is not a [peer] of KME KME_A"),
    ("network = KME_C:KME_D\n", "\n[remote KME_D]\nsaes = SAE_D\nroute = KME_E\n",
     "route names KME KME_E, which is no peer"),
    ("", "\n[remote KME_D]\nsaes = SAE_D\n", "[remote KME_D] has no route and network"),
    ("", "\n[remote KME_B]\nsaes = SAE_D\n", "[remote KME_B] is also a [peer]"),
    ("", "\n[remote KME_D]\nsaes = SAE_C\nroute = KME_B\n", "SAE SAE_C is listed twice"),
    ("", "\n[remote KME_D]\nsaes = SAE_D\nroute = KME_B\nhops = 2\n", "unknown key 'hops' in [remote KME_D]"),
]
for n, (top, tail, msg) in enumerate(bad):
    path = os.path.join(lab.dir, "bad%d.conf" % n)
    # Top-level keys before the first section.
    conf = top + base + tail
    with open(path, "w") as f:
        f.write(conf)
    p = subprocess.run([lab.bin("kme-sim"), "-n", "-f", path], capture_output=True, text=True)
    t.ok(p.returncode != 0 and msg in p.stderr, "refused: %s" % msg, p.stderr[-400:])

kc.stop_all(t, lab)

# ------------------------------------------------- diamond A-B-C, A-D-C
NET = "KME_A:KME_B KME_B:KME_C KME_A:KME_D KME_D:KME_C"
X = {"network": NET, "relay_hold": "2s"}
lab2 = kc.Lab(t, {
    "KME_A": {"saes": ["SAE_A"], "peers": ["KME_B", "KME_D"], "extra": X, "remotes": {"KME_C": []}},
    "KME_B": {"saes": ["SAE_B"], "peers": ["KME_A", "KME_C"], "extra": X, "peer_extra": {"KME_C": MODEL}},
    "KME_C": {"saes": ["SAE_C"], "peers": ["KME_B", "KME_D"], "extra": X, "peer_extra": {"KME_B": MODEL},
              "remotes": {"KME_A": [["KME_B"], ["KME_D"]]}},
    "KME_D": {"saes": ["SAE_D"], "peers": ["KME_A", "KME_C"], "extra": X},
})
lab2.start()
A, B, C, D = (lab2.kmes[x] for x in ("KME_A", "KME_B", "KME_C", "KME_D"))
t.ok(all(link_up(k, p) for k, p in ((A, "KME_B"), (A, "KME_D"), (B, "KME_C"), (D, "KME_C"))),
     "diamond: four links up")
t.ok(tap.wait_for(lambda: (B.metric('kme_pool_bits{peer="KME_C"}') or 0) >= 2048, 30, 0.3), "pool B-C fills")
r = enc(lab2, "KME_A", "SAE_A", "SAE_C")
t.eq((r.code, B.metric('kme_relay_keys_total{role="forwarded"}'), D.metric('kme_relay_keys_total{role="forwarded"}')),
     (200, 1, 0), "the shortest route, first in network order, goes through KME_B")
B.fault("KME_C", "cut")
t.ok(tap.wait_for(lambda: C.metric('kme_qkd_halted{peer="KME_B"}') == 1, 10, 0.2), "cut B-C, seen at both ends")
r = enc(lab2, "KME_A", "SAE_A", "SAE_C", number=2)
t.eq(r.code, 200, "with B-C cut, KME_A routes around it: 200") or t.diag(repr(r))
ids = [k["key_ID"] for k in r.json["keys"]] if r.code == 200 else []
r2 = dec(lab2, "KME_C", "SAE_C", "SAE_A", ids)
t.ok(r.code == 200 and r2.code == 200 and r2.json["keys"] == r.json["keys"], "SAE_C gets the rerouted keys", r2)
t.eq(D.metric('kme_relay_keys_total{role="forwarded"}'), 2, "through KME_D")
# KME_C has route lines: via KME_B (its own link, halted), then via KME_D.
r = enc(lab2, "KME_C", "SAE_C", "SAE_A")
r2 = dec(lab2, "KME_A", "SAE_A", "SAE_C", [k["key_ID"] for k in r.json["keys"]]) if r.code == 200 else r
t.ok(r.code == 200 and r2.code == 200 and r2.json["keys"] == r.json["keys"],
     "KME_C's second route line (via KME_D) is taken when the first is cut", (r, r2))
D.fault("KME_C", "down")
r = enc(lab2, "KME_A", "SAE_A", "SAE_C")
t.ok(r.code == 503 and "relay hop KME_" in (r.message() or ""), "both routes broken: 503 naming a hop", r)
kc.stop_all(t, lab2)
kc.no_key_bytes_in_logs(t, lab, all_keys)
kc.no_key_bytes_in_logs(t, lab2, all_keys)

t.done()
