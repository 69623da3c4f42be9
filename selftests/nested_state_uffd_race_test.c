// SPDX-License-Identifier: GPL-2.0-only
/*
 * nested_state_uffd_race_test - a postcopy-like restore of a vCPU in L2
 * whose MSR permission map arrives late, while the VMM changes memslots
 * and another thread uses the same vCPU fd.  Meant for the rig's debug
 * kernel (lockdep, KASAN, DEBUG_ATOMIC_SLEEP: docs/rig.md), where the
 * kernel log must stay silent; on any kernel the guest must complete.
 *
 * As in nested_state_uffd_test, L1's MSRPM is in a memslot of its own,
 * dropped and registered with userfaultfd before the restore.  On the first
 * MSRPM fault (inside KVM_SET_NESTED_STATE in eager mode, inside the first
 * KVM_RUN in legacy mode and on stock KVM) the fault thread holds the page
 * back and starts two threads:
 *
 *   memslots: creates and deletes an unrelated memslot, and turns dirty
 *             logging on and off on the MSRPM's memslot, as QEMU's memory
 *             listener does during a migration; each change waits for the
 *             faulting ioctl to leave kvm->srcu;
 *   vcpu:     KVM_GET_NESTED_STATE and KVM_RUN (immediate_exit) on the same
 *             vCPU fd; both wait for the faulting ioctl's vcpu->mutex.
 *
 * Once both are inside their ioctls (and a while longer), the page is
 * served.  The main thread joins them before it touches the vCPU again.
 * Expected: the faults where nested_state_uffd_test expects them, every
 * ioctl of the two threads succeeds (KVM_RUN with -EINTR), in eager mode
 * the concurrent KVM_GET_NESTED_STATE shows L2 with L1's MSRPM, and the
 * guest completes (L2's RDMSR exits to L1: the MSRPM merged is L1's).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "test_util.h"
#include "kvm_util.h"
#include "processor.h"
#include "svm_util.h"
#include "nested_util.h"

/* L1's MSR permission map: 8 KiB, in a 16 KiB memslot of its own at 1 GiB. */
#define MSRPM_GPA	0x40000000ull
#define MSRPM_SLOT	10
#define MSRPM_PAGES	4
#define MSRPM_SIZE	0x2000
/* The memslot the memslots thread creates and deletes. */
#define EXTRA_GPA	0x50000000ull
#define EXTRA_SLOT	11
/* How long the page is held back once both threads are in their ioctls. */
#define HOLD_MS		300

struct race {
	struct kvm_vm *vm;
	struct kvm_vcpu *vcpu;
	void *msrpm_hva;
	void *extra_hva;
	pthread_t slots_thread, vcpu_thread;
	bool started;
	/* Set by the threads just before their first blocking ioctl. */
	int slots_in, vcpu_in;
	/* Results. */
	int slots_err, get_err, run_ret, run_errno;
	bool get_guest_mode;
	uint64_t get_msrpm;
	double get_wait_ms, slots_wait_ms;
};

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int set_slot(struct kvm_vm *vm, uint32_t slot, uint32_t flags, uint64_t gpa,
		    uint64_t size, void *hva)
{
	struct kvm_userspace_memory_region r = {
		.slot = slot,
		.flags = flags,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (uintptr_t)hva,
	};

	return ioctl(vm->fd, KVM_SET_USER_MEMORY_REGION, &r) ? errno : 0;
}

static void *slots_main(void *arg)
{
	struct race *r = arg;
	uint64_t msrpm_size = MSRPM_PAGES * getpagesize();
	double t0 = now_ms();
	int err;

	__atomic_store_n(&r->slots_in, 1, __ATOMIC_SEQ_CST);
	err = set_slot(r->vm, EXTRA_SLOT, 0, EXTRA_GPA, getpagesize(), r->extra_hva);
	r->slots_wait_ms = now_ms() - t0;
	if (!err)
		err = set_slot(r->vm, MSRPM_SLOT, KVM_MEM_LOG_DIRTY_PAGES, MSRPM_GPA,
			       msrpm_size, r->msrpm_hva);
	if (!err)
		err = set_slot(r->vm, EXTRA_SLOT, 0, EXTRA_GPA, 0, r->extra_hva);
	if (!err)
		err = set_slot(r->vm, MSRPM_SLOT, 0, MSRPM_GPA, msrpm_size, r->msrpm_hva);
	r->slots_err = err;
	return NULL;
}

static void *vcpu_main(void *arg)
{
	struct race *r = arg;
	union {
		struct kvm_nested_state hdr;
		char buf[16384];
	} ns;
	struct vmcb *vmcb12 = (struct vmcb *)ns.hdr.data.svm[0].vmcb12;
	double t0;

	memset(&ns, 0, sizeof(ns));
	ns.hdr.size = sizeof(ns);
	t0 = now_ms();
	__atomic_store_n(&r->vcpu_in, 1, __ATOMIC_SEQ_CST);
	r->get_err = ioctl(r->vcpu->fd, KVM_GET_NESTED_STATE, &ns.hdr) ? errno : 0;
	r->get_wait_ms = now_ms() - t0;
	r->get_guest_mode = ns.hdr.flags & KVM_STATE_NESTED_GUEST_MODE;
	r->get_msrpm = vmcb12->control.msrpm_base_pa;

	r->vcpu->run->immediate_exit = 1;
	r->run_ret = ioctl(r->vcpu->fd, KVM_RUN, NULL);
	r->run_errno = errno;
	r->vcpu->run->immediate_exit = 0;
	return NULL;
}

