#!/usr/bin/python3
"""it_kme_input.py — kme-sim as a lenient-but-strict ETSI 014 server.

A third-party-style client (Python's http.client and ssl, not qkdlab
code) that decodes every error response as JSON, as widely used Python
014 clients do, against two kme-sims:

- every 400, 401 and 503 carries the Error data format {"message": ...}
  in valid UTF-8, also when the request quoted invalid bytes, and the
  quoted input is escaped and bounded;
- strings are valid UTF-8 without NUL: invalid UTF-8 in a JSON string or
  a query value, "\\u0000" in a JSON string and %00 in a query value get
  400 (a key ID followed by \\u0000junk or %00junk used to return the key),
  and the key is not consumed; so does a bad %-escape in the query;
- 1,000 query parameters get 400 at once;
- members ETSI 014 does not define are ignored (and counted in
  kme_json_unknown_members_total), including master_SAE_ID in key_IDs
  entries; a master_SAE_ID that is not the key's master is refused.
"""
import json
import os
import sys
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import kmelab as kc  # noqa: E402
from kmelab import tap  # noqa: E402

t = tap.Tap()
lab = kc.Lab(t, {
    "KME_A": {"saes": ["SAE_A"], "peers": ["KME_B"]},
    "KME_B": {"saes": ["SAE_B", "SAE_C"], "peers": ["KME_A"]},
})
lab.start()
A, B = lab.kmes["KME_A"], lab.kmes["KME_B"]


def call(kme, sae, method, path, body=None, timeout=10):
    """(status, decoded JSON or the exception, raw body, seconds)."""
    c = lab.session(kme, sae)
    c.timeout = timeout
    hdr = {"Content-Type": "application/json"} if body is not None else {}
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
    t0 = time.monotonic()
    c.request(method, path, body=body, headers=hdr)
    r = c.getresponse()
    raw = r.read()
    c.close()
    try:
        doc = json.loads(raw.decode("utf-8"))  # strict: invalid UTF-8 raises
    except (ValueError, UnicodeDecodeError) as e:
        doc = e
    return r.status, doc, raw, time.monotonic() - t0


def error_ok(status, doc, want):
    return status == want and isinstance(doc, dict) and isinstance(doc.get("message"), str)


t.ok(lab.wait_keys("KME_A", "SAE_A", "SAE_B", 10) is not None, "pool fills")
ENC = "/api/v1/keys/SAE_B/enc_keys"
DEC = "/api/v1/keys/SAE_A/dec_keys"


def new_key():
    s, doc, _, _ = call("KME_A", "SAE_A", "GET", ENC)
    return doc["keys"][0] if s == 200 else {"key_ID": str(uuid.uuid4()), "key": ""}


# --- every error is JSON with a message
s, doc, raw, _ = call("KME_A", "SAE_B", "GET", ENC)
t.ok(error_ok(s, doc, 401), "401 (an SAE of another KME) carries {\"message\": ...}", (s, raw))
t.ok("SAE_A" not in raw.decode("utf-8", "replace") and "KME_B" not in raw.decode("utf-8", "replace"),
     "... which names no SAE or KME", raw)
s, doc, raw, _ = call("KME_A", "SAE_A", "GET", ENC + "?number=0")
t.ok(error_ok(s, doc, 400), "400 carries {\"message\": ...}", (s, raw))
s, doc, raw, _ = call("KME_A", "SAE_A", "GET", "/api/v1/keys/SAE_X/status")
t.ok(error_ok(s, doc, 400), "400 for an unknown slave carries {\"message\": ...}", (s, raw))
A.fault("KME_B", "down")
s, doc, raw, _ = call("KME_A", "SAE_A", "GET", ENC)
t.ok(error_ok(s, doc, 503), "503 carries {\"message\": ...}", (s, raw))
A.clear("KME_B")

# --- UTF-8 and NUL
k = new_key()
s, doc, raw, _ = call("KME_B", "SAE_B", "POST", DEC,
                      ('{"key_IDs":[{"key_ID":"%s\\u0000junk"}]}' % k["key_ID"]).encode())
