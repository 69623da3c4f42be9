// SPDX-License-Identifier: GPL-2.0-only
/*
 * vmx_nested_state_unbacked_test - nested VMX twin of
 * nested_state_unbacked_test: restore a vCPU in L2 whose vmcs12 APIC-access
 * address is not backed by any memslot (yet).
 *
 * L1 runs L2 with "virtualize APIC accesses", its APIC-access page alone in
 * a memslot, and intercepts RDMSR(FS_BASE) through its MSR bitmap.  L2
 * reports in, the host saves the vCPU and creates a new VM over the same
 * memory, but without the APIC-access page's memslot, and restores the
 * vCPU in QEMU's ioctl order (the VMX capability MSRs first, as QEMU sets
 * them up with the vCPU; they cannot be written in VMX operation).
 * Expected:
 *
 *   eager  (kvm-nested, defer_nested_state_pages=N): KVM_SET_NESTED_STATE
 *          fails with EINVAL and leaves the vCPU out of guest mode;
 *   legacy (=Y) and stock: KVM_SET_NESTED_STATE succeeds and the first
 *          KVM_RUN exits with KVM_EXIT_INTERNAL_ERROR (emulation suberror).
 *
 * Then the memslot comes back, the same state is restored again and the
 * guest must complete (L2's RDMSR exiting to L1).  Debugfs
 * nested_state_pages counts are checked when the file exists.
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

int main(int argc, char *argv[])
{
	struct kvm_x86_state *state;
	struct kvm_vcpu *vcpu;
	struct nested_vm n;
	enum mode mode;
	int r;

	mode = nested_require(&vmx_vendor, NEED_NESTED_STATE | NEED_MSR_L1);
	nested_vm_create(&n, &vmx_vendor, NULL, NV_APIC_ACCESS);

	run_to_stage(n.vcpu, 1);
	run_to_stage(n.vcpu, 2);

	state = save_l2_state(n.vcpu, KVM_STATE_NESTED_FORMAT_VMX);

	nested_vm_recreate(&n);
	vcpu = n.vcpu;
	vm_mem_region_delete(n.vm, APIC_ACCESS_SLOT);

	/* vCPU setup: the VMX capability MSRs, once, before VMXON is restored. */
	restore_vcpu_setup(vcpu, state);

	vcpu_sregs_set(vcpu, &state->sregs);
	r = __vcpu_nested_state_set(vcpu, &state->nested);
	expect_unbacked_set(r, mode, "APIC-access page", APIC_ACCESS_GPA);
	if (mode == MODE_EAGER) {
		TEST_ASSERT(!in_guest_mode(vcpu),
			    "eager mode: expected the vCPU out of guest mode after the failed KVM_SET_NESTED_STATE");
		check_np(n.vm, "after the failed KVM_SET_NESTED_STATE", mode,
			 (struct np_want){ .set_nested_state = 1, .failed = 1 });
	} else {
		restore_rest(vcpu, state);
		vcpu_run(vcpu);
		TEST_ASSERT(vcpu->run->exit_reason == KVM_EXIT_INTERNAL_ERROR &&
			    vcpu->run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION,
			    "%s mode, APIC-access page at unbacked GPA 0x%llx: expected KVM_RUN to exit with KVM_EXIT_INTERNAL_ERROR/EMULATION, got exit reason %u (%s) suberror %u",
			    mode_name[mode], APIC_ACCESS_GPA, vcpu->run->exit_reason,
			    exit_reason_str(vcpu->run->exit_reason),
			    vcpu->run->internal.suberror);
		check_np(n.vm, "after the failed KVM_RUN", mode,
			 (struct np_want){ .legacy_request = 1, .failed = 1 });
	}

	/* The memory arrives; the VMM restores the same state again. */
	vm_userspace_mem_region_add(n.vm, VM_MEM_SRC_ANONYMOUS, APIC_ACCESS_GPA,
				    APIC_ACCESS_SLOT, 1, 0);
	restore_again(vcpu, state, mode, "once the APIC-access page is backed");
	msr_guest_finish(&vmx_vendor, vcpu);
	check_np_modes(n.vm, "at the end", mode,
		       (struct np_want){ .set_nested_state = 2, .vmentry = 1, .failed = 1 },
		       (struct np_want){ .legacy_request = 2, .vmentry = 1, .failed = 1 });

	kvm_x86_state_cleanup(state);
	kvm_vm_free(n.vm);
	return 0;
}
