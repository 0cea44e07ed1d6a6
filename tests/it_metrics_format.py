#!/usr/bin/python3
"""it_metrics_format.py — the /metrics pages of kme-sim and skip-proxy as an
independent parser reads them: prometheus_client's (Debian's
python3-prometheus-client; the whole test is skipped where it is missing).

A kme-sim pair serves SAE_A and SAE_B; a skip-proxy for SAE_A sits in front
of KME_A with its metrics listener on.  After Status, enc_keys, dec_keys and
a SKIP /key, both pages must parse, every sample line must come out as a
sample, each family must come as one group, and each latency histogram
(lib/metrics.c) must have le bounds ascending to +Inf, cumulative buckets,
_count equal to the +Inf bucket and a _sum, and must agree with the
daemon's own counters.
"""
import http.client
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import kmelab as kc  # noqa: E402
import skiplab as sk  # noqa: E402
from kmelab import tap  # noqa: E402

t = tap.Tap()
try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:
    t.skip_all("no prometheus_client here (Debian: python3-prometheus-client)")
tap.require_bins(t, "kme-sim/kme-sim", "skip-proxy/skip-proxy")


def histogram_problems(fam):
    """({labels without le: {"buckets": [(le, value)], "sum", "count"}}, [problems])."""
    series, problems = {}, []
    for s in fam.samples:
        key = tuple(sorted((k, v) for k, v in s.labels.items() if k != "le"))
        d = series.setdefault(key, {"buckets": [], "sum": None, "count": None})
        if s.name == fam.name + "_bucket":
            d["buckets"].append((s.labels.get("le"), s.value))
        elif s.name == fam.name + "_sum":
            d["sum"] = s.value
        elif s.name == fam.name + "_count":
            d["count"] = s.value
        else:
            problems.append("stray sample %s" % s.name)
    for key, d in series.items():
        les = [le for le, _ in d["buckets"]]
        counts = [v for _, v in d["buckets"]]
        bounds = [float(le) for le in les]
        if not les or les[-1] != "+Inf":
            problems.append("%s: the last bucket is not le=\"+Inf\": %s" % (key, les))
        if any(b >= a for a, b in zip(bounds[1:], bounds)) or len(set(les)) != len(les):
            problems.append("%s: le bounds not strictly ascending: %s" % (key, les))
        if counts != sorted(counts):
            problems.append("%s: bucket counts not cumulative: %s" % (key, counts))
        if d["count"] is None or not counts or d["count"] != counts[-1]:
            problems.append("%s: _count %s is not the +Inf bucket" % (key, d["count"]))
        if d["sum"] is None or d["sum"] < 0:
            problems.append("%s: _sum missing or negative: %s" % (key, d["sum"]))
    return series, problems


def check_page(what, text, histograms):
    """Parses text; checks its shape and each named histogram's.
    histograms: {family: [label sets, each a sorted tuple of (name, value)]}.
    Returns ({family: Metric}, {family: series})."""
    try:
        fams = list(text_string_to_metric_families(text))
    except ValueError as e:
        t.ok(False, "%s: prometheus_client parses the page" % what, "%s\n%s" % (e, text))
        return {}, {}
    t.ok(len(fams) > 0, "%s: prometheus_client parses the page (%d families)" % (what, len(fams)), text)
    lines = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    t.eq(sum(len(f.samples) for f in fams), len(lines), "%s: every sample line is read as a sample" % what)
    names = [f.name for f in fams]
    t.eq(sorted({n for n in names if names.count(n) > 1}), [], "%s: each family comes as one group" % what)
    by_name = {f.name: f for f in fams}
    all_series = {}
    for name, label_sets in histograms.items():
        f = by_name.get(name)
        if not t.ok(f is not None and f.type == "histogram", "%s: %s is a histogram" % (what, name),
                    text):
            continue
        series, problems = histogram_problems(f)
        all_series[name] = series
        t.eq(problems, [], "%s: %s: le ascending to +Inf, cumulative, _count = +Inf, _sum" % (what, name))
        t.eq(sorted(series), sorted(label_sets), "%s: %s label sets" % (what, name))
    return by_name, all_series


