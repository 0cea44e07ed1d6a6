#!/usr/bin/python3
"""it_skip_pool.py — skip-proxy's key pool against a real kme-sim pair:
GET /key at site A served from keys fetched ahead in batches, each key
fetched by keyId at site B exactly once with the same bytes.

Checked through the proxies' own metrics (GET /metrics): a burst of
requests costs fewer KME calls than keys; the keys the KME handed over
are all accounted for (served, pooled or discarded); with
key_pool_max_age = 1s a pooled key is discarded, not served, once older
and the next GET /key still works; key_pool = 0 makes one KME call per
key.  KME A allows at most 8 keys per call (max_key_per_request), below
key_pool: a larger batch is refused with 400, which must cost no request
its key.  Daemons exit 0, sanitizer-clean, logging no key bytes.
The far side is `openssl s_client` and curl, never project code.
"""
import concurrent.futures
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import skiplab as sk  # noqa: E402
from skiplab import tap  # noqa: E402

t = tap.Tap()
tap.require_bins(t, "skip-proxy/skip-proxy", "kme-sim/kme-sim")

lab = sk.Lab(t, "skip-pool")
lab.make_pki(kmes=("KME_A", "KME_B"), saes=("SAE_A", "SAE_B"))
names = ("kme_a", "kme_b", "link_a", "link_b", "skip_a", "skip_b", "skip_age", "skip_off",
         "m_a", "m_age", "m_off")
ports = {n: tap.free_port() for n in names}

kmes = {}
for name, me, peer, sae, peer_sae, extra in (
        ("kme-a", "KME_A", "KME_B", "SAE_A", "SAE_B", "max_key_per_request = 8"),
        ("kme-b", "KME_B", "KME_A", "SAE_B", "SAE_A", "")):
    side = name[-1]
    conf = lab.kme_conf(me, peer, sae, peer_sae, ports["kme_" + side], ports["link_" + side],
                        ports["link_" + ("b" if side == "a" else "a")], extra)
    kmes[name] = lab.daemon(name, None, [lab.bin("kme-sim"), "-d", "-f", conf])
    if not tap.wait_port(ports["kme_" + side], timeout=15):
        raise RuntimeError("%s did not start:\n%s" % (name, kmes[name].output()))

psk = lab.write_psk("routers.psk", [("router-a", sk.PSK_A), ("router-b", sk.PSK_B)])
sess_a = lab.write_session("a.pem", sk.PSK_A)
sess_b = lab.write_session("b.pem", sk.PSK_B)
common = "psk_file = %s\nkme_timeout = 5s\n" % psk


def proxy(name, sae, remote, kme, port, extra=""):
    conf = lab.proxy_conf(name, sae, [remote], "https://localhost:%d" % ports[kme], ports[port], common + extra)
    return lab.start_proxy(name, conf, ports[port], ["-v"])   # debug logs must hold no keys either


proxy("skip-a", "SAE_A", "SAE_B", "kme_a", "skip_a", "metrics_port = %d\n" % ports["m_a"])
proxy("skip-b", "SAE_B", "SAE_A", "kme_b", "skip_b")
proxy("skip-age", "SAE_A", "SAE_B", "kme_a", "skip_age",
      "metrics_port = %d\nkey_pool_max_age = 1s\n" % ports["m_age"])
proxy("skip-off", "SAE_A", "SAE_B", "kme_a", "skip_off", "metrics_port = %d\nkey_pool = 0\n" % ports["m_off"])

seen_keys = []


def new_key(port):
    return sk.s_client(ports[port], sk.http_req("GET", "/key?remoteSystemID=SAE_B"), identity="router-a",
                       session=sess_a, timeout=30)


def fetch_b(key_id, timeout=20.0):
    """B's /key/{keyId}; the KME link may take a moment to carry the key."""
    end = time.monotonic() + timeout
    while True:
        r = sk.s_client(ports["skip_b"], sk.http_req("GET", "/key/%s?remoteSystemID=SAE_A" % key_id),
                        identity="router-b", session=sess_b, timeout=30)
        if r is None or r.status == 200 or time.monotonic() > end or "not found" not in r.body:
            return r
        time.sleep(0.1)


def metrics(port):
    out = subprocess.run(["curl", "-s", "--max-time", "20", "http://127.0.0.1:%d/metrics" % ports[port]],
                         capture_output=True, text=True, timeout=30).stdout
    v = {}
    for m in re.finditer(r"^(skip_[a-z_]+(?:\{[^}]*\})?) (\d+)$", out, re.M):
        v[m.group(1)] = int(m.group(2))
    return v


def burst(port, n, threads=8):
    with concurrent.futures.ThreadPoolExecutor(threads) as ex:
        got = list(ex.map(lambda _: new_key(port), range(n)))
    ok = [r.json() for r in got if r is not None and r.status == 200]
    seen_keys.extend(k["key"] for k in ok)
    return got, ok


def wait_material():
    """KME A and B need key material before the first key."""
    end = time.monotonic() + 30
    while time.monotonic() < end:
        r = new_key("skip_off")
        if r is not None and r.status == 200:
            k = r.json()
            seen_keys.append(k["key"])
            return fetch_b(k["keyId"])
        time.sleep(0.2)
    return None


def accounted(m):
    """Every key the KME handed over was served, is pooled or was discarded."""
    served = m.get('skip_requests_total{resource="key"}', -1) - m.get('skip_responses_total{class="4xx"}', 0) - \
        m.get('skip_responses_total{class="5xx"}', 0)
    return m.get("skip_kme_keys_total") == served + m.get("skip_pool_keys", 0) + \
        m.get('skip_pool_discarded_total{reason="age"}', 0) + m.get('skip_pool_discarded_total{reason="full"}', 0)


