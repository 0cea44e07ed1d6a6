#!/usr/bin/python3
"""it_skip_keys.py — keys end to end: two skip-proxies in front of a real
kme-sim pair, driven by `openssl s_client` over TLS 1.3 PSK
(TLS_AES_256_GCM_SHA384) and TLS 1.2 DHE-PSK.

Site A's /key gives (keyId, key); site B's /key/{keyId} with
remoteSystemID = A's SAE ID gives the same key, once; a second fetch, a
wrong remoteSystemID and an unknown keyId are 400; sizes; the KME's own
messages are passed on; a KME that cannot serve (starved, down) is 500 with
the cause in the message (draft-cisco-skip-02 4.2 lists 200, 400, 500), or
503 with kme_unavailable_status = 503; service recovers when the KME comes
back.  Daemons must exit 0, sanitizer-clean, on SIGTERM.
"""
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import skiplab as sk  # noqa: E402
from skiplab import tap  # noqa: E402

t = tap.Tap()
tap.require_bins(t, "skip-proxy/skip-proxy", "kme-sim/kme-sim")

lab = sk.Lab(t, "skip-keys")
lab.make_pki(kmes=("KME_A", "KME_B"), saes=("SAE_A", "SAE_B", "SAE_X"))
ports = {n: tap.free_port() for n in ("kme_a", "kme_b", "link_a", "link_b", "skip_a", "skip_b", "skip_x",
                                      "admin_a", "skip_a503")}


def kme_conf(me, peer, sae, peer_sae, port, link, peer_link, extra=""):
    p = lab.path(me + ".conf")
    pki = lab.pki
    with open(p, "w") as f:
        f.write("""kme_id = {me}
listen = 127.0.0.1:{port}
cert = {pki}/{me}.crt
key = {pki}/{me}.key
sae_ca = {pki}/sae-ca.crt
link_listen = 127.0.0.1:{link}
link_cert = {pki}/{me}-link.crt
link_key = {pki}/{me}-link.key
link_ca = {pki}/kme-ca.crt
database = {db}
saes = {sae}
key_size = 256
max_key_size = 1024
key_rate = 10000000
max_key_count = 10000

{extra}
[peer {peer}]
address = 127.0.0.1:{peer_link}
saes = {peer_sae}
""".format(me=me, peer=peer, sae=sae, peer_sae=peer_sae, port=port, link=link,
           peer_link=peer_link, pki=pki, db=lab.path(me + ".db"), extra=extra))
    return p


kme_a_conf = kme_conf("KME_A", "KME_B", "SAE_A", "SAE_B SAE_X", ports["kme_a"], ports["link_a"], ports["link_b"],
                      "admin_listen = 127.0.0.1:%d\n" % ports["admin_a"])
kme_b_conf = kme_conf("KME_B", "KME_A", "SAE_B SAE_X", "SAE_A", ports["kme_b"], ports["link_b"], ports["link_a"])
kmes = {}


def start_kme(name, conf, port):
    p = lab.daemon(name, None, [lab.bin("kme-sim"), "-d", "-f", conf])
    if not tap.wait_port(port, timeout=15):
        raise RuntimeError("%s did not start:\n%s" % (name, p.output()))
    kmes[name] = p
    return p


start_kme("kme-a", kme_a_conf, ports["kme_a"])
start_kme("kme-b", kme_b_conf, ports["kme_b"])

psk = lab.write_psk("routers.psk", [("router-a", sk.PSK_A), ("router-b", sk.PSK_B)])
sess_a = lab.write_session("a.pem", sk.PSK_A)
sess_b = lab.write_session("b.pem", sk.PSK_B)
# Keys pooled by one case must not answer the next case's faults: they
# expire after key_pool_max_age (see pool_drained()).
common = "psk_file = %s\nkme_verify_host = yes\nkme_timeout = 3s\nkme_retries = 1\nkme_retry_delay = 20ms\n" \
         "key_size_max = 1024\nkey_pool_max_age = 1s\n" % psk
