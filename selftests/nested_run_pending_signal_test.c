// SPDX-License-Identifier: GPL-2.0-only
/*
 * nested_run_pending_signal_test - restore a vCPU in L2 whose vmcb12 GPA
 * cannot be mapped, with every exception intercepted by L1, and run it.
 *
 * Found by nested_state_fuzz (see docs/fuzz.md).  L1 (nested SVM) runs L2,
 * L2 reports in; the host saves the vCPU, recreates the VM over the same
 * memory and restores the state with
 *
 *   flags                 KVM_STATE_NESTED_GUEST_MODE |
 *                         KVM_STATE_NESTED_RUN_PENDING (0x3)
 *   vmcb12 (hdr.vmcb_pa)  0xfee00000, the local APIC base: no memslot
 *   intercept_exceptions  all ones
 *
 * then runs it once, under an interval timer (SIGALRM) that bounds KVM_RUN.
 * L2's next instruction (VMMCALL) exits to L1, and the nested #VMEXIT cannot
 * map vmcb12.  Stock KVM then queues #GP, which L1 "intercepts", so the #GP
 * becomes another nested #VMEXIT that again cannot map vmcb12: KVM_RUN
 * spins in the kernel until the signal arrives, and trips two WARN_ON_ONCE
 * in kvm_check_and_inject_events() (tainting the kernel).
 *
 * Expected (kvm-nested, both values of defer_nested_state_pages): the
 * #VMEXIT completes to L1 without vmcb12 and L1 is shut down: the first
 * KVM_RUN returns KVM_EXIT_SHUTDOWN on its own, out of guest mode.  Then
 * the valid state restores and the guest runs to completion.  On stock
 * KVM the test fails (KVM_RUN interrupted by the signal); the rig also
 * sees the WARN splat.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/time.h>
#include <unistd.h>

#include "test_util.h"
#include "kvm_util.h"
#include "processor.h"
#include "nested_util.h"

#define APIC_BASE_GPA	0xfee00000ull
#define RUN_BOUND_SECS	5

static void l2_guest_code(void)
{
	GUEST_SYNC(2);
	l2_vmmcall_nostore();	/* the bad state's first run gets here too */
	GUEST_SYNC(4);
	l2_vmmcall();
}

static void l1_guest_code(struct svm_test_data *svm)
{
	svm_l1_run_l2(svm, l2_guest_code, true);
}

static void on_alarm(int sig)
{
}

int main(int argc, char *argv[])
{
	struct itimerval bound = { .it_value = { .tv_sec = RUN_BOUND_SECS } };
	struct itimerval off = {};
	struct kvm_x86_state *state, *bad;
	struct sigaction sa = { .sa_handler = on_alarm };
	struct kvm_vcpu *vcpu;
	struct vmcb *vmcb12;
	struct nested_vm n;
	size_t state_size;
	struct ucall uc;
	int r, err;

	nested_require(&svm_vendor, NEED_NESTED_STATE);
	nested_vm_create(&n, &svm_vendor, l1_guest_code, 0);
	run_to_stage(n.vcpu, 1);
	run_to_stage(n.vcpu, 2);

	state = save_l2_state(n.vcpu, KVM_STATE_NESTED_FORMAT_SVM);

	state_size = sizeof(*state) + state->msrs.nmsrs * sizeof(state->msrs.entries[0]);
	bad = malloc(state_size);
	TEST_ASSERT(bad, "malloc failed");
	memcpy(bad, state, state_size);
	bad->nested.flags = KVM_STATE_NESTED_GUEST_MODE | KVM_STATE_NESTED_RUN_PENDING;
	bad->nested.hdr.svm.vmcb_pa = APIC_BASE_GPA;
	vmcb12 = (struct vmcb *)bad->nested.data.svm[0].vmcb12;
	vmcb12->control.intercept_exceptions = ~0u;

	nested_vm_recreate(&n);
	vcpu = n.vcpu;
	restore_qemu_order(vcpu, bad);

	TEST_ASSERT(!sigaction(SIGALRM, &sa, NULL), "sigaction: errno %d", errno);
	TEST_ASSERT(!setitimer(ITIMER_REAL, &bound, NULL), "setitimer: errno %d", errno);
	r = __vcpu_run(vcpu);
	err = errno;
	setitimer(ITIMER_REAL, &off, NULL);
	pr_info("first KVM_RUN: rc %d errno %d exit reason %u (%s)\n", r, r ? err : 0,
		vcpu->run->exit_reason, exit_reason_str(vcpu->run->exit_reason));
	TEST_ASSERT(!(r == -1 && err == EINTR),
		    "vmcb12 at 0x%llx (unmappable), run pending, all exceptions intercepted: KVM_RUN spun until SIGALRM (%d s): the nested #VMEXIT to L1 never completed; expected KVM_EXIT_SHUTDOWN",
		    APIC_BASE_GPA, RUN_BOUND_SECS);
	TEST_ASSERT(!r && vcpu->run->exit_reason == KVM_EXIT_SHUTDOWN,
		    "vmcb12 at 0x%llx (unmappable): expected L1 to shut down (KVM_EXIT_SHUTDOWN), got rc %d errno %d exit reason %u (%s)",
		    APIC_BASE_GPA, r, r ? err : 0, vcpu->run->exit_reason,
		    exit_reason_str(vcpu->run->exit_reason));
	TEST_ASSERT(!in_guest_mode(vcpu),
		    "expected L1, not L2, to be shut down (vCPU out of guest mode)");

	/* The valid state still restores and the guest completes. */
	restore_qemu_order(vcpu, state);
	uc = run_to_stage(vcpu, 3);
	TEST_ASSERT(uc.args[2] == SVM_EXIT_VMMCALL,
		    "after the valid restore: expected L2's VMMCALL to exit to L1 (0x%x), got exit code 0x%lx",
		    SVM_EXIT_VMMCALL, (unsigned long)uc.args[2]);
	run_to_stage(vcpu, 4);
	run_to_stage(vcpu, 0);

	free(bad);
	kvm_x86_state_cleanup(state);
	kvm_vm_free(n.vm);
	return 0;
}