/* The fault thread: on the first MSRPM fault, start the race and hold. */
static void on_fault(struct uffd_server *s, int phase, int page)
{
	struct race *r = s->arg;
	double t0;

	if (r->started)
		return;
	r->started = true;
	pr_info("first MSRPM fault (page %d) in %s: starting the memslot and vCPU threads\n",
		page, phase_name[phase]);
	TEST_ASSERT(!pthread_create(&r->slots_thread, NULL, slots_main, r),
		    "pthread_create failed");
	TEST_ASSERT(!pthread_create(&r->vcpu_thread, NULL, vcpu_main, r),
		    "pthread_create failed");
	t0 = now_ms();
	while (!__atomic_load_n(&r->slots_in, __ATOMIC_SEQ_CST) ||
	       !__atomic_load_n(&r->vcpu_in, __ATOMIC_SEQ_CST)) {
		TEST_ASSERT(now_ms() - t0 < 60000, "the threads did not start in 60 s");
		usleep(1000);
	}
	usleep(HOLD_MS * 1000);
}

/* After the faulting ioctl: the threads must be done and have succeeded. */
static void join_race(struct race *r, enum mode mode)
{
	TEST_ASSERT(r->started, "%s mode: no MSRPM fault, the race did not happen",
		    mode_name[mode]);
	pthread_join(r->slots_thread, NULL);
	pthread_join(r->vcpu_thread, NULL);
	TEST_ASSERT(!r->slots_err, "memslot change during the fault: errno %d", r->slots_err);
	TEST_ASSERT(!r->get_err, "concurrent KVM_GET_NESTED_STATE: errno %d", r->get_err);
	TEST_ASSERT(r->run_ret == -1 && r->run_errno == EINTR,
		    "concurrent KVM_RUN with immediate_exit: expected -EINTR, got %d (errno %d)",
		    r->run_ret, r->run_errno);
	pr_info("concurrent memslot creation returned after %.0f ms, KVM_GET_NESTED_STATE after %.0f ms\n",
		r->slots_wait_ms, r->get_wait_ms);
	if (mode == MODE_EAGER) {
		TEST_ASSERT(r->get_guest_mode,
			    "eager mode: the concurrent KVM_GET_NESTED_STATE does not show L2");
		TEST_ASSERT(r->get_msrpm == MSRPM_GPA,
			    "eager mode: the concurrent KVM_GET_NESTED_STATE shows msrpm_base_pa 0x%lx, expected 0x%llx",
			    (unsigned long)r->get_msrpm, MSRPM_GPA);
	}
}

int main(int argc, char *argv[])
{
	struct kvm_x86_state *state;
	struct uffd_server srv;
	struct svm_test_data *svm;
	struct race race = {};
	gva_t svm_gva;
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;
	enum mode mode;

	TEST_REQUIRE(kvm_cpu_has(X86_FEATURE_SVM));
	TEST_REQUIRE(kvm_has_cap(KVM_CAP_NESTED_STATE));
	mode = read_mode();
	pr_info("mode: %s\n", mode_name[mode]);

	vm = vm_create_with_one_vcpu(&vcpu, svm_msr_l1_guest_code);
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
	state = save_l2_state(vcpu, KVM_STATE_NESTED_FORMAT_SVM);

	kvm_vm_release(vm);
	vcpu = vm_recreate_with_one_vcpu(vm);

	race.vm = vm;
	race.vcpu = vcpu;
	race.msrpm_hva = addr_gpa2hva(vm, MSRPM_GPA);
	race.extra_hva = mmap(NULL, getpagesize(), PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	TEST_ASSERT(race.extra_hva != MAP_FAILED, "mmap failed");

	/* Demand paging of the MSRPM, the race on its first fault. */
	uffd_start_hook(&srv, race.msrpm_hva, MSRPM_PAGES * getpagesize(), on_fault, &race);
	restore_vcpu_setup(vcpu, state);
	set_phase(PH_SREGS);
	vcpu_sregs_set(vcpu, &state->sregs);
	set_phase(PH_NESTED_STATE);
	vcpu_nested_state_set(vcpu, &state->nested);
	if (mode == MODE_EAGER)
		join_race(&race, mode);
	restore_rest(vcpu, state);

	/*
	 * A bare KVM_RUN: vcpu_run() would complete the I/O of the ucall with
	 * an immediate_exit KVM_RUN of its own, racing with the vCPU thread's
	 * over the flag in the shared kvm_run (legacy and stock modes).
	 */
	set_phase(PH_RUN);
	TEST_ASSERT(!ioctl(vcpu->fd, KVM_RUN, NULL), "KVM_RUN: errno %d", errno);
	if (mode != MODE_EAGER)
		join_race(&race, mode);
	/* That KVM_RUN has already returned at stage 3. */
	expect_msr_exit(&svm_vendor, expect_stage(vcpu, "", 3), "");
	msr_guest_finish_from_4(&svm_vendor, vcpu);
	set_phase(PH_SETUP);
	uffd_stop(&srv);
	TEST_ASSERT(!srv.error, "fault thread failed: %d", srv.error);

	uffd_expect_first(&srv, mode, "MSRPM");

	munmap(race.extra_hva, getpagesize());
	kvm_x86_state_cleanup(state);
	kvm_vm_free(vm);
	return 0;
}