conf_a = lab.proxy_conf("skip-a", "SAE_A", ["SAE_B"], "https://localhost:%d" % ports["kme_a"],
                        ports["skip_a"], common)
# Site B accepts any SAE_? system: a glob (draft 4.1).
conf_b = lab.proxy_conf("skip-b", "SAE_B", ["SAE_?"], "https://localhost:%d" % ports["kme_b"],
                        ports["skip_b"], common)
p_a = lab.start_proxy("skip-a", conf_a, ports["skip_a"])
p_b = lab.start_proxy("skip-b", conf_b, ports["skip_b"], ["-v"])	# debug logs must hold no keys either
# SAE_X is served by KME B: KME A answers it 401 whatever it asks.
conf_x = lab.proxy_conf("skip-x", "SAE_X", ["SAE_B"], "https://localhost:%d" % ports["kme_a"],
                        ports["skip_x"], common)
p_x = lab.start_proxy("skip-x", conf_x, ports["skip_x"])
# Site A again, for clients that prefer 503 when the KME cannot serve.
conf_a503 = lab.proxy_conf("skip-a503", "SAE_A", ["SAE_B"], "https://localhost:%d" % ports["kme_a"],
                           ports["skip_a503"], common + "kme_unavailable_status = 503\n")
p_a503 = lab.start_proxy("skip-a503", conf_a503, ports["skip_a503"])


def at_a503(target):
    return sk.s_client(ports["skip_a503"], sk.http_req("GET", target), identity="router-a", session=sess_a)


def at_a(target):
    return sk.s_client(ports["skip_a"], sk.http_req("GET", target), identity="router-a", session=sess_a)


def at_b(target, tls="1.3"):
    if tls == "1.2":
        return sk.s_client(ports["skip_b"], sk.http_req("GET", target), identity="router-b", psk=sk.PSK_B,
                           tls="1.2", cipher="DHE-PSK-AES256-CBC-SHA384")
    return sk.s_client(ports["skip_b"], sk.http_req("GET", target), identity="router-b", session=sess_b)


seen_keys = []


def new_key(size=None, remote="SAE_B", timeout=10.0):
    """A's /key, waiting for the KME pair to have key material."""
    target = "/key?remoteSystemID=%s" % remote + ("&size=%d" % size if size else "")
    end = time.monotonic() + timeout
    while True:
        r = at_a(target)
        if r is not None and r.status == 200:
            seen_keys.append(r.json()["key"])
        if r is not None and r.status == 200 or time.monotonic() > end:
            return r
        time.sleep(0.2)


def fetch_b(key_id, remote="SAE_A", tls="1.3", timeout=5.0):
    """B's /key/{keyId}; the KME link may take a moment to carry the key."""
    end = time.monotonic() + timeout
    while True:
        r = at_b("/key/%s?remoteSystemID=%s" % (key_id, remote), tls)
        if r is None or r.status == 200 or time.monotonic() > end:
            return r
        if "not found" not in r.body:
            return r
        time.sleep(0.1)


def roundtrip():
    r = new_key()
    t.ok(r is not None and r.status == 200, "site A: GET /key?remoteSystemID=SAE_B is 200", r)
    k = r.json()
    t.ok(re.fullmatch("[0-9a-f]{32}", k["keyId"]) is not None, "keyId is 32 lower-case hex digits", k["keyId"])
    t.ok(re.fullmatch("[0-9a-f]{64}", k["key"]) is not None, "key is 256 bits of lower-case hex (default size)")
    r2 = fetch_b(k["keyId"])
    t.ok(r2 is not None and r2.status == 200, "site B: GET /key/{keyId}?remoteSystemID=SAE_A is 200", r2)
    t.ok(r2.json() == k, "site B returns the same keyId and key")
    r3 = at_b("/key/%s?remoteSystemID=SAE_A" % k["keyId"])
    t.ok(r3 is not None and r3.status == 400, "a second fetch of the same keyId is 400", r3)
    t.ok("KME:" in r3.json()["message"], "the KME's message is passed on", r3)
    r4 = at_a("/key/%s?remoteSystemID=SAE_B" % k["keyId"])
    t.ok(r4 is not None and r4.status == 400, "site A cannot fetch its own key as a slave: 400", r4)


