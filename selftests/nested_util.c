// SPDX-License-Identifier: GPL-2.0-only
/*
 * nested_util.c - helpers shared by kvm-nested's selftests (nested_util.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
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
#include "vmx.h"
#include "nested_util.h"

const char * const mode_name[] = { "stock", "eager", "legacy" };

const char * const phase_name[NR_PHASES] = {
	"setup", "KVM_SET_MSRS (VMX capabilities)", "KVM_SET_SREGS",
	"KVM_SET_NESTED_STATE", "KVM_SET_REGS", "KVM_SET_XSAVE", "KVM_SET_XCRS",
	"KVM_SET_MSRS", "KVM_SET_VCPU_EVENTS", "KVM_SET_MP_STATE",
	"KVM_SET_DEBUGREGS", "KVM_RUN",
};

static int cur_phase = PH_SETUP;

uint8_t *smram_setup(struct kvm_vm *vm, struct kvm_vcpu *vcpu)
{
	uint8_t *smram;

	vm_userspace_mem_region_add(vm, VM_MEM_SRC_ANONYMOUS, SMRAM_GPA,
				    SMRAM_MEMSLOT, SMRAM_PAGES, 0);
	TEST_ASSERT(vm_phy_pages_alloc(vm, SMRAM_PAGES, SMRAM_GPA, SMRAM_MEMSLOT) == SMRAM_GPA,
		    "could not allocate the SMRAM guest-physical pages");
	smram = addr_gpa2hva(vm, SMRAM_GPA);
	memset(smram, 0, SMRAM_SIZE);
	vcpu_set_msr(vcpu, MSR_IA32_SMBASE, SMRAM_GPA);
	return smram;
}

void smm_ram_alias(struct kvm_vm *vm, uint64_t gpa, const char *what)
{
	struct userspace_mem_region *ram = memslot2region(vm, 0);
	struct kvm_userspace_memory_region alias;
	uint64_t end = ram->region.guest_phys_addr + ram->region.memory_size;

	TEST_ASSERT(end <= SMRAM_GPA, "slot 0 (0x%llx+0x%llx) overlaps SMRAM at 0x%llx",
		    (unsigned long long)ram->region.guest_phys_addr,
		    (unsigned long long)ram->region.memory_size, SMRAM_GPA);
	TEST_ASSERT(gpa >= ram->region.guest_phys_addr && gpa + 4096 <= end &&
		    gpa + 4096 <= 0x100000000ull,
		    "%s at 0x%lx: expected it in slot 0, below 4 GiB", what, (unsigned long)gpa);
	alias = (struct kvm_userspace_memory_region) {
		.slot = SMM_RAM_ALIAS,
		.guest_phys_addr = ram->region.guest_phys_addr,
		.memory_size = ram->region.memory_size,
		.userspace_addr = ram->region.userspace_addr,
	};
	TEST_ASSERT(!ioctl(vm->fd, KVM_SET_USER_MEMORY_REGION, &alias),
		    "KVM_SET_USER_MEMORY_REGION of RAM into the SMM address space: expected success, got errno %d",
		    errno);
}

void run_to_smi_handler(struct kvm_vcpu *vcpu, const char *what)
{
	struct kvm_run *run = vcpu->run;
	struct kvm_vcpu_events events;
	struct kvm_regs regs;

	vcpu_ioctl(vcpu, KVM_SMI, NULL);
	vcpu_run(vcpu);
	vcpu_regs_get(vcpu, &regs);
	TEST_ASSERT(run->exit_reason == KVM_EXIT_IO && run->io.port == SMI_SYNC_PORT &&
		    (regs.rax & 0xff) == SMI_SYNC_AL,
		    "%s: after KVM_SMI: expected the SMI handler's IN from port 0x%x with al 0x%x, got exit reason %u (%s) port 0x%x al 0x%llx",
		    what, SMI_SYNC_PORT, SMI_SYNC_AL, run->exit_reason,
		    exit_reason_str(run->exit_reason), run->io.port, regs.rax & 0xff);
	vcpu_events_get(vcpu, &events);
	TEST_ASSERT(events.smi.smm, "%s: expected the vCPU in SMM in the SMI handler", what);
}

/*
 *   66 b8 <addr32> 66 bb <val32> 67 66 89 18    mov addr,%eax; mov val,%ebx;
 *                                               mov %ebx,(%eax)   (x n)
 *   b0 fe e4 0e 0f aa                           mov $0xfe,%al; in $0xe,%al; rsm
 */
void smi_handler_stores(uint8_t *smram, const uint32_t *addr, const uint32_t *val, int n)
{
	uint8_t *p = smram + SMI_HANDLER_OFF;
	int k;

	TEST_ASSERT(n >= 0 && n <= SMI_MAX_STORES, "%s: at most %d stores, asked for %d",
		    __func__, SMI_MAX_STORES, n);
	for (k = 0; k < n; k++) {
		*p++ = 0x66; *p++ = 0xb8; memcpy(p, &addr[k], 4); p += 4;
		*p++ = 0x66; *p++ = 0xbb; memcpy(p, &val[k], 4); p += 4;
		*p++ = 0x67; *p++ = 0x66; *p++ = 0x89; *p++ = 0x18;
	}
	*p++ = 0xb0; *p++ = SMI_SYNC_AL;
	*p++ = 0xe4; *p++ = SMI_SYNC_PORT;
	*p++ = 0x0f; *p++ = 0xaa;
}

