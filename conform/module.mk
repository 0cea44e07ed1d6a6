# conform/: qkdlab-conform, the conformance suite for other KMEs (Python 3).
SCRIPTS += conform/qkdlab-conform
MAN1 += man/qkdlab-conform.1

# The TLS-PSK side of its SKIP checks (Python's ssl has no TLS-PSK).
BINS += conform/qkdlab-skip-probe
conform_qkdlab_skip_probe_OBJS := conform/skip_probe.o
MAN8 += man/qkdlab-skip-probe.8
