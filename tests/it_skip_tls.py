#!/usr/bin/python3
"""it_skip_tls.py — skip-proxy's router side, driven by `openssl s_client`
and curl: every TLS suite of draft-cisco-skip-02 Table 1 (PSK and
certificate modes), wrong/unknown PSKs refused at the handshake, the SKIP
status codes that need no key (404, 405, 400s), /capabilities, /entropy,
keep-alive, 503 when the KME is unreachable, metrics, start-up checks, and a
clean (sanitizer-clean) exit on SIGTERM.  Keys end to end: it_skip_keys.py.
"""
import os
import re
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import skiplab as sk  # noqa: E402
from skiplab import tap  # noqa: E402

t = tap.Tap()
tap.require_bins(t, "skip-proxy/skip-proxy")

lab = sk.Lab(t, "skip-tls")
lab.make_pki(kmes=("KME_A",), saes=("SAE_A", "router1"))
rsa_crt, rsa_key = lab.make_rsa_server_cert()
psk_file = lab.write_psk("routers.psk", [("router1", sk.PSK_A), ("router2", sk.PSK_B)])
good_sess = lab.write_session("router1.pem", sk.PSK_A)
wrong_sess = lab.write_session("wrong.pem", sk.PSK_B)
dead_kme = tap.free_port()	# nothing listens here: the KME is "down"

port_psk, port_ec, port_rsa, port_metrics = (tap.free_port() for _ in range(4))
conf_psk = lab.proxy_conf("psk", "SAE_A", ["SAE_B", "KP_*_LOC1"], "https://127.0.0.1:%d" % dead_kme,
                          port_psk, "psk_file = %s\nkme_retries = 1\nkme_retry_delay = 10ms\n"
                          "metrics_port = %d\n" % (psk_file, port_metrics))
cert_extra = "tls_mode = certificate\ncert_file = %s\nkey_file = %s\nclient_ca_file = %s/sae-ca.crt\n"
conf_ec = lab.proxy_conf("ec", "SAE_A", ["SAE_B"], "https://127.0.0.1:%d" % dead_kme, port_ec,
                         cert_extra % (lab.pki + "/KME_A.crt", lab.pki + "/KME_A.key", lab.pki))
# A "KME" that accepts TCP connections and never says a word: timeouts.
black_hole = socket.socket()
black_hole.bind(("127.0.0.1", 0))
black_hole.listen(16)
t.cleanup(black_hole.close)
conf_rsa = lab.proxy_conf("rsa", "SAE_A", ["SAE_B"], "https://127.0.0.1:%d" % black_hole.getsockname()[1],
                          port_rsa, cert_extra % (rsa_crt, rsa_key, lab.pki) +
                          "kme_timeout = 300ms\nkme_retries = 1\nkme_retry_delay = 10ms\n")
p_psk = lab.start_proxy("skip-psk", conf_psk, port_psk)
p_ec = lab.start_proxy("skip-ec", conf_ec, port_ec)
p_rsa = lab.start_proxy("skip-rsa", conf_rsa, port_rsa)


def get13(target, method="GET", session=good_sess, identity="router1", body=b""):
    return sk.s_client(port_psk, sk.http_req(method, target, body), identity=identity, session=session)


def case(name):
    return t.case(name)


# ---- TLS 1.3 external PSK, TLS_AES_256_GCM_SHA384 (draft Table 1: REQUIRED) ----
def tls13_psk():
    r = get13("/capabilities")
    t.ok(r is not None and r.status == 200, "TLS 1.3 PSK: GET /capabilities is 200", r)
    t.eq((r.protocol, r.cipher), ("TLSv1.3", "TLS_AES_256_GCM_SHA384"), "TLS 1.3 PSK negotiates TLS_AES_256_GCM_SHA384")
    caps = r.json()
    t.eq(sorted(caps), ["algorithm", "entropy", "key", "localSystemID", "remoteSystemID"],
         "capabilities has exactly the five fields of draft 4.1")
    t.eq((caps["entropy"], caps["key"], caps["localSystemID"], caps["remoteSystemID"]),
         (True, True, "SAE_A", ["SAE_B", "KP_*_LOC1"]), "capabilities values (globs listed as configured)")
    t.eq(r.headers.get("content-type"), "application/json", "JSON content type")


