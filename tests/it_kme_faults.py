#!/usr/bin/python3
"""it_kme_faults.py — pool rate and ceiling, faults and expiry of a kme-sim pair.

The pair runs with a small pool (key_rate 2560 bit/s = 10 keys of 256 bits
a second, max_key_count 20), key_ttl 2 s and link_timeout 1 s, so that
the pool's ceiling, its draining and refilling at the configured rate, the
503s of an empty pool, of a link taken down, slowed or starved through the
admin interface, the recovery once the fault clears, and the expiry of
unfetched keys can all be seen in a few seconds.  curl is the SAE.
"""
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import kmelab as kc  # noqa: E402
from kmelab import tap  # noqa: E402

RATE_KEYS = 10.0
extra = {"key_rate": "2560", "max_key_count": "20", "key_ttl": "2s", "link_timeout": "1s",
         "sync_interval": "100ms"}
t = tap.Tap()
lab = kc.Lab(t, {
    "KME_A": {"saes": ["SAE_A"], "peers": ["KME_B"], "extra": extra},
    "KME_B": {"saes": ["SAE_B"], "peers": ["KME_A"], "extra": extra},
})
lab.start()
A, B = lab.kmes["KME_A"], lab.kmes["KME_B"]
ENC_A = "/api/v1/keys/SAE_B/enc_keys"
ENC_B = "/api/v1/keys/SAE_A/enc_keys"


def count(kme, master, slave):
    r = lab.curl(kme, master, "/api/v1/keys/%s/status" % slave)
    return r.json["stored_key_count"] if r.code == 200 else -1


def enc_a(**q):
    qs = "&".join("%s=%s" % i for i in q.items())
    return lab.curl("KME_A", "SAE_A", ENC_A + ("?" + qs if qs else ""))


def wait_enc(kme, master, path, pred, timeout=8.0):
    """Polls enc_keys until pred(resp); returns the last response."""
    last = [None]

    def probe():
        last[0] = lab.curl(kme, master, path)
        return pred(last[0])
    tap.wait_for(probe, timeout, 0.2)
    return last[0]


# --- ceiling and mirror
t.ok(lab.wait_keys("KME_A", "SAE_A", "SAE_B", 20, timeout=15) == 20, "pool fills to max_key_count (20)")
t.ok(lab.wait_keys("KME_B", "SAE_B", "SAE_A", 20, timeout=5) == 20, "the peer's Status shows the same 20")
time.sleep(1.0)
t.eq(count("KME_A", "SAE_A", "SAE_B"), 20, "and it stays at the ceiling")

# --- draining, 503 when empty.  The pool refills at RATE_KEYS while it is
# drained, so how many keys are served depends on how long the drain takes:
# each request asks for more than can grow during one round trip (so the
# drain ends however slow the machine is), and the 503's own account of the
# pool ("N bits requested, M in the pool") closes the books exactly:
# served + left = the full pool + what grew in the measured time.
BITS = 256
t0 = time.monotonic()
r = enc_a(number=16)
t.eq(r.code, 200, "16 keys at once: 200")
n, last, ask = 16, None, 2
for _ in range(40):
    q0 = time.monotonic()
    last = enc_a(number=ask)
    if last.code != 200:
        break
    n += ask
    ask = max(2, min(128, 2 + int(3 * RATE_KEYS * (time.monotonic() - q0))))
t1 = time.monotonic()
t.eq(last.code, 503, "the pool runs dry: 503")
t.ok("not enough key material" in (last.message() or ""), "503 says why: %s" % last.message())
m = re.search(r"(\d+) bits requested, (\d+) in the pool", last.message() or "")
want, left = (int(m.group(1)), int(m.group(2))) if m else (0, -1)
# Growth: the time measured, plus the first sync after the first take, which
# may count up to one sync_interval of the time before it (0.1 s; 0.4 s of
# scheduling delay allowed on a loaded machine).
grown = (n * BITS + left - 20 * BITS) / BITS
limit = RATE_KEYS * (t1 - t0 + 0.5)
t.ok(m and 0 <= left < want and 0 <= grown <= limit,
     "the pool plus what grew meanwhile was served, no more: %d keys served, %.2f left, so %.2f grew "
     "in %.2f s (at most %.1f)" % (n, left / BITS, grown, t1 - t0, limit), last.message())

