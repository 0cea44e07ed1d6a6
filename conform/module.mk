# conform/: qkdlab-conform, the conformance suite for other KMEs (Python 3).
SCRIPTS += conform/qkdlab-conform
SCRIPTS += conform/qkdlab-conform-mka
MAN1 += man/qkdlab-conform.1
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
