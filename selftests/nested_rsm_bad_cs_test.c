// SPDX-License-Identifier: GPL-2.0-only
/*
 * nested_rsm_bad_cs_test - an SMI arrives in L2 (nested SVM), L1's SMM
 * handler makes the saved CS unusable and sets an MSRPM bit, then RSM
 * (issue #13).
 *
 * L1 runs L2 with the MSR_PROT intercept (svm_msr_l1_run()), but the host
 * clears the RDMSR(FS_BASE) bit of L1's MSR permission map before L1's
 * VMRUN, so that the map merged at VMRUN does not intercept it.  L2 reports
 * in, the host raises an SMI.  The SMM handler clears the P bit of CS in
 * the SMRAM state-save area and sets the RDMSR(FS_BASE) bit in L1's MSRPM,
 * then executes RSM.  RSM returns to guest mode and loads all of SMRAM, but
 * the mode recalculation that ends em_rsm() cannot use CS: 6.1's RSM fails
 * with X86EMUL_UNHANDLEABLE after SMRAM was loaded.  The VM has
 * KVM_CAP_EXIT_ON_EMULATION_FAILURE, so that failure exits to the host
 * (instead of a #UD into L2 at the RSM's RIP):
 *
 *   every mode: KVM_EXIT_INTERNAL_ERROR (emulation), out of SMM, in guest
 *          mode.  The host then repairs what the failed emulation left
 *          (CS present, RIP/RSP/RFLAGS to a fresh L2 continuation) and runs
 *          on: L2's RDMSR(FS_BASE) must exit to L1, i.e. the MSRPM that L2
 *          runs with was merged again after RSM, with the bit the SMM
 *          handler set; then L2 and L1 finish as usual.
 *   eager  (kvm-nested, defer_nested_state_pages=N): the nested state pages
 *          must have been loaded at the RSM: debugfs nested_state_pages
 *          "rsm" is 1 right after the failed RSM.
 *
 * Only 6.1's em_rsm() has this shape (rig/tests-svm.list: series=6.1).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test_util.h"
#include "kvm_util.h"
#include "processor.h"
#include "svm_util.h"
#include "nested_util.h"

static uint64_t l2_resume_stack[512] __aligned(16);

static void l2_guest_code(void)
{
	GUEST_SYNC(2);			/* in L2: the host raises an SMI here */
	GUEST_ASSERT(!"L2 resumed after the failed RSM without the host repair");
}

/* Where the host sends L2 after the failed RSM: svm_msr_l1_run()'s stages. */
static void l2_resume(void)
{
	(void)rdmsr(MSR_FS_BASE);	/* intercepted since the SMM handler ran */
	GUEST_SYNC(4);
	l2_vmmcall();
	GUEST_ASSERT(!"L2 resumed after its VMMCALL");
}

static void l1_guest_code(struct svm_test_data *svm)
{
	svm_msr_l1_run(svm, l2_guest_code);
}

