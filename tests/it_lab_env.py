#!/usr/bin/python3
"""it_lab_env.py — `scripts/lab up|status|down` and build/lab/lab.env as an
external test harness uses it.

With its own namespace prefix and state directory (a lab a person has up
is left alone): lab up secures the link; lab.env holds every documented
key; with nothing but lab.env, curl gets keys from both KMEs as SAE A and
SAE B (the same key at both), SAE C is refused a key it is not a slave
of, openssl s_client gets the same key from both SKIP proxies with the
PSKs, ping passes between IP_A and IP_B, the key log has the CAK and SAK;
a second lab up is refused and says what to do; lab down leaves no
namespace, process or file, and a second lab down is harmless.  Also the
errors a newcomer meets: not root, a missing program.
"""
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import tap  # noqa: E402

t = tap.Tap()
tap.require_root(t)
tap.require_bins(t, "kme-sim/kme-sim", "skip-proxy/skip-proxy", "macsec-sw/macsec-sw", "mka-agent/mka-agent")

LAB = os.path.join(tap.SRC, "scripts", "lab")
DEMO = os.path.join(tap.SRC, "scripts", "demo")
sys.path.insert(0, os.path.join(tap.SRC, "scripts"))
import lablib  # noqa: E402

tmp = tempfile.mkdtemp(prefix="qkdlab-itlabenv-")
os.chmod(tmp, 0o755)
t.cleanup(lambda: subprocess.run(["rm", "-rf", tmp]))
prefix = "qke%d" % (os.getpid() % 100000)
state = os.path.join(tmp, "lab")
env = dict(os.environ, QKDLAB_LAB_DIR=state, QKDLAB_LAB_NS=prefix,
           QKDLAB_LAB_SAVE_LOGS=os.path.join(tmp, "logs"))
env.pop("QKDLAB_LAB_MODE", None)
lab = lablib.Lab(state=state, prefix=prefix)
t.cleanup(lab.down)


def labcmd(*args, **kw):
    return subprocess.run([LAB] + list(args), env=kw.pop("env", env), capture_output=True, text=True,
                          timeout=kw.pop("timeout", 180), **kw)


# 0. Errors a newcomer meets, before anything is up.  A checkout under /root
# (mode 0700, as a root user's clone is) is not readable by nobody: the
# unprivileged user keeps CAP_DAC_READ_SEARCH, enough to read the scripts,
# while its uid stays 65534.
nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
          "--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search"]
r = subprocess.run(nobody + [LAB, "up"], env=env, capture_output=True, text=True, timeout=30)
t.ok(r.returncode == 1 and "needs root" in r.stderr and "sudo" in r.stderr,
     "not root: lab up refuses and says to use sudo", r.stdout + r.stderr)
r = subprocess.run(nobody + [DEMO], env=env, capture_output=True, text=True, timeout=30)
t.ok(r.returncode == 1 and "needs root" in r.stderr and "sudo make demo" in r.stderr,
     "not root: the demo refuses and says: sudo make demo", r.stdout + r.stderr)
r = subprocess.run([DEMO], env=dict(env, PATH="/usr/sbin:/sbin"), capture_output=True, text=True, timeout=30)
t.ok(r.returncode == 1 and "missing program" in r.stderr and "scripts/deps" in r.stderr
     and "apt-get install" in r.stderr, "missing program: the demo names it and how to install it", r.stderr)
t.ok(not lab.leftovers(), "refusals leave nothing behind", lab.leftovers())

# A port in use: provoked by giving site A's skip-proxy the KME's port.
probe = r"""
import sys
sys.path.insert(0, %r)
import lablib
lablib.SKIP_PORT = lablib.KME_PORT
lab = lablib.Lab()
try:
    lab.preflight()
    lab.up()
except lablib.LabError as e:
    print("MSG", e.msg.splitlines()[0])
    print("HINT", e.hint)
finally:
    lab.down()
""" % os.path.join(tap.SRC, "scripts")
r = subprocess.run(["/usr/bin/python3", "-c", probe], env=env, capture_output=True, text=True, timeout=120)
t.ok("skip-proxy-a exited" in r.stdout and "port 8443 is already in use inside namespace %s-a" % prefix in r.stdout
     and "lab-down" in r.stdout, "a port in use: the error names the daemon, the port, the namespace and what to do",
     r.stdout + r.stderr)
