# qkdlab — top-level GNU Makefile (non-recursive).
#
# Each component directory holds a module.mk that appends to the variables
# below; this file only knows how to build what they declare.
#
#   make            build every daemon and tool (into build/)
#   make check      build and run the whole test suite, then again under
#                   AddressSanitizer + UndefinedBehaviorSanitizer
#   make bench      run the benchmarks (results in build/bench/)
#   make install    install programs, man pages, systemd units and sample
#                   configurations (PREFIX, DESTDIR, SYSTEMDUNITDIR)
#   make demo       the two-site demo (as root)
#
# V=1 shows the commands; WERROR=1 adds -Werror (CI sets it).

PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
SBINDIR ?= $(PREFIX)/sbin
MANDIR  ?= $(PREFIX)/share/man
DOCDIR  ?= $(PREFIX)/share/doc/qkdlab
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
DESTDIR ?=

CC      ?= cc
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -D_GNU_SOURCE -pthread -MMD -MP -Ilib \
	   -Wall -Wextra -Wstrict-prototypes -Wmissing-prototypes \
	   -Wmissing-declarations -Wshadow -Wpointer-arith -Wcast-qual \
	   -Wsign-compare -Wformat=2 -Wvla -Wnull-dereference \
	   -fstack-protector-strong -D_FORTIFY_SOURCE=2 -fno-strict-aliasing
LDFLAGS ?=
LDLIBS  += -pthread -lm

ifeq ($(WERROR),1)
CFLAGS  += -Werror
endif

# `make FUZZER=1 CC=clang fuzz-bins` builds libFuzzer targets into build/fuzz
# (fuzz/run does this); every other build links the same targets to a
# replay main() so `make check` replays the committed corpus.
ifeq ($(FUZZER),1)
B       ?= build/fuzz
CFLAGS  += -O1 -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined \
	   -U_FORTIFY_SOURCE
LDFLAGS += -fsanitize=address,undefined
endif

# `make SANITIZE=1 ...` builds into build/san with ASan + UBSan.
ifeq ($(SANITIZE),1)
B       ?= build/san
CFLAGS  += -O1 -fno-omit-frame-pointer -fsanitize=address,undefined \
	   -fno-sanitize-recover=undefined -U_FORTIFY_SOURCE
LDFLAGS += -fsanitize=address,undefined
else
B       ?= build
endif

ifeq ($(V),1)
Q :=
else
Q := @
endif

# module.mk files may define rules of their own; `make` still means `all`.
.DEFAULT_GOAL := all

# Filled in by the module.mk files.
LIB_SRCS     :=
BINS         :=
TESTS        :=
MAN8         :=
MAN5         :=
PKG_LIBS     :=
SCRIPTS      :=
MAN1         :=
FUZZ         :=

include lib/module.mk
-include $(filter-out lib/module.mk,$(sort $(wildcard */module.mk)))

PKG_CFLAGS := $(if $(PKG_LIBS),$(shell pkg-config --cflags $(PKG_LIBS) 2>/dev/null))
PKG_LDLIBS := $(if $(PKG_LIBS),$(shell pkg-config --libs $(PKG_LIBS) 2>/dev/null))
CFLAGS += $(PKG_CFLAGS)
LDLIBS += $(PKG_LDLIBS) -lcrypto -lssl

LIB_OBJS := $(LIB_SRCS:%.c=$(B)/%.o)

# One version string for every program (--version): the VERSION file, and
# the commit when built from a git checkout.  Only lib/version.o sees it; a
# stamp file rebuilds it when the string changes.
QKDLAB_VERSION ?= $(shell v=$$(cat VERSION 2>/dev/null || echo 0); \
	g=$$(git describe --always --dirty 2>/dev/null) && echo "$$v+g$$g" || echo "$$v")
$(B)/version.stamp: FORCE
	@mkdir -p $(dir $@)
	@echo '$(QKDLAB_VERSION)' | cmp -s - $@ || echo '$(QKDLAB_VERSION)' > $@
$(B)/lib/version.o: $(B)/version.stamp
$(B)/lib/version.o: CFLAGS += -DQKDLAB_VERSION='"$(QKDLAB_VERSION)"'
.PHONY: FORCE
FORCE:
LIBQKD   := $(B)/lib/libqkdlab.a

.PHONY: all check check-fast test-bins fuzz-bins bench install demo lab-up lab-down \
	lab-compose clean deps fuzz

all: $(BINS:%=$(B)/%)

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS) -c -o $@ $<

$(LIBQKD): $(LIB_OBJS)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && $(AR) rcs $@ $^

# Binary link rule: a module declares <name>_OBJS for each entry in BINS/TESTS.
define link_rule
$(B)/$(1): $$($(subst /,_,$(subst -,_,$(1)))_OBJS:%=$(B)/%) $(LIBQKD)
	@mkdir -p $$(dir $$@)
	@$$(if $$(Q),echo "  LD      $$@")
	$$(Q)$$(CC) $$(LDFLAGS) -o $$@ $$^ $$(LDLIBS)
