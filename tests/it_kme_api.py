#!/usr/bin/python3
"""it_kme_api.py — ETSI GS QKD 014 behaviour of two paired kme-sim processes,
driven with the curl and openssl command-line tools.

KME_A serves SAE_A; KME_B serves SAE_B, SAE_B2 (multicast slave) and SAE_C
(a known SAE that is party to nothing).  Checks: Status fields, enc_keys
GET/POST in both directions, the slave getting the same bytes by ID with
GET and POST, once; 401 cases; TLS refusal without a certificate or with
one from another CA; every mandated 400 message and the limits; failed
requests change nothing; multicast; uppercase key_IDs; logs hold no keys.
"""
import base64
import os
import subprocess
import sys
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import kmelab as kc  # noqa: E402
from kmelab import tap  # noqa: E402

t = tap.Tap()
lab = kc.Lab(t, {
    "KME_A": {"saes": ["SAE_A"], "peers": ["KME_B"],
              "extra": {"max_sae_id_count": "2", "max_key_per_request": "16"}},
    "KME_B": {"saes": ["SAE_B", "SAE_B2", "SAE_C"], "peers": ["KME_A"],
              "extra": {"max_sae_id_count": "2", "max_key_per_request": "16"}},
})
lab.start()
A, B = lab.kmes["KME_A"], lab.kmes["KME_B"]
seen_keys = []

t.ok(lab.wait_keys("KME_A", "SAE_A", "SAE_B", 100) is not None, "pool fills once the link is up")

# --- Status (Table 9)
r = lab.curl("KME_A", "SAE_A", "/api/v1/keys/SAE_B/status")
t.eq(r.code, 200, "status: 200")
st = r.json or {}
t.eq(sorted(st.keys()), sorted(["source_KME_ID", "target_KME_ID", "master_SAE_ID", "slave_SAE_ID",
                                "key_size", "stored_key_count", "max_key_count", "max_key_per_request",
                                "max_key_size", "min_key_size", "max_SAE_ID_count"]),
     "status: exactly the Table 9 fields")
t.eq((st.get("source_KME_ID"), st.get("target_KME_ID"), st.get("master_SAE_ID"), st.get("slave_SAE_ID")),
     ("KME_A", "KME_B", "SAE_A", "SAE_B"), "status: IDs come from config, certificate and URL")
t.eq((st.get("key_size"), st.get("max_key_count"), st.get("max_key_per_request"), st.get("max_key_size"),
      st.get("min_key_size"), st.get("max_SAE_ID_count")), (256, 100000, 16, 1024, 64, 2),
     "status: limits are the configured ones")
# The peer learns the pool from the authority's periodic sync: give the
# first sync time to arrive on a loaded machine, then insist.
def peer_status():
    r = lab.curl("KME_B", "SAE_B", "/api/v1/keys/SAE_A/status")
    return r if r.code == 200 and (r.json or {}).get("stored_key_count", 0) > 0 else None


rb = tap.wait_for(peer_status, 10, 0.2) or lab.curl("KME_B", "SAE_B", "/api/v1/keys/SAE_A/status")
t.ok(rb.code == 200 and rb.json["source_KME_ID"] == "KME_B" and rb.json["stored_key_count"] > 0,
     "status at the peer KME mirrors the pool", rb)

# --- enc_keys GET, dec_keys GET
r = lab.curl("KME_A", "SAE_A", "/api/v1/keys/SAE_B/enc_keys?number=3&size=128")
t.eq(r.code, 200, "enc_keys GET number=3 size=128: 200")
keys = r.json["keys"] if r.code == 200 else []
t.eq(len(keys), 3, "three keys")
t.ok(all(len(base64.b64decode(k["key"], validate=True)) == 16 for k in keys), "keys are 128-bit standard base64")
t.ok(all(k["key_ID"] == k["key_ID"].lower() and len(k["key_ID"]) == 36 for k in keys), "key_IDs are lowercase UUIDs")
t.eq(len(set(k["key"] for k in keys)), 3, "the three keys differ")
seen_keys += [k["key"] for k in keys]

r1 = lab.curl("KME_B", "SAE_B", "/api/v1/keys/SAE_A/dec_keys?key_ID=" + keys[0]["key_ID"])
t.eq(r1.code, 200, "dec_keys GET by the slave: 200")
t.eq(r1.json and r1.json["keys"], [keys[0]], "slave gets the same key_ID and bytes")
r2 = lab.curl("KME_B", "SAE_B", "/api/v1/keys/SAE_A/dec_keys?key_ID=" + keys[0]["key_ID"])
t.eq((r2.code, r2.message()), (400, "one or more keys specified are not found on KME"),
     "second fetch: 400 with the mandated message")