# --- refill at the configured rate: pool bits at the authority, sampled
# while the pool is below its ceiling (20); each sample is timed at the
# middle of its request.  The pool is emptied first (starve, then clear),
# since a slow drain may have left up to a request's worth in it.
POOL = 'kme_pool_bits{peer="KME_B"}'
A.fault("KME_B", "starve")
t.ok(tap.wait_for(lambda: A.metric(POOL) == 0, 10), "pool emptied for the refill measurement")
A.clear("KME_B", "starve")


def sample():
    a = time.monotonic()
    v = A.metric(POOL)
    return v, (a + time.monotonic()) / 2


c0, t0 = sample()
c1, t1 = c0, t0
while t1 - t0 < 1.5:
    time.sleep(0.25)
    c, tc = sample()
    if c >= 18 * BITS:                # near the ceiling: stop before it clips
        break
    c1, t1 = c, tc
rate = (c1 - c0) / max(t1 - t0, 1e-3) / BITS
t.ok(t1 - t0 >= 0.5 and 0.6 * RATE_KEYS <= rate <= 1.4 * RATE_KEYS,
     "pool refills at key_rate: %.1f keys/s over %.2f s (want %.0f)" % (rate, t1 - t0, RATE_KEYS))
# The pool grows meanwhile: the metric must lie between two Status reads.
s0 = count("KME_A", "SAE_A", "SAE_B")
m = A.metric('kme_pool_keys{peer="KME_B"}')
s1 = count("KME_A", "SAE_A", "SAE_B")
t.ok(m is not None and s0 - 1 <= m <= s1 + 1, "metric kme_pool_keys agrees with Status (%s <= %s <= %s)" % (s0, m, s1))

# --- link down, at KME_A
pre = lab.curl("KME_A", "SAE_A", ENC_A)          # a key recorded at KME_B before the fault
pre_t = time.monotonic()
st, _ = A.fault("KME_B", "down")
t.eq(st, 200, "admin: fault down accepted")
r = enc_a()
t.ok(r.code == 503 and "down (fault injected" in (r.message() or ""), "link down: enc_keys at KME_A 503 says so", r)
r = wait_enc("KME_B", "SAE_B", ENC_B, lambda x: x.code == 503, 15)
t.ok(r.code == 503 and "KME link to KME_A" in (r.message() or "") and "down" in r.message(), "the peer notices: 503 at KME_B", r)
# key_ttl is 2 s (whole seconds): the key must be asked for before it may
# have expired, or the answer says nothing about the fault.  On a loaded
# machine KME_B can take that long to notice the link is down.
age = time.monotonic() - pre_t
if age < 1.8:
    r = lab.curl("KME_B", "SAE_B", "/api/v1/keys/SAE_A/dec_keys?key_ID=" + pre.json["keys"][0]["key_ID"])
    t.eq((r.code, r.json and r.json["keys"]), (200, pre.json["keys"]),
         "keys recorded before the fault are still served (%.2f s after enc_keys)" % age)
else:
    t.skip("keys recorded before the fault are still served",
           "KME_B noticed the fault %.2f s after enc_keys, near key_ttl (2 s)" % age)
