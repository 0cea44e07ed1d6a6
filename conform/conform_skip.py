"""conform_skip.py — qkdlab-conform's SKIP suites (draft-cisco-skip-02).

`qkdlab-conform skip` checks two SKIP key providers of one link from the
encryptors' side, over TLS-PSK; `qkdlab-conform skip-client` grades what
a SKIP client did, from the request records skip-proxy writes with
`record = PATH` (skip-proxy.conf(5)).  Verdicts, selection and reports are
the main script's (`core`), as for the ETSI 014 suite.

Python's ssl module has no TLS-PSK: every exchange runs through
qkdlab-skip-probe(8) (lib/skip_client.c), one connection per request,
with the TLS version and suites each check asks for.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

DRAFT = "draft-cisco-skip-02"
HEX_RE = re.compile(r"^(?:[0-9a-fA-F]{2})+$")
# Table 1: the PSK suites (TLS 1.2 RECOMMENDED; TLS 1.3 REQUIRED).
TLS13_SUITE = "TLS_AES_256_GCM_SHA384"
TLS12_SUITES = ("TLS_DHE_PSK_WITH_AES_256_CBC_SHA384", "TLS_DHE_PSK_WITH_AES_256_CBC_SHA")
OSSL_TLS12 = {"TLS_DHE_PSK_WITH_AES_256_CBC_SHA384": "DHE-PSK-AES256-CBC-SHA384",
              "TLS_DHE_PSK_WITH_AES_256_CBC_SHA": "DHE-PSK-AES256-CBC-SHA"}
# Offers weaker than Table 1, each of which must be refused: fewer than 256
# key bits, no encryption, or a TLS version before 1.2.
WEAK_TLS12 = ("PSK-AES128-CBC-SHA256", "DHE-PSK-AES128-GCM-SHA256", "ECDHE-PSK-AES128-CBC-SHA256",
              "PSK-NULL-SHA384", "DHE-PSK-NULL-SHA384")
WEAK_OLD = (("1.1", "DHE-PSK-AES256-CBC-SHA:PSK-AES256-CBC-SHA"), ("1.0", "DHE-PSK-AES256-CBC-SHA:PSK-AES256-CBC-SHA"))
# A 64-bit authentication tag (RFC 8446 B.4; not Recommended by IANA).
WEAK_TLS13 = ("TLS_AES_128_CCM_8_SHA256",)


def sec(text):
    return "%s %s" % (DRAFT, text)


def redact(text):
    """Key material never printed: a "key" or "randomStr" becomes its length."""
    return re.sub(r'("(?:key|randomStr)"\s*:\s*)"([^"]*)"',
                  lambda m: '%s"<%d bytes>"' % (m.group(1), len(m.group(2)) // 2), text)


def parse_http(raw):
    """(status, {header: value}, body) of one HTTP/1.x answer, or None."""
    head, sep, rest = raw.partition(b"\r\n\r\n")
    if not sep or not head.startswith(b"HTTP/1."):
        return None
    lines = head.decode("latin-1").split("\r\n")
    try:
        status = int(lines[0].split()[1])
    except (IndexError, ValueError):
        return None
    headers = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        headers[k.strip().lower()] = v.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = b""
        while True:
            size, _, rest = rest.partition(b"\r\n")
            try:
                n = int(size.split(b";")[0], 16)
            except ValueError:
                return None
            if n == 0:
                break
            body, rest = body + rest[:n], rest[n + 2:]
    elif "content-length" in headers and headers["content-length"].isdigit():
        body = rest[:int(headers["content-length"])]
    else:
        body = rest
    return status, headers, body.decode("utf-8", "replace")


class Kp:
    """One key provider: where it is and the PSK this suite uses there."""

    def __init__(self, name, addr, psk_file, identity):
        self.name = name
        self.addr = addr
        self.psk_file = psk_file
        self.identity = identity
        self._id = None


class SkipTarget:
    """The two key providers of one link, as their encryptors see them."""

    transport_clause = sec("section 3")

    def __init__(self, args, core):
        self.core = core
        self.probe = args.probe
        self.timeout = args.timeout
        self.a = Kp("A", args.a, args.psk_a, args.identity_a)
        self.b = Kp("B", args.b, args.psk_b, args.identity_b)
        self.log = []
        self.notes = []
        self.tmp = tempfile.mkdtemp(prefix="qkdlab-conform-skip-")
        self.transport = None
        self._caps = {}
        for kp in (self.a, self.b):
            kp.identity, kp.psk = read_psk(kp.psk_file, kp.identity)

    def close(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def psk_file(self, kp, psk):
        """A PSK file for the probe: the right one, a wrong key or an
        identity the provider does not know."""
        if psk == "right":
            ident, key = kp.identity, kp.psk
        elif psk == "wrong":
            ident, key = kp.identity, bytes(b ^ 0x5a for b in kp.psk)
        else:
            ident, key = "qkdlab-conform-unknown-%s" % os.urandom(4).hex(), kp.psk
        p = os.path.join(self.tmp, "%s-%s.psk" % (kp.name, psk))
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("%s:%s\n" % (ident, key.hex()))
        return p

    def request(self, kp, method, path):
        """One request over the transport the provider serves: TLS 1.3
        with TLS_AES_256_GCM_SHA384, else TLS 1.2 with the Table 1
        suites, so that a provider without one is still checked above TLS
        (skip.tls.v13 and skip.tls.v12 judge the transports)."""
        if self.transport is not None:
            return self.exchange(kp, method, path, **self.transport)
        for tr in ({"version": "1.3"}, {"version": "1.2"}):
            r = self.exchange(kp, method, path, **tr)
            if r is not None:
                self.transport = tr
                return r
        return None

    def exchange(self, kp, method, path, version="1.3", ciphers=None, suites=None, psk="right"):
        """One request over a fresh TLS connection.  Returns a core.Resp
        with .tls = (version, suite), or None when no HTTP answer came."""
        argv = [self.probe, "-c", kp.addr, "-V", version, "-t", str(int(max(1, self.timeout)))]
        argv += ["-N"] if psk is None else ["-P", self.psk_file(kp, psk)]
        if ciphers:
            argv += ["-C", ciphers]
        if suites:
            argv += ["-S", suites]
        offer = "TLS %s%s%s, %s" % (version, " " + ciphers if ciphers else "", " " + suites if suites else "",
                                    "no PSK" if psk is None else "%s PSK of %r" % (
                                        psk if psk != "right" else "the", kp.identity)
                                    if psk != "unknown" else "an unknown PSK identity")
        sent = "%s %s at %s (%s)" % (method, path, kp.name, offer)
        req = ("%s %s HTTP/1.1\r\nHost: %s\r\nAccept: application/json\r\nConnection: close\r\n"
               % (method, path, kp.addr)).encode()
        req += b"Content-Length: 0\r\n\r\n" if method in ("POST", "PUT") else b"\r\n"
        try:
            r = subprocess.run(argv, input=req, capture_output=True, timeout=self.timeout * 2 + 5)
        except subprocess.TimeoutExpired:
            self.log.append((sent, "no answer within %gs" % (self.timeout * 2 + 5)))
            return None
        if r.returncode == 2 and not r.stdout.startswith(b"FAIL"):
            raise self.core.NotApplicable("qkdlab-skip-probe refused: %s" % r.stderr.decode(errors="replace").strip())
        first, _, rest = r.stdout.partition(b"\n")
        first = first.decode(errors="replace")
        if r.returncode == 2:
            raise self.core.NotApplicable("this machine's OpenSSL cannot offer %s" % offer)
        if not first.startswith("TLS "):
            self.log.append((sent, "handshake failed: %s" % first[5:]))
            return None
        tls = tuple(first.split()[1:3])
        got = parse_http(rest)
        if got is None:
            self.log.append((sent, "%s %s, then no HTTP answer (%d bytes)" % (tls + (len(rest),))))
            return None
        resp = self.core.Resp(*got)
        resp.tls = tls
        self.log.append((sent, "%s %s: %d %s" % (tls[0], tls[1], resp.status, redact(resp.body[:600]))))
        return resp

    def get(self, kp, path):
        r = self.request(kp, "GET", path)
        if r is None:
            raise self.core.Unreachable("%s (%s): no HTTP answer over TLS 1.3 or 1.2 with Table 1 suites "
                                        "and its PSK" % (kp.name, kp.addr))
        return r

    def caps(self, kp):
        if kp.name not in self._caps:
            r = self.get(kp, "/capabilities")
            if r.status != 200 or not isinstance(r.json, dict) or not isinstance(r.json.get("localSystemID"), str):
                raise self.core.Fail("GET /capabilities at %s answered %d without a localSystemID" % (
                    kp.name, r.status), sec("section 4.1"))
            self._caps[kp.name] = r.json
        return self._caps[kp.name]

    def sysid(self, kp):
        return self.caps(kp)["localSystemID"]

    def new_key(self, size=None):
        """(keyId, key bytes) taken at A for B."""
        q = "/key?remoteSystemID=%s" % self.sysid(self.b) + ("&size=%d" % size if size else "")
        return key_body(self.core, self.get(self.a, q), size or 256, sec("section 4.2 (Table 2)"))

    def fetch(self, key_id, kp=None):
        return self.get(kp or self.b, "/key/%s?remoteSystemID=%s" % (key_id, self.sysid(self.a)))


def read_psk(path, identity):
    """(identity, key) from "identity:hex" lines or a line of hex digits."""
    with open(path) as f:
        for ln in f:
            ln = ln.strip()
            if not ln or ln.startswith("#"):
                continue
            ident, colon, hx = ln.rpartition(":")
            if not colon:
                ident = None
            elif identity is not None and ident != identity:
                continue
            if not HEX_RE.match(hx):
                raise ValueError("%s: the PSK is not hex digits" % path)
            if (identity or ident) is None:
                raise ValueError("%s: a bare key needs --identity-a/--identity-b" % path)
            return identity or ident, bytes.fromhex(hx)
    raise ValueError("%s holds no PSK%s" % (path, " for %r" % identity if identity else ""))


def json_answer(core, r, clause):
    if r.status != 200:
        raise core.Fail("answered %d, want 200" % r.status, clause)
    if not isinstance(r.json, dict):
        raise core.Fail("the body is not a JSON object (RFC 8259)", clause)
    if r.ctype() != "application/json":
        raise core.Fail("Content-Type %r, not application/json" % r.ctype(), clause)
    return r.json


def key_body(core, r, bits, clause):
    """{"keyId": hex, "key": hex of `bits`} -> (keyId in lower case, bytes)."""
    j = json_answer(core, r, clause)
    kid, key = j.get("keyId"), j.get("key")
    if not isinstance(kid, str) or not HEX_RE.match(kid):
        raise core.Fail("keyId %r is not a hex string" % (kid,), sec("section 4.2 (keyId)"))
    if not isinstance(key, str) or not HEX_RE.match(key):
        raise core.Fail("key is not a hex string", sec("section 4.2 (key)"))
    if len(key) * 4 != bits:
        raise core.Fail("a key of %d bits, %d asked for (or the default)" % (len(key) * 4, bits),
                        sec("section 4.2 (size; default 256 bits)"))
    return kid.lower(), bytes.fromhex(key)


def status_is(core, r, code, clause, what):
    if r.status != code:
        raise core.Fail("%s: answered %d, want %d" % (what, r.status, code), clause)


# ---- the provider checks ------------------------------------------------------
def registrar(table):
    """A decorator adding (id, clause, title, function) to table."""
    def entry(cid, clause, title):
        def reg(fn):
            table.append((cid, clause, title, fn))
            return fn
        return reg
    return entry


CHECKS = []
check = registrar(CHECKS)


@check("skip.capabilities", "section 4.1", "GET /capabilities at both: every field with its type; each names the other")
def c_capabilities(t):
    core, cl = t.core, sec("section 4.1")
    import fnmatch
    caps = {}
    for kp in (t.a, t.b):
        j = json_answer(core, t.get(kp, "/capabilities"), cl)
        for f, typ, name in (("entropy", bool, "a boolean"), ("key", bool, "a boolean"),
                             ("algorithm", str, "a string"), ("localSystemID", str, "a string")):
            if not isinstance(j.get(f), typ):
                raise core.Fail("%s: %s missing or not %s" % (kp.name, f, name), cl)
        rs = j.get("remoteSystemID")
        if not isinstance(rs, list) or not rs or not all(isinstance(x, str) for x in rs):
            raise core.Fail("%s: remoteSystemID is not a non-empty array of strings" % kp.name, cl)
        if not j["key"]:
            raise core.Fail("%s: \"key\": false, a key provider without GET /key" % kp.name, cl)
        caps[kp.name] = j
        t._caps[kp.name] = j
    for me, peer in (("A", "B"), ("B", "A")):
        pid = caps[peer]["localSystemID"]
        if not any(fnmatch.fnmatchcase(pid, pat) for pat in caps[me]["remoteSystemID"]):
            raise core.Fail("%s's remoteSystemID %r does not match %s's localSystemID %r" % (
                me, caps[me]["remoteSystemID"], peer, pid), sec("section 4.1 (remoteSystemID, glob patterns)"))


@check("skip.key.new", "section 4.2", "GET /key?remoteSystemID= at A: a hex keyId and a 256-bit hex key, new each time")
def c_key_new(t):
    k1, k2 = t.new_key(), t.new_key()
    if k1[0] == k2[0] or k1[1] == k2[1]:
        raise t.core.Fail("two GET /key gave the same keyId or key",
                          sec("section 4.2 (the KP zeroizes a key once provided)"))


@check("skip.key.size", "section 4.2", "GET /key?remoteSystemID=&size=128 and 256: keys of that many bits")
def c_key_size(t):
    for bits in (128, 256):
        t.new_key(bits)


@check("skip.key.by_id", "section 4.2", "a key taken at A is fetched at B by keyId: the same key")
def c_key_by_id(t):
    kid, key = t.new_key()
    got = key_body(t.core, t.fetch(kid), 256, sec("section 4.2 (Table 2, /key/{keyId})"))
    if got[0] != kid or got[1] != key:
        raise t.core.Fail("B returned %s for keyId %s, not the key A gave" % (
            "another key" if got[0] == kid else "keyId %s" % got[0], kid), sec("section 4.2 (same keyId, same key)"))


@check("skip.key.once", "section 4.2", "a key is fetched by keyId once; the second fetch is 400")
def c_key_once(t):
    kid, _ = t.new_key()
    key_body(t.core, t.fetch(kid), 256, sec("section 4.2"))
    status_is(t.core, t.fetch(kid), 400, sec("section 4.2 (MUST zeroize once provided), Table 7 (400 key not found)"),
              "the second GET /key/%s" % kid)


@check("skip.entropy", "section 4.3", "GET /entropy and /entropy?minentropy=128: hex randomStr of that many bits")
def c_entropy(t):
    core, cl = t.core, sec("section 4.3")
    if not t.caps(t.a).get("entropy"):
        raise core.NotApplicable("A's capabilities say \"entropy\": false")
    for q, bits in (("", 256), ("?minentropy=128", 128)):
        j = json_answer(core, t.get(t.a, "/entropy" + q), cl)
        rs = j.get("randomStr")
        if not isinstance(rs, str) or not HEX_RE.match(rs) or len(rs) * 4 != bits:
            raise core.Fail("/entropy%s: randomStr is not %d bits of hex" % (q, bits), cl)
        if type(j.get("minentropy")) is not int or j["minentropy"] != bits:
            raise core.Fail("/entropy%s: minentropy %r, want %d" % (q, j.get("minentropy"), bits), cl)


@check("skip.error.unknown_key", "section 4.2, Table 7", "GET /key/{keyId} of a keyId never issued: 400")
def c_unknown_key(t):
    status_is(t.core, t.fetch(os.urandom(16).hex()), 400, sec("section 4.2, Table 7 (400 key not found)"),
              "a keyId never issued")


@check("skip.error.params", "section 4.2, Table 7",
       "bad parameters (no remoteSystemID, a size or keyId not a number or hex): 400")
def c_params(t):
    core, b = t.core, t.sysid(t.b)
    cl = sec("section 4.2, Table 7 (400)")
    for path, what in (("/key", "GET /key without remoteSystemID"),
                       ("/key?remoteSystemID=%s&size=abc" % b, "size=abc"),
                       ("/key?remoteSystemID=%s&size=-8" % b, "size=-8"),
                       ("/key/not-hex?remoteSystemID=%s" % t.sysid(t.a), "a keyId that is not hex")):
        status_is(core, t.get(t.a, path), 400, cl, what)


@check("skip.error.method", "section 4, Table 3", "POST, PUT and DELETE on the resources: 405 with Allow: GET")
def c_method(t):
    core = t.core
    for m, path in (("POST", "/key?remoteSystemID=%s" % t.sysid(t.b)), ("PUT", "/capabilities"),
                    ("DELETE", "/entropy")):
        r = t.request(t.a, m, path)
        if r is None:
            raise core.Fail("%s %s: no HTTP answer" % (m, path), sec("Table 3 (405)"))
        status_is(core, r, 405, sec("Table 3 (405: only GET)"), "%s %s" % (m, path))
        if "GET" not in [x.strip() for x in r.headers.get("allow", "").split(",")]:
            raise core.Fail("the 405 for %s has no Allow header naming GET" % m,
                            "RFC 9110 section 15.5.6 (a 405 MUST carry Allow)")


@check("skip.error.path", "section 4, Table 3", "paths not in Table 2 (/v1/key, /keys, /capabilities/x): 404")
def c_path(t):
    for path in ("/v1/key?remoteSystemID=%s" % t.sysid(t.b), "/keys", "/capabilities/x"):
        status_is(t.core, t.get(t.a, path), 404, sec("Table 3 (404: not a path of Table 2)"), "GET " + path)


@check("skip.tls.psk", "section 3", "the PSK is required: no PSK, an unknown identity and a wrong key get no answer")
def c_tls_psk(t):
    core = t.core
    t.get(t.a, "/capabilities")
    for psk, what in ((None, "a handshake offering no PSK (certificate suites)"),
                      ("unknown", "an unknown PSK identity"), ("wrong", "a wrong PSK")):
        for version in ("1.3", "1.2"):
            kw = {"ciphers": "DEFAULT"} if psk is None and version == "1.2" else {}
            if t.exchange(t.a, "GET", "/capabilities", version=version, psk=psk, **kw) is not None:
                raise core.Fail("%s got an HTTP answer over TLS %s" % (what, version),
                                sec("section 3, Table 1 (PSK authentication)"))


@check("skip.tls.v13", "section 3, Table 1", "TLS 1.3 with TLS_AES_256_GCM_SHA384 (PSK bound to SHA-384) is served")
def c_tls_v13(t):
    r = t.exchange(t.a, "GET", "/capabilities", version="1.3", suites=TLS13_SUITE)
    if r is None or r.tls != ("TLSv1.3", TLS13_SUITE):
        raise t.core.Fail("TLS 1.3 with %s and the PSK: %s" % (
            TLS13_SUITE, "no HTTP answer" if r is None else "negotiated %s %s" % r.tls),
            sec("section 3, Table 1 (TLS 1.3 TLS_AES_256_GCM_SHA384 REQUIRED)"))


@check("skip.tls.v12", "section 3, Table 1", "TLS 1.2: the Table 1 DHE-PSK suites are served")
def c_tls_v12(t):
    core = t.core
    ok = [s for s in TLS12_SUITES if (lambda r: r is not None and r.tls[1] == s)(
        t.exchange(t.a, "GET", "/capabilities", version="1.2", ciphers=OSSL_TLS12[s]))]
    if not ok:
        any12 = t.exchange(t.a, "GET", "/capabilities", version="1.2",
                           ciphers="PSK:DHE-PSK:ECDHE-PSK:!aNULL:!eNULL")
        if any12 is None:
            raise core.NotApplicable("TLS 1.2 is not served (the draft allows TLS 1.2 or 1.3)")
        raise core.Fail("TLS 1.2 is served (with %s) but with neither Table 1 PSK suite" % any12.tls[1],
                        sec("section 3, Table 1 (TLS 1.2 PSK suites RECOMMENDED)"))
    if len(ok) < len(TLS12_SUITES):
        t.notes.append("only %s of Table 1's TLS 1.2 PSK suites" % ", ".join(ok))


@check("skip.tls.weak", "section 3, Table 1",
       "nothing weaker: TLS 1.0/1.1, 128-bit or NULL TLS 1.2 suites, CCM_8 refused")
def c_tls_weak(t):
    core, cl = t.core, sec("section 3, Table 1 (TLS 1.2 or 1.3, AES-256 suites)")
    # One offer per version holds all its weak suites: a provider that
    # accepts any of them completes that handshake.
    offers = [(v, c, None) for v, c in WEAK_OLD] + [("1.2", ":".join(WEAK_TLS12), None)] + \
             [("1.3", None, ":".join(WEAK_TLS13))]
    tried = 0
    for version, ciphers, suites in offers:
        try:
            r = t.exchange(t.a, "GET", "/capabilities", version=version, ciphers=ciphers, suites=suites)
        except core.NotApplicable:
            continue                    # this OpenSSL cannot make that offer
        tried += 1
        if r is not None:
            raise core.Fail("TLS %s with %s got an HTTP answer (negotiated %s %s)" % (
                version, ciphers or suites, r.tls[0], r.tls[1]), cl)
    if tried == 0:
        raise core.NotApplicable("this machine's OpenSSL can make none of the weak offers")
    r = t.exchange(t.a, "GET", "/capabilities", version="1.3", suites="TLS_AES_128_GCM_SHA256")
    if r is not None:
        t.notes.append("TLS 1.3 TLS_AES_128_GCM_SHA256 is served (RFC 8446 9.1 makes it mandatory to "
                       "implement; Table 1 lists only TLS_AES_256_GCM_SHA384)")


# ---- grading a client from skip-proxy's records ----------------------------------
GRADES = []
grade = registrar(GRADES)


class Records:
    """The request records of one or two key providers (skip-proxy record)."""

    transport_clause = sec("section 3")

    def __init__(self, paths, core):
        self.core = core
        self.log = []
        self.notes = []
        self.recs = []
        self.files = len(paths)
        for p in paths:
            with open(p) as f:
                for n, ln in enumerate(f, 1):
                    if not ln.strip():
                        continue
                    try:
                        r = json.loads(ln)
                    except ValueError:
                        raise ValueError("%s:%d: not a JSON record" % (p, n)) from None
                    if not isinstance(r, dict) or not isinstance(r.get("provider"), str):
                        raise ValueError("%s:%d: not a skip-proxy request record" % (p, n))
                    r["_at"] = "%s:%d" % (os.path.basename(p), n)
                    self.recs.append(r)
        self.providers = sorted({r["provider"] for r in self.recs})

    def show(self, r, why):
        self.log.append(("%s: %s %s at %s by %r over %s %s" % (
            r["_at"], r.get("method"), r.get("target"), r["provider"], r.get("identity"),
            r.get("tls_version"), r.get("tls_suite")),
            "%s: %s%s" % (why, r.get("status"), " " + json.dumps(r["error"]) if r.get("error") else "")))


def need_records(t):
    if not t.recs:
        raise t.core.NotApplicable("the records hold no request")


@grade("skip-client.requests", "section 4, Table 2, Table 3",
       "every request is GET on a path of Table 2")
def g_requests(t):
    need_records(t)
    bad = [r for r in t.recs
           if r.get("method") != "GET" or r.get("route") in (None, "other") or r.get("status") in (404, 405)]
    for r in bad[:4]:
        t.show(r, "not a GET of Table 2" if r.get("method") == "GET" else "method %s" % r.get("method"))
    if bad:
        raise t.core.Fail("%d of %d requests are not GET on a path of Table 2" % (len(bad), len(t.recs)),
                          sec("section 4, Table 2 (only GET; these paths)"))


@grade("skip-client.params", "section 4.2, 4.3, Table 2",
       "parameters: remoteSystemID on /key, sizes in bits, no request refused as malformed")
def g_params(t):
    need_records(t)
    bad = []
    for r in t.recs:
        if r.get("route") in ("key", "key_by_id") and not r.get("remote"):
            bad.append((r, "no remoteSystemID"))
        elif r.get("route") in ("key", "key_by_id", "entropy") and r.get("status") == 400:
            bad.append((r, "refused"))
        elif r.get("route") in ("key", "key_by_id") and r.get("remote") == r.get("provider"):
            bad.append((r, "remoteSystemID names this key provider itself"))
    for r, why in bad[:4]:
        t.show(r, why)
    if bad:
        raise t.core.Fail("%d requests with wrong parameters (first: %s)" % (len(bad), bad[0][1]),
                          sec("section 4.2, Table 2 (remoteSystemID, size in bits)"))


@grade("skip-client.tls", "section 3, Table 1", "TLS 1.2 or 1.3 with a suite of Table 1")
def g_tls(t):
    need_records(t)
    bad, other = [], set()
    for r in t.recs:
        v, s = r.get("tls_version"), r.get("tls_suite")
        if v == "TLSv1.3" and s == TLS13_SUITE or v == "TLSv1.2" and s in TLS12_SUITES:
            continue
        if v == "TLSv1.2" and isinstance(s, str) and "_PSK_WITH_AES_256_" in s:
            other.add(s)
            continue
        bad.append(r)
    for r in bad[:4]:
        t.show(r, "not a Table 1 suite")
    if bad:
        raise t.core.Fail("%d requests over %s %s, not a TLS version and suite of Table 1" % (
            len(bad), bad[0].get("tls_version"), bad[0].get("tls_suite")),
            sec("section 3, Table 1 (TLS 1.3: TLS_AES_256_GCM_SHA384; TLS 1.2: DHE-PSK AES-256)"))
    if other:
        t.notes.append("TLS 1.2 AES-256 PSK suites not in Table 1: %s" % ", ".join(sorted(other)))


@grade("skip-client.peer_fetch", "section 4.2",
       "every key taken at one provider is fetched by keyId at the other, naming the first")
def g_peer_fetch(t):
    core = t.core
    taken = [r for r in t.recs if r.get("route") == "key" and r.get("status") == 200]
    if t.files < 2 and len(t.providers) < 2:
        raise core.NotApplicable("the records of one key provider only: give both providers' records")
    if not taken:
        raise core.NotApplicable("no key was taken")
    fetched = {(r.get("key_id"), r["provider"], r.get("remote")) for r in t.recs
               if r.get("route") == "key_by_id" and r.get("status") == 200}
    lost = [r for r in taken if (r.get("key_id"), r.get("remote"), r["provider"]) not in fetched]
    for r in lost[:4]:
        t.show(r, "key %s never fetched at %s" % (r.get("key_id"), r.get("remote")))
    if lost:
        raise core.Fail("%d of %d keys taken were never fetched by keyId at the peer provider" % (
            len(lost), len(taken)), sec("section 4.2 (the peer fetches the key by keyId)"))


# ---- command lines -----------------------------------------------------------------
def find_probe(explicit):
    """qkdlab-skip-probe: --probe, $QKDLAB_SKIP_PROBE, beside this suite
    (installed: ../sbin), the build tree of a checkout, then PATH."""
    if explicit:
        return explicit
    if os.environ.get("QKDLAB_SKIP_PROBE"):
        return os.environ["QKDLAB_SKIP_PROBE"]
    here = os.path.dirname(os.path.realpath(sys.argv[0]))
    for d in (here, os.path.join(here, "..", "sbin"), os.path.join(here, "..", "build", "conform")):
        p = os.path.join(d, "qkdlab-skip-probe")
        if os.access(p, os.X_OK):
            return p
    return shutil.which("qkdlab-skip-probe")


def common(p, core):
    p.add_argument("--version", action="version", version="qkdlab-conform (qkdlab) " + core._version())
    p.add_argument("--list", action="store_true", help="list the checks (after --only/--skip) and exit")
    p.add_argument("--only", action="append", default=[], metavar="ID",
                   help="run only checks matching ID (an id or a glob); repeatable")
    p.add_argument("--skip", action="append", default=[], metavar="ID", help="leave out checks matching ID; repeatable")
    p.add_argument("--format", choices=("text", "junit", "tap"), default="text", help="report format (default text)")
    p.add_argument("--output", "-o", metavar="FILE", help="write the report to FILE (default standard output)")


def report(core, args, results):
    out = open(args.output, "w") if args.output else sys.stdout
    {"text": core.fmt_text, "junit": core.fmt_junit, "tap": core.fmt_tap}[args.format](results, out)
    if out is not sys.stdout:
        out.close()
    return 1 if any(r["verdict"] == "fail" for r in results) else 0


def main_skip(argv, core):
    p = argparse.ArgumentParser(
        prog="qkdlab-conform skip",
        description="Conformance suite for two SKIP key providers of one link (%s), run from "
                    "their encryptors' side over TLS-PSK. Exit status: 0 all checks passed or were not "
                    "applicable, 1 a check failed, 2 a bad command line." % DRAFT)
    common(p, core)
    p.add_argument("--timeout", type=float, default=10.0, help="seconds per exchange (default 10)")
    p.add_argument("--probe", metavar="PATH", help="qkdlab-skip-probe to use (default: found beside the suite)")
    g = p.add_argument_group("the target")
    for s in ("a", "b"):
        g.add_argument("--%s" % s, metavar="HOST:PORT", help="key provider %s" % s.upper())
        g.add_argument("--psk-%s" % s, metavar="FILE",
                       help="the PSK at %s: identity:hex lines, or hex digits with --identity-%s" % (s.upper(), s))
        g.add_argument("--identity-%s" % s, metavar="ID", help="the PSK identity at %s (default: the file's first)"
                       % s.upper())
    args = p.parse_args(argv)
    checks = core.select(args.only, args.skip, CHECKS)
    if args.list:
        for cid, clause, title, _ in checks:
            print("%-28s %-24s %s" % (cid, clause, title))
        return 0
    if not checks:
        p.error("no check matches --only/--skip")
    missing = ["--" + n.replace("_", "-") for n in ("a", "b", "psk_a", "psk_b") if not getattr(args, n)]
    if missing:
        p.error("missing %s" % ", ".join(missing))
    for n in ("a", "b"):
        if not re.match(r"^(\[[0-9a-fA-F:.]+\]|[^:\s]+):\d{1,5}$", getattr(args, n)):
            p.error("--%s %s: HOST:PORT expected" % (n, getattr(args, n)))
    args.probe = find_probe(args.probe)
    if not args.probe or not os.access(args.probe, os.X_OK):
        p.error("qkdlab-skip-probe not found: give --probe PATH or set QKDLAB_SKIP_PROBE")
    try:
        target = SkipTarget(args, core)
    except (OSError, ValueError) as e:
        p.error(str(e))
    try:
        results = core.run(target, checks, DRAFT)
    finally:
        target.close()
    return report(core, args, results)


def main_client(argv, core):
    p = argparse.ArgumentParser(
        prog="qkdlab-conform skip-client",
        description="Grades a SKIP client (%s) from the request records of the key providers it "
                    "used (skip-proxy's record = PATH). Exit status: 0 nothing failed, 1 a grade failed, "
                    "2 a bad command line or an unreadable record." % DRAFT)
    common(p, core)
    p.add_argument("--record", action="append", default=[], metavar="FILE",
                   help="a key provider's request record; give both providers' (repeatable)")
    args = p.parse_args(argv)
    checks = core.select(args.only, args.skip, GRADES)
    if args.list:
        for cid, clause, title, _ in checks:
            print("%-28s %-24s %s" % (cid, clause, title))
        return 0
    if not checks:
        p.error("no check matches --only/--skip")
    if not args.record:
        p.error("missing --record")
    try:
        target = Records(args.record, core)
    except (OSError, ValueError) as e:
        p.error(str(e))
    return report(core, args, core.run(target, checks, DRAFT))


def main(name, argv, core):
    return main_skip(argv, core) if name == "skip" else main_client(argv, core)