endef
$(foreach b,$(BINS) $(TESTS),$(eval $(call link_rule,$(b))))

# Fuzz targets: module.mk files add a name to FUZZ and define
# fuzz_<name>_OBJS (the target's own object plus the code under test).
define fuzz_rule
$(B)/fuzz/replay_$(1): $$(fuzz_$(1)_OBJS:%=$(B)/%) $(B)/fuzz/replay_main.o $(LIBQKD)
	@mkdir -p $$(dir $$@)
	@$$(if $$(Q),echo "  LD      $$@")
	$$(Q)$$(CC) $$(LDFLAGS) -o $$@ $$^ $$(LDLIBS)
$(B)/fuzz/fuzz_$(1): $$(fuzz_$(1)_OBJS:%=$(B)/%) $(LIBQKD)
	@mkdir -p $$(dir $$@)
	@$$(if $$(Q),echo "  LD      $$@")
	$$(Q)$$(CC) $$(LDFLAGS) -fsanitize=fuzzer -o $$@ $$^ $$(LDLIBS)
endef
$(foreach f,$(FUZZ),$(eval $(call fuzz_rule,$(f))))

test-bins: all $(TESTS:%=$(B)/%) $(FUZZ:%=$(B)/fuzz/replay_%)

fuzz-bins: $(FUZZ:%=$(B)/fuzz/fuzz_%)

# The suite: plain build first, then the sanitizer build.
# Unit tests run in both builds; the integration tests (tests/it_*) drive
# the sanitizer-built daemons, so every real run is checked by ASan/UBSan.
# The builds use every CPU unless make was given -j; tests/run runs two
# test programs at a time (see its HEAVY and ALONE lists).
check_jobs = $(if $(findstring -j,$(MAKEFLAGS))$(findstring jobserver,$(MAKEFLAGS)),,-j$(shell nproc))
check: deps-check
	$(MAKE) $(check_jobs) test-bins
	$(MAKE) $(check_jobs) SANITIZE=1 test-bins
	tests/run --unit build --unit build/san --it build/san

# Plain build only, optionally one test (make check-fast T=kme).
check-fast:
	$(MAKE) $(check_jobs) test-bins
	tests/run --unit build --it build $(if $(T),--only $(T))

bench: all
	@mkdir -p build/bench
	bench/run

install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(MANDIR)/man5
	install -m 0755 $(BINS:%=$(B)/%) $(DESTDIR)$(SBINDIR)/
	$(if $(MAN8),install -m 0644 $(MAN8) $(DESTDIR)$(MANDIR)/man8/)
	$(if $(MAN5),install -m 0644 $(MAN5) $(DESTDIR)$(MANDIR)/man5/)
	$(if $(SCRIPTS),install -d $(DESTDIR)$(BINDIR) && install -m 0755 $(SCRIPTS) $(DESTDIR)$(BINDIR)/)
	$(foreach s,$(SCRIPTS),sed -i 's|@QKDLAB_VERSION@|$(QKDLAB_VERSION)|' $(DESTDIR)$(BINDIR)/$(notdir $(s)) &&) true
	install -d $(DESTDIR)$(SYSTEMDUNITDIR) $(DESTDIR)$(DOCDIR)/examples
	for u in systemd/*.service; do \
		sed 's|@SBINDIR@|$(SBINDIR)|g' $$u > $(DESTDIR)$(SYSTEMDUNITDIR)/$${u#systemd/} && \
		chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/$${u#systemd/} || exit 1; done
	install -m 0644 systemd/*.conf kme-sim/examples/*.conf $(DESTDIR)$(DOCDIR)/examples/
	$(if $(MAN1),install -d $(DESTDIR)$(MANDIR)/man1 && install -m 0644 $(MAN1) $(DESTDIR)$(MANDIR)/man1/)
	$(if $(API_DOCS),install -d $(DESTDIR)$(PREFIX)/share/qkdlab/api && install -m 0644 $(API_DOCS) $(DESTDIR)$(PREFIX)/share/qkdlab/api/)

deps:
	scripts/deps

deps-check:
	@scripts/deps --check-only >/dev/null 2>&1 || scripts/deps

demo: deps-check
	$(MAKE) all
	scripts/demo

# A two-site lab in network namespaces that stays up (build/lab/lab.env).
lab-up: deps-check
	$(MAKE) all
	scripts/lab up

lab-down:
	scripts/lab down

# The same two sites in containers (podman-compose; see docs/CONTAINERS.md).
lab-compose:
	scripts/lab-compose

fuzz:
	fuzz/run

clean:
	rm -rf build

-include $(shell find build -name '*.d' 2>/dev/null)
