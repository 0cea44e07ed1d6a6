#!/usr/bin/python3
"""it_sec_kmelink.py — malformed KME-link messages from an authenticated
peer (docs/SECURITY.md, bad input matrix §1.2).

Two kme-sims on loopback (tests/lib/kmelab.py).  The test talks to
each KME's link port as its peer would, with the peer's own KME-link
certificate (kme-ca), over Python's ssl: to KME_A (the pool authority)
as KME_B, to KME_B as KME_A.  Each link message goes to the side that
takes it — alloc to the authority, sync and reserve to its peer — and is
sent first well-formed (the control: 200, and the state moves as it
should, so the comparisons below can see a change), then malformed in
every way: not JSON, not an object, fields missing or of the wrong type,
non-integral, negative and huge numbers, unknown or wrong-side SAE IDs,
malformed or repeated key IDs, keys of a wrong length, too many items, a
half-bad batch, an oversized body, a 10 GB Content-Length.  Each must get
400 and change nothing: the pool figures of both KMEs (admin /metrics),
their reserved and served key counts, and their ETSI 014 Status
(stored_key_count) are compared before and after, and no key named in a
refused reserve or alloc can be fetched.

While a side is under test its peer is held still with the admin fault
`down` on the other KME (no sync, so no pool growth and no pool update):
the only messages that reach it are the test's.
"""
import base64
import json
import os
import socket
import ssl
import sys
import uuid

sys.dont_write_bytecode = True      # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import kmelab as kc  # noqa: E402
from kmelab import tap  # noqa: E402

t = tap.Tap()
tap.require_bins(t, "kme-sim/kme-sim")

# max_key_count small and a fast rate: the pool is full (and so still)
# within a second, whatever the machine's load.
EXTRA = {"threads": "2", "key_rate": "1000000", "max_key_count": "64"}
lab = kc.Lab(t, {
    "KME_A": {"saes": ["SAE_A"], "peers": ["KME_B"], "extra": EXTRA},
    "KME_B": {"saes": ["SAE_B"], "peers": ["KME_A"], "extra": EXTRA},
})
lab.start()
A, B = lab.kmes["KME_A"], lab.kmes["KME_B"]
t.ok(lab.wait_keys("KME_A", "SAE_A", "SAE_B", 64) is not None and
     lab.wait_keys("KME_B", "SAE_B", "SAE_A", 64) is not None,
     "pair up, pool full (64 keys) at both KMEs")
MAX_BITS = 64 * 256