/*
 * 16-bit code (DS base 0, limit 4 GiB in SMM):
 *   66 b8 <addr32>   mov $(SMBASE + SMRAM_CS_ATTR), %eax
 *   67 80 20 7f      andb $0x7f, (%eax)
 *   66 b8 <addr32>   mov $gpa, %eax
 *   67 80 08 <bit>   orb $bit, (%eax)
 *   b0 fe            mov $SMI_SYNC_AL, %al
 *   e4 0e            in $SMI_SYNC_PORT, %al
 *   0f aa            rsm
 */
void smi_handler_bad_cs(uint8_t *smram, uint32_t gpa, uint8_t bit)
{
	uint8_t code[] = {
		0x66, 0xb8, 0, 0, 0, 0,
		0x67, 0x80, 0x20, 0x7f,
		0x66, 0xb8, 0, 0, 0, 0,
		0x67, 0x80, 0x08, bit,
		0xb0, SMI_SYNC_AL,
		0xe4, SMI_SYNC_PORT,
		0x0f, 0xaa,
	};
	uint32_t cs_attr = SMRAM_GPA + SMRAM_CS_ATTR;

	memcpy(&code[2], &cs_attr, 4);
	memcpy(&code[12], &gpa, 4);
	memcpy(smram + SMI_HANDLER_OFF, code, sizeof(code));
}

void rsm_bad_cs_repair(struct kvm_vcpu *vcpu, uint16_t l2_cs, uint64_t rip, uint64_t rsp)
{
	struct kvm_run *run = vcpu->run;
	struct kvm_vcpu_events events;
	struct kvm_sregs sregs;
	struct kvm_regs regs;

	TEST_ASSERT(run->exit_reason == KVM_EXIT_INTERNAL_ERROR &&
		    run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION,
		    "RSM with an unusable CS: expected KVM_EXIT_INTERNAL_ERROR/EMULATION (KVM_CAP_EXIT_ON_EMULATION_FAILURE), got exit reason %u (%s) suberror %u",
		    run->exit_reason, exit_reason_str(run->exit_reason),
		    run->exit_reason == KVM_EXIT_INTERNAL_ERROR ? run->internal.suberror : 0);
	vcpu_events_get(vcpu, &events);
	TEST_ASSERT(!events.smi.smm && in_guest_mode(vcpu),
		    "after the failed RSM: expected the vCPU out of SMM (smm %u) and back in L2",
		    events.smi.smm);
	vcpu_sregs_get(vcpu, &sregs);
	TEST_ASSERT(!sregs.cs.present && sregs.cs.selector == l2_cs,
		    "after the failed RSM: expected L2's CS (0x%x) loaded from SMRAM, not present, got selector 0x%x present %u",
		    l2_cs, sregs.cs.selector, sregs.cs.present);
	sregs.cs.present = 1;
	sregs.cs.unusable = 0;
	vcpu_sregs_set(vcpu, &sregs);
	vcpu_regs_get(vcpu, &regs);
	regs.rip = rip;
	regs.rsp = rsp;
	regs.rflags = X86_EFLAGS_FIXED;
	vcpu_regs_set(vcpu, &regs);
}

enum mode read_mode(void)
{
	char buf[4] = {};
	int fd = open(DEFER_PARAM, O_RDONLY);
	ssize_t n;

