#!/usr/bin/python3
"""it_kme_link_state.py — kme_link_up says what the link can do.

KME_A (the pool authority) reaches KME_B directly; KME_B reaches KME_A
through a TCP relay in this test.  With the relay gone, KME_A's syncs
still reach KME_B, but KME_B cannot reconnect to KME_A: both KMEs then
report the link down (kme_link_up 0, the admin view with the reason),
KME_B's masters get 503 naming the link and KME_B's Status has no keys;
KME_A's own masters, whose keys go A -> B, are still served.  With the
relay back, both report it up again.  curl is the SAE.
"""
import json
import os
import socket
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import kmelab as kc  # noqa: E402
from kmelab import tap  # noqa: E402


class Relay:
    """A TCP relay on loopback that can be cut (every connection closed)."""

    def __init__(self, port, target):
        self.port, self.target = port, target
        self.socks = []
        self.lock = threading.Lock()
        self.ls = None

    def start(self):
        ls = socket.socket()
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind(("127.0.0.1", self.port))
        ls.listen(16)
        self.ls = ls
        threading.Thread(target=self._accept, args=(ls,), daemon=True).start()

    def _accept(self, ls):
        while True:
            try:
                c, _ = ls.accept()
            except OSError:
                return
            try:
                u = socket.create_connection(("127.0.0.1", self.target))
            except OSError:
                c.close()
                continue
            with self.lock:
                self.socks += [c, u]
            for a, b in ((c, u), (u, c)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a, b):
        try:
            while True:
                d = a.recv(65536)
                if not d:
                    break
                b.sendall(d)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self):
        try:
            self.ls.shutdown(socket.SHUT_RDWR)  # wakes the accept()
        except OSError:
            pass
        self.ls.close()
        with self.lock:
            for s in self.socks:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()
            self.socks = []


t = tap.Tap()
lab = kc.Lab(t, {
    "KME_A": {"saes": ["SAE_A"], "peers": ["KME_B"]},
    "KME_B": {"saes": ["SAE_B"], "peers": ["KME_A"]},
})
A, B = lab.kmes["KME_A"], lab.kmes["KME_B"]
relay = Relay(tap.free_port(), A.link_port)
with open(B.conf) as f:
    conf = f.read().replace("127.0.0.1:%d" % A.link_port, "127.0.0.1:%d" % relay.port)
with open(B.conf, "w") as f:
    f.write(conf)
relay.start()
t.cleanup(relay.cut)
lab.start()


def up(k, peer):
    return k.metric('kme_link_up{peer="%s"}' % peer)


def view(k):
    _, body = k.admin("GET", "/admin/v1/faults")
    return json.loads(body)["peers"][0]


t.ok(tap.wait_for(lambda: up(A, "KME_B") == 1 and up(B, "KME_A") == 1, 15, 0.2), "link up at both KMEs")
r = lab.curl("KME_B", "SAE_B", "/api/v1/keys/SAE_A/enc_keys")
t.eq(r.code, 200, "KME_B's master gets keys through the relay")

relay.cut()
t.ok(tap.wait_for(lambda: up(B, "KME_A") == 0, 10, 0.2),
     "relay cut: KME_B, which cannot reconnect, reports kme_link_up 0")
t.ok(tap.wait_for(lambda: up(A, "KME_B") == 0, 10, 0.2),
     "and KME_A, whose syncs still arrive, reports it down too")
vb, va = view(B), view(A)
t.ok(not vb["link_up"] and "KME_A" in vb.get("reason", ""), "KME_B's admin view gives the reason", vb)
t.ok(not va["link_up"] and "has not reached" in va.get("reason", ""),
     "KME_A's admin view says KME_B has not reached it", va)
r = lab.curl("KME_B", "SAE_B", "/api/v1/keys/SAE_A/enc_keys")
t.ok(r.code == 503 and "KME link to KME_A" in (r.message() or ""), "KME_B's master: 503 naming the link", r)
r = lab.curl("KME_B", "SAE_B", "/api/v1/keys/SAE_A/status")
t.eq((r.code, r.json and r.json["stored_key_count"]), (200, 0), "KME_B's Status: no key to be had")
r = lab.curl("KME_A", "SAE_A", "/api/v1/keys/SAE_B/enc_keys")
t.eq(r.code, 200, "KME_A's master, whose keys go A -> B, is still served")

relay.start()
t.ok(tap.wait_for(lambda: up(A, "KME_B") == 1 and up(B, "KME_A") == 1, 15, 0.2),
     "relay back: both report the link up again")
r = lab.curl("KME_B", "SAE_B", "/api/v1/keys/SAE_A/enc_keys")
t.eq(r.code, 200, "KME_B's master gets keys again")

kc.stop_all(t, lab)
t.done()
