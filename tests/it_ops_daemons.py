#!/usr/bin/python3
"""it_ops_daemons.py — what every qkdlab daemon does alike, on a running
two-site lab (tests/lib/twosite.py: kme-sim pair, skip-proxy, macsec-sw and
mka-agent per site, QKD via SKIP).

  SIGHUP    each of the eight daemons logs that it ignores it, keeps
            running, and the link stays secured; SIGTERM still ends each
            with exit 0.
  notify    with NOTIFY_SOCKET set (as systemd does for Type=notify) each
            daemon sends READY=1 once it serves, STOPPING=1 at SIGTERM;
            a refused second agent never says READY.
  sockets   a second mka-agent with the same configuration refuses the
            live status socket (exit 1, saying why) and leaves it to the
            first, which still answers; a stale socket left by a killed
            agent is replaced by the next one.
"""
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import tap  # noqa: E402

t = tap.Tap()
tap.require_root(t)
tap.require_bins(t, "kme-sim/kme-sim", "skip-proxy/skip-proxy", "macsec-sw/macsec-sw", "mka-agent/mka-agent")
import twosite  # noqa: E402

HUP = "SIGHUP ignored"

# A notify socket as systemd makes one; the daemons inherit NOTIFY_SOCKET.
ntmp = tempfile.mkdtemp(prefix="qkdlab-notify-")
t.cleanup(lambda: subprocess.run(["rm", "-rf", ntmp]))
nsock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
nsock.bind(os.path.join(ntmp, "notify"))
notices = []


def collect():
    while True:
        try:
            notices.append(nsock.recv(4096).decode(errors="replace"))
        except OSError:
            return


threading.Thread(target=collect, daemon=True).start()
os.environ["NOTIFY_SOCKET"] = os.path.join(ntmp, "notify")


def ready(prog):
    return sum(1 for n in notices if "READY=1" in n.split("\n") and "STATUS=%s " % prog in n)


lab = twosite.Sites(t, "opsd")
lab.start_kmes()
lab.start_skips()
lab.start_secys()
for s in twosite.SITES:
    lab.start_agent(s, lab.agent_conf(s))
t.ok(twosite.wait_until(lab.both_secured, 60), "the lab's link is secured")

for prog in ("kme-sim", "skip-proxy", "macsec-sw", "mka-agent"):
    t.eq(ready(prog), 2, "%s: both sites sent READY=1 to NOTIFY_SOCKET" % prog)

names = ["kme-sim-a", "kme-sim-b", "skip-proxy-a", "skip-proxy-b", "macsec-sw-a", "macsec-sw-b",
         "mka-agent-a", "mka-agent-b"]
for n in names:
    lab.procs[n].send_signal(signal.SIGHUP)
for n in names:
    twosite.wait_until(lambda n=n: HUP in lab.output(n) or not lab.alive(n), 10)
for n in names:
    t.ok(lab.alive(n) and HUP in lab.output(n), "%s: SIGHUP is logged and ignored" % n, lab.output(n)[-1500:])
time.sleep(1.0)
t.ok(all(lab.alive(n) for n in names) and lab.both_secured(), "after SIGHUP every daemon runs, link secured",
     lab.status("a"))
ok, out = lab.ping("a")
t.ok(ok, "ping over MACsec after SIGHUP", out)

# ---- the status socket ---------------------------------------------------
sock = lab.site("a", "mka-agent.sock")      # lablib's status_socket
conf_a = lab.site("a", "mka-agent.conf")
t.ok(sock is not None and os.path.exists(sock), "site A's agent has its status socket", sock)
r = subprocess.run(["ip", "netns", "exec", lab.ns["a"], lab.bin("mka-agent"), "-d", "-f", conf_a],
                   capture_output=True, text=True, timeout=30)
t.ok(r.returncode == 1 and "another mka-agent is listening there" in r.stderr and sock in r.stderr,
     "a second mka-agent with the same configuration refuses the live status socket", r.stderr)
t.ok(os.path.exists(sock) and lab.status("a").get("state") == "secured",
     "the socket is left in place and the first agent still answers on it", lab.status("a"))

t.eq(lab.kill9("mka-agent-a"), -signal.SIGKILL, "site A's agent killed with SIGKILL")
t.ok(os.path.exists(sock), "it left a stale status socket")
lab.start_agent("a", name="mka-agent-a2")
t.ok(twosite.wait_until(lambda: lab.status("a").get("state") == "secured", 60),
     "a new agent replaces the stale socket, answers on it and is secured again", lab.output("mka-agent-a2")[-1500:])

# ---- SIGTERM: every daemon still ends cleanly ----------------------------
for n in ["mka-agent-a2", "mka-agent-b", "macsec-sw-a", "macsec-sw-b", "skip-proxy-a", "skip-proxy-b",
          "kme-sim-a", "kme-sim-b"]:
    rc = lab.stop(n)
    t.ok(rc == 0 and tap.sanitizer_clean(lab.output(n)), "%s: SIGTERM ends it with exit 0 (%s)" % (n, rc),
         lab.output(n)[-1500:])
t.ok(not os.path.exists(sock), "the agent removed its own status socket at exit")
t.eq(ready("mka-agent"), 3, "READY=1 from the two agents and the replacement, not from the refused one")
time.sleep(0.3)
t.eq(sum(1 for n in notices if n == "STOPPING=1"), 8, "STOPPING=1 from each of the eight daemons stopped")
t.done()
