// SPDX-License-Identifier: GPL-2.0-only
/*
 * vmx_nested_state_uffd_test - nested VMX twin of nested_state_uffd_test:
 * where does a VMM have to serve demand-paging faults on the pages hanging
 * off vmcs12 when it restores a vCPU that is in L2?
 *
 * L1 puts three of them in a memslot of their own: its MSR bitmap (page 0,
 * intercepting RDMSR(FS_BASE)), the virtual-APIC page (page 1, TPR shadow)
 * and the APIC-access page (page 2, virtualize APIC accesses).  L2 reports
 * in, the host saves the vCPU, creates a new VM over the same memory, drops
 * those pages and registers them with userfaultfd (missing mode), then
 * restores in QEMU's order (VMX capability MSRs first, as QEMU sets them at
 * vCPU setup, then SREGS, NESTED_STATE, REGS, XSAVE, XCRS, the other MSRS,
 * VCPU_EVENTS, MP_STATE, DEBUGREGS) and runs.  A fault thread serves the
 * faults with UFFDIO_COPY and notes the step the main thread was in.
 *
 *   eager  (kvm-nested, defer_nested_state_pages=N): all three pages are
 *          faulted in inside KVM_SET_NESTED_STATE, none later;
 *   legacy (=Y) and stock: none before KVM_RUN, all three in the first
 *          KVM_RUN (KVM_REQ_GET_NESTED_STATE_PAGES).
 *
 * The guest must then complete, L2's RDMSR(FS_BASE) exiting to L1 through
 * L1's MSR bitmap.  Debugfs nested_state_pages counts are checked when the
 * file exists.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "test_util.h"
#include "kvm_util.h"
#include "processor.h"
#include "nested_util.h"

static const char * const page_name[NR_PAGES] = {
	"MSR bitmap", "virtual-APIC page", "APIC-access page", "spare page",
};

int main(int argc, char *argv[])
{
	struct kvm_x86_state *state;
	struct uffd_server srv;
	struct nested_vm n;
	enum mode mode;
	int ph, pg, expected;

	mode = nested_require(&vmx_vendor, NEED_NESTED_STATE | NEED_TPR_SHADOW | NEED_MSR_L1);
	nested_vm_create(&n, &vmx_vendor, NULL, NV_PAGES);

	run_to_stage(n.vcpu, 1);
	run_to_stage(n.vcpu, 2);

	state = save_l2_state(n.vcpu, KVM_STATE_NESTED_FORMAT_VMX);

	nested_vm_recreate(&n);

	uffd_start(&srv, addr_gpa2hva(n.vm, PAGES_GPA), NR_PAGES * getpagesize());
	restore_qemu_order(n.vcpu, state);
	uffd_run_finish(&vmx_vendor, n.vcpu, &srv);

	for (ph = 0; ph < NR_PHASES; ph++)
		for (pg = 0; pg < NR_PAGES; pg++)
			if (srv.faults[ph][pg])
				pr_info("%s faulted in %s (%d)\n", page_name[pg],
					phase_name[ph], srv.faults[ph][pg]);

	expected = mode == MODE_EAGER ? PH_NESTED_STATE : PH_RUN;
	for (pg = PG_MSR_BITMAP; pg <= PG_APIC_ACCESS; pg++)
		TEST_ASSERT(srv.faults[expected][pg] == 1,
			    "%s mode: expected the %s to be faulted in once inside %s, got %d faults there",
			    mode_name[mode], page_name[pg], phase_name[expected],
			    srv.faults[expected][pg]);
	for (ph = 0; ph < NR_PHASES; ph++)
		for (pg = 0; pg < NR_PAGES; pg++)
			TEST_ASSERT(ph == expected || !srv.faults[ph][pg],
				    "%s mode: expected faults only inside %s, got %d on the %s inside %s",
				    mode_name[mode], phase_name[expected], srv.faults[ph][pg],
				    page_name[pg], phase_name[ph]);

	check_np_one_restore(n.vm, "at the end", mode);

	kvm_x86_state_cleanup(state);
	kvm_vm_free(n.vm);
	return 0;
}