int main(int argc, char *argv[])
{
	struct svm_test_data *svm;
	struct kvm_sregs sregs;
	struct kvm_vcpu *vcpu;
	struct np_counts c;
	struct kvm_run *run;
	struct kvm_vm *vm;
	struct ucall uc;
	vm_vaddr_t svm_gva;
	uint8_t *smram, *msrpm;
	uint16_t l2_cs;
	enum mode mode;

	TEST_REQUIRE(kvm_has_cap(KVM_CAP_X86_SMM));
	TEST_REQUIRE(kvm_cpu_has(X86_FEATURE_SVM));
	TEST_REQUIRE(kvm_has_cap(KVM_CAP_EXIT_ON_EMULATION_FAILURE));
	mode = read_mode();
	pr_info("mode: %s\n", mode_name[mode]);

	vm = vm_create_with_one_vcpu(&vcpu, l1_guest_code);
	vm_enable_cap(vm, KVM_CAP_EXIT_ON_EMULATION_FAILURE, 1);
	run = vcpu->run;
	smram = smram_setup(vm, vcpu);
	svm = vcpu_alloc_svm(vm, &svm_gva);
	vcpu_args_set(vcpu, 1, svm_gva);
	smm_ram_alias(vm, svm->msr_gpa, "L1's MSRPM");
	msrpm = svm->msr_hva;
	smi_handler_bad_cs(smram, svm->msr_gpa + SVM_FS_BASE_BYTE, SVM_FS_BASE_RDBIT);

	run_to_stage(vcpu, 1);
	/* L1 set the RDMSR(FS_BASE) bit; take it out before its VMRUN. */
	TEST_ASSERT(msrpm[SVM_FS_BASE_BYTE] & SVM_FS_BASE_RDBIT,
		    "L1's MSRPM: expected the RDMSR(FS_BASE) bit set by L1");
	msrpm[SVM_FS_BASE_BYTE] &= ~SVM_FS_BASE_RDBIT;
	run_to_stage(vcpu, 2);
	TEST_ASSERT(in_guest_mode(vcpu), "expected the vCPU in L2 at stage 2");
	vcpu_sregs_get(vcpu, &sregs);
	l2_cs = sregs.cs.selector;

	run_to_smi_handler(vcpu, "SMI in L2");
	TEST_ASSERT(*(uint16_t *)(smram + SMRAM_CS_SEL) == l2_cs && !(smram[SMRAM_CS_ATTR] & 0x80),
		    "SMRAM state-save area: expected L2's CS selector 0x%x with P cleared by the handler, got selector 0x%x attributes 0x%x",
		    l2_cs, *(uint16_t *)(smram + SMRAM_CS_SEL), smram[SMRAM_CS_ATTR]);
	TEST_ASSERT(msrpm[SVM_FS_BASE_BYTE] & SVM_FS_BASE_RDBIT,
		    "L1's MSRPM: expected the RDMSR(FS_BASE) bit set by the SMM handler");

	/* RSM: SMRAM loaded, then the mode recalculation fails on CS. */
	vcpu_run(vcpu);
	/* Counts right after the RSM; checked once the guest has shown more. */
	if (mode == MODE_EAGER)
		TEST_ASSERT(read_np_counts(vm, &c),
			    "expected the VM's debugfs file nested_state_pages (kvm-nested is loaded)");
	rsm_bad_cs_repair(vcpu, l2_cs, (uint64_t)l2_resume,
			  (uint64_t)&l2_resume_stack[ARRAY_SIZE(l2_resume_stack) - 1]);

	vcpu_run(vcpu);
	TEST_ASSERT(!(run->exit_reason == KVM_EXIT_IO && get_ucall(vcpu, &uc) == UCALL_SYNC &&
		      uc.args[1] == 4),
		    "L2's RDMSR(FS_BASE) after the failed RSM: expected an exit to L1 (the SMM handler set its bit in L1's MSRPM), but L2 went on: the MSRPM merge L2 runs with is stale (not reloaded after RSM)");
	uc = expect_stage(vcpu, "after the failed RSM", 3);
	TEST_ASSERT(uc.args[2] == SVM_EXIT_MSR && uc.args[3] == 0,
		    "L2's RDMSR(FS_BASE): expected an MSR read exit to L1 (exit code 0x%x, info1 0), got exit code 0x%lx info1 0x%lx",
		    SVM_EXIT_MSR, (unsigned long)uc.args[2], (unsigned long)uc.args[3]);
	run_to_stage(vcpu, 4);
	uc = run_to_stage(vcpu, 5);
	TEST_ASSERT(uc.args[2] == SVM_EXIT_VMMCALL,
		    "expected L2's VMMCALL to exit to L1 (0x%x), got exit code 0x%lx",
		    SVM_EXIT_VMMCALL, (unsigned long)uc.args[2]);
	run_to_stage(vcpu, 0);
	if (mode == MODE_EAGER)
		TEST_ASSERT(c.rsm == 1,
			    "eager mode: expected the nested state pages loaded at the RSM into L2 (debugfs rsm 1) although its mode recalculation failed, got rsm %ld: ->post_leave_smm() was skipped",
			    c.rsm);

	kvm_vm_free(vm);
	return 0;
}