t.ok(not lab.leftovers(), "the failed start left nothing behind", lab.leftovers())

r = labcmd("up", env=dict(env, QKDLAB_LAB_MODE="quantum"))
t.ok(r.returncode == 1 and "not a mode" in r.stderr and "qkd-skip" in r.stderr,
     "an unknown QKDLAB_LAB_MODE is refused with the list of modes", r.stderr)
t.ok(not lab.leftovers(), "the refused mode left nothing behind", lab.leftovers())

# 1. Up, on the ETSI 014 key path (it_lab_demo covers QKD via SKIP).
r = labcmd("up", env=dict(env, QKDLAB_LAB_MODE="qkd-014"))
up_out = r.stdout
t.eq(r.returncode, 0, "scripts/lab up exits 0")
t.ok("link SECURED" in r.stdout, "lab up reports the link SECURED", r.stdout[-2000:] + r.stderr[-2000:])
t.ok("mode: QKD via ETSI 014" in r.stdout and "site B has QKD key ID" in r.stdout,
     "QKDLAB_LAB_MODE=qkd-014: mka-agent takes its CAK from the KME over ETSI 014", r.stdout)
envfile = os.path.join(state, "lab.env")
e = lablib.load_env(envfile) if os.path.exists(envfile) else {}
want = ["CA_CERT", "KME_A_URL", "KME_B_URL", "KME_A_NS", "KME_B_NS"]
for s in "ABC":
    want += ["SAE_%s" % s, "SAE_%s_CERT" % s, "SAE_%s_KEY" % s]
for s in "AB":
    want += ["SKIP_%s_URL" % s, "SKIP_%s_NS" % s, "SKIP_%s_PSK_ID" % s, "SKIP_%s_PSK" % s,
             "ROUTER_%s_NS" % s, "WIRE_%s" % s, "MACSEC_%s" % s, "IP_%s" % s, "KEYLOG_%s" % s]
missing = [k for k in want if k not in e or (not e[k] and not k.endswith("_NS"))]
t.eq(e.get("LAB_MODE"), "qkd-014", "lab.env records LAB_MODE")
t.ok(not missing, "lab.env has every documented key", missing)
if missing:
    sys.exit(1)
with open(envfile) as f:
    lines = [ln for ln in f.read().splitlines() if ln and not ln.startswith("#")]
t.ok(all(re.match(r"^[A-Z][A-Z0-9_]*=[^\s'\"$`]*$", ln) for ln in lines), "lab.env is plain shell KEY=value lines")
r = subprocess.run(["sh", "-c", ". %s && echo \"$SAE_A $KME_B_URL\"" % envfile], capture_output=True, text=True)
t.eq(r.stdout.strip(), "%s %s" % (e["SAE_A"], e["KME_B_URL"]), "lab.env can be sourced by sh")
t.ok(all(len(e["SAE_%s" % s]) % 4 == 0 for s in "ABC"), "SAE IDs are a multiple of 4 octets long")
keys = [e["SAE_%s_KEY" % s] for s in "ABC"]
t.ok(all(os.stat(k).st_mode & 0o077 == 0 for k in keys), "SAE private keys are mode 0600")


def ns_argv(ns):
    return ["ip", "netns", "exec", ns] if ns else []


def kme(site, sae, path):
    r = subprocess.run(ns_argv(e["KME_%s_NS" % site]) + [
        "curl", "-s", "-m", "10", "-w", "\n%{http_code}", "--cacert", e["CA_CERT"],
        "--cert", e["SAE_%s_CERT" % sae], "--key", e["SAE_%s_KEY" % sae],
        e["KME_%s_URL" % site] + path], capture_output=True, text=True, timeout=20)
    body, _, code = r.stdout.rpartition("\n")
    try:
        return int(code), json.loads(body) if body else {}
    except ValueError:
        return int(code or 0), {}


# 2. ETSI 014 with nothing but lab.env.
code, st = kme("A", "A", "/api/v1/keys/%s/status" % e["SAE_B"])
t.ok(code == 200 and st.get("slave_SAE_ID") == e["SAE_B"] and st.get("stored_key_count", 0) > 0,
     "SAE A gets KME A's status for slave SAE B (pool %s keys)" % st.get("stored_key_count"), st)
