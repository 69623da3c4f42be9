// SPDX-License-Identifier: GPL-2.0-only
/*
 * nested_state_unbacked_test - restore a vCPU in L2 whose vmcb12 points the
 * MSR permission map (control.msrpm_base_pa) at a guest-physical address no
 * memslot backs.
 *
 * L1 (nested SVM) intercepts RDMSR(FS_BASE) through its MSRPM; L2 reports
 * in; the host saves the vCPU, recreates the VM over the same memory and
 * restores the saved state in QEMU's ioctl order, except that msrpm_base_pa
 * in the nested state is moved to an unbacked GPA.  Expected:
 *
 *   eager  (kvm-nested, defer_nested_state_pages=N): KVM_SET_NESTED_STATE
 *          fails with EINVAL; KVM_GET_NESTED_STATE then shows the vCPU out
 *          of guest mode; restoring the valid state afterwards succeeds and
 *          the guest runs to completion.
 *   legacy (kvm-nested, =Y) and stock KVM: KVM_SET_NESTED_STATE succeeds,
 *          the first KVM_RUN exits with KVM_EXIT_INTERNAL_ERROR; restoring
 *          the valid state afterwards lets the guest complete.
 *
 * Completion includes L2's RDMSR(FS_BASE) exiting to L1, i.e. the MSRPM KVM
 * finally merged is L1's real one.  The retry re-applies SREGS before the
 * valid KVM_SET_NESTED_STATE, as a VMM redoing the whole restore would; what
 * the failed ioctl changed in the vCPU's sregs is reported, not checked.  When the VM's debugfs file
 * nested_state_pages exists (kvm-nested) its counts are checked too.
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

/* Informational: what a failed KVM_SET_NESTED_STATE left changed. */
static void report_sregs_diff(const struct kvm_sregs *a, const struct kvm_sregs *b)
{
	static const char * const seg[] = { "cs", "ds", "es", "fs", "gs", "ss", "tr", "ldt" };
	const struct kvm_segment *sa = &a->cs, *sb = &b->cs;
	int i;

	for (i = 0; i < 8; i++)
		if (memcmp(&sa[i], &sb[i], sizeof(sa[i])))
			pr_info("note: failed KVM_SET_NESTED_STATE changed %s: base 0x%llx->0x%llx sel 0x%x->0x%x limit 0x%x->0x%x type %u->%u\n",
				seg[i], sa[i].base, sb[i].base, sa[i].selector, sb[i].selector,
				sa[i].limit, sb[i].limit, sa[i].type, sb[i].type);
	if (memcmp(&a->gdt, &b->gdt, sizeof(a->gdt)) || memcmp(&a->idt, &b->idt, sizeof(a->idt)))
		pr_info("note: failed KVM_SET_NESTED_STATE changed gdt/idt: 0x%llx/0x%llx -> 0x%llx/0x%llx\n",
			a->gdt.base, a->idt.base, b->gdt.base, b->idt.base);
	if (a->cr0 != b->cr0 || a->cr2 != b->cr2 || a->cr3 != b->cr3 || a->cr4 != b->cr4 ||
	    a->cr8 != b->cr8 || a->efer != b->efer || a->apic_base != b->apic_base)
		pr_info("note: failed KVM_SET_NESTED_STATE changed control registers: cr0 0x%llx->0x%llx cr2 0x%llx->0x%llx cr3 0x%llx->0x%llx cr4 0x%llx->0x%llx cr8 0x%llx->0x%llx efer 0x%llx->0x%llx apic_base 0x%llx->0x%llx\n",
			a->cr0, b->cr0, a->cr2, b->cr2, a->cr3, b->cr3, a->cr4, b->cr4,
			a->cr8, b->cr8, a->efer, b->efer, a->apic_base, b->apic_base);
	if (memcmp(a->interrupt_bitmap, b->interrupt_bitmap, sizeof(a->interrupt_bitmap)))
		pr_info("note: failed KVM_SET_NESTED_STATE changed the interrupt bitmap\n");
}