case("tls13")(tls13_psk)


# ---- TLS 1.2 PSK suites, each proven with s_client -cipher ----
def tls12_psk():
    for suite in sk.TLS12_PSK_SUITES:
        r = sk.s_client(port_psk, sk.http_req("GET", "/capabilities"), identity="router2",
                        psk=sk.PSK_B, tls="1.2", cipher=suite)
        t.ok(r is not None and r.status == 200 and r.cipher == suite and r.protocol == "TLSv1.2",
             "TLS 1.2 %s: /capabilities 200" % suite, r)


case("tls12")(tls12_psk)


# ---- wrong keys and identities are refused at the handshake ----
def wrong_psk():
    t.ok(get13("/capabilities", session=wrong_sess) is None, "TLS 1.3 with a wrong PSK is refused at the handshake")
    t.ok(get13("/capabilities", identity="nobody") is None, "TLS 1.3 with an unknown identity is refused")
    r = sk.s_client(port_psk, sk.http_req("GET", "/capabilities"), identity="router1", psk=sk.PSK_B,
                    tls="1.2", cipher="DHE-PSK-AES256-CBC-SHA384")
    t.ok(r is None, "TLS 1.2 DHE-PSK with a wrong PSK is refused", r)
    r = sk.s_client(port_psk, sk.http_req("GET", "/capabilities"), identity="nobody", psk=sk.PSK_A,
                    tls="1.2", cipher="PSK-AES256-GCM-SHA384")
    t.ok(r is None, "TLS 1.2 PSK with an unknown identity is refused", r)
    # s_client's own -psk binds the PSK to SHA-256: served with a SHA-256 suite.
    r = sk.s_client(port_psk, sk.http_req("GET", "/capabilities"), identity="router1", psk=sk.PSK_A,
                    tls="1.3", cipher="TLS_AES_128_GCM_SHA256")
    t.ok(r is not None and r.status == 200, "TLS 1.3 with a PSK bound to SHA-256 (s_client -psk) is served", r)
    r = get13("/capabilities")
    t.ok(r is not None and r.status == 200, "the right PSK still works after refusals", r)


case("wrong psk")(wrong_psk)


# ---- status codes that need no key (draft Tables 3 and 7) ----
def codes():
    r = get13("/nope")
    t.ok(r and r.status == 404 and "message" in r.json(), "unknown path is 404 with a JSON message", r)
    r = get13("/v1/capabilities")
    t.ok(r and r.status == 404, "no /v1 prefix: 404", r)
    r = get13("/key?remoteSystemID=SAE_B", method="POST", body=b'{"x":1}')
    t.ok(r and r.status == 405 and r.headers.get("allow") == "GET", "POST /key is 405 with Allow: GET", r)
    r = get13("/capabilities", method="PUT")
    t.ok(r and r.status == 405 and r.headers.get("allow") == "GET", "PUT /capabilities is 405 with Allow: GET", r)
    bad = [
        ("/key", "remoteSystemID"),
        ("/key?remoteSystemID=SAE_Z", "unknown remoteSystemID"),
        ("/key?remoteSystemID=KP_x_LOC2", "unknown remoteSystemID"),
        ("/key?remoteSystemID=SAE_B&size=130", "size"),
        ("/key?remoteSystemID=SAE_B&size=120", "size"),
        ("/key?remoteSystemID=SAE_B&size=1024", "size"),
        ("/key?remoteSystemID=SAE_B&size=abc", "size"),
        ("/key?remoteSystemID=SAE_B&remoteSystemID=SAE_B", "twice"),
        ("/key?remoteSystemID=SAE_B&colour=red", "unknown query parameter"),
        ("/key/xyz?remoteSystemID=SAE_B", "malformed keyId"),
        ("/key/0123?remoteSystemID=SAE_B", "32 hex"),
        ("/entropy?minentropy=7", "minentropy"),
        ("/key?remoteSystemID=SAE_B%FF", "UTF-8"),
        ("/key?remoteSystemID=SAE_B%ED%A0%80", "UTF-8"),
        ("/key?remoteSystemID=SAE_B%00x", "remoteSystemID"),
        ("/key?remote%FFSystemID=SAE_B", "\\xff"),
    ]
    for target, words in bad:
        r = get13(target)
        t.ok(r is not None and r.status == 400 and words in r.json().get("message", "") and
             "\ufffd" not in r.body, "400 for %s (message names '%s', in UTF-8)" % (target, words), r)
    # libmicrohttpd's own split of a query this long used to stall the
    # connection until the idle timeout.
    t0 = time.monotonic()
    try:
        r = get13("/key?" + "&".join("x=%d" % i for i in range(1000)))
    except subprocess.TimeoutExpired:
        r = None
    t.ok(r is not None and r.status == 400 and time.monotonic() - t0 < 10,
         "1,000 query parameters: 400 at once (%.1f s)" % (time.monotonic() - t0), r)


