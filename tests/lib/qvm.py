"""qvm.py — a small Linux VM with kernel MACsec, for tests, the lab and
benchmarks (the host kernel has no MACsec and there is no KVM).

What it does, and nothing more:
  - fetches Debian's linux-image-cloud-amd64 (the kernel package its
    metapackage depends on) with `apt-get download` into a cache under
    build/vm/ and unpacks it with `dpkg -x`; nothing is installed into the
    host, and a cached kernel is reused;
  - builds an initramfs at run time: busybox-static, the host binaries the
    caller asks for plus the libraries ldd lists for them, extra files, and
    the .ko files the caller's modules need (virtio-net and macsec by
    default), loaded with insmod in dependency order (read from each
    module's .modinfo "depends=");
  - boots qemu-system-x86_64 (TCG, -cpu max, q35, 512 MiB by default) with
    one virtio-net-pci NIC per Nic(); each NIC's TAP is created by this
    module inside the network namespace the caller names (opened there, fd
    handed to QEMU), so it goes away with QEMU;
  - gives a command channel: a virtio-serial port (virtio_console, a
    plain byte stream with no tty line discipline and no UART) on a UNIX
    socket; commands go in and output comes back base64-framed; the
    serial console ttyS0 carries only the kernel's log (console.log);
  - tears everything down within a bounded time (SIGTERM, then SIGKILL;
    the work directory is removed);
  - lets a VM outlive the process that booted it (detach(); attach(workdir)
    reconnects to its command channel later), for a lab that stays up.

    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
    import qvm
    vm = qvm.VM(nics=[qvm.Nic("myns", "vmtap0", guest="wire0")],
                binaries=["wpa_supplicant"])
    vm.start()                      # returns once the VM's shell answers
    r = vm.run("ip link add link wire0 macsec0 type macsec encrypt on")
    vm.spawn("wpa", "wpa_supplicant -D macsec_linux -i wire0 -c /etc/w.conf")
    vm.stop()

Environment: QKDLAB_VM_CACHE (kernel cache, default <src>/build/vm),
QKDLAB_VM_BOOT_TIMEOUT (seconds, default 120), QKDLAB_VM_KERNEL_PKG (the
kernel package to fetch instead of the one linux-image-cloud-amd64 depends
on).
"""
import atexit
import base64
import ctypes
import fcntl
import glob
import itertools
import json
import os
import re
import shlex
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
import time

