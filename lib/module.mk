# lib/: the small shared library every daemon links (libqkdlab.a).
LIB_SRCS += lib/log.c lib/buf.c lib/encoding.c lib/cfg.c lib/util.c

TESTS += tests/test_lib
tests_test_lib_OBJS := tests/test_lib.o tests/harness.o