# --- dec_keys POST of two, one given in upper case
r = lab.curl("KME_B", "SAE_B", "/api/v1/keys/SAE_A/dec_keys", "POST",
             {"key_IDs": [{"key_ID": keys[1]["key_ID"].upper()}, {"key_ID": keys[2]["key_ID"]}]})
t.eq((r.code, r.json and r.json["keys"]), (200, keys[1:]), "dec_keys POST of two IDs (one upper case): same bytes")

# --- enc_keys POST from the other side (master at the non-authority KME)
r = lab.curl("KME_B", "SAE_B", "/api/v1/keys/SAE_A/enc_keys", "POST", {"number": 2, "size": 512})
t.eq(r.code, 200, "enc_keys POST at KME_B (master SAE_B): 200")
kb = r.json["keys"] if r.code == 200 else []
t.ok(len(kb) == 2 and all(len(base64.b64decode(k["key"])) == 64 for k in kb), "two 512-bit keys")
seen_keys += [k["key"] for k in kb]
r = lab.curl("KME_A", "SAE_A", "/api/v1/keys/SAE_B/dec_keys", "POST",
             {"key_IDs": [{"key_ID": k["key_ID"]} for k in kb]})
t.eq((r.code, r.json and r.json["keys"]), (200, kb), "SAE_A gets them at KME_A by POST")
r = lab.curl("KME_A", "SAE_A", "/api/v1/keys/SAE_B/enc_keys", "POST", {})
t.ok(r.code == 200 and len(r.json["keys"]) == 1 and len(base64.b64decode(r.json["keys"][0]["key"])) == 32,
     "enc_keys POST {}: one key of the default 256 bits", r)
r = lab.curl("KME_A", "SAE_A", "/api/v1/keys/SAE_B/enc_keys")
t.ok(r.code == 200 and len(r.json["keys"]) == 1, "enc_keys GET without parameters: one key", r)

# --- 401s
r = lab.curl("KME_A", "SAE_A", "/api/v1/keys/SAE_B/enc_keys")
kid = r.json["keys"][0]["key_ID"]
r3 = lab.curl("KME_B", "SAE_C", "/api/v1/keys/SAE_A/dec_keys?key_ID=" + kid)
r4 = lab.curl("KME_B", "SAE_C", "/api/v1/keys/SAE_A/dec_keys?key_ID=" + str(uuid.uuid4()))
t.ok(r3.code == 400 and (r3.code, r3.body) == (r4.code, r4.body),
     "a third SAE asking for another's key gets the answer of a key that does not exist", (r3, r4))
r3 = lab.curl("KME_B", "SAE_C", "/api/v1/keys/SAE_A/dec_keys", "POST", {"key_IDs": [{"key_ID": kid}]})
r4 = lab.curl("KME_B", "SAE_C", "/api/v1/keys/SAE_A/dec_keys", "POST", {"key_IDs": [{"key_ID": str(uuid.uuid4())}]})
t.ok(r3.code == 400 and (r3.code, r3.body) == (r4.code, r4.body), "... by POST too", (r3, r4))
r = lab.curl("KME_B", "SAE_B", "/api/v1/keys/SAE_A/dec_keys?key_ID=" + kid)
t.eq(r.code, 200, "the refusal did not consume the key: the real slave still gets it")
r = lab.curl("KME_A", "SAE_B", "/api/v1/keys/SAE_A/enc_keys")
t.ok(r.code == 401 and isinstance(r.message(), str) and "SAE_A" not in r.body,
     "an SAE of another KME calling enc_keys here: 401 with an Error body naming no SAE", r)
r = lab.curl("KME_A", "SAE_B", "/api/v1/keys/SAE_A/status")
t.eq(r.code, 401, "... and status: 401")

# --- TLS refusal (curl and openssl s_client as the far side)
r = lab.curl("KME_A", "SAE_A", "/api/v1/keys/SAE_B/status", cert=False)
t.ok(r.code == 0 and r.curl_rc != 0, "no client certificate: refused at TLS (no HTTP reply)", r)
r = lab.curl("KME_A", "SAE_A", "/api/v1/keys/SAE_B/status", pki=lab.rogue)
t.ok(r.code == 0 and r.curl_rc != 0, "certificate from another CA, same CN: refused at TLS", r)
for ver in ("-tls1_2", "-tls1_3"):
    p = subprocess.run(["openssl", "s_client", ver, "-connect", "127.0.0.1:%d" % A.port,
                        "-CAfile", os.path.join(lab.pki, "sae-ca.crt"), "-cert",
                        os.path.join(lab.rogue, "SAE_A.crt"), "-key", os.path.join(lab.rogue, "SAE_A.key")],
                       input="GET /api/v1/keys/SAE_B/status HTTP/1.1\r\nHost: x\r\n\r\n",
                       capture_output=True, text=True, timeout=20)
    t.ok("HTTP/1.1" not in p.stdout, "openssl s_client %s with a rogue-CA cert gets no HTTP answer" % ver,
         p.stdout[-500:])
