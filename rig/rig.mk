# SPDX-License-Identifier: GPL-2.0
#
# The runtime rig (docs/rig.md), included by the top-level Makefile.
#
#   make vmtest KVER=...          SVM: stock, ours-eager, ours-legacy (QEMU TCG)
#   make vmtest-vmx KVER=...      the same for VMX (Bochs)
#   make vmtest-full KVER=...     every x86_64 selftest that builds (not in CI)
#   make vmtest-baseline KVER=... stock modules only (= OURS=0)
#   make rig-selfcheck KVER=... [MUTANTS="0003 0004"]  the rig self-check (rig/mutants)
#   make rig-selfcheck-vmm KVER=... [SCENARIOS=...] [VMX=1]  the same for vmtest-vmm
#   make rig-deps                 apt-get install what the rig needs (root)
#   make fuzz KVER=... [ITERS= SEED= RSM_ITERS= VMX=1]  nested state fuzzers
#   make vmtest-vmm KVER=... [SCENARIOS="file precopy postcopy mixed"]
#                  [REPEAT=n] [VMX=1]  QEMU/KVM inside the rig migrates an L1
#                                 payload (selftests/l1) while L2 runs (SVM
#                                 under QEMU TCG; VMX=1: VMX under Bochs);
#                                 REPEAT boots n times and adds statistics
#   make debug-kernel KVER=...    build the debug kernel of KVER (lockdep,
#                                 KASAN, UBSAN...) once; DEBUG=1 on the
#                                 targets above then runs on it
#
# Variables: KVER (required), OURS=0 (skip our modules, and `module`),
# TESTS="a b" (only these), RETRIES=n (reruns of a failure, default 1),
# VMTEST_FLAGS (more rig/vmtest.sh options).

TOP ?= $(CURDIR)
OURS ?= 1
RIG_SH := $(TOP)/rig

rig_need_kver = $(if $(KVER),,$(error KVER=<Debian kernel release> is required))
rig_flags = --ours $(OURS) $(if $(TESTS),--tests "$(TESTS)") \
	$(if $(RETRIES),--retries $(RETRIES)) $(VMTEST_FLAGS)
# Our modules are built first unless OURS=0.
rig_module = $(if $(filter 0,$(OURS)),,module)

vmtest: $(rig_module)
	$(rig_need_kver)
	$(RIG_SH)/vmtest.sh $(rig_flags) $(KVER)

vmtest-vmx: $(rig_module)
	$(rig_need_kver)
	$(RIG_SH)/vmtest.sh --vmx $(rig_flags) $(KVER)

vmtest-full: $(rig_module)
	$(rig_need_kver)
	$(RIG_SH)/vmtest.sh --full $(rig_flags) $(KVER)

vmtest-full-vmx: $(rig_module)
	$(rig_need_kver)
	$(RIG_SH)/vmtest.sh --vmx --full $(rig_flags) $(KVER)

vmtest-baseline:
	$(rig_need_kver)
	$(RIG_SH)/vmtest.sh --ours 0 $(if $(TESTS),--tests "$(TESTS)") $(VMTEST_FLAGS) $(KVER)

rig-selfcheck:
	$(rig_need_kver)
	$(RIG_SH)/selfcheck.sh $(KVER) $(MUTANTS)

rig-selfcheck-vmx:
	$(rig_need_kver)
	$(RIG_SH)/selfcheck.sh --vmx $(KVER) $(MUTANTS)

rig-selfcheck-vmm:
	$(rig_need_kver)
	$(RIG_SH)/selfcheck.sh --vmm $(if $(filter 1,$(VMX)),--vmx) \
		$(if $(SCENARIOS),--scenarios "$(SCENARIOS)") $(KVER) $(MUTANTS)

rig-deps:
	sh $(TOP)/scripts/deps.sh rig

# Cached per source version and rig/debug-kernel.config (build/debug-kernel/).
debug-kernel:
	$(rig_need_kver)
	$(if $(filter 1,$(DEBUG)),$(error make debug-kernel takes a Debian KVER, not DEBUG=1))
	$(RIG_SH)/debug-kernel.sh $(KVER)

# make fuzz KVER=... [ITERS=n] [SEED=s] [RSM_ITERS=n] [VMX=1]: docs/fuzz.md
fuzz: $(rig_module)
	$(rig_need_kver)
	$(RIG_SH)/fuzz.sh $(if $(filter 1,$(VMX)),--vmx) --ours $(OURS) \
		$(if $(ITERS),--iters $(ITERS)) $(if $(SEED),--seed $(SEED)) \
		$(if $(RSM_ITERS),--rsm-iters $(RSM_ITERS)) $(KVER)

# make vmtest-vmm KVER=... [SCENARIOS="..."] [REPEAT=n] [VMX=1]: docs/rig.md
vmtest-vmm: module
	$(rig_need_kver)
	$(RIG_SH)/vmm.sh $(if $(filter 1,$(VMX)),--vmx) \
		$(if $(SCENARIOS),--scenarios "$(SCENARIOS)") \
		$(if $(REPEAT),--repeat $(REPEAT)) $(KVER)

.PHONY: debug-kernel vmtest-vmm vmtest vmtest-vmx vmtest-full vmtest-full-vmx vmtest-baseline \
	rig-selfcheck rig-selfcheck-vmx rig-selfcheck-vmm rig-deps fuzz