def burst_case():
    r = wait_material()
    t.ok(r is not None and r.status == 200, "key material on both KMEs (a first key fetched at B)", r)
    got, ok = burst("skip_a", 32)
    t.eq(len(ok), 32, "32 GET /key at proxy A, 8 at a time: all 200")
    if len(ok) != 32:
        t.diag("%r" % [g for g in got if g is None or g.status != 200][:3])
    ids = [k["keyId"] for k in ok]
    t.eq(len(set(ids)), len(ids), "32 different keyIds")
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        fetched = list(ex.map(lambda k: fetch_b(k["keyId"]), ok))
    t.ok(all(f is not None and f.status == 200 for f in fetched) and [f.json() for f in fetched] == ok,
         "proxy B returns each keyId with the same key", [f for f in fetched if f is None or f.status != 200][:3])
    again = [fetch_b(k["keyId"], timeout=0) for k in ok[:8]]
    t.ok(all(a is not None and a.status == 400 for a in again),
         "a second fetch at B is 400: each key was given out once", again)
    m = metrics("m_a")
    t.ok(0 < m.get("skip_kme_calls_total", 0) < 32 and m.get("skip_pool_served_total", 0) > 0,
         "fewer KME calls than keys (%s calls, %s from the pool)" %
         (m.get("skip_kme_calls_total"), m.get("skip_pool_served_total")), m)
    t.ok(accounted(m), "KME keys = keys served + pooled + discarded", m)
    log = [p for n, p in lab.proxies if n == "skip-a"][0].output()
    t.diag("batches above KME A's max_key_per_request (8) were refused and retried: %s" %
           ("yes" if "KME refused" in log else "not reached at this load"))
    t.ok(re.search(r"new key [0-9a-f]{32} \(256 bits\) for SAE_B by 'router-a' \(pool\)", log) is not None,
         "the audit line of a pooled key says 'pool'")


t.case("burst")(burst_case)


def age_case():
    before = metrics("m_age")
    pooled = 0
    for _ in range(5):
        _, ok = burst("skip_age", 16)
        # The burst's own batches may be used up; one request more, with
        # the burst's demand in the last second, fetches a batch and pools
        # all but the key it takes.
        r = new_key("skip_age")
        if r is not None and r.status == 200:
            seen_keys.append(r.json()["key"])
        pooled = metrics("m_age").get("skip_pool_keys", 0)
        if pooled > 0:
            break
    t.ok(pooled > 0, "proxy with key_pool_max_age = 1s holds pooled keys after a burst (%d)" % pooled)
    time.sleep(1.5)
    calls = metrics("m_age").get("skip_kme_calls_total", 0)
    r = new_key("skip_age")
    t.ok(r is not None and r.status == 200, "after 1.5 s, GET /key still works", r)
    m = metrics("m_age")
    t.ok(m.get('skip_pool_discarded_total{reason="age"}', 0) - before.get(
        'skip_pool_discarded_total{reason="age"}', 0) >= pooled,
         "the %d pooled keys were discarded by age" % pooled, m)
    t.ok(m.get("skip_kme_calls_total", 0) > calls, "and that key came from a new KME call", m)
    if r is not None and r.status == 200:
        seen_keys.append(r.json()["key"])
        f = fetch_b(r.json()["keyId"])
        t.ok(f is not None and f.status == 200 and f.json() == r.json(), "proxy B returns that key", f)
    t.ok(accounted(m), "KME keys = keys served + pooled + discarded (age proxy)", m)


t.case("age")(age_case)


def off_case():
    _, ok = burst("skip_off", 16)
    t.eq(len(ok), 16, "key_pool = 0: 16 GET /key, 8 at a time, all 200")
    m = metrics("m_off")
    served = m.get('skip_requests_total{resource="key"}', -1)
    t.ok(m.get("skip_kme_calls_total") == served and m.get("skip_kme_keys_total") == served and
         m.get("skip_pool_served_total") == 0 and m.get("skip_pool_keys") == 0,
         "key_pool = 0: one KME call and one key per request (%d requests)" % served, m)
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        fetched = list(ex.map(lambda k: fetch_b(k["keyId"]), ok))
    t.ok(all(f is not None and f.status == 200 for f in fetched) and [f.json() for f in fetched] == ok,
         "key_pool = 0: proxy B returns the same keys")


t.case("key_pool = 0")(off_case)


def stop_all():
    depth = metrics("m_a").get("skip_pool_keys", -1)
    for name, p in lab.proxies:
        rc = p.stop()
        out = p.output()
        t.ok(rc == 0 and tap.sanitizer_clean(out), "%s exits 0 on SIGTERM, sanitizer-clean" % name, out[-2000:])
        leaked = [k for k in seen_keys if k.lower() in out.lower()]
        t.ok(len(seen_keys) >= 32 and not leaked,
             "%s logged none of the %d keys served" % (name, len(seen_keys)))
        if name == "skip-a":
            ids = re.findall(r"key [0-9a-f]{32} for SAE_B discarded unused", out)
            t.ok(re.search(r"stopped: \d+ key requests served \([1-9]\d* from the key pool\)", out) and
                 len(ids) == depth and (depth == 0 or "key pool: %d keys discarded unused (wiped)" % depth in out),
                 "skip-a logs at shutdown the %d keys it wiped unused (IDs at debug level)" % depth,
                 out[-1500:])


t.case("stop")(stop_all)
