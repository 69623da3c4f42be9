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
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "test_util.h"
#include "kvm_util.h"
#include "processor.h"
#include "vmx.h"

#define PARAM		"/sys/module/kvm/parameters/defer_nested_state_pages"

#define APIC_ACCESS_GPA	0x50000000ull
#define APIC_ACCESS_SLOT 11
#define FS_BASE_BYTE	(0x400 + (MSR_FS_BASE - 0xc0000000) / 8)
#define FS_BASE_BIT	(1u << ((MSR_FS_BASE - 0xc0000000) % 8))
#define L2_STACK_SIZE	256

enum mode { MODE_STOCK, MODE_EAGER, MODE_LEGACY };
static const char * const mode_name[] = { "stock", "eager", "legacy" };

static void l2_guest_code(void)
{
	GUEST_SYNC(2);			/* in L2: the host migrates the vCPU here */
	(void)rdmsr(MSR_FS_BASE);	/* L1's MSR bitmap makes this exit to L1 */
	GUEST_SYNC(4);
	vmcall();
}

static void l1_guest_code(struct vmx_pages *vmx)
{
	unsigned long l2_stack[L2_STACK_SIZE];

	GUEST_ASSERT(prepare_for_vmx_operation(vmx));
	GUEST_ASSERT(load_vmcs(vmx));
	prepare_vmcs(vmx, l2_guest_code, &l2_stack[L2_STACK_SIZE]);

	((uint8_t *)vmx->msr)[FS_BASE_BYTE] |= FS_BASE_BIT;
	vmwrite(APIC_ACCESS_ADDR, APIC_ACCESS_GPA);
	vmwrite(CPU_BASED_VM_EXEC_CONTROL, vmreadz(CPU_BASED_VM_EXEC_CONTROL) |
		CPU_BASED_USE_MSR_BITMAPS | CPU_BASED_ACTIVATE_SECONDARY_CONTROLS);
	vmwrite(SECONDARY_VM_EXEC_CONTROL, vmreadz(SECONDARY_VM_EXEC_CONTROL) |
		SECONDARY_EXEC_VIRTUALIZE_APIC_ACCESSES);
	GUEST_SYNC(1);

	GUEST_ASSERT(!vmlaunch());
	GUEST_SYNC_ARGS(3, vmreadz(VM_EXIT_REASON), 0, 0, 0);
	vmwrite(GUEST_RIP, vmreadz(GUEST_RIP) + vmreadz(VM_EXIT_INSTRUCTION_LEN));

	GUEST_ASSERT(!vmresume());
	GUEST_SYNC_ARGS(5, vmreadz(VM_EXIT_REASON), 0, 0, 0);
	GUEST_DONE();
}

static enum mode read_mode(void)
{
	char buf[4] = {};
	int fd = open(PARAM, O_RDONLY);
	ssize_t n;

	if (fd < 0) {
		TEST_ASSERT(errno == ENOENT, "open(%s): expected success or ENOENT, got errno %d",
			    PARAM, errno);
		return MODE_STOCK;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	TEST_ASSERT(n >= 1 && (buf[0] == 'Y' || buf[0] == 'N'),
		    "%s: expected Y or N, got \"%s\"", PARAM, buf);
	return buf[0] == 'N' ? MODE_EAGER : MODE_LEGACY;
}

struct np_counts {
	char mode[16];
	long rsm, set_nested_state, vmentry, legacy_request, failed;
};

static bool read_np_counts(struct kvm_vm *vm, struct np_counts *c)
{
	char path[128], line[128];
	FILE *f;
	int seen = 0;

	snprintf(path, sizeof(path), "/sys/kernel/debug/kvm/%d-%d/nested_state_pages",
		 getpid(), vm->fd);
	f = fopen(path, "r");
	if (!f)
		return false;
	memset(c, 0, sizeof(*c));
	c->vmentry = -1;	/* optional: VM-entry loads may be traced only */
	while (fgets(line, sizeof(line), f)) {
		seen += sscanf(line, "mode: %15s", c->mode);
		seen += sscanf(line, "rsm: %ld", &c->rsm);
		seen += sscanf(line, "set_nested_state: %ld", &c->set_nested_state);
		sscanf(line, "vmentry: %ld", &c->vmentry);
		seen += sscanf(line, "legacy_request: %ld", &c->legacy_request);
		seen += sscanf(line, "failed: %ld", &c->failed);
	}
	fclose(f);
	TEST_ASSERT(seen == 5, "%s: expected the lines mode, rsm, set_nested_state, legacy_request, failed (and optionally vmentry), parsed %d of them",
		    path, seen);
	return true;
}

static void check_np(struct kvm_vm *vm, const char *when, const char *mode,
		     long set_nested_state, long legacy_request, long vmentry,
		     long failed)
{
	struct np_counts c;

	if (!read_np_counts(vm, &c))
		return;
	TEST_ASSERT(!strcmp(c.mode, mode) && c.rsm == 0 &&
		    c.set_nested_state == set_nested_state &&
		    c.legacy_request == legacy_request &&
		    (c.vmentry < 0 || c.vmentry == vmentry) && c.failed == failed,
		    "debugfs nested_state_pages %s: expected mode %s rsm 0 set_nested_state %ld legacy_request %ld vmentry %ld (or none) failed %ld, got mode %s rsm %ld set_nested_state %ld legacy_request %ld vmentry %ld failed %ld",
		    when, mode, set_nested_state, legacy_request, vmentry, failed,
		    c.mode, c.rsm, c.set_nested_state, c.legacy_request,
		    c.vmentry, c.failed);
}


/*
 * The VMX capability MSRs (MSR_IA32_VMX_BASIC ... MSR_IA32_VMX_VMFUNC) cannot
 * be written while the vCPU is in VMX operation; QEMU writes them when it
 * sets up the vCPU, not with the rest of the MSRs after KVM_SET_NESTED_STATE.
 * Split the saved MSRs the same way.
 */
static bool is_vmx_cap_msr(uint32_t index)
{
	return index >= MSR_IA32_VMX_BASIC && index <= MSR_IA32_VMX_VMFUNC;
}

static struct kvm_msrs *msrs_subset(const struct kvm_msrs *all, bool vmx_caps)
{
	struct kvm_msrs *m = calloc(1, sizeof(*m) + all->nmsrs * sizeof(m->entries[0]));
	uint32_t i;

