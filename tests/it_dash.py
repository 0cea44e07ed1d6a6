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
  healing it too, and no console error.  The screenshot goes to
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
lab.start_kmes()
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
