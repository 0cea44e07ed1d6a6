"""tap.py — shared plumbing for qkdlab's Python integration tests.

Gives TAP output (tests/run counts it), process and network-namespace
management that always cleans up, and small waits.  Import it with:

    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
    import tap
"""
import atexit
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

SRC = os.environ.get("QKDLAB_SRC", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
BUILD = os.environ.get("QKDLAB_BUILD", os.path.join(SRC, "build"))


def binpath(rel):
    """Path of a built program, e.g. binpath('kme-sim/kme-sim')."""
    return os.path.join(BUILD, rel)


class Tap:
    """Collects results; prints the plan at the end (TAP allows that)."""

    def __init__(self):
        self.n = 0
        self.failed = 0
        self._cleanups = []
        atexit.register(self.done)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
        self._done = False

    def ok(self, cond, name, diag=None):
        self.n += 1
        print(("ok" if cond else "not ok") + " %d - %s" % (self.n, name), flush=True)
        if not cond:
            self.failed += 1
            if diag:
                for line in str(diag).splitlines():
                    print("#   " + line, flush=True)
        return cond

    def eq(self, got, want, name):
        return self.ok(got == want, name, "got:  %r\nwant: %r" % (got, want))

    def skip(self, name, why):
        self.n += 1
        print("ok %d - %s # SKIP %s" % (self.n, name, why), flush=True)

    def skip_all(self, why):
        print("1..0 # SKIP %s" % why, flush=True)
        self._done = True
        sys.exit(0)

    def diag(self, msg):
        for line in str(msg).splitlines():
            print("# " + line, flush=True)

    def case(self, name):
        """Decorator-free runner: tap.case('x')(fn) runs fn and turns an
        exception into one failing line."""
        def run(fn, *a, **kw):
            try:
                return fn(*a, **kw)
            except Exception:  # noqa: BLE001 - a test failure, reported
                self.ok(False, name, traceback.format_exc())
        return run

    def cleanup(self, fn):
        self._cleanups.append(fn)
        return fn

    def done(self):
        if self._done:
            return
        self._done = True
        for fn in reversed(self._cleanups):
            try:
                fn()
            except Exception:  # noqa: BLE001
                traceback.print_exc()
        print("1..%d" % self.n, flush=True)
        if self.failed:
            os._exit(1)


def require_root(t):
    if os.geteuid() != 0:
        t.skip_all("needs root (network namespaces)")


def require_bins(t, *rels):
    """Skips the whole test unless every program (a path under the build
    directory, e.g. 'kme-sim/kme-sim') is built."""
    missing = [r for r in rels if not os.access(binpath(r), os.X_OK)]
    if missing:
        t.skip_all("not built in %s: %s" % (BUILD, ", ".join(missing)))


# What ASan, LSan and UBSan print when they find something (a sanitizer
# build's daemons keep running after a UBSan report, so the log is checked).
SANITIZER_RE = re.compile(r"AddressSanitizer|LeakSanitizer|runtime error:|UndefinedBehaviorSanitizer")


def sanitizer_clean(text):
    """True when a program's output holds no sanitizer report."""
    return not SANITIZER_RE.search(text)


_ports_given = set()


def free_port():
    """A loopback TCP port nothing listens on, for a daemon the test
    starts.  tests/run gives each program that runs beside another a range
    of its own (QKDLAB_PORT_RANGE "FIRST-LAST", below the kernel's
    ephemeral ports), so a port one program picked cannot be picked by
    the other before its daemon binds it; without a range the kernel
    picks.  A port is never given twice in one process."""
    rng = os.environ.get("QKDLAB_PORT_RANGE", "")
    m = re.fullmatch(r"(\d+)-(\d+)", rng)
    if m:
        first, last = int(m.group(1)), int(m.group(2))
        start = int.from_bytes(os.urandom(2), "big")
        for i in range(last - first + 1):
            port = first + (start + i) % (last - first + 1)
            if port in _ports_given:
                continue
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    continue
            _ports_given.add(port)
            return port
    for _ in range(100):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _ports_given:
            _ports_given.add(port)
            return port
    raise OSError("no free loopback port")


def wait_for(pred, timeout=10.0, interval=0.05):
    """Polls pred() until it returns truthy; returns its value or None."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    return None


def wait_port(port, host="127.0.0.1", timeout=10.0, netns=None):
    def try_connect():
        if netns:
            return subprocess.run(["ip", "netns", "exec", netns, "bash", "-c",
                                   "exec 3<>/dev/tcp/%s/%d" % (host, port)],
                                  stderr=subprocess.DEVNULL).returncode == 0
        try:
            socket.create_connection((host, port), timeout=0.5).close()
            return True
        except OSError:
            return False
    return wait_for(try_connect, timeout)


class Proc:
    """A daemon started for a test; stopped (TERM, then KILL) at cleanup."""

    def __init__(self, t, argv, log_name, netns=None, env=None):
        self.log_path = os.path.join(tempfile.gettempdir(), "qkdlab-%d-%s.log" % (os.getpid(), log_name))
        self.log = open(self.log_path, "wb")
        if netns:
            argv = ["ip", "netns", "exec", netns] + list(argv)
        self.p = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT,
                                  env=env, start_new_session=True)
        t.cleanup(self.stop)

    def alive(self):
        return self.p.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        if self.p.poll() is None:
            self.p.send_signal(sig)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        return self.p.returncode

    def kill9(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()

    def output(self):
        self.log.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")


class Netns:
    """A network namespace that is deleted at cleanup (with its veths)."""

    def __init__(self, t, name):
        self.name = "%s-%d" % (name, os.getpid())
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        t.cleanup(self.delete)
        self.run("ip link set lo up")

    def run(self, cmd, check=True, **kw):
        return subprocess.run(["ip", "netns", "exec", self.name, "sh", "-c", cmd],
                              check=check, capture_output=True, text=True, **kw)

    def delete(self):
        subprocess.run(["ip", "netns", "pids", self.name], capture_output=True)
        pids = subprocess.run(["ip", "netns", "pids", self.name], capture_output=True, text=True).stdout.split()
        for pid in pids:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except OSError:
                pass
        subprocess.run(["ip", "netns", "del", self.name], stderr=subprocess.DEVNULL)


def veth_pair(t, ns_a, ns_b, name_a="wire0", name_b="wire0"):
    """Joins two namespaces with a veth pair; both ends up, no addresses."""
    tmp_a = "qa%d" % os.getpid()
    tmp_b = "qb%d" % os.getpid()
    subprocess.run(["ip", "link", "add", tmp_a, "type", "veth", "peer", "name", tmp_b], check=True)
    subprocess.run(["ip", "link", "set", tmp_a, "netns", ns_a.name, "name", name_a], check=True)
    subprocess.run(["ip", "link", "set", tmp_b, "netns", ns_b.name, "name", name_b], check=True)
    ns_a.run("ip link set %s up" % name_a)
    ns_b.run("ip link set %s up" % name_b)