c0 = count("KME_A", "SAE_A", "SAE_B")
time.sleep(1.5)
t.ok(count("KME_A", "SAE_A", "SAE_B") <= c0, "no key material grows while the link is down")
t.eq(A.metric('kme_link_up{peer="KME_B"}'), 0.0, "metric kme_link_up is 0")
A.clear("KME_B")
r = wait_enc("KME_A", "SAE_A", ENC_A, lambda x: x.code == 200)
t.eq(r.code, 200, "fault cleared: KME_A serves again")
r = wait_enc("KME_B", "SAE_B", ENC_B, lambda x: x.code == 200)
t.eq(r.code, 200, "and KME_B too")

# --- slow link
A.fault("KME_B", "slow", delay_ms=300)
t0 = time.monotonic()
r = wait_enc("KME_A", "SAE_A", ENC_A, lambda x: x.code == 200)
took = time.monotonic() - t0
t.ok(r.code == 200 and took >= 0.3, "slow (300 ms): still served, slower (%.2fs)" % took)
A.clear("KME_B", "slow")
B.fault("KME_A", "slow", delay_ms=1500)     # above link_timeout (1 s)
r = wait_enc("KME_A", "SAE_A", ENC_A, lambda x: x.code == 503, 6)
t.ok(r.code == 503 and any(w in (r.message() or "") for w in ("timed out", "no contact")),
     "slower than link_timeout: 503 saying why (%s)" % r.message())
B.clear("KME_A")
r = wait_enc("KME_A", "SAE_A", ENC_A, lambda x: x.code == 200)
t.eq(r.code, 200, "slow cleared: served again")

# --- starved pool
A.fault("KME_B", "starve")
r = enc_a()
t.ok(r.code == 503 and "starved" in (r.message() or ""), "starve: 503 says the pool is starved", r)
t.ok(tap.wait_for(lambda: count("KME_B", "SAE_B", "SAE_A") == 0, 10), "the peer's Status shows the empty pool")
A.clear("KME_B")
t.ok(lab.wait_keys("KME_A", "SAE_A", "SAE_B", 5, timeout=15) is not None, "starve cleared: the pool refills")
B.fault("KME_A", "starve")
r = lab.curl("KME_B", "SAE_B", ENC_B)
t.ok(r.code == 503 and "starved" in (r.message() or ""), "starve set at the non-authority side: 503 there", r)
t.ok(tap.wait_for(lambda: count("KME_A", "SAE_A", "SAE_B") == 0, 10), "... and the authority empties the pool")
B.clear("KME_A")
t.ok(lab.wait_keys("KME_B", "SAE_B", "SAE_A", 3, timeout=15) is not None, "cleared: the pool refills")

# --- expiry of unfetched keys
r = wait_enc("KME_A", "SAE_A", ENC_A, lambda x: x.code == 200)
kid = r.json["keys"][0]["key_ID"] if r.code == 200 else "none"
# key_ttl 2 s (whole seconds), swept every second: gone after 2..3 s on an
# idle machine.  No other key is taken from here on, so the store at KME_B
# empties when this one (the last) expires; asking for it would fetch it.
t.ok(tap.wait_for(lambda: B.metric("kme_reserved_keys") == 0, 20, 0.2), "KME_B's store empties (key_ttl)")
r = lab.curl("KME_B", "SAE_B", "/api/v1/keys/SAE_A/dec_keys?key_ID=" + kid)
t.eq((r.code, r.message()), (400, "one or more keys specified are not found on KME"),
     "a key not fetched within key_ttl is gone")
t.ok((B.metric("kme_keys_expired_total") or 0) >= 1, "metric kme_keys_expired_total counts it")

# --- admin refuses bad input
st, body = A.admin("POST", "/admin/v1/fault?peer=NOPE&kind=down")
t.eq(st, 400, "admin: unknown peer refused")
st, body = A.admin("POST", "/admin/v1/fault?peer=KME_B&kind=melt")
t.eq(st, 400, "admin: unknown fault kind refused")
st, body = A.admin("POST", "/admin/v1/fault?peer=KME_B&kind=slow")
t.eq(st, 400, "admin: slow without delay_ms refused")

kc.stop_all(t, lab)
t.done()
