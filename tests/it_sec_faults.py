#!/usr/bin/python3
"""it_sec_faults.py — kill -9 of skip-proxy under load, with a key audit
(docs/SECURITY.md, faults; kme-sim's own kill -9 is it_kme_crash.py).

Two kme-sims (KME_A serves SAE_A, KME_B serves SAE_B) and a skip-proxy
per site.  Three routers (openssl s_client, TLS 1.3 external PSK) take
keys at site A with GET /key while a fourth fetches each one at site B
with GET /key/{keyId}.  Site A's proxy, then site B's, is killed with
SIGKILL in the middle of that stream and restarted on the same port.

The audit, from what the routers saw:
  - no keyId and no key value was ever handed out twice at site A;
  - every key site A handed out is obtained at site B exactly once, with
    the same bytes (none lost), whichever proxy was killed meanwhile —
    except the one key B's proxy may have taken from its KME but not yet
    passed on when it was killed (ETSI 014 dec_keys is destructive);
  - both proxies serve again within a few seconds of the restart.
"""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import kmelab as kc  # noqa: E402
import skiplab as sk  # noqa: E402
from kmelab import tap  # noqa: E402

t = tap.Tap()
tap.require_bins(t, "kme-sim/kme-sim", "skip-proxy/skip-proxy")

lab = kc.Lab(t, {
    "KME_A": {"saes": ["SAE_A"], "peers": ["KME_B"], "extra": {"threads": "4"}},
    "KME_B": {"saes": ["SAE_B"], "peers": ["KME_A"], "extra": {"threads": "4"}},
})
lab.start()
A, B = lab.kmes["KME_A"], lab.kmes["KME_B"]
t.ok(lab.wait_keys("KME_A", "SAE_A", "SAE_B", 20) is not None, "pool fills")

slab = sk.Lab(t, "sec-faults")
slab.pki = lab.pki
psk = slab.write_psk("routers.psk", [("router-a", sk.PSK_A), ("router-b", sk.PSK_B)])
sess = {"a": slab.write_session("a.pem", sk.PSK_A), "b": slab.write_session("b.pem", sk.PSK_B)}
port = {"a": tap.free_port(), "b": tap.free_port()}
conf = {
    "a": slab.proxy_conf("skip-a", "SAE_A", ["SAE_B"], A.url(""), port["a"],
                         "psk_file = %s\nkme_timeout = 3s\nkme_retries = 1\n" % psk),
    "b": slab.proxy_conf("skip-b", "SAE_B", ["SAE_A"], B.url(""), port["b"],
                         "psk_file = %s\nkme_timeout = 3s\nkme_retries = 1\n" % psk),
}
proxy = {s: slab.start_proxy("skip-" + s, conf[s], port[s]) for s in "ab"}
runs = {"a": 1, "b": 1}


def get(site, target):
    ident = "router-" + site
    try:
        return sk.s_client(port[site], sk.http_req("GET", target), identity=ident, session=sess[site], timeout=10)
    except Exception:  # noqa: BLE001 - a refused or cut connection
        return None


lock = threading.Lock()
taken = []          # (keyId, key) as site A's routers got them
fetched = {}        # keyId -> [key, ...] as site B's router got them
pending = []        # keyIds not yet fetched at B
inflight = [None]   # the keyId site B's router is asking for right now
lost_ok = set()     # keyIds in flight at B when its proxy was killed
stop = threading.Event()


def master():
    while not stop.is_set():
        r = get("a", "/key?remoteSystemID=SAE_B&size=256")
        if r is not None and r.status == 200:
            k = r.json()
            with lock:
                taken.append((k["keyId"], k["key"]))
                pending.append(k["keyId"])
        else:
            time.sleep(0.05)


def slave():
    while not stop.is_set() or pending:
        with lock:
            kid = pending[0] if pending else None
        if kid is None:
            time.sleep(0.05)
            continue
        inflight[0] = kid
        r = get("b", "/key/%s?remoteSystemID=SAE_A" % kid)
        inflight[0] = None
        if r is not None and r.status == 200:
            with lock:
                fetched.setdefault(kid, []).append(r.json()["key"])
                pending.remove(kid)
        elif stop.is_set() and time.monotonic() > stop_at + 15:
            return      # give up on what is left; the audit will say so
        else:
            time.sleep(0.1)


def restart(site):
    if site == "b" and inflight[0] is not None:
        lost_ok.add(inflight[0])
    proxy[site].kill9()
    runs[site] += 1
    proxy[site] = slab.start_proxy("skip-%s-%d" % (site, runs[site]), conf[site], port[site])


threads = [threading.Thread(target=master) for _ in range(3)] + [threading.Thread(target=slave)]
for th in threads:
    th.start()
stop_at = time.monotonic() + 60
time.sleep(1.5)
n_before = len(taken)
restart("a")
t0 = time.monotonic()
ok = tap.wait_for(lambda: len(taken) > n_before + 2, 15, 0.05)
t.ok(ok, "site A serves keys again after kill -9 and restart (%.1f s)" % (time.monotonic() - t0))
time.sleep(1.0)
n_before = len(fetched)
restart("b")
t0 = time.monotonic()
ok = tap.wait_for(lambda: len(fetched) > n_before + 2, 15, 0.05)
t.ok(ok, "site B serves keys again after kill -9 and restart (%.1f s)" % (time.monotonic() - t0))
time.sleep(1.0)
stop_at = time.monotonic()
stop.set()
for th in threads:
    th.join(40)

ids = [k for k, _ in taken]
vals = [v for _, v in taken]
t.ok(len(taken) >= 10, "the routers took %d keys at site A" % len(taken))
t.eq(len(set(ids)), len(ids), "no keyId handed out twice at site A")
t.eq(len(set(vals)), len(vals), "no key value handed out twice at site A")
# A dec_keys is destructive at the KME: a key skip-proxy B had taken from
# KME_B when it was killed, before answering its router, is gone by design
# (docs/SECURITY.md, faults).  Only that one key may be missing.
lost = [k for k in ids if k not in fetched]
t.ok(set(lost) <= lost_ok, "every key site A handed out was obtained at site B (none lost; %d in flight at the "
     "kill, %d of them gone)" % (len(lost_ok), len(lost)), "lost %r, in flight %r" % (lost, lost_ok))
twice = [k for k, v in fetched.items() if len(v) != 1]
t.eq(twice, [], "each was obtained at site B exactly once")
differ = [k for k, v in taken if fetched.get(k, [v])[0] != v]
t.eq(differ, [], "with the same bytes at both sites")
again = get("b", "/key/%s?remoteSystemID=SAE_A" % ids[0]) if ids else None
t.ok(again is not None and again.status == 400, "a key already fetched is refused at B after the restarts", again)

for site in "ab":
    rc = proxy[site].stop()
    t.ok(rc == 0 and tap.sanitizer_clean(proxy[site].output()), "restarted skip-%s exits 0, sanitizer-clean" % site,
         proxy[site].output()[-1500:])
kc.stop_all(t, lab)
