"""macsecnode.py — helpers for macsec-sw's integration tests (imported
by tests/it_macsec_*.py).

A Node is one macsec-sw daemon in a network namespace, driven through its
control socket with the real macsec-ctl client."""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tap  # noqa: E402


def mac_of(ns, ifname):
    out = ns.run("cat /sys/class/net/%s/address" % ifname).stdout.strip()
    return out


def sci_of(mac, port=1):
    return mac.replace(":", "") + "%04x" % port


class Node:
    def __init__(self, t, ns, ifname="wire0", tapname="macsec0", extra=()):
        self.t = t
        self.ns = ns
        self.tapname = tapname
        self.sock = os.path.join(tempfile.mkdtemp(prefix="qkdlab-macsec-"), "ctl.sock")
        t.cleanup(lambda: subprocess.run(["rm", "-rf", os.path.dirname(self.sock)]))
        self.proc = tap.Proc(t, [tap.binpath("macsec-sw/macsec-sw"), "-d", "-i", ifname,
                                 "-t", tapname, "-s", self.sock] + list(extra),
                             "macsec-%s" % ns.name, netns=ns.name)
        # Runs before Proc.stop (cleanups run in reverse); the open log
        # stays readable until then.
        t.cleanup(lambda: os.path.exists(self.proc.log_path) and os.unlink(self.proc.log_path))
        if not tap.wait_for(lambda: os.path.exists(self.sock), 15):
            raise RuntimeError("macsec-sw did not start:\n" + self.proc.output())
        self.mac = mac_of(ns, ifname)
        self.sci = sci_of(self.mac)

    def ctl_raw(self, *args):
        return subprocess.run([tap.binpath("macsec-sw/macsec-ctl"), "-s", self.sock] + list(args),
                              capture_output=True, text=True, timeout=10)

    def ctl(self, *args):
        r = self.ctl_raw(*args)
        if r.returncode != 0:
            raise RuntimeError("macsec-ctl %s: %s" % (args[0], r.stderr.strip()))
        return r.stdout

    def stats(self):
        """{'secy': {...}, ('rxsa', sci, an): {...}, ('rxsc', sci): {...}, ('txsa', an): {...}}"""
        res = {}
        for line in self.ctl("stats").splitlines():
            words = line.split()
            kv = dict(w.split("=", 1) for w in words[1:])
            if words[0] == "secy":
                key = "secy"
            elif words[0] == "txsa":
                key = ("txsa", int(kv.pop("an")))
            elif words[0] == "rxsc":
                key = ("rxsc", kv.pop("sci"))
            else:
                key = ("rxsa", kv.pop("sci"), int(kv.pop("an")))
            res[key] = {k: int(v) for k, v in kv.items()}
        return res

    def stop(self):
        """SIGTERM; returns the exit status (0 = clean, leak-free under ASan)."""
        return self.proc.stop()


def install_static(node, peer_sci, txkey, rxkey, cipher, an=0, ssci_tx=None, ssci_rx=None,
                   salt=None, **policy):
    pol = ["cipher=" + cipher] + ["%s=%s" % (k.replace("_", "-"), v) for k, v in policy.items()]
    node.ctl("set-policy", *pol)
    xpn_tx = ["ssci=" + ssci_tx, "salt=" + salt] if salt else []
    xpn_rx = ["ssci=" + ssci_rx, "salt=" + salt] if salt else []
    node.ctl("create-rxsc", "sci=" + peer_sci)
    node.ctl("install-rxsa", "sci=" + peer_sci, "an=%d" % an, "pn=1", "key=" + rxkey, *xpn_rx)
    node.ctl("enable-rxsa", "sci=" + peer_sci, "an=%d" % an)
    node.ctl("install-txsa", "an=%d" % an, "pn=1", "key=" + txkey, *xpn_tx)
    node.ctl("enable-txsa", "an=%d" % an)
