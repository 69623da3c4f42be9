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
	static struct vcpu_snapshot before, after;
	struct kvm_x86_state *state, *bad;
	vm_vaddr_t svm_gva;
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;
	char diff[2048];
	enum mode mode;
	int r, n;

	TEST_REQUIRE(kvm_cpu_has(X86_FEATURE_SVM));
	TEST_REQUIRE(kvm_has_cap(KVM_CAP_NESTED_STATE));
	TEST_REQUIRE(kvm_has_cap(KVM_CAP_X86_TRIPLE_FAULT_EVENT));
	mode = read_mode();
	pr_info("mode: %s\n", mode_name[mode]);

	vm = vm_create_with_one_vcpu(&vcpu, l1_guest_code);
	vm_enable_cap(vm, KVM_CAP_X86_TRIPLE_FAULT_EVENT, 1);
	vcpu_alloc_svm(vm, &svm_gva);
	vcpu_args_set(vcpu, 1, svm_gva);

	run_to_stage(vcpu, 1);
	run_to_stage(vcpu, 2);
	state = save_l2_state(vcpu, KVM_STATE_NESTED_FORMAT_SVM);
	TEST_ASSERT(state->sregs.es.selector == 0 && state->sregs.ds.selector != 0,
		    "saved L2: expected a null ES and a non-null DS, got ES 0x%x DS 0x%x",
		    state->sregs.es.selector, state->sregs.ds.selector);

	bad = state_dup(state);
	((struct vmcb *)bad->nested.data.svm[0].vmcb12)->control.msrpm_base_pa = UNBACKED_GPA;

	kvm_vm_release(vm);
	vcpu = vm_recreate_with_one_vcpu(vm);
	vm_enable_cap(vm, KVM_CAP_X86_TRIPLE_FAULT_EVENT, 1);

	/* Everything but the nested state, as vcpu_load_state() does. */
	restore_vcpu_setup(vcpu, bad);
	vcpu_sregs_set(vcpu, &bad->sregs);
	restore_rest(vcpu, bad);
	vcpu_snapshot_take(vcpu, &before, checked_msrs, ARRAY_SIZE(checked_msrs));

	r = __vcpu_nested_state_set(vcpu, &bad->nested);
	if (mode == MODE_EAGER) {
		TEST_ASSERT(r == -1 && errno == EINVAL,
			    "eager mode, MSRPM at unbacked GPA 0x%llx: expected KVM_SET_NESTED_STATE to fail with EINVAL, got rc %d errno %d",
			    UNBACKED_GPA, r, r ? errno : 0);
		vcpu_snapshot_take(vcpu, &after, checked_msrs, ARRAY_SIZE(checked_msrs));
		n = vcpu_snapshot_diff(&before, &after, diff, sizeof(diff));
		TEST_ASSERT(!after.events.triple_fault.pending,
			    "eager mode: expected no triple fault pending after the failed KVM_SET_NESTED_STATE, got one%s; all %d changes:%s",
			    "", n, diff);
		TEST_ASSERT(!n, "eager mode: expected the failed KVM_SET_NESTED_STATE to change nothing KVM_GET_* shows, got %d changes:%s",
			    n, diff);
		TEST_ASSERT(!in_guest_mode(vcpu),
			    "eager mode: expected the vCPU out of guest mode after the failed KVM_SET_NESTED_STATE");
	} else {
		TEST_ASSERT(!r, "%s mode: expected KVM_SET_NESTED_STATE with an unbacked MSRPM to succeed (pages are loaded later), got errno %d",
			    mode_name[mode], errno);
	}

	/* The valid state, into the same vCPU. */
	vcpu_sregs_set(vcpu, &state->sregs);
	r = __vcpu_nested_state_set(vcpu, &state->nested);
	TEST_ASSERT(!r, "%s mode: expected KVM_SET_NESTED_STATE of the valid state to succeed after the bad one, got errno %d",
		    mode_name[mode], errno);
	TEST_ASSERT(in_guest_mode(vcpu), "expected the vCPU in guest mode after the valid KVM_SET_NESTED_STATE");
	restore_rest(vcpu, state);
	svm_msr_guest_finish(vcpu);

	free(bad);
	kvm_x86_state_cleanup(state);
	kvm_vm_free(vm);
	return 0;
}
