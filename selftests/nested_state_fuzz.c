// SPDX-License-Identifier: GPL-2.0-only
/*
 * nested_state_fuzz - seeded fuzzing of KVM_SET_NESTED_STATE and of RSM into
 * L2 on nested SVM.  Host splats are what the rig looks for; the test itself
 * fails only if a valid state no longer restores (the vCPU is stuck) or the
 * guest cannot complete afterwards.
 *
 * L1 runs L2; L2 reports in (stage 2) and the host saves the vCPU: that is
 * the valid state.  From then on L2's VMMCALL exits to L1, which reports the
 * exit code (stage 3) and is done.
 *
 * State iterations: mutate a copy of the valid state -- the nested state
 * header (flags, format, size, vmcb12 address), vmcb12 control fields
 * (intercepts, MSRPM/IOPM addresses, ASID, int_ctl, event_inj, nested_ctl,
 * nested_cr3, ...), the L1 save-area fields KVM checks (EFER, CR0, CR3, CR4,
 * DR6, DR7, RFLAGS, ...), random bit flips in vmcb12, and L2's CR0, CR3,
 * CR4 and EFER through KVM_SET_SREGS -- then KVM_SET_SREGS and
 * KVM_SET_NESTED_STATE; when accepted, one KVM_RUN bounded by SIGALRM.
 *
 * RSM iterations: from the valid state, KVM_SMI; the SMM handler (real
 * mode, at SMBASE + 0x8000) does one to three seeded dword stores into
 * vmcb12 or into the SMRAM state-save area (among them the saved vmcb12
 * address and the "in guest mode" flag), reports through an IN and
 * executes RSM, which is run bounded.  Expected: L1 shutdown or a clean
 * resume, never a host splat.
 *
 * After every rejected blob and every FUZZ_CHECK_EVERY iterations the valid
 * state is restored and the guest must complete; the VM is recreated every
 * FUZZ_RECREATE iterations.  Arguments and environment: nested_fuzz.h.
 * Without arguments: 120 state + 40 RSM iterations, seed 0x5eed (make check).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stddef.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "nested_fuzz.h"
#include "svm_util.h"

#define DEF_ITERS	120
#define DEF_RSM_ITERS	40
#define DEF_SEED	0x5eedull

#define SMRAM_GPA	0x1000000ull
#define SMRAM_SIZE	0x10000
#define SMRAM_PAGES	(SMRAM_SIZE / 4096)
#define SMRAM_MEMSLOT	((1 << 16) | 1)
#define SMM_RAM_ALIAS	((1 << 16) | 2)
#define SMI_STAGE	0xfe
#define SYNC_PORT	0xe
#define L2_STACK_SIZE	256

static void l2_guest_code(void)
{
	GUEST_SYNC(2);
	__asm__ __volatile__("vmmcall" : : "a"(0), "c"(0) : "memory");
}

static void l1_guest_code(struct svm_test_data *svm)
{
	unsigned long l2_stack[L2_STACK_SIZE];
	struct vmcb *vmcb = svm->vmcb;

	generic_svm_setup(svm, l2_guest_code, &l2_stack[L2_STACK_SIZE]);
	GUEST_SYNC(1);
	run_guest(vmcb, svm->vmcb_gpa);
	GUEST_SYNC_ARGS(3, vmcb->control.exit_code, 0, 0, 0);
	GUEST_DONE();
}

struct field {
	const char *name;
	uint16_t off;
	uint8_t bytes;
};

#define CTL(f) { #f, offsetof(struct vmcb, control.f), sizeof(((struct vmcb *)0)->control.f) }
#define SAVE(f) { #f, offsetof(struct vmcb, save.f), sizeof(((struct vmcb *)0)->save.f) }

static const struct field ctl_fields[] = {
	CTL(intercept_cr), CTL(intercept_dr), CTL(intercept_exceptions),
	CTL(intercept), CTL(pause_filter_thresh), CTL(pause_filter_count),
	CTL(iopm_base_pa), CTL(msrpm_base_pa), CTL(tsc_offset), CTL(asid),
	CTL(tlb_ctl), CTL(int_ctl), CTL(int_vector), CTL(int_state),
	CTL(exit_code), CTL(exit_info_1), CTL(exit_info_2), CTL(exit_int_info),
	CTL(nested_ctl), CTL(avic_vapic_bar), CTL(event_inj), CTL(event_inj_err),
	CTL(nested_cr3), CTL(virt_ext), CTL(clean), CTL(next_rip),
	CTL(avic_backing_page), CTL(avic_logical_id), CTL(avic_physical_id),
};

static const struct field save_fields[] = {
	SAVE(efer), SAVE(cr0), SAVE(cr3), SAVE(cr4), SAVE(dr6), SAVE(dr7),
	SAVE(rflags), SAVE(rip), SAVE(rsp), SAVE(rax), SAVE(g_pat),
	SAVE(cs.attrib), SAVE(cs.selector), SAVE(cs.limit), SAVE(ss.attrib),
	SAVE(cpl), SAVE(gdtr.base), SAVE(idtr.limit), SAVE(tr.attrib),
	SAVE(dbgctl),
};

/* vmcb12 GPAs: unbacked, the APIC page, unaligned, huge, the old one +/-. */
static uint64_t fuzz_gpa(uint64_t good)
{
	switch (rnd_below(8)) {
	case 0: return 0xfee00000ull;
	case 1: return 0x80000000ull;
	case 2: return good + 4096 * (rnd_below(5) - 2);
	case 3: return good | (1 + rnd_below(4095));
	case 4: return ~0ull;
	case 5: return 1ull << rnd_below(64);
	case 6: return rnd() & 0xfffff000ull;
	default: return 0;
	}
}

