#!/usr/bin/python3
"""kme_double.py — a test double of an ETSI GS QKD 014 KME pair (Python's
ssl and http.server, not project code) for qkdlab-conform's self-test.

Both KMEs live in one process, sharing one key store, each on its own
loopback port with mutual TLS; the SAE ID is the client certificate's
subject CN.  Unbroken it behaves as the specification asks; `--break ID`
makes it violate exactly the conformance check ID (the BREAKS table says
how), so the self-test can show that every check fails when it should;
`--garbage` answers every request with 200 and an empty JSON array.

    kme_double.py --pki DIR --kme-a ID --kme-b ID --sae-a ID --sae-b ID
                  --sae-c ID --port-a P --port-b P [--break CHECK | --garbage]

It prints "ready" once both ports listen.
"""
import argparse
import base64
import json
import os
import socket
import ssl
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

# How each switch breaks the double (one check's worth each).
BREAKS = {
    "etsi014.status.fields": "status_extension is an array, not an object",
    "etsi014.status.ids": "KME B reports the same source/target KME IDs as KME A",
    "etsi014.status.limits": "stored_key_count exceeds max_key_count",
    "etsi014.enc.get": "GET enc_keys without parameters gives a key of half the default size",
    "etsi014.enc.post": "POST enc_keys with {} is refused (400)",
    "etsi014.dec.get": "the first dec_keys GET returns the key with one byte changed",
    "etsi014.dec.post": "dec_keys POST of three or more IDs returns them in reverse order",
    "etsi014.dec.case": "key_IDs are looked up case-sensitively",
    "etsi014.once.dec": "a key for a single slave is not removed when the slave gets it",
    "etsi014.once.enc": "GET enc_keys?number=2 hands out the previous such answer again",
    "etsi014.limits.number": "number beyond max_key_per_request is served",
    "etsi014.limits.size": "a size beyond max_key_size is served",
    "etsi014.limits.mult8": "a size not a multiple of 8 gets 400 with another message",
    "etsi014.error.unknown_key": "a key_ID never issued gets 404",
    "etsi014.error.partial": "dec_keys of a known and an unknown key_ID removes the known one",
    "etsi014.error.malformed": "malformed JSON gets 400 with a text/plain body",
    "etsi014.auth.third_sae": "any SAE of the slave's KME may fetch the key",
    "etsi014.auth.wrong_master": "dec_keys ignores the master SAE ID in the URL",
    "etsi014.auth.other_kme": "an SAE of the other KME is served here",
    "etsi014.ext.optional": "an unknown extension_optional gets 400 with another message",
    "etsi014.ext.mandatory": "an unknown extension_mandatory is ignored (200)",
    "etsi014.multicast": "additional_slave_SAE_IDs are accepted but not given the keys",
    "etsi014.tls.client_cert": "a client without a certificate is let in (and gets 401)",
    "etsi014.tls.versions": "TLS 1.1 is accepted",
}

KEY_SIZE, MIN_SIZE, MAX_SIZE, PER_REQUEST, MAX_COUNT = 256, 64, 1024, 16, 1000


