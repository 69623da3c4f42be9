// SPDX-License-Identifier: GPL-2.0-only
/*
 * defer_mode_snapshot_test - kvm.defer_nested_state_pages is sampled per VM
 * when the VM is created, and the per-VM debugfs file nested_state_pages
 * and the kvm:kvm_nested_state_pages tracepoint account what each VM did.
 *
 * With the parameter N the test makes VM A, with Y VM B; each is a fresh VM
 * into which a vCPU saved in L2 (nested SVM, L1 intercepting RDMSR(FS_BASE)
 * through its MSR permission map) is about to be restored.  Then:
 *
 *   - debugfs: A says "mode: eager", B "mode: legacy", all counts 0, and
 *     flipping the parameter again changes neither;
 *   - both get a nested state whose msrpm_base_pa is an unbacked GPA: A's
 *     KVM_SET_NESTED_STATE fails with EINVAL (one failed set_nested_state
 *     load), B's succeeds and its KVM_RUN exits with KVM_EXIT_INTERNAL_ERROR
 *     (one failed legacy_request load);
 *   - both then get the valid state and run to completion: A counts a
 *     second set_nested_state load, B a second legacy_request load, and each
 *     one vmentry load (L1's VMRUN after L2's MSR exit).
 *
 * At every step the tracepoint events of this process must be exactly the
 * loads expected (reason, success or failure, vCPU 0), and the debugfs
 * counts must match: per-reason counts count every attempt, "failed" the
 * failures of any reason; the vmentry line is optional (VM-entry loads may
 * be traced without being counted).
 * The parameter's value at start is restored on exit.
 *
 * kvm-nested only: skips when the parameter does not exist (stock kvm.ko).
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
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test_util.h"
#include "kvm_util.h"
#include "processor.h"
#include "svm_util.h"

#define PARAM		"/sys/module/kvm/parameters/defer_nested_state_pages"
#define EVENT		"events/kvm/kvm_nested_state_pages"

#define UNBACKED_GPA	0x80000000ull
#define FS_BASE_BYTE	(0x800 + (MSR_FS_BASE - 0xc0000000) / 4)
#define FS_BASE_RDBIT	(1u << (2 * ((MSR_FS_BASE - 0xc0000000) % 4)))
#define L2_STACK_SIZE	256

static char initial_value;
static char tracefs[64];

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

/* --- the parameter ------------------------------------------------------ */

static char param_read(void)
{
	char buf[4] = {};
	int fd = open(PARAM, O_RDONLY);
	ssize_t n;

	TEST_ASSERT(fd >= 0, "open(%s): errno %d", PARAM, errno);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	TEST_ASSERT(n >= 1 && (buf[0] == 'Y' || buf[0] == 'N'),
		    "%s: expected Y or N, got \"%s\"", PARAM, buf);
	return buf[0];
}

static void param_set(char v)
{
	int fd = open(PARAM, O_WRONLY);

	TEST_ASSERT(fd >= 0, "open(%s, O_WRONLY): errno %d", PARAM, errno);
	TEST_ASSERT(write(fd, &v, 1) == 1, "write %c to %s: errno %d", v, PARAM, errno);
	close(fd);
	TEST_ASSERT(param_read() == v, "expected %s to read %c after writing it", PARAM, v);
}

static void restore_param(void)
{
	int fd;

	if (!initial_value)
		return;
	fd = open(PARAM, O_WRONLY);
	if (fd >= 0) {
		if (write(fd, &initial_value, 1) != 1)
			perror("restoring " PARAM);
		close(fd);
	}
}

/* --- tracefs -------------------------------------------------------------- */

static void write_file(const char *path, const char *s, int flags)
{
	int fd = open(path, O_WRONLY | flags);

	TEST_ASSERT(fd >= 0, "open(%s): errno %d", path, errno);
	TEST_ASSERT(write(fd, s, strlen(s)) == (ssize_t)strlen(s),
		    "write \"%s\" to %s: errno %d", s, path, errno);
	close(fd);
}

