# SPDX-License-Identifier: GPL-2.0
#
# kvm-nested: out-of-tree x86 KVM for Debian's kernels.  See README.md.
#
#   make [module] KVER=...   build kvm.ko, kvm-intel.ko, kvm-amd.ko
#   make check               the test suite (tests/run)
#   make vmtest KVER=...     selftests in the emulated rig, stock vs ours
#   make bench KVER=...      timings, stock vs ours, and the build cost
#                            (docs/bench.md); make bench-smoke: quick check
#   make debug-kernel KVER=... then make vmtest DEBUG=1 KVER=...: the rig on
#                            a lockdep/KASAN/UBSAN kernel (docs/rig.md)

KVER ?= $(shell scripts/default-kver)
BUILD ?= $(CURDIR)/build
DESTDIR ?=
DEPMOD ?= depmod
PACKAGE := kvm-nested
VERSION := $(shell cat VERSION)

# DEBUG=1: the same targets on the rig's debug kernel of KVER (make
# debug-kernel KVER=..., docs/rig.md): KVER becomes its release
# (6.12.118-kvmdebug), KDIR its tree; its own modules are the stock ones.
ifeq ($(DEBUG),1)
override KDIR := $(shell rig/debug-kernel.sh --kdir $(KVER))
override KVER := $(or $(shell rig/debug-kernel.sh --kver $(KVER) 2>/dev/null),\
	$(error DEBUG=1 needs the debug kernel: make debug-kernel KVER=$(KVER)))
endif

export BUILD KDIR KSRC PATCHDIR JOBS

B = $(BUILD)/kvm/$(KVER)
MODULES = kvm.ko kvm-intel.ko kvm-amd.ko

all: module

prepare:
	scripts/prepare $(KVER) >/dev/null

module:
	scripts/build $(KVER)

install: module
	install -d $(DESTDIR)/lib/modules/$(KVER)/updates/$(PACKAGE)
	install -m 0644 $(addprefix $(B)/,$(MODULES)) \
		$(DESTDIR)/lib/modules/$(KVER)/updates/$(PACKAGE)/
	$(if $(DESTDIR),,$(DEPMOD) -a $(KVER))

# What a host's dkms builds from (/usr/src/kvm-nested-VERSION, in the
# packages too): the Kbuild glue, the series, what packaging/dkms-build runs
# and dkms.conf with the kernels of every series (DKMS_KERNELS=rpm: RPM
# distributions' kernels of those upstream versions instead).  No developer tools.
HOST_SCRIPTS = scripts/build scripts/prepare scripts/lib.sh
dkms-tree:
	$(if $(DEST),,$(error DEST=<directory> is required))
	mkdir -p $(DEST)/scripts $(DEST)/packaging
	cp -R --preserve=mode VERSION dkms.conf kvm patches $(DEST)/
	cp --preserve=mode $(HOST_SCRIPTS) $(DEST)/scripts/
	cp --preserve=mode packaging/dkms-build $(DEST)/packaging/
	TOP=$(CURDIR) sh -c '. scripts/lib.sh && dkms_conf_kernels "$$1" "$$2"' sh \
		$(DEST)/dkms.conf "$(DKMS_KERNELS)"

# From a clean copy: "dkms add ." would copy build/ too.  Not to be mixed
# with the kvm-nested-dkms package, which registers the same name.
DKMS_SRC = $(BUILD)/dkms-src/$(PACKAGE)-$(VERSION)
dkms-install:
	rm -rf $(DKMS_SRC)
	$(MAKE) --no-print-directory dkms-tree DEST=$(DKMS_SRC)
	dkms add $(DKMS_SRC)
	dkms build $(PACKAGE)/$(VERSION) -k $(KVER)
	dkms install $(PACKAGE)/$(VERSION) -k $(KVER)

abi-check: module
	scripts/abi-check $(KVER)

lint style:
	scripts/lint

# Every kernel of every series apt knows of (MATRIX=--newest: the newest of
# each series, all flavours); outside CI, see docs.
matrix:
	scripts/matrix $(MATRIX)

# Every prefix of every series, on the newest kernel of each (not KVER).
bisect-check:
	scripts/bisect-check $(SERIES)

check:
	tests/run

clean:
	rm -rf $(BUILD)/kvm $(BUILD)/prep $(BUILD)/tests

distclean:
	rm -rf $(BUILD)

-include rig/rig.mk
-include rig/bench.mk
-include packaging/packaging.mk

.PHONY: all prepare module install dkms-tree dkms-install abi-check lint style matrix \
	bisect-check check clean distclean
