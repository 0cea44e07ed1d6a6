"""conformtest.py — what the self-tests of qkdlab-conform's suites share
(tests/it_conform*.py): reading a suite's TAP report into verdicts, and
showing that each check fails alone against a double broken for it.

    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
    import conformtest
    v = conformtest.verdicts(r.stdout)        # {check id: pass|fail|n/a}
    conformtest.each_fails_alone(t, ids, BREAKS, against_broken)
"""
import concurrent.futures
import re
import traceback


def verdicts(out):
    """{check id: 'pass' | 'fail' | 'n/a'} from a TAP report ("not ok"
    is a failure even with a SKIP directive)."""
    res = {}
    for m in re.finditer(r"^(ok|not ok) \d+ - (\S+)( # SKIP)?", out, re.M):
        res[m.group(2)] = "fail" if m.group(1) == "not ok" else "n/a" if m.group(3) else "pass"
    return res


def each_fails_alone(t, ids, breaks, against_broken, workers=4):
    """For every check id: against_broken(id) runs the whole suite in TAP
    form against a double broken for that check and returns the
    CompletedProcess; the run must exit 1, grade every check, and fail
    that one and no other.  Runs go `workers` at a time (each double has
    ports of its own; the runs mostly wait for round trips).  A run that
    raises (a double that did not start) is that check's failing line,
    with the traceback."""
    def run(cid):
        try:
            return against_broken(cid), None
        except Exception:  # noqa: BLE001 - reported as the check's line
            return None, traceback.format_exc()
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        runs = list(pool.map(run, ids))
    for cid, (r, exc) in zip(ids, runs):
        name = "%s fails against a double where %s (and nothing else fails)" % (cid, breaks[cid])
        if r is None:
            t.ok(False, name, exc)
            continue
        v = verdicts(r.stdout)
        failed = sorted(i for i, x in v.items() if x == "fail")
        t.ok(r.returncode == 1 and failed == [cid] and len(v) == len(ids), name, r.stdout + r.stderr)