static void mutate_field(void *vmcb12, const struct field *f, int nf)
{
	const struct field *x = &f[rnd_below(nf)];
	uint64_t old = get_field(vmcb12, x->off, x->bytes);
	uint64_t v = x->off < 0x400 && !strncmp(x->name, "intercept", 9) && rnd_below(2) ?
		     old | fuzz_value(0, x->bytes) : fuzz_value(old, x->bytes);

	put_field(vmcb12, x->off, x->bytes, v);
	mut("%s=0x%lx ", x->name, (unsigned long)v);
}

static void mutate_state(struct kvm_x86_state *s, uint64_t good_vmcb)
{
	struct kvm_nested_state *ns = &s->nested;
	uint8_t *vmcb12 = ns->data.svm[0].vmcb12;
	int n = 1 + rnd_below(3);
	unsigned int bit;
	uint64_t v;

	while (n--) {
		switch (rnd_below(12)) {
		case 0:
			v = rnd_below(4) ? ns->flags ^ (1u << rnd_below(4)) : rnd() & 0xffff;
			ns->flags = v;
			mut("flags=0x%x ", ns->flags);
			break;
		case 1:
			ns->format = rnd_below(3) ? rnd_below(3) : rnd() & 0xffff;
			mut("format=%u ", ns->format);
			break;
		case 2:
			switch (rnd_below(4)) {
			case 0: ns->size = rnd_below(sizeof(*ns) + 64); break;
			case 1: ns->size = rnd_below(16384); break;
			case 2: ns->size = ns->size - 1 - rnd_below(64); break;
			default: ns->size = sizeof(*ns) + KVM_STATE_NESTED_SVM_VMCB_SIZE; break;
			}
			mut("size=%u ", ns->size);
			break;
		case 3:
		case 4:
			ns->hdr.svm.vmcb_pa = fuzz_gpa(good_vmcb);
			mut("vmcb_pa=0x%llx ", (unsigned long long)ns->hdr.svm.vmcb_pa);
			break;
		case 5:
		case 6:
			mutate_field(vmcb12, ctl_fields, ARRAY_SIZE(ctl_fields));
			break;
		case 7:
		case 8:
			mutate_field(vmcb12, save_fields, ARRAY_SIZE(save_fields));
			break;
		case 9:
			bit = rnd_below(rnd_below(2) ? 0x400 * 8 : 4096 * 8);
			vmcb12[bit / 8] ^= 1u << (bit % 8);
			mut("vmcb12.bit%u ", bit);
			break;
		default:
			switch (rnd_below(4)) {
			case 0:
				s->sregs.cr0 = fuzz_value(s->sregs.cr0, 8);
				mut("l2.cr0=0x%llx ", s->sregs.cr0);
				break;
			case 1:
				s->sregs.cr4 = fuzz_value(s->sregs.cr4, 8);
				mut("l2.cr4=0x%llx ", s->sregs.cr4);
				break;
			case 2:
				s->sregs.efer = fuzz_value(s->sregs.efer, 8);
				mut("l2.efer=0x%llx ", s->sregs.efer);
				break;
			default:
				s->sregs.cr3 = fuzz_value(s->sregs.cr3, 8);
				mut("l2.cr3=0x%llx ", s->sregs.cr3);
				break;
			}
			break;
		}
	}
}

