// SPDX-License-Identifier: GPL-2.0-only
/*
 * nested_rsm_bad_cs_test (nested SVM) and vmx_nested_rsm_bad_cs_test (nested
 * VMX, the same source built with -DNESTED_VMX) - an SMI arrives in L2,
 * L1's SMM handler makes the saved CS unusable and sets a bit in L1's MSR
 * intercepts, then RSM (issue #13).
 *
 * L1 runs L2 with its MSR permission map (SVM: MSR_PROT intercept) or MSR
 * bitmap (VMX) intercepting RDMSR(FS_BASE) (svm_msr_l1_run(),
 * vmx_msr_l1_run()), but the host clears that bit before L1's
 * VMRUN/VMLAUNCH, so that the map merged then does not intercept it.  L2
 * reports in, the host raises an SMI.  The SMM handler clears the P bit of
 * CS in the SMRAM state-save area and sets the RDMSR(FS_BASE) bit in L1's
 * map, then executes RSM.  RSM returns to guest mode and loads all of SMRAM,
 * but the mode recalculation that ends em_rsm() cannot use CS: 6.1's RSM
 * fails with X86EMUL_UNHANDLEABLE after SMRAM was loaded.  The VM has
 * KVM_CAP_EXIT_ON_EMULATION_FAILURE, so that failure exits to the host
 * (instead of a #UD into L2 at the RSM's RIP):
 *
 *   every mode: KVM_EXIT_INTERNAL_ERROR (emulation), out of SMM, in guest
 *          mode.  The host then repairs what the failed emulation left
 *          (CS present, RIP/RSP/RFLAGS to a fresh L2 continuation) and runs
 *          on: L2's RDMSR(FS_BASE) must exit to L1, i.e. the map that L2
 *          runs with was merged again after RSM, with the bit the SMM
 *          handler set; then L2 and L1 finish as usual.
 *   eager  (kvm-nested, defer_nested_state_pages=N): the nested state pages
 *          must have been loaded at the RSM: debugfs nested_state_pages
 *          "rsm" is 1 right after the failed RSM.
 *
 * Only 6.1's em_rsm() has this shape (rig/tests-*.list: series=6.1).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test_util.h"
#include "kvm_util.h"
#include "processor.h"
#include "nested_util.h"

static uint64_t l2_resume_stack[512] __aligned(16);

static void l2_guest_code(void)
{
	GUEST_SYNC(2);			/* in L2: the host raises an SMI here */
	GUEST_ASSERT(!"L2 resumed after the failed RSM without the host repair");
}

/* Where the host sends L2 after the failed RSM: the standard L1's stages. */
static void l2_resume(void)
{
	(void)rdmsr(MSR_FS_BASE);	/* intercepted since the SMM handler ran */
	GUEST_SYNC(4);
	l2_hypercall(THIS_VMX);
	GUEST_ASSERT(!"L2 resumed after its VMMCALL/VMCALL");
}

static void l1_guest_code(void *data, uint64_t pages, uint64_t apic_access)
{
	if (THIS_VMX)
		vmx_msr_l1_run(data, pages, apic_access, l2_guest_code);
	else
		svm_msr_l1_run(data, l2_guest_code);
}

int main(int argc, char *argv[])
{
	const struct nested_vendor *v = THIS_VENDOR;
	const char *map = v->msr_map;
	struct nested_vm n;
	struct kvm_sregs sregs;
	struct kvm_vcpu *vcpu;
	struct np_counts c;
	struct kvm_run *run;
	struct ucall uc;
	uint8_t *smram, *msrs;
	uint16_t l2_cs;
	enum mode mode;

	mode = nested_require(v, NEED_SMM | NEED_EXIT_ON_EMU | NEED_MSR_L1);
	nested_vm_create(&n, v, l1_guest_code, NV_SMRAM | NV_APIC_ACCESS);
	vm_enable_cap(n.vm, KVM_CAP_EXIT_ON_EMULATION_FAILURE, 1);
	vcpu = n.vcpu;
	run = vcpu->run;
	smram = n.smram;
	msrs = n.msr_hva;
	smm_ram_alias(n.vm, n.msr_gpa, v->vmx ? "L1's MSR bitmap" : "L1's MSRPM");
	smi_handler_bad_cs(smram, n.msr_gpa + v->fs_base_byte, v->fs_base_bit);

	run_to_stage(vcpu, 1);
	/* L1 set the RDMSR(FS_BASE) bit; take it out before its VMRUN/VMLAUNCH. */
	TEST_ASSERT(msrs[v->fs_base_byte] & v->fs_base_bit,
		    "L1's %s: expected the RDMSR(FS_BASE) bit set by L1", map);
	msrs[v->fs_base_byte] &= ~v->fs_base_bit;
	run_to_stage(vcpu, 2);
	TEST_ASSERT(in_guest_mode(vcpu), "expected the vCPU in L2 at stage 2");
	vcpu_sregs_get(vcpu, &sregs);
	l2_cs = sregs.cs.selector;

	run_to_smi_handler(vcpu, "SMI in L2");
	TEST_ASSERT(*(uint16_t *)(smram + SMRAM_CS_SEL) == l2_cs && !(smram[SMRAM_CS_ATTR] & 0x80),
		    "SMRAM state-save area: expected L2's CS selector 0x%x with P cleared by the handler, got selector 0x%x attributes 0x%x",
		    l2_cs, *(uint16_t *)(smram + SMRAM_CS_SEL), smram[SMRAM_CS_ATTR]);
	TEST_ASSERT(msrs[v->fs_base_byte] & v->fs_base_bit,
		    "L1's %s: expected the RDMSR(FS_BASE) bit set by the SMM handler", map);

	/* RSM: SMRAM loaded, then the mode recalculation fails on CS. */
	vcpu_run(vcpu);
	/* Counts right after the RSM; checked once the guest has shown more. */
	if (mode == MODE_EAGER)
		TEST_ASSERT(read_np_counts(n.vm, &c),
			    "expected the VM's debugfs file nested_state_pages (kvm-nested is loaded)");
	rsm_bad_cs_repair(vcpu, l2_cs, (uint64_t)l2_resume,
			  (uint64_t)&l2_resume_stack[ARRAY_SIZE(l2_resume_stack) - 1]);

	vcpu_run(vcpu);
	TEST_ASSERT(!(run->exit_reason == KVM_EXIT_IO && get_ucall(vcpu, &uc) == UCALL_SYNC &&
		      uc.args[1] == 4),
		    "L2's RDMSR(FS_BASE) after the failed RSM: expected an exit to L1 (the SMM handler set its bit in L1's %s), but L2 went on: the %s L2 runs with is stale (not merged again after RSM)",
		    map, map);
	uc = expect_stage(vcpu, "after the failed RSM", 3);
	expect_msr_exit(v, uc, "after the failed RSM");
	msr_guest_finish_from_4(v, vcpu);
	if (mode == MODE_EAGER)
		TEST_ASSERT(c.rsm == 1,
			    "eager mode: expected the nested state pages loaded at the RSM into L2 (debugfs rsm 1) although its mode recalculation failed, got rsm %ld: ->post_leave_smm() was skipped",
			    c.rsm);

	kvm_vm_free(n.vm);
	return 0;
}
