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
	struct nested_vm n;
	enum mode mode;

	mode = nested_require(&vmx_vendor, NEED_SMM | NEED_NESTED_STATE | NEED_TPR_SHADOW |
			      NEED_MSR_L1);
	nested_vm_create(&n, &vmx_vendor, NULL, NV_SMRAM | NV_PAGES);
	/* The SMI handler: report, RSM. */
	smi_handler_stores(n.smram, NULL, NULL, 0);

	run_to_stage(n.vcpu, 1);
	run_to_stage(n.vcpu, 2);

	run_to_smi_handler(n.vcpu, "SMI in L2");

	/* RSM back into L2. */
	msr_guest_finish(&vmx_vendor, n.vcpu);

	check_np_modes(n.vm, "after RSM into L2", mode,
		       (struct np_want){ .rsm = 1, .vmentry = 2 },
		       (struct np_want){ .legacy_request = 1, .vmentry = 2 });

	kvm_vm_free(n.vm);
	return 0;
}
