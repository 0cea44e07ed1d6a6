#!/usr/bin/python3
"""it_sec_wipe.py — key bytes do not outlive their use in the daemons'
memory (docs/SECURITY.md §2 "Key material wiped after use").

A kme-sim pair on the on-demand path (every key crosses the KME link in a
message) with a skip-proxy in front of each KME.  Keys are used over every
path the daemons serve:
  - ETSI 014 GET: SAE_A is master at KME_A, the pool authority, whose
    reserve messages carry the keys to KME_B; SAE_B fetches them there;
  - ETSI 014 POST: SAE_B is master at KME_B, the keys come back from KME_A
    in the alloc reply; SAE_A fetches them there (POST dec_keys);
  - SKIP: router A's /key at skip-proxy A, router B's /key/{keyId} at
    skip-proxy B (ETSI 014 underneath, hex towards the routers);
  - one POST of 200 keys at KME_B: KME_A's alloc reply (18 KB) reaches
    KME_B's libcurl in pieces, and KME_A's link thread handles 200 keys at
    once (16 of them, from both ends and the middle, are searched for).
When the last answer is in and the clients have closed their connections
(the daemons' keep-alive connections to each other stay up), the test waits
past kme-sim's once-a-second expiry transaction, which overwrites SQLite's
row buffer, and reads every daemon's writable memory through
/proc/PID/mem: heap, thread stacks, other anonymous mappings, the
libraries' data.  Each key used is searched for raw, in base64 and in hex,
half a key at a time, so that a copy partly overwritten still counts.

The bound is zero.  Every copy a scan of this kind finds is one the
project could remove: its own buffers, and the libraries' heap blocks,
freed through lib/secmem (OpenSSL, libcurl, cJSON, SQLite) or through a
wiping free callback (libmicrohttpd's response bodies; its connection
pools are zeroed between requests and unmapped at close).  What the
project cannot wipe is outside the process (the kernel's socket buffers,
the store's -wal file on disk) and is not scanned.  So a failure is a new
copy — the project's, or a library's after an upgrade — to be looked at
(the message names the daemon, the form and the mapping), not a bound to
raise.  A control checks that the scan sees what is there: a key reserved
and not yet fetched is found in KME_B's store pages.

Under ASan the allocator's quarantine keeps freed blocks as they were, so
there any free without a wipe shows.  Daemons must exit 0 on SIGTERM.
"""
import base64
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import kmelab as kc  # noqa: E402
import skiplab as sk  # noqa: E402
from kmelab import tap  # noqa: E402

t = tap.Tap()
tap.require_bins(t, "kme-sim/kme-sim", "skip-proxy/skip-proxy")
if not os.access("/proc/self/mem", os.R_OK):
    t.skip_all("no /proc/PID/mem here")

BIG = 200	# keys in one alloc: its reply (18 KB) reaches KME_B's libcurl in pieces
extra = {"prefetch_keys": "0", "max_key_per_request": "256", "key_rate": "1000000", "max_key_count": "4096"}
lab = kc.Lab(t, {"KME_A": {"saes": ["SAE_A"], "peers": ["KME_B"], "extra": extra},
                 "KME_B": {"saes": ["SAE_B"], "peers": ["KME_A"], "extra": extra}})
lab.start()
# The skip-proxies use the KMEs' PKI: SAE certificates from sae-ca.
sl = sk.Lab(t, "sec-wipe")
sl.pki = lab.pki
psk = sl.write_psk("routers.psk", [("router-a", sk.PSK_A), ("router-b", sk.PSK_B)])
sess = {"a": sl.write_session("a.pem", sk.PSK_A), "b": sl.write_session("b.pem", sk.PSK_B)}
skip_port = {"a": tap.free_port(), "b": tap.free_port()}
common = "psk_file = %s\nkme_verify_host = yes\nkme_timeout = 5s\n" % psk
proxies = {
    "a": sl.start_proxy("skip-a", sl.proxy_conf("skip-a", "SAE_A", ["SAE_B"], "https://localhost:%d" %
                                                lab.kmes["KME_A"].port, skip_port["a"], common), skip_port["a"]),
    "b": sl.start_proxy("skip-b", sl.proxy_conf("skip-b", "SAE_B", ["SAE_A"], "https://localhost:%d" %
                                                lab.kmes["KME_B"].port, skip_port["b"], common), skip_port["b"]),
}
t.ok(lab.wait_keys("KME_A", "SAE_A", "SAE_B", BIG + 40) is not None, "the KME pair has key material")

