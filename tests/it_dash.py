#!/usr/bin/python3
"""it_dash.py — the observability of a running two-site lab (twosite.py, in
the test's own namespaces), checked by independent readers:

- every daemon's /metrics page (kme-sim, skip-proxy, mka-agent, macsec-sw),
  read with prometheus_client's parser: every family has HELP and TYPE,
  counter samples end in _total, each daemon has a *_build_info;
- `mka-agent status` (one field per line) and `status --json` agree, and
  their CKN is the key ID in both sites' key logs; `macsec-ctl show --json`
  agrees with the agent's AN and macsec-sw's SCI;
- JSON logs (-j / log_format = json): every line is a JSON object, events
  carry port, CKN, KN and AN as fields, and no key byte appears;
- qkdlab-dash in headless Chromium (the DevTools protocol): both sites
  shown secured with the right key ID, a fault pressed on the page reaches
  the KME (its admin API says so) and shows on the page within seconds,
  healing it too; each site shows the QKD link's QBER and abort threshold
  as kme-sim's link model (decoy-state BB84, GYS parameters) gives them,
  and an intercept-resend `eve` fault moves it by the published formula
  (1-F)E + F/4, past the threshold too; and no console error.  The
  screenshot goes to
  build/dashboard.png, and to docs/dashboard.png with
  QKDLAB_UPDATE_SCREENSHOTS=1.
"""
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import tap  # noqa: E402

t = tap.Tap()
if os.geteuid() != 0:
    t.skip_all("needs root (network namespaces)")
try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:
    t.skip_all("no prometheus_client here (Debian: python3-prometheus-client)")
import cdp  # noqa: E402
import twosite  # noqa: E402
from twosite import ADMIN_PORT, SITES  # noqa: E402
import lablib  # noqa: E402

if cdp.websocket is None or cdp.chromium() is None:
    t.skip_all("no chromium or python3-websocket (scripts/deps installs them)")
tap.require_bins(t, "kme-sim/kme-sim", "mka-agent/mka-agent", "macsec-sw/macsec-sw",
                 "qkdlab-dash/qkdlab-dash")

lab = twosite.Sites(t, "dash")
# A decoy-state BB84 link (GYS parameters, 10 km) so that the KMEs report a QBER.
lab.start_kmes(peer={"link_model": "decoy-bb84", "link_preset": "gys", "fibre_length_km": 10})
lab.start_secys()
lab.start_skips()
for s in SITES:
    lab.start_agent(s, lab.agent_conf(s, "skip", top={"log_format": "json"} if s == "a" else None))
lab.dash_listen = "127.0.0.1:%d" % tap.free_port()
url = lab.start_dash()
ok, took = twosite.wait_until(lab.both_secured, 60, 0.2)
if not t.ok(ok, "both sites secured (%.1f s)" % took, lab.outputs()):
    t.done()
CKN = {s: lab.latest_ckn(s) for s in SITES}
t.ok(CKN["a"] is not None and CKN["a"] == CKN["b"], "both key logs name the same QKD key ID %s" % CKN["a"])


# ---- metrics ----------------------------------------------------------
def page(s, port):
    return lab.http(s, port) or ""


pages = {"kme-sim": (page("a", ADMIN_PORT), "kme_sim_build_info"),
         "skip-proxy": (page("a", lablib.SKIP_METRICS), "skip_proxy_build_info"),
         "mka-agent": (page("a", lablib.MKA_METRICS), "mka_agent_build_info"),
         "macsec-sw": (page("a", lablib.SECY_METRICS), "macsec_sw_build_info")}
