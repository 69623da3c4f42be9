// SPDX-License-Identifier: GPL-2.0-only
/*
 * nested_smm_rsm_test - SMI while the vCPU runs L2 (nested SVM), then RSM
 * back into L2, with the SMM handler possibly changing vmcb12 behind L1.
 *
 * L1 runs L2 with the MSR_PROT intercept and its MSR permission map set to
 * intercept RDMSR(FS_BASE).  When L2 reports in, the host raises an SMI
 * (KVM_SMI).  KVM exits L2 to enter SMM; the SMM handler at SMBASE + 0x8000
 * (real mode, 4 GiB segment limits) stores one dword, reports to the host
 * through an IN from port SMI_SYNC_PORT and executes RSM, which re-enters L2 from
 * the vmcb12 in guest memory.  Guest RAM is aliased into the SMM address
 * space so that the handler can reach vmcb12.  Variants:
 *
 *   plain          the store goes to SMRAM scratch; L2 must resume and the
 *                  guest complete, L2's RDMSR(FS_BASE) exiting to L1, i.e.
 *                  the MSRPM was (re)loaded after RSM.
 *   corrupt-vmrun  the handler clears the VMRUN intercept in vmcb12;
 *   corrupt-asid   the handler sets vmcb12's ASID to 0: both are illegal
 *                  vmcb12 controls, so RSM must fail and L1 (not L2) shut
 *                  down: KVM_EXIT_SHUTDOWN, out of guest mode afterwards.
 *                  Stock 6.1 does not check vmcb12 on RSM (6.12 does, via
 *                  nested_svm_check_cached_vmcb12()): there L2 resumes and
 *                  the variant is reported, not failed.
 *   unbacked-msrpm the handler moves msrpm_base_pa to an unbacked GPA:
 *                  eager mode (kvm-nested, defer_nested_state_pages=N)
 *                  loads the MSRPM at RSM, which must fail: shutdown of L1;
 *                  legacy and stock load it at the next entry, which fails
 *                  with KVM_EXIT_INTERNAL_ERROR.
 *
 * The rig flags host splats.  When the VM's debugfs file nested_state_pages
 * exists (kvm-nested), its counts are checked for every variant.
 *
 * Usage: nested_smm_rsm_test [variant...] (default: all)
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "test_util.h"
#include "kvm_util.h"
#include "processor.h"
#include "nested_util.h"

#define SMRAM_SCRATCH	0x4000			/* offset of the plain variant's store */

#define MARKER		0x5a5aa5a5u

enum variant { V_PLAIN, V_CORRUPT_VMRUN, V_CORRUPT_ASID, V_UNBACKED_MSRPM, NR_VARIANTS };
static const char * const variant_name[NR_VARIANTS] = {
	"plain", "corrupt-vmrun", "corrupt-asid", "unbacked-msrpm",
};

static bool kernel_is_6_1(void)
{
	struct utsname u;

	TEST_ASSERT(!uname(&u), "uname: errno %d", errno);
	return !strncmp(u.release, "6.1.", 4);
}

/* RSM into L2 @why must have shut down L1 (not L2). */
static void expect_l1_shutdown(struct kvm_vcpu *vcpu, const char *who, const char *why)
{
	struct kvm_run *run = vcpu->run;

	TEST_ASSERT(run->exit_reason == KVM_EXIT_SHUTDOWN,
		    "%s: RSM into L2 %s: expected L1 to shut down (KVM_EXIT_SHUTDOWN), got exit reason %u (%s)",
		    who, why, run->exit_reason, exit_reason_str(run->exit_reason));
	TEST_ASSERT(!in_guest_mode(vcpu),
		    "%s: expected L1, not L2, to be shut down (vCPU out of guest mode)", who);
}

