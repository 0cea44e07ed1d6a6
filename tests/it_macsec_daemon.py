#!/usr/bin/python3
"""it_macsec_daemon.py — macsec-sw as a program: --help, -n config checks,
clear errors for bad input, the control socket's mode and framing, PN
exhaustion reported over the socket, and a clean exit on SIGINT."""
import os
import socket
import stat
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import macsecnode as m  # noqa: E402
import tap  # noqa: E402

t = tap.Tap()
tap.require_root(t)
SW = tap.binpath("macsec-sw/macsec-sw")
CTL = tap.binpath("macsec-sw/macsec-ctl")
tmp = tempfile.mkdtemp(prefix="qkdlab-macsecd-")
t.cleanup(lambda: subprocess.run(["rm", "-rf", tmp]))


def run(argv, **kw):
    return subprocess.run(argv, capture_output=True, text=True, timeout=20, **kw)


def conf(name, text):
    p = os.path.join(tmp, name)
    with open(p, "w") as f:
        f.write(text)
    return p


r = run([SW, "--help"])
t.ok(r.returncode == 0 and "usage: macsec-sw" in r.stdout, "macsec-sw --help")
r = run([CTL, "--help"])
t.ok(r.returncode == 0 and "install-rxsa" in r.stdout, "macsec-ctl --help")
r = run([SW, "--bogus"])
t.ok(r.returncode == 2 and "usage" in r.stderr, "unknown option: usage, exit 2")

good = conf("good.conf", "interface = wire0\ncipher = gcm-aes-xpn-128\nreplay-window = 32\n")
r = run([SW, "-n", "-f", good])
t.ok(r.returncode == 0 and "configuration OK" in r.stdout, "-n accepts a good file", r.stderr)
bad = conf("bad.conf", "interface = wire0\nvalidate = sometimes\n")
r = run([SW, "-n", "-f", bad])
t.ok(r.returncode == 1 and "bad.conf:2" in r.stderr and "sometimes" in r.stderr,
     "-n names file, line and value of a bad setting", r.stderr)
combo = conf("combo.conf", "interface = wire0\ncipher = gcm-aes-xpn-256\noffset = 50\n")
r = run([SW, "-n", "-f", combo])
t.ok(r.returncode == 1 and "offset 0 only" in r.stderr, "-n refuses offset 50 with XPN", r.stderr)
r = run([SW, "-n", "-f", os.path.join(tmp, "missing.conf")])
t.ok(r.returncode == 1 and "missing.conf" in r.stderr, "missing config file: clear error", r.stderr)
r = run([SW, "-n", "-f", conf("noif.conf", "tap = x0\n")])
t.ok(r.returncode == 1 and "no interface" in r.stderr, "no interface: clear error", r.stderr)

ns = tap.Netns(t, "msd")
r = run(["ip", "netns", "exec", ns.name, SW, "-d", "-i", "nosuch0", "-s", os.path.join(tmp, "x.sock")])
t.ok(r.returncode == 1 and "nosuch0" in r.stderr, "unknown interface: exit 1 naming it", r.stderr)

ns.run("ip link add wire0 type veth peer name peer0 && ip link set wire0 up && ip link set peer0 up")
ns.run("sysctl -qw net.ipv6.conf.wire0.disable_ipv6=1 net.ipv6.conf.peer0.disable_ipv6=1")
node = m.Node(t, ns)
mode = stat.S_IMODE(os.stat(node.sock).st_mode)
t.eq(oct(mode), oct(0o600), "control socket is mode 0600")

r = run(["ip", "netns", "exec", ns.name, SW, "-d", "-i", "wire0", "-t", "other0", "-s", node.sock])
t.ok(r.returncode == 1 and "another macsec-sw" in r.stderr and os.path.exists(node.sock),
     "a second daemon refuses to take a live control socket", r.stderr)
t.ok("TXSC" in node.ctl("show"), "the first daemon still answers")

