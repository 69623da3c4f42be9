// SPDX-License-Identifier: GPL-2.0-only
/*
 * vmx_nested_state_uffd_test - nested VMX twin of nested_state_uffd_test:
 * where does a VMM have to serve demand-paging faults on the pages hanging
 * off vmcs12 when it restores a vCPU that is in L2?
 *
 * L1 puts three of them in a memslot of their own: its MSR bitmap (page 0,
 * intercepting RDMSR(FS_BASE)), the virtual-APIC page (page 1, TPR shadow)
 * and the APIC-access page (page 2, virtualize APIC accesses).  L2 reports
 * in, the host saves the vCPU, creates a new VM over the same memory, drops
 * those pages and registers them with userfaultfd (missing mode), then
 * restores in QEMU's order (VMX capability MSRs first, as QEMU sets them at
 * vCPU setup, then SREGS, NESTED_STATE, REGS, XSAVE, XCRS, the other MSRS,
 * VCPU_EVENTS, MP_STATE, DEBUGREGS) and runs.  A fault thread serves the
 * faults with UFFDIO_COPY and notes the step the main thread was in.
 *
 *   eager  (kvm-nested, defer_nested_state_pages=N): all three pages are
 *          faulted in inside KVM_SET_NESTED_STATE, none later;
 *   legacy (=Y) and stock: none before KVM_RUN, all three in the first
 *          KVM_RUN (KVM_REQ_GET_NESTED_STATE_PAGES).
 *
 * The guest must then complete, L2's RDMSR(FS_BASE) exiting to L1 through
 * L1's MSR bitmap.  Debugfs nested_state_pages counts are checked when the
 * file exists.
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
#include "vmx.h"

#define PARAM		"/sys/module/kvm/parameters/defer_nested_state_pages"

#define PAGES_GPA	0x40000000ull
#define PAGES_SLOT	10
#define NR_PAGES	4
#define PG_MSR_BITMAP	0
#define PG_VAPIC	1
#define PG_APIC_ACCESS	2
static const char * const page_name[NR_PAGES] = {
	"MSR bitmap", "virtual-APIC page", "APIC-access page", "spare page",
};
/* VMX MSR bitmap: read bitmap of MSRs 0xc0000000.. at byte 0x400. */
#define FS_BASE_BYTE	(0x400 + (MSR_FS_BASE - 0xc0000000) / 8)
#define FS_BASE_BIT	(1u << ((MSR_FS_BASE - 0xc0000000) % 8))
#define L2_STACK_SIZE	256

enum mode { MODE_STOCK, MODE_EAGER, MODE_LEGACY };
static const char * const mode_name[] = { "stock", "eager", "legacy" };

enum phase {
	PH_SETUP, PH_VCPU_SETUP, PH_SREGS, PH_NESTED_STATE, PH_REGS, PH_XSAVE, PH_XCRS,
	PH_MSRS, PH_EVENTS, PH_MP_STATE, PH_DEBUGREGS, PH_RUN, NR_PHASES
};
static const char * const phase_name[NR_PHASES] = {
	"setup", "KVM_SET_MSRS (VMX capabilities)", "KVM_SET_SREGS", "KVM_SET_NESTED_STATE", "KVM_SET_REGS",
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
	char *base;
	size_t size;
	char *contents;
	pthread_t thread;
	int faults[NR_PHASES][NR_PAGES];	/* written by the fault thread */
	int error;
};

static void l2_guest_code(void)
{
	GUEST_SYNC(2);			/* in L2: the host migrates the vCPU here */
	(void)rdmsr(MSR_FS_BASE);	/* L1's MSR bitmap makes this exit to L1 */
	GUEST_SYNC(4);
	vmcall();
}

