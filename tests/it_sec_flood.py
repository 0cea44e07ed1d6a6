#!/usr/bin/python3
"""it_sec_flood.py — a trickle flood at the TLS front (lib/tls_front.c)
with legitimate clients served alongside.

Hundreds of connections from other loopback addresses (127.0.0.2..5) each
send a TLS record header and then one byte a second, never finishing the
ClientHello, and reconnect a second after they are dropped: the flood that,
with a per-read timeout, held every slot for as long as it lasted.  Meanwhile
an SAE (kme-sim's ETSI 014 port) and a router (skip-proxy's SKIP port, TLS
1.3 PSK through `openssl s_client`) make one request per new connection
from 127.0.0.1; at least 95 % must be served.  The daemons run with small
limits so that both the per-source and the total limit are reached: the
handshakes of the flood must be ended (by their deadline, or evicted to
make room), and the refusals logged as counts per interval, not a line
each.  Load stays bounded (a few hundred sockets, a few hundred bytes/s).
"""
import os
import re
import selectors
import socket
import ssl
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import kmelab as kc  # noqa: E402
import skiplab as sk  # noqa: E402
from kmelab import tap  # noqa: E402

t = tap.Tap()
tap.require_bins(t, "kme-sim/kme-sim", "skip-proxy/skip-proxy")

SOURCES = ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"]
LIMITS = {"max_connections": "160", "max_connections_per_source": "64",
          "handshake_timeout": "3s", "request_timeout": "3s"}


class Trickle(threading.Thread):
    """n connections per source address to port, one byte a second each."""

    def __init__(self, port, per_source):
        super().__init__(daemon=True)
        self.port = port
        self.per_source = per_source
        self.stop = threading.Event()
        self.opened = 0
        self.dropped = 0
        self.lifetimes = []

    def _open(self, src):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.bind((src, 0))
            s.connect_ex(("127.0.0.1", self.port))
        except OSError:
            s.close()
            return None
        self.opened += 1
        return s

    def run(self):
        sel = selectors.DefaultSelector()
        conns = {}     # socket -> [source, opened at, bytes sent]
        pending = []   # (reopen at, source)
        for src in SOURCES:
            for _ in range(self.per_source):
                pending.append((0.0, src))
        last_tick = 0.0
        while not self.stop.is_set():
            now = time.monotonic()
            for when, src in [p for p in pending if p[0] <= now]:
                pending.remove((when, src))
                s = self._open(src)
                if s is None:
                    pending.append((now + 1, src))
                    continue
                conns[s] = [src, now, 0]
                sel.register(s, selectors.EVENT_READ)
            if now - last_tick >= 1.0:
                last_tick = now
                for s, st in list(conns.items()):
                    # A record header announcing 512 octets and the start of
                    # a ClientHello, then one octet of it a second.
                    data = (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" if st[2] == 0
                            else b"\x00")
                    try:
                        st[2] += s.send(data)
                    except (BlockingIOError, InterruptedError):
                        pass
                    except OSError:
                        self._drop(sel, conns, pending, s, now)
            for key, _ in sel.select(timeout=0.1):
                s = key.fileobj
                try:
                    if s.recv(4096):
                        continue
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    pass
                self._drop(sel, conns, pending, s, time.monotonic())
        for s in conns:
            s.close()

    def _drop(self, sel, conns, pending, s, now):
        src, opened, _ = conns.pop(s)
        sel.unregister(s)
        s.close()
        self.dropped += 1
        self.lifetimes.append(now - opened)
        pending.append((now + 1.0, src))   # bounded: reconnect a second later


def run_flood(port, per_source, one_request, n_requests, name):
    fl = Trickle(port, per_source)
    fl.start()
    time.sleep(2.5)   # every slot the flood can take is taken
    served = 0
    t0 = time.monotonic()
    for _ in range(n_requests):
        if one_request():
            served += 1
        time.sleep(0.1)
    took = time.monotonic() - t0
    time.sleep(1)
    fl.stop.set()
    fl.join()
    t.ok(fl.opened >= len(SOURCES) * per_source,
         "%s: the flood opened %d trickling connections (%d at a time)" % (name, fl.opened, len(SOURCES) * per_source))
    t.ok(served >= 0.95 * n_requests,
         "%s: %d of %d requests served during the flood (%.1f s; at least 95 %%)" % (name, served, n_requests, took))
    longest = max(fl.lifetimes) if fl.lifetimes else None
    t.ok(fl.dropped > 0 and longest is not None and longest < 3.0 + 2.0,
         "%s: no trickling handshake outlived the 3 s handshake deadline by more than the sweep "
         "(%d dropped, longest %s s)" % (name, fl.dropped, longest and "%.1f" % longest))
    return fl