	TEST_ASSERT(m, "calloc failed");
	for (i = 0; i < all->nmsrs; i++)
		if (is_vmx_cap_msr(all->entries[i].index) == vmx_caps)
			m->entries[m->nmsrs++] = all->entries[i];
	return m;
}

static struct kvm_msrs *rest_msrs;

/* After SREGS and NESTED_STATE, QEMU's order; VMX capability MSRs excluded. */
static void restore_rest(struct kvm_vcpu *vcpu, struct kvm_x86_state *st)
{
	vcpu_regs_set(vcpu, &st->regs);
	vcpu_xsave_set(vcpu, st->xsave);
	if (kvm_has_cap(KVM_CAP_XCRS))
		vcpu_xcrs_set(vcpu, &st->xcrs);
	vcpu_msrs_set(vcpu, rest_msrs);
	vcpu_events_set(vcpu, &st->events);
	vcpu_mp_state_set(vcpu, &st->mp_state);
	vcpu_debugregs_set(vcpu, &st->debugregs);
}

static struct ucall run_to_stage(struct kvm_vcpu *vcpu, int stage)
{
	struct ucall uc;

	vcpu_run(vcpu);
	TEST_ASSERT(vcpu->run->exit_reason == KVM_EXIT_IO,
		    "stage %d: expected KVM_EXIT_IO (a ucall), got exit reason %u (%s)",
		    stage, vcpu->run->exit_reason, exit_reason_str(vcpu->run->exit_reason));
	switch (get_ucall(vcpu, &uc)) {
	case UCALL_ABORT:
		REPORT_GUEST_ASSERT(uc);
		break;
	case UCALL_SYNC:
		TEST_ASSERT(uc.args[1] == stage, "expected guest stage %d, got stage %lu",
			    stage, (unsigned long)uc.args[1]);
		break;
	case UCALL_DONE:
		TEST_ASSERT(stage == 0, "guest done, expected stage %d", stage);
		break;
	default:
		TEST_FAIL("stage %d: unexpected ucall %lu", stage, (unsigned long)uc.cmd);
	}
	return uc;
}

static void run_to_completion(struct kvm_vcpu *vcpu)
{
	struct ucall uc;

	uc = run_to_stage(vcpu, 3);
	TEST_ASSERT(uc.args[2] == EXIT_REASON_MSR_READ,
		    "L2's RDMSR(FS_BASE): expected an MSR-read exit to L1 (%u), got exit reason %lu",
		    EXIT_REASON_MSR_READ, (unsigned long)uc.args[2]);
	run_to_stage(vcpu, 4);
	uc = run_to_stage(vcpu, 5);
	TEST_ASSERT(uc.args[2] == EXIT_REASON_VMCALL,
		    "expected L2's VMCALL to exit to L1 (%u), got exit reason %lu",
		    EXIT_REASON_VMCALL, (unsigned long)uc.args[2]);
	run_to_stage(vcpu, 0);
}

static bool in_guest_mode(struct kvm_vcpu *vcpu)
{
	union {
		struct kvm_nested_state hdr;
		char buf[16384];
	} ns;

	memset(&ns, 0, sizeof(ns));
	ns.hdr.size = sizeof(ns);
	vcpu_nested_state_get(vcpu, &ns.hdr);
	return ns.hdr.flags & KVM_STATE_NESTED_GUEST_MODE;
}

int main(int argc, char *argv[])
{
	struct kvm_x86_state *state;
	struct kvm_msrs *caps;
	vm_vaddr_t vmx_gva;
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;
	const char *np_mode;
	enum mode mode;
	int r;

	TEST_REQUIRE(kvm_cpu_has(X86_FEATURE_VMX));
	TEST_REQUIRE(kvm_has_cap(KVM_CAP_NESTED_STATE));
	TEST_REQUIRE((kvm_get_feature_msr(MSR_IA32_VMX_TRUE_PROCBASED_CTLS) >> 32) &
		     CPU_BASED_USE_MSR_BITMAPS);
	TEST_REQUIRE((kvm_get_feature_msr(MSR_IA32_VMX_PROCBASED_CTLS2) >> 32) &
		     SECONDARY_EXEC_VIRTUALIZE_APIC_ACCESSES);
	mode = read_mode();
	np_mode = mode == MODE_EAGER ? "eager" : "legacy";
	pr_info("mode: %s\n", mode_name[mode]);

	vm = vm_create_with_one_vcpu(&vcpu, l1_guest_code);
	vm_userspace_mem_region_add(vm, VM_MEM_SRC_ANONYMOUS, APIC_ACCESS_GPA,
				    APIC_ACCESS_SLOT, 1, 0);
	vcpu_alloc_vmx(vm, &vmx_gva);
	vcpu_args_set(vcpu, 1, vmx_gva);

	run_to_stage(vcpu, 1);
	run_to_stage(vcpu, 2);

	state = vcpu_save_state(vcpu);
	TEST_ASSERT(state->nested.format == KVM_STATE_NESTED_FORMAT_VMX &&
		    (state->nested.flags & KVM_STATE_NESTED_GUEST_MODE),
		    "saved nested state: expected VMX format in guest mode, got format %u flags 0x%x",
		    state->nested.format, state->nested.flags);

	kvm_vm_release(vm);
	vcpu = vm_recreate_with_one_vcpu(vm);
	vm_mem_region_delete(vm, APIC_ACCESS_SLOT);

	/* vCPU setup: the VMX capability MSRs, once, before VMXON is restored. */
	caps = msrs_subset(&state->msrs, true);
	rest_msrs = msrs_subset(&state->msrs, false);
	vcpu_msrs_set(vcpu, caps);
	free(caps);

	vcpu_sregs_set(vcpu, &state->sregs);
	r = __vcpu_nested_state_set(vcpu, &state->nested);
	if (mode == MODE_EAGER) {
		TEST_ASSERT(r == -1 && errno == EINVAL,
			    "eager mode, APIC-access page at unbacked GPA 0x%llx: expected KVM_SET_NESTED_STATE to fail with EINVAL, got rc %d errno %d",
			    APIC_ACCESS_GPA, r, r ? errno : 0);
		TEST_ASSERT(!in_guest_mode(vcpu),
			    "eager mode: expected the vCPU out of guest mode after the failed KVM_SET_NESTED_STATE");
		check_np(vm, "after the failed KVM_SET_NESTED_STATE", np_mode, 1, 0, 0, 1);
	} else {
		TEST_ASSERT(!r, "%s mode: expected KVM_SET_NESTED_STATE with an unbacked APIC-access page to succeed (pages are loaded later), got errno %d",
			    mode_name[mode], errno);
		restore_rest(vcpu, state);
		vcpu_run(vcpu);
		TEST_ASSERT(vcpu->run->exit_reason == KVM_EXIT_INTERNAL_ERROR &&
			    vcpu->run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION,
			    "%s mode, APIC-access page at unbacked GPA 0x%llx: expected KVM_RUN to exit with KVM_EXIT_INTERNAL_ERROR/EMULATION, got exit reason %u (%s) suberror %u",
			    mode_name[mode], APIC_ACCESS_GPA, vcpu->run->exit_reason,
			    exit_reason_str(vcpu->run->exit_reason),
			    vcpu->run->internal.suberror);
		check_np(vm, "after the failed KVM_RUN", np_mode, 0, 1, 0, 1);
	}

	/* The memory arrives; the VMM restores the same state again. */
	vm_userspace_mem_region_add(vm, VM_MEM_SRC_ANONYMOUS, APIC_ACCESS_GPA,
				    APIC_ACCESS_SLOT, 1, 0);
	vcpu_sregs_set(vcpu, &state->sregs);
	r = __vcpu_nested_state_set(vcpu, &state->nested);
	TEST_ASSERT(!r, "%s mode: expected KVM_SET_NESTED_STATE to succeed once the APIC-access page is backed, got errno %d",
		    mode_name[mode], errno);
	TEST_ASSERT(in_guest_mode(vcpu), "expected the vCPU in guest mode after the valid KVM_SET_NESTED_STATE");
	restore_rest(vcpu, state);
	run_to_completion(vcpu);
	if (mode == MODE_EAGER)
		check_np(vm, "at the end", np_mode, 2, 0, 1, 1);
	else
		check_np(vm, "at the end", np_mode, 0, 2, 1, 1);

	free(rest_msrs);
	kvm_x86_state_cleanup(state);
	kvm_vm_free(vm);
	return 0;
}
