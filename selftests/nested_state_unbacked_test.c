// SPDX-License-Identifier: GPL-2.0-only
/*
 * nested_state_unbacked_test - restore a vCPU in L2 whose vmcb12 points the
 * MSR permission map (control.msrpm_base_pa) at a guest-physical address no
 * memslot backs.
 *
 * L1 (nested SVM) intercepts RDMSR(FS_BASE) through its MSRPM; L2 reports
 * in; the host saves the vCPU, recreates the VM over the same memory and
 * restores the saved state in QEMU's ioctl order, except that msrpm_base_pa
 * in the nested state is moved to an unbacked GPA.  Expected:
 *
 *   eager  (kvm-nested, defer_nested_state_pages=N): KVM_SET_NESTED_STATE
 *          fails with EINVAL; KVM_GET_NESTED_STATE then shows the vCPU out
 *          of guest mode; restoring the valid state afterwards succeeds and
 *          the guest runs to completion.
 *   legacy (kvm-nested, =Y) and stock KVM: KVM_SET_NESTED_STATE succeeds,
 *          the first KVM_RUN exits with KVM_EXIT_INTERNAL_ERROR; restoring
 *          the valid state afterwards lets the guest complete.
 *
 * Completion includes L2's RDMSR(FS_BASE) exiting to L1, i.e. the MSRPM KVM
 * finally merged is L1's real one.  The retry re-applies SREGS before the
 * valid KVM_SET_NESTED_STATE, as a VMM redoing the whole restore would; what
 * the failed ioctl changed in the vCPU's sregs is reported, not checked.  When the VM's debugfs file
 * nested_state_pages exists (kvm-nested) its counts are checked too.
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
#include "svm_util.h"

#define PARAM		"/sys/module/kvm/parameters/defer_nested_state_pages"

/* A legal GPA (below MAXPHYADDR) that no memslot covers. */
#define UNBACKED_GPA	0x80000000ull

#define FS_BASE_BYTE	(0x800 + (MSR_FS_BASE - 0xc0000000) / 4)
#define FS_BASE_RDBIT	(1u << (2 * ((MSR_FS_BASE - 0xc0000000) % 4)))
#define L2_STACK_SIZE	256

enum mode { MODE_STOCK, MODE_EAGER, MODE_LEGACY };
static const char * const mode_name[] = { "stock", "eager", "legacy" };

static void l2_vmmcall(void)
{
	__asm__ __volatile__("push %%rbp; vmmcall; pop %%rbp"
			     : : "a"(0xdeadbeef), "c"(0xbeefdead)
			     : "rbx", "rdx", "rsi", "rdi", "r8", "r9",
			       "r10", "r11", "r12", "r13", "r14", "r15", "memory");
}

static void l2_guest_code(void)
{
	GUEST_SYNC(2);			/* in L2: the host migrates the vCPU here */
	(void)rdmsr(MSR_FS_BASE);	/* L1's MSRPM makes this exit to L1 */
	GUEST_SYNC(4);
	l2_vmmcall();
}

static void l1_guest_code(struct svm_test_data *svm)
{
	unsigned long l2_stack[L2_STACK_SIZE];
	struct vmcb *vmcb = svm->vmcb;
	uint8_t *msrpm = svm->msr;

	generic_svm_setup(svm, l2_guest_code, &l2_stack[L2_STACK_SIZE]);
	vmcb->control.intercept |= 1ull << INTERCEPT_MSR_PROT;
	msrpm[FS_BASE_BYTE] |= FS_BASE_RDBIT;
	GUEST_SYNC(1);

	run_guest(vmcb, svm->vmcb_gpa);
	GUEST_SYNC_ARGS(3, vmcb->control.exit_code, vmcb->control.exit_info_1, 0, 0);
	vmcb->save.rip += 2;		/* skip RDMSR (0f 32); no NRIP save */

	run_guest(vmcb, svm->vmcb_gpa);
	GUEST_SYNC_ARGS(5, vmcb->control.exit_code, 0, 0, 0);
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
		    (c.vmentry < 0 || c.vmentry == vmentry) &&
		    c.failed == failed,
		    "debugfs nested_state_pages %s: expected mode %s rsm 0 set_nested_state %ld legacy_request %ld vmentry %ld failed %ld, got mode %s rsm %ld set_nested_state %ld legacy_request %ld vmentry %ld failed %ld",
		    when, mode, set_nested_state, legacy_request, vmentry, failed,
		    c.mode, c.rsm, c.set_nested_state, c.legacy_request,
		    c.vmentry, c.failed);
}

