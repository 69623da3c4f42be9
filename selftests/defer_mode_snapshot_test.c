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
#include "nested_util.h"

#define EVENT		"events/kvm/kvm_nested_state_pages"

static char initial_value;
static char tracefs[64];

/* --- the parameter ------------------------------------------------------ */

static char param_read(void)
{
	char buf[4] = {};
	int fd = open(DEFER_PARAM, O_RDONLY);
	ssize_t n;

	TEST_ASSERT(fd >= 0, "open(%s): errno %d", DEFER_PARAM, errno);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	TEST_ASSERT(n >= 1 && (buf[0] == 'Y' || buf[0] == 'N'),
		    "%s: expected Y or N, got \"%s\"", DEFER_PARAM, buf);
	return buf[0];
}

static void param_set(char v)
{
	int fd = open(DEFER_PARAM, O_WRONLY);

	TEST_ASSERT(fd >= 0, "open(%s, O_WRONLY): errno %d", DEFER_PARAM, errno);
	TEST_ASSERT(write(fd, &v, 1) == 1, "write %c to %s: errno %d", v, DEFER_PARAM, errno);
	close(fd);
	TEST_ASSERT(param_read() == v, "expected %s to read %c after writing it", DEFER_PARAM, v);
}

static void restore_param(void)
{
	int fd;

	if (!initial_value)
		return;
	fd = open(DEFER_PARAM, O_WRONLY);
	if (fd >= 0) {
		if (write(fd, &initial_value, 1) != 1)
			perror("restoring " DEFER_PARAM);
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

/* --- guest ---------------------------------------------------------------- */

/*
 * A fresh VM (created under the parameter's current value) with the memory
 * of a guest that was saved in L2; the state to restore goes to *state.
 */
static struct kvm_vm *fresh_vm_with_l2_state(struct kvm_vcpu **vcpu,
					     struct kvm_x86_state **state)
{
	struct nested_vm n;

	nested_vm_create(&n, &svm_vendor, NULL, 0);
	run_to_stage(n.vcpu, 1);
	run_to_stage(n.vcpu, 2);
	*state = vcpu_save_state(n.vcpu);
	TEST_ASSERT((*state)->nested.flags & KVM_STATE_NESTED_GUEST_MODE,
		    "saved nested state: expected guest mode, got flags 0x%x",
		    (*state)->nested.flags);
	nested_vm_recreate(&n);
	*vcpu = n.vcpu;
	return n.vm;
}

static struct kvm_x86_state *with_unbacked_msrpm(struct kvm_x86_state *st)
{
	struct kvm_x86_state *bad = state_dup(st);

	((struct vmcb *)bad->nested.data.svm[0].vmcb12)->control.msrpm_base_pa = UNBACKED_GPA;
	return bad;
}

/* The whole restore of @st, then the trace and counts it must leave. */
static void restore_traced(struct kvm_vm *vm, struct kvm_vcpu *vcpu, struct kvm_x86_state *st,
			   enum mode mode, const char *what, const char *trace,
			   struct np_want want)
{
	char when[64];

	vcpu_sregs_set(vcpu, &st->sregs);
	vcpu_nested_state_set(vcpu, &st->nested);
	restore_rest(vcpu, st);
	expect_trace(what, trace);
	snprintf(when, sizeof(when), "VM %c after the %s", what[0], strchr(what, ' ') + 1);
	check_np(vm, when, mode, want);
}

/* The guest runs to its end; then the trace and counts it must leave. */
static void finish_traced(struct kvm_vm *vm, struct kvm_vcpu *vcpu, enum mode mode,
			  const char *what, const char *trace, struct np_want want)
{
	char when[64];

	svm_msr_guest_finish(vcpu);
	expect_trace(what, trace);
	snprintf(when, sizeof(when), "VM %c at the end", what[0]);
	check_np(vm, when, mode, want);
}

int main(int argc, char *argv[])
{
	struct kvm_x86_state *state_a, *state_b, *bad_a, *bad_b;
	struct kvm_vcpu *vcpu_a, *vcpu_b;
	struct kvm_vm *vm_a, *vm_b;
	struct stat st;
	int r;

	__TEST_REQUIRE(!stat(DEFER_PARAM, &st),
		       "%s does not exist (stock kvm.ko, not kvm-nested?)", DEFER_PARAM);
	nested_require(&svm_vendor, NEED_NESTED_STATE);

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

	check_np(vm_a, "VM A when created", MODE_EAGER, (struct np_want){});
	check_np(vm_b, "VM B when created", MODE_LEGACY, (struct np_want){});
	param_set('N');
	check_np(vm_b, "VM B after the parameter went back to N", MODE_LEGACY, (struct np_want){});
	param_set('Y');
	check_np(vm_a, "VM A after the parameter went back to Y", MODE_EAGER, (struct np_want){});

	bad_a = with_unbacked_msrpm(state_a);
	bad_b = with_unbacked_msrpm(state_b);

	/* A (eager): the bad state is refused by KVM_SET_NESTED_STATE. */
	vcpu_sregs_set(vcpu_a, &bad_a->sregs);
	r = __vcpu_nested_state_set(vcpu_a, &bad_a->nested);
	TEST_ASSERT(r == -1 && errno == EINVAL,
		    "VM A (eager), MSRPM at unbacked GPA: expected KVM_SET_NESTED_STATE to fail with EINVAL, got rc %d errno %d",
		    r, r ? errno : 0);
	expect_trace("A's bad KVM_SET_NESTED_STATE", "set_nested_state:fail");
	check_np(vm_a, "VM A after the bad KVM_SET_NESTED_STATE", MODE_EAGER,
		 (struct np_want){ .set_nested_state = 1, .failed = 1 });

	restore_traced(vm_a, vcpu_a, state_a, MODE_EAGER, "A's valid restore",
		       "set_nested_state:ok", (struct np_want){ .set_nested_state = 2, .failed = 1 });

	/* B (legacy): the bad state is accepted, KVM_RUN fails. */
	restore_traced(vm_b, vcpu_b, bad_b, MODE_LEGACY, "B's bad restore", "",
		       (struct np_want){});
	vcpu_run(vcpu_b);
	TEST_ASSERT(vcpu_b->run->exit_reason == KVM_EXIT_INTERNAL_ERROR,
		    "VM B (legacy), MSRPM at unbacked GPA: expected KVM_RUN to exit with KVM_EXIT_INTERNAL_ERROR, got exit reason %u (%s)",
		    vcpu_b->run->exit_reason, exit_reason_str(vcpu_b->run->exit_reason));
	expect_trace("B's failed KVM_RUN", "legacy_request:fail");
	check_np(vm_b, "VM B after the failed KVM_RUN", MODE_LEGACY,
		 (struct np_want){ .legacy_request = 1, .failed = 1 });

	restore_traced(vm_b, vcpu_b, state_b, MODE_LEGACY, "B's valid restore", "",
		       (struct np_want){ .legacy_request = 1, .failed = 1 });

	finish_traced(vm_a, vcpu_a, MODE_EAGER, "A's run", "vmentry:ok",
		      (struct np_want){ .set_nested_state = 2, .vmentry = 1, .failed = 1 });
	finish_traced(vm_b, vcpu_b, MODE_LEGACY, "B's run", "legacy_request:ok vmentry:ok",
		      (struct np_want){ .legacy_request = 2, .vmentry = 1, .failed = 1 });

	free(bad_a);
	free(bad_b);
	kvm_x86_state_cleanup(state_a);
	kvm_x86_state_cleanup(state_b);
	kvm_vm_free(vm_a);
	kvm_vm_free(vm_b);
	return 0;
}