r = run([CTL, "-s", os.path.join(tmp, "none.sock"), "show"])
t.ok(r.returncode == 1 and "none.sock" in r.stderr, "macsec-ctl: no daemon -> exit 1")
r = node.ctl_raw("enable-txsa", "an=3")
t.ok(r.returncode == 1 and "no transmit SA 3" in r.stderr, "macsec-ctl: err -> exit 1 with message")

# Raw protocol: several requests on one connection, then an over-long line.
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(node.sock)
s.sendall(b"get-sci\nget-txsa-pn an=0\nstats\n")
f = s.makefile("rb")
t.eq(f.readline(), b"ok sci=%s\n" % node.sci.encode(), "pipelined request 1")
t.eq(f.readline(), b"err no transmit SA 0\n", "pipelined request 2")
lines = [f.readline()]
while lines[-1] not in (b".\n", b""):
    lines.append(f.readline())
t.ok(lines[0] == b"ok\n" and lines[1].startswith(b"secy ") and lines[-1] == b".\n",
     "stats: ok, lines, '.'", lines)
s.sendall(b"x" * 2000)
t.eq(f.readline(), b"err request line too long\n", "over-long request refused")
s.close()

# Nine clients: the ninth is refused, the daemon carries on.
conns = []
for _ in range(9):
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.connect(node.sock)
    conns.append(c)
time.sleep(0.3)
conns[-1].settimeout(2)
try:
    conns[-1].sendall(b"get-sci\n")
    ninth = conns[-1].recv(100)
except OSError:
    ninth = b""
t.eq(ninth, b"", "ninth simultaneous client is closed")
for c in conns:
    c.close()
t.ok("TXSC" in node.ctl("show"), "daemon still serves after that")

# PN exhaustion: the SA sends PN 2^32-1, then nothing; reported on the socket.
ns.run("sysctl -qw net.ipv6.conf.macsec0.disable_ipv6=1")
ns.run("ip addr add 198.51.100.1/24 dev macsec0 && ip link set macsec0 up")
ns.run("ip neigh replace 198.51.100.2 lladdr 02:00:00:00:00:02 dev macsec0 nud permanent")
unusable0 = node.stats()["secy"]["OutPktsSAUnusable"]  # frames sent before any SA
node.ctl("install-txsa", "an=2", "pn=4294967294", "key=" + "ab" * 16)
node.ctl("enable-txsa", "an=2")
udp = "python3 -c \"import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); " \
      "[s.sendto(b'x', ('198.51.100.2', 9)) for _ in range(4)]\""
ns.run(udp)
time.sleep(0.5)
t.eq(node.ctl("get-txsa-pn", "an=2").strip(), "an=2 pn=4294967295 exhausted=yes",
     "PN exhaustion is reported by get-txsa-pn")
st = node.stats()
t.eq((st[("txsa", 2)]["OutPktsEncrypted"], st["secy"]["OutPktsSAUnusable"] - unusable0), (2, 2),
     "two frames sent (PNs 2^32-2, 2^32-1), two counted OutPktsSAUnusable")
r = node.ctl_raw("enable-txsa", "an=2")
t.ok(r.returncode == 1 and "exhausted" in r.stderr, "an exhausted SA cannot be enabled again")
t.ok("exhausted" in node.proc.output(), "exhaustion is logged")
t.ok("ab" * 16 not in node.proc.output(), "key bytes never appear in the log")

# A link flap on the wire interface does not end the daemon.
ns.run("ip link set wire0 down && sleep 0.3 && ip link set wire0 up && sleep 0.3")
ns.run(udp)
time.sleep(0.3)
t.ok(node.proc.alive() and node.ctl("get-sci").strip() == "sci=" + node.sci,
     "daemon survives the interface going down and up", node.proc.output()[-500:])

t.eq(node.proc.stop(sig=2), 0, "SIGINT: clean exit 0 (leak-free under ASan)")
t.ok(not os.path.exists(node.sock), "socket removed")
t.ok("macsec0" not in ns.run("ip link").stdout, "TAP removed")