class Pair:
    def __init__(self, args):
        self.a = args
        self.brk = args.brk
        self.lock = threading.Lock()
        # key_ID -> {"key": bytes, "master": SAE, "kme": target KME, "slaves": set}
        self.keys = {}
        self.issued = set()
        self.saes = {args.kme_a: {args.sae_a}, args.kme_b: {args.sae_b, args.sae_c}}
        self.first_dec_get = True
        self.last_pair = None

    def kme_of(self, sae):
        return next((k for k, s in self.saes.items() if sae in s), None)

    def status(self, kme, caller, slave):
        other = self.a.kme_b if kme == self.a.kme_a else self.a.kme_a
        st = {"source_KME_ID": kme, "target_KME_ID": other, "master_SAE_ID": caller, "slave_SAE_ID": slave,
              "key_size": KEY_SIZE, "stored_key_count": MAX_COUNT, "max_key_count": MAX_COUNT,
              "max_key_per_request": PER_REQUEST, "max_key_size": MAX_SIZE, "min_key_size": MIN_SIZE,
              "max_SAE_ID_count": 1}
        if self.brk == "etsi014.status.fields":
            st["status_extension"] = []
        if self.brk == "etsi014.status.ids" and kme == self.a.kme_b:
            st["source_KME_ID"], st["target_KME_ID"] = self.a.kme_a, self.a.kme_b
        if self.brk == "etsi014.status.limits":
            st["stored_key_count"] = MAX_COUNT + 1
        return 200, st

    def enc(self, kme, caller, slave, req, plain_get):
        b = self.brk
        number, size = req.get("number", 1), req.get("size", KEY_SIZE)
        extra = req.get("additional_slave_SAE_IDs", [])
        if type(number) is not int or type(size) is not int or not isinstance(extra, list) or number < 1:
            return 400, {"message": "number and size are positive integers"}
        if b == "etsi014.enc.get" and plain_get == "bare":
            size = KEY_SIZE // 2
        if number > PER_REQUEST and b != "etsi014.limits.number":
            return 400, {"message": "number exceeds max_key_per_request"}
        if size % 8:
            return 400, {"message": "size is wrong" if b == "etsi014.limits.mult8" else "size shall be a multiple of 8"}
        if size < MIN_SIZE or (size > MAX_SIZE and b != "etsi014.limits.size"):
            return 400, {"message": "size out of range"}
        if len(extra) > 1:
            return 400, {"message": "too many additional_slave_SAE_IDs"}
        for e in req.get("extension_mandatory", []):
            if b != "etsi014.ext.mandatory":
                return 400, {"message": "not all extension_mandatory parameters are supported"}
        if req.get("extension_optional") and b == "etsi014.ext.optional":
            return 400, {"message": "unsupported extension"}
        if self.kme_of(slave) is None or self.kme_of(slave) == kme or \
                any(self.kme_of(e) is None for e in extra):
            return 400, {"message": "unknown slave SAE"}
        if b == "etsi014.once.enc" and plain_get == "number=2":
            if self.last_pair:
                return 200, {"keys": self.last_pair}
        slaves = {slave} | (set(extra) if b != "etsi014.multicast" else set())
        out = []
        with self.lock:
            for _ in range(number):
                kid = str(uuid.uuid4())
                raw = os.urandom(size // 8)
                self.keys[kid] = {"key": raw, "master": caller, "slaves": set(slaves), "multi": bool(extra)}
                self.issued.add(kid)
                out.append({"key_ID": kid, "key": base64.b64encode(raw).decode()})
        if plain_get == "number=2":
            self.last_pair = out
        return 200, {"keys": out}

    def dec(self, kme, caller, master, ids, method):
        b = self.brk
        with self.lock:
            found = []
            for i in ids:
                if not isinstance(i, str):
                    return 400, {"message": "key_ID is a string"}
                k = i if b == "etsi014.dec.case" else i.lower()
                e = self.keys.get(k)
                if e is not None and (e["master"] == master or b == "etsi014.auth.wrong_master"):
                    found.append((k, e))
                elif b == "etsi014.error.unknown_key" and len(ids) == 1 and k not in self.issued:
                    return 404, {"message": "no such key"}
                else:
                    if b == "etsi014.error.partial":
                        for fk, _ in found:
                            self.keys.pop(fk, None)
                    return 400, {"message": "one or more keys specified are not found on KME"}
            mine = self.saes[kme]
            for _, e in found:
                if caller not in e["slaves"] and not (b == "etsi014.auth.third_sae" and caller in mine):
                    return 401, None
            out = []
            for k, e in found:
                e["slaves"].discard(caller)
                keep = b == "etsi014.once.dec" and not e["multi"]
                if not e["slaves"] and not keep:
                    del self.keys[k]
                raw = e["key"]
                if b == "etsi014.dec.get" and method == "GET" and self.first_dec_get:
                    raw = bytes([raw[0] ^ 1]) + raw[1:]
                out.append({"key_ID": k, "key": base64.b64encode(raw).decode()})
            if method == "GET":
                self.first_dec_get = False
        if b == "etsi014.dec.post" and len(out) >= 3:
            out.reverse()
        return 200, {"keys": out}


def handler_for(pair, kme):
    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def reply(self, code, obj, ctype="application/json"):
            body = b"" if obj is None else (obj if isinstance(obj, bytes) else json.dumps(obj).encode())
            self.send_response(code)
            if body:
                self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def caller(self):
            cert = self.connection.getpeercert()
            if not cert:
                return None
            return dict(x[0] for x in cert["subject"]).get("commonName")

        def route(self, method):
            if pair.a.garbage:
                return self.reply(200, [])
            caller = self.caller()
            u = urlsplit(self.path)
            parts = u.path.split("/")
            if caller is None or len(parts) != 6 or parts[1:4] != ["api", "v1", "keys"]:
                return self.reply(401 if caller is None else 400, None if caller is None else {"message": "no such method"})
            sae, op = parts[4], parts[5]
            if pair.kme_of(caller) != kme and pair.brk != "etsi014.auth.other_kme":
                return self.reply(401, None)
            q = {k: v[-1] for k, v in parse_qs(u.query).items()}
            body = None
            if method == "POST":
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    body = json.loads(raw)
                    if not isinstance(body, dict):
                        raise ValueError
                except ValueError:
                    if pair.brk == "etsi014.error.malformed":
                        return self.reply(400, b"bad json", "text/plain")
                    return self.reply(400, {"message": "the body is not a JSON object"})
            if op == "status" and method == "GET":
                return self.reply(*pair.status(kme, caller, sae))
            if op == "enc_keys":
                if method == "POST":
                    if body == {} and pair.brk == "etsi014.enc.post":
                        return self.reply(400, {"message": "empty request"})
                    return self.reply(*pair.enc(kme, caller, sae, body, None))
                try:
                    req = {k: int(v) for k, v in q.items() if k in ("number", "size")}
                except ValueError:
                    return self.reply(400, {"message": "number and size are integers"})
                shape = "bare" if not q else "number=2" if set(q) == {"number"} and q["number"] == "2" else None
                return self.reply(*pair.enc(kme, caller, sae, req, shape))
            if op == "dec_keys":
                if method == "POST":
                    ids = [x.get("key_ID") if isinstance(x, dict) else None for x in body.get("key_IDs") or []]
                    if not ids:
                        return self.reply(400, {"message": "key_IDs is required"})
                else:
                    if "key_ID" not in q:
                        return self.reply(400, {"message": "key_ID is required"})
                    ids = [q["key_ID"]]
                if any(not isinstance(i, str) or len(i) != 36 for i in ids):
                    return self.reply(400, {"message": "a key_ID is not a UUID"})
                return self.reply(*pair.dec(kme, caller, sae, ids, method))
            return self.reply(400, {"message": "no such method"})

        def do_GET(self):
            self.route("GET")

        def do_POST(self):
            self.route("POST")

        def setup(self):
            super().setup()
            self.connection.settimeout(10)

    return H


class TLSServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, addr, handler, ctx):
        self.ctx = ctx
        super().__init__(addr, handler)

    def get_request(self):
        sock, addr = self.socket.accept()
        # Headers and body go out in two writes: no Nagle delay between them.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return self.ctx.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr

    def finish_request(self, request, client_address):
        try:
            request.settimeout(10)
            request.do_handshake()
        except (OSError, ssl.SSLError):
            return
        super().finish_request(request, client_address)

    def handle_error(self, request, client_address):
        pass