SRC = os.environ.get("QKDLAB_SRC", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
BUILD = os.environ.get("QKDLAB_BUILD", os.path.join(SRC, "build"))

META_PKG = "linux-image-cloud-amd64"
# Modules every VM gets: the NIC, the command channel's port, and the SecY
# with its cipher (GCM-AES through the gcm template over the built-in AES).
BASE_MODULES = ("virtio_pci", "virtio_net", "virtio_console", "macsec", "gcm", "ghash_generic", "ctr")
# Loaded when present and when they load: faster AES/GHASH on -cpu max.
FAST_MODULES = ("aesni_intel", "ghash_clmulni_intel")
# The host packages a VM is made from (scripts/deps installs them).
HOST_PACKAGES = {"qemu-system-x86_64": "qemu-system-x86", "busybox": "busybox-static",
                 "cpio": "cpio", "dpkg": "dpkg", "apt-get": "apt"}


class VMError(Exception):
    """An error for a person: what failed and what to do about it."""


def _run(argv, **kw):
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("timeout", 300)
    return subprocess.run(argv, **kw)


def check_host():
    """Raises VMError naming the missing Debian packages, if any."""
    missing = sorted({pkg for prog, pkg in HOST_PACKAGES.items() if shutil.which(prog) is None})
    if missing:
        raise VMError("missing program(s) for the VM; install: apt-get install %s  (or: scripts/deps)"
                      % " ".join(missing))


# ---- the kernel ---------------------------------------------------------------

class Kernel:
    """An unpacked Debian kernel package: vmlinuz and its modules."""

    def __init__(self, root):
        self.root = root
        boots = sorted(glob.glob(os.path.join(root, "boot", "vmlinuz-*")))
        if not boots:
            raise VMError("no vmlinuz in %s" % root)
        self.vmlinuz = boots[-1]
        self.version = os.path.basename(self.vmlinuz)[len("vmlinuz-"):]
        self.moddir = None
        for base in ("lib", "usr/lib"):
            d = os.path.join(root, base, "modules", self.version)
            if os.path.isdir(d):
                self.moddir = d
        if self.moddir is None:
            raise VMError("no modules for %s in %s" % (self.version, root))
        self._index = None

    def _modules(self):
        """{module name: path of its .ko (or .ko.xz)}."""
        if self._index is None:
            self._index = {}
            for dirpath, _, names in os.walk(os.path.join(self.moddir, "kernel")):
                for n in names:
                    m = re.match(r"(.+)\.ko(\.xz|\.zst)?$", n)
                    if m:
                        self._index[m.group(1).replace("-", "_")] = os.path.join(dirpath, n)
        return self._index

    def builtin(self, name):
        try:
            with open(os.path.join(self.moddir, "modules.builtin")) as f:
                return any(os.path.basename(ln.strip()).split(".ko")[0].replace("-", "_") == name
                           for ln in f)
        except OSError:
            return False

    def ko_bytes(self, name):
        path = self._modules()[name]
        with open(path, "rb") as f:
            data = f.read()
        if path.endswith(".xz"):
            import lzma
            data = lzma.decompress(data)
        elif path.endswith(".zst"):
            data = _run(["zstd", "-dc", path], text=False).stdout
        return data

    def depends(self, name):
        """The modules name needs, from its .modinfo section."""
        info = _elf_section(self.ko_bytes(name), ".modinfo") or b""
        for field in info.split(b"\0"):
            if field.startswith(b"depends="):
                return [d.replace("-", "_") for d in field[8:].decode().split(",") if d]
        return []

    def load_order(self, names, optional=()):
        """[(module, required)] in an order insmod accepts: each after what
        it depends on.  Built-in names are dropped; a required name that
        is neither built in nor a module is an error."""
        out, seen = [], set()

        def visit(n, required, stack):
            n = n.replace("-", "_")
            if n in seen:
                return
            if n not in self._modules():
                if self.builtin(n):
                    return
                if required:
                    raise VMError("kernel %s has no module %s (and it is not built in)" % (self.version, n))
                return
            if n in stack:
                raise VMError("module dependency loop at %s" % n)
            for d in self.depends(n):
                visit(d, required, stack | {n})
            seen.add(n)
            out.append((n, required))
        for n in names:
            visit(n, True, frozenset())
        for n in optional:
            visit(n, False, frozenset())
        return out


def _elf_section(data, want):
    """The bytes of ELF64 section `want`, or None."""
    if data[:4] != b"\x7fELF" or data[4] != 2:
        return None
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3a)

    def sh(i):
        return struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize)
    stroff = sh(shstrndx)[4]
    for i in range(shnum):
        s = sh(i)
        end = data.index(b"\0", stroff + s[0])
        if data[stroff + s[0]:end].decode() == want:
            return data[s[4]:s[4] + s[5]]
    return None


def cache_dir():
    # Under the source tree's build/, not QKDLAB_BUILD: the sanitizer
    # build (build/san) shares the one cached kernel.
    return os.environ.get("QKDLAB_VM_CACHE") or os.path.join(SRC, "build", "vm")


def kernel(cache=None, say=None):
    """The cached kernel, fetched and unpacked first if there is none.
    Concurrent callers wait on a lock rather than fetching twice."""
    say = say or (lambda msg: None)
    cache = cache or cache_dir()
    kdir = os.path.join(cache, "kernel")
    os.makedirs(kdir, exist_ok=True)
    with open(os.path.join(cache, ".lock"), "w") as lk:
        fcntl.flock(lk, fcntl.LOCK_EX)
        for root in sorted(glob.glob(os.path.join(kdir, "*", "root"))):
            if glob.glob(os.path.join(root, "boot", "vmlinuz-*")):
                return Kernel(root)
        check_host()
        pkg = os.environ.get("QKDLAB_VM_KERNEL_PKG") or _kernel_pkg()
        tmp = tempfile.mkdtemp(prefix="fetch-", dir=kdir)
        try:
            # apt-get download as root warns that _apt cannot write here;
            # letting it write avoids the unsandboxed fallback.
            os.chmod(tmp, 0o777)
            say("fetching %s with apt-get download" % pkg)
            r = _run(["apt-get", "download", pkg], cwd=tmp, timeout=600)
            debs = glob.glob(os.path.join(tmp, "*.deb"))
            if r.returncode != 0 or not debs:
                raise VMError("apt-get download %s failed: %s\n(run apt-get update first; the VM needs "
                              "Debian's package mirror once, then uses the cache in %s)"
                              % (pkg, (r.stderr or r.stdout).strip()[-600:], cache))
            r = _run(["dpkg", "-x", debs[0], os.path.join(tmp, "root")], timeout=600)
            if r.returncode != 0:
                raise VMError("dpkg -x %s failed: %s" % (debs[0], r.stderr.strip()))
            os.unlink(debs[0])
            final = os.path.join(kdir, pkg)
            if os.path.exists(final):
                shutil.rmtree(final)
            os.rename(tmp, final)
            os.chmod(final, 0o755)
        finally:
            if os.path.exists(tmp):
                shutil.rmtree(tmp, ignore_errors=True)
        return Kernel(os.path.join(final, "root"))


