# kme-sim/: the ETSI GS QKD 014 KME simulator and its lab PKI command.
PKG_LIBS += sqlite3 libcjson

# The key store (kme_store*.c) and key objects, also linked by tests.
KME_STORE_OBJS := kme-sim/kme_store.o kme-sim/kme_store_mem.o \
	kme-sim/kme_store_files.o kme-sim/kme_store_schema.o \
	kme-sim/kme_store_stmt.o kme-sim/kme_store_pool.o \
	kme-sim/kme_store_rkey.o kme-sim/kme_store_ready.o kme-sim/kme_keys.o
KME_STORE_OBJS += kme-sim/kme_store_vfs.o kme-sim/kme_store_ckpt.o
KME_STORE_OBJS += kme-sim/kme_store_journal.o

KME_SIM_OBJS := kme-sim/kme_conf.o kme-sim/kme_req.o $(KME_STORE_OBJS) \
	kme-sim/kme_http.o kme-sim/kme_link.o kme-sim/kme_link_client.o \
	kme-sim/kme_link_pool.o kme-sim/kme_link_keys.o kme-sim/kme_link_server.o \
	kme-sim/kme_link_ticker.o kme-sim/kme_linkmsg.o kme-sim/kme_api.o \
	kme-sim/kme_admin.o kme-sim/kme_metrics.o
KME_SIM_OBJS += kme-sim/kme_link_model.o kme-sim/qkd_model.o
# Trusted-node key relay.
KME_SIM_OBJS += kme-sim/kme_relay.o kme-sim/kme_relay_hop.o \
	kme-sim/kme_relay_conf.o kme-sim/kme_relaymsg.o
# The admin listener serves the OpenAPI documents (api/module.mk).
KME_SIM_OBJS += api/etsi014_yaml.o api/admin_yaml.o

BINS += kme-sim/kme-sim
kme_sim_kme_sim_OBJS := kme-sim/main.o $(KME_SIM_OBJS)

MAN8 += man/kme-sim.8
MAN5 += man/kme-sim.conf.5

# The lab PKI command is a shell script over the openssl CLI.
SCRIPTS += scripts/qkdlab-pki
MAN1 += man/qkdlab-pki.1

# Physics faults of a QKD link over the admin API.
SCRIPTS += scripts/qkdlab-link
MAN1 += man/qkdlab-link.1

TESTS += tests/test_kme_req
tests_test_kme_req_OBJS := tests/test_kme_req.o tests/harness.o kme-sim/kme_req.o kme-sim/kme_conf.o \
	kme-sim/qkd_model.o kme-sim/kme_relay_conf.o

TESTS += tests/test_kme_linkmsg
tests_test_kme_linkmsg_OBJS := tests/test_kme_linkmsg.o tests/harness.o \
	kme-sim/kme_linkmsg.o kme-sim/kme_http.o kme-sim/kme_keys.o kme-sim/kme_conf.o \
	kme-sim/qkd_model.o kme-sim/kme_relay_conf.o kme-sim/kme_relaymsg.o
$(B)/tests/test_kme_linkmsg.o: CFLAGS += -Ikme-sim

TESTS += tests/test_kme_store
tests_test_kme_store_OBJS := tests/test_kme_store.o tests/harness.o $(KME_STORE_OBJS)

# bench/bench_kme (`make bench`): the load client and the bare reference
# responder.  Not installed, so not in BINS.
# The load client drives the KME through libcurl.
$(B)/bench/bench_kme_load: LDLIBS += -lcurl
$(B)/bench/bench_kme_load: $(B)/bench/bench_kme_load.o $(B)/lib/libqkdlab.a
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
# With --store, the store floor: SQLite set up as kme-sim's store is,
# through the store's allocator and VFS, with its fetch journal.
$(B)/bench/bench_kme_bare.o: CFLAGS += -Ikme-sim
$(B)/bench/bench_kme_bare: $(B)/bench/bench_kme_bare.o \
	$(B)/kme-sim/kme_store_mem.o $(B)/kme-sim/kme_store_vfs.o \
	$(B)/kme-sim/kme_store_journal.o $(B)/kme-sim/kme_store_stmt.o \
	$(B)/kme-sim/kme_store_files.o $(B)/lib/libqkdlab.a
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# ETSI 014 request bodies and query strings (fuzz/fuzz_kme_req.c).
FUZZ += kme_req
fuzz_kme_req_OBJS := fuzz/fuzz_kme_req.o kme-sim/kme_req.o

# The QKD link model against published figures.
TESTS += tests/test_qkd_model
tests_test_qkd_model_OBJS := tests/test_qkd_model.o tests/harness.o kme-sim/qkd_model.o
$(B)/tests/test_qkd_model.o: CFLAGS += -Ikme-sim
