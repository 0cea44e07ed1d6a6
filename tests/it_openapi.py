#!/usr/bin/python3
"""it_openapi.py — the OpenAPI documents in api/ against the daemons.

The documents themselves must be well formed (lib/openapi.py: 3.1, every
$ref resolves, path parameters declared, operationIds unique, every
component schema a valid JSON Schema 2020-12; openapi-spec-validator too
where it is installed), the daemons must serve them byte for byte
(kme-sim's admin listener, skip-proxy's metrics listener), and every
response this test receives from a running two-site lab (twosite.py) —
ETSI 014 at the KMEs with curl, SKIP with openssl s_client, the KME admin
API, mka-agent's /status.json, macsec-sw's /show.json and qkdlab-dash's
API, successes and errors — must validate against its document.
"""
import json
import os
import sys
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import tap  # noqa: E402

t = tap.Tap()
if os.geteuid() != 0:
    t.skip_all("needs root (network namespaces)")
try:
    import openapi  # noqa: E402
except ImportError:
    t.skip_all("no python3-yaml here")
if openapi.jsonschema is None:
    t.skip_all("no python3-jsonschema here (scripts/deps installs it)")
import twosite  # noqa: E402
import lablib  # noqa: E402
from lablib import ADMIN_PORT, KME_PORT, LINK_IP, SAE  # noqa: E402

DOCS = {n: openapi.load(n) for n in ("etsi014.yaml", "skip.yaml", "admin.yaml")}
for name, spec in DOCS.items():
    t.eq(openapi.problems(spec), [], "api/%s is a well-formed OpenAPI 3.1 document" % name)
# A broken document is noticed (the checks can fail).
broken = json.loads(json.dumps(DOCS["skip.yaml"]))
broken["paths"]["/key/{keyId}"]["get"]["parameters"] = []
broken["components"]["schemas"]["KeyId"]["type"] = "no-such-type"
t.eq(len(openapi.problems(broken)), 2, "a document with an undeclared path parameter and a bad schema fails")

# A wrong body is noticed (the response check can fail).
t.ok(openapi.validate(DOCS["etsi014.yaml"], "/api/v1/keys/X/status", "GET", 200,
                      {"source_KME_ID": "A", "key_size": "256"}) is not None,
     "a Status without most members and a string key_size is refused")

lab = twosite.Sites(t, "oapi")
lab.start_kmes()
lab.start_skips()
lab.start_secys()
for s in twosite.SITES:
    lab.start_agent(s, lab.agent_conf(s, "skip"))
lab.dash_listen = "127.0.0.1:%d" % tap.free_port()
dash = lab.start_dash()
t.ok(twosite.wait_until(lab.both_secured, 60, 0.2)[0], "the lab is secured")

# ---- served documents --------------------------------------------------
for path, name in (("/openapi/etsi014.yaml", "etsi014.yaml"), ("/openapi/admin.yaml", "admin.yaml")):
    t.eq(lab.http("a", ADMIN_PORT, path), openapi.text(name), "kme-sim serves %s as in api/" % path)
t.eq(lab.http("a", lablib.SKIP_METRICS, "/openapi.yaml"), openapi.text("skip.yaml"),
     "skip-proxy serves /openapi.yaml as in api/")

checked = []


def check(doc, path, method, code, body, what):
    """body (text) must be JSON valid for the document's (path, method, code)."""
    try:
        js = json.loads(body) if body else None
    except ValueError:
        js = "<not JSON: %r>" % body[:200]
    why = openapi.validate(DOCS[doc], path.split("?")[0], method, code, js)
    checked.append((doc, method, path.split("?")[0], code))
    t.ok(why is None, "%s: %s %s -> %s valid for api/%s" % (what, method, path.split("?")[0], code, doc),
         why)


# ---- ETSI 014 at KME_A / KME_B ---------------------------------------------
def etsi(s, sae, method, path, body=None):
    data = "-H 'Content-Type: application/json' --data '%s'" % json.dumps(body) if body is not None else ""
    r = lab.sh(s, "curl -s -m 10 -X %s --cacert %s/sae-ca.crt --cert %s/%s.crt --key %s/%s.key %s "
               "-w '\\n%%{http_code}' 'https://%s:%d%s'"
               % (method, lab.pki, lab.pki, sae, lab.pki, sae, data, LINK_IP[s], KME_PORT, path))
    out, _, code = r.stdout.rpartition("\n")
    return int(code) if code.isdigit() else 0, out


