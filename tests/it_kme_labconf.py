#!/usr/bin/python3
"""it_kme_labconf.py — the lab's kme-sim configuration (scripts/lablib.py,
as `scripts/lab up` writes it) serves every SAE of lab.env.

The two configurations lablib writes, moved to loopback ports, run as
real kme-sims: they start and bring the link up without a warning or an
error in their logs, and every SAE of lab.env is known to both KMEs, so
that multicast works: SAE A gets keys for SAE B and SAE C at once, each
fetches them from KME B, and SAE B and SAE C can each be a master for
SAE A.  curl is the SAE.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import kmelab as kc  # noqa: E402
from kmelab import tap  # noqa: E402

sys.path.insert(0, os.path.join(tap.SRC, "scripts"))
import lablib  # noqa: E402

SAE, KME = lablib.SAE, lablib.KME
t = tap.Tap()
lab = kc.Lab(t, {
    KME["a"]: {"saes": [SAE["a"]], "peers": [KME["b"]]},
    KME["b"]: {"saes": [SAE["b"], SAE["c"]], "peers": [KME["a"]]},
})
ll = lablib.Lab(state=lab.dir)
ll.pki = lab.pki
for s in ("a", "b"):
    k = lab.kmes[KME[s]]
    text = ll.kme_conf(s)
    for o in ("a", "b"):
        ko = lab.kmes[KME[o]]
        text = text.replace("%s:%d" % (lablib.LINK_IP[o], lablib.KME_PORT), "127.0.0.1:%d" % ko.port)
        text = text.replace("%s:%d" % (lablib.LINK_IP[o], lablib.LINK_PORT), "127.0.0.1:%d" % ko.link_port)
    text = text.replace("127.0.0.1:%d" % lablib.ADMIN_PORT, "127.0.0.1:%d" % k.admin_port)
    text = text.replace(ll.site(s, "kme.db"), k.db)
    with open(k.conf, "w") as f:
        f.write(text)
lab.start()
A, B = lab.kmes[KME["a"]], lab.kmes[KME["b"]]

t.ok(tap.wait_for(lambda: A.metric('kme_link_up{peer="%s"}' % KME["b"]) == 1 and
                  B.metric('kme_link_up{peer="%s"}' % KME["a"]) == 1, 15, 0.2), "the lab's KMEs bring the link up")
r = lab.curl(KME["a"], SAE["a"], "/api/v1/keys/%s/enc_keys" % SAE["b"], "POST",
             {"number": 2, "additional_slave_SAE_IDs": [SAE["c"]]})
t.eq(r.code, 200, "multicast: SAE A gets keys for SAE B and SAE C at once") or t.diag(repr(r))
keys = (r.json or {}).get("keys", [])
ids = {"key_IDs": [{"key_ID": k["key_ID"]} for k in keys]}
for s in ("b", "c"):
    r2 = lab.curl(KME["b"], SAE[s], "/api/v1/keys/%s/dec_keys" % SAE["a"], "POST", ids)
    t.eq((r2.code, (r2.json or {}).get("keys")), (200, keys), "%s fetches them from KME B" % SAE[s])
for s in ("b", "c"):
    r = lab.curl(KME["b"], SAE[s], "/api/v1/keys/%s/enc_keys" % SAE["a"])
    t.eq(r.code, 200, "%s is a master for SAE A" % SAE[s]) or t.diag(repr(r))
for k in (A, B):
    bad = [ln for ln in k.proc.output().splitlines() if " warning: " in ln or " error: " in ln]
    t.eq(bad, [], "%s logged no warning or error about the lab's configuration" % k.id)

kc.stop_all(t, lab)
t.done()