struct fuzz_vm {
	struct kvm_vm *vm;
	struct kvm_vcpu *vcpu;
	struct svm_test_data *svm;
	struct kvm_x86_state *valid;
	size_t valid_size;
	struct kvm_x86_state *work;
	struct mem_snap snap;
	uint8_t *smram;
};

static void add_smm_alias(struct fuzz_vm *f)
{
	struct userspace_mem_region *ram = memslot2region(f->vm, 0);
	struct kvm_userspace_memory_region alias = {
		.slot = SMM_RAM_ALIAS,
		.guest_phys_addr = ram->region.guest_phys_addr,
		.memory_size = ram->region.memory_size,
		.userspace_addr = ram->region.userspace_addr,
	};

	TEST_ASSERT(!ioctl(f->vm->fd, KVM_SET_USER_MEMORY_REGION, &alias),
		    "KVM_SET_USER_MEMORY_REGION of RAM into the SMM address space: errno %d",
		    errno);
}

static void setup(struct fuzz_vm *f)
{
	vm_vaddr_t svm_gva;
	struct ucall uc;

	f->vm = vm_create_with_one_vcpu(&f->vcpu, l1_guest_code);
	vm_userspace_mem_region_add(f->vm, VM_MEM_SRC_ANONYMOUS, SMRAM_GPA,
				    SMRAM_MEMSLOT, SMRAM_PAGES, 0);
	TEST_ASSERT(vm_phy_pages_alloc(f->vm, SMRAM_PAGES, SMRAM_GPA, SMRAM_MEMSLOT) == SMRAM_GPA,
		    "could not allocate the SMRAM guest-physical pages");
	fuzz_vm_caps(f->vm);
	f->smram = addr_gpa2hva(f->vm, SMRAM_GPA);
	memset(f->smram, 0, SMRAM_SIZE);
	vcpu_set_msr(f->vcpu, MSR_IA32_SMBASE, SMRAM_GPA);
	f->svm = vcpu_alloc_svm(f->vm, &svm_gva);
	vcpu_args_set(f->vcpu, 1, svm_gva);
	add_smm_alias(f);

	check_stage(f->vcpu, 1, 0);
	check_stage(f->vcpu, 2, 0);
	f->valid = vcpu_save_state(f->vcpu);
	save_lapic(f->vcpu);
	TEST_ASSERT(f->valid->nested.format == KVM_STATE_NESTED_FORMAT_SVM &&
		    (f->valid->nested.flags & KVM_STATE_NESTED_GUEST_MODE),
		    "saved nested state: expected SVM format in guest mode, got format %u flags 0x%x",
		    f->valid->nested.format, f->valid->nested.flags);
	f->valid_size = sizeof(*f->valid) +
			f->valid->msrs.nmsrs * sizeof(f->valid->msrs.entries[0]);
	f->work = malloc(f->valid_size);
	TEST_ASSERT(f->work, "malloc failed");
	snap_take(f->vm, &f->snap);

	/* The valid state completes. */
	uc = check_stage(f->vcpu, 3, 0);
	TEST_ASSERT(uc.args[2] == SVM_EXIT_VMMCALL,
		    "expected L2's VMMCALL to exit to L1, got exit code 0x%lx",
		    (unsigned long)uc.args[2]);
	check_stage(f->vcpu, 0, 0);
	f->snap.dirty = true;
}

/* A new VM over the same memory, the valid state restored into it. */
static void recreate(struct fuzz_vm *f, unsigned long iter)
{
	kvm_vm_release(f->vm);
	f->vcpu = vm_recreate_with_one_vcpu(f->vm);
	fuzz_vm_caps(f->vm);
	add_smm_alias(f);
	vcpu_set_msr(f->vcpu, MSR_IA32_SMBASE, SMRAM_GPA);
	snap_restore(&f->snap);
	restore_valid(f->vcpu, f->valid, iter);
}