used = []	# (how, raw key bytes)


def enc_dec_get(n):
    for _ in range(n):
        r = lab.curl("KME_A", "SAE_A", "/api/v1/keys/SAE_B/enc_keys")
        k = r.json["keys"][0]
        r2 = lab.curl("KME_B", "SAE_B", "/api/v1/keys/SAE_A/dec_keys?key_ID=" + k["key_ID"])
        if r2.code != 200 or r2.json["keys"][0] != k:
            return t.ok(False, "014 GET: SAE_B gets at KME_B the key SAE_A got at KME_A", (r, r2))
        used.append(("014 GET", base64.b64decode(k["key"])))
    t.ok(True, "014 GET: SAE_B got at KME_B the %d keys SAE_A got at KME_A" % n)


def enc_dec_post(n):
    for _ in range(n):
        r = lab.curl("KME_B", "SAE_B", "/api/v1/keys/SAE_A/enc_keys", method="POST", body={"number": 2})
        ks = r.json["keys"]
        r2 = lab.curl("KME_A", "SAE_A", "/api/v1/keys/SAE_B/dec_keys", method="POST",
                      body={"key_IDs": [{"key_ID": k["key_ID"]} for k in ks]})
        if r2.code != 200 or r2.json["keys"] != ks:
            return t.ok(False, "014 POST: SAE_A gets at KME_A the keys SAE_B got at KME_B", (r, r2))
        used.extend(("014 POST", base64.b64decode(k["key"])) for k in ks)
    t.ok(True, "014 POST: SAE_A got at KME_A the %d keys SAE_B got at KME_B (2 a request)" % (2 * n))


def big_batch():
    r = lab.curl("KME_B", "SAE_B", "/api/v1/keys/SAE_A/enc_keys", method="POST", body={"number": BIG})
    ks = r.json["keys"] if r.code == 200 else []
    r2 = lab.curl("KME_A", "SAE_A", "/api/v1/keys/SAE_B/dec_keys", method="POST",
                  body={"key_IDs": [{"key_ID": k["key_ID"]} for k in ks]})
    if not t.ok(len(ks) == BIG and r2.code == 200 and r2.json["keys"] == ks,
                "014 POST of %d keys at KME_B, fetched at KME_A in one POST" % BIG, (r, r2)):
        return
    # A sample, to keep the scan short: both ends and the middle.
    for i in list(range(4)) + list(range(20, BIG - 4, 24)) + list(range(BIG - 4, BIG)):
        used.append(("014 POST of %d" % BIG, base64.b64decode(ks[i]["key"])))


def skip_keys(n):
    for _ in range(n):
        r = sk.s_client(skip_port["a"], sk.http_req("GET", "/key?remoteSystemID=SAE_B"),
                        identity="router-a", session=sess["a"])
        k = r.json() if r is not None and r.status == 200 else {}
        r2 = sk.s_client(skip_port["b"], sk.http_req("GET", "/key/%s?remoteSystemID=SAE_A" % k.get("keyId")),
                         identity="router-b", session=sess["b"])
        if not k or r2 is None or r2.status != 200 or r2.json() != k:
            return t.ok(False, "SKIP: router B gets at skip-proxy B the key router A got at skip-proxy A",
                        (r, r2))
        used.append(("SKIP", bytes.fromhex(k["key"])))
    t.ok(True, "SKIP: router B got at skip-proxy B the %d keys router A got at skip-proxy A" % n)