p = subprocess.run(["openssl", "s_client", "-tls1_1", "-connect", "127.0.0.1:%d" % A.port],
                   input="", capture_output=True, text=True, timeout=20)
t.ok(p.returncode != 0 or "Cipher is (NONE)" in p.stdout, "TLS 1.1 refused", p.stdout[-300:])

# --- mandated and descriptive 400s; nothing changes in the store
served_before = A.metric('kme_keys_served_total{method="enc_keys"}')
cases = [
    ("GET", "/api/v1/keys/SAE_B/enc_keys?size=100", None, "size shall be a multiple of 8"),
    ("POST", "/api/v1/keys/SAE_B/enc_keys", {"size": 260}, "size shall be a multiple of 8"),
    ("POST", "/api/v1/keys/SAE_B/enc_keys", {"extension_mandatory": [{"abc_route_type": "direct"}]},
     "not all extension_mandatory parameters are supported"),
]
for method, path, body, msg in cases:
    r = lab.curl("KME_A", "SAE_A", path, method, body)
    t.eq((r.code, r.message()), (400, msg), "%s %s %s: mandated message" % (method, path.split("/")[-1], body or ""))
r = lab.curl("KME_A", "SAE_A", "/api/v1/keys/SAE_B/enc_keys", "POST",
             {"number": 1, "extension_optional": [{"abc_priority": 1}]})
t.eq(r.code, 200, "an unknown extension_optional is ignored (200)")
descriptive = [
    ("GET", "/api/v1/keys/SAE_B/enc_keys?number=17", None, "max_key_per_request"),
    ("GET", "/api/v1/keys/SAE_B/enc_keys?number=0", None, "at least 1"),
    ("GET", "/api/v1/keys/SAE_B/enc_keys?size=2048", None, "max_key_size"),
    ("GET", "/api/v1/keys/SAE_B/enc_keys?size=32", None, "min_key_size"),
    ("GET", "/api/v1/keys/SAE_B/enc_keys?number=-1", None, "non-negative integer"),
    ("GET", "/api/v1/keys/SAE_B/enc_keys?number=1x", None, "non-negative integer"),
    ("GET", "/api/v1/keys/SAE_B/enc_keys?colour=red", None, "unknown query parameter"),
    ("GET", "/api/v1/keys/SAE_B/enc_keys?number=1&number=2", None, "twice"),
    ("POST", "/api/v1/keys/SAE_B/enc_keys", "{\"number\": 1", "not valid JSON"),
    ("POST", "/api/v1/keys/SAE_B/enc_keys", "[1]", "one JSON object"),
    ("POST", "/api/v1/keys/SAE_B/enc_keys", {"number": "2"}, "number must be"),
    ("POST", "/api/v1/keys/SAE_B/enc_keys", {"number": 1.5}, "number must be"),
    ("POST", "/api/v1/keys/SAE_B/enc_keys", {"nmber": 1, "size": "256"}, "size must be"),
    ("POST", "/api/v1/keys/SAE_B/enc_keys", {"additional_slave_SAE_IDs": ["SAE_B2", "SAE_C", "SAE_X"]},
     "max_SAE_ID_count"),
    ("POST", "/api/v1/keys/SAE_B/enc_keys", {"additional_slave_SAE_IDs": ["NOBODY"]}, "not known"),
    ("POST", "/api/v1/keys/SAE_B/enc_keys", {"additional_slave_SAE_IDs": ["SAE_B"]}, "must not repeat"),
    ("POST", "/api/v1/keys/SAE_B/enc_keys", {"additional_slave_SAE_IDs": "SAE_B2"}, "array"),
    ("POST", "/api/v1/keys/SAE_B/enc_keys", "x" * 300000, "too large"),
    ("GET", "/api/v1/keys/NOBODY/enc_keys", None, "not known"),
    ("GET", "/api/v1/keys/SAE_B/status?x", None, None),
    ("DELETE", "/api/v1/keys/SAE_B/enc_keys", None, "method"),
    ("GET", "/api/v1/keys/SAE_B/other", None, "unknown method"),
    ("GET", "/api/v2/nothing", None, "unknown path"),
]
for method, path, body, want in descriptive:
    r = lab.curl("KME_A", "SAE_A", path, method, body)
    if want is None:
        t.ok(r.code in (200, 400), "%s %s tolerated or refused cleanly" % (method, path))
        continue
    t.ok(r.code == 400 and r.message() is not None and want in r.message(),
         "%s %s %s -> 400 '%s'" % (method, path, str(body)[:40] if body else "", want), r)