/* Restore the valid state (and RAM); L2 must report to L1 and L1 finish. */
static void recreate(struct fuzz_vm *f, unsigned long iter);

/*
 * Restore the valid state (and RAM); L2 must report to L1 and L1 finish.
 * If it does not, a fuzzed run left state behind that the restore does not
 * cover: counted and printed (FUZZ-DIVERGED), then the valid state must
 * complete in a recreated VM, else the test fails.
 */
static void check_valid(struct fuzz_vm *f, unsigned long iter)
{
	char why[160];

	st.checks++;
	snap_restore(&f->snap);
	restore_valid(f->vcpu, f->valid, iter);
	f->snap.dirty = true;
	if (try_complete(f->vcpu, SVM_EXIT_VMMCALL, why, sizeof(why)))
		return;
	st.diverged++;
	printf("FUZZ-DIVERGED iteration=%lu seed=0x%llx after [%s]: %s\n", iter, cfg.seed,
	       mut_log, why);
	recreate(f, iter);
	f->snap.dirty = true;
	TEST_ASSERT(try_complete(f->vcpu, SVM_EXIT_VMMCALL, why, sizeof(why)),
		    "iteration %lu (seed 0x%llx): the valid state does not complete even in a recreated VM after [%s]: %s",
		    iter, cfg.seed, mut_log, why);
}

static void state_iteration(struct fuzz_vm *f, unsigned long i)
{
	struct kvm_x86_state *w = f->work;
	bool rejected = false;
	int r;

	rng_seed_iter(i, 0);
	mut_len = 0;
	mut_log[0] = 0;
	memcpy(w, f->valid, f->valid_size);
	mutate_state(w, f->valid->nested.hdr.svm.vmcb_pa);

	snap_restore(&f->snap);
	vcpu_events_set(f->vcpu, &f->valid->events);
	if (__vcpu_ioctl(f->vcpu, KVM_SET_SREGS, &w->sregs)) {
		st.sregs_rejected++;
		mut("sregs:errno %d ", errno);
	}
	r = __vcpu_nested_state_set(f->vcpu, &w->nested);
	if (r) {
		st.rejected++;
		rejected = true;
		mut("-> rejected errno %d", errno);
	} else {
		st.accepted++;
		vcpu_regs_set(f->vcpu, &f->valid->regs);
		vcpu_mp_state_set(f->vcpu, &f->valid->mp_state);
		f->snap.dirty = true;
		bounded_run(f->vcpu);
	}
	if (cfg.verbose)
		printf("iter %lu: %s\n", i, mut_log);
	if (rejected || !((i + 1) % cfg.check_every))
		check_valid(f, i);
}

/*
 * The SMI handler, 16-bit code: up to three dword stores, report, RSM.
 *   66 b8 <addr32> 66 bb <val32> 67 66 89 18    mov addr,%eax; mov val,%ebx;
 *                                               mov %ebx,(%eax)   (x3)
 *   b0 fe e4 0e 0f aa                           mov $0xfe,%al; in $0xe,%al; rsm
 */
static void write_handler(uint8_t *p, const uint32_t *addr, const uint32_t *val, int n)
{
	int k;

	for (k = 0; k < 3; k++) {
		uint32_t a = k < n ? addr[k] : SMRAM_GPA + 0x4000;
		uint32_t v = k < n ? val[k] : 0;

		*p++ = 0x66; *p++ = 0xb8; memcpy(p, &a, 4); p += 4;
		*p++ = 0x66; *p++ = 0xbb; memcpy(p, &v, 4); p += 4;
		*p++ = 0x67; *p++ = 0x66; *p++ = 0x89; *p++ = 0x18;
	}
	*p++ = 0xb0; *p++ = SMI_STAGE;
	*p++ = 0xe4; *p++ = SYNC_PORT;
	*p++ = 0x0f; *p++ = 0xaa;
}

