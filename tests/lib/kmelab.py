"""kmelab.py — kme-sim processes on loopback for the kme-sim integration
tests (tests/it_kme_*.py and the kme-sim side of tests/it_sec_*.py).

A lab is a set of real kme-sim processes on loopback with certificates
made by scripts/qkdlab-pki (over the openssl CLI).  The far side of the
ETSI 014 interface is the curl command-line tool (Lab.curl) or, for the
high-rate crash test, Python's own ssl/http.client (Lab.session), never
kme-sim code.
"""
import http.client
import json
import os
import ssl
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tap  # noqa: E402
import testlab  # noqa: E402

PKI = os.path.join(tap.SRC, "scripts", "qkdlab-pki")     # for tests of the tool itself


class Resp:
    def __init__(self, code, body, curl_rc=0, err=""):
        self.code = code
        self.body = body
        self.curl_rc = curl_rc
        self.err = err
        try:
            self.json = json.loads(body) if body else None
        except ValueError:
            self.json = None

    def message(self):
        return self.json.get("message") if isinstance(self.json, dict) else None

    def __repr__(self):
        return "Resp(%r, %r, rc=%r)" % (self.code, self.body[:300], self.curl_rc)


class Kme:
    def __init__(self, lab, kid, saes, peers, extra, remotes=None, peer_extra=None):
        self.lab = lab
        # Trusted-node relay: {KME_ID: [route, ...]} ([remote] sections,
        # saes from that KME; a route is a list of intermediate KMEs) and
        # {peer KME_ID: {key: value}} for [peer] keys.
        self.remotes = remotes or {}
        self.peer_extra = peer_extra or {}
        self.id = kid
        self.saes = saes
        self.port = tap.free_port()
        self.link_port = tap.free_port()
        self.admin_port = tap.free_port()
        self.peers = peers
        self.extra = extra
        self.db = os.path.join(lab.dir, "%s.db" % kid)
        self.conf = os.path.join(lab.dir, "%s.conf" % kid)
        self.proc = None
        self.runs = 0

    def write_conf(self):
        p = self.lab.pki
        lines = [
            "kme_id = %s" % self.id,
            "listen = 127.0.0.1:%d" % self.port,
            "cert = %s/%s.crt" % (p, self.id),
            "key = %s/%s.key" % (p, self.id),
            "sae_ca = %s/sae-ca.crt" % p,
            "link_listen = 127.0.0.1:%d" % self.link_port,
            "link_cert = %s/%s-link.crt" % (p, self.id),
            "link_key = %s/%s-link.key" % (p, self.id),
            "link_ca = %s/kme-ca.crt" % p,
            "admin_listen = 127.0.0.1:%d" % self.admin_port,
            "database = %s" % self.db,
            "saes = %s" % " ".join(self.saes),
        ] + ["%s = %s" % kv for kv in self.extra.items()]
        # These tests check the on-demand path (every enc_keys recorded at
        # the peer over the KME link) unless KME_PREFETCH=N runs a whole
        # test with N prefetched keys per pair, kme-sim's default path.
        if "prefetch_keys" not in self.extra:
            lines.append("prefetch_keys = %s" % os.environ.get("KME_PREFETCH", "0"))
        for peer in self.peers:
            other = self.lab.kmes[peer]
            lines += ["", "[peer %s]" % peer,
                      "address = 127.0.0.1:%d" % other.link_port,
                      "saes = %s" % " ".join(other.saes)]
            lines += ["%s = %s" % kv for kv in self.peer_extra.get(peer, {}).items()]
        for rid, routes in self.remotes.items():
            lines += ["", "[remote %s]" % rid, "saes = %s" % " ".join(self.lab.kmes[rid].saes)]
            lines += ["route = %s" % " ".join(r) for r in routes]
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")

    def start(self):
        self.runs += 1
        self.proc = self.lab.daemon("%s-%d" % (self.id, self.runs), None,
                                    [self.lab.bin("kme-sim"), "-d", "-v", "-f", self.conf])
        if not tap.wait_port(self.port, timeout=20) or not tap.wait_port(self.admin_port, timeout=20):
            raise RuntimeError("%s did not start:\n%s" % (self.id, self.proc.output()))

    def stop(self):
        return self.proc.stop()

    def kill9(self):
        self.proc.kill9()

    def admin(self, method, path):
        c = http.client.HTTPConnection("127.0.0.1", self.admin_port, timeout=10)
        c.request(method, path)
        r = c.getresponse()
        body = r.read().decode()
        c.close()
        return r.status, body

    def fault(self, peer, kind, **kw):
        q = "&".join(["peer=%s" % peer, "kind=%s" % kind] + ["%s=%s" % i for i in kw.items()])
        return self.admin("POST", "/admin/v1/fault?" + q)

    def clear(self, peer, kind=None):
        return self.admin("POST", "/admin/v1/clear?peer=%s%s" % (peer, "&kind=" + kind if kind else ""))

    def metric(self, name):
        """Value of one metric line (exact name with labels), or None."""
        _, body = self.admin("GET", "/metrics")
        for line in body.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[-1])
        return None

    def url(self, path):
        return "https://127.0.0.1:%d%s" % (self.port, path)