dec_bad = [
    ("GET", "/api/v1/keys/SAE_A/dec_keys", None, "missing"),
    ("GET", "/api/v1/keys/SAE_A/dec_keys?key_ID=zz", None, "not a UUID"),
    ("GET", "/api/v1/keys/SAE_A/dec_keys?key_ID=%s&key_ID=%s" % (kid, kid), None, "one key_ID"),
    ("POST", "/api/v1/keys/SAE_A/dec_keys", {"key_IDs": []}, "non-empty"),
    ("POST", "/api/v1/keys/SAE_A/dec_keys", {"key_IDs": [{"key_ID": kid}, {"key_ID": kid}]}, "twice"),
    ("POST", "/api/v1/keys/SAE_A/dec_keys", {"key_IDs": [{"key_ID": str(uuid.uuid4())} for _ in range(17)]}, "more than"),
    ("POST", "/api/v1/keys/SAE_A/dec_keys", {"key_IDs": [{"id": kid}]}, "without a key_ID"),
]
for method, path, body, want in dec_bad:
    r = lab.curl("KME_B", "SAE_B", path, method, body)
    t.ok(r.code == 400 and want in (r.message() or ""), "dec_keys %s %s -> 400 '%s'" % (method, str(body)[:50], want), r)
served_after = A.metric('kme_keys_served_total{method="enc_keys"}')
t.eq(served_after - served_before, 1, "of all those requests only the one 200 handed out a key")

# all-or-nothing dec_keys: one known + one unknown ID -> 400, the known one survives
r = lab.curl("KME_A", "SAE_A", "/api/v1/keys/SAE_B/enc_keys")
good = r.json["keys"][0]
r = lab.curl("KME_B", "SAE_B", "/api/v1/keys/SAE_A/dec_keys", "POST",
             {"key_IDs": [{"key_ID": good["key_ID"]}, {"key_ID": "00000000-0000-4000-8000-000000000000"}]})
t.eq((r.code, r.message()), (400, "one or more keys specified are not found on KME"),
     "dec_keys with one unknown ID: 400 mandated message")
r = lab.curl("KME_B", "SAE_B", "/api/v1/keys/SAE_A/dec_keys?key_ID=" + good["key_ID"])
t.eq((r.code, r.json and r.json["keys"]), (200, [good]), "... and the known key was not consumed")
r = lab.curl("KME_B", "SAE_B", "/api/v1/keys/SAE_B/dec_keys?key_ID=" + good["key_ID"])
t.eq(r.code, 400, "dec_keys naming the wrong master: 400")

# --- multicast (Annex B)
r = lab.curl("KME_A", "SAE_A", "/api/v1/keys/SAE_B/enc_keys", "POST",
             {"number": 2, "additional_slave_SAE_IDs": ["SAE_B2"]})
t.eq(r.code, 200, "multicast enc_keys with one additional slave: 200")
mk = r.json["keys"] if r.code == 200 else []
seen_keys += [k["key"] for k in mk]
ids = {"key_IDs": [{"key_ID": k["key_ID"]} for k in mk]}
r = lab.curl("KME_B", "SAE_B2", "/api/v1/keys/SAE_A/dec_keys", "POST", ids)
t.eq((r.code, r.json and r.json["keys"]), (200, mk), "additional slave SAE_B2 gets the same keys")
r = lab.curl("KME_B", "SAE_B2", "/api/v1/keys/SAE_A/dec_keys", "POST", ids)
t.eq(r.code, 400, "SAE_B2 again: 400")
r = lab.curl("KME_B", "SAE_C", "/api/v1/keys/SAE_A/dec_keys", "POST", ids)
t.eq(r.code, 400, "SAE_C (not named): 400, as for keys that do not exist")
r = lab.curl("KME_B", "SAE_B", "/api/v1/keys/SAE_A/dec_keys", "POST", ids)
t.eq((r.code, r.json and r.json["keys"]), (200, mk), "the named slave SAE_B gets them too")
r = lab.curl("KME_B", "SAE_B", "/api/v1/keys/SAE_A/dec_keys", "POST", ids)
t.eq(r.code, 400, "then they are gone")

# --- metrics
reqs = A.metric('kme_requests_total{method="enc_keys",code="200"}')
t.eq(reqs, 7.0, "metrics count the seven enc_keys 200s at KME_A")
t.ok(A.metric('kme_link_up{peer="KME_B"}') == 1, "metrics: link up")
t.ok((B.metric('kme_keys_served_total{method="dec_keys"}') or 0) >= 8, "metrics: dec keys served at KME_B")
if os.environ.get("KME_PREFETCH"):
    t.ok((A.metric("kme_keys_prefetched_total") or 0) > 0, "some keys came from the prefetched fast path")

kc.stop_all(t, lab)
kc.no_key_bytes_in_logs(t, lab, seen_keys)
t.done()
