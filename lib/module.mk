# lib/: the small shared library every daemon links (libqkdlab.a).
LIB_SRCS += lib/log.c lib/buf.c lib/encoding.c lib/cfg.c lib/util.c lib/tls_front.c lib/privdrop.c \
	lib/secmem.c \
	lib/etsi014.c lib/https_client.c lib/etsi014_client.c lib/http_hdr.c \
	lib/metrics.c
PKG_LIBS += libmicrohttpd

TESTS += tests/test_lib
tests_test_lib_OBJS := tests/test_lib.o tests/harness.o

TESTS += tests/test_tls_front
tests_test_tls_front_OBJS := tests/test_tls_front.o tests/harness.o

TESTS += tests/test_metrics
tests_test_metrics_OBJS := tests/test_metrics.o tests/harness.o

TESTS += tests/test_etsi014
tests_test_etsi014_OBJS := tests/test_etsi014.o tests/harness.o
