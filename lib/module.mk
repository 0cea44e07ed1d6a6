# lib/: the small shared library every daemon links (libqkdlab.a).
LIB_SRCS += lib/log.c lib/buf.c lib/encoding.c lib/cfg.c lib/util.c lib/tls_front.c lib/http_frame.c lib/privdrop.c \
	lib/secmem.c \
	lib/etsi014.c lib/https_client.c lib/etsi014_client.c lib/http_hdr.c \
	lib/metrics.c lib/cidr.c
LIB_SRCS += lib/http_resp.c
LIB_SRCS += lib/http_pages.c
LIB_SRCS += lib/http_req.c
LIB_SRCS += lib/unixsock.c lib/version.c lib/tlsfiles.c lib/sdnotify.c \
	lib/skip_client.c
PKG_LIBS += libmicrohttpd

TESTS += tests/test_lib
tests_test_lib_OBJS := tests/test_lib.o tests/harness.o

TESTS += tests/test_tls_front
tests_test_tls_front_OBJS := tests/test_tls_front.o tests/harness.o

TESTS += tests/test_metrics
tests_test_metrics_OBJS := tests/test_metrics.o tests/harness.o

TESTS += tests/test_etsi014
tests_test_etsi014_OBJS := tests/test_etsi014.o tests/harness.o
# The version *_build_info reports on every daemon's metrics page.
QKDLAB_METRICS_VERSION := $(shell git describe --always --dirty 2>/dev/null || echo unknown)
$(B)/lib/metrics.o: CFLAGS += -DQKDLAB_METRICS_VERSION=\"$(QKDLAB_METRICS_VERSION)\"

# The clients' HTTP/1.1 response parser (lib/http_resp.c).
TESTS += tests/test_http_resp
tests_test_http_resp_OBJS := tests/test_http_resp.o tests/harness.o

# lib/https_client against an HTTPS server in Python (tests/lib/https_stub.py).
TESTS += tests/test_https_client
tests_test_https_client_OBJS := tests/test_https_client.o tests/harness.o
