// SPDX-License-Identifier: GPL-2.0-only
/*
 * vmx_rsm_invalid_l2_state_test - RSM into L2 (nested VMX) after the SMM
 * handler made L2's saved state invalid.
 *
 * Found by vmx_nested_state_fuzz (RSM phase, seed 0x5eed, iteration 8; see
 * docs/fuzz.md).  L1 launches L2 without unrestricted guest; L2 reports in
 * and the host raises an SMI.  KVM exits to L1 to enter SMM, but the
 * state-save area holds L2's registers.  The SMM handler (real mode, at
 * SMBASE + 0x8000) stores 0x200 into the saved TR attributes and limit (a
 * TR that is not a busy TSS: invalid guest state) and executes RSM.  RSM
 * re-enters L2 with a nested VM-Enter pending and then loads that state.
 *
 * Stock KVM cannot enter L2 with it and trips KVM_BUG_ON(nested_run_pending)
 * in __vmx_handle_exit(): a WARN, and the VM is killed (KVM_RUN fails with
 * EIO).  Expected (kvm-nested, both modes): L1 gets a triple fault VM-Exit
 * (exit reason 2) and completes.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "test_util.h"
#include "kvm_util.h"
#include "processor.h"
#include "vmx.h"
#include "nested_util.h"

#define TR_ATTR_OFF	0xfe92		/* smram64 0x7e92: TR attributes, limit[15:0] */
#define L2_STACK_SIZE	256

/*
 * 16-bit: mov $addr,%eax; mov $0x200,%ebx; mov %ebx,(%eax);
 *         mov $SMI_SYNC_AL,%al; in $SMI_SYNC_PORT,%al; rsm
 */
static uint8_t smi_handler[] = {
	0x66, 0xb8, 0, 0, 0, 0,
	0x66, 0xbb, 0x00, 0x02, 0x00, 0x00,
	0x67, 0x66, 0x89, 0x18,
	0xb0, SMI_SYNC_AL,
	0xe4, SMI_SYNC_PORT,
	0x0f, 0xaa,
};

static void l2_guest_code(void)
{
	GUEST_SYNC(2);
	vmcall();
}

static void l1_guest_code(struct vmx_pages *vmx)
{
	unsigned long l2_stack[L2_STACK_SIZE];

	GUEST_ASSERT(prepare_for_vmx_operation(vmx));
	GUEST_ASSERT(load_vmcs(vmx));
	prepare_vmcs(vmx, l2_guest_code, &l2_stack[L2_STACK_SIZE]);
	vmwrite(SECONDARY_VM_EXEC_CONTROL,
		vmreadz(SECONDARY_VM_EXEC_CONTROL) & ~SECONDARY_EXEC_UNRESTRICTED_GUEST);
	GUEST_SYNC(1);
	GUEST_ASSERT(!vmlaunch());
	GUEST_SYNC_ARGS(3, vmreadz(VM_EXIT_REASON), 0, 0, 0);
	GUEST_DONE();
}

int main(int argc, char *argv[])
{
	uint32_t addr = SMRAM_GPA + TR_ATTR_OFF;
	vm_vaddr_t vmx_gva;
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;
	struct ucall uc;
	uint8_t *smram;
	int r;

	TEST_REQUIRE(kvm_has_cap(KVM_CAP_X86_SMM));
	TEST_REQUIRE(kvm_cpu_has(X86_FEATURE_VMX));

	vm = vm_create_with_one_vcpu(&vcpu, l1_guest_code);
	smram = smram_setup(vm, vcpu);
	memcpy(&smi_handler[2], &addr, 4);
	memcpy(smram + 0x8000, smi_handler, sizeof(smi_handler));
	vcpu_alloc_vmx(vm, &vmx_gva);
	vcpu_args_set(vcpu, 1, vmx_gva);

	run_to_stage(vcpu, 1);
	run_to_stage(vcpu, 2);

	run_to_smi_handler(vcpu, "SMI in L2");

	/* RSM into L2 with TR attributes 0x200. */
	r = __vcpu_run(vcpu);
	TEST_ASSERT(!r, "RSM into L2 with an invalid saved TR: expected L1 to get a triple fault VM-Exit, got KVM_RUN rc %d errno %d (EIO: KVM_BUG_ON killed the VM)",
		    r, errno);
	uc = expect_stage(vcpu, "", 3);
	TEST_ASSERT(uc.args[2] == EXIT_REASON_TRIPLE_FAULT,
		    "RSM into L2 with an invalid saved TR: expected a triple fault VM-Exit to L1 (%u), got exit reason 0x%lx",
		    EXIT_REASON_TRIPLE_FAULT, (unsigned long)uc.args[2]);
	run_to_stage(vcpu, 0);

	kvm_vm_free(vm);
	return 0;
}