def _kernel_pkg():
    """The versioned package linux-image-cloud-amd64 depends on."""
    r = _run(["apt-cache", "depends", META_PKG])
    m = re.search(r"Depends:\s*(linux-image-\S+)", r.stdout)
    if r.returncode != 0 or not m:
        raise VMError("apt-cache knows no %s: %s\n(run apt-get update; the package lists must include "
                      "Debian's main archive)" % (META_PKG, (r.stderr or r.stdout).strip()[-400:]))
    return m.group(1)


# ---- the initramfs ------------------------------------------------------------

INIT = r"""#!/bin/busybox sh
# /init of a qkdlab VM (written by tests/lib/qvm.py)
export PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
for d in /tmp /run /var/log /root; do mkdir -p $d; mount -t tmpfs tmpfs $d; done
ln -sf /run /var/run
exec </dev/console >/dev/console 2>&1
# Every module is loaded here, in order; the kernel's own requests for
# modules (crypto templates) would find no modprobe, so it is not asked.
echo > /proc/sys/kernel/modprobe
: > /run/qvm-modules
while read -r m req; do
	if insmod /lib/modules/qvm/$m.ko; then echo "$m loaded" >> /run/qvm-modules
	else echo "$m failed $req" >> /run/qvm-modules; fi
done < /etc/qvm/modules
# NICs get the names the caller asked for, matched by MAC address.
while read -r mac name; do
	for d in /sys/class/net/*; do
		if [ "$(cat $d/address)" = "$mac" ] && [ "${d##*/}" != "$name" ]; then
			ip link set dev "${d##*/}" name "$name"
		fi
	done
done < /etc/qvm/nics
ip link set lo up
hostname qvm
[ -x /etc/qvm/rc ] && /etc/qvm/rc
echo "qvm: ready"
# The command channel is a virtio-serial port (not a tty: no line
# discipline, no UART interrupts to lose), found by the name QEMU gave it.
port=
for i in $(seq 200); do
	for n in /sys/class/virtio-ports/*/name; do
		d=${n%/name}
		[ "$(cat $n 2>/dev/null)" = qkdlab.ctl ] && port=/dev/${d##*/}
	done
	[ -n "$port" ] && [ -c "$port" ] && break
	sleep 0.05
done
[ -c "$port" ] || { echo "qvm: no command channel"; poweroff -f; }
# "<id> <timeout> <base64 script>" in; "@@B <id>", the output in base64,
# "@@E <id> <status>" out.  The port may be opened once only, so it is
# opened read-write on fd 0 and duplicated to fd 1.  A read returns
# end-of-file while no host is connected (a lab's VM between attach()es):
# the loop waits and reads again.
exec 0<>"$port" 1>&0 2>/dev/console
echo "@@READY"
while :; do
	while read -r id to b64; do
		[ -n "$id" ] || continue
		echo "$b64" | base64 -d > /run/qvm-cmd.sh
		timeout "$to" /bin/dash /run/qvm-cmd.sh </dev/null >/run/qvm-out 2>&1
		rc=$?
		echo "@@B $id"
		base64 /run/qvm-out
		echo "@@E $id $rc"
	done
	sleep 0.2
done
poweroff -f
"""