code, enc = kme("A", "A", "/api/v1/keys/%s/enc_keys?number=1&size=256" % e["SAE_B"])
kid = enc.get("keys", [{}])[0].get("key_ID", "")
t.ok(code == 200 and kid, "SAE A gets a new key from KME A (key ID %s)" % kid, enc)
code, dec_c = kme("B", "C", "/api/v1/keys/%s/dec_keys?key_ID=%s" % (e["SAE_A"], kid))
t.ok(code in (400, 401), "SAE C (registered at KME B, not a slave of that key) is refused it (%d)" % code, dec_c)
code, dec = kme("B", "B", "/api/v1/keys/%s/dec_keys?key_ID=%s" % (e["SAE_A"], kid))
t.ok(code == 200 and dec.get("keys", [{}])[0].get("key") == enc["keys"][0].get("key"),
     "SAE B gets the same key by ID from KME B", dec)


# 3. SKIP with the PSKs from lab.env.
def skip(site, target):
    url = re.match(r"https://([^/]+)$", e["SKIP_%s_URL" % site])
    req = "GET %s HTTP/1.1\r\nHost: skip\r\nConnection: close\r\n\r\n" % target
    r = subprocess.run(ns_argv(e["SKIP_%s_NS" % site]) + [
        "openssl", "s_client", "-quiet", "-ign_eof", "-connect", url.group(1), "-tls1_2",
        "-cipher", "DHE-PSK-AES256-GCM-SHA384", "-psk_identity", e["SKIP_%s_PSK_ID" % site],
        "-psk", e["SKIP_%s_PSK" % site]], input=req, capture_output=True, text=True, timeout=20)
    m = re.match(r"HTTP/1\.[01] (\d+)", r.stdout)
    body = r.stdout[r.stdout.find("{"):r.stdout.rfind("}") + 1]
    try:
        return (int(m.group(1)) if m else 0), json.loads(body) if body else {}
    except ValueError:
        return (int(m.group(1)) if m else 0), {}


code, cap = skip("A", "/capabilities")
t.ok(code == 200 and cap.get("localSystemID") == e["SAE_A"], "SKIP A: capabilities name SAE A", cap)
code, ka = skip("A", "/key?remoteSystemID=%s" % e["SAE_B"])
t.ok(code == 200 and len(ka.get("keyId", "")) == 32, "SKIP A: a new key for SAE B", ka.get("keyId"))
code, kb = skip("B", "/key/%s?remoteSystemID=%s" % (ka.get("keyId"), e["SAE_A"]))
t.ok(code == 200 and kb.get("key") and kb.get("key") == ka.get("key"), "SKIP B: the same key by its ID")

# TLS 1.3 with the draft's suite, the PSK from the session file lab.env names.
sess = e.get("SKIP_A_PSK_SESSION", "")
t.ok(os.path.isfile(sess) and os.stat(sess).st_mode & 0o077 == 0,
     "lab.env names site A's PSK session file, not readable by others", sess)
url = re.match(r"https://([^/]+)$", e["SKIP_A_URL"])
r = subprocess.run(ns_argv(e["SKIP_A_NS"]) + [
    "openssl", "s_client", "-quiet", "-ign_eof", "-connect", url.group(1), "-tls1_3",
    "-ciphersuites", "TLS_AES_256_GCM_SHA384", "-psk_identity", e["SKIP_A_PSK_ID"],
    "-psk_session", sess], input="GET /capabilities HTTP/1.1\r\nHost: skip\r\nConnection: close\r\n\r\n",
    capture_output=True, text=True, timeout=20)
t.ok(r.stdout.startswith("HTTP/1.1 200") and e["SAE_A"] in r.stdout,
     "SKIP A over TLS 1.3 (TLS_AES_256_GCM_SHA384) with openssl s_client -psk_session", r.stdout + r.stderr)

# 4. The routers: wire, TAP, addresses, traffic, key log.
ra, rb = e["ROUTER_A_NS"], e["ROUTER_B_NS"]
r = subprocess.run(ns_argv(ra) + ["ip", "-o", "addr", "show", "dev", e["WIRE_A"]], capture_output=True, text=True)
t.ok(r.returncode == 0 and " inet" not in r.stdout, "WIRE_A exists in ROUTER_A_NS without an IP address",
     r.stdout + r.stderr)
