// SPDX-License-Identifier: GPL-2.0-only
/*
 * vmx_nested_restore_evmcs_test - migrate an L1 that runs L2 through a
 * Hyper-V enlightened VMCS, restoring in QEMU's order (issue #13).
 *
 * L1 enables its VP assist page, makes an eVMCS current (the
 * evmcs_test/hyperv_evmcs way) and launches L2.  L2 reports in (stage 2)
 * and the host migrates the vCPU: KVM_GET_NESTED_STATE must say
 * KVM_STATE_NESTED_EVMCS; a new VM restores it in QEMU's order
 * (restore_qemu_order(): KVM_SET_NESTED_STATE before KVM_SET_MSRS, so the
 * VP assist page MSR is not restored yet), and right after
 * KVM_SET_NESTED_STATE the vCPU must still report KVM_STATE_NESTED_EVMCS
 * and the whole vmcs12 (same state size).  Then L2's VMCALL exits to L1,
 * which reads the exit reason from its eVMCS: it must be VMCALL (stage 3),
 * not what the eVMCS held before.  L1 resumes L2, L2 reports in again
 * (stage 4) and the host migrates a second time, with the same checks; a
 * second VMCALL exit (stage 5) and the guest is done.
 *
 * Expected the same in every mode and with stock KVM.  KVM emulates the
 * eVMCS itself, so this runs under Bochs' VMX.
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

static void l2_guest_code(void)
{
	GUEST_SYNC(2);
	vmcall();
	GUEST_SYNC(4);
	vmcall();
}

static void l1_guest_code(struct vmx_pages *vmx, HV_PAGES *hv)
{
	unsigned long l2_stack[L2_STACK_SIZE];

	enable_vp_assist(hv->vp_assist_gpa, hv->vp_assist);
	GUEST_ASSERT(evmcs_vmx_start(vmx, hv));
	GUEST_ASSERT(vmptrstz() == hv->enlightened_vmcs_gpa);
	prepare_vmcs(vmx, l2_guest_code, &l2_stack[L2_STACK_SIZE]);
	GUEST_SYNC(1);

	GUEST_ASSERT(!vmlaunch());
	/* Read from the eVMCS (vmreadz() goes through it with enable_evmcs). */
	GUEST_SYNC_ARGS(3, vmreadz(VM_EXIT_REASON), current_evmcs->vm_exit_reason, 0, 0);
	vmwrite(GUEST_RIP, vmreadz(GUEST_RIP) + vmreadz(VM_EXIT_INSTRUCTION_LEN));

	GUEST_ASSERT(!vmresume());
	GUEST_SYNC_ARGS(5, vmreadz(VM_EXIT_REASON), current_evmcs->vm_exit_reason, 0, 0);
	GUEST_DONE();
}

static void new_vcpu_setup(struct kvm_vcpu *vcpu)
{
	vcpu_set_hv_cpuid(vcpu);
	vcpu_enable_evmcs(vcpu);
}

static struct kvm_vcpu *migrate(struct kvm_vm *vm, struct kvm_vcpu *vcpu, int n)
{
	struct kvm_x86_state *st = save_l2_state(vcpu, KVM_STATE_NESTED_FORMAT_VMX);
	uint32_t flags, size;

	TEST_ASSERT(st->nested.flags & KVM_STATE_NESTED_EVMCS,
		    "migration %d: expected the saved nested state to have KVM_STATE_NESTED_EVMCS, got flags 0x%x size %u",
		    n, st->nested.flags, st->nested.size);
	TEST_ASSERT(st->nested.size > sizeof(st->nested),
		    "migration %d: expected the saved nested state to carry vmcs12, got size %u",
		    n, st->nested.size);

	kvm_vm_release(vm);
	vcpu = vm_recreate_with_one_vcpu(vm);
	new_vcpu_setup(vcpu);

	/* restore_qemu_order(), with a look right after KVM_SET_NESTED_STATE. */
	restore_vcpu_setup(vcpu, st);
	set_phase(PH_SREGS);
	vcpu_sregs_set(vcpu, &st->sregs);
	set_phase(PH_NESTED_STATE);
	vcpu_nested_state_set(vcpu, &st->nested);
	flags = nested_state_flags(vcpu, &size);
	TEST_ASSERT((flags & KVM_STATE_NESTED_EVMCS) && size == st->nested.size,
		    "migration %d, right after KVM_SET_NESTED_STATE in QEMU's order (VP assist MSR not restored yet): expected KVM_STATE_NESTED_EVMCS and size %u, got flags 0x%x size %u (the pending eVMCS was dropped)",
		    n, st->nested.size, flags, size);
	restore_rest(vcpu, st);
	flags = nested_state_flags(vcpu, &size);
	TEST_ASSERT((flags & KVM_STATE_NESTED_EVMCS) && size == st->nested.size,
		    "migration %d, after the whole restore: expected KVM_STATE_NESTED_EVMCS and size %u, got flags 0x%x size %u",
		    n, st->nested.size, flags, size);
	set_phase(PH_RUN);
	kvm_x86_state_cleanup(st);
	return vcpu;
}

static void expect_vmcall_exit(struct kvm_vcpu *vcpu, int stage)
{
	struct ucall uc = run_to_stage(vcpu, stage);

	TEST_ASSERT(uc.args[2] == EXIT_REASON_VMCALL && uc.args[3] == EXIT_REASON_VMCALL,
		    "stage %d: expected L1 to read exit reason VMCALL (%u) from its eVMCS after the restore, got %lu (vmread) / %lu (eVMCS field): a stale eVMCS",
		    stage, EXIT_REASON_VMCALL, (unsigned long)uc.args[2], (unsigned long)uc.args[3]);
}

int main(int argc, char *argv[])
{
	gva_t vmx_gva, hv_gva;
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;

	TEST_REQUIRE(kvm_cpu_has(X86_FEATURE_VMX));
	TEST_REQUIRE(kvm_has_cap(KVM_CAP_NESTED_STATE));
	TEST_REQUIRE(kvm_has_cap(KVM_CAP_HYPERV_ENLIGHTENED_VMCS));
	pr_info("mode: %s\n", mode_name[read_mode()]);

	vm = vm_create_with_one_vcpu(&vcpu, l1_guest_code);
	new_vcpu_setup(vcpu);
	vcpu_alloc_vmx(vm, &vmx_gva);
	hv_gva = hv_pages_alloc(vm, vmx_gva);
	vcpu_args_set(vcpu, 2, vmx_gva, hv_gva);

	run_to_stage(vcpu, 1);
	run_to_stage(vcpu, 2);
	vcpu = migrate(vm, vcpu, 1);
	expect_vmcall_exit(vcpu, 3);
	run_to_stage(vcpu, 4);
	vcpu = migrate(vm, vcpu, 2);
	expect_vmcall_exit(vcpu, 5);
	run_to_stage(vcpu, 0);

	kvm_vm_free(vm);
	return 0;
}
