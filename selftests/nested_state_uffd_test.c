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
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/userfaultfd.h>

#include "test_util.h"
#include "kvm_util.h"
#include "processor.h"
#include "svm_util.h"

#define PARAM		"/sys/module/kvm/parameters/defer_nested_state_pages"

/* L1's MSR permission map: 8 KiB, in a 16 KiB memslot of its own at 1 GiB. */
#define MSRPM_GPA	0x40000000ull
#define MSRPM_SLOT	10
#define MSRPM_PAGES	4
#define MSRPM_SIZE	0x2000
/* MSRPM bit pair of MSR 0xc0000000 + n: byte 0x800 + n / 4, read bit 2 * (n % 4). */
#define FS_BASE_BYTE	(0x800 + (MSR_FS_BASE - 0xc0000000) / 4)
#define FS_BASE_RDBIT	(1u << (2 * ((MSR_FS_BASE - 0xc0000000) % 4)))

#define L2_STACK_SIZE	256

enum mode { MODE_STOCK, MODE_EAGER, MODE_LEGACY };
static const char * const mode_name[] = { "stock", "eager", "legacy" };

/* Where the main thread is; read by the fault thread. */
enum phase {
	PH_SETUP, PH_SREGS, PH_NESTED_STATE, PH_REGS, PH_XSAVE, PH_XCRS,
	PH_MSRS, PH_EVENTS, PH_MP_STATE, PH_DEBUGREGS, PH_RUN, NR_PHASES
};
static const char * const phase_name[NR_PHASES] = {
	"setup", "KVM_SET_SREGS", "KVM_SET_NESTED_STATE", "KVM_SET_REGS",
	"KVM_SET_XSAVE", "KVM_SET_XCRS", "KVM_SET_MSRS", "KVM_SET_VCPU_EVENTS",
	"KVM_SET_MP_STATE", "KVM_SET_DEBUGREGS", "KVM_RUN",
};

static int cur_phase = PH_SETUP;

static void set_phase(enum phase p)
{
	__atomic_store_n(&cur_phase, p, __ATOMIC_SEQ_CST);
}

struct uffd_server {
	int uffd;
	int stop[2];
	char *base;		/* registered range (host) */
	size_t size;
	char *contents;		/* what the pages held before they were dropped */
	pthread_t thread;
	/* Results, written by the fault thread only. */
	int faults[NR_PHASES];
	int first_phase;
	unsigned long max_offset;
	int error;
};

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
	GUEST_SYNC_ARGS(3, vmcb->control.exit_code, vmcb->control.exit_info_1,
			vmcb->save.rip, 0);
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

/* The VM's nested_state_pages debugfs file; false if there is none. */
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

static void *fault_thread(void *arg)
{
	struct uffd_server *s = arg;
	struct pollfd pfd[2] = {
		{ .fd = s->uffd, .events = POLLIN },
		{ .fd = s->stop[0], .events = POLLIN },
	};
	long psize = getpagesize();

	for (;;) {
		struct uffdio_copy copy;
		struct uffd_msg msg;
		unsigned long off;
		int phase;

		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			s->error = errno;
			return NULL;
		}
		if (pfd[1].revents)
			return NULL;
		if (read(s->uffd, &msg, sizeof(msg)) != sizeof(msg)) {
			if (errno == EAGAIN)
				continue;
			s->error = errno;
			return NULL;
		}
		if (msg.event != UFFD_EVENT_PAGEFAULT) {
			s->error = -(int)msg.event;
			return NULL;
		}

		phase = __atomic_load_n(&cur_phase, __ATOMIC_SEQ_CST);
		off = (msg.arg.pagefault.address - (unsigned long)s->base) & ~(psize - 1);
		s->faults[phase]++;
		if (s->first_phase < 0)
			s->first_phase = phase;
		if (off > s->max_offset)
			s->max_offset = off;

		copy.dst = (unsigned long)s->base + off;
		copy.src = (unsigned long)s->contents + off;
		copy.len = psize;
		copy.mode = 0;
		copy.copy = 0;
		if (ioctl(s->uffd, UFFDIO_COPY, &copy) && errno != EEXIST) {
			s->error = errno;
			return NULL;
		}
	}
}

/*
 * Drop the pages of [base, base + size) and have faults on them served with
 * their current contents by a new thread.
 */