static void trace_setup(void)
{
	static const char * const roots[] = { "/sys/kernel/tracing", "/sys/kernel/debug/tracing" };
	char path[160];
	struct stat st;
	int i;

	for (i = 0; i < 2 && !tracefs[0]; i++) {
		snprintf(path, sizeof(path), "%s/" EVENT "/enable", roots[i]);
		if (!stat(path, &st))
			strcpy(tracefs, roots[i]);
	}
	if (!tracefs[0] && !mount("tracefs", roots[0], "tracefs", 0, NULL)) {
		snprintf(path, sizeof(path), "%s/" EVENT "/enable", roots[0]);
		if (!stat(path, &st))
			strcpy(tracefs, roots[0]);
	}
	TEST_ASSERT(tracefs[0], "expected the tracepoint kvm:kvm_nested_state_pages (" EVENT "/enable under /sys/kernel/tracing or /sys/kernel/debug/tracing)");

	snprintf(path, sizeof(path), "%s/" EVENT "/enable", tracefs);
	write_file(path, "1", 0);
	snprintf(path, sizeof(path), "%s/tracing_on", tracefs);
	write_file(path, "1", 0);
	snprintf(path, sizeof(path), "%s/trace", tracefs);
	write_file(path, "", O_TRUNC);
}

static void trace_teardown(void)
{
	char path[160];
	int fd;

	if (!tracefs[0])
		return;
	snprintf(path, sizeof(path), "%s/" EVENT "/enable", tracefs);
	fd = open(path, O_WRONLY);
	if (fd >= 0) {
		if (write(fd, "0", 1) != 1)
			perror(path);
		close(fd);
	}
}

/*
 * The events of this process not seen yet, as "reason:ok|fail" words joined
 * by spaces; every event must be for vCPU 0.
 */
static int trace_seen;

static void trace_new(char *out, size_t size)
{
	char path[160], *line = NULL, *p, *q;
	size_t cap = 0;
	int n = 0;
	FILE *f;

	out[0] = 0;
	snprintf(path, sizeof(path), "%s/trace", tracefs);
	f = fopen(path, "r");
	TEST_ASSERT(f, "fopen(%s): errno %d", path, errno);
	while (getline(&line, &cap, f) > 0) {
		char reason[32];
		unsigned int vcpu;
		long pid;
		int result;

		if (line[0] == '#')
			continue;
		p = strstr(line, "kvm_nested_state_pages: ");
		q = strstr(line, " [");
		if (!p || !q)
			continue;
		/* "<comm>-<pid>  [cpu] ...": the pid ends before the blanks. */
		while (q > line && q[-1] == ' ')
			q--;
		while (q > line && q[-1] >= '0' && q[-1] <= '9')
			q--;
		pid = strtol(q, NULL, 10);
		if (pid != getpid())
			continue;
		TEST_ASSERT(sscanf(p, "kvm_nested_state_pages: vcpu %u reason %31s result %d",
				   &vcpu, reason, &result) == 3,
			    "cannot parse trace line \"%s\": expected \"vcpu N reason R result E\"",
			    line);
		if (n++ < trace_seen)
			continue;
		TEST_ASSERT(vcpu == 0, "trace: expected vcpu 0, got %u in \"%s\"", vcpu, line);
		snprintf(out + strlen(out), size - strlen(out), "%s%s:%s",
			 out[0] ? " " : "", reason, result ? "fail" : "ok");
		TEST_ASSERT(result <= 0, "trace: expected result 0 or -errno, got %d", result);
	}
	free(line);
	fclose(f);
	trace_seen = n;
}

static void expect_trace(const char *when, const char *expected)
{
	char got[512];

	trace_new(got, sizeof(got));
	TEST_ASSERT(!strcmp(got, expected),
		    "%s: expected the tracepoint events \"%s\", got \"%s\"",
		    when, expected, got);
}

/* --- debugfs -------------------------------------------------------------- */

struct np_counts {
	char mode[16];
	long rsm, set_nested_state, vmentry, legacy_request, failed;
};

