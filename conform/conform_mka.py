"""conform_mka.py — `qkdlab-conform mka`: grades an MKA peer (a router
or host on the lab's wire) from the MKPDUs it sent.

The frames come from a capture file (tcpdump -w, tshark -w) or are
recorded here from an interface for a while; qkdlab-mkagrade grades them
with mka-agent's own codec and prints one JSON object per check; this
program selects (--only/--skip) and formats them as qkdlab-conform does
(text, JUnit, TAP).  See qkdlab-conform(1), "MKA PEER GRADING".
"""
import argparse
import fnmatch
import json
import os
import select
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time

ETH_P_PAE = 0x888e
ETH_P_ALL = 0x0003      # outgoing frames reach only ETH_P_ALL packet sockets
PCAP_HEADER = struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1)   # Ethernet


def grader_path(explicit):
    """The grader: --grader, $QKDLAB_MKAGRADE, a checkout's build, PATH,
    or the sbin beside an installed $(PREFIX)/lib/qkdlab/conform."""
    here = os.path.dirname(os.path.realpath(__file__))
    for cand in (explicit, os.environ.get("QKDLAB_MKAGRADE"),
                 os.path.join(here, "..", "build", "conform", "qkdlab-mkagrade"),
                 shutil.which("qkdlab-mkagrade"),
                 os.path.join(here, "..", "..", "..", "sbin", "qkdlab-mkagrade")):
        if cand and os.access(cand, os.X_OK):
            return cand
    return None


def record(iface, seconds, path):
    """EAPOL frames seen on iface (both directions) for seconds, as pcap."""
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.bind((iface, 0))
    sys.stderr.write("qkdlab-conform mka: recording on %s for %g s\n" % (iface, seconds))
    sys.stderr.flush()
    n = 0
    end = time.monotonic() + seconds
    with open(path, "wb") as f:
        f.write(PCAP_HEADER)
        while True:
            left = end - time.monotonic()
            if left <= 0:
                break
            if not select.select([s], [], [], left)[0]:
                continue
            frame = s.recv(65535)
            if frame[12:14] != struct.pack("!H", ETH_P_PAE):
                continue
            now = time.time()
            f.write(struct.pack("<IIII", int(now), int((now % 1) * 1e6), len(frame), len(frame)) + frame)
            n += 1
    s.close()
    return n


def parser():
    p = argparse.ArgumentParser(
        prog="qkdlab-conform mka",
        description="Grades an MKA peer's MKPDUs (IEEE 802.1X-2020) from a capture or a live "
                    "recording. Exit status: 0 every check passed or was not applicable, "
                    "1 a check failed, 2 a bad command line or an unreadable capture.")
    p.add_argument("--list", action="store_true", help="list the checks (after --only/--skip) and exit")
    p.add_argument("--only", action="append", default=[], metavar="ID",
                   help="report only checks matching ID (an id or a glob, e.g. 'mka.sak.*'); repeatable")
    p.add_argument("--skip", action="append", default=[], metavar="ID", help="leave out checks matching ID")
    p.add_argument("--format", choices=("text", "junit", "tap"), default="text", help="report format")
    p.add_argument("--output", "-o", metavar="FILE", help="write the report to FILE")
    g = p.add_argument_group("the frames")
    g.add_argument("--pcap", metavar="FILE", help="a capture (pcap or pcapng, Ethernet)")
    g.add_argument("--interface", "-i", metavar="IF", help="record EAPOL frames on IF instead (as root)")
    g.add_argument("--duration", type=float, default=30.0, help="seconds to record (default 30)")
    g.add_argument("--save", metavar="FILE", help="keep the recording in FILE")
    g = p.add_argument_group("the peer and its CA")
    g.add_argument("--peer", action="append", default=[], metavar="MAC",
                   help="grade what MAC sends (repeatable; default every sender)")
    g.add_argument("--ckn", metavar="HEX", help="the pre-shared CKN")
    g.add_argument("--cak-file", metavar="FILE", help="its CAK, hex, in a file of mode 0600")
    g.add_argument("--key-log", metavar="FILE",
                   help="CAKs by CKN from the lab mka-agent's key log (a QKD CA's key by its ID)")
    g.add_argument("--qkd", action="store_true", help="the CA is QKD-keyed: grade the QKD binding")
    g.add_argument("--peer-sae", metavar="ID", help="the SAE ID the peer must carry (KMD) or announce")
    g.add_argument("--hello-time", type=float, help="MKA Hello Time in seconds (default 2)")
    g.add_argument("--life-time", type=float, help="MKA Life Time in seconds (default 6)")
    g.add_argument("--grader", metavar="PATH", help="the qkdlab-mkagrade program to use")
    return p


