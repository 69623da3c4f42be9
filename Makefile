# SPDX-License-Identifier: GPL-2.0
#
# kvm-nested: out-of-tree x86 KVM for Debian 12 kernels.  See README.md.
#
#   make [module] KVER=...   build kvm.ko, kvm-intel.ko, kvm-amd.ko
#   make check               the test suite (tests/run)
#   make vmtest KVER=...     selftests in the emulated rig, stock vs ours
#   make bench KVER=...      timings, stock vs ours, and the build cost
#                            (docs/bench.md); make bench-smoke: quick check

KVER ?= $(shell scripts/default-kver)
BUILD ?= $(CURDIR)/build
DESTDIR ?=
DEPMOD ?= depmod
PACKAGE := kvm-nested
VERSION := $(shell cat VERSION)

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

# From a clean copy: "dkms add ." would copy build/ too.  Not to be mixed
# with the kvm-nested-dkms package, which registers the same name.
DKMS_SRC = $(BUILD)/dkms-src/$(PACKAGE)-$(VERSION)
dkms-install:
	rm -rf $(DKMS_SRC) && mkdir -p $(DKMS_SRC)
	cp -R --preserve=mode Makefile VERSION dkms.conf kvm patches scripts \
		packaging $(DKMS_SRC)/
	TOP=$(CURDIR) sh -c '. scripts/lib.sh && dkms_conf_kernels "$$1"' sh \
		$(DKMS_SRC)/dkms.conf
	dkms add $(DKMS_SRC)
	dkms build $(PACKAGE)/$(VERSION) -k $(KVER)
	dkms install $(PACKAGE)/$(VERSION) -k $(KVER)

abi-check: module
	scripts/abi-check $(KVER)

lint style:
	scripts/lint

matrix:
	scripts/matrix

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

.PHONY: all prepare module install dkms-install abi-check lint style matrix \
	bisect-check check clean distclean
