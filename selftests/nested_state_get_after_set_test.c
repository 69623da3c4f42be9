// SPDX-License-Identifier: GPL-2.0-only
/*
 * nested_state_get_after_set_test - KVM_GET_NESTED_STATE right after
 * KVM_SET_NESTED_STATE, before any KVM_RUN, must return what was set.
 *
 * L1 (nested SVM, intercepting RDMSR(FS_BASE) through its MSR permission
 * map) runs L2; L2 reports in; the host saves the vCPU, recreates the VM
 * over the same memory and restores the vCPU in QEMU's ioctl order.  It
 * reads the nested state back twice before the first KVM_RUN: right after
 * KVM_SET_NESTED_STATE, and after the whole restore (REGS ... DEBUGREGS).
 * Both times flags, format, size, the vmcb12 GPA, the whole vmcb12 control
 * area (msrpm_base_pa still L1's GPA, not L0's merged bitmap) and L1's
 * VMRUN-saved state in the save area (segments ES/CS/SS/DS, GDTR, IDTR, CPL,
 * EFER, CR0/3/4, RFLAGS, RIP, RSP, RAX) must equal the saved state; other
 * save-area differences are only reported (stock KVM returns vmcb01's live
 * values there, e.g. DR6 0 before L1 first runs).  All this must hold
 * whether the pages hanging off vmcb12 were loaded inside
 * KVM_SET_NESTED_STATE (kvm-nested, eager) or not yet (legacy, stock).
 * The guest must then complete, L2's RDMSR exiting to L1.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "test_util.h"
#include "kvm_util.h"
#include "processor.h"
#include "svm_util.h"
#include "nested_util.h"

union nested_buf {
	struct kvm_nested_state hdr;
	char buf[16384];
};

/*
 * The L1 state KVM_SET_NESTED_STATE takes from the vmcb12 save area: what
 * VMRUN saves of the host (APM vol. 2, 15.5.1).  The rest of the save area
 * that KVM_GET_NESTED_STATE returns is vmcb01's live state (e.g. DR6 is 0
 * until L1 first runs in a new VM), so it is only reported.
 */
#define SAVE_FIELD(f) { #f, offsetof(struct vmcb_save_area, f), \
			sizeof(((struct vmcb_save_area *)0)->f) }
static const struct {
	const char *name;
	size_t off, size;
} vmrun_state[] = {
	SAVE_FIELD(es), SAVE_FIELD(cs), SAVE_FIELD(ss), SAVE_FIELD(ds),
	SAVE_FIELD(gdtr), SAVE_FIELD(idtr), SAVE_FIELD(cpl), SAVE_FIELD(efer),
	SAVE_FIELD(cr4), SAVE_FIELD(cr3), SAVE_FIELD(cr0), SAVE_FIELD(rflags),
	SAVE_FIELD(rip), SAVE_FIELD(rsp), SAVE_FIELD(rax),
};

