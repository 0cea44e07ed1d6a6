# macsec-sw/: the user-space IEEE 802.1AE SecY and its control client.
MACSEC_CORE_OBJS := macsec-sw/sectag.o macsec-sw/cipher.o macsec-sw/secy.o \
	macsec-sw/gcm_vaes.o

BINS += macsec-sw/macsec-sw macsec-sw/macsec-ctl
macsec_sw_macsec_sw_OBJS := macsec-sw/main.o macsec-sw/macsec_conf.o \
	macsec-sw/port.o macsec-sw/ring.o macsec-sw/offload.o macsec-sw/macsec_ctl_server.o macsec-sw/show.o macsec-sw/export.o \
	$(MACSEC_CORE_OBJS)
macsec_sw_macsec_ctl_OBJS := macsec-sw/macsec_ctl_client.o

MAN8 += man/macsec-sw.8 man/macsec-ctl.8
MAN5 += man/macsec-sw.conf.5


TESTS += tests/test_macsec
tests_test_macsec_OBJS := tests/test_macsec.o tests/harness.o \
	$(MACSEC_CORE_OBJS)

# The in-memory crypto benchmark (run by bench/bench_macsec, `make bench`);
# not installed, so it is not in BINS.
$(B)/bench/bench_macsec_crypto: $(B)/bench/bench_macsec_crypto.o \
		$(MACSEC_CORE_OBJS:%=$(B)/%) $(B)/lib/libqkdlab.a
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# libFuzzer target for the SecTAG / receive path (corpus: fuzz/corpus/sectag).
FUZZ += sectag
fuzz_sectag_OBJS := fuzz/fuzz_sectag.o $(MACSEC_CORE_OBJS)

# The TAP offloads: segmentation and receive coalescing (offload.c).
FUZZ += offload
fuzz_offload_OBJS := fuzz/fuzz_offload.o macsec-sw/offload.o

TESTS += tests/test_macsec_ctl
tests_test_macsec_ctl_OBJS := tests/test_macsec_ctl.o tests/harness.o \
	macsec-sw/macsec_ctl_server.o macsec-sw/macsec_conf.o macsec-sw/show.o macsec-sw/export.o \
	$(MACSEC_CORE_OBJS)

TESTS += tests/test_macsec_offload
tests_test_macsec_offload_OBJS := tests/test_macsec_offload.o tests/harness.o \
	macsec-sw/offload.o

TESTS += tests/test_macsec_ring
tests_test_macsec_ring_OBJS := tests/test_macsec_ring.o tests/harness.o \
	macsec-sw/ring.o

TESTS += tests/test_gcm_vaes
tests_test_gcm_vaes_OBJS := tests/test_gcm_vaes.o tests/harness.o \
	macsec-sw/macsec_conf.o $(MACSEC_CORE_OBJS)