r = subprocess.run(ns_argv(rb) + ["ip", "-o", "addr", "show", "dev", e["MACSEC_B"]], capture_output=True, text=True)
t.ok(e["IP_B"] + "/" in r.stdout, "MACSEC_B carries IP_B", r.stdout)
r = subprocess.run(ns_argv(ra) + ["ping", "-c", "3", "-i", "0.2", "-W", "2", "-I", e["MACSEC_A"], e["IP_B"]],
                   capture_output=True, text=True, timeout=20)
t.eq(r.returncode, 0, "ping IP_A -> IP_B over MACSEC_A")
with open(e["KEYLOG_A"]) as f:
    klog = f.read()
t.ok(re.search(r"^CAK [0-9a-f]+ [0-9a-f]+$", klog, re.M) and re.search(r"^SAK [0-9a-f]+ \d \d+ [0-9a-f]+", klog, re.M),
     "KEYLOG_A has CAK and SAK lines")

# 5. Status, a refused second up, down, and nothing left.
r = labcmd("status")
t.ok(r.returncode == 0 and r.stdout.count("MKA secured") == 2 and "NOT RUNNING" not in r.stdout,
     "lab status: every daemon running, both sites secured", r.stdout)
r = labcmd("up")
t.ok(r.returncode == 1 and "already up" in r.stderr and "lab-down" in r.stderr,
     "a second lab up is refused and says to run lab-down", r.stdout + r.stderr)
r = labcmd("status")
t.eq(r.returncode, 0, "the refused second up left the lab running")
# A CI gate: a daemon down makes lab status fail and say which.
agents = []
for pid in lab.lab_pids():
    try:
        with open("/proc/%d/comm" % pid) as f:
            if f.read().strip() == "mka-agent":
                agents.append(pid)
    except OSError:
        pass
if agents:
    os.kill(min(agents), 9)
    tap.wait_for(lambda: not os.path.exists("/proc/%d/comm" % min(agents)) or
                 open("/proc/%d/stat" % min(agents)).read().split()[2] == "Z", timeout=10)
r = labcmd("status")
t.ok(len(agents) == 2 and r.returncode == 1 and "NOT OK" in r.stdout and "mka-agent: 1 of 2 running" in r.stdout,
     "lab status with one mka-agent killed exits 1 naming it", r.stdout + r.stderr)
# The teardown command lab up printed, for this prefix and state directory.
m = re.search(r"take it down: (?:sudo )?(.*)$", up_out, re.M)
t.ok(m is not None and "QKDLAB_LAB_NS=%s" % prefix in m.group(1) and "QKDLAB_LAB_DIR=%s" % state in m.group(1)
     and "make lab-down" not in up_out, "lab up prints the teardown command for its own prefix and state", up_out)
# Run as a shell would, without a shell (lab down counts any process naming
# the state directory as the lab's): leading NAME=value words are environment.
down_env = dict(os.environ)
down_env.pop("QKDLAB_LAB_DIR", None)
down_env.pop("QKDLAB_LAB_NS", None)
words = shlex.split(m.group(1)) if m else ["false"]
while words and re.match(r"^[A-Z_]+=", words[0]):
    k, _, v = words.pop(0).partition("=")
    down_env[k] = v
r = subprocess.run(words, env=down_env, capture_output=True, text=True, timeout=120)
t.ok(r.returncode == 0 and "lab is down" in r.stdout, "that command (scripts/lab down) exits 0", r.stdout + r.stderr)
left = lab.leftovers()
t.ok(not left, "lab down: no namespace, process or file left behind", left)
links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
t.ok(prefix not in links and "kmelink" not in links, "lab down: no veth or TAP left in the root namespace")
logs = os.path.join(tmp, "logs")
bad = []
for name in os.listdir(logs) if os.path.isdir(logs) else []:
    with open(os.path.join(logs, name), errors="replace") as f:
        if not tap.sanitizer_clean(f.read()):
            bad.append(name)
t.ok(not bad, "no sanitizer report in the daemon logs", bad)
r = labcmd("down")
t.ok(r.returncode == 0 and "nothing was up" in r.stdout, "a second lab down is harmless", r.stdout + r.stderr)
r = labcmd("status")
t.eq(r.returncode, 3, "lab status with nothing up exits 3")
