"""benchlib — what the benchmark scripts (bench/bench_*) share: the CPU
time and wake-ups of the processes they measure, read from /proc."""
import os


def cpu_seconds(pids):
    """utime + stime of the processes (all their threads) so far, seconds."""
    total = 0
    for pid in pids:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def voluntary_switches(pid):
    """Voluntary context switches of all the process's threads so far
    (threads that ended meanwhile are not counted)."""
    n = 0
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/status" % (pid, tid)) as f:
                n += sum(int(line.split()[1]) for line in f if line.startswith("voluntary_ctxt_switches"))
        except OSError:
            pass
    return n