def ldd_libs(path):
    """The shared libraries (absolute paths) ldd lists for path."""
    r = _run(["ldd", path])
    if r.returncode != 0:
        return []              # static, or not an ELF program
    libs = []
    for ln in r.stdout.splitlines():
        m = re.search(r"=>\s*(/\S+)", ln) or re.match(r"\s*(/\S+)", ln)
        if m:
            libs.append(m.group(1))
    return libs


def build_initramfs(kern, out, binaries=(), files=None, modules=(), optional_modules=FAST_MODULES,
                    nics=(), rc=None):
    """Writes an uncompressed newc cpio to out.  binaries: host programs
    (names looked up in PATH, or paths); files: {guest path: host path or
    bytes (the content)}; nics: [(mac, guest name)]; rc: a shell script
    run before the command channel opens."""
    check_host()
    stage = tempfile.mkdtemp(prefix="initramfs-", dir=os.path.dirname(out))
    try:
        for d in ("usr/bin", "usr/sbin", "usr/lib", "usr/lib64", "proc", "sys", "dev", "tmp", "run",
                  "var", "etc/qvm", "root", "usr/lib/modules/qvm"):
            os.makedirs(os.path.join(stage, d), exist_ok=True)
        # A merged /usr, like the host, so ldd's paths land where they point.
        for d in ("bin", "sbin", "lib", "lib64"):
            os.symlink("usr/" + d, os.path.join(stage, d))

        def put(guest, src=None, data=None, mode=None):
            dst = os.path.join(stage, guest.lstrip("/"))
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            if data is None:
                shutil.copyfile(os.path.realpath(src), dst)
                mode = mode or (os.stat(src).st_mode & 0o777)
            else:
                with open(dst, "wb") as f:
                    f.write(data)
            os.chmod(dst, mode or 0o644)

        put("/bin/busybox", shutil.which("busybox"), mode=0o755)
        # Debian's busybox-static runs its own applets before PATH (ip,
        # ping, ...), also when one of its applets (timeout, setsid, env)
        # runs a program by name; so the shell that runs commands is the
        # host's dash, by path, and busybox's sh runs only /init.
        dash = shutil.which("dash")
        put("/bin/dash", dash, mode=0o755)
        os.symlink("dash", os.path.join(stage, "usr/bin/sh"))
        names = {"sh", "dash"}
        libs = set(ldd_libs(dash))
        for b in binaries:
            path = b if "/" in b else shutil.which(b) or shutil.which(b, path="/usr/sbin:/sbin")
            if not path or not os.path.exists(path):
                raise VMError("host program %s not found (install it: scripts/deps)" % b)
            guest = path if not path.startswith(BUILD) else "/usr/bin/" + os.path.basename(path)
            put(guest, path, mode=0o755)
            names.add(os.path.basename(path))
            libs.update(ldd_libs(path))
        for lib in libs:
            put(lib, lib, mode=0o755)
        applets = _run([shutil.which("busybox"), "--list-full"]).stdout.split()
        for a in applets:
            if os.path.basename(a) in names:
                continue
            dst = os.path.join(stage, a)
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            if not os.path.lexists(dst):
                os.symlink("/bin/busybox", dst)
        order = kern.load_order(list(BASE_MODULES) + [m for m in modules if m not in BASE_MODULES],
                                optional_modules)
        for m, _ in order:
            put("/lib/modules/qvm/%s.ko" % m, data=kern.ko_bytes(m))
        put("/etc/qvm/modules", data="".join("%s %s\n" % (m, "required" if req else "optional")
                                              for m, req in order).encode())
        put("/etc/qvm/nics", data="".join("%s %s\n" % (mac, name) for mac, name in nics).encode())
        put("/etc/passwd", data=b"root:x:0:0:root:/root:/bin/sh\n")
        put("/etc/group", data=b"root:x:0:\n")
        put("/etc/hosts", data=b"127.0.0.1 localhost qvm\n")
        put("/init", data=INIT.encode(), mode=0o755)
        if rc:
            put("/etc/qvm/rc", data=rc.encode() if isinstance(rc, str) else rc, mode=0o755)
        for guest, src in (files or {}).items():
            if isinstance(src, bytes):
                put(guest, data=src, mode=0o600)
            else:
                put(guest, src)
        with open(out, "wb") as f:
            find = subprocess.Popen(["find", ".", "-print0"], cwd=stage, stdout=subprocess.PIPE)
            r = subprocess.run(["cpio", "--null", "-o", "-H", "newc", "--quiet", "-R", "0:0"], cwd=stage,
                               stdin=find.stdout, stdout=f, stderr=subprocess.PIPE)
            find.wait()
        if r.returncode != 0 or find.returncode != 0:
            raise VMError("cpio failed: %s" % r.stderr.decode(errors="replace").strip())
        return order
    finally:
        shutil.rmtree(stage, ignore_errors=True)