t.case("014 GET")(enc_dec_get, 6)
t.case("014 POST")(enc_dec_post, 2)
t.case("SKIP")(skip_keys, 4)
t.case("014 POST of %d" % BIG)(big_batch)
# The control: reserved at KME_B, never fetched, so still in its store.
r = lab.curl("KME_A", "SAE_A", "/api/v1/keys/SAE_B/enc_keys")
live = base64.b64decode(r.json["keys"][0]["key"]) if r.code == 200 else None
t.eq(len(used), 30, "30 keys to look for: 6 used over 014 GET, 4 over 014 POST, 4 over SKIP, 16 of "
     "the %d in one POST" % BIG)

# Past the next expiry transaction of both KMEs (once a second).
time.sleep(3)


def halves(raw):
    """(form, needle): each half of the key raw, in base64 and in hex."""
    b64 = base64.b64encode(raw)
    hx = raw.hex().encode()
    h = len(raw) // 2
    g = len(raw) // 3 // 2 * 4	# base64 of whole 3-octet groups only
    return [("raw", raw[:h]), ("raw", raw[h:]), ("base64", b64[:g]), ("base64", b64[g:2 * g]),
            ("hex", hx[:2 * h]), ("hex", hx[2 * h:])]


def regions(pid):
    """Readable, writable, resident mappings up to 1 GiB (not ASan's shadow)."""
    out, cur = [], None
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            m = re.match(r"([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)", line)
            if m:
                cur = [int(m.group(1), 16), int(m.group(2), 16), m.group(3), m.group(4) or "anon", 0]
                out.append(cur)
            elif line.startswith("Rss:") and cur is not None:
                cur[4] = int(line.split()[1])
    # Key bytes are only ever written: read-only mappings cannot hold them.
    return [r for r in out if r[2].startswith("rw") and r[4] > 0 and r[1] - r[0] <= 1 << 30]


def scan(pid, keys):
    """({key index: ["form at mapping", ...]}, MiB read) for every half found."""
    found, size = {}, 0
    needles = [(i, form, nd) for i, raw in enumerate(keys) for form, nd in halves(raw)]
    step, over = 16 << 20, 64
    with open("/proc/%d/mem" % pid, "rb", 0) as mem:
        for lo, hi, _, name, _ in regions(pid):
            size += hi - lo
            for off in range(lo, hi, step):
                try:
                    mem.seek(off)
                    data = mem.read(min(step + over, hi - off))
                except OSError:
                    break
                for i, form, nd in needles:
                    at = data.find(nd)
                    if 0 <= at < step:
                        found.setdefault(i, []).append("%s at %s %x" % (form, name, off + at))
    return found, size / (1 << 20)


daemons = [("KME_A", lab.kmes["KME_A"].proc), ("KME_B", lab.kmes["KME_B"].proc),
           ("skip-proxy A", proxies["a"]), ("skip-proxy B", proxies["b"])]
keys = [raw for _, raw in used]
t0 = time.monotonic()
for name, proc in daemons:
    if not t.ok(proc.alive(), "%s is still running" % name, proc.output()[-2000:]):
        continue
    found, mib = scan(proc.p.pid, keys + ([live] if live else []))
    t.diag("%s: %.0f MiB scanned" % (name, mib))
    if live is not None and name == "KME_B":
        t.ok(len(keys) in found, "control: KME_B's memory holds the key reserved and not yet fetched "
             "(the scan sees the store's pages)", found)
    left = {i: f for i, f in found.items() if i < len(keys)}
    t.eq(["%s key %d: %s" % (used[i][0], i, "; ".join(f[:4])) for i, f in sorted(left.items())], [],
         "%s: no byte of the %d keys used is left in its memory (raw, base64, hex; "
         "half a key at a time)" % (name, len(keys)))
t.diag("scanned 4 daemons in %.1f s" % (time.monotonic() - t0))

for name, proc in daemons:
    t.eq(proc.stop(), 0, "%s exits 0 on SIGTERM (leak-free under ASan)" % name)
