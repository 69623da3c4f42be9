// SPDX-License-Identifier: GPL-2.0-only
/*
 * vmx_nested_rsm_bad_cs_test - nested VMX twin of nested_rsm_bad_cs_test:
 * an SMI arrives in L2, L1's SMM handler makes the saved CS unusable and
 * sets an MSR-bitmap bit, then RSM (issue #13).
 *
 * L1 runs L2 with an MSR bitmap (vmx_msr_l1_guest_code()), but the host
 * clears its RDMSR(FS_BASE) bit before L1's VMLAUNCH, so that the bitmap
 * merged at VMLAUNCH does not intercept it.  L2 reports in, the host raises
 * an SMI.  The SMM handler clears CS.P in the SMRAM state-save area, sets
 * the RDMSR(FS_BASE) bit in L1's MSR bitmap and executes RSM.  6.1's
 * em_rsm() returns to guest mode, loads all of SMRAM and then fails in the
 * mode recalculation (CS unusable); with KVM_CAP_EXIT_ON_EMULATION_FAILURE
 * that failure exits to the host:
 *
 *   every mode: KVM_EXIT_INTERNAL_ERROR (emulation), out of SMM, in guest
 *          mode.  The host repairs CS, sends L2 to a fresh continuation, and
 *          L2's RDMSR(FS_BASE) must exit to L1: the MSR bitmap L2 runs with
 *          was merged again after RSM, with the SMM handler's bit.
 *   eager  (kvm-nested, defer_nested_state_pages=N): debugfs
 *          nested_state_pages shows rsm 1 right after the failed RSM.
 *
 * Only 6.1's em_rsm() has this shape (rig/tests-vmx.list: series=6.1).
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
#include "vmx.h"
#include "nested_util.h"

#define APIC_ACCESS_GPA		0x50000000ull
#define APIC_ACCESS_SLOT	11

static uint64_t l2_resume_stack[512] __aligned(16);

/* Where the host sends L2 after the failed RSM: vmx_msr_l1_launch()'s stages. */
static void l2_resume(void)
{
	(void)rdmsr(MSR_FS_BASE);	/* intercepted since the SMM handler ran */
	GUEST_SYNC(4);
	vmcall();
	GUEST_ASSERT(!"L2 resumed after its VMCALL");
}

int main(int argc, char *argv[])
{
	struct vmx_pages *vmx;
	struct kvm_sregs sregs;
	struct kvm_vcpu *vcpu;
	struct np_counts c;
	struct kvm_run *run;
	struct kvm_vm *vm;
	struct ucall uc;
	vm_vaddr_t vmx_gva;
	uint8_t *smram, *bitmap;
	uint16_t l2_cs;
	enum mode mode;

	TEST_REQUIRE(kvm_has_cap(KVM_CAP_X86_SMM));
	TEST_REQUIRE(kvm_cpu_has(X86_FEATURE_VMX));
	TEST_REQUIRE(kvm_has_cap(KVM_CAP_EXIT_ON_EMULATION_FAILURE));
	TEST_REQUIRE((kvm_get_feature_msr(MSR_IA32_VMX_TRUE_PROCBASED_CTLS) >> 32) &
		     CPU_BASED_USE_MSR_BITMAPS);
	TEST_REQUIRE((kvm_get_feature_msr(MSR_IA32_VMX_PROCBASED_CTLS2) >> 32) &
		     SECONDARY_EXEC_VIRTUALIZE_APIC_ACCESSES);
	mode = read_mode();
	pr_info("mode: %s\n", mode_name[mode]);

	vm = vm_create_with_one_vcpu(&vcpu, vmx_msr_l1_guest_code);
	vm_enable_cap(vm, KVM_CAP_EXIT_ON_EMULATION_FAILURE, 1);
	run = vcpu->run;
	smram = smram_setup(vm, vcpu);
	vm_userspace_mem_region_add(vm, VM_MEM_SRC_ANONYMOUS, APIC_ACCESS_GPA,
				    APIC_ACCESS_SLOT, 1, 0);
	vmx = vcpu_alloc_vmx(vm, &vmx_gva);
	vcpu_args_set(vcpu, 3, vmx_gva, 0, APIC_ACCESS_GPA);
	smm_ram_alias(vm, vmx->msr_gpa, "L1's MSR bitmap");
	bitmap = vmx->msr_hva;
	smi_handler_bad_cs(smram, vmx->msr_gpa + VMX_FS_BASE_BYTE, VMX_FS_BASE_BIT);

	run_to_stage(vcpu, 1);
	/* L1 set the RDMSR(FS_BASE) bit; take it out before its VMLAUNCH. */
	TEST_ASSERT(bitmap[VMX_FS_BASE_BYTE] & VMX_FS_BASE_BIT,
		    "L1's MSR bitmap: expected the RDMSR(FS_BASE) bit set by L1");
	bitmap[VMX_FS_BASE_BYTE] &= ~VMX_FS_BASE_BIT;
	run_to_stage(vcpu, 2);
	TEST_ASSERT(in_guest_mode(vcpu), "expected the vCPU in L2 at stage 2");
	vcpu_sregs_get(vcpu, &sregs);
	l2_cs = sregs.cs.selector;

	run_to_smi_handler(vcpu, "SMI in L2");
	TEST_ASSERT(*(uint16_t *)(smram + SMRAM_CS_SEL) == l2_cs && !(smram[SMRAM_CS_ATTR] & 0x80),
		    "SMRAM state-save area: expected L2's CS selector 0x%x with P cleared by the handler, got selector 0x%x attributes 0x%x",
		    l2_cs, *(uint16_t *)(smram + SMRAM_CS_SEL), smram[SMRAM_CS_ATTR]);
	TEST_ASSERT(bitmap[VMX_FS_BASE_BYTE] & VMX_FS_BASE_BIT,
		    "L1's MSR bitmap: expected the RDMSR(FS_BASE) bit set by the SMM handler");

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
		    "L2's RDMSR(FS_BASE) after the failed RSM: expected an exit to L1 (the SMM handler set its bit in L1's MSR bitmap), but L2 went on: the MSR bitmap L2 runs with is stale (not merged again after RSM)");
	uc = expect_stage(vcpu, "after the failed RSM", 3);
	TEST_ASSERT(uc.args[2] == EXIT_REASON_MSR_READ,
		    "L2's RDMSR(FS_BASE): expected an MSR-read exit to L1 (%u), got exit reason %lu",
		    EXIT_REASON_MSR_READ, (unsigned long)uc.args[2]);
	run_to_stage(vcpu, 4);
	uc = run_to_stage(vcpu, 5);
	TEST_ASSERT(uc.args[2] == EXIT_REASON_VMCALL,
		    "expected L2's VMCALL to exit to L1 (%u), got exit reason %lu",
		    EXIT_REASON_VMCALL, (unsigned long)uc.args[2]);
	run_to_stage(vcpu, 0);
	if (mode == MODE_EAGER)
		TEST_ASSERT(c.rsm == 1,
			    "eager mode: expected the nested state pages loaded at the RSM into L2 (debugfs rsm 1) although its mode recalculation failed, got rsm %ld: ->post_leave_smm() was skipped",
			    c.rsm);

	kvm_vm_free(vm);
	return 0;
}