# ---- TAPs in a namespace ------------------------------------------------------

TUNSETIFF = 0x400454ca
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000
CLONE_NEWNET = 0x40000000


def open_tap(netns, ifname):
    """A TAP named ifname created inside network namespace netns (None:
    this process's own); returns the open fd.  The TAP is not persistent:
    it goes away when the last fd on it is closed.  The namespace is
    entered by a short-lived thread (setns(2) changes only the calling
    thread), so the caller's own namespace is never changed."""
    if len(ifname) > 15:
        raise VMError("TAP name %s is longer than 15 characters" % ifname)
    res = {}

    def work():
        try:
            if netns:
                libc = ctypes.CDLL(None, use_errno=True)
                nsfd = os.open("/run/netns/" + netns, os.O_RDONLY)
                try:
                    if libc.setns(nsfd, CLONE_NEWNET) != 0:
                        raise OSError(ctypes.get_errno(), "setns into %s" % netns)
                finally:
                    os.close(nsfd)
            fd = os.open("/dev/net/tun", os.O_RDWR)
            fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", ifname.encode(), IFF_TAP | IFF_NO_PI))
            res["fd"] = fd
        except OSError as e:
            res["err"] = e
    th = threading.Thread(target=work)
    th.start()
    th.join()
    if "err" in res:
        raise VMError("cannot create TAP %s in namespace %s: %s" % (ifname, netns or "(own)", res["err"]))
    return res["fd"]


def _ns(netns, argv):
    return (["ip", "netns", "exec", netns] if netns else []) + argv


class Nic:
    """One virtio-net NIC: its TAP `tap` in namespace `netns` on the host
    side, the interface `guest` inside the VM (matched by MAC)."""

    def __init__(self, netns, tap, guest=None, mac=None):
        self.netns, self.tap, self.guest = netns, tap, guest
        self.mac = mac or "52:54:00:%02x:%02x:%02x" % tuple(os.urandom(3))


# ---- the VM ---------------------------------------------------------------------

class Result:
    def __init__(self, rc, out):
        self.rc, self.out = rc, out
        self.returncode, self.stdout = rc, out

    def __repr__(self):
        return "Result(rc=%r, out=%r)" % (self.rc, self.out[-400:])


