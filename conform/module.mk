# conform/: qkdlab-conform, the conformance suite for other KMEs (Python 3).
SCRIPTS += conform/qkdlab-conform
MAN1 += man/qkdlab-conform.1
