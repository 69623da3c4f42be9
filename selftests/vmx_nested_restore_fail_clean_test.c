// SPDX-License-Identifier: GPL-2.0-only
/*
 * vmx_nested_restore_fail_clean_test - nested VMX twin of
 * nested_restore_fail_clean_test: a KVM_SET_NESTED_STATE that fails must
 * change nothing, in particular it must not run an emulated VM-exit to L1
 * (issue #13).
 *
 * L1 runs L2 with "virtualize APIC accesses" (its APIC-access page alone in
 * a memslot), intercepts RDMSR(FS_BASE) through its MSR bitmap, gives L2 an
 * FS base of its own and a VM-exit MSR-load list of two entries, both
 * loading KERNEL_GS_BASE with LIST_VALUE.  L2 reports in, the host saves the
 * vCPU and recreates the VM over the same memory, with
 * KVM_CAP_X86_TRIPLE_FAULT_EVENT and without the APIC-access page's memslot,
 * turns the list's second entry into FS_BASE (which an MSR-load list may
 * not load: loading that list aborts to a triple fault) and restores
 * everything but the nested state (the order of vcpu_load_state()).  Then
 * KVM_SET_NESTED_STATE.  Expected:
 *
 *   eager  (kvm-nested, defer_nested_state_pages=N): the ioctl fails with
 *          EINVAL (APIC-access page unbacked), no triple fault is pending,
 *          and KVM_GET_REGS, _SREGS, _VCPU_EVENTS, _NESTED_STATE and _MSRS
 *          (EFER, FS_BASE, GS_BASE, KERNEL_GS_BASE) show what they showed
 *          before the call.  An emulated VM-exit would have loaded vmcs12's
 *          host RIP/RSP and FS base, KERNEL_GS_BASE from the list, and left
 *          the abort's triple fault pending;
 *   legacy (=Y) and stock: the ioctl succeeds: nothing more to check here.
 *
 * Then the list and the memslot are put back, the valid state is restored
 * into the same vCPU and the guest must complete (L2's RDMSR exiting to L1).
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

#define L2_FS_BASE		0x12345000ull
#define LIST_VALUE		0xfeedbeef000ull

static const uint32_t checked_msrs[] = {
	MSR_EFER, MSR_FS_BASE, MSR_GS_BASE, MSR_KERNEL_GS_BASE,
};

static void l1_guest_code(struct vmx_pages *vmx, uint64_t list_gpa)
{
	unsigned long l2_stack[L2_STACK_SIZE];

	vmx_msr_l1_prepare(vmx, 0, APIC_ACCESS_GPA, NULL, &l2_stack[L2_STACK_SIZE]);
	vmwrite(GUEST_FS_BASE, L2_FS_BASE);
	vmwrite(VM_EXIT_MSR_LOAD_ADDR, list_gpa);
	vmwrite(VM_EXIT_MSR_LOAD_COUNT, 2);
	vmx_msr_l1_launch();
}

int main(int argc, char *argv[])
{
	static struct vcpu_snapshot before;
	struct kvm_x86_state *state;
	struct vmx_msr_entry *list;
	struct kvm_vcpu *vcpu;
	struct nested_vm n;
	gva_t list_gva;
	enum mode mode;
	int r;

	mode = nested_require(&vmx_vendor, NEED_NESTED_STATE | NEED_TRIPLE_FAULT | NEED_MSR_L1);
	nested_vm_create(&n, &vmx_vendor, l1_guest_code, NV_APIC_ACCESS);
	vm_enable_cap(n.vm, KVM_CAP_X86_TRIPLE_FAULT_EVENT, 1);
	list_gva = vm_alloc_page(n.vm);
	list = addr_gva2hva(n.vm, list_gva);
	list[0] = (struct vmx_msr_entry){ .index = MSR_KERNEL_GS_BASE, .value = LIST_VALUE };
	list[1] = list[0];
	vcpu_args_set(n.vcpu, 2, n.gva, addr_gva2gpa(n.vm, list_gva));

	run_to_stage(n.vcpu, 1);
	run_to_stage(n.vcpu, 2);
	state = save_l2_state(n.vcpu, KVM_STATE_NESTED_FORMAT_VMX);
	TEST_ASSERT(state->nested.size > sizeof(state->nested),
		    "saved nested state: expected a vmcs12, got size %u", state->nested.size);

	nested_vm_recreate(&n);
	vcpu = n.vcpu;
	vm_enable_cap(n.vm, KVM_CAP_X86_TRIPLE_FAULT_EVENT, 1);
	vm_mem_region_delete(n.vm, APIC_ACCESS_SLOT);
	list[1].index = MSR_FS_BASE;

	/* Everything but the nested state, as vcpu_load_state() does. */
	restore_vcpu_setup(vcpu, state);
	vcpu_sregs_set(vcpu, &state->sregs);
	restore_rest(vcpu, state);
	vcpu_snapshot_take(vcpu, &before, checked_msrs, ARRAY_SIZE(checked_msrs));
	TEST_ASSERT(before.msr_value[1] == L2_FS_BASE,
		    "restored L2: expected FS_BASE 0x%llx, got 0x%lx", L2_FS_BASE,
		    (unsigned long)before.msr_value[1]);

	r = __vcpu_nested_state_set(vcpu, &state->nested);
	expect_unbacked_set(r, mode, "APIC-access page", APIC_ACCESS_GPA);
	if (mode == MODE_EAGER)
		expect_unchanged(vcpu, &before,
				 " (an emulated VM-exit aborted loading the VM-exit MSR-load list?)");

	/* The memory arrives, the list is valid again; restore the same state. */
	list[1].index = MSR_KERNEL_GS_BASE;
	vm_userspace_mem_region_add(n.vm, VM_MEM_SRC_ANONYMOUS, APIC_ACCESS_GPA,
				    APIC_ACCESS_SLOT, 1, 0);
	restore_again(vcpu, state, mode, "after the bad one");
	msr_guest_finish(&vmx_vendor, vcpu);
	TEST_ASSERT(vcpu_get_msr(vcpu, MSR_KERNEL_GS_BASE) == LIST_VALUE,
		    "expected L2's exits to L1 to load KERNEL_GS_BASE 0x%llx from the VM-exit MSR-load list, got 0x%lx",
		    LIST_VALUE, (unsigned long)vcpu_get_msr(vcpu, MSR_KERNEL_GS_BASE));

	kvm_x86_state_cleanup(state);
	kvm_vm_free(n.vm);
	return 0;
}