def context(pki, kme, brk):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(pki, kme + ".crt"), os.path.join(pki, kme + ".key"))
    ctx.load_verify_locations(os.path.join(pki, "sae-ca.crt"))
    ctx.verify_mode = ssl.CERT_OPTIONAL if brk == "etsi014.tls.client_cert" else ssl.CERT_REQUIRED
    if brk == "etsi014.tls.versions":
        import warnings
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        ctx.minimum_version = ssl.TLSVersion.TLSv1_1
    else:
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def main():
    p = argparse.ArgumentParser()
    for n in ("pki", "kme-a", "kme-b", "sae-a", "sae-b", "sae-c"):
        p.add_argument("--" + n, required=True)
    p.add_argument("--port-a", type=int, required=True)
    p.add_argument("--port-b", type=int, required=True)
    p.add_argument("--break", dest="brk", choices=sorted(BREAKS))
    p.add_argument("--garbage", action="store_true", help="answer every request 200 with []")
    a = p.parse_args()
    pair = Pair(a)
    servers = [TLSServer(("127.0.0.1", port), handler_for(pair, kme), context(a.pki, kme, a.brk))
               for kme, port in ((a.kme_a, a.port_a), (a.kme_b, a.port_b))]
    for s in servers:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    print("ready", flush=True)
    sys.stdin.read()        # runs until its parent closes our standard input


if __name__ == "__main__":
    main()