for what, (text, build_info) in pages.items():
    try:
        fams = list(text_string_to_metric_families(text))
    except ValueError as e:
        t.ok(False, "%s: prometheus_client parses /metrics" % what, "%s\n%s" % (e, text))
        continue
    t.ok(len(fams) > 3, "%s: prometheus_client parses /metrics (%d families)" % (what, len(fams)), text[:2000])
    helps = set(re.findall(r"^# HELP (\S+) ", text, re.M))
    types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M))
    sampled = {re.split(r"[{ ]", ln, 1)[0] for ln in text.splitlines() if ln and not ln.startswith("#")}
    # A sample belongs to the family it names or whose _bucket/_sum/_count/_total it is.
    fam_of = {n: next((f for f in types if n == f or n in (f + "_bucket", f + "_sum", f + "_count")), None)
              for n in sampled}
    t.eq(sorted(n for n, f in fam_of.items() if f is None), [], "%s: every sample has a # TYPE line" % what)
    t.eq(sorted(f for f in types if f not in helps), [], "%s: every family has a # HELP line" % what)
    t.eq(sorted(s.name for f in fams if f.type == "counter" for s in f.samples
                if not s.name.endswith("_total")), [], "%s: counter samples end in _total" % what)
    bi = [f for f in fams if f.name == build_info]
    t.ok(len(bi) == 1 and bi[0].type == "gauge" and len(bi[0].samples) == 1 and
         bi[0].samples[0].value == 1 and bi[0].samples[0].labels.get("version"),
         "%s: %s is a gauge of 1 with a version label" % (what, build_info))
m = lablib.parse_metrics(pages["mka-agent"][0])
t.eq(m.get('mka_secured{port="wire0"}'), 1.0, "mka-agent /metrics: mka_secured 1")

# ---- status and show --------------------------------------------------
st_json = {}
for s in SITES:
    conf = lab.site(s, "mka-agent.conf")
    r = subprocess.run([lab.bin("mka-agent"), "-f", conf, "status", "--json"], capture_output=True, text=True,
                       timeout=10)
    try:
        st_json[s] = json.loads(r.stdout)["ports"][0]
    except (ValueError, KeyError, IndexError):
        st_json[s] = {}
    t.ok(st_json[s].get("secured") is True and st_json[s].get("ckn") == CKN[s],
         "site %s: status --json: secured, ckn is the key ID of the key log" % s.upper(), r.stdout + r.stderr)
    text = subprocess.run([lab.bin("mka-agent"), "-f", conf, "status"], capture_output=True, text=True,
                          timeout=10).stdout
    lines = [ln for ln in text.splitlines() if ln]
    t.ok(all(re.fullmatch(r"\w+=.*", ln) for ln in lines) and len(lines) >= 30,
         "site %s: status is one key=value field per line (%d)" % (s.upper(), len(lines)), text)
    kv = dict(ln.split("=", 1) for ln in lines)
    t.eq((kv.get("ckn"), kv.get("kn"), kv.get("an"), kv.get("peer_sae_id")),
         (st_json[s].get("ckn"), str(st_json[s].get("kn")), str(st_json[s].get("an")),
          st_json[s].get("peer_sae_id")), "site %s: text and JSON status agree" % s.upper())
t.eq((st_json["a"].get("peer_sae_id"), st_json["b"].get("peer_sae_id")), (lablib.SAE["b"], lablib.SAE["a"]),
     "each site's peer SAE ID is the other's")
for s in SITES:
    out = lab.ctl(s, "show", "--json") or ""
    try:
        show = json.loads(out)
    except ValueError:
        show = {}
    t.ok(show.get("encoding_an") == st_json[s].get("an") and
         "sci=%s" % show.get("tx_sci") == (lab.ctl(s, "get-sci") or "").strip(),
         "site %s: macsec-ctl show --json: encoding AN = the agent's AN, tx_sci = get-sci" % s.upper(), out)

# ---- JSON logs ------------------------------------------------------------
log = lab.output("mka-agent-a")
objs, bad = [], []
for ln in log.splitlines():
    try:
        objs.append(json.loads(ln))
    except ValueError:
        bad.append(ln)
t.eq(bad, [], "mka-agent -j: every log line is a JSON object (%d lines)" % len(objs))
ev = [o for o in objs if o.get("event") == "sak_in_use"]
t.ok(ev and ev[-1].get("port") == "wire0" and ev[-1].get("ckn") == CKN["a"] and
     ev[-1].get("kn") == st_json["a"].get("kn") and ev[-1].get("an") == st_json["a"].get("an"),
     "mka-agent -j: sak_in_use has port, ckn, kn and an as fields", ev[-3:])
