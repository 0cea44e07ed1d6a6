"""testlab.py — scripts/lablib.py's Lab as the integration tests use it: a
state directory of the test's own, daemons started and logged by lablib,
and lablib's tear-down run by the test's cleanups (also when it fails or
is killed by tests/run's timeout).

The loopback labs (kmelab.Lab, skiplab.Lab) and the two-site lab in
namespaces (twosite.Sites) are built on it, so there is one way to make
certificates, start a daemon, read its log, stop it and clean up.

    lab = testlab.Lab(t, "mytest")
    d = lab.daemon("kme-a", None, [lab.bin("kme-sim"), "-d", "-f", conf])
    d.output(); d.stop()        # exit status, as tap.Proc gives it
"""
import os
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tap  # noqa: E402

sys.path.insert(0, os.path.join(tap.SRC, "scripts"))
import lablib  # noqa: E402


class Daemon:
    """A handle on one program a lab started (by its log name), with the
    calls of tap.Proc: alive, stop, kill9, output, log_path, p."""

    def __init__(self, lab, name):
        self.lab = lab
        self.name = name
        self.p = lab.procs[name]
        self.log_path = os.path.join(lab.logs, name + ".log")

    def alive(self):
        return self.p.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=15.0):
        return self.lab.stop(self.name, sig, timeout)

    def kill9(self):
        return self.lab.kill9(self.name)

    def output(self):
        return self.lab.output(self.name)


class Lab(lablib.Lab):
    """lablib's Lab under a state directory and namespace prefix of the
    test's own (per PID, so that parallel runs do not clash)."""

    def __init__(self, t, tag, verbose=False):
        state = tempfile.mkdtemp(prefix="qkdlab-%s-" % tag)
        prefix = "q%s%d" % (tag[:6], os.getpid() % 100000)
        super().__init__(build=tap.BUILD, state=state, prefix=prefix)
        self.t = t
        self.verbose = verbose
        t.cleanup(self.teardown)
        os.makedirs(self.logs, exist_ok=True)

    def teardown(self):
        # lablib's lab-down: every process of the lab (SIGTERM, then
        # SIGKILL), the namespaces with their veths and TAPs, the state.
        self.down()

    def path(self, name):
        return os.path.join(self.dir, name)

    def certs(self, pki=None, kmes=(), saes=()):
        """Certificates by scripts/qkdlab-pki (over the openssl CLI) for
        the KME and SAE IDs given, in pki (default the lab's)."""
        lablib.issue_certs(pki or self.pki, kmes=kmes, saes=saes)

    # ---- processes -----------------------------------------------------
    def daemon(self, name, s, argv):
        """Starts argv in site s's namespace (None: this one), logging to
        logs/<name>.log (appended across restarts); returns a Daemon."""
        if self.verbose and argv[0] != "tcpdump":
            argv = [argv[0], "-v"] + list(argv[1:])
        # lablib's start, also where a lab's own start() starts its set.
        lablib.Lab.start(self, name, s, list(argv))
        return Daemon(self, name)

    def alive(self, name):
        p = self.procs.get(name)
        return p is not None and p.poll() is None

    def stop(self, name, sig=signal.SIGTERM, timeout=15.0):
        """Signals one daemon and waits; returns its exit status (or
        'hung' when it needed SIGKILL after timeout)."""
        p = self.procs[name]
        if p.poll() is None:
            p.send_signal(sig)
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
                return "hung"
        return p.returncode

    def kill9(self, name):
        return self.stop(name, signal.SIGKILL)

    def output(self, name):
        try:
            with open(os.path.join(self.logs, name + ".log"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def outputs(self):
        return {n: self.output(n) for n in self.procs}
