# macsec-sw/: the user-space IEEE 802.1AE SecY and its control client.
MACSEC_CORE_OBJS := macsec-sw/sectag.o macsec-sw/cipher.o macsec-sw/secy.o

TESTS += tests/test_macsec
tests_test_macsec_OBJS := tests/test_macsec.o tests/harness.o \
	$(MACSEC_CORE_OBJS)
