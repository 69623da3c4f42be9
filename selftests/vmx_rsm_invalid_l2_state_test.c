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
 * Stock 6.x KVM cannot enter L2 with it and trips
 * KVM_BUG_ON(nested_run_pending) in __vmx_handle_exit(): a WARN, and the VM
 * is killed (KVM_RUN fails with EIO).  Expected (kvm-nested, both modes):
 * on 6.x, L1 gets a triple fault VM-Exit (exit reason 2) and completes; on
 * 7.x, the RSM fails once the SMRAM state is loaded (upstream's check in
 * emulator_leave_smm() on 7.3, ours in vmx_post_leave_smm() on 7.2) and L1
 * shuts down out of guest mode (KVM_EXIT_SHUTDOWN), as on hardware.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "test_util.h"
#include "kvm_util.h"
#include "processor.h"
#include "nested_util.h"

#define TR_ATTR_OFF	0xfe92		/* smram64 0x7e92: TR attributes, limit[15:0] */

static void l2_guest_code(void)
{
	GUEST_SYNC(2);
	vmcall();
}

static void l1_guest_code(struct vmx_pages *vmx)
{
	vmx_l1_run_l2(vmx, l2_guest_code, SECONDARY_EXEC_UNRESTRICTED_GUEST);
}

/* 7.x fails the RSM itself (see above). */
static bool rsm_checks_l2_state(void)
{
	struct utsname u;

	TEST_ASSERT(!uname(&u), "uname: errno %d", errno);
	return atoi(u.release) >= 7;
}

int main(int argc, char *argv[])
{
	uint32_t addr = SMRAM_GPA + TR_ATTR_OFF, val = 0x200;
	struct nested_vm n;
	struct ucall uc;
	int r;

	nested_require(&vmx_vendor, NEED_SMM);
	nested_vm_create(&n, &vmx_vendor, l1_guest_code, NV_SMRAM);
	/* The SMI handler: TR attributes 0x200, report, RSM. */
	smi_handler_stores(n.smram, &addr, &val, 1);

	run_to_stage(n.vcpu, 1);
	run_to_stage(n.vcpu, 2);

	run_to_smi_handler(n.vcpu, "SMI in L2");

	/* RSM into L2 with TR attributes 0x200. */
	r = __vcpu_run(n.vcpu);
	TEST_ASSERT(!r, "RSM into L2 with an invalid saved TR: expected L1 to get a triple fault VM-Exit, got KVM_RUN rc %d errno %d (EIO: KVM_BUG_ON killed the VM)",
		    r, errno);
	if (rsm_checks_l2_state()) {
		TEST_ASSERT(n.vcpu->run->exit_reason == KVM_EXIT_SHUTDOWN,
			    "RSM into L2 with an invalid saved TR: expected the RSM to fail and L1 to shut down (KVM_EXIT_SHUTDOWN), got exit reason %u (%s)",
			    n.vcpu->run->exit_reason, exit_reason_str(n.vcpu->run->exit_reason));
		TEST_ASSERT(!in_guest_mode(n.vcpu),
			    "RSM into L2 with an invalid saved TR: expected L1, not L2, to be shut down");
		kvm_vm_free(n.vm);
		return 0;
	}
	uc = expect_stage(n.vcpu, "", 3);
	TEST_ASSERT(uc.args[2] == EXIT_REASON_TRIPLE_FAULT,
		    "RSM into L2 with an invalid saved TR: expected a triple fault VM-Exit to L1 (%u), got exit reason 0x%lx",
		    EXIT_REASON_TRIPLE_FAULT, (unsigned long)uc.args[2]);
	run_to_stage(n.vcpu, 0);

	kvm_vm_free(n.vm);
	return 0;
}