static void expect_np(struct kvm_vm *vm, const char *who, const char *when,
		      const char *mode, long set_nested_state, long legacy_request,
		      long vmentry, long failed)
{
	char path[128], line[128];
	struct np_counts c = { .vmentry = -1 };
	int seen = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/kernel/debug/kvm/%d-%d/nested_state_pages",
		 getpid(), vm->fd);
	f = fopen(path, "r");
	TEST_ASSERT(f, "%s: expected the debugfs file %s, errno %d", who, path, errno);
	while (fgets(line, sizeof(line), f)) {
		seen += sscanf(line, "mode: %15s", c.mode);
		seen += sscanf(line, "rsm: %ld", &c.rsm);
		seen += sscanf(line, "set_nested_state: %ld", &c.set_nested_state);
		sscanf(line, "vmentry: %ld", &c.vmentry);	/* optional */
		seen += sscanf(line, "legacy_request: %ld", &c.legacy_request);
		seen += sscanf(line, "failed: %ld", &c.failed);
	}
	fclose(f);
	TEST_ASSERT(seen == 5, "%s: expected the lines mode, rsm, set_nested_state, legacy_request, failed (and optionally vmentry), parsed %d of them",
		    path, seen);
	TEST_ASSERT(!strcmp(c.mode, mode) && c.rsm == 0 &&
		    c.set_nested_state == set_nested_state &&
		    c.legacy_request == legacy_request &&
		    (c.vmentry < 0 || c.vmentry == vmentry) &&
		    c.failed == failed,
		    "VM %s %s: expected mode %s rsm 0 set_nested_state %ld legacy_request %ld vmentry %ld failed %ld, got mode %s rsm %ld set_nested_state %ld legacy_request %ld vmentry %ld failed %ld",
		    who, when, mode, set_nested_state, legacy_request, vmentry, failed,
		    c.mode, c.rsm, c.set_nested_state, c.legacy_request, c.vmentry,
		    c.failed);
}

/* --- guest ---------------------------------------------------------------- */

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
	TEST_ASSERT(uc.args[2] == SVM_EXIT_MSR && uc.args[3] == 0,
		    "L2's RDMSR(FS_BASE): expected an MSR read exit to L1 (0x%x), got exit code 0x%lx info1 0x%lx",
		    SVM_EXIT_MSR, (unsigned long)uc.args[2], (unsigned long)uc.args[3]);
	run_to_stage(vcpu, 4);
	uc = run_to_stage(vcpu, 5);
	TEST_ASSERT(uc.args[2] == SVM_EXIT_VMMCALL,
		    "expected L2's VMMCALL to exit to L1 (0x%x), got exit code 0x%lx",
		    SVM_EXIT_VMMCALL, (unsigned long)uc.args[2]);
	run_to_stage(vcpu, 0);
}

/*
 * A fresh VM (created under the parameter's current value) with the memory
 * of a guest that was saved in L2; the state to restore goes to *state.
 */
static struct kvm_vm *fresh_vm_with_l2_state(struct kvm_vcpu **vcpu,
					     struct kvm_x86_state **state)
{
	vm_vaddr_t svm_gva;
	struct kvm_vm *vm;

	vm = vm_create_with_one_vcpu(vcpu, l1_guest_code);
	vcpu_alloc_svm(vm, &svm_gva);
	vcpu_args_set(*vcpu, 1, svm_gva);
	run_to_stage(*vcpu, 1);
	run_to_stage(*vcpu, 2);
	*state = vcpu_save_state(*vcpu);
	TEST_ASSERT((*state)->nested.flags & KVM_STATE_NESTED_GUEST_MODE,
		    "saved nested state: expected guest mode, got flags 0x%x",
		    (*state)->nested.flags);
	kvm_vm_release(vm);
	*vcpu = vm_recreate_with_one_vcpu(vm);
	return vm;
}

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

static struct kvm_x86_state *with_unbacked_msrpm(struct kvm_x86_state *st)
{
	size_t size = sizeof(*st) + st->msrs.nmsrs * sizeof(st->msrs.entries[0]);
	struct kvm_x86_state *bad = malloc(size);

	TEST_ASSERT(bad, "malloc failed");
	memcpy(bad, st, size);
	((struct vmcb *)bad->nested.data.svm[0].vmcb12)->control.msrpm_base_pa = UNBACKED_GPA;
	return bad;
}