static void l1_guest_code(struct vmx_pages *vmx, uint64_t pages)
{
	unsigned long l2_stack[L2_STACK_SIZE];
	uint8_t *msr_bitmap = (uint8_t *)pages + PG_MSR_BITMAP * 4096;

	GUEST_ASSERT(prepare_for_vmx_operation(vmx));
	GUEST_ASSERT(load_vmcs(vmx));
	prepare_vmcs(vmx, l2_guest_code, &l2_stack[L2_STACK_SIZE]);

	msr_bitmap[FS_BASE_BYTE] |= FS_BASE_BIT;
	vmwrite(MSR_BITMAP, pages + PG_MSR_BITMAP * 4096);
	vmwrite(VIRTUAL_APIC_PAGE_ADDR, pages + PG_VAPIC * 4096);
	vmwrite(TPR_THRESHOLD, 0);
	vmwrite(APIC_ACCESS_ADDR, pages + PG_APIC_ACCESS * 4096);
	vmwrite(CPU_BASED_VM_EXEC_CONTROL, vmreadz(CPU_BASED_VM_EXEC_CONTROL) |
		CPU_BASED_USE_MSR_BITMAPS | CPU_BASED_TPR_SHADOW |
		CPU_BASED_ACTIVATE_SECONDARY_CONTROLS);
	vmwrite(SECONDARY_VM_EXEC_CONTROL, vmreadz(SECONDARY_VM_EXEC_CONTROL) |
		SECONDARY_EXEC_VIRTUALIZE_APIC_ACCESSES);
	GUEST_SYNC(1);

	GUEST_ASSERT(!vmlaunch());
	GUEST_SYNC_ARGS(3, vmreadz(VM_EXIT_REASON), vmreadz(GUEST_RIP), 0, 0);
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
		s->faults[phase][off / psize]++;

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

static void uffd_start(struct uffd_server *s, void *base, size_t size)
{
	struct uffdio_register reg = {};
	struct uffdio_api api = {};

	memset(s, 0, sizeof(*s));
	s->base = base;
	s->size = size;
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
		    "madvise(MADV_DONTNEED) of the vmcs12 pages' memslot: errno %d", errno);
	reg.range.start = (unsigned long)base;
	reg.range.len = size;
	reg.mode = UFFDIO_REGISTER_MODE_MISSING;
	TEST_ASSERT(!ioctl(s->uffd, UFFDIO_REGISTER, &reg),
		    "UFFDIO_REGISTER (%p+0x%zx): expected success, got errno %d",
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

static void restore_qemu_order(struct kvm_vcpu *vcpu, struct kvm_x86_state *st)
{
	struct kvm_msrs *caps = msrs_subset(&st->msrs, true);
	struct kvm_msrs *rest = msrs_subset(&st->msrs, false);

	set_phase(PH_VCPU_SETUP);
	vcpu_msrs_set(vcpu, caps);
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
	vcpu_msrs_set(vcpu, rest);
	set_phase(PH_EVENTS);
	vcpu_events_set(vcpu, &st->events);
	set_phase(PH_MP_STATE);
	vcpu_mp_state_set(vcpu, &st->mp_state);
	set_phase(PH_DEBUGREGS);
	vcpu_debugregs_set(vcpu, &st->debugregs);
	free(caps);
	free(rest);
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

int main(int argc, char *argv[])
{
	struct kvm_x86_state *state;
	struct uffd_server srv;
	vm_vaddr_t vmx_gva;
	struct kvm_vcpu *vcpu;
	struct np_counts np;
	struct kvm_vm *vm;
	enum mode mode;
	int ph, pg, expected;

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

	vm = vm_create_with_one_vcpu(&vcpu, l1_guest_code);
	vm_userspace_mem_region_add(vm, VM_MEM_SRC_ANONYMOUS, PAGES_GPA,
				    PAGES_SLOT, NR_PAGES, 0);
	virt_map(vm, PAGES_GPA, PAGES_GPA, NR_PAGES);
	memset(addr_gpa2hva(vm, PAGES_GPA), 0, NR_PAGES * getpagesize());
	vcpu_alloc_vmx(vm, &vmx_gva);
	vcpu_args_set(vcpu, 2, vmx_gva, PAGES_GPA);

	run_to_stage(vcpu, 1);
	run_to_stage(vcpu, 2);

	state = vcpu_save_state(vcpu);
	TEST_ASSERT(state->nested.format == KVM_STATE_NESTED_FORMAT_VMX &&
		    (state->nested.flags & KVM_STATE_NESTED_GUEST_MODE),
		    "saved nested state: expected VMX format in guest mode, got format %u flags 0x%x",
		    state->nested.format, state->nested.flags);

	kvm_vm_release(vm);
	vcpu = vm_recreate_with_one_vcpu(vm);

	uffd_start(&srv, addr_gpa2hva(vm, PAGES_GPA), NR_PAGES * getpagesize());
	restore_qemu_order(vcpu, state);
	set_phase(PH_RUN);
	run_to_completion(vcpu);
	set_phase(PH_SETUP);
	uffd_stop(&srv);
	TEST_ASSERT(!srv.error, "fault thread failed: %d", srv.error);

	for (ph = 0; ph < NR_PHASES; ph++)
		for (pg = 0; pg < NR_PAGES; pg++)
			if (srv.faults[ph][pg])
				pr_info("%s faulted in %s (%d)\n", page_name[pg],
					phase_name[ph], srv.faults[ph][pg]);

	expected = mode == MODE_EAGER ? PH_NESTED_STATE : PH_RUN;
	for (pg = PG_MSR_BITMAP; pg <= PG_APIC_ACCESS; pg++)
		TEST_ASSERT(srv.faults[expected][pg] == 1,
			    "%s mode: expected the %s to be faulted in once inside %s, got %d faults there",
			    mode_name[mode], page_name[pg], phase_name[expected],
			    srv.faults[expected][pg]);
	for (ph = 0; ph < NR_PHASES; ph++)
		for (pg = 0; pg < NR_PAGES; pg++)
			TEST_ASSERT(ph == expected || !srv.faults[ph][pg],
				    "%s mode: expected faults only inside %s, got %d on the %s inside %s",
				    mode_name[mode], phase_name[expected], srv.faults[ph][pg],
				    page_name[pg], phase_name[ph]);

	if (read_np_counts(vm, &np)) {
		const char *want = mode == MODE_EAGER ? "eager" : "legacy";
		long sns = mode == MODE_EAGER ? 1 : 0;

		TEST_ASSERT(!strcmp(np.mode, want) && np.rsm == 0 && np.failed == 0 &&
			    np.set_nested_state == sns && np.legacy_request == 1 - sns &&
			    (np.vmentry < 0 || np.vmentry == 1),
			    "debugfs nested_state_pages: expected mode %s rsm 0 set_nested_state %ld legacy_request %ld vmentry 1 (or none) failed 0, got mode %s rsm %ld set_nested_state %ld legacy_request %ld vmentry %ld failed %ld",
			    want, sns, 1 - sns, np.mode, np.rsm, np.set_nested_state,
			    np.legacy_request, np.vmentry, np.failed);
	} else {
		pr_info("no debugfs nested_state_pages file: counts not checked\n");
	}

	kvm_x86_state_cleanup(state);
	kvm_vm_free(vm);
	return 0;
}