case("codes")(codes)


# ---- /entropy (draft 4.3) ----
def entropy():
    r1, r2 = get13("/entropy"), get13("/entropy")
    ok = r1 and r2 and r1.status == 200 and r2.status == 200
    t.ok(ok, "GET /entropy is 200", (r1, r2))
    e1 = r1.json()
    t.ok(re.fullmatch("[0-9A-F]{64}", e1["randomStr"]) is not None and e1["minentropy"] == 256,
         "default entropy: 256 bits as 64 upper-case hex digits", e1)
    t.ok(e1["randomStr"] != r2.json()["randomStr"], "two samples differ")
    r = get13("/entropy?minentropy=128")
    t.ok(r and r.status == 200 and len(r.json()["randomStr"]) == 32 and r.json()["minentropy"] == 128,
         "minentropy=128 gives 32 hex digits", r)


case("entropy")(entropy)


# ---- KME unreachable: 500 (draft-cisco-skip-02 4.2) with a message saying so ----
def kme_down():
    r = get13("/key?remoteSystemID=SAE_B")
    t.ok(r is not None and r.status == 500 and "unreachable" in r.json()["message"],
         "/key with the KME down is 500 'KME unreachable'", r)
    r = get13("/key/0123456789abcdef0123456789ABCDEF?remoteSystemID=KP_paris_LOC1")
    t.ok(r is not None and r.status == 500 and "unreachable" in r.json()["message"],
         "/key/{keyId} with the KME down is 500 (glob remoteSystemID accepted)", r)


case("kme down")(kme_down)


# ---- keep-alive: two requests on one TLS 1.3 session ----
def keep_alive():
    req = (b"GET /capabilities HTTP/1.1\r\nHost: x\r\n\r\n" +
           b"GET /entropy HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    out = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port_psk, "-quiet", "-ign_eof",
                          "-tls1_3", "-ciphersuites", "TLS_AES_256_GCM_SHA384", "-psk_identity", "router1",
                          "-psk_session", good_sess], input=req, capture_output=True, timeout=15).stdout
    t.eq(out.count(b"HTTP/1.1 200 OK"), 2, "keep-alive: two answers on one connection")


case("keep-alive")(keep_alive)