int main(int argc, char *argv[])
{
	struct kvm_x86_state *state_a, *state_b, *bad_a, *bad_b;
	struct kvm_vcpu *vcpu_a, *vcpu_b;
	struct kvm_vm *vm_a, *vm_b;
	struct stat st;
	int r;

	__TEST_REQUIRE(!stat(PARAM, &st),
		       "%s does not exist (stock kvm.ko, not kvm-nested?)", PARAM);
	TEST_REQUIRE(kvm_cpu_has(X86_FEATURE_SVM));
	TEST_REQUIRE(kvm_has_cap(KVM_CAP_NESTED_STATE));

	initial_value = param_read();
	atexit(restore_param);
	trace_setup();
	atexit(trace_teardown);

	/* Each source VM's L1 entered L2 once: one vmentry load each. */
	param_set('N');
	vm_a = fresh_vm_with_l2_state(&vcpu_a, &state_a);
	param_set('Y');
	vm_b = fresh_vm_with_l2_state(&vcpu_b, &state_b);
	expect_trace("the two source VMs", "vmentry:ok vmentry:ok");

	expect_np(vm_a, "A", "when created", "eager", 0, 0, 0, 0);
	expect_np(vm_b, "B", "when created", "legacy", 0, 0, 0, 0);
	param_set('N');
	expect_np(vm_b, "B", "after the parameter went back to N", "legacy", 0, 0, 0, 0);
	param_set('Y');
	expect_np(vm_a, "A", "after the parameter went back to Y", "eager", 0, 0, 0, 0);

	bad_a = with_unbacked_msrpm(state_a);
	bad_b = with_unbacked_msrpm(state_b);

	/* A (eager): the bad state is refused by KVM_SET_NESTED_STATE. */
	vcpu_sregs_set(vcpu_a, &bad_a->sregs);
	r = __vcpu_nested_state_set(vcpu_a, &bad_a->nested);
	TEST_ASSERT(r == -1 && errno == EINVAL,
		    "VM A (eager), MSRPM at unbacked GPA: expected KVM_SET_NESTED_STATE to fail with EINVAL, got rc %d errno %d",
		    r, r ? errno : 0);
	expect_trace("A's bad KVM_SET_NESTED_STATE", "set_nested_state:fail");
	expect_np(vm_a, "A", "after the bad KVM_SET_NESTED_STATE", "eager", 1, 0, 0, 1);

	vcpu_sregs_set(vcpu_a, &state_a->sregs);
	vcpu_nested_state_set(vcpu_a, &state_a->nested);
	restore_rest(vcpu_a, state_a);
	expect_trace("A's valid restore", "set_nested_state:ok");
	expect_np(vm_a, "A", "after the valid restore", "eager", 2, 0, 0, 1);

	/* B (legacy): the bad state is accepted, KVM_RUN fails. */
	vcpu_sregs_set(vcpu_b, &bad_b->sregs);
	vcpu_nested_state_set(vcpu_b, &bad_b->nested);
	restore_rest(vcpu_b, bad_b);
	expect_trace("B's bad restore", "");
	expect_np(vm_b, "B", "after the bad restore", "legacy", 0, 0, 0, 0);
	vcpu_run(vcpu_b);
	TEST_ASSERT(vcpu_b->run->exit_reason == KVM_EXIT_INTERNAL_ERROR,
		    "VM B (legacy), MSRPM at unbacked GPA: expected KVM_RUN to exit with KVM_EXIT_INTERNAL_ERROR, got exit reason %u (%s)",
		    vcpu_b->run->exit_reason, exit_reason_str(vcpu_b->run->exit_reason));
	expect_trace("B's failed KVM_RUN", "legacy_request:fail");
	expect_np(vm_b, "B", "after the failed KVM_RUN", "legacy", 0, 1, 0, 1);

	vcpu_sregs_set(vcpu_b, &state_b->sregs);
	vcpu_nested_state_set(vcpu_b, &state_b->nested);
	restore_rest(vcpu_b, state_b);
	expect_trace("B's valid restore", "");
	expect_np(vm_b, "B", "after the valid restore", "legacy", 0, 1, 0, 1);

	run_to_completion(vcpu_a);
	expect_trace("A's run", "vmentry:ok");
	expect_np(vm_a, "A", "at the end", "eager", 2, 0, 1, 1);

	run_to_completion(vcpu_b);
	expect_trace("B's run", "legacy_request:ok vmentry:ok");
	expect_np(vm_b, "B", "at the end", "legacy", 0, 2, 1, 1);

	free(bad_a);
	free(bad_b);
	kvm_x86_state_cleanup(state_a);
	kvm_x86_state_cleanup(state_b);
	kvm_vm_free(vm_a);
	kvm_vm_free(vm_b);
	return 0;
}