def link(kme, as_peer, path, body, method="POST", headers=None, timeout=10):
    """One request on kme's link port with as_peer's link certificate;
    returns the HTTP status (0: closed without an answer, -1: no answer
    within timeout)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False          # peers are named by KME ID, not address
    ctx.load_verify_locations(os.path.join(lab.pki, "kme-ca.crt"))
    ctx.load_cert_chain(os.path.join(lab.pki, as_peer + "-link.crt"), os.path.join(lab.pki, as_peer + "-link.key"))
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
    elif isinstance(body, str):
        body = body.encode()
    hdr = {"Host": "kme", "Connection": "close", "Content-Type": "application/json"}
    if body is not None:
        hdr["Content-Length"] = str(len(body))
    hdr.update(headers or {})
    req = ("%s %s HTTP/1.1\r\n" % (method, path) + "".join("%s: %s\r\n" % kv for kv in hdr.items()) + "\r\n").encode()
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", kme.link_port), timeout=timeout))
    out = b""
    try:
        s.sendall(req)
        for i in range(0, len(body or b""), 65536):
            s.sendall(body[i:i + 65536])
    except (OSError, ssl.SSLError):
        pass                            # answered early and closed: read what came
    try:
        while b"\r\n\r\n" not in out:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    except socket.timeout:
        return -1
    except (OSError, ssl.SSLError):
        pass
    finally:
        s.close()
    return int(out.split()[1]) if out.startswith(b"HTTP/1.") else 0


def metrics(kme):
    _, body = kme.admin("GET", "/metrics")
    m = {}
    for line in body.splitlines():
        if line and not line.startswith("#"):
            k, _, v = line.rpartition(" ")
            m[k] = v
    return m


def state():
    """What a link message could change, at both KMEs."""
    s = {}
    for kme, master, slave in ((A, "SAE_A", "SAE_B"), (B, "SAE_B", "SAE_A")):
        m = metrics(kme)
        for k in m:
            if k.startswith(("kme_pool_", "kme_reserved_keys", "kme_keys_served_total", "kme_keys_expired")):
                s["%s %s" % (kme.id, k)] = m[k]
        # Status shows no key while the link is down, which it becomes
        # here with the peer held still: only a live link's count compares
        # (up after the Status was read, so up while it was read).
        r = lab.curl(kme.id, master, "/api/v1/keys/%s/status" % slave)
        if metrics(kme).get('kme_link_up{peer="%s"}' % kme.peers[0]) == "1":
            s["%s status stored_key_count" % kme.id] = \
                (r.json or {}).get("stored_key_count") if r.code == 200 else r.code
    return s


def steady():
    """Waits out a sync that was under way when a fault was set: returns
    once two readings of the state 0.3 s apart agree."""
    last = [None]

    def same():
        cur = state()
        ok = cur == last[0]
        last[0] = cur
        return ok
    t.ok(tap.wait_for(same, 15, 0.3), "... and the pair's figures are steady")


def key_b64(n=32):
    return base64.b64encode(os.urandom(n)).decode()


def item(master, slaves, keys):
    return {"master": master, "slaves": slaves, "keys": keys}


def keys(n=1, size=32):
    return [{"key_ID": str(uuid.uuid4()), "key": key_b64(size)} for _ in range(n)]


def fetch(kme, slave, master, kid):
    return lab.curl(kme, slave, "/api/v1/keys/%s/dec_keys?key_ID=%s" % (master, kid))


def changed(before, after):
    """What differs; a Status count read while the link was up on one side
    only (the peer held still lets it go down) is no change."""
    one = {k for k in set(before) ^ set(after) if k.endswith(" status stored_key_count")}
    return {k: (before.get(k), after.get(k)) for k in (set(before) | set(after)) - one
            if before.get(k) != after.get(k)}


def run_cases(kme, as_peer, path, cases, refused_ids=()):
    """Each case must get 400; together they must change nothing."""
    before = state()
    for what, body, *_ in cases:
        code = link(kme, as_peer, path, body)
        msg = "KME link %s at %s from %s: %s" % (path.rsplit("/", 1)[1], kme.id, as_peer, what)
        # A key ID the store already holds, or one twice in a message, is
        # refused by the store's uniqueness check: 400 too.
        t.eq(code, 400, msg + " -> 400")
    after = state()
    t.eq(changed(before, after), {}, "... none of those %d changed the pool, reserved, served or status figures "
         "of either KME" % len(cases))
    got = [k for k, (kme_id, slave, master) in refused_ids if fetch(kme_id, slave, master, k).code == 200]
    if refused_ids:
        t.eq(got, [], "... and none of the %d key IDs they named can be fetched" % len(refused_ids))


COMMON = [
    ("body not JSON", b"{\"pool_bits\": "),
    ("empty body", b""),
    ("JSON array, not an object", []),
    ("JSON string, not an object", "\"sync\""),
    ("JSON nested 100000 deep", b"[" * 100000 + b"]" * 100000),
    ("invalid UTF-8", b"{\"pool_bits\": 1, \"\xff\xfe\": 2}"),
]

# ------------------------------------------------------------- alloc at KME_A
t.eq(B.fault("KME_A", "down")[0], 200, "KME_B held still (fault down): KME_A's pool stops moving")
steady()
ALLOC = "/link/v1/alloc"
s0 = state()
good = {"master": "SAE_B", "slaves": ["SAE_A"], "number": 1, "size": 256}
code = link(A, "KME_B", ALLOC, good)
s1 = state()
ch = changed(s0, s1)
pool = ch.get('KME_A kme_pool_keys{peer="KME_B"}', ("0", "0"))
t.ok(code == 200 and int(pool[1]) == int(pool[0]) - 1 and ch.get("KME_A kme_reserved_keys") == ("0", "1"),
     "control: a well-formed alloc from KME_B -> 200, KME_A's pool one key smaller (%s -> %s), one key reserved"
     % pool, (code, ch))
big = 10 ** 20
alloc_cases = COMMON + [
    ("no master", {"slaves": ["SAE_A"], "number": 1, "size": 256}),
    ("master not a string", dict(good, master=7)),
    ("master unknown (SAE_X)", dict(good, master="SAE_X")),
    ("master an SAE of KME_A itself", dict(good, master="SAE_A")),
    ("no slaves", {"master": "SAE_B", "number": 1, "size": 256}),
    ("slaves not a list", dict(good, slaves="SAE_A")),
    ("slaves empty", dict(good, slaves=[])),
    ("slave unknown (SAE_X)", dict(good, slaves=["SAE_X"])),
    ("slave of the wrong KME (SAE_B)", dict(good, slaves=["SAE_B"])),
    ("slave not a string", dict(good, slaves=[1])),
    ("no number", {"master": "SAE_B", "slaves": ["SAE_A"], "size": 256}),
    ("number a string", dict(good, number="1")),
    ("number 0", dict(good, number=0)),
    ("number -1", dict(good, number=-1)),
    ("number 1.5", dict(good, number=1.5)),
    ("number 1e20", dict(good, number=big)),
    ("number 1e400 (infinite)", b'{"master": "SAE_B", "slaves": ["SAE_A"], "number": 1e400, "size": 256}'),
    ("no size", {"master": "SAE_B", "slaves": ["SAE_A"], "number": 1}),
    ("size a string", dict(good, size="256")),
    ("size 0", dict(good, size=0)),
    ("size 255 (not a multiple of 8)", dict(good, size=255)),
    ("size 256.5", dict(good, size=256.5)),
    ("size 1e20", dict(good, size=big)),
    ("size -256", dict(good, size=-256)),
]
run_cases(A, "KME_B", ALLOC, alloc_cases)
t.eq(B.clear("KME_A")[0], 200, "KME_B's fault cleared")

# --------------------------------------------------- sync and reserve at KME_B
t.eq(A.fault("KME_B", "down")[0], 200, "KME_A held still (fault down): no syncs reach KME_B")
steady()
SYNC = "/link/v1/sync"
s0 = state()
code = link(B, "KME_A", SYNC, {"pool_bits": 37 * 256, "max_bits": MAX_BITS, "saes": ["SAE_A"]})
s1 = state()
ch = changed(s0, s1)
# (KME_B's figure before is whatever KME_A's last sync said: 63 or 64.)
t.ok(code == 200 and ch.get('KME_B kme_pool_keys{peer="KME_A"}', (0, 0))[1] == "37" and
     s1.get("KME_B status stored_key_count") == 37,
     "control: a well-formed sync from KME_A (37 keys) -> 200, KME_B's pool and Status say 37", (code, ch))
sync = {"pool_bits": 37 * 256, "max_bits": MAX_BITS}
sync_cases = COMMON + [
    ("no pool_bits", {"max_bits": MAX_BITS}),
    ("no max_bits", {"pool_bits": 256}),
    ("pool_bits a string", dict(sync, pool_bits="256")),
    ("pool_bits true", dict(sync, pool_bits=True)),
    ("pool_bits null", dict(sync, pool_bits=None)),
    ("pool_bits -256", dict(sync, pool_bits=-256)),
    ("pool_bits 256.5", dict(sync, pool_bits=256.5)),
    ("pool_bits 1e20", dict(sync, pool_bits=big, max_bits=big)),
    ("pool_bits 1e400 (infinite)", b'{"pool_bits": 1e400, "max_bits": 1e400}'),
    ("pool_bits above max_bits", dict(sync, pool_bits=MAX_BITS + 256)),
    ("max_bits 2^53 + 2", dict(sync, max_bits=2 ** 53 + 2)),
    ("delivered not a list", dict(sync, pool_bits=5 * 256, delivered="x")),
    ("delivered holding a number", dict(sync, pool_bits=5 * 256, delivered=[1])),
    ("delivered holding a non-UUID", dict(sync, pool_bits=5 * 256, delivered=["not-a-uuid"])),
    ("delivered with 8193 key IDs (over the limit)",
     dict(sync, pool_bits=5 * 256, delivered=[str(uuid.uuid4()) for _ in range(8193)])),
]
run_cases(B, "KME_A", SYNC, sync_cases)
# A delivered key ID KME_B does not hold (it may have expired there since)
# is no reason to refuse a heartbeat: answered, and no key comes of it.
ghost = str(uuid.uuid4())
s0 = state()
code = link(B, "KME_A", SYNC, dict(sync, delivered=[ghost]))
t.ok(code == 200 and changed(s0, state()) == {} and fetch("KME_B", "SAE_B", "SAE_A", ghost).code == 400,
     "KME link sync naming a delivered key ID KME_B does not hold: answered, nothing changes, no such key")

RESV = "/link/v1/reserve"
ctrl = keys()
s0 = state()
code = link(B, "KME_A", RESV, {"batch": [item("SAE_A", ["SAE_B"], ctrl)]})
ch = changed(s0, state())
t.ok(code == 200 and ch.get("KME_B kme_reserved_keys") == ("0", "1"),
     "control: a well-formed reserve from KME_A -> 200, one key reserved at KME_B", (code, ch))
named = []


def resv(*items_):
    """A reserve message; the first well-formed key ID of its first item is
    kept to be asked for afterwards (the reserved-key count covers all)."""
    first = items_[0] if items_ else None
    ks = first.get("keys") if isinstance(first, dict) else None
    for k in ks if isinstance(ks, list) else []:
        if isinstance(k, dict) and isinstance(k.get("key_ID"), str) and len(k["key_ID"]) == 36:
            named.append((k["key_ID"], ("KME_B", "SAE_B", "SAE_A")))
            break
    return {"batch": list(items_)}


two_sizes = keys(1, 32) + keys(1, 16)
dup = keys(1)
resv_cases = COMMON + [
    ("no batch", {"items": [item("SAE_A", ["SAE_B"], keys())]}),
    ("batch not a list", {"batch": item("SAE_A", ["SAE_B"], keys())}),
    ("batch empty", {"batch": []}),
    ("batch of 65 items", resv(*[item("SAE_A", ["SAE_B"], keys()) for _ in range(65)])),
    ("item not an object", {"batch": ["x"]}),
    ("master unknown (SAE_X)", resv(item("SAE_X", ["SAE_B"], keys()))),
    ("master an SAE of KME_B itself", resv(item("SAE_B", ["SAE_B"], keys()))),
    ("slave unknown (SAE_X)", resv(item("SAE_A", ["SAE_X"], keys()))),
    ("slave of the wrong KME (SAE_A)", resv(item("SAE_A", ["SAE_A"], keys()))),
    ("slaves empty", resv(item("SAE_A", [], keys()))),
    ("no keys", resv({"master": "SAE_A", "slaves": ["SAE_B"]})),
    ("keys empty", resv(item("SAE_A", ["SAE_B"], []))),
    ("keys not a list", resv(item("SAE_A", ["SAE_B"], "k"))),
    ("1025 keys in one item", resv(item("SAE_A", ["SAE_B"], keys(1025)))),
    ("key_ID not a UUID", resv(item("SAE_A", ["SAE_B"], [{"key_ID": "x", "key": key_b64()}]))),
    ("key_ID a number", resv(item("SAE_A", ["SAE_B"], [{"key_ID": 5, "key": key_b64()}]))),
    ("key not base64", resv(item("SAE_A", ["SAE_B"], [{"key_ID": str(uuid.uuid4()), "key": "%%%%"}]))),
    ("keys of two lengths in one item", resv(item("SAE_A", ["SAE_B"], two_sizes))),
    ("a key of 8 bits (below the smallest key size)", resv(item("SAE_A", ["SAE_B"], keys(1, 1)))),
    ("a key of 16384 bits (above the largest key size)", resv(item("SAE_A", ["SAE_B"], keys(1, 2048)))),
    ("the same key_ID twice in one item", resv(item("SAE_A", ["SAE_B"], dup + [dict(dup[0], key=key_b64())])),
     "store"),
    ("the key_ID of a key already reserved (replay)", {"batch": [item("SAE_A", ["SAE_B"], ctrl)]}, "store"),
    ("a good item, then a bad one (the good one is not kept)",
     resv(item("SAE_A", ["SAE_B"], keys()), item("SAE_X", ["SAE_B"], keys()))),
]
run_cases(B, "KME_A", RESV, resv_cases, named)
r = fetch("KME_B", "SAE_B", "SAE_A", ctrl[0]["key_ID"])
t.ok(r.code == 200 and r.json["keys"][0]["key"] == ctrl[0]["key"],
     "the control's key is still at KME_B, unchanged by the replay, and SAE_B gets it", r)

# ---------------------------------------------------- both: method, path, size
other = [
    ("GET instead of POST", "GET", SYNC, None, {}),
    ("unknown message /link/v1/frob", "POST", "/link/v1/frob", sync, {}),
    ("a 5 MiB body", "POST", SYNC, b'{"pool_bits": "' + b"1" * (5 << 20) + b'"}', {}),
]
before = state()
for what, method, path, body, hdr in other:
    code = link(B, "KME_A", path, body, method, hdr, timeout=30)
    # The TLS front answers a declared body over its bound with 413 (RFC 9110 15.5.14).
    t.ok(code == 400 or (code == 413 and "MiB" in what), "KME link at KME_B: %s -> %s" % (what, code))
code = link(B, "KME_A", SYNC, b"{", headers={"Content-Length": "10000000000"}, timeout=3)
t.ok(code in (0, 400, 413), "KME link at KME_B: Content-Length of 10 GB is refused at once -> %s"
     % {0: "closed", -1: "no answer within 3 s"}.get(code, code))
t.eq(changed(before, state()), {}, "... none of those changed anything either")

t.eq(A.clear("KME_B")[0], 200, "KME_A's fault cleared")
ok = tap.wait_for(lambda: lab.curl("KME_B", "SAE_B", "/api/v1/keys/SAE_A/status").json.get("stored_key_count") == 64,
                  15, 0.2)
t.ok(ok, "KME_A's next sync sets KME_B's pool right again (64 keys)")
# Each message to the side that does not take it, the pair running again.
tap.wait_for(lambda: lab.curl("KME_A", "SAE_A", "/api/v1/keys/SAE_B/status").json.get("stored_key_count") == 64,
             15, 0.2)
steady()
before = state()
t.eq(link(B, "KME_A", ALLOC, good), 400, "KME link alloc at KME_B (not the authority) -> 400")
t.eq(link(A, "KME_B", SYNC, sync), 400, "KME link sync at KME_A (the authority takes none) -> 400")
t.eq(link(A, "KME_B", RESV, {"batch": [item("SAE_B", ["SAE_A"], keys())]}), 400,
     "KME link reserve at KME_A (the authority takes none) -> 400")
t.eq(changed(before, state()), {}, "... and those changed nothing either")
r = lab.curl("KME_A", "SAE_A", "/api/v1/keys/SAE_B/enc_keys")
kid = kc.key_ids(r)[0] if r.code == 200 else "x"
r2 = fetch("KME_B", "SAE_B", "SAE_A", kid)
t.ok(r.code == 200 and r2.code == 200 and r2.json["keys"][0]["key"] == r.json["keys"][0]["key"],
     "the pair still hands out keys: enc_keys at KME_A, the same key by dec_keys at KME_B")
kc.stop_all(t, lab)
t.ok(all(tap.sanitizer_clean(k.proc.output()) for k in lab.kmes.values()),
     "kme-sim logs hold no sanitizer report")