t.ok(error_ok(s, doc, 400) and "\\u0000" in doc["message"], "key ID + \\u0000junk in a JSON string: 400", (s, raw))
s, doc, raw, _ = call("KME_B", "SAE_B", "GET", DEC + "?key_ID=%s%%00junk" % k["key_ID"])
t.ok(error_ok(s, doc, 400) and "%00" in doc["message"], "key ID + %00junk in the query: 400", (s, raw))
s, doc, raw, _ = call("KME_B", "SAE_B", "GET", DEC + "?key_ID=%s%%zz" % k["key_ID"])
t.ok(error_ok(s, doc, 400) and "%-escape" in doc["message"], "key ID + a bad %-escape in the query: 400", (s, raw))
s, doc, raw, _ = call("KME_B", "SAE_B", "GET", DEC + "?key_ID=" + k["key_ID"])
t.ok(s == 200 and doc["keys"] == [k], "... neither consumed the key: the slave still gets it", (s, raw))
s, doc, raw, _ = call("KME_A", "SAE_A", "POST", ENC, b'{"additional_slave_SAE_IDs":["SAE_C\xff\xfe"]}')
t.ok(error_ok(s, doc, 400) and "UTF-8" in doc["message"], "invalid UTF-8 in a JSON string: 400 in valid UTF-8",
     (s, raw))
s, doc, raw, _ = call("KME_A", "SAE_A", "POST", ENC, b'{"additional_slave_SAE_IDs":["SAE_C\xed\xa0\x80"]}')
t.ok(error_ok(s, doc, 400), "a UTF-8-encoded surrogate in a JSON string: 400", (s, raw))
s, doc, raw, _ = call("KME_A", "SAE_A", "GET", ENC + "?number=%ff%fe")
t.ok(error_ok(s, doc, 400) and "UTF-8" in doc["message"], "invalid UTF-8 in a query value: 400 in valid UTF-8",
     (s, raw))
s, doc, raw, _ = call("KME_A", "SAE_A", "GET", ENC + "?size=%22%5c%01" + "9" * 300)
t.ok(error_ok(s, doc, 400) and len(doc["message"]) < 200 and "\\x01" in doc["message"],
     "a bad value is quoted escaped and bounded", (s, raw))
s, doc, raw, _ = call("KME_A", "SAE_A", "GET", "/api/v1/keys/%FF%FE%01/status")
t.ok(error_ok(s, doc, 400) and "\\xff" in doc["message"], "invalid bytes in the path's SAE ID: quoted escaped",
     (s, raw))

# --- a cap on query parameters: an answer at once
q = "&".join("number=%d" % i for i in range(1000))
try:
    s, doc, raw, dt = call("KME_A", "SAE_A", "GET", ENC + "?" + q, timeout=15)
    t.ok(error_ok(s, doc, 400) or s == 414, "1,000 query parameters: %d in %.1f s" % (s, dt), raw[:200])
except OSError as e:
    t.ok(False, "1,000 query parameters: no answer (%s)" % e)

# --- members ETSI 014 does not define
before = A.metric("kme_json_unknown_members_total") or 0
s, doc, raw, _ = call("KME_A", "SAE_A", "POST", ENC, {"number": 1, "vendor_hint": {"x": 1}})
t.eq(s, 200, "Key request with an unknown member: 200")
t.eq(A.metric("kme_json_unknown_members_total"), before + 1, "... counted in kme_json_unknown_members_total")
s, doc, raw, _ = call("KME_A", "SAE_A", "POST", ENC, {"number": "1", "vendor_hint": 1})
t.ok(error_ok(s, doc, 400), "a known member of the wrong type is still refused", (s, raw))
s, doc, raw, _ = call("KME_A", "SAE_A", "POST", ENC, b'{"number": 1,')
t.ok(error_ok(s, doc, 400), "malformed JSON is still refused", (s, raw))
k1, k2 = new_key(), new_key()
s, doc, raw, _ = call("KME_B", "SAE_B", "POST", DEC,
                      {"key_IDs": [{"key_ID": k1["key_ID"], "master_SAE_ID": "SAE_C"}]})
t.ok(error_ok(s, doc, 400) and "master_SAE_ID" in doc["message"],
     "master_SAE_ID in a key_IDs entry that is not the key's master: 400", (s, raw))
s, doc, raw, _ = call("KME_B", "SAE_B", "POST", DEC,
                      {"key_IDs": [{"key_ID": k1["key_ID"], "master_SAE_ID": "SAE_A"},
                                   {"key_ID": k2["key_ID"], "master_SAE_ID": "SAE_A", "note": "x"}],
                       "client": "qukaydee-style"})
t.ok(s == 200 and doc["keys"] == [k1, k2],
     "key_IDs entries with the right master_SAE_ID and unknown members: 200, the keys", (s, raw))

kc.stop_all(t, lab)
t.done()