class VM:
    """One QEMU VM.  start() boots it and waits for its shell; run() and
    spawn() use it; stop() ends it.  Safe to stop twice; also stopped at
    interpreter exit."""

    _seq = itertools.count(1)

    def __init__(self, nics=(), binaries=(), files=None, modules=(), mem=512, workdir=None,
                 boot_timeout=None, rc=None, cache=None, name="qvm", say=None, outlive=False):
        guests = set()
        for i, n in enumerate(nics):
            n.guest = n.guest or "eth%d" % i
            if n.guest in guests:
                raise VMError("two NICs called %s in the VM" % n.guest)
            guests.add(n.guest)
        self.nics = list(nics)
        self.binaries = ["ip", "ping"] + [b for b in binaries if b not in ("ip", "ping")]
        self.files = dict(files or {})
        self.modules = list(modules)
        self.mem = mem
        self.rc = rc
        self.cache = cache
        self.name = name
        self.say = say or (lambda msg: None)
        # outlive: QEMU may outlive this process (detach(), a lab that
        # stays up); otherwise the kernel ends QEMU when this process
        # dies, even by SIGKILL, so no VM (and no TAP) is left behind.
        self.outlive = outlive
        self.boot_timeout = boot_timeout or float(os.environ.get("QKDLAB_VM_BOOT_TIMEOUT", "120"))
        self._own_workdir = workdir is None
        self.workdir = workdir or tempfile.mkdtemp(prefix="qvm-")
        os.makedirs(self.workdir, exist_ok=True)
        self.console_path = os.path.join(self.workdir, "console.log")
        self.sock_path = os.path.join(self.workdir, "ctl.sock")
        self.proc = None
        self.sock = None
        self._buf = b""
        self._lock = threading.Lock()
        self._ids = itertools.count(int.from_bytes(os.urandom(3), "big"))
        self.boot_seconds = None
        self.modules_loaded = []
        self._stopped = False

    # ---- life cycle -------------------------------------------------------
    def qemu_argv(self, kern, initrd, fds):
        argv = ["qemu-system-x86_64", "-name", self.name,
                "-machine", "q35,accel=tcg", "-cpu", "max", "-m", str(self.mem), "-smp", "1",
                "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
                "-kernel", kern.vmlinuz, "-initrd", initrd,
                "-append", "console=ttyS0 panic=-1 loglevel=4 rdinit=/init",
                "-serial", "file:" + self.console_path,
                "-chardev", "socket,id=ctl,path=%s,server=on,wait=off" % self.sock_path,
                "-device", "virtio-serial-pci,romfile=",
                "-device", "virtserialport,chardev=ctl,name=qkdlab.ctl"]
        for i, (nic, fd) in enumerate(zip(self.nics, fds)):
            argv += ["-netdev", "tap,id=n%d,fd=%d,vhost=off" % (i, fd),
                     "-device", "virtio-net-pci,netdev=n%d,mac=%s,romfile=" % (i, nic.mac)]
        return argv

    def start(self):
        """Boots the VM; returns once its command channel answers (raises
        VMError, with the console's tail, if it does not in boot_timeout)."""
        t0 = time.monotonic()
        check_host()
        kern = kernel(self.cache, self.say)
        initrd = os.path.join(self.workdir, "initrd.cpio")
        order = build_initramfs(kern, initrd, self.binaries, self.files, self.modules,
                                nics=[(n.mac, n.guest) for n in self.nics], rc=self.rc)
        fds = []
        try:
            for n in self.nics:
                fds.append(open_tap(n.netns, n.tap))
                r = _run(_ns(n.netns, ["ip", "link", "set", n.tap, "up"]))
                if r.returncode != 0:
                    raise VMError("cannot set TAP %s up: %s" % (n.tap, r.stderr.strip()))
            atexit.register(self.stop)
            self.stderr_path = os.path.join(self.workdir, "qemu.stderr")
            with open(self.stderr_path, "wb") as err:
                self.proc = subprocess.Popen(self.qemu_argv(kern, initrd, fds), stdin=subprocess.DEVNULL,
                                             stdout=err, stderr=err, pass_fds=fds, start_new_session=True,
                                             preexec_fn=None if self.outlive else _die_with_parent)
        finally:
            for fd in fds:
                os.close(fd)
        try:
            self._connect(t0 + self.boot_timeout)
            self._expect(b"@@READY\n", t0 + self.boot_timeout)
        except VMError:
            msg = "VM %s did not come up in %.0f s" % (self.name, self.boot_timeout)
            self.stop()
            raise VMError("%s\n--- qemu:\n%s\n--- console (tail):\n%s"
                          % (msg, self._tail(self.stderr_path, 10), self._tail(self.console_path, 30)))
        self.boot_seconds = time.monotonic() - t0
        mods = self.run("cat /run/qvm-modules", timeout=10).out.split("\n")
        failed = [ln.split()[0] for ln in mods if ln.endswith("failed required")]
        self.modules_loaded = [ln.split()[0] for ln in mods if ln.endswith(" loaded")]
        if failed:
            con = self.console()
            self.stop()
            raise VMError("VM %s: module(s) %s did not load (kernel %s)\n%s"
                          % (self.name, ", ".join(failed), kern.version, con[-2000:]))
        self.kernel_version = kern.version
        self.say("VM %s up in %.1f s (kernel %s, modules %s)" % (self.name, self.boot_seconds, kern.version,
                                                                ", ".join(m for m, _ in order)))
        return self

    def _connect(self, deadline):
        while time.monotonic() < deadline:
            if not self.alive():
                raise VMError("qemu exited with status %s" % self.proc.returncode)
            if os.path.exists(self.sock_path):
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                try:
                    s.connect(self.sock_path)
                    self.sock = s
                    return
                except OSError:
                    s.close()
            time.sleep(0.05)
        raise VMError("no command channel")

    def _expect(self, token, deadline):
        """Reads the channel until token; returns what came before it."""
        while token not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise VMError("timed out waiting for %r" % token)
            if not self.alive():
                raise VMError("qemu exited")
            self.sock.settimeout(min(left, 0.5))
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                continue
            if not chunk:
                raise VMError("command channel closed")
            self._buf += chunk
        head, _, self._buf = self._buf.partition(token)
        return head

    def alive(self):
        if self.proc is not None:
            return self.proc.poll() is None
        return self.pid is not None and _pid_alive(self.pid)

    @property
    def pid(self):
        return self.proc.pid if self.proc is not None else getattr(self, "_pid", None)

    def detach(self):
        """Leaves the VM running after this process ends (a lab that stays
        up): the command channel is closed, the work directory kept; the
        VM is ended later by pid (qemu.pid in the work directory), or by
        attach(workdir).stop()."""
        if not self.outlive:
            raise VMError("VM %s was not started with outlive=True" % self.name)
        atexit.unregister(self.stop)
        if self.sock:
            self.sock.close()
            self.sock = None
        with open(os.path.join(self.workdir, "qemu.pid"), "w") as f:
            f.write("%d\n" % self.proc.pid)
        self._stopped = True

    def stop(self, timeout=10.0):
        """Ends QEMU (SIGTERM, then SIGKILL after timeout) and removes the
        work directory; the TAPs go with QEMU.  Returns QEMU's status."""
        if self._stopped:
            return self.proc.returncode if self.proc else None
        self._stopped = True
        if self.sock:
            self.sock.close()
        rc = None
        if self.proc is None and self.pid is not None:
            _stop_pid(self.pid, timeout)
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(5)
            rc = self.proc.returncode
        self.saved_console = self.console()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
        else:
            for f in ("initrd.cpio", "ctl.sock"):
                try:
                    os.unlink(os.path.join(self.workdir, f))
                except OSError:
                    pass
        try:
            atexit.unregister(self.stop)
        except Exception:  # noqa: BLE001
            pass
        return rc

    def leftovers(self):
        """What of this VM is still there (empty once stop() has cleaned
        up): its QEMU process, its TAPs, its work directory (or, for a
        caller's work directory, the files stop() removes)."""
        left = []
        if self.pid is not None and _pid_alive(self.pid):
            left.append("QEMU process %d" % self.pid)
        for n in self.nics:
            if _run(_ns(n.netns, ["ip", "link", "show", "dev", n.tap])).returncode == 0:
                left.append("TAP %s in namespace %s" % (n.tap, n.netns or "(own)"))
        paths = ([self.workdir] if self._own_workdir
                 else [self.sock_path, os.path.join(self.workdir, "initrd.cpio")])
        left += [p for p in paths if os.path.exists(p)]
        return left

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # ---- commands -----------------------------------------------------------
    def run(self, script, timeout=30, check=False):
        """Runs a shell script in the VM (busybox sh, stdin /dev/null);
        returns Result(rc, out) with stdout and stderr together.  The
        script is ended by the VM after timeout seconds (status 143)."""
        if not self.alive():
            raise VMError("VM %s is not running" % self.name)
        with self._lock:
            cid = next(self._ids)
            b64 = base64.b64encode(script.encode()).decode()
            self.sock.sendall(("%d %d %s\n" % (cid, max(1, int(timeout)), b64)).encode())
            # The VM ends the script at timeout; the margin is for a guest
            # starved of CPU on a loaded host (TCG) to write the answer.
            deadline = time.monotonic() + timeout + 90
            try:
                self._expect(b"@@B %d\n" % cid, deadline)
                body = self._expect(b"@@E %d " % cid, deadline)
                tail = self._expect(b"\n", deadline)
            except VMError as e:
                raise VMError("%s (command: %s)\n--- console (tail):\n%s"
                              % (e, script[:200], self._tail(self.console_path, 20)))
        try:
            out = base64.b64decode(body).decode(errors="replace")
        except ValueError:
            out = body.decode(errors="replace")
        res = Result(int(tail), out)
        if check and res.rc != 0:
            raise VMError("in VM %s: %s\nexit %d: %s" % (self.name, script, res.rc, out.strip()[-1000:]))
        return res

    def sh(self, script, timeout=30):
        """run() with check=True; returns the output."""
        return self.run(script, timeout, check=True).out

    def put(self, path, data, mode=0o600):
        """Writes a file in the VM (small files: it goes over the command
        channel; larger ones belong in VM(files=...))."""
        if isinstance(data, str):
            data = data.encode()
        b64 = base64.b64encode(data).decode()
        self.sh("mkdir -p %s && echo %s | base64 -d > %s && chmod %o %s"
                % (shlex.quote(os.path.dirname(path) or "/"), b64, shlex.quote(path), mode, shlex.quote(path)))

    def get(self, path):
        return self.sh("cat %s" % shlex.quote(path))

    def spawn(self, name, cmd):
        """Starts cmd in the background in the VM (its own session), output
        to /var/log/<name>.log; returns its pid in the VM."""
        out = self.sh("setsid /bin/dash -c %s </dev/null >>/var/log/%s.log 2>&1 & echo $!"
                      % (shlex.quote("exec " + cmd), name))
        return int(out.split()[-1])

    def log(self, name):
        r = self.run("cat /var/log/%s.log" % name)
        return r.out if r.rc == 0 else ""

    def console(self):
        try:
            with open(self.console_path, errors="replace") as f:
                return f.read()
        except OSError:
            return getattr(self, "saved_console", "")

    @staticmethod
    def _tail(path, n):
        try:
            with open(path, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""


PR_SET_PDEATHSIG = 1


def _die_with_parent():
    """In QEMU's child before exec: SIGKILL when the process that started
    it ends (prctl(2) PR_SET_PDEATHSIG; kept across execve)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, 9, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG)")
    if os.getppid() == 1:       # the parent is already gone
        os._exit(1)


def _pid_alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _stop_pid(pid, timeout):
    """SIGTERM, then SIGKILL after timeout, to a QEMU that is not our child."""
    try:
        os.kill(pid, 15)
    except OSError:
        return
    end = time.monotonic() + timeout
    while _pid_alive(pid) and time.monotonic() < end:
        time.sleep(0.05)
    if _pid_alive(pid):
        try:
            os.kill(pid, 9)
        except OSError:
            pass


def attach(workdir, timeout=10):
    """A VM that detach() left running, found by its work directory: run()
    works again (a new connection to its command channel), stop() ends
    it.  Raises VMError if it is not running."""
    try:
        with open(os.path.join(workdir, "qemu.pid")) as f:
            pid = int(f.read())
    except (OSError, ValueError):
        raise VMError("no VM in %s" % workdir)
    vm = VM(workdir=workdir, name=os.path.basename(workdir), outlive=True)
    vm._pid = pid
    if not vm.alive():
        raise VMError("the VM of %s (pid %d) is not running" % (workdir, pid))
    vm._connect(time.monotonic() + timeout)
    return vm


# ---- the reference MKA peer ---------------------------------------------------------

def wpa_supplicant_conf(cak, ckn, priority=255, integ_only=False, replay_window=0, port=1):
    """A wpa_supplicant configuration for MKA with a pre-shared CAK over
    the macsec_linux driver (wpa_supplicant 2.10; its MKA uses GCM-AES-128
    only).  priority is its Key Server Priority (lower wins)."""
    return "\n".join([
        "# MKA with a pre-shared CAK (written by qkdlab)",
        "ctrl_interface=/run/wpa_supplicant",
        "eapol_version=3",
        "ap_scan=0",
        "network={",
        "\tkey_mgmt=NONE",
        "\teapol_flags=0",
        "\tmacsec_policy=1",
        "\tmacsec_integ_only=%d" % (1 if integ_only else 0),
        "\tmacsec_replay_protect=1",
        "\tmacsec_replay_window=%d" % replay_window,
        "\tmacsec_port=%d" % port,
        "\tmka_cak=%s" % cak,
        "\tmka_ckn=%s" % ckn,
        "\tmka_priority=%d" % priority,
        "}", ""])


def kernel_macsec(vm, dev=None):
    """`ip -s -j macsec show` in the VM: a list of SecY dicts (one per
    macsec link), or the one called dev (None if absent)."""
    r = vm.run("ip -s -j macsec show")
    try:
        links = json.loads(r.out) if r.rc == 0 and r.out.strip() else []
    except ValueError:
        links = []
    if dev is None:
        return links
    return next((x for x in links if x.get("ifname") == dev), None)