keys = [k for _, k in lab.caks("a")]
t.eq([k for k in keys if k in log], [], "no CAK of the key log appears in the JSON log")

# ---- the dashboard in Chromium -------------------------------------------
b = cdp.Browser(t)
t.ok(b.navigate(url), "Chromium loads %s" % url)
shown = b.wait("['A','B'].every(s => (document.getElementById('mka-' + s + '-state') || {}).textContent"
               " === 'secured') && [document.getElementById('mka-A-ckn').textContent,"
               " document.getElementById('mka-B-ckn').textContent]", 15)
t.eq(shown, [CKN["a"], CKN["b"]], "the page shows both sites secured with the key ID %s" % CKN["a"])
# Some traffic over the MACsec link for the frames/s figures.
twosite.Pinger(lab, "a")
b.wait("document.querySelectorAll('#events li').length >= 3 && document.querySelector('#poolchart polyline') && "
       "/out [1-9]/.test(document.getElementById('site-A').textContent)", 10)
shot = os.path.join(tap.BUILD, "dashboard.png")
b.screenshot(shot)
t.ok(os.path.getsize(shot) > 10000, "screenshot taken (%d octets)" % os.path.getsize(shot))
if os.environ.get("QKDLAB_UPDATE_SCREENSHOTS") == "1":
    b.screenshot(os.path.join(tap.SRC, "docs", "dashboard.png"))


def kme_faults(s):
    code, body = lab.kme_admin(s, "GET", "/admin/v1/faults")
    try:
        return json.loads(body)["peers"][0] if code == 200 else {}
    except (ValueError, KeyError, IndexError):
        return {}


# ---- QBER of the QKD link ------------------------------------------------
def qber_text(v):
    """The page's rendering of a QBER (pct() in dash.html)."""
    return "%.*f %%" % (2 if v < 0.1 else 1, 100 * v)


def page_qber(site):
    return b.eval("(document.getElementById('qkd-%s-qber') || {}).textContent || ''" % site)


# GYS parameters (Gobby, Yuan & Shields, APL 84, 3762 (2004), as in Ma, Qi,
# Zhao & Lo, PRA 72, 012326 (2005), Table I): misalignment e_d 3.3 %, dark-count
# yield Y0 1.7e-6.  The signal QBER for a gain Q = Y0 + 1 - exp(-eta mu) is
# E = (Y0/2 + e_d (Q - Y0)) / Q (ibid., eq. 8); an intercept-resend Eve on a
# share F of the pulses makes it (1-F) E + F/4.
def gys_qber(qkd, eve=0.0):
    q = qkd.get("gain") or 1
    return (1 - eve) * (1.7e-6 / 2 + 0.033 * (q - 1.7e-6)) / q + eve / 4


qa = kme_faults("a").get("qkd") or {}
q0, abort = qa.get("qber"), qa.get("qber_abort")
t.ok(q0 is not None and abs(q0 - gys_qber(qa)) < 1e-9 and abort == 0.11,
     "KME_A's link model: the QBER of the GYS link at its gain (%s), the 11 %% abort threshold" % q0, qa)
want = [qber_text(q0) + " abort above " + qber_text(abort)] * 2 if q0 is not None else None
v = b.wait("['A','B'].map(s => (document.getElementById('qkd-' + s + '-qber') || {}).textContent)"
           ".every(x => x === %s) && [document.getElementById('qkd-A-qber').textContent,"
           " document.getElementById('qkd-B-qber').textContent]" % json.dumps(want[0] if want else ""), 5)
t.eq(v, want, "both sites show the link's QBER and the abort threshold")
# Eve intercepts and resends 20 % of the pulses: E' = 0.8 E + 0.2/4 (kme-sim(8)),
# below the threshold: the link keeps making key.
code, _ = lab.kme_admin("a", "POST", "/admin/v1/fault?peer=%s&kind=eve&fraction=0.2" % lablib.KME["b"])
qe = kme_faults("a").get("qkd") or {}
q1 = qe.get("qber")
t.ok(code == 200 and q1 is not None and abs(q1 - gys_qber(qe, 0.2)) < 1e-9,
     "eve on 20 %% of the pulses: KME_A's QBER is 0.8 E + 0.05 = %s" % q1, qe)