	if (fd < 0) {
		TEST_ASSERT(errno == ENOENT, "open(%s): expected success or ENOENT, got errno %d",
			    DEFER_PARAM, errno);
		return MODE_STOCK;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	TEST_ASSERT(n >= 1 && (buf[0] == 'Y' || buf[0] == 'N'),
		    "%s: expected Y or N, got \"%s\"", DEFER_PARAM, buf);
	return buf[0] == 'N' ? MODE_EAGER : MODE_LEGACY;
}

const char *np_mode_name(enum mode mode)
{
	return mode == MODE_EAGER ? "eager" : "legacy";
}

bool read_np_counts(struct kvm_vm *vm, struct np_counts *c)
{
	char path[128], line[128];
	int seen = 0;
	FILE *f;

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

void check_np(struct kvm_vm *vm, const char *when, enum mode mode, struct np_want want)
{
	const char *mname = np_mode_name(mode);
	struct np_counts c;

	if (mode == MODE_STOCK)
		return;
	TEST_ASSERT(read_np_counts(vm, &c),
		    "%s: expected the VM's debugfs file nested_state_pages (kvm-nested is loaded), errno %d",
		    when, errno);
	TEST_ASSERT(!strcmp(c.mode, mname) && c.rsm == want.rsm &&
		    c.set_nested_state == want.set_nested_state &&
		    c.legacy_request == want.legacy_request &&
		    (c.vmentry < 0 || c.vmentry == want.vmentry) &&
		    c.failed == want.failed,
		    "debugfs nested_state_pages %s: expected mode %s rsm %ld set_nested_state %ld legacy_request %ld vmentry %ld failed %ld, got mode %s rsm %ld set_nested_state %ld legacy_request %ld vmentry %ld failed %ld",
		    when, mname, want.rsm, want.set_nested_state,
		    want.legacy_request, want.vmentry, want.failed, c.mode, c.rsm,
		    c.set_nested_state, c.legacy_request, c.vmentry, c.failed);
}

struct ucall expect_stage(struct kvm_vcpu *vcpu, const char *what, int stage)
{
	struct kvm_run *run = vcpu->run;
	const char *sep = *what ? ": " : "";
	struct ucall uc;

	TEST_ASSERT(run->exit_reason == KVM_EXIT_IO,
		    "%s%sstage %d: expected KVM_EXIT_IO (a ucall), got exit reason %u (%s)",
		    what, sep, stage, run->exit_reason, exit_reason_str(run->exit_reason));
	switch (get_ucall(vcpu, &uc)) {
	case UCALL_ABORT:
		REPORT_GUEST_ASSERT(uc);
		break;
	case UCALL_SYNC:
		TEST_ASSERT(uc.args[1] == stage, "%s%sexpected guest stage %d, got stage %lu",
			    what, sep, stage, (unsigned long)uc.args[1]);
		break;
	case UCALL_DONE:
		TEST_ASSERT(stage == 0, "%s%sguest done, expected stage %d", what, sep, stage);
		break;
	default:
		TEST_FAIL("%s%sstage %d: unexpected exit (port 0x%x, ucall %lu)", what, sep,
			  stage, run->io.port, (unsigned long)uc.cmd);
	}
	return uc;
}

struct ucall run_to_stage_of(struct kvm_vcpu *vcpu, const char *what, int stage)
{
	vcpu_run(vcpu);
	return expect_stage(vcpu, what, stage);
}

struct ucall run_to_stage(struct kvm_vcpu *vcpu, int stage)
{
	return run_to_stage_of(vcpu, "", stage);
}

struct kvm_x86_state *save_l2_state(struct kvm_vcpu *vcpu, uint16_t format)
{
	struct kvm_x86_state *st = vcpu_save_state(vcpu);

	TEST_ASSERT(st->nested.format == format &&
		    (st->nested.flags & KVM_STATE_NESTED_GUEST_MODE),
		    "saved nested state: expected %s format in guest mode, got format %u flags 0x%x",
		    format == KVM_STATE_NESTED_FORMAT_SVM ? "SVM" : "VMX",
		    st->nested.format, st->nested.flags);
	return st;
}

uint32_t nested_state_flags(struct kvm_vcpu *vcpu, uint32_t *size)
{
	static union {
		struct kvm_nested_state hdr;
		char buf[16384];
	} ns;

	memset(&ns, 0, sizeof(ns));
	ns.hdr.size = sizeof(ns);
	vcpu_nested_state_get(vcpu, &ns.hdr);
	if (size)
		*size = ns.hdr.size;
	return ns.hdr.flags;
}

bool in_guest_mode(struct kvm_vcpu *vcpu)
{
	return nested_state_flags(vcpu, NULL) & KVM_STATE_NESTED_GUEST_MODE;
}

void set_phase(enum phase p)
{
	__atomic_store_n(&cur_phase, p, __ATOMIC_SEQ_CST);
}

/*
 * The VMX capability MSRs (IA32_VMX_BASIC .. IA32_VMX_VMFUNC) cannot be
 * written once the vCPU is in VMX operation; QEMU writes them when it sets
 * up the vCPU, not with the rest of the MSRs after KVM_SET_NESTED_STATE.
 */
static bool is_vmx_cap_msr(uint32_t index)
{
	return index >= MSR_IA32_VMX_BASIC && index <= MSR_IA32_VMX_VMFUNC;
}

static void set_msrs_subset(struct kvm_vcpu *vcpu, const struct kvm_msrs *all,
			    bool vmx_caps)
{
	struct kvm_msrs *m = calloc(1, sizeof(*m) + all->nmsrs * sizeof(m->entries[0]));
	uint32_t i;

	TEST_ASSERT(m, "calloc failed");
	for (i = 0; i < all->nmsrs; i++)
		if (is_vmx_cap_msr(all->entries[i].index) == vmx_caps)
			m->entries[m->nmsrs++] = all->entries[i];
	if (m->nmsrs)
		vcpu_msrs_set(vcpu, m);
	free(m);
}

void restore_vcpu_setup(struct kvm_vcpu *vcpu, struct kvm_x86_state *st)
{
	set_phase(PH_VCPU_SETUP);
	set_msrs_subset(vcpu, &st->msrs, true);
}

void restore_rest(struct kvm_vcpu *vcpu, struct kvm_x86_state *st)
{
	set_phase(PH_REGS);
	vcpu_regs_set(vcpu, &st->regs);
	set_phase(PH_XSAVE);
	vcpu_xsave_set(vcpu, st->xsave);
	if (kvm_has_cap(KVM_CAP_XCRS)) {
		set_phase(PH_XCRS);
		vcpu_xcrs_set(vcpu, &st->xcrs);
	}
	set_phase(PH_MSRS);
	set_msrs_subset(vcpu, &st->msrs, false);
	set_phase(PH_EVENTS);
	vcpu_events_set(vcpu, &st->events);
	set_phase(PH_MP_STATE);
	vcpu_mp_state_set(vcpu, &st->mp_state);
	set_phase(PH_DEBUGREGS);
	vcpu_debugregs_set(vcpu, &st->debugregs);
}

void restore_qemu_order(struct kvm_vcpu *vcpu, struct kvm_x86_state *st)
{
	restore_vcpu_setup(vcpu, st);
	set_phase(PH_SREGS);
	vcpu_sregs_set(vcpu, &st->sregs);
	set_phase(PH_NESTED_STATE);
	vcpu_nested_state_set(vcpu, &st->nested);
	restore_rest(vcpu, st);
}

struct kvm_x86_state *state_dup(const struct kvm_x86_state *st)
{
	size_t size = sizeof(*st) + st->msrs.nmsrs * sizeof(st->msrs.entries[0]);
	struct kvm_x86_state *copy = malloc(size);

	TEST_ASSERT(copy, "malloc(%zu) failed", size);
	memcpy(copy, st, size);
	return copy;
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
		unsigned long off, page;
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
		page = off / psize;
		s->faults[phase][page < UFFD_MAX_PAGES ? page : UFFD_MAX_PAGES - 1]++;
		if (s->first_phase < 0)
			s->first_phase = phase;
		if (s->on_fault)
			s->on_fault(s, phase, page);

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

void uffd_start(struct uffd_server *s, void *base, size_t size)
{
	uffd_start_hook(s, base, size, NULL, NULL);
}

void uffd_start_hook(struct uffd_server *s, void *base, size_t size,
		     void (*on_fault)(struct uffd_server *s, int phase, int page), void *arg)
{
	struct uffdio_register reg = {};
	struct uffdio_api api = {};

	TEST_ASSERT(size <= UFFD_MAX_PAGES * (size_t)getpagesize(),
		    "uffd_start: at most %d pages, asked for 0x%zx bytes",
		    UFFD_MAX_PAGES, size);
	memset(s, 0, sizeof(*s));
	s->on_fault = on_fault;
	s->arg = arg;
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
		    "madvise(MADV_DONTNEED) of %p+0x%zx: errno %d", base, size, errno);
	reg.range.start = (unsigned long)base;
	reg.range.len = size;
	reg.mode = UFFDIO_REGISTER_MODE_MISSING;
	TEST_ASSERT(!ioctl(s->uffd, UFFDIO_REGISTER, &reg),
		    "UFFDIO_REGISTER of %p+0x%zx: expected success, got errno %d",
		    base, size, errno);
	TEST_ASSERT(reg.ioctls & (1ull << _UFFDIO_COPY),
		    "UFFDIO_REGISTER: expected UFFDIO_COPY to be available");

	TEST_ASSERT(!pipe(s->stop), "pipe: errno %d", errno);
	TEST_ASSERT(!pthread_create(&s->thread, NULL, fault_thread, s),
		    "pthread_create failed");
}

void uffd_stop(struct uffd_server *s)
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

void uffd_run_finish(const struct nested_vendor *v, struct kvm_vcpu *vcpu,
		     struct uffd_server *s)
{
	set_phase(PH_RUN);
	msr_guest_finish(v, vcpu);
	set_phase(PH_SETUP);
	uffd_stop(s);
	TEST_ASSERT(!s->error, "fault thread failed: %d", s->error);
}

int uffd_faults_in(const struct uffd_server *s, int phase)
{
	int i, n = 0;

	for (i = 0; i < UFFD_MAX_PAGES; i++)
		n += s->faults[phase][i];
	return n;
}

int uffd_expect_first(const struct uffd_server *s, enum mode mode, const char *what)
{
	int i, expected = mode == MODE_EAGER ? PH_NESTED_STATE : PH_RUN;

	for (i = 0; i < NR_PHASES; i++)
		if (uffd_faults_in(s, i))
			pr_info("%s faults in %s: %d\n", what, phase_name[i],
				uffd_faults_in(s, i));
	TEST_ASSERT(s->first_phase == expected,
		    "%s mode: expected the first %s fault in %s, got %s",
		    mode_name[mode], what, phase_name[expected],
		    s->first_phase < 0 ? "none" : phase_name[s->first_phase]);
	return expected;
}

const struct nested_vendor svm_vendor = {
	"SVM", false, KVM_STATE_NESTED_FORMAT_SVM, "MSRPM", SVM_FS_BASE_BYTE,
	SVM_FS_BASE_RDBIT, SVM_EXIT_VMMCALL, svm_msr_l1_guest_code,
};
const struct nested_vendor vmx_vendor = {
	"VMX", true, KVM_STATE_NESTED_FORMAT_VMX, "MSR bitmap", VMX_FS_BASE_BYTE,
	VMX_FS_BASE_BIT, EXIT_REASON_VMCALL, vmx_msr_l1_guest_code,
};

static bool vmx_ctl_allowed(uint32_t msr, uint32_t ctl)
{
	return (kvm_get_feature_msr(msr) >> 32) & ctl;
}

enum mode nested_require(const struct nested_vendor *v, unsigned int needs)
{
	enum mode mode;

	TEST_REQUIRE(!(needs & NEED_SMM) || kvm_has_cap(KVM_CAP_X86_SMM));
	TEST_REQUIRE(kvm_cpu_has(v->vmx ? X86_FEATURE_VMX : X86_FEATURE_SVM));
	TEST_REQUIRE(!(needs & NEED_NESTED_STATE) || kvm_has_cap(KVM_CAP_NESTED_STATE));
	TEST_REQUIRE(!(needs & NEED_EXIT_ON_EMU) ||
		     kvm_has_cap(KVM_CAP_EXIT_ON_EMULATION_FAILURE));
	TEST_REQUIRE(!(needs & NEED_TRIPLE_FAULT) ||
		     kvm_has_cap(KVM_CAP_X86_TRIPLE_FAULT_EVENT));
	if (v->vmx) {
		TEST_REQUIRE(!(needs & NEED_TPR_SHADOW) ||
			     vmx_ctl_allowed(MSR_IA32_VMX_TRUE_PROCBASED_CTLS,
					     CPU_BASED_TPR_SHADOW));
		TEST_REQUIRE(!(needs & NEED_MSR_L1) ||
			     (vmx_ctl_allowed(MSR_IA32_VMX_TRUE_PROCBASED_CTLS,
					      CPU_BASED_USE_MSR_BITMAPS) &&
			      vmx_ctl_allowed(MSR_IA32_VMX_PROCBASED_CTLS2,
					      SECONDARY_EXEC_VIRTUALIZE_APIC_ACCESSES)));
	}
	mode = read_mode();
	pr_info("mode: %s\n", mode_name[mode]);
	return mode;
}

void nested_vm_create(struct nested_vm *n, const struct nested_vendor *v, void *l1_code,
		      unsigned int flags)
{
	uint64_t pages = 0, apic_access = 0;

	memset(n, 0, sizeof(*n));
	n->v = v;
	n->vm = vm_create_with_one_vcpu(&n->vcpu, l1_code ?: v->msr_l1_guest_code);
	if (flags & NV_SMRAM)
		n->smram = smram_setup(n->vm, n->vcpu);
	if (v->vmx && (flags & NV_APIC_ACCESS)) {
		vm_userspace_mem_region_add(n->vm, VM_MEM_SRC_ANONYMOUS, APIC_ACCESS_GPA,
					    APIC_ACCESS_SLOT, 1, 0);
		apic_access = APIC_ACCESS_GPA;
	}
	if (v->vmx && (flags & NV_PAGES)) {
		vm_userspace_mem_region_add(n->vm, VM_MEM_SRC_ANONYMOUS, PAGES_GPA,
					    PAGES_SLOT, NR_PAGES, 0);
		virt_map(n->vm, PAGES_GPA, PAGES_GPA, NR_PAGES);
		memset(addr_gpa2hva(n->vm, PAGES_GPA), 0, NR_PAGES * getpagesize());
		pages = PAGES_GPA;
		apic_access = PAGES_GPA + PG_APIC_ACCESS * 4096;
	}
	if (v->vmx) {
		n->vmx = vcpu_alloc_vmx(n->vm, &n->gva);
		n->msr_gpa = pages ?: n->vmx->msr_gpa;
		n->msr_hva = pages ? addr_gpa2hva(n->vm, pages) : n->vmx->msr_hva;
	} else {
		n->svm = vcpu_alloc_svm(n->vm, &n->gva);
		n->msr_gpa = n->svm->msr_gpa;
		n->msr_hva = n->svm->msr_hva;
	}
	vcpu_args_set(n->vcpu, 3, n->gva, pages, apic_access);
}

void nested_vm_recreate(struct nested_vm *n)
{
	kvm_vm_release(n->vm);
	n->vcpu = vm_recreate_with_one_vcpu(n->vm);
}

static void svm_l2_guest_code(void)
{
	GUEST_SYNC(2);
	(void)rdmsr(MSR_FS_BASE);	/* L1's MSRPM makes this exit to L1 */
	GUEST_SYNC(4);
	l2_vmmcall();
}

void svm_msr_l1_guest_code(struct svm_test_data *svm)
{
	svm_msr_l1_run(svm, svm_l2_guest_code);
}

void svm_msr_l1_run(struct svm_test_data *svm, void *l2_code)
{
	unsigned long l2_stack[L2_STACK_SIZE];
	struct vmcb *vmcb = svm->vmcb;
	uint8_t *msrpm = svm->msr;

	generic_svm_setup(svm, l2_code, &l2_stack[L2_STACK_SIZE]);
	vmcb->control.intercept |= 1ull << INTERCEPT_MSR_PROT;
	msrpm[SVM_FS_BASE_BYTE] |= SVM_FS_BASE_RDBIT;
	GUEST_SYNC(1);

	run_guest(vmcb, svm->vmcb_gpa);
	GUEST_SYNC_ARGS(3, vmcb->control.exit_code, vmcb->control.exit_info_1, 0, 0);
	vmcb->save.rip += 2;		/* skip RDMSR (0f 32); no NRIP save */

	run_guest(vmcb, svm->vmcb_gpa);
	GUEST_SYNC_ARGS(5, vmcb->control.exit_code, 0, 0, 0);
	GUEST_DONE();
}

void svm_l1_run_l2(struct svm_test_data *svm, void *l2_code, bool resume)
{
	unsigned long l2_stack[L2_STACK_SIZE];
	struct vmcb *vmcb = svm->vmcb;

	generic_svm_setup(svm, l2_code, &l2_stack[L2_STACK_SIZE]);
	GUEST_SYNC(1);
	run_guest(vmcb, svm->vmcb_gpa);
	GUEST_SYNC_ARGS(3, vmcb->control.exit_code, 0, 0, 0);
	if (resume) {
		vmcb->save.rip += 3;	/* skip VMMCALL (0f 01 d9); no NRIP save */
		run_guest(vmcb, svm->vmcb_gpa);
	}
	GUEST_DONE();
}

static void vmx_l2_guest_code(void)
{
	GUEST_SYNC(2);
	(void)rdmsr(MSR_FS_BASE);	/* L1's MSR bitmap makes this exit to L1 */
	GUEST_SYNC(4);
	vmcall();
}

void vmx_msr_l1_prepare(struct vmx_pages *vmx, uint64_t pages, uint64_t apic_access,
			void *l2_code, unsigned long *l2_stack_top)
{
	uint8_t *msr_bitmap = pages ? (uint8_t *)pages : vmx->msr;
	uint32_t ctls = CPU_BASED_USE_MSR_BITMAPS | CPU_BASED_ACTIVATE_SECONDARY_CONTROLS;

	GUEST_ASSERT(prepare_for_vmx_operation(vmx));
	GUEST_ASSERT(load_vmcs(vmx));
	prepare_vmcs(vmx, l2_code ?: vmx_l2_guest_code, l2_stack_top);

	msr_bitmap[VMX_FS_BASE_BYTE] |= VMX_FS_BASE_BIT;
	if (pages) {
		vmwrite(MSR_BITMAP, pages);
		vmwrite(VIRTUAL_APIC_PAGE_ADDR, pages + 4096);
		vmwrite(TPR_THRESHOLD, 0);
		ctls |= CPU_BASED_TPR_SHADOW;
	}
	vmwrite(APIC_ACCESS_ADDR, apic_access);
	vmwrite(CPU_BASED_VM_EXEC_CONTROL, vmreadz(CPU_BASED_VM_EXEC_CONTROL) | ctls);
	vmwrite(SECONDARY_VM_EXEC_CONTROL, vmreadz(SECONDARY_VM_EXEC_CONTROL) |
		SECONDARY_EXEC_VIRTUALIZE_APIC_ACCESSES);
}

void vmx_msr_l1_launch(void)
{
	GUEST_SYNC(1);

	GUEST_ASSERT(!vmlaunch());
	GUEST_SYNC_ARGS(3, vmreadz(VM_EXIT_REASON), 0, 0, 0);
	vmwrite(GUEST_RIP, vmreadz(GUEST_RIP) + vmreadz(VM_EXIT_INSTRUCTION_LEN));

	GUEST_ASSERT(!vmresume());
	GUEST_SYNC_ARGS(5, vmreadz(VM_EXIT_REASON), 0, 0, 0);
	GUEST_DONE();
}

void vmx_msr_l1_run(struct vmx_pages *vmx, uint64_t pages, uint64_t apic_access, void *l2_code)
{
	unsigned long l2_stack[L2_STACK_SIZE];

	vmx_msr_l1_prepare(vmx, pages, apic_access, l2_code, &l2_stack[L2_STACK_SIZE]);
	vmx_msr_l1_launch();
}

void vmx_msr_l1_guest_code(struct vmx_pages *vmx, uint64_t pages, uint64_t apic_access)
{
	vmx_msr_l1_run(vmx, pages, apic_access, NULL);
}

void vmx_l1_run_l2(struct vmx_pages *vmx, void *l2_code, uint32_t clear_secondary)
{
	unsigned long l2_stack[L2_STACK_SIZE];

	GUEST_ASSERT(prepare_for_vmx_operation(vmx));
	GUEST_ASSERT(load_vmcs(vmx));
	prepare_vmcs(vmx, l2_code, &l2_stack[L2_STACK_SIZE]);
	if (clear_secondary)
		vmwrite(SECONDARY_VM_EXEC_CONTROL,
			vmreadz(SECONDARY_VM_EXEC_CONTROL) & ~clear_secondary);
	GUEST_SYNC(1);
	GUEST_ASSERT(!vmlaunch());
	GUEST_SYNC_ARGS(3, vmreadz(VM_EXIT_REASON), 0, 0, 0);
	GUEST_DONE();
}

void expect_msr_exit(const struct nested_vendor *v, struct ucall uc, const char *what)
{
	const char *sep = *what ? ": " : "";

	if (v->vmx)
		TEST_ASSERT(uc.args[2] == EXIT_REASON_MSR_READ,
			    "%s%sL2's RDMSR(FS_BASE): expected an MSR-read exit to L1 (%u), got exit reason %lu: the MSR bitmap KVM merged is not L1's",
			    what, sep, EXIT_REASON_MSR_READ, (unsigned long)uc.args[2]);
	else
		TEST_ASSERT(uc.args[2] == SVM_EXIT_MSR && uc.args[3] == 0,
			    "%s%sL2's RDMSR(FS_BASE): expected an MSR read exit to L1 (exit code 0x%x, info1 0), got exit code 0x%lx info1 0x%lx: the MSRPM KVM merged is not L1's",
			    what, sep, SVM_EXIT_MSR, (unsigned long)uc.args[2],
			    (unsigned long)uc.args[3]);
}

void msr_guest_finish_from_4(const struct nested_vendor *v, struct kvm_vcpu *vcpu)
{
	struct ucall uc;

	run_to_stage(vcpu, 4);
	uc = run_to_stage(vcpu, 5);
	TEST_ASSERT(uc.args[2] == v->hypercall_exit,
		    "expected L2's %s to exit to L1 (0x%x), got exit code 0x%lx",
		    v->vmx ? "VMCALL" : "VMMCALL", v->hypercall_exit,
		    (unsigned long)uc.args[2]);
	run_to_stage(vcpu, 0);
}

void msr_guest_finish(const struct nested_vendor *v, struct kvm_vcpu *vcpu)
{
	expect_msr_exit(v, run_to_stage(vcpu, 3), "");
	msr_guest_finish_from_4(v, vcpu);
}

void svm_msr_guest_finish(struct kvm_vcpu *vcpu)
{
	msr_guest_finish(&svm_vendor, vcpu);
}

void check_np_modes(struct kvm_vm *vm, const char *when, enum mode mode,
		    struct np_want eager, struct np_want legacy)
{
	check_np(vm, when, mode, mode == MODE_EAGER ? eager : legacy);
}

void check_np_one_restore(struct kvm_vm *vm, const char *when, enum mode mode)
{
	check_np_modes(vm, when, mode, (struct np_want){ .set_nested_state = 1, .vmentry = 1 },
		       (struct np_want){ .legacy_request = 1, .vmentry = 1 });
}

void expect_unbacked_set(int r, enum mode mode, const char *page, uint64_t gpa)
{
	int err = errno;

	if (mode == MODE_EAGER)
		TEST_ASSERT(r == -1 && err == EINVAL,
			    "eager mode, %s at unbacked GPA 0x%lx: expected KVM_SET_NESTED_STATE to fail with EINVAL, got rc %d errno %d",
			    page, (unsigned long)gpa, r, r ? err : 0);
	else
		TEST_ASSERT(!r, "%s mode: expected KVM_SET_NESTED_STATE with an unbacked %s to succeed (pages are loaded later), got errno %d",
			    mode_name[mode], page, err);
}

void restore_again(struct kvm_vcpu *vcpu, struct kvm_x86_state *st, enum mode mode,
		   const char *when)
{
	int r;

	vcpu_sregs_set(vcpu, &st->sregs);
	r = __vcpu_nested_state_set(vcpu, &st->nested);
	TEST_ASSERT(!r, "%s mode: expected KVM_SET_NESTED_STATE of the valid state to succeed %s, got errno %d",
		    mode_name[mode], when, errno);
	TEST_ASSERT(in_guest_mode(vcpu), "expected the vCPU in guest mode after the valid KVM_SET_NESTED_STATE");
	restore_rest(vcpu, st);
}

void vcpu_snapshot_take(struct kvm_vcpu *vcpu, struct vcpu_snapshot *s,
			const uint32_t *msrs, int nmsrs)
{
	int i;

	TEST_ASSERT(nmsrs <= SNAPSHOT_MAX_MSRS, "%s: at most %d MSRs, asked for %d",
		    __func__, SNAPSHOT_MAX_MSRS, nmsrs);
	memset(s, 0, sizeof(*s));
	vcpu_regs_get(vcpu, &s->regs);
	vcpu_sregs_get(vcpu, &s->sregs);
	vcpu_events_get(vcpu, &s->events);
	s->nmsrs = nmsrs;
	for (i = 0; i < nmsrs; i++) {
		s->msr_index[i] = msrs[i];
		s->msr_value[i] = vcpu_get_msr(vcpu, msrs[i]);
	}
	s->nested.hdr.size = sizeof(s->nested);
	vcpu_nested_state_get(vcpu, &s->nested.hdr);
}

#define DIFF(...) do {							\
	n++;								\
	if (len > used)							\
		used += snprintf(buf + used, len - used, __VA_ARGS__);	\
} while (0)

int vcpu_snapshot_diff(const struct vcpu_snapshot *a, const struct vcpu_snapshot *b,
		       char *buf, size_t len)
{
	static const char * const reg[] = {
		"rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rsp", "rbp", "r8", "r9",
		"r10", "r11", "r12", "r13", "r14", "r15", "rip", "rflags",
	};
	static const char * const seg[] = { "cs", "ds", "es", "fs", "gs", "ss", "tr", "ldt" };
	const uint64_t *ra = (const uint64_t *)&a->regs, *rb = (const uint64_t *)&b->regs;
	const struct kvm_segment *sa = &a->sregs.cs, *sb = &b->sregs.cs;
	size_t used = 0;
	int i, n = 0;

	if (len)
		buf[0] = 0;
	for (i = 0; i < 18; i++)
		if (ra[i] != rb[i])
			DIFF(" %s 0x%lx->0x%lx;", reg[i], (unsigned long)ra[i], (unsigned long)rb[i]);
	for (i = 0; i < 8; i++)
		if (memcmp(&sa[i], &sb[i], sizeof(sa[i])))
			DIFF(" %s base 0x%llx->0x%llx sel 0x%x->0x%x limit 0x%x->0x%x type %u->%u present %u->%u;",
			     seg[i], sa[i].base, sb[i].base, sa[i].selector, sb[i].selector,
			     sa[i].limit, sb[i].limit, sa[i].type, sb[i].type,
			     sa[i].present, sb[i].present);
	if (memcmp(&a->sregs.gdt, &b->sregs.gdt, sizeof(a->sregs.gdt)) ||
	    memcmp(&a->sregs.idt, &b->sregs.idt, sizeof(a->sregs.idt)))
		DIFF(" gdt/idt 0x%llx+0x%x/0x%llx+0x%x->0x%llx+0x%x/0x%llx+0x%x;",
		     a->sregs.gdt.base, a->sregs.gdt.limit, a->sregs.idt.base, a->sregs.idt.limit,
		     b->sregs.gdt.base, b->sregs.gdt.limit, b->sregs.idt.base, b->sregs.idt.limit);
#define CR(f) do {							\
		if (a->sregs.f != b->sregs.f)					\
			DIFF(" " #f " 0x%llx->0x%llx;", a->sregs.f, b->sregs.f);	\
	} while (0)
	CR(cr0); CR(cr2); CR(cr3); CR(cr4); CR(cr8); CR(efer); CR(apic_base);
#undef CR
	if (memcmp(a->sregs.interrupt_bitmap, b->sregs.interrupt_bitmap,
		   sizeof(a->sregs.interrupt_bitmap)))
		DIFF(" interrupt bitmap;");
	for (i = 0; i < a->nmsrs; i++)
		if (a->msr_value[i] != b->msr_value[i])
			DIFF(" MSR 0x%x 0x%lx->0x%lx;", a->msr_index[i],
			     (unsigned long)a->msr_value[i], (unsigned long)b->msr_value[i]);
	if (a->events.triple_fault.pending != b->events.triple_fault.pending)
		DIFF(" triple fault pending %u->%u;", a->events.triple_fault.pending,
		     b->events.triple_fault.pending);
	else if (memcmp(&a->events, &b->events, sizeof(a->events)))
		DIFF(" vcpu events (exception %u/%u nmi %u/%u smi %u/%u interrupt %u/%u);",
		     a->events.exception.injected | a->events.exception.pending << 1,
		     b->events.exception.injected | b->events.exception.pending << 1,
		     a->events.nmi.injected | a->events.nmi.pending << 1,
		     b->events.nmi.injected | b->events.nmi.pending << 1,
		     a->events.smi.smm | a->events.smi.pending << 1,
		     b->events.smi.smm | b->events.smi.pending << 1,
		     a->events.interrupt.injected, b->events.interrupt.injected);
	if (a->nested.hdr.size != b->nested.hdr.size ||
	    memcmp(&a->nested, &b->nested, a->nested.hdr.size))
		DIFF(" nested state (flags 0x%x->0x%x size %u->%u);", a->nested.hdr.flags,
		     b->nested.hdr.flags, a->nested.hdr.size, b->nested.hdr.size);
	return n;
}

void expect_unchanged(struct kvm_vcpu *vcpu, const struct vcpu_snapshot *before,
		      const char *hint)
{
	static struct vcpu_snapshot after;
	char diff[2048];
	int n;

	vcpu_snapshot_take(vcpu, &after, before->msr_index, before->nmsrs);
	n = vcpu_snapshot_diff(before, &after, diff, sizeof(diff));
	TEST_ASSERT(!after.events.triple_fault.pending,
		    "eager mode: expected no triple fault pending after the failed KVM_SET_NESTED_STATE, got one%s; all %d changes:%s",
		    hint, n, diff);
	TEST_ASSERT(!n, "eager mode: expected the failed KVM_SET_NESTED_STATE to change nothing KVM_GET_* shows, got %d changes:%s",
		    n, diff);
}