class Lab(testlab.Lab):
    """kmes: {KME_ID: {"saes": [...], "peers": [...], "extra": {...}}}."""

    def __init__(self, t, kmes, other_sae=None):
        super().__init__(t, "kme")
        self.certs(kmes=list(kmes), saes=[s for spec in kmes.values() for s in spec["saes"]] + list(other_sae or []))
        # A second, unrelated CA with a certificate claiming a real SAE ID.
        self.rogue = os.path.join(self.dir, "rogue")
        first_sae = list(kmes.values())[0]["saes"][0]
        self.certs(self.rogue, saes=[first_sae])
        self.kmes = {}
        for kid, spec in kmes.items():
            self.kmes[kid] = Kme(self, kid, spec["saes"], spec["peers"], spec.get("extra", {}),
                                 spec.get("remotes"), spec.get("peer_extra"))
        for k in self.kmes.values():
            k.write_conf()

    def start(self):
        for k in self.kmes.values():
            k.start()

    def curl(self, kme, sae, path, method="GET", body=None, pki=None, cert=True, timeout=20):
        """Runs curl as the SAE; returns Resp (code 0 if no HTTP reply)."""
        pki = pki or self.pki
        k = self.kmes[kme]
        args = ["curl", "-sS", "--max-time", str(timeout), "--cacert", os.path.join(self.pki, "sae-ca.crt"),
                "-o", "-", "-w", "\n%{http_code}", "-X", method]
        if cert:
            args += ["--cert", os.path.join(pki, sae + ".crt"), "--key", os.path.join(pki, sae + ".key")]
        if body is not None:
            args += ["-H", "Content-Type: application/json", "--data-binary", "@-"]
        args.append(k.url(path))
        data = None if body is None else body if isinstance(body, str) else json.dumps(body)
        p = subprocess.run(args, capture_output=True, text=True, input=data)
        out, _, code = p.stdout.rpartition("\n")
        return Resp(int(code) if code.isdigit() else 0, out, p.returncode, p.stderr)

    def session(self, kme, sae):
        """A keep-alive HTTPS connection as the SAE (Python ssl, not ours)."""
        ctx = ssl.create_default_context(cafile=os.path.join(self.pki, "sae-ca.crt"))
        ctx.load_cert_chain(os.path.join(self.pki, sae + ".crt"), os.path.join(self.pki, sae + ".key"))
        return http.client.HTTPSConnection("127.0.0.1", self.kmes[kme].port, context=ctx, timeout=10)

    def wait_keys(self, kme, master, slave, n, timeout=20):
        """Waits until Status shows at least n stored keys; returns the count."""
        def ok():
            r = self.curl(kme, master, "/api/v1/keys/%s/status" % slave)
            if r.code == 200 and r.json["stored_key_count"] >= n:
                return r.json["stored_key_count"]
            return None
        return tap.wait_for(ok, timeout, 0.2)


def key_ids(resp):
    return [k["key_ID"] for k in resp.json["keys"]]


def stop_all(t, lab, what="exits 0 on SIGTERM (leak-free under ASan)"):
    for k in lab.kmes.values():
        rc = k.stop()
        t.eq(rc, 0, "%s %s" % (k.id, what)) or t.diag(k.proc.output()[-3000:])


def no_key_bytes_in_logs(t, lab, keys_b64):
    """No key, in base64 or hex, ever appears in a daemon log."""
    import base64
    logs = "".join(k.proc.output() for k in lab.kmes.values())
    leaked = [k for k in keys_b64 if k in logs or base64.b64decode(k).hex() in logs.lower()]
    t.eq(leaked, [], "logs never contain key bytes (base64 or hex)")


def now():
    return time.monotonic()