int main(int argc, char *argv[])
{
	struct kvm_x86_state *state, *bad;
	struct kvm_sregs sregs_before, sregs_after;
	struct kvm_vcpu *vcpu;
	struct nested_vm n;
	struct vmcb *vmcb12;
	enum mode mode;
	int r;

	mode = nested_require(&svm_vendor, NEED_NESTED_STATE);
	nested_vm_create(&n, &svm_vendor, NULL, 0);

	run_to_stage(n.vcpu, 1);
	run_to_stage(n.vcpu, 2);

	state = save_l2_state(n.vcpu, KVM_STATE_NESTED_FORMAT_SVM);
	vmcb12 = (struct vmcb *)state->nested.data.svm[0].vmcb12;
	TEST_ASSERT(vmcb12->control.msrpm_base_pa == n.msr_gpa &&
		    (vmcb12->control.intercept & (1ull << INTERCEPT_MSR_PROT)),
		    "saved vmcb12: expected msrpm_base_pa 0x%lx with MSR_PROT intercepted, got 0x%llx, intercepts 0x%llx",
		    (unsigned long)n.msr_gpa,
		    (unsigned long long)vmcb12->control.msrpm_base_pa,
		    (unsigned long long)vmcb12->control.intercept);

	/* A copy of the state whose MSRPM is nowhere. */
	bad = state_dup(state);
	((struct vmcb *)bad->nested.data.svm[0].vmcb12)->control.msrpm_base_pa = UNBACKED_GPA;

	nested_vm_recreate(&n);
	vcpu = n.vcpu;

	vcpu_sregs_set(vcpu, &bad->sregs);
	vcpu_sregs_get(vcpu, &sregs_before);
	r = __vcpu_nested_state_set(vcpu, &bad->nested);
	expect_unbacked_set(r, mode, "MSRPM", UNBACKED_GPA);

	if (mode == MODE_EAGER) {
		TEST_ASSERT(!in_guest_mode(vcpu),
			    "eager mode: expected the vCPU out of guest mode after the failed KVM_SET_NESTED_STATE");
		vcpu_sregs_get(vcpu, &sregs_after);
		report_sregs_diff(&sregs_before, &sregs_after);
		check_np(n.vm, "after the failed KVM_SET_NESTED_STATE", mode,
			 (struct np_want){ .set_nested_state = 1, .failed = 1 });
	} else {
		TEST_ASSERT(in_guest_mode(vcpu),
			    "%s mode: expected the vCPU in guest mode after KVM_SET_NESTED_STATE",
			    mode_name[mode]);
		restore_rest(vcpu, bad);
		check_np(n.vm, "before KVM_RUN", mode, (struct np_want){});
		vcpu_run(vcpu);
		TEST_ASSERT(vcpu->run->exit_reason == KVM_EXIT_INTERNAL_ERROR,
			    "%s mode, MSRPM at unbacked GPA 0x%llx: expected KVM_RUN to exit with KVM_EXIT_INTERNAL_ERROR, got exit reason %u (%s)",
			    mode_name[mode], UNBACKED_GPA, vcpu->run->exit_reason,
			    exit_reason_str(vcpu->run->exit_reason));
		check_np(n.vm, "after the failed KVM_RUN", mode,
			 (struct np_want){ .legacy_request = 1, .failed = 1 });
	}

	/* Now the real thing, as a VMM retrying the whole restore would. */
	restore_again(vcpu, state, mode, "after the bad one");
	if (mode == MODE_EAGER)
		check_np(n.vm, "after the valid restore", mode,
			 (struct np_want){ .set_nested_state = 2, .failed = 1 });
	svm_msr_guest_finish(vcpu);
	check_np_modes(n.vm, "at the end", mode,
		       (struct np_want){ .set_nested_state = 2, .vmentry = 1, .failed = 1 },
		       (struct np_want){ .legacy_request = 2, .vmentry = 1, .failed = 1 });

	free(bad);
	kvm_x86_state_cleanup(state);
	kvm_vm_free(n.vm);
	return 0;
}