# ---- certificate mode (draft Table 1, certificate rows) ----
def cert_mode():
    ca = lab.pki + "/sae-ca.crt"
    cli = dict(cert=lab.pki + "/router1.crt", key=lab.pki + "/router1.key", cafile=ca)
    r = sk.s_client(port_ec, sk.http_req("GET", "/capabilities"), tls="1.2",
                    cipher="ECDHE-ECDSA-AES256-GCM-SHA384", **cli)
    t.ok(r and r.status == 200 and r.cipher == "ECDHE-ECDSA-AES256-GCM-SHA384",
         "certificate mode TLS 1.2 ECDHE-ECDSA-AES256-GCM-SHA384", r)
    r = sk.s_client(port_rsa, sk.http_req("GET", "/capabilities"), tls="1.2", cipher="AES256-SHA256", **cli)
    t.ok(r and r.status == 200 and r.cipher == "AES256-SHA256",
         "certificate mode TLS 1.2 AES256-SHA256 (TLS_RSA_WITH_AES_256_CBC_SHA256)", r)
    for port, kind in ((port_ec, "ECDSA"), (port_rsa, "RSA")):
        r = sk.s_client(port, sk.http_req("GET", "/capabilities"), tls="1.3", **cli)
        t.ok(r and r.status == 200 and r.cipher == "TLS_AES_256_GCM_SHA384",
             "certificate mode (%s) TLS 1.3 TLS_AES_256_GCM_SHA384" % kind, r)
    r = sk.s_client(port_ec, sk.http_req("GET", "/capabilities"), tls="1.2",
                    cipher="ECDHE-ECDSA-AES256-GCM-SHA384", cafile=ca)
    t.ok(r is None, "certificate mode without a client certificate is refused", r)
    # curl, another independent client: keep-alive across two URLs.
    base = "https://localhost:%d" % port_ec
    c = subprocess.run(["curl", "-sv", "--cacert", ca, "--cert", cli["cert"], "--key", cli["key"],
                        base + "/capabilities", base + "/entropy?minentropy=64"],
                       capture_output=True, timeout=20)
    err = c.stderr.decode(errors="replace")
    t.ok(c.returncode == 0 and b'"localSystemID":"SAE_A"' in c.stdout and b'"minentropy":64' in c.stdout,
         "curl with a client certificate reads /capabilities and /entropy", err[-800:])
    t.ok("Re-using existing connection" in err, "curl reuses the connection (keep-alive)", err[-800:])


case("cert mode")(cert_mode)


