"""lablib.py — the two-site qkdlab lab in network namespaces, shared by
scripts/lab (a lab that stays up) and scripts/demo (up, show, tear down).

Topology (docs/LAB.md):

    namespace <ns>-a                               namespace <ns>-b
    kme-sim KME_A   198.51.100.1 ==kmelink== 198.51.100.2   kme-sim KME_B
    skip-proxy (SAE_A_01)                                    skip-proxy (SAE_B_01)
    mka-agent  --wire0 ======== veth, no IP ======== wire0-- mka-agent
    macsec-sw  TAP macsec0 192.0.2.1/24          192.0.2.2/24 TAP macsec0

All runtime state (PKI, configs, databases, sockets, logs, key logs, pids)
lives in one directory (build/lab by default); lab-down removes it.

Environment: QKDLAB_BUILD (daemons, default <src>/build), QKDLAB_LAB_DIR
(state, default <src>/build/lab), QKDLAB_LAB_NS (namespace prefix, default
"qkdlab").
"""
import base64
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request

SRC = os.path.abspath(os.path.join(os.path.dirname(os.path.realpath(__file__)), ".."))

# Identities.  SAE IDs are 8 characters (a multiple of 4) so that tshark 4.0
# decodes the KMD parameter set without a malformed mark (docs/DESIGN.md).
SAE = {"a": "SAE_A_01", "b": "SAE_B_01", "c": "SAE_C_01"}
KME = {"a": "KME_A", "b": "KME_B"}
LINK_IP = {"a": "198.51.100.1", "b": "198.51.100.2"}
TAP_IP = {"a": "192.0.2.1", "b": "192.0.2.2"}
KME_PORT = 8443
LINK_PORT = 9443
ADMIN_PORT = 9080
SKIP_PORT = 443
SKIP_METRICS = 9102
MKA_METRICS = 9103          # mka-agent metrics_listen (/metrics, /status.json)
SECY_METRICS = 9104         # macsec-sw -m (/metrics, /show.json)
DASH_PORT = 8080            # qkdlab-dash, root namespace, 127.0.0.1
WIRE = "wire0"
TAP = "macsec0"
KEY_RATE = 256000           # bits/s: 1000 keys of 256 bits in about a second
MAX_KEYS = 2000
CAK_BITS = 256              # QKD key size asked for the CAK

MODE_TEXT = {
    "qkd-skip": "QKD via SKIP (each mka-agent gets its CAK from its site's skip-proxy, backed by the KME)",
    "qkd-014": "QKD via ETSI 014 (each mka-agent gets its CAK straight from its site's KME; this "
               "mka-agent has no usable SKIP mode, so the skip-proxies run beside it for external routers only)",
    "interim": "interim (a QKD key fetched via SKIP by this script is given to mka-agent as its "
               "pre-shared CAK, CKN = key ID)",
}

DAEMONS = ("kme-sim", "skip-proxy", "macsec-sw", "mka-agent")
# Site B's router as a VM with mka-agent (--vm-router mka): where its
# mka-agent's status is served (on its service link, SVC_IP) and its
# configuration file.
VM_STATUS_PORT = 9300
VM_CONF = "/etc/qkdlab/mka-agent.conf"

# A site's router replaced by a Linux VM (--vm) or by the user's own device
# (--byo): the site keeps its KME and skip-proxy; its wire end joins the
# bridge WIRE_BR with the router's interface, and a service link (a /30 of
# the documentation range, more specific than the KME link's /24) lets the
# router reach the KME and skip-proxy at the site's LINK_IP, the address
# their certificates name.
WIRE_BR = "wirebr"
SVC_IF = "svc0"
SVC_IP = {"a": ("198.51.100.133", "198.51.100.134"), "b": ("198.51.100.129", "198.51.100.130")}
SVC_PREFIX = 30
SVC_TAP = "vmsvc"        # a router VM's service link: its TAP in the site's namespace
VM_PERSONALITIES = ("wpa", "mka")      # mka: site B only, Lab.vm_router_up
ROUTER_CAK_BITS = 128       # wpa_supplicant 2.10's MKA: GCM-AES-128, a 128-bit CAK


def _der_len(n):
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


def _der_tlv(tag, content):
    return bytes([tag]) + _der_len(len(content)) + content


