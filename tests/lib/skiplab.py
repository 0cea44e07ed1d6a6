"""skiplab.py — skip-proxy processes on loopback and the SKIP clients of
its integration tests (tests/it_skip_*.py, tests/it_sec_*.py).

The far side is `openssl s_client` speaking HTTP by hand (and curl in
certificate mode), never the project's own code.  OpenSSL's `-psk` option
binds a TLS 1.3 PSK to SHA-256, so TLS_AES_256_GCM_SHA384 needs the PSK in
a session file (`-psk_session`); session_pem() writes the DER of OpenSSL's
SSL_SESSION structure by hand (version 1, TLS 1.3, suite 0x1302, the PSK as
master key) so that no project code touches that handshake either.
"""
import base64
import json
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tap  # noqa: E402
import testlab  # noqa: E402
from testlab import lablib  # noqa: E402

PSK_A = "6b3a1f0e9d8c7b6a5f4e3d2c1b0a99887766554433221100ffeeddccbbaa9988"
PSK_B = "0f1e2d3c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff0"
TLS12_PSK_SUITES = [
    # draft-cisco-skip-02 Table 1 (RECOMMENDED) first, then the other AES-256 ones
    "DHE-PSK-AES256-CBC-SHA384", "DHE-PSK-AES256-CBC-SHA",
    "DHE-PSK-AES256-GCM-SHA384", "ECDHE-PSK-AES256-CBC-SHA384",
    "PSK-AES256-GCM-SHA384", "PSK-AES256-CBC-SHA384",
]


# The session file's writer is lablib's, which `scripts/lab up` uses too.
session_pem = lablib.psk_session_pem


class Resp:
    def __init__(self, status, headers, body, protocol, cipher):
        self.status = status
        self.headers = headers
        self.body = body
        self.protocol = protocol
        self.cipher = cipher

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return "Resp(%s %s %r via %s/%s)" % (self.status, self.headers, self.body,
                                             self.protocol, self.cipher)


def parse_http(raw):
    """(status, headers{lower: value}, body) of the first response in raw."""
    i = raw.find(b"HTTP/1.1 ")
    if i < 0:
        return None
    head, _, rest = raw[i:].partition(b"\r\n\r\n")
    lines = head.decode(errors="replace").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        headers[k.strip().lower()] = v.strip()
    n = int(headers.get("content-length", len(rest)))
    return status, headers, rest[:n].decode(errors="replace")