t.case("roundtrip")(roundtrip)


def sizes_and_case():
    for size in (128, 512, 1024):
        r = new_key(size)
        ok = r is not None and r.status == 200 and len(r.json()["key"]) == size // 4
        t.ok(ok, "size=%d gives %d hex digits" % (size, size // 4), r)
        if ok:
            k = r.json()
            r2 = fetch_b(k["keyId"].upper(), tls="1.2")
            t.ok(r2 is not None and r2.status == 200 and r2.json()["key"] == k["key"] and
                 r2.json()["keyId"] == k["keyId"],
                 "size=%d: site B (TLS 1.2 DHE-PSK, upper-case keyId) returns the same key" % size, r2)
    r = at_a("/key?remoteSystemID=SAE_B&size=136")
    t.ok(r is not None and r.status == 200 and len(r.json()["key"]) == 34, "size=136 (a multiple of 8) is served", r)
    if r is not None and r.status == 200:
        seen_keys.append(fetch_b(r.json()["keyId"]).json()["key"])


t.case("sizes")(sizes_and_case)


def wrong_remote():
    r = new_key()
    k = r.json()
    # SAE_X matches B's glob and is a real SAE, but not the key's master.
    w = at_b("/key/%s?remoteSystemID=SAE_X" % k["keyId"])
    t.ok(w is not None and w.status == 400, "fetch with a wrong remoteSystemID (SAE_X) is 400", w)
    w = at_b("/key/%s?remoteSystemID=SITE_A" % k["keyId"])
    t.ok(w is not None and w.status == 400 and "unknown remoteSystemID" in w.json()["message"],
         "fetch with a remoteSystemID outside the capabilities is 400", w)
    r2 = fetch_b(k["keyId"])
    t.ok(r2 is not None and r2.status == 200 and r2.json() == k,
         "after the wrong attempts the right fetch still gets the key", r2)
    u = at_b("/key/00000000000000000000000000000000?remoteSystemID=SAE_A")
    t.ok(u is not None and u.status == 400, "an unknown keyId is 400", u)
    u = at_a("/key?remoteSystemID=SAE_A")
    t.ok(u is not None and u.status == 400, "/key for a system not in A's capabilities is 400", u)


t.case("wrong remote")(wrong_remote)


def concurrent():
    import concurrent.futures
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        made = list(ex.map(lambda _: at_a("/key?remoteSystemID=SAE_B"), range(8)))
    ok = [r for r in made if r is not None and r.status == 200]
    t.eq(len(ok), 8, "8 concurrent /key requests at site A all succeed")
    ids = {r.json()["keyId"] for r in ok}
    t.eq(len(ids), len(ok), "and give 8 different keyIds")
    seen_keys.extend(r.json()["key"] for r in ok)
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        got = list(ex.map(lambda r: fetch_b(r.json()["keyId"]), ok))
    t.ok(all(g is not None and g.status == 200 for g in got) and
         [g.json() for g in got] == [r.json() for r in ok],
         "8 concurrent fetches at site B return the same keys", got)


t.case("concurrent")(concurrent)


def admin(action, query):
    import subprocess
    r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST",
                        "http://127.0.0.1:%d/admin/v1/%s?%s" % (ports["admin_a"], action, query)],
                       capture_output=True, text=True, timeout=10)
    return r.stdout


def pool_drained():
    """Keys site A pooled in earlier cases (key_pool, skip-proxy(8)) are
    never served once key_pool_max_age (1s here) old: after that, a
    /key request reaches the KME, whose faults these cases check."""
    time.sleep(1.5)


