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
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "test_util.h"
#include "kvm_util.h"
#include "processor.h"
#include "svm_util.h"
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
	struct svm_test_data *svm;
	vm_vaddr_t svm_gva;
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;
	struct vmcb *vmcb12;
	enum mode mode;
	int i, page, n, expected;

	TEST_REQUIRE(kvm_cpu_has(X86_FEATURE_SVM));
	TEST_REQUIRE(kvm_has_cap(KVM_CAP_NESTED_STATE));
	mode = read_mode();
	pr_info("mode: %s\n", mode_name[mode]);

	vm = vm_create_with_one_vcpu(&vcpu, svm_msr_l1_guest_code);
	vm_userspace_mem_region_add(vm, VM_MEM_SRC_ANONYMOUS, MSRPM_GPA,
				    MSRPM_SLOT, MSRPM_PAGES, 0);
	virt_map(vm, MSRPM_GPA, MSRPM_GPA, MSRPM_PAGES);

	svm = vcpu_alloc_svm(vm, &svm_gva);
	svm->msr = (void *)MSRPM_GPA;
	svm->msr_hva = addr_gpa2hva(vm, MSRPM_GPA);
	svm->msr_gpa = MSRPM_GPA;
	memset(svm->msr_hva, 0, MSRPM_PAGES * getpagesize());
	vcpu_args_set(vcpu, 1, svm_gva);

	run_to_stage(vcpu, 1);
	run_to_stage(vcpu, 2);

	state = save_l2_state(vcpu, KVM_STATE_NESTED_FORMAT_SVM);
	vmcb12 = (struct vmcb *)state->nested.data.svm[0].vmcb12;
	TEST_ASSERT(vmcb12->control.msrpm_base_pa == MSRPM_GPA,
		    "saved vmcb12: expected msrpm_base_pa 0x%llx, got 0x%llx",
		    MSRPM_GPA, (unsigned long long)vmcb12->control.msrpm_base_pa);
	TEST_ASSERT(vmcb12->control.intercept & (1ull << INTERCEPT_MSR_PROT),
		    "saved vmcb12: expected the MSR_PROT intercept to be set");

	kvm_vm_release(vm);
	vcpu = vm_recreate_with_one_vcpu(vm);

	/* Demand paging of the MSRPM from here on. */
	uffd_start(&srv, addr_gpa2hva(vm, MSRPM_GPA), MSRPM_PAGES * getpagesize());
	restore_qemu_order(vcpu, state);

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

	set_phase(PH_RUN);
	svm_msr_guest_finish(vcpu);
	set_phase(PH_SETUP);
	uffd_stop(&srv);
	TEST_ASSERT(!srv.error, "fault thread failed: %d", srv.error);

	for (i = 0; i < NR_PHASES; i++)
		if (uffd_faults_in(&srv, i))
			pr_info("MSRPM faults in %s: %d\n", phase_name[i],
				uffd_faults_in(&srv, i));

	expected = mode == MODE_EAGER ? PH_NESTED_STATE : PH_RUN;
	TEST_ASSERT(srv.first_phase == expected,
		    "%s mode: expected the first MSRPM fault in %s, got %s",
		    mode_name[mode], phase_name[expected],
		    srv.first_phase < 0 ? "none" : phase_name[srv.first_phase]);
	for (i = 0; i < NR_PHASES; i++)
		TEST_ASSERT(i == expected || !uffd_faults_in(&srv, i),
			    "%s mode: expected MSRPM faults only in %s, got %d in %s",
			    mode_name[mode], phase_name[expected],
			    uffd_faults_in(&srv, i), phase_name[i]);
	for (page = MSRPM_SIZE / getpagesize(); page < MSRPM_PAGES; page++) {
		for (i = 0, n = 0; i < NR_PHASES; i++)
			n += srv.faults[i][page];
		TEST_ASSERT(!n, "expected faults only on the 8 KiB MSRPM, got %d on page %d of the memslot",
			    n, page);
	}

	/* L1 entered L2 once after the restore (after the MSR exit). */
	if (mode == MODE_EAGER)
		check_np(vm, "at the end", mode,
			 (struct np_want){ .set_nested_state = 1, .vmentry = 1 });
	else
		check_np(vm, "at the end", mode,
			 (struct np_want){ .legacy_request = 1, .vmentry = 1 });

	kvm_x86_state_cleanup(state);
	kvm_vm_free(vm);
	return 0;
}