/* QEMU's order: SREGS, NESTED_STATE, then the rest. */
static void restore_rest(struct kvm_vcpu *vcpu, struct kvm_x86_state *st)
{
	vcpu_regs_set(vcpu, &st->regs);
	vcpu_xsave_set(vcpu, st->xsave);
	if (kvm_has_cap(KVM_CAP_XCRS))
		vcpu_xcrs_set(vcpu, &st->xcrs);
	vcpu_msrs_set(vcpu, &st->msrs);
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
		TEST_ASSERT(uc.args[1] == stage,
			    "expected guest stage %d, got stage %lu", stage,
			    (unsigned long)uc.args[1]);
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
	TEST_ASSERT(uc.args[2] == SVM_EXIT_MSR && uc.args[3] == 0,
		    "L2's RDMSR(FS_BASE): expected an MSR read exit to L1 (exit code 0x%x, info1 0), got exit code 0x%lx info1 0x%lx",
		    SVM_EXIT_MSR, (unsigned long)uc.args[2], (unsigned long)uc.args[3]);
	run_to_stage(vcpu, 4);
	uc = run_to_stage(vcpu, 5);
	TEST_ASSERT(uc.args[2] == SVM_EXIT_VMMCALL,
		    "expected L2's VMMCALL to exit to L1 (0x%x), got exit code 0x%lx",
		    SVM_EXIT_VMMCALL, (unsigned long)uc.args[2]);
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

/* Informational: what a failed KVM_SET_NESTED_STATE left changed. */
static void report_sregs_diff(const struct kvm_sregs *a, const struct kvm_sregs *b)
{
	static const char * const seg[] = { "cs", "ds", "es", "fs", "gs", "ss", "tr", "ldt" };
	const struct kvm_segment *sa = &a->cs, *sb = &b->cs;
	int i;

	for (i = 0; i < 8; i++)
		if (memcmp(&sa[i], &sb[i], sizeof(sa[i])))
			pr_info("note: failed KVM_SET_NESTED_STATE changed %s: base 0x%llx->0x%llx sel 0x%x->0x%x limit 0x%x->0x%x type %u->%u\n",
				seg[i], sa[i].base, sb[i].base, sa[i].selector, sb[i].selector,
				sa[i].limit, sb[i].limit, sa[i].type, sb[i].type);
	if (memcmp(&a->gdt, &b->gdt, sizeof(a->gdt)) || memcmp(&a->idt, &b->idt, sizeof(a->idt)))
		pr_info("note: failed KVM_SET_NESTED_STATE changed gdt/idt: 0x%llx/0x%llx -> 0x%llx/0x%llx\n",
			a->gdt.base, a->idt.base, b->gdt.base, b->idt.base);
	if (a->cr0 != b->cr0 || a->cr2 != b->cr2 || a->cr3 != b->cr3 || a->cr4 != b->cr4 ||
	    a->cr8 != b->cr8 || a->efer != b->efer || a->apic_base != b->apic_base)
		pr_info("note: failed KVM_SET_NESTED_STATE changed control registers: cr0 0x%llx->0x%llx cr2 0x%llx->0x%llx cr3 0x%llx->0x%llx cr4 0x%llx->0x%llx cr8 0x%llx->0x%llx efer 0x%llx->0x%llx apic_base 0x%llx->0x%llx\n",
			a->cr0, b->cr0, a->cr2, b->cr2, a->cr3, b->cr3, a->cr4, b->cr4,
			a->cr8, b->cr8, a->efer, b->efer, a->apic_base, b->apic_base);
	if (memcmp(a->interrupt_bitmap, b->interrupt_bitmap, sizeof(a->interrupt_bitmap)))
		pr_info("note: failed KVM_SET_NESTED_STATE changed the interrupt bitmap\n");
}

int main(int argc, char *argv[])
{
	struct kvm_x86_state *state, *bad;
	struct kvm_sregs sregs_before, sregs_after;
	struct svm_test_data *svm;
	vm_vaddr_t svm_gva;
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;
	struct vmcb *vmcb12;
	size_t state_size;
	enum mode mode;
	const char *np_mode;
	int r;

	TEST_REQUIRE(kvm_cpu_has(X86_FEATURE_SVM));
	TEST_REQUIRE(kvm_has_cap(KVM_CAP_NESTED_STATE));
	mode = read_mode();
	np_mode = mode == MODE_EAGER ? "eager" : "legacy";
	pr_info("mode: %s\n", mode_name[mode]);

	vm = vm_create_with_one_vcpu(&vcpu, l1_guest_code);
	svm = vcpu_alloc_svm(vm, &svm_gva);
	vcpu_args_set(vcpu, 1, svm_gva);

	run_to_stage(vcpu, 1);
	run_to_stage(vcpu, 2);

	state = vcpu_save_state(vcpu);
	TEST_ASSERT(state->nested.format == KVM_STATE_NESTED_FORMAT_SVM &&
		    (state->nested.flags & KVM_STATE_NESTED_GUEST_MODE),
		    "saved nested state: expected SVM format in guest mode, got format %u flags 0x%x",
		    state->nested.format, state->nested.flags);
	vmcb12 = (struct vmcb *)state->nested.data.svm[0].vmcb12;
	TEST_ASSERT(vmcb12->control.msrpm_base_pa == svm->msr_gpa &&
		    (vmcb12->control.intercept & (1ull << INTERCEPT_MSR_PROT)),
		    "saved vmcb12: expected msrpm_base_pa 0x%lx with MSR_PROT intercepted, got 0x%llx, intercepts 0x%llx",
		    (unsigned long)svm->msr_gpa,
		    (unsigned long long)vmcb12->control.msrpm_base_pa,
		    (unsigned long long)vmcb12->control.intercept);

	/* A copy of the state whose MSRPM is nowhere. */
	state_size = sizeof(*state) + state->msrs.nmsrs * sizeof(state->msrs.entries[0]);
	bad = malloc(state_size);
	TEST_ASSERT(bad, "malloc failed");
	memcpy(bad, state, state_size);
	((struct vmcb *)bad->nested.data.svm[0].vmcb12)->control.msrpm_base_pa = UNBACKED_GPA;

	kvm_vm_release(vm);
	vcpu = vm_recreate_with_one_vcpu(vm);

	vcpu_sregs_set(vcpu, &bad->sregs);
	vcpu_sregs_get(vcpu, &sregs_before);
	r = __vcpu_nested_state_set(vcpu, &bad->nested);

	if (mode == MODE_EAGER) {
		TEST_ASSERT(r == -1 && errno == EINVAL,
			    "eager mode, MSRPM at unbacked GPA 0x%llx: expected KVM_SET_NESTED_STATE to fail with EINVAL, got rc %d errno %d",
			    UNBACKED_GPA, r, r ? errno : 0);
		TEST_ASSERT(!in_guest_mode(vcpu),
			    "eager mode: expected the vCPU out of guest mode after the failed KVM_SET_NESTED_STATE");
		vcpu_sregs_get(vcpu, &sregs_after);
		report_sregs_diff(&sregs_before, &sregs_after);
		check_np(vm, "after the failed KVM_SET_NESTED_STATE", np_mode, 1, 0, 0, 1);
	} else {
		TEST_ASSERT(!r, "%s mode: expected KVM_SET_NESTED_STATE with an unbacked MSRPM to succeed (pages are loaded later), got errno %d",
			    mode_name[mode], errno);
		TEST_ASSERT(in_guest_mode(vcpu),
			    "%s mode: expected the vCPU in guest mode after KVM_SET_NESTED_STATE",
			    mode_name[mode]);
		restore_rest(vcpu, bad);
		check_np(vm, "before KVM_RUN", np_mode, 0, 0, 0, 0);
		vcpu_run(vcpu);
		TEST_ASSERT(vcpu->run->exit_reason == KVM_EXIT_INTERNAL_ERROR,
			    "%s mode, MSRPM at unbacked GPA 0x%llx: expected KVM_RUN to exit with KVM_EXIT_INTERNAL_ERROR, got exit reason %u (%s)",
			    mode_name[mode], UNBACKED_GPA, vcpu->run->exit_reason,
			    exit_reason_str(vcpu->run->exit_reason));
		check_np(vm, "after the failed KVM_RUN", np_mode, 0, 1, 0, 1);
	}

	/* Now the real thing, as a VMM retrying the whole restore would. */
	vcpu_sregs_set(vcpu, &state->sregs);
	r = __vcpu_nested_state_set(vcpu, &state->nested);
	TEST_ASSERT(!r, "%s mode: expected KVM_SET_NESTED_STATE of the valid state to succeed after the bad one, got errno %d",
		    mode_name[mode], errno);
	TEST_ASSERT(in_guest_mode(vcpu), "expected the vCPU in guest mode after the valid KVM_SET_NESTED_STATE");
	restore_rest(vcpu, state);
	if (mode == MODE_EAGER)
		check_np(vm, "after the valid restore", np_mode, 2, 0, 0, 1);
	run_to_completion(vcpu);
	if (mode == MODE_EAGER)
		check_np(vm, "at the end", np_mode, 2, 0, 1, 1);
	else
		check_np(vm, "at the end", np_mode, 0, 2, 1, 1);

	free(bad);
	kvm_x86_state_cleanup(state);
	kvm_vm_free(vm);
	return 0;
}