static void uffd_start(struct uffd_server *s, void *base, size_t size)
{
	struct uffdio_register reg = {};
	struct uffdio_api api = {};

	memset(s, 0, sizeof(*s));
	s->base = base;
	s->size = size;
	s->first_phase = -1;
	s->contents = malloc(size);
	TEST_ASSERT(s->contents, "malloc(%zu) failed", size);
	memcpy(s->contents, base, size);

	s->uffd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	__TEST_REQUIRE(s->uffd >= 0, "userfaultfd() failed with errno %d (no CONFIG_USERFAULTFD, or not root?)",
		       errno);
	api.api = UFFD_API;
	TEST_ASSERT(!ioctl(s->uffd, UFFDIO_API, &api),
		    "UFFDIO_API: expected success, got errno %d", errno);

	TEST_ASSERT(!madvise(base, size, MADV_DONTNEED),
		    "madvise(MADV_DONTNEED) of the MSRPM memslot: errno %d", errno);
	reg.range.start = (unsigned long)base;
	reg.range.len = size;
	reg.mode = UFFDIO_REGISTER_MODE_MISSING;
	TEST_ASSERT(!ioctl(s->uffd, UFFDIO_REGISTER, &reg),
		    "UFFDIO_REGISTER of the MSRPM memslot (%p+0x%zx): expected success, got errno %d",
		    base, size, errno);
	TEST_ASSERT(reg.ioctls & (1ull << _UFFDIO_COPY),
		    "UFFDIO_REGISTER: expected UFFDIO_COPY to be available");

	TEST_ASSERT(!pipe(s->stop), "pipe: errno %d", errno);
	TEST_ASSERT(!pthread_create(&s->thread, NULL, fault_thread, s),
		    "pthread_create failed");
}

static void uffd_stop(struct uffd_server *s)
{
	struct uffdio_range range = {
		.start = (unsigned long)s->base,
		.len = s->size,
	};

	TEST_ASSERT(write(s->stop[1], "x", 1) == 1, "write to stop pipe: errno %d", errno);
	pthread_join(s->thread, NULL);
	TEST_ASSERT(!ioctl(s->uffd, UFFDIO_UNREGISTER, &range),
		    "UFFDIO_UNREGISTER: errno %d", errno);
	close(s->uffd);
	close(s->stop[0]);
	close(s->stop[1]);
	free(s->contents);
}

/* Restore @st the way QEMU's kvm_arch_put_registers() orders the ioctls. */
static void restore_qemu_order(struct kvm_vcpu *vcpu, struct kvm_x86_state *st)
{
	set_phase(PH_SREGS);
	vcpu_sregs_set(vcpu, &st->sregs);
	set_phase(PH_NESTED_STATE);
	vcpu_nested_state_set(vcpu, &st->nested);
	set_phase(PH_REGS);
	vcpu_regs_set(vcpu, &st->regs);
	set_phase(PH_XSAVE);
	vcpu_xsave_set(vcpu, st->xsave);
	if (kvm_has_cap(KVM_CAP_XCRS)) {
		set_phase(PH_XCRS);
		vcpu_xcrs_set(vcpu, &st->xcrs);
	}
	set_phase(PH_MSRS);
	vcpu_msrs_set(vcpu, &st->msrs);
	set_phase(PH_EVENTS);
	vcpu_events_set(vcpu, &st->events);
	set_phase(PH_MP_STATE);
	vcpu_mp_state_set(vcpu, &st->mp_state);
	set_phase(PH_DEBUGREGS);
	vcpu_debugregs_set(vcpu, &st->debugregs);
}

/* Run to the next GUEST_SYNC, which must be @stage; returns the ucall. */
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

/* The rest of the guest's life after the restore: checks the MSRPM works. */
static void run_to_completion(struct kvm_vcpu *vcpu)
{
	struct ucall uc;

	uc = run_to_stage(vcpu, 3);
	TEST_ASSERT(uc.args[2] == SVM_EXIT_MSR && uc.args[3] == 0,
		    "L2's RDMSR(FS_BASE): expected an MSR read exit to L1 (exit code 0x%x, info1 0), got exit code 0x%lx info1 0x%lx: the MSRPM KVM merged is not L1's",
		    SVM_EXIT_MSR, (unsigned long)uc.args[2], (unsigned long)uc.args[3]);
	run_to_stage(vcpu, 4);
	uc = run_to_stage(vcpu, 5);
	TEST_ASSERT(uc.args[2] == SVM_EXIT_VMMCALL,
		    "expected L2's VMMCALL to exit to L1 (0x%x), got exit code 0x%lx",
		    SVM_EXIT_VMMCALL, (unsigned long)uc.args[2]);
	run_to_stage(vcpu, 0);
}