class Lab(testlab.Lab):
    """A temporary directory with a PKI, PSK files and daemons."""

    def __init__(self, t, name):
        super().__init__(t, name)
        self.proxies = []       # [(name, testlab.Daemon)] in start order

    def make_pki(self, kmes=("KME_A", "KME_B"), saes=("SAE_A", "SAE_B", "router1")):
        self.certs(kmes=kmes, saes=saes)

    def make_rsa_server_cert(self, name="skip-rsa"):
        """An RSA server certificate from sae-ca (for TLS_RSA_WITH_AES_256_CBC_SHA256)."""
        key, csr, crt = (os.path.join(self.pki, name + ext) for ext in (".key", ".csr", ".crt"))
        ext = self.path(name + ".ext")
        with open(ext, "w") as f:
            f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
        subprocess.run(["openssl", "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                        "-out", csr, "-subj", "/CN=" + name], check=True, capture_output=True)
        os.chmod(key, 0o600)
        subprocess.run(["openssl", "x509", "-req", "-in", csr, "-CA", os.path.join(self.pki, "sae-ca.crt"),
                        "-CAkey", os.path.join(self.pki, "sae-ca.key"), "-CAcreateserial",
                        "-days", "2", "-out", crt, "-extfile", ext], check=True, capture_output=True)
        return crt, key

    def write_psk(self, name, entries, mode=0o600):
        p = self.path(name)
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "w") as f:
            for ident, key in entries:
                f.write("%s:%s\n" % (ident, key))
        os.chmod(p, mode)
        return p

    def write_session(self, name, psk_hex):
        p = self.path(name)
        with open(p, "w") as f:
            f.write(session_pem(psk_hex))
        return p

    def proxy_conf(self, name, sae, remotes, kme_url, port, extra=""):
        lines = [
            "listen = 127.0.0.1",
            "port = %d" % port,
            "local_system_id = %s" % sae,
            "kme_url = %s" % kme_url,
            "kme_ca_file = %s/sae-ca.crt" % self.pki,
            "kme_cert_file = %s/%s.crt" % (self.pki, sae),
            "kme_key_file = %s/%s.key" % (self.pki, sae),
            "threads = 2",
        ] + ["remote_system_id = %s" % r for r in remotes]
        p = self.path(name + ".conf")
        with open(p, "w") as f:
            f.write("\n".join(lines) + "\n" + extra)
        return p

    def kme_conf(self, me, peer, sae, peer_sae, port, link, peer_link, extra=""):
        """A kme-sim configuration of one KME of a linked pair on loopback."""
        p = self.path(me + ".conf")
        with open(p, "w") as f:
            f.write("\n".join([
                "kme_id = %s" % me, "listen = 127.0.0.1:%d" % port,
                "cert = %s/%s.crt" % (self.pki, me), "key = %s/%s.key" % (self.pki, me),
                "sae_ca = %s/sae-ca.crt" % self.pki, "link_listen = 127.0.0.1:%d" % link,
                "link_cert = %s/%s-link.crt" % (self.pki, me), "link_key = %s/%s-link.key" % (self.pki, me),
                "link_ca = %s/kme-ca.crt" % self.pki, "database = %s" % self.path(me + ".db"),
                "saes = %s" % sae, "key_size = 256", "max_key_size = 1024", "key_rate = 10000000",
                "max_key_count = 10000", extra, "[peer %s]" % peer,
                "address = 127.0.0.1:%d" % peer_link, "saes = %s" % peer_sae]) + "\n")
        return p

    def start_proxy(self, name, conf, port, extra_args=()):
        p = self.daemon(name, None, [self.bin("skip-proxy"), "-d", "-f", conf] + list(extra_args))
        self.proxies.append((name, p))
        if not tap.wait_port(port, timeout=15):
            raise RuntimeError("%s did not listen on %d:\n%s" % (name, port, p.output()))
        return p


def s_client(port, request, identity=None, psk=None, session=None, tls="1.3",
             cipher=None, cert=None, key=None, cafile=None, timeout=15):
    """Sends raw HTTP bytes over openssl s_client; returns Resp or None when
    the TLS handshake (or the session) failed before any HTTP answer."""
    argv = ["openssl", "s_client", "-connect", "127.0.0.1:%d" % port, "-brief", "-ign_eof",
            "-servername", "localhost"]
    if tls == "1.3":
        argv += ["-tls1_3", "-ciphersuites", cipher or "TLS_AES_256_GCM_SHA384"]
    else:
        argv += ["-tls1_2"]
        if cipher:
            argv += ["-cipher", cipher]
    if identity is not None:
        argv += ["-psk_identity", identity]
    if psk is not None:
        argv += ["-psk", psk]
    if session is not None:
        argv += ["-psk_session", session]
    if cert is not None:
        argv += ["-cert", cert, "-key", key]
    if cafile is not None:
        argv += ["-CAfile", cafile, "-verify_return_error"]
    r = subprocess.run(argv, input=request, capture_output=True, timeout=timeout)
    err = r.stderr.decode(errors="replace")
    proto = re.search(r"Protocol version: (\S+)", err)
    suite = re.search(r"Ciphersuite: (\S+)", err)
    parsed = parse_http(r.stdout)
    if parsed is None:
        return None
    return Resp(parsed[0], parsed[1], parsed[2], proto and proto.group(1), suite and suite.group(1))


def http_req(method, target, body=b""):
    req = ("%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n" % (method, target)).encode()
    if body:
        req += b"Content-Type: application/json\r\nContent-Length: %d\r\n" % len(body)
    return req + b"\r\n" + body
