# fuzz/: libFuzzer targets.  Each also links to fuzz/replay_main.c so the
# committed corpus (fuzz/corpus/<name>/) is replayed by `make check`.
FUZZ += cfg
fuzz_cfg_OBJS := fuzz/fuzz_cfg.o


# Each daemon's configuration parser.  kme-sim, mka-agent and macsec-sw
# only parse files, so their targets hand the input over through a memfd
# (fuzz/fuzz_file.c).  Recursive '=': the object lists are defined by
# module.mk files read after this one.
FUZZ += conf_kme
fuzz_conf_kme_OBJS = fuzz/fuzz_conf_kme.o fuzz/fuzz_file.o kme-sim/kme_conf.o \
	kme-sim/qkd_model.o kme-sim/kme_relay_conf.o

FUZZ += conf_skip
fuzz_conf_skip_OBJS = fuzz/fuzz_conf_skip.o skip-proxy/skip_conf.o \
	skip-proxy/skip_psk.o

FUZZ += conf_mka
fuzz_conf_mka_OBJS = fuzz/fuzz_conf_mka.o fuzz/fuzz_file.o \
	mka-agent/mka_conf.o mka-agent/mka_suite.o $(MKA_CORE_OBJS)
$(B)/fuzz/fuzz_conf_mka.o: CFLAGS += -Imka-agent

FUZZ += conf_macsec
fuzz_conf_macsec_OBJS = fuzz/fuzz_conf_macsec.o fuzz/fuzz_file.o \
	macsec-sw/macsec_conf.o $(MACSEC_CORE_OBJS)

# macsec-sw's control protocol (ctl_exec), which carries SAKs.
FUZZ += macsec_ctl
fuzz_macsec_ctl_OBJS = fuzz/fuzz_macsec_ctl.o macsec-sw/macsec_ctl_server.o macsec-sw/macsec_conf.o \
	macsec-sw/show.o macsec-sw/export.o $(MACSEC_CORE_OBJS)

# The shared ETSI 014 parsers of a KME's answers (Key container, Error
# body) and the URL rule, used by mka-agent and skip-proxy (lib/etsi014.c).
FUZZ += etsi014
fuzz_etsi014_OBJS = fuzz/fuzz_etsi014.o

# kme-sim's KME-link messages (sync, reserve, alloc) as the receiving KME
# parses and validates them.
FUZZ += kme_link
fuzz_kme_link_OBJS = fuzz/fuzz_kme_link.o kme-sim/kme_linkmsg.o \
	kme-sim/kme_http.o kme-sim/kme_keys.o kme-sim/kme_conf.o \
	kme-sim/qkd_model.o kme-sim/kme_relay_conf.o kme-sim/kme_relaymsg.o

# qkdlab-dash's HTTP response splitter and metrics reader.
FUZZ += dash
fuzz_dash_OBJS = fuzz/fuzz_dash.o qkdlab-dash/dash_fetch.o
$(B)/fuzz/fuzz_dash.o: CFLAGS += -Iqkdlab-dash

# The TLS front's RFC 9112 request framing check.
FUZZ += http_frame
fuzz_http_frame_OBJS = fuzz/fuzz_http_frame.o

# The clients' HTTP/1.1 response parser (lib/http_resp.c).
FUZZ += http_resp
fuzz_http_resp_OBJS := fuzz/fuzz_http_resp.o

# The request-head splitter the TLS front's request mode hands handlers.
FUZZ += http_req
fuzz_http_req_OBJS = fuzz/fuzz_http_req.o
