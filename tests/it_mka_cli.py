#!/usr/bin/python3
"""it_mka_cli.py — mka-agent's command line: --help, -n, config errors,
secret-file permissions, and a clean exit when SIGTERM arrives at any
moment of start-up (it once died by the signal's default action)."""
import os
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import tap  # noqa: E402

t = tap.Tap()
AGENT = tap.binpath("mka-agent/mka-agent")
tmp = tempfile.mkdtemp(prefix="qkdlab-mkacli-")
t.cleanup(lambda: subprocess.run(["rm", "-rf", tmp]))
CAK = "135bd758b0ee5c11c55ff6ab19fdb199"
CKN = "96437a93ccf10d9dfe347846cce52c7d"


def conf(body, mode=0o600, name="mka.conf"):
    path = os.path.join(tmp, name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    os.write(fd, body.encode())
    os.close(fd)
    os.chmod(path, mode)
    return path


def run(*args):
    return subprocess.run([AGENT] + list(args), capture_output=True, text=True, timeout=30)


r = run("--help")
t.ok(r.returncode == 0 and "usage" in (r.stdout + r.stderr).lower(), "--help prints usage and exits 0")
r = run("--no-such-option")
t.ok(r.returncode != 0, "an unknown option is refused")

good = conf("status_socket = %s/s.sock\n[port lo]\ncak_source = psk\ncak = %s\nckn = %s\n"
            "secy_socket = none\n" % (tmp, CAK, CKN))
r = run("-n", "-f", good)
t.ok(r.returncode == 0 and "OK" in r.stdout, "-n accepts a good PSK config", r.stdout + r.stderr)

bad = conf("[port lo]\ncak_source = psk\ncak = 12zz\nckn = %s\n" % CKN, name="bad.conf")
r = run("-n", "-f", bad)
t.ok(r.returncode != 0 and "bad.conf:3" in r.stderr, "a malformed CAK is refused with file:line", r.stderr)
t.ok(CAK not in r.stderr and "12zz" not in r.stderr, "the error does not echo key material", r.stderr)

loose = conf("[port lo]\ncak_source = psk\ncak = %s\nckn = %s\n" % (CAK, CKN), mode=0o644, name="loose.conf")
r = run("-n", "-f", loose)
t.ok(r.returncode != 0 and "loose.conf" in r.stderr, "a config holding a CAK with mode 0644 is refused", r.stderr)

# An existing key log that others can read is refused before any key is written.
if os.geteuid() != 0:
    t.skip("a world-readable key log is refused", "needs root (AF_PACKET on lo)")
else:
    klog = os.path.join(tmp, "keys.log")
    open(klog, "w").close()
    os.chmod(klog, 0o644)
    kconf = conf("status_socket = %s/k.sock\nkey_log = %s\n[port lo]\ncak_source = psk\ncak = %s\n"
                 "ckn = %s\nsecy_socket = none\n" % (tmp, klog, CAK, CKN), name="klog.conf")
    r = subprocess.run([AGENT, "-d", "-f", kconf], capture_output=True, text=True, timeout=30)
    t.ok(r.returncode != 0 and "keys.log" in r.stderr and "chmod 600" in r.stderr,
         "a key log readable by others is refused at start", r.stderr)
    t.eq(os.path.getsize(klog), 0, "nothing was written to it")

# SIGTERM during start-up.  Before main() runs nothing can catch it, so the
# check is that the handler is in place before any start-up work (reading the
# config), and that TERM at any later moment ends the agent with exit 0.
def catches_term(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("SigCgt:"):
                    return bool(int(line.split()[1], 16) & (1 << (signal.SIGTERM - 1)))
    except OSError:
        pass
    return False


def term_after_start(conf, delay, wait):
    """Starts the agent on conf, sends TERM delay s after its handler is in
    place; (whether the handler was seen in place, the exit status)."""
    p = subprocess.Popen([AGENT, "-d", "-f", conf], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seen = bool(tap.wait_for(lambda: catches_term(p.pid), 20, interval=0.001))
    time.sleep(delay)
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(wait)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
    return seen, p.returncode


fifo = os.path.join(tmp, "fifo.conf")
os.mkfifo(fifo, 0o600)
# The agent blocks opening a FIFO no one writes to.  TERM may land before
# or during that open(); repeated, since the window before it is short.
caught, fifo_codes = True, []
for _ in range(20):
    seen, code = term_after_start(fifo, 0.0, 10)
    caught = seen and caught
    fifo_codes.append(code)
    if code < 0:
        break
t.ok(caught, "SIGTERM is caught while the config is still being opened")
t.ok(all(c >= 0 for c in fifo_codes), "TERM during the config read ends by exit, not by the signal, every time",
     "exit codes %r" % fifo_codes)

if os.geteuid() != 0:
    t.skip("TERM at any moment after start ends with exit 0", "needs root (AF_PACKET on lo)")
else:
    codes = [term_after_start(good, delay, 20)[1] for delay in (0.0, 0.002, 0.01, 0.05, 0.2)]
    t.eq(codes, [0] * len(codes), "TERM 0..200 ms after the handler is in place ends with exit 0 every time")