/* Compare a nested state read back with the one that was set. */
static void check_same(struct kvm_vcpu *vcpu, const struct kvm_nested_state *set,
		       const char *when)
{
	const struct vmcb *a = (const struct vmcb *)set->data.svm[0].vmcb12;
	const struct vmcb *b;
	const uint8_t *sa, *sb;
	union nested_buf got;
	int i, diffs = 0;

	memset(&got, 0xaa, sizeof(got));
	got.hdr.size = sizeof(got);
	vcpu_nested_state_get(vcpu, &got.hdr);
	b = (const struct vmcb *)got.hdr.data.svm[0].vmcb12;

	TEST_ASSERT(got.hdr.format == set->format && got.hdr.flags == set->flags &&
		    got.hdr.size == set->size,
		    "%s: expected format %u flags 0x%x size %u, got format %u flags 0x%x size %u",
		    when, set->format, set->flags, set->size, got.hdr.format,
		    got.hdr.flags, got.hdr.size);
	TEST_ASSERT(got.hdr.hdr.svm.vmcb_pa == set->hdr.svm.vmcb_pa,
		    "%s: expected vmcb12 GPA 0x%llx, got 0x%llx", when,
		    (unsigned long long)set->hdr.svm.vmcb_pa,
		    (unsigned long long)got.hdr.hdr.svm.vmcb_pa);
	TEST_ASSERT(b->control.msrpm_base_pa == a->control.msrpm_base_pa,
		    "%s: expected msrpm_base_pa to stay L1's GPA 0x%llx, got 0x%llx", when,
		    (unsigned long long)a->control.msrpm_base_pa,
		    (unsigned long long)b->control.msrpm_base_pa);

	/* The whole control area. */
	for (i = 0; i < (int)sizeof(a->control); i += 8) {
		uint64_t x = 0, y = 0;
		int n = sizeof(a->control) - i < 8 ? sizeof(a->control) - i : 8;

		memcpy(&x, (const uint8_t *)&a->control + i, n);
		memcpy(&y, (const uint8_t *)&b->control + i, n);
		if (x != y && diffs++ < 16)
			pr_info("%s: vmcb12 control+0x%03x: set 0x%016lx, got 0x%016lx\n",
				when, i, (unsigned long)x, (unsigned long)y);
	}
	TEST_ASSERT(!diffs, "%s: expected the vmcb12 control area that was set, got %d differing quadwords (listed above)",
		    when, diffs);

	/* L1's VMRUN-saved state. */
	sa = (const uint8_t *)&a->save;
	sb = (const uint8_t *)&b->save;
	for (i = 0; i < (int)ARRAY_SIZE(vmrun_state); i++) {
		uint64_t x = 0, y = 0;

		if (!memcmp(sa + vmrun_state[i].off, sb + vmrun_state[i].off,
			    vmrun_state[i].size))
			continue;
		memcpy(&x, sa + vmrun_state[i].off, vmrun_state[i].size < 8 ? vmrun_state[i].size : 8);
		memcpy(&y, sb + vmrun_state[i].off, vmrun_state[i].size < 8 ? vmrun_state[i].size : 8);
		pr_info("%s: vmcb12 save.%s: set 0x%lx, got 0x%lx\n", when,
			vmrun_state[i].name, (unsigned long)x, (unsigned long)y);
		diffs++;
	}
	TEST_ASSERT(!diffs, "%s: expected L1's VMRUN-saved state in the vmcb12 save area as set, got %d differing fields (listed above)",
		    when, diffs);

	/* The rest of the save area: informational. */
	for (i = 0; i + 8 <= (int)sizeof(a->save); i += 8) {
		uint64_t x, y;

		memcpy(&x, sa + i, 8);
		memcpy(&y, sb + i, 8);
		if (x != y)
			pr_info("%s: note: vmcb12 save+0x%03x (not VMRUN-saved state) differs: set 0x%lx, got 0x%lx\n",
				when, i, (unsigned long)x, (unsigned long)y);
	}
}

int main(int argc, char *argv[])
{
	struct kvm_x86_state *st;
	struct svm_test_data *svm;
	struct kvm_vcpu *vcpu;
	struct nested_vm n;
	struct vmcb *vmcb12;

	nested_require(&svm_vendor, NEED_NESTED_STATE);
	nested_vm_create(&n, &svm_vendor, NULL, 0);
	svm = n.svm;

	run_to_stage(n.vcpu, 1);
	run_to_stage(n.vcpu, 2);

	st = save_l2_state(n.vcpu, KVM_STATE_NESTED_FORMAT_SVM);
	vmcb12 = (struct vmcb *)st->nested.data.svm[0].vmcb12;
	TEST_ASSERT(st->nested.hdr.svm.vmcb_pa == svm->vmcb_gpa &&
		    vmcb12->control.msrpm_base_pa == svm->msr_gpa,
		    "saved nested state: expected vmcb12 at 0x%lx with MSRPM 0x%lx, got 0x%llx and 0x%llx",
		    (unsigned long)svm->vmcb_gpa, (unsigned long)svm->msr_gpa,
		    (unsigned long long)st->nested.hdr.svm.vmcb_pa,
		    (unsigned long long)vmcb12->control.msrpm_base_pa);

	nested_vm_recreate(&n);
	vcpu = n.vcpu;

	vcpu_sregs_set(vcpu, &st->sregs);
	vcpu_nested_state_set(vcpu, &st->nested);
	check_same(vcpu, &st->nested, "right after KVM_SET_NESTED_STATE");

	restore_rest(vcpu, st);
	check_same(vcpu, &st->nested, "after the whole restore, before KVM_RUN");

	svm_msr_guest_finish(vcpu);

	kvm_x86_state_cleanup(st);
	kvm_vm_free(n.vm);
	return 0;
}
