#!/usr/bin/python3
"""it_sec_static.py — source checks behind two rows of docs/SECURITY.md
(docs/SECURITY.md, security checks) that a black-box test cannot see.

Constant time: no memcmp()/bcmp() in the daemons or lib/ has an argument
named like a secret or an authenticator (icv, tag, cak, sak, psk, kek,
ick, secret, key); the MKPDU ICV is checked with ct_equal()
(CRYPTO_memcmp), the MACsec ICV by OpenSSL's GCM (EVP_CTRL_GCM_SET_TAG,
then EVP_DecryptFinal, which compares in constant time) and the AES key
unwrap integrity check by OpenSSL as well.

Privileges: each daemon drops what it does not need after start-up
(lib/privdrop.c: no_new_privs and capabilities).
"""
import glob
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import tap  # noqa: E402

t = tap.Tap()
SRC = tap.SRC
files = sorted(sum((glob.glob(os.path.join(SRC, d, "*.c"))
                    for d in ("lib", "kme-sim", "skip-proxy", "mka-agent", "macsec-sw")), []))
if not files:
    t.skip_all("no sources under %s" % SRC)
SECRET = re.compile(r"(?i)(icv|tag|cak|sak|psk|kek|ick|secret|(^|[^a-z_])key($|[^a-z_]))")
PUBLIC = re.compile(r"(?i)key_?id|keyid|ks_mi|lki|oki")


def calls(text, fn):
    """Yields (line, argument text) of each call of fn in C source text."""
    for m in re.finditer(r"\b%s\s*\(" % fn, text):
        depth, i = 1, m.end()
        while i < len(text) and depth:
            depth += {"(": 1, ")": -1}.get(text[i], 0)
            i += 1
        yield text.count("\n", 0, m.start()) + 1, text[m.end():i - 1]


suspects = []
for path in files:
    with open(path, errors="replace") as f:
        text = f.read()
    for fn in ("memcmp", "bcmp"):
        for line, args in calls(text, fn):
            for arg in args.split(",")[:2]:
                if SECRET.search(arg) and not PUBLIC.search(arg):
                    suspects.append("%s:%d: %s(%s)" % (os.path.relpath(path, SRC), line, fn, args.strip()))
t.eq(suspects, [], "no memcmp/bcmp on a secret or an authenticator in %d source files" % len(files))


def has(path, pattern):
    with open(os.path.join(SRC, path), errors="replace") as f:
        return re.search(pattern, f.read()) is not None


t.ok(has("lib/util.c", r"CRYPTO_memcmp"), "lib/util.c: ct_equal() is CRYPTO_memcmp")
t.ok(has("mka-agent/mka_crypto.c", r"ct_equal\s*\(\s*want\s*,\s*icv"), "mka-agent: the MKPDU ICV is compared with ct_equal()")
t.ok(has("macsec-sw/cipher.c", r"EVP_CTRL_GCM_SET_TAG") and has("macsec-sw/cipher.c", r"EVP_DecryptFinal"),
     "macsec-sw: the ICV is verified by OpenSSL's GCM (SET_TAG + DecryptFinal), never compared by hand")
t.ok(has("macsec-sw/gcm_vaes.c", r"ct_equal\s*\(\s*want\s*,\s*tag"),
     "macsec-sw: the VAES engine compares the ICV with ct_equal()")
t.ok(has("mka-agent/mka_crypto.c", r"EVP_aes_(128|256)_wrap") and not has("mka-agent/mka_crypto.c", r"0x[aA]6"),
     "mka-agent: AES key unwrap integrity is OpenSSL's (no hand-made A6 IV check)")

# Each daemon calls lib/privdrop.c's priv_drop()
# after start-up, which sets no_new_privs and keeps only the capabilities
# it names (tests/it_privdrop.py checks the running threads).
t.ok(has("lib/privdrop.c", r"PR_SET_NO_NEW_PRIVS") and has("lib/privdrop.c", r"capset"),
     "lib/privdrop.c sets no_new_privs and reduces capabilities (capset)")
for d in ("kme-sim", "skip-proxy", "mka-agent", "macsec-sw"):
    t.ok(has(d + "/main.c", r"\bpriv_drop\s*\("), "%s drops privileges after start-up (priv_drop in main.c)" % d)