# ---- HTTP/1.1 on one connection: pipelining, HEAD, 1.0, bad requests ----
# Python's ssl with a client certificate: an independent client.  Answers
# are split by their own Content-Length, so order and framing are checked.
def http_conn(data, port=None):
    import ssl
    ctx = ssl.create_default_context(cafile=lab.pki + "/sae-ca.crt")
    ctx.load_cert_chain(lab.pki + "/router1.crt", lab.pki + "/router1.key")
    out = b""
    with socket.create_connection(("127.0.0.1", port or port_ec), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            s.sendall(data)
            while True:
                try:
                    b = s.recv(65536)
                except (ConnectionResetError, ssl.SSLError):
                    break
                if not b:
                    break
                out += b
    return out


def split_answers(out, heads=()):
    """[(status, {field: value}, body)] from a byte stream of answers."""
    answers = []
    i = 0
    while i < len(out):
        end = out.find(b"\r\n\r\n", i)
        if end < 0:
            break
        lines = out[i:end].decode("latin-1").split("\r\n")
        fields = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
        n = 0 if len(answers) in heads else int(fields.get("content-length", "0"))
        answers.append((int(lines[0].split()[1]), fields, out[end + 4:end + 4 + n]))
        i = end + 4 + n
    return answers


def http11():
    host = b"Host: x\r\n"
    out = http_conn(b"GET /capabilities HTTP/1.1\r\n" + host + b"\r\n" +
                    b"GET /entropy?minentropy=64 HTTP/1.1\r\n" + host + b"\r\n" +
                    b"GET /nope HTTP/1.1\r\n" + host + b"\r\n" +
                    b"HEAD /capabilities HTTP/1.1\r\n" + host + b"\r\n" +
                    b"GET /entropy?minentropy=128 HTTP/1.1\r\n" + host + b"Connection: close\r\n\r\n" +
                    b"GET /capabilities HTTP/1.1\r\n" + host + b"\r\n")
    a = split_answers(out, heads=(3,))
    t.eq([x[0] for x in a], [200, 200, 404, 405, 200],
         "five pipelined requests answered in order; none after Connection: close")
    t.ok(len(a) == 5 and b'"localSystemID"' in a[0][2] and b'"minentropy":64' in a[1][2] and
         b'"minentropy":128' in a[4][2], "each pipelined answer carries its own body", a)
    t.ok(len(a) == 5 and a[3][1].get("allow") == "GET" and int(a[3][1]["content-length"]) > 0 and
         out.count(b'"message"') == 1, "HEAD: 405 with Allow: GET and Content-Length, no body", a)
    t.ok(len(a) == 5 and all(x[1].get("content-type") == "application/json" and
                             x[1].get("cache-control") == "no-store" and
                             re.fullmatch(r"\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT", x[1].get("date", ""))
                             for x in a), "every answer has Date, Content-Type, Cache-Control", a)
    t.ok(len(a) == 5 and a[4][1].get("connection") == "close", "the last answer says Connection: close", a)
    # HTTP/1.0: closed after one answer unless keep-alive is asked for.
    a = split_answers(http_conn(b"GET /capabilities HTTP/1.0\r\n\r\nGET /capabilities HTTP/1.0\r\n\r\n"))
    t.ok(len(a) == 1 and a[0][0] == 200 and a[0][1].get("connection") == "close",
         "HTTP/1.0: one answer, then the connection closes", a)
    a = split_answers(http_conn(b"GET /capabilities HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
                                b"GET /entropy HTTP/1.0\r\n\r\n"))
    t.ok([x[0] for x in a] == [200, 200] and a[0][1].get("connection", "").lower() == "keep-alive",
         "HTTP/1.0 with Connection: keep-alive keeps the connection", a)
    # A body is read and ignored; one over 16 KiB ends the connection.
    a = split_answers(http_conn(b"GET /capabilities HTTP/1.1\r\n" + host + b"Content-Length: 5\r\n\r\nhello" +
                                b"GET /entropy HTTP/1.1\r\n" + host + b"Transfer-Encoding: chunked\r\n\r\n"
                                b"3\r\nabc\r\n0\r\n\r\n" +
                                b"GET /capabilities HTTP/1.1\r\n" + host + b"Connection: close\r\n\r\n"))
    t.eq([x[0] for x in a], [200, 200, 200], "bodies (Content-Length, chunked) between pipelined requests")
    a = split_answers(http_conn(b"POST /key HTTP/1.1\r\n" + host + b"Content-Length: 20000\r\n\r\n" +
                                b"x" * 20000 + b"GET /capabilities HTTP/1.1\r\n" + host + b"\r\n"))
    t.ok([x[0] for x in a] == [405] and b"too large" in a[0][2], "a 20,000-octet body: 405, then closed", a)
    # Framing errors after a good request: its answer first, then the refusal.
    a = split_answers(http_conn(b"GET /capabilities HTTP/1.1\r\n" + host + b"\r\n" +
                                b"GET /capabilities HTTP/1.1\r\n\r\n"))
    t.ok([x[0] for x in a] == [200, 400] and b"Host" in a[1][2], "a good answer, then 400 for no Host", a)
    a = split_answers(http_conn(b"GET /capabilities HTTP/3.0\r\n" + host + b"\r\n"))
    t.ok([x[0] for x in a] == [505], "HTTP/3.0 is 505", a)
    a = split_answers(http_conn(b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\n" + host + b"\r\n"))
    t.ok([x[0] for x in a] == [414], "a 20,000-octet request line is 414", a)
    a = split_answers(http_conn(b"GET /capabilities HTTP/1.1\r\n" + host + b"X: " + b"a" * 20000 + b"\r\n\r\n"))
    t.ok([x[0] for x in a] == [431], "a 20,000-octet head is 431", a)
    a = split_answers(http_conn(b"GET /key?" + b"a" * 5000 + b" HTTP/1.1\r\n" + host +
                                b"Connection: close\r\n\r\n"))
    t.ok([x[0] for x in a] == [400] and b"too long" in a[0][2], "a 5,000-octet request target is 400", a)


case("http/1.1")(http11)


# ---- a KME that never answers: bounded by kme_timeout x (1 + kme_retries) ----
def kme_silent():
    ca = lab.pki + "/sae-ca.crt"
    t0 = time.monotonic()
    c = subprocess.run(["curl", "-s", "--cacert", ca, "--cert", lab.pki + "/router1.crt", "--key",
                        lab.pki + "/router1.key", "https://localhost:%d/key?remoteSystemID=SAE_B" % port_rsa,
                        "-w", "\n%{http_code}"], capture_output=True, text=True, timeout=30)
    took = time.monotonic() - t0
    body, _, code = c.stdout.rpartition("\n")
    t.ok(code == "500" and "unreachable" in body and "2 attempts" in body,
         "a silent KME gives 500 'KME unreachable' after 2 attempts", c.stdout)
    t.ok(0.55 <= took < 5, "the wait is bounded by the timeouts (%.2f s for 2 x 300 ms)" % took)


case("kme silent")(kme_silent)


# ---- metrics ----
def metrics():
    out = subprocess.run(["curl", "-s", "http://127.0.0.1:%d/metrics" % port_metrics],
                         capture_output=True, timeout=10).stdout.decode()
    caps = re.search(r'skip_requests_total\{resource="capabilities"\} (\d+)', out)
    unreach = re.search(r"skip_kme_unreachable_total (\d+)", out)
    e4 = re.search(r'skip_responses_total\{class="4xx"\} (\d+)', out)
    t.ok(caps and int(caps.group(1)) >= 8, "metrics count /capabilities requests", out[:400])
    t.ok(unreach and int(unreach.group(1)) == 2, "metrics count unreachable-KME calls", out)
    t.ok(e4 and int(e4.group(1)) >= 14, "metrics count 4xx responses", out[:600])
    t.ok("skip_kme_latency_seconds_count 2" in out, "metrics have the KME latency histogram", out)


case("metrics")(metrics)


# ---- start-up checks: -n, --help, refusals with clear messages ----
def startup():
    exe = tap.binpath("skip-proxy/skip-proxy")

    def run(*args):
        r = subprocess.run([exe] + list(args), capture_output=True, timeout=30)
        return r.returncode, (r.stdout + r.stderr).decode(errors="replace")

    rc, out = run("--help")
    t.ok(rc == 0 and "usage: skip-proxy" in out, "--help prints usage, exit 0", out)
    rc, out = run("-n", "-f", conf_psk)
    t.ok(rc == 0 and "configuration OK" in out, "-n on a good configuration: OK, exit 0", out)
    loose = lab.write_psk("loose.psk", [("r", sk.PSK_A)], mode=0o644)
    c = lab.proxy_conf("loose", "SAE_A", ["SAE_B"], "https://127.0.0.1:1", 1, "psk_file = %s\n" % loose)
    rc, out = run("-n", "-f", c)
    t.ok(rc == 1 and "accessible by group or others" in out, "a group/other-readable PSK file is refused", out)
    c = lab.proxy_conf("mismatch", "SAE_B", ["SAE_A"], "https://127.0.0.1:1", 1, "psk_file = %s\n" % psk_file)
    with open(c) as f:
        text = f.read().replace(lab.pki + "/SAE_B.", lab.pki + "/SAE_A.")
    with open(c, "w") as f:
        f.write(text)
    rc, out = run("-n", "-f", c)
    t.ok(rc == 1 and "differs from the SAE ID 'SAE_A'" in out, "local_system_id must be the certificate's CN", out)
    c = lab.proxy_conf("typo", "SAE_A", ["SAE_B"], "https://127.0.0.1:1", 1, "psk_file = %s\nsize_max = 9\n" % psk_file)
    rc, out = run("-n", "-f", c)
    t.ok(rc == 1 and "typo.conf:11: unknown key 'size_max'" in out, "an unknown key is named with file and line", out)
    rc, out = run("-n", "-f", lab.path("absent.conf"))
    t.ok(rc == 1 and "absent.conf" in out, "a missing configuration file is reported", out)
    rc, out = run("-x")
    t.ok(rc == 2, "a bad option exits 2", out)


case("startup")(startup)


# ---- clean exit ----
def stop_all():
    for name, p in lab.proxies:
        rc = p.stop()
        out = p.output()
        t.ok(rc == 0 and tap.sanitizer_clean(out), "%s exits 0 on SIGTERM, sanitizer-clean" % name, out[-2000:])
        t.ok(not re.search(r"(?i)" + sk.PSK_A + "|" + sk.PSK_B, out), "%s logged no key bytes" % name)


case("stop")(stop_all)
