// SPDX-License-Identifier: GPL-2.0-only
/*
 * nested_restore_fail_clean_test - a KVM_SET_NESTED_STATE that fails must
 * change nothing (nested SVM; issue #13).
 *
 * L1 runs L2 with the MSR_PROT intercept and its MSR permission map set to
 * intercept RDMSR(FS_BASE) (svm_msr_l1_run()); L2 first loads a null ES, so
 * that L2's segment state differs from the L1 state that vmcb01 holds.  L2
 * reports in and the host saves the vCPU, recreates the VM over the same
 * memory with KVM_CAP_X86_TRIPLE_FAULT_EVENT, and restores everything but
 * the nested state (the order of the upstream selftests' vcpu_load_state()).
 * Then KVM_SET_NESTED_STATE with vmcb12's msrpm_base_pa moved to an unbacked
 * GPA.  Expected:
 *
 *   eager  (kvm-nested, defer_nested_state_pages=N): the ioctl fails with
 *          EINVAL, no triple fault is pending, and KVM_GET_REGS, _SREGS,
 *          _VCPU_EVENTS, _NESTED_STATE and _MSRS (EFER, FS_BASE, GS_BASE,
 *          KERNEL_GS_BASE) show what they showed before the call;
 *   legacy (=Y) and stock: the ioctl succeeds (the MSRPM is loaded at the
 *          first KVM_RUN): nothing more to check here.
 *
 * Then the valid state is restored into the same vCPU and the guest must run
 * to completion, L2's RDMSR(FS_BASE) exiting to L1.
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

static const uint32_t checked_msrs[] = {
	MSR_EFER, MSR_FS_BASE, MSR_GS_BASE, MSR_KERNEL_GS_BASE,
};

static void l2_guest_code(void)
{
	/* A null ES is fine in 64-bit mode; L1's ES is the data selector. */
	__asm__ __volatile__("mov %0, %%es" : : "r"(0) : "memory");
	GUEST_SYNC(2);
	(void)rdmsr(MSR_FS_BASE);	/* L1's MSRPM makes this exit to L1 */
	GUEST_SYNC(4);
	l2_vmmcall();
}

static void l1_guest_code(struct svm_test_data *svm)
{
	svm_msr_l1_run(svm, l2_guest_code);
}

int main(int argc, char *argv[])
{
	static struct vcpu_snapshot before;
	struct kvm_x86_state *state, *bad;
	struct kvm_vcpu *vcpu;
	struct nested_vm n;
	enum mode mode;
	int r;

	mode = nested_require(&svm_vendor, NEED_NESTED_STATE | NEED_TRIPLE_FAULT);
	nested_vm_create(&n, &svm_vendor, l1_guest_code, 0);
	vm_enable_cap(n.vm, KVM_CAP_X86_TRIPLE_FAULT_EVENT, 1);

	run_to_stage(n.vcpu, 1);
	run_to_stage(n.vcpu, 2);
	state = save_l2_state(n.vcpu, KVM_STATE_NESTED_FORMAT_SVM);
	TEST_ASSERT(state->sregs.es.selector == 0 && state->sregs.ds.selector != 0,
		    "saved L2: expected a null ES and a non-null DS, got ES 0x%x DS 0x%x",
		    state->sregs.es.selector, state->sregs.ds.selector);

	bad = state_dup(state);
	((struct vmcb *)bad->nested.data.svm[0].vmcb12)->control.msrpm_base_pa = UNBACKED_GPA;

	nested_vm_recreate(&n);
	vcpu = n.vcpu;
	vm_enable_cap(n.vm, KVM_CAP_X86_TRIPLE_FAULT_EVENT, 1);

	/* Everything but the nested state, as vcpu_load_state() does. */
	restore_vcpu_setup(vcpu, bad);
	vcpu_sregs_set(vcpu, &bad->sregs);
	restore_rest(vcpu, bad);
	vcpu_snapshot_take(vcpu, &before, checked_msrs, ARRAY_SIZE(checked_msrs));

	r = __vcpu_nested_state_set(vcpu, &bad->nested);
	expect_unbacked_set(r, mode, "MSRPM", UNBACKED_GPA);
	if (mode == MODE_EAGER) {
		expect_unchanged(vcpu, &before, "");
		TEST_ASSERT(!in_guest_mode(vcpu),
			    "eager mode: expected the vCPU out of guest mode after the failed KVM_SET_NESTED_STATE");
	}

	/* The valid state, into the same vCPU. */
	restore_again(vcpu, state, mode, "after the bad one");
	svm_msr_guest_finish(vcpu);

	free(bad);
	kvm_x86_state_cleanup(state);
	kvm_vm_free(n.vm);
	return 0;
}