def grade(args, grader, pcap):
    cmd = [grader]
    if args.ckn:
        cmd += ["--key", "%s=%s" % (args.ckn, args.cak_file)]
    if args.key_log:
        cmd += ["--key-log", args.key_log]
    for m in args.peer:
        cmd += ["--peer", m]
    if args.qkd:
        cmd.append("--qkd")
    if args.peer_sae:
        cmd += ["--peer-sae", args.peer_sae]
    if args.hello_time:
        cmd += ["--hello-time", str(args.hello_time)]
    if args.life_time:
        cmd += ["--life-time", str(args.life_time)]
    cmd.append(pcap) if pcap else cmd.append("--list")
    t0 = time.monotonic()
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.stderr.write("qkdlab-conform mka: %s\n" % (r.stderr.strip() or "the grader failed"))
        sys.exit(2)
    secs = (time.monotonic() - t0)
    out = []
    for ln in r.stdout.splitlines():
        j = json.loads(ln)
        out.append({"id": j["id"], "title": j["title"], "verdict": j["verdict"], "why": j["why"],
                    "clause": j["clause"], "seconds": 0.0, "exchanges": [],
                    "notes": j["notes"] + (["graded %d times" % j["frames"]] if j["frames"] else [])})
    for r in out:
        r["seconds"] = secs / len(out)
    return out


def main(name, argv, conform):
    """qkdlab-conform's subcommand entry (SUBCOMMANDS): conform is its core."""
    p = parser()
    args = p.parse_args(argv)
    grader = grader_path(args.grader)
    if grader is None:
        p.error("qkdlab-mkagrade not found (build it, or give --grader)")

    def match(cid, pats):
        return any(fnmatch.fnmatchcase(cid, x) or cid == x for x in pats)

    def chosen(results):
        return [r for r in results if (not args.only or match(r["id"], args.only)) and not match(r["id"], args.skip)]

    if args.list:
        for r in chosen(grade(args, grader, None)):
            print("%-28s %-40s %s" % (r["id"], r["clause"], r["title"]))
        return 0
    if bool(args.pcap) == bool(args.interface):
        p.error("give one of --pcap FILE or --interface IF")
    if bool(args.ckn) != bool(args.cak_file):
        p.error("--ckn and --cak-file go together")
    tmp = None
    pcap = args.pcap
    if args.interface:
        if args.save:
            pcap = args.save
        else:
            tmp = tempfile.mkdtemp(prefix="qkdlab-conform-mka-")
            pcap = os.path.join(tmp, "mka.pcap")
        try:
            record(args.interface, args.duration, pcap)
        except OSError as e:
            p.error("cannot record on %s: %s" % (args.interface, e))
    try:
        results = chosen(grade(args, grader, pcap))
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    if not results:
        p.error("no check matches --only/--skip")
    out = open(args.output, "w") if args.output else sys.stdout
    {"text": conform.fmt_text, "junit": conform.fmt_junit, "tap": conform.fmt_tap}[args.format](results, out)
    if out is not sys.stdout:
        out.close()
    return 1 if any(r["verdict"] == "fail" for r in results) else 0