A, B = SAE["a"], SAE["b"]
code, out = etsi("a", A, "GET", "/api/v1/keys/%s/status" % B)
check("etsi014.yaml", "/api/v1/keys/%s/status" % B, "GET", code, out, "status")
code, out = etsi("a", A, "GET", "/api/v1/keys/%s/enc_keys?number=2" % B)
check("etsi014.yaml", "/api/v1/keys/%s/enc_keys" % B, "GET", code, out, "enc_keys")
ids = [k["key_ID"] for k in json.loads(out)["keys"]] if code == 200 else ["x"]
code, out = etsi("a", A, "POST", "/api/v1/keys/%s/enc_keys" % B, {"number": 1, "size": 256})
check("etsi014.yaml", "/api/v1/keys/%s/enc_keys" % B, "POST", code, out, "enc_keys POST")
code, out = etsi("b", B, "GET", "/api/v1/keys/%s/dec_keys?key_ID=%s" % (A, ids[0]))
check("etsi014.yaml", "/api/v1/keys/%s/dec_keys" % A, "GET", code, out, "dec_keys")
code, out = etsi("b", B, "POST", "/api/v1/keys/%s/dec_keys" % A, {"key_IDs": [{"key_ID": ids[-1]}]})
check("etsi014.yaml", "/api/v1/keys/%s/dec_keys" % A, "POST", code, out, "dec_keys POST")
code, out = etsi("b", B, "GET", "/api/v1/keys/%s/dec_keys?key_ID=%s" % (A, ids[0]))
t.eq(code, 400, "dec_keys of a key already fetched: 400")
check("etsi014.yaml", "/api/v1/keys/%s/dec_keys" % A, "GET", code, out, "error")
code, out = etsi("a", A, "GET", "/api/v1/keys/%s/enc_keys?number=0" % B)
check("etsi014.yaml", "/api/v1/keys/%s/enc_keys" % B, "GET", code, out, "bad number")
code, out = etsi("a", SAE["c"], "GET", "/api/v1/keys/%s/status" % B)
t.eq(code, 401, "an SAE KME_A does not serve: 401")
if out:
    check("etsi014.yaml", "/api/v1/keys/%s/status" % B, "GET", code, out, "401")

# ---- the admin API, with a fault for a 503 -------------------------------
for method, path, want in (("GET", "/admin/v1/faults", 200),
                           ("POST", "/admin/v1/fault?peer=%s&kind=down" % lablib.KME["b"], 200),
                           ("POST", "/admin/v1/fault?peer=%s&kind=sideways" % lablib.KME["b"], 400),
                           ("POST", "/admin/v1/fault?peer=NOBODY&kind=down", 400)):
    code, out = lab.kme_admin("a", method, path)
    t.eq(code, want, "admin %s %s: %d" % (method, path, want))
    check("admin.yaml", path, method, code, out, "KME admin")
code, out = etsi("a", A, "GET", "/api/v1/keys/%s/enc_keys" % B)
t.eq(code, 503, "enc_keys with the KME link down: 503")
check("etsi014.yaml", "/api/v1/keys/%s/enc_keys" % B, "GET", code, out, "503")
code, out = lab.kme_admin("a", "POST", "/admin/v1/clear?peer=%s" % lablib.KME["b"])
check("admin.yaml", "/admin/v1/clear", "POST", code, out, "KME admin clear")
twosite.wait_until(lambda: twosite.metric(lab.kme_metrics("a") or {}, "kme_link_up") == 1, 15)

# ---- SKIP --------------------------------------------------------------
for s, target in (("a", "/capabilities"), ("a", "/key?remoteSystemID=%s" % B), ("a", "/entropy?minentropy=256"),
                  ("a", "/key?remoteSystemID=NOBODY"), ("a", "/nothing")):
    code, js = lab.skip_get(s, target)
    why = openapi.validate(DOCS["skip.yaml"], target.split("?")[0], "GET", code, js)
    if target == "/nothing":
        t.eq(code, 404, "SKIP /nothing: 404")
        why = openapi.validate(DOCS["skip.yaml"], "/capabilities", "GET", "default", js)
    checked.append(("skip.yaml", "GET", target.split("?")[0], code))
    t.ok(why is None, "SKIP %s -> %s valid for api/skip.yaml" % (target.split("?")[0], code), why)
    if target.startswith("/key?remoteSystemID=%s" % B):
        kid = js.get("keyId", "0" * 32)
code, js = lab.skip_get("b", "/key/%s?remoteSystemID=%s" % (kid, A))
t.eq(code, 200, "SKIP /key/{keyId} at site B: 200")
t.ok(openapi.validate(DOCS["skip.yaml"], "/key/%s" % kid, "GET", code, js) is None,
     "SKIP /key/{keyId} -> 200 valid for api/skip.yaml")

# ---- the state pages and the dashboard ------------------------------------
check("admin.yaml", "/status.json", "GET", 200, lab.http("a", lablib.MKA_METRICS, "/status.json"), "mka-agent")
check("admin.yaml", "/show.json", "GET", 200, lab.http("a", lablib.SECY_METRICS, "/show.json"), "macsec-sw")
with urllib.request.urlopen(dash + "api/state", timeout=10) as r:
    check("admin.yaml", "/api/state", "GET", r.status, r.read().decode(), "qkdlab-dash")
for hdr, want in (({"X-Qkdlab-Dash": "1"}, 200), ({}, 403)):
    req = urllib.request.Request(dash + "api/clear?site=A", method="POST", headers=hdr)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            code, body = r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        code, body = e.code, e.read().decode()
    t.eq(code, want, "qkdlab-dash POST /api/clear %s: %d" % ("with its header" if hdr else "without", want))
    check("admin.yaml", "/api/clear", "POST", code, body, "qkdlab-dash")
t.diag("responses validated: %d" % len(checked))
t.done()
