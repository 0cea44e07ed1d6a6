# skip-proxy/: SKIP key provider backed by an ETSI 014 KME.
PKG_LIBS += libcjson

SKIP_PROXY_CORE := skip-proxy/skip_conf.o skip-proxy/skip_psk.o \
	skip-proxy/skip_tls.o skip-proxy/skip_req.o \
	skip-proxy/skip_api.o skip-proxy/skip_metrics.o skip-proxy/skip_http.o \
	skip-proxy/skip_record.o skip-proxy/skip_pool.o
# The metrics listener serves GET /openapi.yaml (api/module.mk).
SKIP_PROXY_CORE += api/skip_yaml.o

BINS += skip-proxy/skip-proxy
skip_proxy_skip_proxy_OBJS := skip-proxy/main.o $(SKIP_PROXY_CORE)

MAN8 += man/skip-proxy.8
MAN5 += man/skip-proxy.conf.5

TESTS += tests/test_skip
tests_test_skip_OBJS := tests/test_skip.o tests/harness.o $(SKIP_PROXY_CORE)

TESTS += tests/test_skip_pool
tests_test_skip_pool_OBJS := tests/test_skip_pool.o tests/harness.o \
	skip-proxy/skip_pool.o

# The SKIP request-target parser: input = "METHOD target" (first space).
FUZZ += skip_req
fuzz_skip_req_OBJS := fuzz/fuzz_skip_req.o skip-proxy/skip_req.o

# The load generator of bench/bench_skip (`make bench`); not installed, so
# not in BINS.
$(B)/bench/bench_skip_client: $(B)/bench/bench_skip_client.o $(B)/lib/libqkdlab.a
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# The relay floor of bench/bench_skip: skip-proxy's TLS front and KME
# client with no SKIP work in between; not installed.
$(B)/bench/bench_skip_relay.o: CFLAGS += -Iskip-proxy
$(B)/bench/bench_skip_relay: $(B)/bench/bench_skip_relay.o \
		$(B)/skip-proxy/skip_conf.o $(B)/skip-proxy/skip_psk.o \
		$(B)/skip-proxy/skip_tls.o $(B)/skip-proxy/skip_req.o \
		$(B)/lib/libqkdlab.a
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