v = b.wait("['A','B'].every(s => (document.getElementById('qkd-' + s + '-qber') || {}).textContent"
           ".startsWith(%s + ' abort') && /eve on 20.0 %%/.test(document.getElementById('qkd-' + s + '-qber')"
           ".textContent))" % json.dumps(qber_text(q1 or 0)), 5)
t.ok(v, "the page's QBER moves to %s at both sites, with the eavesdropper shown, within 5 s"
     % qber_text(q1 or 0), page_qber("A"))
t.eq(b.eval("document.querySelector('#qkd-A-qber .pill').className"), "pill warn",
     "above half the threshold it is marked as a warning")
# 60 %: E' = 0.4 E + 0.15 > 11 %: the link halts (QBER above the abort threshold).
lab.kme_admin("a", "POST", "/admin/v1/fault?peer=%s&kind=eve&fraction=0.6" % lablib.KME["b"])
q2 = (kme_faults("a").get("qkd") or {}).get("qber") or 0
v = b.wait("(document.getElementById('qkd-A-qber') || {}).textContent.startsWith(%s + ' abort') && "
           "document.querySelector('#qkd-A-qber .pill').className === 'pill bad' && "
           "/QBER above the abort threshold/.test(document.getElementById('qkd-A-model').textContent) && "
           "Array.from(document.querySelectorAll('#events li')).some(li => /QKD link QBER above the abort"
           " threshold: QBER %s/.test(li.textContent))" % (json.dumps(qber_text(q2)), qber_text(q2)[:-2]), 5)
t.ok(q2 > abort and v, "eve on 60 %%: QBER %s above the threshold, the page marks it, says the link halted,"
     " and the timeline has the event" % qber_text(q2), page_qber("A"))
lab.kme_admin("a", "POST", "/admin/v1/clear?peer=%s&kind=eve" % lablib.KME["b"])
v = b.wait("document.getElementById('qkd-A-qber').textContent.startsWith(%s + ' abort') && "
           "document.querySelector('#qkd-A-qber .pill').className === 'pill ok'" % json.dumps(qber_text(q0)), 5)
t.ok(v, "eve cleared: the page shows the link's own QBER again", page_qber("A"))

t.eq(kme_faults("a").get("down"), False, "KME_A has no fault before the button")
b.eval("document.getElementById('btn-A-down').click()")
v, took = twosite.wait_until(lambda: kme_faults("a").get("down"), 5)
t.ok(v, "pressing 'Link down' for site A sets the fault at KME_A (%.1f s)" % took)
v = b.wait("/link down/.test(document.getElementById('kme-A-faults').textContent) && "
           "/down/.test(document.getElementById('kme-A-link').textContent) && "
           "Array.from(document.querySelectorAll('#events li')).some(li => /link down/.test(li.textContent))", 5)
t.ok(v, "the page shows the fault and the link down at site A, and the event, within 5 s")
b.eval("document.getElementById('btn-A-heal').click()")
v, took = twosite.wait_until(lambda: kme_faults("a").get("down") is False and kme_faults("a").get("link_up"), 10)
t.ok(v, "pressing 'Heal' clears it at KME_A and the link is up again (%.1f s)" % took)
v = b.wait("document.getElementById('kme-A-faults').textContent === 'none' && "
           "document.getElementById('kme-A-link').textContent === 'up'", 5)
t.ok(v, "the page shows site A's KME link up without faults within 5 s")
# A page of another origin cannot press the buttons (no X-Qkdlab-Dash header).
r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST",
                    url + "api/fault?site=A&kind=down"], capture_output=True, text=True, timeout=10)
t.eq(r.stdout, "403", "a POST without the X-Qkdlab-Dash header is refused (403)")
t.eq(kme_faults("a").get("down"), False, "and it does not reach the KME")
t.eq(b.errors(), [], "no console error, exception or failed request on the page")
rc = lab.stop("qkdlab-dash")
t.eq(rc, 0, "qkdlab-dash exits 0 on SIGTERM")
t.done()