int main(int argc, char *argv[])
{
	struct kvm_x86_state *state;
	struct uffd_server srv;
	struct svm_test_data *svm;
	vm_vaddr_t svm_gva;
	struct kvm_vcpu *vcpu;
	struct np_counts np;
	struct kvm_vm *vm;
	struct vmcb *vmcb12;
	enum mode mode;
	int i, expected;

	TEST_REQUIRE(kvm_cpu_has(X86_FEATURE_SVM));
	TEST_REQUIRE(kvm_has_cap(KVM_CAP_NESTED_STATE));
	mode = read_mode();
	pr_info("mode: %s\n", mode_name[mode]);

	vm = vm_create_with_one_vcpu(&vcpu, l1_guest_code);
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

	state = vcpu_save_state(vcpu);
	TEST_ASSERT(state->nested.format == KVM_STATE_NESTED_FORMAT_SVM &&
		    (state->nested.flags & KVM_STATE_NESTED_GUEST_MODE),
		    "saved nested state: expected SVM format in guest mode, got format %u flags 0x%x",
		    state->nested.format, state->nested.flags);
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
	run_to_completion(vcpu);
	set_phase(PH_SETUP);
	uffd_stop(&srv);
	TEST_ASSERT(!srv.error, "fault thread failed: %d", srv.error);

	for (i = 0; i < NR_PHASES; i++)
		if (srv.faults[i])
			pr_info("MSRPM faults in %s: %d\n", phase_name[i], srv.faults[i]);

	expected = mode == MODE_EAGER ? PH_NESTED_STATE : PH_RUN;
	TEST_ASSERT(srv.first_phase == expected,
		    "%s mode: expected the first MSRPM fault in %s, got %s",
		    mode_name[mode], phase_name[expected],
		    srv.first_phase < 0 ? "none" : phase_name[srv.first_phase]);
	for (i = 0; i < NR_PHASES; i++)
		TEST_ASSERT(i == expected || !srv.faults[i],
			    "%s mode: expected MSRPM faults only in %s, got %d in %s",
			    mode_name[mode], phase_name[expected], srv.faults[i],
			    phase_name[i]);
	TEST_ASSERT(srv.max_offset < MSRPM_SIZE,
		    "expected faults only on the 8 KiB MSRPM, got one at offset 0x%lx",
		    srv.max_offset);

	if (read_np_counts(vm, &np)) {
		const char *want = mode == MODE_EAGER ? "eager" : "legacy";

		TEST_ASSERT(!strcmp(np.mode, want),
			    "debugfs nested_state_pages: expected mode %s, got %s", want, np.mode);
		TEST_ASSERT(np.failed == 0, "debugfs: expected failed 0, got %ld", np.failed);
		TEST_ASSERT(np.rsm == 0, "debugfs: expected rsm 0, got %ld", np.rsm);
		if (mode == MODE_EAGER)
			TEST_ASSERT(np.set_nested_state == 1 && np.legacy_request == 0,
				    "debugfs (eager): expected set_nested_state 1, legacy_request 0; got %ld, %ld",
				    np.set_nested_state, np.legacy_request);
		else
			TEST_ASSERT(np.set_nested_state == 0 && np.legacy_request == 1,
				    "debugfs (legacy): expected set_nested_state 0, legacy_request 1; got %ld, %ld",
				    np.set_nested_state, np.legacy_request);
		/* L1 entered L2 once after the restore (after the MSR exit). */
		TEST_ASSERT(np.vmentry < 0 || np.vmentry == 1,
			    "debugfs: expected vmentry 1 (or no vmentry line), got %ld", np.vmentry);
	} else {
		pr_info("no debugfs nested_state_pages file: counts not checked\n");
	}

	kvm_x86_state_cleanup(state);
	kvm_vm_free(vm);
	return 0;
}
