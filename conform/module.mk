# conform/: qkdlab-conform, the conformance suite for other KMEs (Python 3).
SCRIPTS += conform/qkdlab-conform
MAN1 += man/qkdlab-conform.1

# The TLS-PSK side of its SKIP checks (Python's ssl has no TLS-PSK).
BINS += conform/qkdlab-skip-probe
conform_qkdlab_skip_probe_OBJS := conform/skip_probe.o
MAN8 += man/qkdlab-skip-probe.8

# The TLS-PSK front of the SKIP key provider double (tests/lib/skip_double.py)
# of its self-test; not installed, not a unit test.
$(B)/tests/skip_psk_front: $(B)/tests/skip_psk_front.o $(B)/lib/libqkdlab.a
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
test-bins: $(B)/tests/skip_psk_front

# Its suites beside the ETSI 014 one (qkdlab-conform SUBCOMMANDS), found by
# the installed script in $(PREFIX)/lib/qkdlab/conform.
CONFORM_MODULES := conform/conform_skip.py
CONFORM_MODULES += conform/conform_mka.py
install: install-conform-modules
.PHONY: install-conform-modules
install-conform-modules: all
	install -d $(DESTDIR)$(PREFIX)/lib/qkdlab/conform
	install -m 0644 $(CONFORM_MODULES) $(DESTDIR)$(PREFIX)/lib/qkdlab/conform/
# qkdlab-mkagrade: grades an MKA peer's captured MKPDUs with mka-agent's codec.
BINS += conform/qkdlab-mkagrade
MAN8 += man/qkdlab-mkagrade.8
conform_qkdlab_mkagrade_OBJS := conform/mka_grade.o conform/capture.o \
	mka-agent/mka_crypto.o mka-agent/mka_pdu.o
$(B)/conform/%.o: CFLAGS += -Imka-agent
# The capture reader's libFuzzer target (fuzz/run), replayed by make check.
FUZZ += capture
fuzz_capture_OBJS := fuzz/fuzz_capture.o conform/capture.o
$(B)/fuzz/fuzz_capture.o: CFLAGS += -Iconform