def kme_errors():
    pool_drained()
    r = sk.s_client(ports["skip_x"], sk.http_req("GET", "/key?remoteSystemID=SAE_B"), identity="router-a",
                    session=sess_a)
    t.ok(r is not None and r.status == 500 and "credentials" in r.json()["message"],
         "KME 401 to enc_keys (proxy's SAE unknown there) is 500 naming the credentials", r)
    t.eq(admin("fault", "peer=KME_B&kind=starve"), "200", "kme-a: starve fault injected")
    r = at_a("/key?remoteSystemID=SAE_B")
    t.ok(r is not None and r.status == 500 and "starved" in r.json()["message"]
         and "cannot serve" in r.json()["message"],
         "KME 503 (pool starved) is the draft's 500 with the KME's message passed on", r)
    r = at_a503("/key?remoteSystemID=SAE_B")
    t.ok(r is not None and r.status == 503 and "starved" in r.json()["message"],
         "with kme_unavailable_status = 503 it is 503, same message", r)
    t.eq(admin("clear", "peer=KME_B"), "200", "kme-a: fault cleared")
    r = new_key(timeout=15)
    t.ok(r is not None and r.status == 200, "after the fault is cleared /key is 200 again", r)
    if r is not None and r.status == 200:
        r2 = fetch_b(r.json()["keyId"], timeout=10)
        t.ok(r2 is not None and r2.status == 200 and r2.json() == r.json(), "and site B gets that key", r2)


t.case("kme errors")(kme_errors)


def connection_reuse():
    import subprocess
    m = subprocess.run(["curl", "-s", "http://127.0.0.1:%d/metrics" % ports["admin_a"]],
                       capture_output=True, text=True, timeout=10).stdout
    conns = re.search(r"^kme_tls_connections(?:\{[^}]*\})? (\d+)", m, re.M)
    # ~30 enc_keys calls went through site A's two proxies (the default one
    # and the one with kme_unavailable_status = 503), each calling from at
    # most 2 event loops and 2 workers: reused connections number at most 8,
    # not one per call.
    t.ok(conns is not None and 1 <= int(conns.group(1)) <= 8,
         "KME A holds 1..8 TLS connections after ~30 proxied calls by two proxies (connections reused)",
         "\n".join(l for l in m.splitlines() if "tls_conn" in l or "requests_total" in l))


t.case("connection reuse")(connection_reuse)


def kme_down_and_back():
    rc = kmes["kme-a"].stop()
    t.ok(rc == 0 and tap.sanitizer_clean(kmes["kme-a"].output()), "kme-a stops cleanly (exit %s)" % rc)
    pool_drained()
    r = at_a("/key?remoteSystemID=SAE_B")
    t.ok(r is not None and r.status == 500 and "unreachable" in r.json()["message"],
         "KME down: /key is 500 'KME unreachable'", r)
    r = at_a503("/key?remoteSystemID=SAE_B")
    t.ok(r is not None and r.status == 503 and "unreachable" in r.json()["message"],
         "KME down, kme_unavailable_status = 503: /key is 503 'KME unreachable'", r)
    start_kme("kme-a2", kme_a_conf, ports["kme_a"])
    r = new_key(timeout=15)
    t.ok(r is not None and r.status == 200, "KME back: /key is 200 again (recovery)", r)
    if r is not None and r.status == 200:
        r2 = fetch_b(r.json()["keyId"], timeout=10)
        t.ok(r2 is not None and r2.status == 200 and r2.json() == r.json(),
             "after recovery site B gets the same key", r2)


t.case("kme down")(kme_down_and_back)


def stop_all():
    for name, p in lab.proxies:
        rc = p.stop()
        out = p.output()
        t.ok(rc == 0 and tap.sanitizer_clean(out), "%s exits 0 on SIGTERM, sanitizer-clean" % name, out[-2000:])
        t.ok(not re.search(r"(?i)%s|%s" % (sk.PSK_A, sk.PSK_B), out), "%s logged no PSK bytes" % name)
        leaked = [k for k in seen_keys if k.lower() in out.lower()]
        t.ok(len(seen_keys) >= 6 and not leaked, "%s logged none of the %d keys served" % (name, len(seen_keys)))


t.case("stop")(stop_all)