def _der_int(v):
    return _der_tlv(0x02, v.to_bytes(max(1, (v.bit_length() + 8) // 8), "big"))


def psk_session_pem(psk_hex, suite=b"\x13\x02", lifetime=7 * 86400):
    """An OpenSSL SSL_SESSION (PEM) that carries an external TLS 1.3 PSK,
    for `openssl s_client -psk_session`: its `-psk` binds a TLS 1.3 PSK to
    SHA-256, while SKIP's suite TLS_AES_256_GCM_SHA384 (0x1302) wants it
    bound to SHA-384.  The DER is OpenSSL's SSL_SESSION: version 1,
    TLS 1.3, the suite, no session ID, the PSK as master key, the time and
    a lifetime in seconds."""
    body = (_der_int(1) + _der_int(0x0304) + _der_tlv(0x04, suite) + _der_tlv(0x04, b"") +
            _der_tlv(0x04, bytes.fromhex(psk_hex)) +
            _der_tlv(0xA1, _der_int(int(time.time()))) + _der_tlv(0xA2, _der_int(lifetime)))
    b64 = base64.b64encode(_der_tlv(0x30, body)).decode()
    lines = [b64[i:i + 64] for i in range(0, len(b64), 64)]
    return ("-----BEGIN SSL SESSION PARAMETERS-----\n" + "\n".join(lines) +
            "\n-----END SSL SESSION PARAMETERS-----\n")


class LabError(Exception):
    """An error for a person: what went wrong and what to do about it."""

    def __init__(self, msg, hint=None):
        super().__init__(msg)
        self.msg = msg
        self.hint = hint


def run(argv, check=True, timeout=30, **kw):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)
    if check and r.returncode != 0:
        raise LabError("command failed: %s\n%s" % (" ".join(argv), (r.stderr or r.stdout).strip()))
    return r


def issue_certs(pki, kmes=(), saes=(), san=None):
    """Certificates from scripts/qkdlab-pki in directory pki: one per KME
    ID (server and KME-link) and SAE ID; san adds a subjectAltName."""
    argv = [os.path.join(SRC, "scripts", "qkdlab-pki"), "-d", pki]
    for k in kmes:
        argv += ["-k", k]
    for s in saes:
        argv += ["-s", s]
    run(argv + (["-S", san] if san else []), timeout=120)


def netns_list():
    r = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True)
    return [ln.split()[0] for ln in r.stdout.splitlines() if ln.strip()]


def parse_metrics(text):
    """Prometheus text -> {name{labels}: float} and {name: [values]}."""
    out = {}
    for ln in text.splitlines():
        if not ln or ln.startswith("#"):
            continue
        parts = ln.rsplit(None, 1)
        if len(parts) != 2:
            continue
        try:
            out[parts[0]] = float(parts[1])
        except ValueError:
            pass
    return out


def metric(m, name):
    """Sum of every series called name (any labels)."""
    tot = None
    for k, v in m.items():
        if k == name or k.startswith(name + "{"):
            tot = (tot or 0) + v
    return tot


def kv_line(text):
    out = {}
    for tok in re.findall(r'(\w+)=("[^"]*"|\S+)', text):
        out[tok[0]] = tok[1].strip('"')
    return out


class Lab:
    # The lab's router VM outlives scripts/lab up (lab down ends it); a
    # test's lab ends it with the test, also when the test is killed.
    vm_outlive = True

    def __init__(self, build=None, state=None, prefix=None, say=None):
        self.build = os.path.abspath(build or os.environ.get("QKDLAB_BUILD") or os.path.join(SRC, "build"))
        self.dir = os.path.abspath(state or os.environ.get("QKDLAB_LAB_DIR") or os.path.join(SRC, "build", "lab"))
        self.prefix = prefix or os.environ.get("QKDLAB_LAB_NS") or "qkdlab"
        self.ns = {s: "%s-%s" % (self.prefix, s) for s in ("a", "b")}
        self.say = say or (lambda *a, **k: None)
        self.pki = os.path.join(self.dir, "pki")
        self.logs = os.path.join(self.dir, "logs")
        self.procs = {}          # name -> Popen (only in the process that started them)
        self.mode = None
        self.mode_note = ""
        self.key_id = None
        self.dash_listen = os.environ.get("QKDLAB_DASH_LISTEN")
        # Site B's router as a Linux VM (scripts/lab up --vm-router): the
        # personality ("mka": mka-agent + kernel MACsec), None for none.
        self.vm_router = None
        self.vm_site = self.vm_personality = None
        self.byo = {}               # site -> {"wire": ifname, "svc": ifname, "mka": "psk"|"qkd"}
        self.vm = None
        self.router_options(os.environ.get("QKDLAB_LAB_VM"), os.environ.get("QKDLAB_LAB_BYO"))

    # ---- paths ----------------------------------------------------------
    def bin(self, name):
        sub = "macsec-sw" if name == "macsec-ctl" else name
        return os.path.join(self.build, sub, name)

    def site(self, s, *parts):
        return os.path.join(self.dir, "site-" + s, *parts)

    def env_path(self):
        return os.path.join(self.dir, "lab.env")

    # ---- checks -----------------------------------------------------------
    def mka_check(self, text):
        """Runs mka-agent -n on a configuration; returns (ok, message)."""
        tmp = os.path.join(self.dir, "probe-mka.conf")
        try:
            self.write(tmp, text, 0o600)
            r = subprocess.run([self.bin("mka-agent"), "-n", "-f", tmp], capture_output=True, text=True)
            return r.returncode == 0, (r.stdout + r.stderr).strip()
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def mka_has(self, source):
        """True once mka-agent accepts cak_source = source at all."""
        ok, msg = self.mka_check("[port %s]\ncak_source = %s\n" % (WIRE, source))
        return "not available" not in msg and "invalid value" not in msg

    def choose_mode(self):
        """The best key path mka-agent offers: QKD via SKIP, QKD via ETSI
        014, or the interim one (a SKIP key given to mka-agent as its PSK).
        A mode is taken only if mka-agent -n accepts the configuration
        this script writes for it."""
        self.mode_note = ""
        forced = os.environ.get("QKDLAB_LAB_MODE", "")
        if forced:
            if forced not in MODE_TEXT:
                raise LabError("QKDLAB_LAB_MODE=%s is not a mode" % forced,
                               "use one of: %s (or leave it unset)" % ", ".join(MODE_TEXT))
            self.mode = forced
            if forced != "interim":
                ok, msg = self.mka_check(self.mka_conf("a"))
                if not ok:
                    raise LabError("QKDLAB_LAB_MODE=%s: mka-agent refuses this lab's configuration: %s"
                                   % (forced, msg.splitlines()[-1] if msg else "?"),
                                   "leave QKDLAB_LAB_MODE unset to take the best mode mka-agent offers")
            self.mode_note = "mode forced by QKDLAB_LAB_MODE"
            return forced
        for mode, source in (("qkd-skip", "skip"), ("qkd-014", "etsi014")):
            if not self.mka_has(source):
                continue
            self.mode = mode
            ok, msg = self.mka_check(self.mka_conf("a"))
            if ok:
                return mode
            self.mode_note += "mka-agent has cak_source %s, but refused this lab's configuration: %s\n" % (
                source, msg.splitlines()[-1] if msg else "?")
        self.mode = "interim"
        return self.mode

    def preflight(self, tools=("ip", "openssl", "curl")):
        if os.geteuid() != 0:
            raise LabError("this needs root (it creates network namespaces, veth pairs and TAP devices)",
                           "run it as root, e.g.  sudo make demo   or   sudo make lab-up")
        missing = [t for t in tools if shutil.which(t) is None]
        if missing:
            pk = {"ip": "iproute2", "tshark": "tshark", "tcpdump": "tcpdump", "iperf3": "iperf3",
                  "ping": "iputils-ping", "openssl": "openssl", "curl": "curl", "ss": "iproute2"}
            raise LabError("missing program(s): %s" % ", ".join(missing),
                           "install them:  sudo scripts/deps   (or: apt-get install %s)"
                           % " ".join(sorted({pk.get(t, t) for t in missing})))
        nobin = [d for d in DAEMONS + ("macsec-ctl",) if not os.access(self.bin(d), os.X_OK)]
        if nobin:
            raise LabError("not built: %s (looked in %s)" % (", ".join(nobin), self.build),
                           "build them first:  make -j2%s" % (
                               " SANITIZE=1" if self.build.rstrip("/").endswith("/san") else ""))
        present = [n for n in self.ns.values() if n in netns_list()]
        if present or os.path.exists(self.env_path()):
            raise LabError("a lab is already up (namespaces: %s; state: %s)"
                           % (", ".join(present) or "none", self.dir),
                           "take it down first:  sudo make lab-down   (or: scripts/lab down)")

    # ---- processes ----------------------------------------------------------
    def start(self, name, site, argv):
        log = open(os.path.join(self.logs, name + ".log"), "ab")
        # site None: the root namespace (the dashboard).
        pre = ["ip", "netns", "exec", self.ns[site]] if site is not None else []
        p = subprocess.Popen(pre + argv, stdin=subprocess.DEVNULL,
                             stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                             cwd=self.dir)
        log.close()
        self.procs[name] = p
        with open(os.path.join(self.dir, "pids"), "a") as f:
            f.write("%s %d %s\n" % (name, p.pid, argv[0]))
        return p

    def log_tail(self, name, n=12):
        try:
            with open(os.path.join(self.logs, name + ".log"), errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def check_alive(self, name):
        p = self.procs.get(name)
        if p is not None and p.poll() is not None:
            tail = self.log_tail(name)
            hint = "see %s" % os.path.join(self.logs, name + ".log")
            if re.search(r"in use|EADDRINUSE", tail, re.I):
                m = re.search(r"port (\d+)|:(\d+)\S*:? Address already in use", tail)
                port = (m.group(1) or m.group(2)) if m else "?"
                ns = self.ns.get(name[-1], self.prefix)
                hint = ("port %s is already in use inside namespace %s (see who holds it: ip netns exec %s "
                        "ss -ltnp); take the lab down (sudo make lab-down) and try again" % (port, ns, ns))
            raise LabError("%s exited (status %s) while starting:\n%s" % (name, p.returncode, tail.rstrip()),
                           hint)

    def wait(self, what, pred, timeout, names=()):
        end = time.monotonic() + timeout
        while True:
            v = pred()
            if v:
                return v
            for n in names:
                self.check_alive(n)
            if time.monotonic() > end:
                raise LabError("timed out after %ds waiting for %s" % (timeout, what),
                               "look at the daemon logs in %s" % self.logs)
            time.sleep(0.1)

    def nsrun(self, site, argv, check=False, timeout=30, **kw):
        return run(["ip", "netns", "exec", self.ns[site]] + argv, check=check, timeout=timeout, **kw)

    def http(self, site, port, path="/metrics"):
        r = self.nsrun(site, ["curl", "-s", "-m", "2", "http://127.0.0.1:%d%s" % (port, path)])
        return r.stdout if r.returncode == 0 else None

    def kme_metrics(self, s):
        t = self.http(s, ADMIN_PORT)
        return parse_metrics(t) if t else None

    def skip_metrics(self, s):
        t = self.http(s, SKIP_METRICS)
        return parse_metrics(t) if t else None

    def mka_status(self, s):
        if s == "b" and self.vm_router:
            return self.vm_router_status()
        try:
            r = subprocess.run([self.bin("mka-agent"), "-f", self.site(s, "mka-agent.conf"), "status"],
                               capture_output=True, text=True, timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            return {}
        return kv_line(r.stdout) if r.returncode == 0 else {}

    def ctl(self, s, *args):
        r = subprocess.run([self.bin("macsec-ctl"), "-s", self.site(s, "macsec.sock")] + list(args),
                           capture_output=True, text=True, timeout=5)
        return r.stdout if r.returncode == 0 else None

    # ---- building blocks -------------------------------------------------
    def write(self, path, text, mode=0o644):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(path, mode)

    def make_pki(self):
        for s in ("a", "b"):
            issue_certs(self.pki, kmes=[KME[s]], san="IP:" + LINK_IP[s])
        issue_certs(self.pki, saes=[SAE[s] for s in ("a", "b", "c")])

    def make_netns(self):
        for s in ("a", "b"):
            run(["ip", "netns", "add", self.ns[s]])
            self.nsrun(s, ["ip", "link", "set", "lo", "up"], check=True)
        run(["ip", "link", "add", "kmelink", "netns", self.ns["a"], "type", "veth",
             "peer", "name", "kmelink", "netns", self.ns["b"]])
        run(["ip", "link", "add", WIRE, "netns", self.ns["a"], "type", "veth",
             "peer", "name", WIRE, "netns", self.ns["b"]])
        for s in ("a", "b"):
            # The wire carries only EAPOL and MACsec: no IPv6 on it.
            self.nsrun(s, ["sysctl", "-q", "-w", "net.ipv6.conf.%s.disable_ipv6=1" % WIRE], check=True)
            self.nsrun(s, ["sysctl", "-q", "-w", "net.ipv4.conf.%s.rp_filter=1" % WIRE], check=True)
            self.nsrun(s, ["ip", "addr", "add", LINK_IP[s] + "/24", "dev", "kmelink"], check=True)
            self.nsrun(s, ["ip", "link", "set", "kmelink", "up"], check=True)
            self.nsrun(s, ["ip", "link", "set", WIRE, "up"], check=True)

    @staticmethod
    def kme_saes(s):
        """The SAEs KME s serves; both KMEs list each other's (multicast)."""
        return SAE[s] + (" " + SAE["c"] if s == "b" else "")

    def kme_conf(self, s):
        o = "b" if s == "a" else "a"
        own = self.kme_saes(s)
        return "\n".join([
            "# kme-sim of site %s (written by scripts/lab)" % s.upper(),
            "kme_id = %s" % KME[s],
            "listen = %s:%d" % (LINK_IP[s], KME_PORT),
            "cert = %s/%s.crt" % (self.pki, KME[s]),
            "key = %s/%s.key" % (self.pki, KME[s]),
            "sae_ca = %s/sae-ca.crt" % self.pki,
            "link_listen = %s:%d" % (LINK_IP[s], LINK_PORT),
            "link_cert = %s/%s-link.crt" % (self.pki, KME[s]),
            "link_key = %s/%s-link.key" % (self.pki, KME[s]),
            "link_ca = %s/kme-ca.crt" % self.pki,
            "admin_listen = 127.0.0.1:%d" % ADMIN_PORT,
            "database = %s" % self.site(s, "kme.db"),
            "saes = %s" % own,
            "key_size = 256",
            "key_rate = %d" % KEY_RATE,
            "max_key_count = %d" % MAX_KEYS,
            "",
            "[peer %s]" % KME[o],
            "address = %s:%d" % (LINK_IP[o], LINK_PORT),
            "saes = %s" % self.kme_saes(o),
            ""])

    def psk(self, s):
        with open(self.site(s, "skip.psk")) as f:
            ident, key = f.read().strip().split(":", 1)
        return ident, key

    def skip_conf(self, s):
        o = "b" if s == "a" else "a"
        return "\n".join([
            "# skip-proxy of site %s (written by scripts/lab)" % s.upper(),
            "listen = 0.0.0.0",
            "port = %d" % SKIP_PORT,
            "tls_mode = psk",
            "psk_file = %s" % self.site(s, "skip.psk"),
            "local_system_id = %s" % SAE[s],
            "remote_system_id = %s" % SAE[o],
            "kme_url = https://%s:%d" % (LINK_IP[s], KME_PORT),
            "kme_ca_file = %s/sae-ca.crt" % self.pki,
            "kme_cert_file = %s/%s.crt" % (self.pki, SAE[s]),
            "kme_key_file = %s/%s.key" % (self.pki, SAE[s]),
            "metrics_port = %d" % SKIP_METRICS,
            ""])

    def mka_conf(self, s, cak=None, ckn=None):
        o = "b" if s == "a" else "a"
        lines = [
            "# mka-agent of site %s (written by scripts/lab; mode: %s)" % (s.upper(), self.mode),
            "status_socket = %s" % self.site(s, "mka-agent.sock"),
            "metrics_listen = 127.0.0.1:%d" % MKA_METRICS,
            "key_log = %s" % self.site(s, "keys.log"),
            "[port %s]" % WIRE,
        ]
        if self.mode == "qkd-skip":
            # choose_mode() checks that mka-agent -n accepts these keys.
            ident, key = self.psk(s)
            lines += [
                "cak_source = skip",
                "sae_id = %s" % SAE[s],
                "allowed_peers = %s" % SAE[o],
                "cak_bits = %d" % CAK_BITS,
                "skip_address = %s:%d" % (LINK_IP[s], SKIP_PORT),
                "skip_identity = %s" % ident,
                "skip_psk = %s" % key,
                "cipher_suites = gcm-aes-256",
            ]
        elif self.mode == "qkd-014":
            lines += [
                "cak_source = etsi014",
                "sae_id = %s" % SAE[s],
                "allowed_peers = %s" % SAE[o],
                "cak_bits = %d" % CAK_BITS,
                "kme_url = https://%s:%d" % (LINK_IP[s], KME_PORT),
                "kme_cert = %s/%s.crt" % (self.pki, SAE[s]),
                "kme_key = %s/%s.key" % (self.pki, SAE[s]),
                "kme_ca = %s/sae-ca.crt" % self.pki,
                "cipher_suites = gcm-aes-256",
            ]
        else:
            lines += ["cak_source = psk", "cak = %s" % cak, "ckn = %s" % ckn]
        lines += [
            "priority = %d" % (16 if s == "a" else 32),
            "hello_time = 1s",
            "secy_socket = %s" % self.site(s, "macsec.sock"),
            ""]
        return "\n".join(lines)

    def dash_conf(self):
        """qkdlab-dash's configuration: both sites, read from inside their
        namespaces (the dashboard itself stays on 127.0.0.1 of the root
        namespace)."""
        lines = ["# qkdlab-dash of the lab (written by scripts/lab)",
                 "listen = %s" % self.dash_listen, "interval = 500ms", ""]
        for s in ("a", "b"):
            o = "b" if s == "a" else "a"
            lines += ["[site %s]" % s.upper(),
                      "netns = %s" % self.ns[s],
                      "kme_admin = 127.0.0.1:%d" % ADMIN_PORT,
                      "kme_peer = %s" % KME[o],
                      "skip_metrics = 127.0.0.1:%d" % SKIP_METRICS,
                      "mka_metrics = 127.0.0.1:%d" % MKA_METRICS,
                      "secy_metrics = 127.0.0.1:%d" % SECY_METRICS, ""]
        return "\n".join(lines)

    def dash_url(self):
        return "http://%s/" % self.dash_listen

    def start_dash(self):
        """Starts qkdlab-dash in the root namespace on dash_listen (default
        127.0.0.1:8080, or a free port when that one is taken); returns its
        URL once it answers."""
        if not self.dash_listen:
            s = socket.socket()
            try:
                s.bind(("127.0.0.1", DASH_PORT))
                port = DASH_PORT
            except OSError:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            s.close()
            self.dash_listen = "127.0.0.1:%d" % port
        path = os.path.join(self.dir, "qkdlab-dash.conf")
        self.write(path, self.dash_conf())
        self.start("qkdlab-dash", None, [self.bin("qkdlab-dash"), "-f", path])

        def answers():
            try:
                with urllib.request.urlopen(self.dash_url(), timeout=2) as r:
                    return r.status == 200
            except OSError:
                return False
        self.wait("the dashboard at %s" % self.dash_url(), answers, 15, ("qkdlab-dash",))
        return self.dash_url()

    def skip_get(self, s, target):
        """One SKIP request from site s (TLS 1.2 DHE-PSK through openssl
        s_client); returns (status, parsed JSON body)."""
        ident, key = self.psk(s)
        req = "GET %s HTTP/1.1\r\nHost: skip\r\nConnection: close\r\n\r\n" % target
        r = self.nsrun(s, ["openssl", "s_client", "-quiet", "-ign_eof", "-connect",
                           "%s:%d" % (LINK_IP[s], SKIP_PORT), "-tls1_2", "-cipher",
                           "DHE-PSK-AES256-GCM-SHA384", "-psk_identity", ident, "-psk", key],
                       input=req, timeout=20)
        out = r.stdout
        m = re.match(r"HTTP/1\.[01] (\d+)", out)
        if not m:
            raise LabError("SKIP request to site %s failed:\n%s" % (s.upper(), (r.stderr or out)[-800:]),
                           "see %s" % os.path.join(self.logs, "skip-proxy-%s.log" % s))
        body = re.split(r"\r?\n\r?\n", out, 1)[1] if re.search(r"\r?\n\r?\n", out) else ""
        try:
            js = json.loads(body[body.find("{"):body.rfind("}") + 1]) if "{" in body else {}
        except ValueError:
            js = {}
        return int(m.group(1)), js

    # ---- routers that are not qkdlab's --------------------------------------------
    def router_options(self, vm=None, byo=None):
        """vm: "SITE[:PERSONALITY]" (a Linux VM as that site's router,
        personality wpa or mka); byo: "SITE=IFACE[,svc=IFACE][,mka=psk|qkd]"
        (the user's own router on that interface)."""
        if vm:
            site, _, pers = vm.partition(":")
            pers = pers or "wpa"
            if site not in ("a", "b") or pers not in VM_PERSONALITIES:
                raise LabError("--vm %s: want SITE[:PERSONALITY], SITE a or b, PERSONALITY one of %s"
                               % (vm, ", ".join(VM_PERSONALITIES)), "e.g.  scripts/lab up --vm b:wpa")
            if pers == "mka":
                # mka-agent with the kernel backend in the VM: vm_router_up.
                if site != "b":
                    raise LabError("--vm %s: the mka personality runs at site B" % vm, "use --vm b:mka")
                self.vm_router = "mka"
            else:
                self.vm_site, self.vm_personality = site, pers
        if byo:
            site, _, rest = byo.partition("=")
            parts = rest.split(",") if rest else []
            if site not in ("a", "b") or not parts or not parts[0] or "=" in parts[0]:
                raise LabError("--byo %s: want SITE=IFACE[,svc=IFACE][,mka=psk|qkd]" % byo,
                               "e.g.  scripts/lab up --byo b=eth1,svc=eth2")
            opt = {"wire": parts[0], "svc": None, "mka": "psk"}
            for kv in parts[1:]:
                k, _, v = kv.partition("=")
                if k not in ("svc", "mka") or not v or (k == "mka" and v not in ("psk", "qkd")):
                    raise LabError("--byo: unknown or empty option %r" % kv, "options: svc=IFACE, mka=psk|qkd")
                opt[k] = v
            self.byo = {site: opt}
        if self.vm_site and self.vm_site in self.byo:
            raise LabError("site %s cannot be both a VM and your own router" % self.vm_site.upper())

    def replaced(self):
        """The site whose router is not qkdlab's (VM or own), or None."""
        return self.vm_site or ("b" if self.vm_router else None) or next(iter(self.byo), None)

    def own_sites(self):
        """The sites running qkdlab's macsec-sw and mka-agent."""
        return tuple(s for s in ("a", "b") if s != self.replaced())

    def router_net(self, s, wire_if):
        """Site s's wire end and wire_if (in site s's namespace) joined by a
        bridge that forwards EAPOL's PAE group address (group_fwd_mask bit
        3), and the service link SVC_IF with the site's side of SVC_IP."""
        self.nsrun(s, ["ip", "link", "add", WIRE_BR, "type", "bridge", "stp_state", "0",
                       "group_fwd_mask", "8"], check=True)
        for dev in (WIRE_BR, wire_if):
            self.nsrun(s, ["sysctl", "-q", "-w", "net.ipv6.conf.%s.disable_ipv6=1" % dev])
        for dev in (WIRE, wire_if):
            self.nsrun(s, ["ip", "link", "set", dev, "master", WIRE_BR], check=True)
            self.nsrun(s, ["ip", "link", "set", dev, "up"], check=True)
        self.nsrun(s, ["ip", "link", "set", WIRE_BR, "up"], check=True)

    def svc_addr(self, s, dev):
        self.nsrun(s, ["ip", "addr", "add", "%s/%d" % (SVC_IP[s][0], SVC_PREFIX), "dev", dev], check=True)
        self.nsrun(s, ["ip", "link", "set", dev, "up"], check=True)

    def byo_attach(self, s):
        """Moves the user's interfaces into site s's namespace (a missing
        name becomes a veth whose other end stays in the root namespace
        under that name), bridges the wire one and addresses the service
        one.  What was moved is recorded, so that lab-down gives it back."""
        o = self.byo[s]
        o["svc"] = o["svc"] or "%s-%s-svc" % (self.prefix[:8], s)
        moved = []
        for role, name, inner in (("wire", o["wire"], "byowire"), ("svc", o["svc"], SVC_IF)):
            if len(name) > 15:
                raise LabError("interface name %s is longer than 15 characters" % name)
            if os.path.exists("/sys/class/net/%s" % name):
                run(["ip", "link", "set", name, "netns", self.ns[s]])
                moved.append(name)
                dev = name
            else:
                run(["ip", "link", "add", name, "type", "veth", "peer", "name", inner, "netns", self.ns[s]])
                run(["ip", "link", "set", name, "up"])
                dev = inner
            o[role + "_dev"] = dev
        with open(os.path.join(self.dir, "byo-moved"), "w") as f:
            f.write("".join("%s %s\n" % (s, n) for n in moved))
        self.router_net(s, o["wire_dev"])
        self.svc_addr(s, o["svc_dev"])

    def byo_release(self):
        """Gives interfaces moved into a site's namespace back to the root
        namespace (deleting the namespace would destroy a veth or TAP)."""
        try:
            with open(os.path.join(self.dir, "byo-moved")) as f:
                lines = f.read().split("\n")
        except OSError:
            return []
        back = []
        for ln in lines:
            w = ln.split()
            if len(w) == 2 and w[0] in self.ns and w[0] in ("a", "b"):
                r = self.nsrun(w[0], ["ip", "link", "set", w[1], "netns", "1"])
                if r.returncode == 0:
                    back.append(w[1])
        return back

    def vm_svc_nic(self, s):
        """A router VM's NIC on the service link of site s: SVC_IF in the
        VM, the TAP SVC_TAP in the site's namespace (svc_addr addresses
        it once QEMU has created it)."""
        return self.qvm().Nic(self.ns[s], SVC_TAP, SVC_IF)

    def vm_svc_rc(self, s):
        """The VM's side of the service link (lines of its rc script): its
        address and a host route to the site's KME and skip-proxy at
        LINK_IP, the address their certificates name."""
        return ("ip addr add %s/%d dev %s && ip link set %s up\n"
                "ip route add %s/32 via %s\n"
                % (SVC_IP[s][1], SVC_PREFIX, SVC_IF, SVC_IF, LINK_IP[s], SVC_IP[s][0]))

    def qvm(self):
        sys.path.insert(0, os.path.join(SRC, "tests", "lib"))
        import qvm  # noqa: E402 - the VM library lives with the tests
        return qvm

    def vm_start(self, s, cak=None, ckn=None):
        """Boots site s's router VM: NIC wire0 on the site's wire (through
        the bridge), NIC svc0 on the service link; then its personality
        (wpa; mka runs through vm_router_up)."""
        qvm = self.qvm()
        nics = [qvm.Nic(self.ns[s], "vmwire", "wire0"), self.vm_svc_nic(s)]
        rc = ("for f in /proc/sys/net/ipv6/conf/*/disable_ipv6; do echo 1 > $f; done\n"
              "ip link set wire0 up\n" + self.vm_svc_rc(s))
        binaries = ["wpa_supplicant", "openssl", "curl"]
        files = {}
        workdir = self.site(s, "vm")
        os.makedirs(workdir, exist_ok=True)
        try:
            vm = qvm.VM(nics=nics, binaries=binaries, files=files, rc=rc, workdir=workdir,
                        name="qkdlab-%s" % s, say=lambda m: None, outlive=self.vm_outlive)
            # The bridge needs the TAPs, which exist once QEMU runs; the
            # VM's own setup waits for nothing on the wire.
            vm.start()
        except qvm.VMError as e:
            raise LabError("the router VM of site %s did not start: %s" % (s.upper(), e),
                           "see docs/LAB.md (Linux VM site); scripts/deps installs QEMU")
        with open(os.path.join(self.dir, "pids"), "a") as f:
            f.write("qemu-vm-%s %d qemu-system-x86_64\n" % (s, vm.pid))
        self.vm = vm
        self.router_net(s, "vmwire")
        self.svc_addr(s, SVC_TAP)
        getattr(self, "vm_router_" + self.vm_personality)(vm, s, cak, ckn)
        return vm

    def vm_router_wpa(self, vm, s, cak, ckn):
        """Personality wpa: wpa_supplicant's MKA with the pre-shared CAK."""
        qvm = self.qvm()
        vm.put("/etc/wpa_supplicant.conf", qvm.wpa_supplicant_conf(cak, ckn, priority=32))
        vm.spawn("wpa_supplicant", "wpa_supplicant -D macsec_linux -i wire0 -c /etc/wpa_supplicant.conf")

    def vm_secy(self):
        """The kernel SecY in the VM once it transmits on an SA and receives
        from a peer (its `ip -j macsec show` dict), else None."""
        if self.vm is None:
            return None
        if self.vm.sock is None:        # detached when the lab came up
            self.vm = self.qvm().attach(self.vm.workdir)
        for x in self.qvm().kernel_macsec(self.vm):
            tx = [a for a in x.get("sa_list", []) if a.get("active") and a["an"] == x.get("encoding_sa")]
            rx = [a for sc in x.get("rx_sc", []) for a in sc.get("sa_list", []) if a.get("active")]
            if tx and rx:
                return x
        return None

    def router_status(self, s, env):
        """One line on site s's router for lab status."""
        if env.get("ROUTER_%s_KIND" % s.upper(), "").startswith("vm"):
            try:
                vm = self.qvm().attach(self.site(s, "vm"))
            except Exception as e:  # noqa: BLE001 - reported, not raised
                return "VM NOT RUNNING (%s)" % str(e).splitlines()[0]
            try:
                self.vm = vm
                x = self.vm_secy()
                return "VM running (pid %d); kernel MACsec %s" % (
                    vm.pid, "secured: %s, %s, encoding SA %d" % (x["ifname"], x["cipher_suite"], x["encoding_sa"])
                    if x else "not secured")
            finally:
                if vm.sock:
                    vm.sock.close()
        return "own router on %s (service link %s, its address %s)" % (
            env.get("ROUTER_%s_WIRE_IF" % s.upper()), env.get("ROUTER_%s_SVC_IF" % s.upper()),
            env.get("ROUTER_%s_SVC_IP" % s.upper()))

    def router_env(self):
        """lab.env lines for a site whose router is a VM or the user's own."""
        s = self.replaced()
        if s is None or self.vm_router:      # vm_router_env says it
            return {}
        S = s.upper()
        ident, key = self.psk(s)
        e = {"ROUTER_%s_KIND" % S: "vm-" + self.vm_personality if self.vm_site else "own",
             "ROUTER_%s_SVC_IP" % S: "%s/%d" % (SVC_IP[s][1], SVC_PREFIX),
             "ROUTER_%s_SVC_GW" % S: SVC_IP[s][0],
             "ROUTER_%s_KME_URL" % S: "https://%s:%d" % (LINK_IP[s], KME_PORT),
             "ROUTER_%s_SKIP" % S: "%s:%d" % (LINK_IP[s], SKIP_PORT),
             "ROUTER_%s_SKIP_PSK_ID" % S: ident,
             "ROUTER_%s_SKIP_PSK" % S: key,
             "ROUTER_%s_SAE" % S: SAE[s],
             "ROUTER_%s_PEER_SAE" % S: SAE["b" if s == "a" else "a"],
             "ROUTER_%s_MKA" % S: "cipher_suite=gcm-aes-128 confidentiality_offset=0 replay_protect=on "
                                  "replay_window=0 mkpdu_destination=01:80:c2:00:00:03 "
                                  "peer_key_server_priority=%d" % (16 if s == "b" else 32)}
        if self.mode == "interim":
            e["ROUTER_%s_CKN" % S] = self.key_id or ""
            e["ROUTER_%s_CAK_FROM" % S] = ("SKIP GET /key/%s?remoteSystemID=%s at ROUTER_%s_SKIP"
                                           % (self.key_id or "<CKN>", SAE["b" if s == "a" else "a"], S))
        if self.vm_site:
            e["ROUTER_%s_VM_DIR" % S] = self.site(s, "vm")
            e["ROUTER_%s_VM_CONSOLE" % S] = self.site(s, "vm", "console.log")
            e["ROUTER_%s_VM_PID" % S] = str(self.vm.pid if self.vm else "")
        else:
            o = self.byo[s]
            e["ROUTER_%s_WIRE_IF" % S] = o["wire"]
            e["ROUTER_%s_SVC_IF" % S] = o["svc"]
        return e

    # ---- the whole lab --------------------------------------------------------
    def up(self, narrate=None):
        """Brings the two sites up; narrate(event, **facts) reports steps."""
        note = narrate or (lambda ev, **kw: None)
        if os.path.exists(self.dir):
            shutil.rmtree(self.dir)
        os.makedirs(self.logs)
        for s in ("a", "b"):
            os.makedirs(self.site(s))
        note("start")
        for s in ("a", "b"):
            self.write(self.site(s, "skip.psk"), "router-%s:%s\n" % (s, os.urandom(32).hex()), 0o600)
            self.write(self.site(s, "skip-psk-session.pem"), psk_session_pem(self.psk(s)[1]), 0o600)
        self.make_pki()
        self.choose_mode()
        rs = self.replaced()
        if self.vm_site or (rs in self.byo and self.byo[rs]["mka"] == "psk"):
            # wpa_supplicant (and most routers) take a pre-shared CAK: the
            # lab's interim mode gives both sides a QKD key fetched via SKIP.
            self.mode = "interim"
            self.mode_note = "site %s's router takes a pre-shared CAK" % rs.upper()
        note("mode", mode=self.mode, why=self.mode_note)
        note("pki", dir=self.pki)
        self.make_netns()
        note("netns", ns=self.ns)
        note("dash", url=self.start_dash())
        if rs in self.byo:
            self.byo_attach(rs)

        # KMEs and their link.
        for s in ("a", "b"):
            self.write(self.site(s, "kme-sim.conf"), self.kme_conf(s))
            self.start("kme-sim-" + s, s, [self.bin("kme-sim"), "-d", "-f", self.site(s, "kme-sim.conf")])
        kme_names = ("kme-sim-a", "kme-sim-b")

        def linked():
            ms = [self.kme_metrics(s) for s in ("a", "b")]
            if all(ms) and all(metric(m, "kme_link_up") == 1 for m in ms):
                return ms
            return None
        self.wait("the KME link between KME_A and KME_B", linked, 30, kme_names)
        note("kme_paired")

        def pool():
            m = self.kme_metrics("a")
            return m and (metric(m, "kme_pool_keys") or 0) >= 1 and m
        m = self.wait("key material in the KME pool", pool, 30, kme_names)
        note("pool", keys=int(metric(m, "kme_pool_keys")))

        # SKIP proxies.
        for s in ("a", "b"):
            self.write(self.site(s, "skip-proxy.conf"), self.skip_conf(s))
            self.start("skip-proxy-" + s, s, [self.bin("skip-proxy"), "-d", "-f",
                                               self.site(s, "skip-proxy.conf")])
        for s in ("a", "b"):
            self.wait("skip-proxy %s" % s.upper(), lambda s=s: self.skip_metrics(s) is not None, 30,
                      ("skip-proxy-" + s,))
        note("skip_up")

        # Data plane: a replaced site's is in its VM or the user's router.
        sw_sites = self.own_sites()
        if self.vm_router:
            self.vm_router_up(note)
        for s in sw_sites:
            self.start("macsec-sw-" + s, s, [self.bin("macsec-sw"), "-d", "-i", WIRE, "-t", TAP,
                                              "-s", self.site(s, "macsec.sock"),
                                              "-m", "127.0.0.1:%d" % SECY_METRICS])
        for s in sw_sites:
            self.wait("macsec-sw %s's control socket" % s.upper(),
                      lambda s=s: self.ctl(s, "get-sci") is not None, 30, ("macsec-sw-" + s,))
            self.nsrun(s, ["sysctl", "-q", "-w", "net.ipv6.conf.%s.disable_ipv6=1" % TAP])
            self.nsrun(s, ["ip", "addr", "add", TAP_IP[s] + "/24", "dev", TAP], check=True)
            self.nsrun(s, ["ip", "link", "set", TAP, "up"], check=True)
        note("secy_up", sci={s: (self.ctl(s, "get-sci") or "").strip() for s in sw_sites})

        # Keys for MKA.
        cak = ckn = None
        if self.mode == "interim":
            # Interim: the lab does what mka-agent's QKD-via-SKIP mode will do,
            # once, and hands the key to mka-agent as its pre-shared CAK.
            # With a router of the user's at one site, the other initiates
            # and the user's router fetches the key by its ID itself.
            ini = "b" if rs == "a" else "a"
            rsp = "b" if ini == "a" else "a"
            bits = ROUTER_CAK_BITS if rs else CAK_BITS
            code, js = self.skip_get(ini, "/key?remoteSystemID=%s&size=%d" % (SAE[rsp], bits))
            if code != 200 or "keyId" not in js:
                raise LabError("site %s's SKIP proxy refused a new key (%d %s)"
                               % (ini.upper(), code, js.get("message", "")),
                               "see %s" % os.path.join(self.logs, "skip-proxy-%s.log" % ini))
            ckn, cak = js["keyId"].lower(), js["key"].lower()
            self.key_id = ckn
            note("key_id", key_id=ckn, site=ini)
            if rsp not in self.byo:
                code, jb = self.skip_get(rsp, "/key/%s?remoteSystemID=%s" % (ckn, SAE[ini]))
                if code != 200 or jb.get("key", "").lower() != cak:
                    raise LabError("site %s could not fetch key %s by its ID (%d %s)"
                                   % (rsp.upper(), ckn, code, jb.get("message", "")),
                                   "see %s" % os.path.join(self.logs, "skip-proxy-%s.log" % rsp))
                note("key_fetched", key_id=ckn, site=rsp)
        for s in self.own_sites():
            self.write(self.site(s, "mka-agent.conf"), self.mka_conf(s, cak, ckn), 0o600)
        for s in sw_sites:
            self.start("mka-agent-" + s, s, [self.bin("mka-agent"), "-d", "-f", self.site(s, "mka-agent.conf")])
        if self.vm_router:
            self.vm_router_agent()
        agents = tuple("mka-agent-" + s for s in sw_sites)
        note("mka_started")
        if self.vm_site:
            self.vm_start(self.vm_site, cak, ckn)
            note("vm_up", site=self.vm_site, seconds=self.vm.boot_seconds, kernel=self.vm.kernel_version)
        if self.byo:
            # The user's router is configured after this (lab.env says how):
            # nothing to wait for.
            self.write_env()
            note("env", path=self.env_path())
            return {s: self.mka_status(s) for s in self.own_sites()}

        seen = set()

        def once(key, ev, **kw):
            if key not in seen:
                seen.add(key)
                note(ev, **kw)

        def secured():
            st = {s: self.mka_status(s) for s in self.own_sites() + (("b",) if self.vm_router else ())}
            if self.mode != "interim":
                if int(st.get("b", {}).get("announcements", 0) or 0) > 0:
                    once("ann", "announce", site="b", sae=SAE["b"])
                for s in st:
                    if int(st[s].get("keys_fetched", 0) or 0) > 0:
                        ckn = self.logged_ckn(s)
                        if ckn:
                            # A new key ID each time the site's CA changes
                            # (e.g. a CA that ended before the peer joined).
                            self.key_id = ckn
                            once(("key", s, ckn), "key_id", key_id=ckn, site=s,
                                 again=any(k[:2] == ("key", s) for k in seen if isinstance(k, tuple)))
            for s in self.own_sites():
                x = st[s]
                if int(x.get("sak_installed", 0) or 0) > 0:
                    once(("sak", s), "sak", site=s, kn=x.get("kn"), an=x.get("an"), suite=x.get("cipher_suite"))
            if all(st[s].get("state") == "secured" for s in st):
                sa = {s: self.ctl(s, "show") or "" for s in sw_sites}
                if all(re.search(r"TXSC: \S+ on SA \d", sa[s]) for s in sw_sites):
                    if not self.vm_site:
                        return st
                    x = self.vm_secy()
                    if x:
                        st[self.vm_site] = {"state": "secured", "kernel_secy": x["ifname"],
                                            "cipher_suite": x["cipher_suite"]}
                        return st
            return None
        st = self.wait("MKA to secure the link", secured, 90 if (self.vm_router or self.vm_site) else 60,
                       agents + tuple("macsec-sw-" + s for s in sw_sites))
        if self.vm_site:
            # The VM's controlled port gets the site's address.
            dev = st[self.vm_site]["kernel_secy"]
            self.vm.sh("ip addr add %s/24 dev %s && ip link set %s up" % (TAP_IP[self.vm_site], dev, dev))
            self.vm.detach()
        note("secured", status=st)
        self.write_env()
        note("env", path=self.env_path())
        return st

    def logged_ckn(self, s):
        """The CKN of the latest CAK in site s's key log (the QKD key ID)."""
        ckn = None
        try:
            with open(self.site(s, "keys.log")) as f:
                for ln in f:
                    if ln.startswith("CAK "):
                        ckn = ln.split()[1]
        except OSError:
            pass
        return ckn

    def lab_env(self):
        e = {"CA_CERT": os.path.join(self.pki, "sae-ca.crt")}
        for s in ("a", "b"):
            S = s.upper()
            e["KME_%s_URL" % S] = "https://%s:%d" % (LINK_IP[s], KME_PORT)
            e["KME_%s_NS" % S] = self.ns[s]
        for s in ("a", "b", "c"):
            S = s.upper()
            e["SAE_%s" % S] = SAE[s]
            e["SAE_%s_CERT" % S] = os.path.join(self.pki, SAE[s] + ".crt")
            e["SAE_%s_KEY" % S] = os.path.join(self.pki, SAE[s] + ".key")
        for s in ("a", "b"):
            S = s.upper()
            ident, key = self.psk(s)
            e["SKIP_%s_URL" % S] = "https://%s:%d" % (LINK_IP[s], SKIP_PORT)
            e["SKIP_%s_NS" % S] = self.ns[s]
            e["SKIP_%s_PSK_ID" % S] = ident
            e["SKIP_%s_PSK" % S] = key
            e["SKIP_%s_PSK_SESSION" % S] = self.site(s, "skip-psk-session.pem")
        for s in ("a", "b"):
            S = s.upper()
            e["ROUTER_%s_NS" % S] = self.ns[s]
            e["WIRE_%s" % S] = WIRE
            e["MACSEC_%s" % S] = TAP
            e["IP_%s" % S] = TAP_IP[s]
            e["KEYLOG_%s" % S] = self.site(s, "keys.log")
            e["MACSEC_CTL_%s" % S] = self.site(s, "macsec.sock")
            e["MKA_STATUS_%s" % S] = self.site(s, "mka-agent.sock")
            e["KME_%s_ADMIN" % S] = "http://127.0.0.1:%d" % ADMIN_PORT
        if self.vm_router:
            e.update(self.vm_router_env())
        e["LAB_MODE"] = self.mode or ""
        e["LAB_DIR"] = self.dir
        if self.dash_listen:
            e["DASH_URL"] = self.dash_url()
        e.update(self.router_env())
        return e

    def write_env(self):
        lines = ["# qkdlab lab — written by scripts/lab up; removed by scripts/lab down",
                 "# shell KEY=value lines; see README.md (Lab)"]
        for k, v in self.lab_env().items():
            lines.append("%s=%s" % (k, v))
        self.write(self.env_path(), "\n".join(lines) + "\n", 0o600)

    # ---- site B's router as a VM (--vm-router) ---------------------------------
    # The VM (tests/lib/qvm.py) has two NICs: "wire0", whose TAP is site A's
    # wire0 in place of the veth, and SVC_IF, the service link to site B's
    # namespace (vm_svc_nic), routed to KME_B and skip-proxy B (198.51.100.2).  QEMU outlives
    # scripts/lab up: its pid is recorded like a daemon's, so lab down ends
    # it, and its work directory lies in the lab's.

    def sw_sites(self):
        """The sites whose router is macsec-sw + mka-agent in a namespace."""
        return ("a",) if self.vm_router else ("a", "b")

    def vm_dir(self):
        return os.path.join(self.dir, "vm-b")

    def vm_router_up(self, note):
        if self.vm_router not in VM_PERSONALITIES:
            raise LabError("--vm-router %s: no such personality" % self.vm_router,
                           "use one of: %s" % ", ".join(VM_PERSONALITIES))
        if self.vm_router == "mka" and self.mode == "interim":
            raise LabError("--vm-router mka needs mka-agent's QKD mode (SKIP or ETSI 014)",
                           "build mka-agent with its key sources, or leave QKDLAB_LAB_MODE unset")
        sys.path.insert(0, os.path.join(SRC, "tests", "lib"))
        import qvm
        # The wire is the VM's TAP: the veth goes, the TAP takes its name.
        self.nsrun("a", ["ip", "link", "del", WIRE], check=True)
        pki = "/etc/qkdlab/pki"
        files = {pki + "/sae-ca.crt": os.path.join(self.pki, "sae-ca.crt"),
                 pki + "/%s.crt" % SAE["b"]: os.path.join(self.pki, SAE["b"] + ".crt")}
        with open(os.path.join(self.pki, SAE["b"] + ".key"), "rb") as f:
            files[pki + "/%s.key" % SAE["b"]] = f.read()        # bytes: mode 0600 in the VM
        files["/etc/qkdlab/status.sh"] = ("#!/bin/sh\nexec mka-agent -f %s status\n" % VM_CONF).encode()
        rc = "\n".join([
            "echo 1 > /proc/sys/net/ipv6/conf/wire0/disable_ipv6",
            "ip link set wire0 up",
            self.vm_svc_rc("b").rstrip("\n"),
            "chmod 755 /etc/qkdlab/status.sh",
            # mka-agent status for scripts/lab status, from site B's namespace.
            "nc -ll -p %d -e /etc/qkdlab/status.sh &" % VM_STATUS_PORT, ""])
        vm = qvm.VM(nics=[qvm.Nic(self.ns["a"], WIRE, guest="wire0"),
                          self.vm_svc_nic("b")],
                    binaries=[self.bin("mka-agent")], files=files, rc=rc, name="qkdlab-b",
                    workdir=self.vm_dir(), say=lambda msg: note(msg), outlive=self.vm_outlive)
        try:
            vm.start()
        except qvm.VMError as e:
            raise LabError("site B's VM router did not start: %s" % e,
                           "see %s; scripts/deps installs QEMU and the kernel tools" % self.vm_dir())
        self.vm = vm
        with open(os.path.join(self.dir, "pids"), "a") as f:
            f.write("vm-b %d qemu-system-x86_64\n" % vm.proc.pid)
        self.svc_addr("b", SVC_TAP)
        self.nsrun("a", ["sysctl", "-q", "-w", "net.ipv6.conf.%s.disable_ipv6=1" % WIRE], check=True)
        note("vm_up", seconds=vm.boot_seconds, kernel=vm.kernel_version)

    def vm_router_conf(self, cak=None, ckn=None):
        """Site B's mka-agent configuration, for the VM: the lab's, with
        the VM's paths and the kernel SecY (macsec0 on wire0)."""
        sub = {"status_socket": "/run/mka-agent.sock", "key_log": "/run/keys.log",
               "kme_cert": "/etc/qkdlab/pki/%s.crt" % SAE["b"], "kme_key": "/etc/qkdlab/pki/%s.key" % SAE["b"],
               "kme_ca": "/etc/qkdlab/pki/sae-ca.crt"}
        out = []
        for ln in self.mka_conf("b", cak, ckn).splitlines():
            m = re.match(r"(\w+) = ", ln)
            if m and m.group(1) == "secy_socket":
                continue
            out.append("%s = %s" % (m.group(1), sub[m.group(1)]) if m and m.group(1) in sub else ln)
        return "\n".join(out + ["secy = kernel", "secy_netdev = %s" % TAP, ""])

    def vm_router_agent(self, conf=None):
        """Starts the VM's mka-agent (log /var/log/mka-agent.log in the VM)
        with conf (default vm_router_conf()), and puts site B's address on
        the macsec netdev it creates; returns once that is done or the
        agent has given up."""
        vm = self.vm
        conf = conf or self.vm_router_conf()
        self.write(self.site("b", "mka-agent.conf"), conf, 0o600)    # a copy, for the record
        vm.sh("mkdir -p /etc/qkdlab && echo %s | base64 -d > %s && chmod 600 %s && : > /var/log/mka-agent.log"
              % (base64.b64encode(conf.encode()).decode(), VM_CONF, VM_CONF), timeout=90)
        # Each step may be repeated (a caller retrying after a stalled
        # command channel): one agent, one address.
        vm.sh("pidof mka-agent >/dev/null || "
              "setsid /bin/dash -c 'exec mka-agent -d -f %s' </dev/null >>/var/log/mka-agent.log 2>&1 &"
              % VM_CONF, timeout=90)
        # The address goes on the kernel's controlled port once it exists.
        vm.sh("for i in $(seq 100); do ip link show %s >/dev/null 2>&1 && break; "
              "pidof mka-agent >/dev/null || exit 0; sleep 0.2; done; "
              "echo 1 > /proc/sys/net/ipv6/conf/%s/disable_ipv6; ip addr replace %s/24 dev %s"
              % (TAP, TAP, TAP_IP["b"], TAP), timeout=90)
        # From here on the VM runs on its own: QEMU outlives this process.
        import atexit
        atexit.unregister(vm.stop)

    def vm_router_status(self):
        # The VM answers slowly (no KVM; the agent is started per request).
        r = self.nsrun("b", ["bash", "-c", "exec 3<>/dev/tcp/%s/%d && timeout 15 cat <&3"
                             % (SVC_IP["b"][1], VM_STATUS_PORT)], timeout=20)
        return kv_line(r.stdout) if r.returncode == 0 and "state=" in r.stdout else {}

    def vm_router_env(self):
        return {"ROUTER_B_VM": self.vm_router,
                "ROUTER_B_VM_DIR": self.vm_dir(),
                "ROUTER_B_VM_CONSOLE": os.path.join(self.vm_dir(), "console.log"),
                "ROUTER_B_VM_SITE_IP": SVC_IP["b"][1],
                "ROUTER_B_VM_STATUS": "%s:%d" % (SVC_IP["b"][1], VM_STATUS_PORT),
                "MACSEC_B": "%s (kernel MACsec, in the VM)" % TAP,
                # Site B's SecY and agent are in the VM: nothing of theirs
                # on the host.
                "MACSEC_CTL_B": "", "MKA_STATUS_B": "",
                "KEYLOG_B": "", "ROUTER_B_VM_KEYLOG": "/run/keys.log (in the VM)"}

    # ---- tear down ---------------------------------------------------------------
    def recorded(self):
        """[(name, pid)] of the processes this lab started that still run
        the program they were started as (a reused pid is not ours)."""
        out = []
        try:
            with open(os.path.join(self.dir, "pids")) as f:
                lines = f.read().splitlines()
        except OSError:
            return out
        for ln in lines:
            parts = ln.split()
            if len(parts) < 3:
                continue
            name, pid, prog = parts[0], int(parts[1]), parts[2]
            try:
                with open("/proc/%d/cmdline" % pid, "rb") as c:
                    cmd = c.read().split(b"\0")
            except OSError:
                continue
            if cmd and prog.encode() in cmd[:6] and not _zombie(pid):
                out.append((name, pid))
        return out

    def lab_pids(self):
        """Every process of this lab: the ones recorded at start and
        anything running in the lab's namespaces."""
        pids = {pid for _, pid in self.recorded()}
        present = netns_list()
        for n in self.ns.values():
            if n in present:
                r = subprocess.run(["ip", "netns", "pids", n], capture_output=True, text=True)
                pids.update(int(x) for x in r.stdout.split() if x.isdigit())
        pids.discard(os.getpid())
        return {p for p in pids if not _zombie(p)}

    def _stop(self, pids, timeout):
        """SIGTERM, wait up to timeout, then SIGKILL; returns how many
        needed SIGKILL."""
        for pid in pids:
            try:
                os.kill(pid, signal.SIGTERM)
            except OSError:
                pass
        end = time.monotonic() + timeout
        while pids and time.monotonic() < end:
            for p in self.procs.values():
                p.poll()
            pids = {p for p in pids if os.path.exists("/proc/%d" % p) and not _zombie(p)}
            time.sleep(0.05)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        return len(pids)

    def down(self, timeout=8.0):
        """Stops every lab process, deletes the namespaces (and so their
        veths and TAPs) and removes the state directory.  Returns a list of
        what was removed; safe to call when nothing is up."""
        removed = []
        # In order: the agents first (they remove their SAs from macsec-sw),
        # then the data plane and captures, the SKIP proxies, the KMEs, and
        # last anything else still running in the lab's namespaces.
        rec = self.recorded()
        for p in self.procs.values():
            if p.poll() is None and p.pid not in {x[1] for x in rec}:
                rec.append(("?", p.pid))
        killed = 0
        for group in ("mka-agent", ("macsec-sw", "tcpdump", "iperf3"), "skip-proxy", "kme-sim"):
            pids = {pid for name, pid in rec if name.startswith(group)}
            killed += self._stop(pids, timeout)
        killed += self._stop(self.lab_pids() | {pid for _, pid in rec}, timeout)
        for p in self.procs.values():
            try:
                p.wait(2)
            except subprocess.TimeoutExpired:
                pass
        if killed:
            removed.append("%d process(es) that needed SIGKILL" % killed)
        save = os.environ.get("QKDLAB_LAB_SAVE_LOGS")
        if save and os.path.isdir(self.logs):
            # For tests: the daemon logs and exit statuses, before the
            # state directory goes.
            shutil.copytree(self.logs, save, dirs_exist_ok=True)
            with open(os.path.join(save, "exit-status"), "w") as f:
                for name, p in self.procs.items():
                    f.write("%s %s\n" % (name, p.returncode))
        for name in self.byo_release():
            removed.append("interface %s given back to the root namespace" % name)
        present = netns_list()
        for n in self.ns.values():
            if n in present:
                subprocess.run(["ip", "netns", "del", n], capture_output=True)
                removed.append("namespace " + n)
        if os.path.exists(self.dir):
            shutil.rmtree(self.dir, ignore_errors=True)
            removed.append(self.dir)
        return removed

    def leftovers(self):
        """What a lab-down would still find (empty when clean)."""
        left = []
        left += ["namespace " + n for n in self.ns.values() if n in netns_list()]
        left += ["process %d" % p for p in self.lab_pids()]
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open("/proc/%s/cmdline" % pid, "rb") as f:
                    cmd = f.read()
            except OSError:
                continue
            if self.dir.encode() in cmd and int(pid) != os.getpid():
                left.append("process %s (%s)" % (pid, cmd.replace(b"\0", b" ")[:80].decode(errors="replace")))
        if os.path.exists(self.dir):
            left.append(self.dir)
        return left


def _zombie(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def load_env(path):
    e = {}
    with open(path) as f:
        for ln in f:
            ln = ln.strip()
            if ln and not ln.startswith("#") and "=" in ln:
                k, v = ln.split("=", 1)
                e[k] = v
    return e
