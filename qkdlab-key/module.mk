# qkdlab-key/: one key from a SKIP key provider or an ETSI 014 KME, for
# scripts and demos.  SKIP over lib/skip_client.c and lib/http_resp.c;
# ETSI 014 over lib/etsi014_client.c.
PKG_LIBS += libcjson

BINS += qkdlab-key/qkdlab-key
qkdlab_key_qkdlab_key_OBJS := qkdlab-key/main.o

MAN8 += man/qkdlab-key.8