static void rsm_iteration(struct fuzz_vm *f, unsigned long i)
{
	uint32_t addr[3], val[3];
	uint64_t vmcb_gpa = f->svm->vmcb_gpa;
	struct kvm_regs regs;
	int n = 1 + rnd_below(3), k, r;
	const struct field *x;

	rng_seed_iter(i, 1);
	mut_len = 0;
	mut_log[0] = 0;
	for (k = 0; k < n; k++) {
		switch (rnd_below(6)) {
		case 0:	/* vmcb12 GPA saved in SMRAM (smram64 0x7ee0, low dword) */
			addr[k] = SMRAM_GPA + 0xfee0 + 4 * rnd_below(2);
			val[k] = (uint32_t)fuzz_gpa(vmcb_gpa);
			break;
		case 1:	/* "in guest mode" flag (smram64 0x7ed8) */
			addr[k] = SMRAM_GPA + 0xfed8;
			val[k] = fuzz_value(1, 4);
			break;
		case 2:	/* anywhere in the state-save area */
			addr[k] = SMRAM_GPA + 0xfe00 + 4 * rnd_below(0x80);
			val[k] = fuzz_value(0, 4);
			break;
		case 3:
		case 4:	/* a vmcb12 control or save field */
			x = rnd_below(2) ? &ctl_fields[rnd_below(ARRAY_SIZE(ctl_fields))] :
					   &save_fields[rnd_below(ARRAY_SIZE(save_fields))];
			addr[k] = vmcb_gpa + x->off + (x->bytes == 8 ? 4 * rnd_below(2) : 0);
			val[k] = fuzz_value(get_field(f->svm->vmcb_hva, addr[k] - vmcb_gpa, 4), 4);
			break;
		default: /* a random dword of vmcb12 */
			addr[k] = vmcb_gpa + 4 * rnd_below(1024);
			val[k] = fuzz_value(0, 4);
			break;
		}
		mut("[0x%x]=0x%x ", addr[k], val[k]);
	}

	snap_restore(&f->snap);
	restore_valid(f->vcpu, f->valid, i);
	write_handler(f->smram + 0x8000, addr, val, n);
	f->snap.dirty = true;

	vcpu_ioctl(f->vcpu, KVM_SMI, NULL);
	r = bounded_run(f->vcpu);
	vcpu_regs_get(f->vcpu, &regs);
	if (r != KVM_EXIT_IO || f->vcpu->run->io.port != SYNC_PORT ||
	    (regs.rax & 0xff) != SMI_STAGE) {
		st.rsm_entry_other++;
	} else {
		r = bounded_run(f->vcpu);	/* RSM */
		if (r == KVM_EXIT_SHUTDOWN)
			st.rejected++;
		else
			st.accepted++;
	}
	if (cfg.verbose)
		printf("rsm iter %lu: %s\n", i, mut_log);
	if (!((i + 1) % cfg.check_every))
		check_valid(f, i);
}

int main(int argc, char *argv[])
{
	struct fuzz_vm f = {};
	unsigned long i, end;
	long taint0 = kernel_taint();

	TEST_REQUIRE(kvm_cpu_has(X86_FEATURE_SVM));
	TEST_REQUIRE(kvm_has_cap(KVM_CAP_NESTED_STATE));
	TEST_REQUIRE(kvm_has_cap(KVM_CAP_X86_SMM));
	fuzz_args(argc, argv, DEF_ITERS, DEF_RSM_ITERS, DEF_SEED);
	fuzz_signals();
	printf("nested_state_fuzz: seed 0x%llx, %lu state + %lu RSM iterations from %lu, check every %lu, recreate every %lu, KVM_RUN bound %u ms\n",
	       cfg.seed, cfg.iters, cfg.rsm_iters, cfg.start, cfg.check_every,
	       cfg.recreate, cfg.run_ms);
	fflush(stdout);

	setup(&f);
	end = cfg.start + cfg.iters;
	for (i = cfg.start; i < end; i++) {
		if (i > cfg.start && !(i % cfg.recreate))
			recreate(&f, i);
		state_iteration(&f, i);
		if (!((i + 1) % 1000))
			fuzz_report("svm", "progress", i + 1 - cfg.start);
	}
	fuzz_report("svm", "set_nested_state", cfg.iters);

	memset(&st, 0, sizeof(st));
	end = cfg.start + cfg.rsm_iters;
	for (i = cfg.start; i < end; i++) {
		if (!(i % cfg.recreate))
			recreate(&f, i);
		rsm_iteration(&f, i);
	}
	fuzz_report("svm", "rsm", cfg.rsm_iters);

	check_valid(&f, end);
	kvm_vm_free(f.vm);
	printf("FUZZ-TAINT vendor=svm seed=0x%llx before=%ld after=%ld\n", cfg.seed, taint0,
	       kernel_taint());
	return 0;
}