static void run_variant(enum variant v, enum mode mode, bool is_6_1)
{
	const char *name = variant_name[v];
	struct svm_test_data *svm;
	struct kvm_vcpu *vcpu;
	struct nested_vm n;
	struct kvm_run *run;
	struct kvm_vm *vm;
	struct vmcb *vmcb12;
	uint32_t addr, val;
	struct ucall uc;

	pr_info("variant %s\n", name);
	nested_vm_create(&n, &svm_vendor, NULL, NV_SMRAM);
	vm = n.vm;
	vcpu = n.vcpu;
	svm = n.svm;
	run = vcpu->run;

	smm_ram_alias(vm, svm->vmcb_gpa, "vmcb12");

	run_to_stage_of(vcpu, name, 1);
	run_to_stage_of(vcpu, name, 2);
	TEST_ASSERT(in_guest_mode(vcpu), "%s: expected the vCPU in L2 at stage 2", name);

	/* What the SMI handler will store, and where. */
	vmcb12 = svm->vmcb_hva;
	switch (v) {
	case V_PLAIN:
		addr = SMRAM_GPA + SMRAM_SCRATCH;
		val = MARKER;
		break;
	case V_CORRUPT_VMRUN:
		TEST_ASSERT(vmcb12->control.intercept & (1ull << INTERCEPT_VMRUN),
			    "vmcb12: expected the VMRUN intercept set by L1");
		addr = svm->vmcb_gpa + offsetof(struct vmcb_control_area, intercept) + 4;
		val = (vmcb12->control.intercept >> 32) & ~(1u << (INTERCEPT_VMRUN - 32));
		break;
	case V_CORRUPT_ASID:
		TEST_ASSERT(vmcb12->control.asid, "vmcb12: expected a nonzero ASID set by L1");
		addr = svm->vmcb_gpa + offsetof(struct vmcb_control_area, asid);
		val = 0;
		break;
	case V_UNBACKED_MSRPM:
		TEST_ASSERT(vmcb12->control.msrpm_base_pa == svm->msr_gpa &&
			    svm->msr_gpa < 0x100000000ull,
			    "vmcb12: expected msrpm_base_pa 0x%lx below 4 GiB, got 0x%lx",
			    (unsigned long)svm->msr_gpa,
			    (unsigned long)vmcb12->control.msrpm_base_pa);
		addr = svm->vmcb_gpa + offsetof(struct vmcb_control_area, msrpm_base_pa);
		val = (uint32_t)UNBACKED_GPA;
		break;
	default:
		TEST_FAIL("bad variant %d", v);
	}
	smi_handler_stores(n.smram, &addr, &val, 1);

	run_to_smi_handler(vcpu, name);

	/* RSM. */
	vcpu_run(vcpu);

	switch (v) {
	case V_PLAIN: {
		uint32_t got;

		memcpy(&got, n.smram + SMRAM_SCRATCH, 4);
		TEST_ASSERT(got == MARKER, "plain: expected the SMI handler's store 0x%x in SMRAM, got 0x%x",
			    MARKER, got);
		uc = expect_stage(vcpu, name, 3);
		expect_msr_exit(&svm_vendor, uc, "plain: after RSM into L2");
		msr_guest_finish_from_4(&svm_vendor, vcpu);
		check_np_modes(vm, name, mode,
			       (struct np_want){ .rsm = 1, .vmentry = 2 },
			       (struct np_want){ .legacy_request = 1, .vmentry = 2 });
		break;
	}
	case V_CORRUPT_VMRUN:
	case V_CORRUPT_ASID:
		if (run->exit_reason != KVM_EXIT_SHUTDOWN && mode == MODE_STOCK && is_6_1) {
			uc = expect_stage(vcpu, name, 3);
			pr_info("%s: stock 6.1 does not check vmcb12 on RSM: L2 was resumed (exit code 0x%lx to L1); not a failure of this tree\n",
				name, (unsigned long)uc.args[2]);
			break;
		}
		expect_l1_shutdown(vcpu, name, "with an illegal vmcb12");
		check_np(vm, name, mode,
			 (struct np_want){ .vmentry = 1 });
		break;
	case V_UNBACKED_MSRPM:
		if (mode == MODE_EAGER) {
			expect_l1_shutdown(vcpu, "unbacked-msrpm (eager)",
					   "whose MSRPM is unbacked (its load at RSM must fail)");
			check_np(vm, name, mode,
				 (struct np_want){ .rsm = 1, .vmentry = 1, .failed = 1 });
		} else {
			TEST_ASSERT(run->exit_reason == KVM_EXIT_INTERNAL_ERROR,
				    "%s (%s): RSM into L2 whose MSRPM is unbacked: expected the deferred load to fail with KVM_EXIT_INTERNAL_ERROR, got exit reason %u (%s)",
				    name, mode_name[mode], run->exit_reason,
				    exit_reason_str(run->exit_reason));
			check_np(vm, name, mode,
				 (struct np_want){ .legacy_request = 1, .vmentry = 1, .failed = 1 });
		}
		break;
	default:
		break;
	}

	kvm_vm_free(vm);
}

int main(int argc, char *argv[])
{
	bool is_6_1 = kernel_is_6_1();
	enum mode mode;
	int i, v;

	mode = nested_require(&svm_vendor, NEED_SMM | NEED_NESTED_STATE);
	pr_info("kernel series %s\n", is_6_1 ? "6.1" : "6.12");

	if (argc < 2) {
		for (v = 0; v < NR_VARIANTS; v++)
			run_variant(v, mode, is_6_1);
		return 0;
	}
	for (i = 1; i < argc; i++) {
		for (v = 0; v < NR_VARIANTS; v++)
			if (!strcmp(argv[i], variant_name[v]))
				break;
		TEST_ASSERT(v < NR_VARIANTS, "unknown variant %s", argv[i]);
		run_variant(v, mode, is_6_1);
	}
	return 0;
}
