# mka-agent/: IEEE 802.1X-2020 MKA (KaY) whose CAKs may come from QKD.
PKG_LIBS += libcjson
# The kernel SecY backend (secy_kernel.c) speaks netlink through libnl.
PKG_LIBS += libnl-genl-3.0 libnl-route-3.0

MKA_CORE_OBJS := mka-agent/mka_crypto.o mka-agent/mka_pdu.o

TESTS += tests/test_mka_crypto tests/test_mka_pdu
tests_test_mka_crypto_OBJS := tests/test_mka_crypto.o tests/test_mka_util.o \
	tests/harness.o $(MKA_CORE_OBJS)
tests_test_mka_pdu_OBJS := tests/test_mka_pdu.o tests/test_mka_util.o \
	tests/harness.o $(MKA_CORE_OBJS)

# The mka-agent tests include the daemon's private headers.
$(B)/tests/test_mka%.o: CFLAGS += -Imka-agent
TESTS += tests/test_mka_tshark
tests_test_mka_tshark_OBJS := tests/test_mka_tshark.o tests/test_mka_util.o \
	tests/harness.o \
	$(MKA_CORE_OBJS)
TESTS += tests/test_mka_fuzz
tests_test_mka_fuzz_OBJS := tests/test_mka_fuzz.o tests/harness.o \
	fuzz/fuzz_mkpdu.o $(MKA_CORE_OBJS)
$(B)/fuzz/fuzz_mkpdu.o: CFLAGS += -Imka-agent

MKA_ENGINE_OBJS := $(MKA_CORE_OBJS) mka-agent/mka_suite.o mka-agent/mka_kay.o \
	mka-agent/mka_cp.o mka-agent/secy_fake.o mka-agent/mka_qkd.o \
	mka-agent/mka_timers.o
TESTS += tests/test_mka_kay tests/test_mka_qkd
tests_test_mka_qkd_OBJS := tests/test_mka_qkd.o tests/harness.o \
	$(MKA_ENGINE_OBJS)
tests_test_mka_kay_OBJS := tests/test_mka_kay.o tests/test_mka_util.o \
	tests/harness.o $(MKA_ENGINE_OBJS)

BINS += mka-agent/mka-agent
mka_agent_mka_agent_OBJS := mka-agent/main.o mka-agent/mka_conf.o \
	mka-agent/mka_port.o mka-agent/mka_status_view.o mka-agent/secy_ctl_client.o \
	mka-agent/keysvc_etsi014.o mka-agent/keysvc_skip.o \
	mka-agent/secy_kernel.o mka-agent/secy_nl.o \
	$(MKA_ENGINE_OBJS)
MAN8 += man/mka-agent.8
MAN5 += man/mka-agent.conf.5

# The in-memory codec benchmark (run by bench/bench_mka, `make bench`);
# not installed, so it is not in BINS.
$(B)/bench/bench_mka_codec.o: CFLAGS += -Imka-agent -Itests
$(B)/bench/bench_mka_codec: $(B)/bench/bench_mka_codec.o \
		$(B)/tests/test_mka_util.o $(B)/tests/harness.o \
		$(MKA_CORE_OBJS:%=$(B)/%) $(B)/lib/libqkdlab.a
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# The MKPDU decoder's libFuzzer target (fuzz/run), replayed by make check.
FUZZ += mkpdu
fuzz_mkpdu_OBJS := fuzz/fuzz_mkpdu.o $(MKA_CORE_OBJS)
TESTS += tests/test_mka_conf
tests_test_mka_conf_OBJS := tests/test_mka_conf.o tests/harness.o \
	mka-agent/mka_conf.o $(MKA_ENGINE_OBJS)

# The kernel SecY's netlink messages, built and read without a kernel.
TESTS += tests/test_mka_secy_nl
tests_test_mka_secy_nl_OBJS := tests/test_mka_secy_nl.o tests/harness.o \
	mka-agent/secy_nl.o