def value(fam, **labels):
    return sum(s.value for s in fam.samples if all(s.labels.get(k) == v for k, v in labels.items()))


# ---- the daemons, and some traffic for the histograms ----
lab = kc.Lab(t, {
    "KME_A": {"saes": ["SAE_A"], "peers": ["KME_B"]},
    "KME_B": {"saes": ["SAE_B"], "peers": ["KME_A"]},
})
lab.start()
A = lab.kmes["KME_A"]
t.ok(lab.wait_keys("KME_A", "SAE_A", "SAE_B", 1) is not None, "KME_A's Status shows key material")
r = lab.curl("KME_A", "SAE_A", "/api/v1/keys/SAE_B/enc_keys")
t.eq(r.code, 200, "enc_keys at KME_A")
if r.code == 200:
    r = lab.curl("KME_B", "SAE_B", "/api/v1/keys/SAE_A/dec_keys?key_ID=" + kc.key_ids(r)[0])
    t.eq(r.code, 200, "dec_keys at KME_B")

skip = sk.Lab(t, "metrics-format")
skip.pki = lab.pki	# the KME lab's PKI: SAE_A's client certificate, the CA
psk = skip.write_psk("routers.psk", [("router-a", sk.PSK_A)])
session = skip.write_session("router-a.pem", sk.PSK_A)
skip_port, metrics_port = tap.free_port(), tap.free_port()
conf = skip.proxy_conf("skip-a", "SAE_A", ["SAE_B"], "https://localhost:%d" % A.port, skip_port,
                       "psk_file = %s\nmetrics_port = %d\n" % (psk, metrics_port))
proxy = skip.start_proxy("skip-a", conf, skip_port)
r = sk.s_client(skip_port, sk.http_req("GET", "/key?remoteSystemID=SAE_B"), identity="router-a",
                session=session)
t.ok(r is not None and r.status == 200, "SKIP /key through KME_A", r)

# ---- kme-sim ----
status, page = A.admin("GET", "/metrics")
t.eq(status, 200, "kme-sim: /metrics is 200")
methods = ("status", "enc_keys", "dec_keys", "other")
fams, hists = check_page("kme-sim", page, {
    "kme_request_duration_seconds": [(("method", m),) for m in methods]})
series = hists.get("kme_request_duration_seconds", {})
if series and "kme_requests" in fams:
    for m in ("status", "enc_keys"):
        s = series[(("method", m),)]
        t.eq(s["count"], value(fams["kme_requests"], method=m),
             "kme-sim: %s latency _count = kme_requests_total of %s" % (m, m))
        t.ok(s["count"] >= 1 and s["sum"] > 0, "kme-sim: %s latency observed (%s in %s s)"
             % (m, s["count"], s["sum"]))

# ---- skip-proxy ----
c = http.client.HTTPConnection("127.0.0.1", metrics_port, timeout=10)
c.request("GET", "/metrics")
resp = c.getresponse()
page = resp.read().decode()
c.close()
t.eq(resp.status, 200, "skip-proxy: /metrics is 200")
fams, hists = check_page("skip-proxy", page, {"skip_kme_latency_seconds": [()]})
s = hists.get("skip_kme_latency_seconds", {}).get(())
if s is not None and "skip_kme_calls" in fams:
    t.eq(s["count"], value(fams["skip_kme_calls"]), "skip-proxy: latency _count = skip_kme_calls_total")
    t.ok(s["count"] >= 1 and s["sum"] > 0, "skip-proxy: KME latency observed (%s in %s s)"
         % (s["count"], s["sum"]))

# ---- clean exits (sanitizer builds check leaks here) ----
rc = proxy.stop()
t.ok(rc == 0 and tap.sanitizer_clean(proxy.output()), "skip-proxy exits 0 on SIGTERM (exit %s)" % rc,
     proxy.output()[-2000:])
kc.stop_all(t, lab)
