// SPDX-License-Identifier: GPL-2.0-only
/*
 * nested_state_uffd_test - where does a VMM have to serve a demand-paging
 * fault on L1's MSR permission map when it restores a vCPU that is in L2?
 *
 * L1 (nested SVM) keeps its MSR permission map (MSRPM) in a memslot of its
 * own and intercepts reads of MSR_FS_BASE through it.  L2 reports in, the
 * host saves the vCPU (KVM_GET_NESTED_STATE and friends), creates a new VM
 * over the same memory, drops the MSRPM pages and registers them with
 * userfaultfd (missing mode), then restores the vCPU in QEMU's order:
 *
 *   SREGS, NESTED_STATE, REGS, XSAVE, XCRS, MSRS, VCPU_EVENTS, MP_STATE,
 *   DEBUGREGS, then KVM_RUN.
 *
 * A fault-handling thread serves the faults with UFFDIO_COPY and notes which
 * of these steps the main thread was in.  Expected:
 *
 *   eager  (kvm-nested, defer_nested_state_pages=N): every MSRPM fault is
 *          taken inside KVM_SET_NESTED_STATE, none later;
 *   legacy (kvm-nested, =Y) and stock KVM: none before KVM_RUN, the first
 *          one inside the first KVM_RUN (KVM_REQ_GET_NESTED_STATE_PAGES).
 *
 * In every mode the guest must then complete: L2's RDMSR(FS_BASE) must exit
 * to L1, which proves that the MSRPM KVM merged is the one the fault thread
 * supplied.  When the VM's debugfs file nested_state_pages exists (kvm-nested)
 * its mode and load counts are checked too.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "test_util.h"
#include "kvm_util.h"
#include "processor.h"
#include "nested_util.h"

/* L1's MSR permission map: 8 KiB, in a 16 KiB memslot of its own at 1 GiB. */
#define MSRPM_GPA	0x40000000ull
#define MSRPM_SLOT	10
#define MSRPM_PAGES	4
#define MSRPM_SIZE	0x2000

int main(int argc, char *argv[])
{
	struct kvm_x86_state *state;
	struct uffd_server srv;
	struct nested_vm n;
	struct vmcb *vmcb12;
	enum mode mode;
	int i, page, k, expected;

	mode = nested_require(&svm_vendor, NEED_NESTED_STATE);
	nested_vm_create(&n, &svm_vendor, NULL, 0);
	vm_userspace_mem_region_add(n.vm, VM_MEM_SRC_ANONYMOUS, MSRPM_GPA,
				    MSRPM_SLOT, MSRPM_PAGES, 0);
	virt_map(n.vm, MSRPM_GPA, MSRPM_GPA, MSRPM_PAGES);
	n.svm->msr = (void *)MSRPM_GPA;
	n.svm->msr_hva = addr_gpa2hva(n.vm, MSRPM_GPA);
	n.svm->msr_gpa = MSRPM_GPA;
	memset(n.svm->msr_hva, 0, MSRPM_PAGES * getpagesize());

	run_to_stage(n.vcpu, 1);
	run_to_stage(n.vcpu, 2);

	state = save_l2_state(n.vcpu, KVM_STATE_NESTED_FORMAT_SVM);
	vmcb12 = (struct vmcb *)state->nested.data.svm[0].vmcb12;
	TEST_ASSERT(vmcb12->control.msrpm_base_pa == MSRPM_GPA,
		    "saved vmcb12: expected msrpm_base_pa 0x%llx, got 0x%llx",
		    MSRPM_GPA, (unsigned long long)vmcb12->control.msrpm_base_pa);
	TEST_ASSERT(vmcb12->control.intercept & (1ull << INTERCEPT_MSR_PROT),
		    "saved vmcb12: expected the MSR_PROT intercept to be set");

	nested_vm_recreate(&n);

	/* Demand paging of the MSRPM from here on. */
	uffd_start(&srv, addr_gpa2hva(n.vm, MSRPM_GPA), MSRPM_PAGES * getpagesize());
	restore_qemu_order(n.vcpu, state);

	if (mode == MODE_EAGER) {
		TEST_ASSERT(srv.first_phase == PH_NESTED_STATE,
			    "eager mode: expected the first MSRPM fault inside KVM_SET_NESTED_STATE, got %s",
			    srv.first_phase < 0 ? "no fault before KVM_RUN" :
			    phase_name[srv.first_phase]);
	} else {
		TEST_ASSERT(srv.first_phase < 0,
			    "%s mode: expected no MSRPM fault before KVM_RUN, got one in %s",
			    mode_name[mode], phase_name[srv.first_phase]);
	}

	uffd_run_finish(&svm_vendor, n.vcpu, &srv);

	expected = uffd_expect_first(&srv, mode, "MSRPM");
	for (i = 0; i < NR_PHASES; i++)
		TEST_ASSERT(i == expected || !uffd_faults_in(&srv, i),
			    "%s mode: expected MSRPM faults only in %s, got %d in %s",
			    mode_name[mode], phase_name[expected],
			    uffd_faults_in(&srv, i), phase_name[i]);
	for (page = MSRPM_SIZE / getpagesize(); page < MSRPM_PAGES; page++) {
		for (i = 0, k = 0; i < NR_PHASES; i++)
			k += srv.faults[i][page];
		TEST_ASSERT(!k, "expected faults only on the 8 KiB MSRPM, got %d on page %d of the memslot",
			    k, page);
	}

	/* L1 entered L2 once after the restore (after the MSR exit). */
	check_np_one_restore(n.vm, "at the end", mode);

	kvm_x86_state_cleanup(state);
	kvm_vm_free(n.vm);
	return 0;
}
