// SPDX-License-Identifier: GPL-2.0-only
/*
 * vmx_nested_smm_rsm_test - nested VMX twin of nested_smm_rsm_test (plain
 * variant): SMI while the vCPU runs L2, RSM back into L2.
 *
 * L1 runs L2 with an MSR bitmap intercepting RDMSR(FS_BASE), a virtual-APIC
 * page (TPR shadow) and an APIC-access page (virtualize APIC accesses).
 * When L2 reports in, the host raises an SMI (KVM_SMI); KVM leaves L2 to
 * enter SMM, the handler at SMBASE + 0x8000 reports through an IN from port
 * SMI_SYNC_PORT and executes RSM, which re-enters L2 and (re)loads the pages
 * hanging off vmcs12: at RSM in eager mode (kvm-nested,
 * defer_nested_state_pages=N), at the next entry otherwise.  L2 must then
 * resume and the guest complete, L2's RDMSR exiting to L1.  Debugfs
 * nested_state_pages counts (rsm 1 in eager mode, legacy_request 1 in
 * legacy mode) are checked when the file exists.
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
#include "vmx.h"
#include "nested_util.h"


#define PAGES_GPA	0x40000000ull
#define PAGES_SLOT	10
#define NR_PAGES	4

/* 16-bit SMI handler: mov $SMI_SYNC_AL, %al; in $SMI_SYNC_PORT, %al; rsm. */
static const uint8_t smi_handler[] = {
	0xb0, SMI_SYNC_AL,
	0xe4, SMI_SYNC_PORT,
	0x0f, 0xaa,
};

int main(int argc, char *argv[])
{
	vm_vaddr_t vmx_gva;
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;
	enum mode mode;
	uint8_t *smram;

	TEST_REQUIRE(kvm_has_cap(KVM_CAP_X86_SMM));
	TEST_REQUIRE(kvm_cpu_has(X86_FEATURE_VMX));
	TEST_REQUIRE(kvm_has_cap(KVM_CAP_NESTED_STATE));
	TEST_REQUIRE((kvm_get_feature_msr(MSR_IA32_VMX_TRUE_PROCBASED_CTLS) >> 32) &
		     CPU_BASED_TPR_SHADOW);
	TEST_REQUIRE((kvm_get_feature_msr(MSR_IA32_VMX_TRUE_PROCBASED_CTLS) >> 32) &
		     CPU_BASED_USE_MSR_BITMAPS);
	TEST_REQUIRE((kvm_get_feature_msr(MSR_IA32_VMX_PROCBASED_CTLS2) >> 32) &
		     SECONDARY_EXEC_VIRTUALIZE_APIC_ACCESSES);
	mode = read_mode();
	pr_info("mode: %s\n", mode_name[mode]);

	vm = vm_create_with_one_vcpu(&vcpu, vmx_msr_l1_guest_code);

	smram = smram_setup(vm, vcpu);
	memcpy(smram + 0x8000, smi_handler, sizeof(smi_handler));

	vm_userspace_mem_region_add(vm, VM_MEM_SRC_ANONYMOUS, PAGES_GPA,
				    PAGES_SLOT, NR_PAGES, 0);
	virt_map(vm, PAGES_GPA, PAGES_GPA, NR_PAGES);
	memset(addr_gpa2hva(vm, PAGES_GPA), 0, NR_PAGES * getpagesize());
	vcpu_alloc_vmx(vm, &vmx_gva);
	vcpu_args_set(vcpu, 3, vmx_gva, PAGES_GPA, PAGES_GPA + 2 * 4096);

	run_to_stage(vcpu, 1);
	run_to_stage(vcpu, 2);

	run_to_smi_handler(vcpu, "SMI in L2");

	/* RSM back into L2. */
	vmx_msr_guest_finish(vcpu);

	if (mode == MODE_EAGER)
		check_np(vm, "after RSM into L2", mode,
			 (struct np_want){ .rsm = 1, .vmentry = 2 });
	else
		check_np(vm, "after RSM into L2", mode,
			 (struct np_want){ .legacy_request = 1, .vmentry = 2 });

	kvm_vm_free(vm);
	return 0;
}