def deadline_check(port, name):
    """A few trickling handshakes under every limit: ended by the deadline."""
    fl = Trickle(port, 4)
    fl.start()
    time.sleep(6)
    fl.stop.set()
    fl.join()
    lt = fl.lifetimes
    t.ok(len(lt) >= 16 and all(2.5 <= x <= 3.0 + 1.5 for x in lt),
         "%s: 16 trickling handshakes are ended by the 3 s handshake deadline (%s)"
         % (name, ", ".join("%.1f" % x for x in sorted(set(round(x, 1) for x in lt)))))


SUMMARY_RE = (r"in the last 10 s: (\d+) connections refused at the limit of \d+, (\d+) at the limit "
              r"of \d+ per source; (\d+) unauthenticated connections ended to make room; "
              r"(\d+) handshakes past")


def logged_counts(output):
    """The interval summaries in a daemon's log, and the connections they
    say were ended (evicted or past the handshake deadline)."""
    summaries = re.findall(SUMMARY_RE, output)
    return summaries, sum(int(s[2]) + int(s[3]) for s in summaries)


def counts_logged(proc):
    """Waits (bounded) until the daemon has logged an interval's counts
    with connections ended in it: the counts come every 10 s."""
    return tap.wait_for(lambda: logged_counts(proc.output())[1] > 0, 15, 0.2)


def check_log(output, name):
    summaries, ended = logged_counts(output)
    t.ok(summaries and ended > 0,
         "%s: refusals, evictions and missed deadlines are logged as counts (%d lines, %d connections ended)"
         % (name, len(summaries), ended))
    per_conn = len(re.findall(r"TLS handshake with 127\.0\.0\.[2-5] refused", output))
    t.ok(per_conn <= 10 * (len(summaries) + 1),
         "%s: at most 10 handshake failures logged one by one per interval (%d)" % (name, per_conn))


# ---- kme-sim, ETSI 014
lab = kc.Lab(t, {
    "KME_A": {"saes": ["SAE_A"], "peers": ["KME_B"], "extra": dict(LIMITS, threads="2")},
    "KME_B": {"saes": ["SAE_B"], "peers": ["KME_A"], "extra": {"threads": "2"}},
})
lab.start()
A = lab.kmes["KME_A"]
t.ok(lab.wait_keys("KME_A", "SAE_A", "SAE_B", 2) is not None, "pool fills (the lab works)")
ctx = ssl.create_default_context(cafile=os.path.join(lab.pki, "sae-ca.crt"))
ctx.load_cert_chain(os.path.join(lab.pki, "SAE_A.crt"), os.path.join(lab.pki, "SAE_A.key"))


def kme_request():
    try:
        s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", A.port), timeout=5),
                            server_hostname="localhost")
        s.sendall(b"GET /api/v1/keys/SAE_B/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        out = b""
        while True:
            c = s.recv(65536)
            if not c:
                break
            out += c
        s.close()
        return out.startswith(b"HTTP/1.1 200")
    except (OSError, ssl.SSLError):
        return False


deadline_check(A.port, "kme-sim")
# 4 sources x 100: over 64 per source, and 400 over 160 in total.
run_flood(A.port, 100, kme_request, 60, "kme-sim")
counts_logged(A.proc)
check_log(A.proc.output(), "kme-sim")

# ---- skip-proxy, SKIP over TLS 1.3 PSK
slab = sk.Lab(t, "sec-flood")
slab.pki = lab.pki
psk_file = slab.write_psk("routers.psk", [("router1", sk.PSK_A)])
sess = slab.write_session("router1.pem", sk.PSK_A)
sport = tap.free_port()
extra = "psk_file = %s\n" % psk_file + "".join("%s = %s\n" % kv for kv in LIMITS.items())
conf = slab.proxy_conf("skip", "SAE_A", ["SAE_B"], A.url(""), sport, extra)
sp = slab.start_proxy("skip-flood", conf, sport)


def skip_request():
    r = sk.s_client(sport, sk.http_req("GET", "/key?remoteSystemID=SAE_B"), identity="router1",
                    session=sess, timeout=10)
    return r is not None and r.status == 200


deadline_check(sport, "skip-proxy")
run_flood(sport, 64, skip_request, 56, "skip-proxy")
counts_logged(sp)
check_log(sp.output(), "skip-proxy")

rc = sp.stop()
t.ok(rc == 0 and tap.sanitizer_clean(sp.output()), "skip-proxy exits 0, sanitizer-clean", sp.output()[-2000:])
kc.stop_all(t, lab)
t.ok(all(tap.sanitizer_clean(k.proc.output()) for k in lab.kmes.values()), "kme-sim logs hold no sanitizer report")
t.done()
