#!/usr/bin/python3
"""it_kme_crash_fetch.py — a key fetched by its slave is never handed out
again, even when the slave's KME is killed before it commits the fetch.

kme-sim records a dec_keys delivery in its fetch journal (<database>-fetches)
and commits the fetches to the database every 64 of them or before any
other store work.  Each round here: SAE_A takes keys at KME_A, SAE_B fetches
fewer than 64 of them at KME_B (one key per request on a keep-alive
connection, then one request of three keys) and KME_B is killed with
SIGKILL as soon as the last answer is in.  Then, read without kme-sim code:
  - KME_B's database (sqlite3 CLI) and journal (parsed here from its
    layout: 128-octet header with magic and epoch, 128-octet records of
    epoch, index, slave length, time, key ID, slave) show the fetches that
    were recorded in the journal only (at least one, over the rounds);
after KME_B restarts:
  - every key fetched before the kill is refused (400): it is gone;
  - a key of the round not fetched is still served, with its bytes;
  - with KME_B stopped, every fetched key's audit row is in the database
    (key NULL, fetched_at set) and the journal file is mode 0600.
curl and Python's http.client are the SAEs.
"""
import json
import os
import stat
import struct
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import kmelab as kc  # noqa: E402
from kmelab import tap  # noqa: E402

JR_REC = 128
ROUNDS = (1, 9, 40)   # single-key fetches per round, then one of three keys

t = tap.Tap()
lab = kc.Lab(t, {
    "KME_A": {"saes": ["SAE_A"], "peers": ["KME_B"], "extra": {"link_timeout": "1s"}},
    "KME_B": {"saes": ["SAE_B"], "peers": ["KME_A"], "extra": {"link_timeout": "1s"}},
})
lab.start()
A, B = lab.kmes["KME_A"], lab.kmes["KME_B"]
journal = B.db + "-fetches"


def hexid(kid):
    return kid.replace("-", "").lower()


def rows(ids):
    """{key ID hex: (key is NULL, fetched_at)} of KME_B's rkey rows for SAE_B."""
    if not ids:
        return {}
    q = ("SELECT lower(hex(key_id)), key IS NULL, coalesce(fetched_at, -1) FROM rkey "
         "WHERE slave = 'SAE_B' AND lower(hex(key_id)) IN (%s)" % ",".join("'%s'" % i for i in ids))
    p = subprocess.run(["sqlite3", "-separator", " ", B.db, q], capture_output=True, text=True)
    if p.returncode != 0:
        t.diag("sqlite3: %s" % p.stderr)
        return {}
    out = {}
    for line in p.stdout.splitlines():
        kid, null, at = line.split()
        out[kid] = (null == "1", int(at))
    return out


def journal_ids():
    """Key IDs of the complete records of the journal's current epoch."""
    try:
        with open(journal, "rb") as f:
            data = f.read()
    except OSError:
        return None
    if data[:8] != b"qkdlabFJ":
        return None
    epoch = struct.unpack_from("=Q", data, 24)[0]
    ids = []
    for i in range(struct.unpack_from("=I", data, 16)[0]):
        off = JR_REC * (i + 1)
        rep, idx, slen, at = struct.unpack_from("=QIIq", data, off)
        if rep != epoch or idx != i or slen > 64:
            break
        kid = data[off + 24:off + 40].hex()
        slave = data[off + 40:off + 40 + slen].decode()
        ids.append((kid, slave))
    return ids


only_journal = 0
for rnd, nsingle in enumerate(ROUNDS, 1):
    need = nsingle + 3 + 1
    t.ok(lab.wait_keys("KME_A", "SAE_A", "SAE_B", need) is not None,
         "round %d: link up, pool holds %d keys" % (rnd, need))
    r = lab.curl("KME_A", "SAE_A", "/api/v1/keys/SAE_B/enc_keys?number=%d" % need)
    t.ok(r.code == 200, "round %d: enc_keys of %d keys at KME_A" % (rnd, need), r)
    if r.code != 200:
        break
    keys = r.json["keys"]
    fetch, spare = keys[:-1], keys[-1]
    conn = lab.session("KME_B", "SAE_B")
    got = []
    for k in fetch[:nsingle]:
        conn.request("GET", "/api/v1/keys/SAE_A/dec_keys?key_ID=%s" % k["key_ID"])
        resp = conn.getresponse()
        body = resp.read()
        if resp.status == 200:
            got += json.loads(body)["keys"]
    conn.request("POST", "/api/v1/keys/SAE_A/dec_keys", body=json.dumps(
        {"key_IDs": [{"key_ID": k["key_ID"]} for k in fetch[nsingle:]]}),
        headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    body = resp.read()
    if resp.status == 200:
        got += json.loads(body)["keys"]
    B.kill9()
    conn.close()
    t.eq(sorted(got, key=lambda k: k["key_ID"]), sorted(fetch, key=lambda k: k["key_ID"]),
         "round %d: SAE_B got the %d keys (%d requests) with SAE_A's bytes before KME_B was killed"
         % (rnd, len(fetch), nsingle + 1))
    ids = [hexid(k["key_ID"]) for k in fetch]
    before = rows(ids)
    pending = [i for i in ids if i in before and not before[i][0]]
    jr = journal_ids()
    t.ok(jr is not None and all((i, "SAE_B") in jr for i in pending),
         "round %d: the %d fetches the database lacked at the kill are records of the journal"
         % (rnd, len(pending)))
    only_journal += len(pending)

    B.start()
    if pending:
        t.ok("store: %d fetches replayed from the journal" % len(pending) in B.proc.output(),
             "round %d: the restarted KME_B logs the %d fetches it replayed" % (rnd, len(pending)))
    again = lab.curl("KME_B", "SAE_B", "/api/v1/keys/SAE_A/dec_keys", method="POST",
                     body={"key_IDs": [{"key_ID": k["key_ID"]} for k in fetch[:5]]})
    t.eq(again.code, 400, "round %d: after the restart, keys fetched before the kill are refused" % rnd)
    each = [lab.curl("KME_B", "SAE_B", "/api/v1/keys/SAE_A/dec_keys?key_ID=%s" % k["key_ID"]).code
            for k in fetch[-4:]]
    t.eq(each, [400] * len(each), "round %d: ... each of the last ones too" % rnd)
    d = lab.curl("KME_B", "SAE_B", "/api/v1/keys/SAE_A/dec_keys?key_ID=%s" % spare["key_ID"])
    t.ok(d.code == 200 and d.json["keys"] == [spare],
         "round %d: the round's key not fetched is still served, with its bytes" % rnd, d)
    rc = B.stop()
    t.eq(rc, 0, "round %d: KME_B stops on SIGTERM" % rnd)
    after = rows(ids + [hexid(spare["key_ID"])])
    audit = [i for i in ids + [hexid(spare["key_ID"])] if after.get(i, (False, -1))[0] and after[i][1] > 0]
    t.eq(len(audit), len(ids) + 1,
         "round %d: every fetched key's audit row is in KME_B's database (key NULL, fetched_at set)" % rnd)
    mode = stat.S_IMODE(os.stat(journal).st_mode)
    t.eq(oct(mode), oct(0o600), "round %d: the journal file is mode 0600" % rnd)
    B.start()

t.ok(only_journal > 0, "%d fetches were in the journal only when KME_B was killed" % only_journal)
kc.stop_all(t, lab)
t.done()
