// SPDX-License-Identifier: GPL-2.0-only
/*
 * nested_fuzz.c - what nested_state_fuzz.c (SVM) and vmx_nested_state_fuzz.c
 * (VMX) share (nested_fuzz.h): the seeded generator, the arguments, the
 * bounded KVM_RUN, the guest memory snapshot, the valid-state restore, the
 * mutations both make, and the counters.
 *
 * Arguments (argv wins over the environment):
 *   argv[1] / FUZZ_ITERS       KVM_SET_NESTED_STATE iterations
 *   argv[2] / FUZZ_SEED        seed (decimal or 0x...)
 *   argv[3] / FUZZ_RSM_ITERS   RSM iterations (SMM handler corrupts state)
 *   FUZZ_CHECK_EVERY           valid-restore check period (default 16)
 *   FUZZ_RECREATE              recreate the VM every N iterations (32)
 *   FUZZ_RUN_MS                bound of each KVM_RUN, ms (default 200)
 *   FUZZ_VERBOSE=1             print every iteration's mutations
 *   FUZZ_START                 first iteration number (replay a tail)
 * Every iteration draws from its own generator, seeded from (seed,
 * iteration), so a run replays exactly from its seed and FUZZ_START=i
 * FUZZ_ITERS=1 replays iteration i (on a fresh VM).
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "test_util.h"
#include "kvm_util.h"
#include "processor.h"
#include "nested_util.h"
#include "nested_fuzz.h"

struct fuzz_cfg {
	unsigned long iters, rsm_iters, start;
	unsigned long long seed;
	unsigned long check_every, recreate;
	unsigned int run_ms;
	bool verbose;
};

struct fuzz_stats {
	unsigned long iters, accepted, rejected, sregs_rejected;
	unsigned long checks, runs, intr, run_errors;
	unsigned long exits[64];
	unsigned long rsm_iters, rsm_entry_other, diverged;
};

static struct fuzz_cfg cfg;
static struct kvm_lapic_state valid_lapic;
static bool have_lapic;
static struct fuzz_stats st;
static unsigned long long rng_state;
static char mut_log[512];
static size_t mut_len;

/* splitmix64: small, good enough, and the same everywhere. */
uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

uint64_t rnd_below(uint64_t n)
{
	return n ? rnd() % n : 0;
}

static void rng_seed_iter(unsigned long i, int kind)
{
	rng_state = cfg.seed ^ (0xd1b54a32d192ed03ull * (i + 1)) ^ ((uint64_t)kind << 56);
	rnd();
}

void mut(const char *fmt, ...)
{
	va_list ap;
	int n;

	if (mut_len >= sizeof(mut_log) - 1)
		return;
	va_start(ap, fmt);
	n = vsnprintf(mut_log + mut_len, sizeof(mut_log) - mut_len, fmt, ap);
	va_end(ap);
	if (n > 0)
		mut_len += n;
	if (mut_len >= sizeof(mut_log))
		mut_len = sizeof(mut_log) - 1;
}

/* An "interesting" new value for a field of @bytes bytes that holds @old. */
uint64_t fuzz_value(uint64_t old, int bytes)
{
	uint64_t mask = bytes >= 8 ? ~0ull : (1ull << (8 * bytes)) - 1;
	uint64_t v;

	switch (rnd_below(8)) {
	case 0: v = 0; break;
	case 1: v = ~0ull; break;
	case 2: v = 1ull << rnd_below(8 * bytes); break;
	case 3: v = old ^ (1ull << rnd_below(8 * bytes)); break;
	case 4: v = old ^ (rnd() & rnd() & rnd()); break;
	case 5: v = old + rnd_below(9) - 4; break;
	case 6: v = rnd() & 0xffffffffull; break;
	default: v = rnd(); break;
	}
	return v & mask;
}

void put_field(void *base, size_t off, int bytes, uint64_t v)
{
	memcpy((char *)base + off, &v, bytes);
}

uint64_t get_field(const void *base, size_t off, int bytes)
{
	uint64_t v = 0;

	memcpy(&v, (const char *)base + off, bytes);
	return v;
}

static unsigned long env_ul(const char *name, unsigned long def)
{
	const char *s = getenv(name);

	return s && *s ? strtoull(s, NULL, 0) : def;
}

static void fuzz_args(int argc, char *argv[], unsigned long def_iters,
		      unsigned long def_rsm, unsigned long long def_seed)
{
	cfg.iters = env_ul("FUZZ_ITERS", def_iters);
	cfg.seed = env_ul("FUZZ_SEED", def_seed);
	cfg.rsm_iters = env_ul("FUZZ_RSM_ITERS", def_rsm);
	if (argc > 1)
		cfg.iters = strtoull(argv[1], NULL, 0);
	if (argc > 2)
		cfg.seed = strtoull(argv[2], NULL, 0);
	if (argc > 3)
		cfg.rsm_iters = strtoull(argv[3], NULL, 0);
	cfg.check_every = env_ul("FUZZ_CHECK_EVERY", 16) ?: 1;
	cfg.recreate = env_ul("FUZZ_RECREATE", 32) ?: 1;
	cfg.run_ms = env_ul("FUZZ_RUN_MS", 200) ?: 1;
	cfg.verbose = env_ul("FUZZ_VERBOSE", 0);
	cfg.start = env_ul("FUZZ_START", 0);
}

static void on_alarm(int sig)
{
}

static void fuzz_signals(void)
{
	struct sigaction sa = { .sa_handler = on_alarm };

	TEST_ASSERT(!sigaction(SIGALRM, &sa, NULL), "sigaction: errno %d", errno);
}

/* One KVM_RUN, bounded by SIGALRM after cfg.run_ms; counts the outcome. */
static int bounded_run(struct kvm_vcpu *vcpu)
{
	struct itimerval t = {
		.it_value = { .tv_sec = cfg.run_ms / 1000,
			      .tv_usec = (cfg.run_ms % 1000) * 1000 },
	};
	struct itimerval off = {};
	int r, err;

	setitimer(ITIMER_REAL, &t, NULL);
	r = __vcpu_run(vcpu);
	err = errno;
	setitimer(ITIMER_REAL, &off, NULL);
	st.runs++;
	if (r && err == EINTR) {
		st.intr++;
		mut("-> EINTR");
		return -EINTR;
	}
	if (r) {
		st.run_errors++;
		mut("-> errno %d", err);
		return -err;
	}
	st.exits[vcpu->run->exit_reason & 63]++;
	mut("-> %s", exit_reason_str(vcpu->run->exit_reason));
	return vcpu->run->exit_reason;
}

static void snap_take(struct kvm_vm *vm, struct mem_snap *s)
{
	struct userspace_mem_region *ram = memslot2region(vm, 0);

	s->hva = (void *)(uintptr_t)ram->region.userspace_addr;
	s->size = ram->region.memory_size;
	s->copy = malloc(s->size);
	TEST_ASSERT(s->copy, "malloc(%zu) failed", s->size);
	memcpy(s->copy, s->hva, s->size);
	s->dirty = false;
}

static void snap_restore(struct mem_snap *s)
{
	if (s->dirty)
		memcpy(s->hva, s->copy, s->size);
	s->dirty = false;
}

/* The local APIC is not in struct kvm_x86_state; a VMM restores it too. */
static void save_lapic(struct kvm_vcpu *vcpu)
{
	have_lapic = !__vcpu_ioctl(vcpu, KVM_GET_LAPIC, &valid_lapic);
}

/*
 * The valid state, in QEMU's order (SREGS, NESTED_STATE, the rest); events
 * go first too, to leave SMM, where guest-mode nested state is refused.
 */
static void restore_valid(struct kvm_vcpu *vcpu, struct kvm_x86_state *s,
			  unsigned long iter)
{
	unsigned int i;
	int r;

	vcpu_events_set(vcpu, &s->events);
	vcpu_sregs_set(vcpu, &s->sregs);
	r = __vcpu_nested_state_set(vcpu, &s->nested);
	TEST_ASSERT(!r, "iteration %lu (seed 0x%llx): KVM_SET_NESTED_STATE of the valid state failed, errno %d: the vCPU is stuck after [%s]",
		    iter, cfg.seed, errno, mut_log);
	vcpu_regs_set(vcpu, &s->regs);
	vcpu_xsave_set(vcpu, s->xsave);
	if (kvm_has_cap(KVM_CAP_XCRS))
		vcpu_xcrs_set(vcpu, &s->xcrs);
	/*
	 * KVM refuses to change VMX capability MSRs (0x480-0x493) once the
	 * vCPU has run; they hold the saved values anyway.  The rest, one by
	 * one, must be accepted.
	 */
	for (i = 0; i < s->msrs.nmsrs; i++) {
		struct {
			struct kvm_msrs hdr;
			struct kvm_msr_entry e;
		} one = { .hdr.nmsrs = 1, .e = s->msrs.entries[i] };

		if (one.e.index >= 0x480 && one.e.index <= 0x493)
			continue;
		r = __vcpu_ioctl(vcpu, KVM_SET_MSRS, &one.hdr);
		TEST_ASSERT(r == 1,
			    "iteration %lu (seed 0x%llx): KVM_SET_MSRS of the valid MSR 0x%x failed after [%s]",
			    iter, cfg.seed, one.e.index, mut_log);
	}
	if (have_lapic)
		vcpu_ioctl(vcpu, KVM_SET_LAPIC, &valid_lapic);
	vcpu_events_set(vcpu, &s->events);
	vcpu_mp_state_set(vcpu, &s->mp_state);
	vcpu_debugregs_set(vcpu, &s->debugregs);
}

/*
 * Make a pending triple fault part of the vCPU events, as QEMU does, so
 * that restoring the valid state also drops one left by a fuzzed run.
 */
static void fuzz_vm_caps(struct kvm_vm *vm)
{
	if (kvm_has_cap(KVM_CAP_X86_TRIPLE_FAULT_EVENT))
		vm_enable_cap(vm, KVM_CAP_X86_TRIPLE_FAULT_EVENT, 1);
}

/*
 * One try of the valid state: L2 reports to L1 (stage 3, exit code
 * @exit_code) and L1 finishes.  Any other outcome is returned as false;
 * a KVM_RUN that does not return is caught by the rig's timeout.
 */
static bool try_complete(struct kvm_vcpu *vcpu, uint64_t exit_code, char *why, size_t n)
{
	struct ucall uc = {};
	int stage, r;

	for (stage = 3; stage >= 0; stage -= 3) {
		do {
			r = __vcpu_run(vcpu);
		} while (r && errno == EINTR);
		if (r || vcpu->run->exit_reason != KVM_EXIT_IO) {
			snprintf(why, n, "stage %d: rc %d errno %d exit reason %u (%s)", stage, r,
				 r ? errno : 0, vcpu->run->exit_reason,
				 exit_reason_str(vcpu->run->exit_reason));
			return false;
		}
		switch (get_ucall(vcpu, &uc)) {
		case UCALL_SYNC:
			if (stage == 3 && uc.args[1] == 3 && uc.args[2] == exit_code)
				continue;
			snprintf(why, n, "stage %d: got stage %lu exit code 0x%lx", stage,
				 (unsigned long)uc.args[1], (unsigned long)uc.args[2]);
			return false;
		case UCALL_DONE:
			if (stage == 0)
				continue;
			snprintf(why, n, "stage %d: guest done early", stage);
			return false;
		default:
			snprintf(why, n, "stage %d: ucall %lu", stage, (unsigned long)uc.cmd);
			return false;
		}
	}
	return true;
}

/* Like vcpu_run(), but a failure names the iteration and the seed. */
static struct ucall check_stage(struct kvm_vcpu *vcpu, int stage, unsigned long iter)
{
	struct ucall uc = {};
	int r;

	do {
		r = __vcpu_run(vcpu);
	} while (r && errno == EINTR);
	TEST_ASSERT(!r && vcpu->run->exit_reason == KVM_EXIT_IO,
		    "iteration %lu (seed 0x%llx), valid state after [%s]: stage %d: expected a ucall, got rc %d errno %d exit reason %u (%s)",
		    iter, cfg.seed, mut_log, stage, r, r ? errno : 0, vcpu->run->exit_reason,
		    exit_reason_str(vcpu->run->exit_reason));
	switch (get_ucall(vcpu, &uc)) {
	case UCALL_SYNC:
		TEST_ASSERT(uc.args[1] == stage,
			    "iteration %lu (seed 0x%llx), valid state after [%s]: expected stage %d, got %lu",
			    iter, cfg.seed, mut_log, stage, (unsigned long)uc.args[1]);
		break;
	case UCALL_DONE:
		TEST_ASSERT(stage == 0,
			    "iteration %lu (seed 0x%llx), valid state after [%s]: guest done, expected stage %d",
			    iter, cfg.seed, mut_log, stage);
		break;
	case UCALL_ABORT:
		REPORT_GUEST_ASSERT(uc);
		break;
	default:
		TEST_FAIL("iteration %lu (seed 0x%llx), valid state after [%s]: stage %d: unexpected ucall %lu",
			  iter, cfg.seed, mut_log, stage, (unsigned long)uc.cmd);
	}
	return uc;
}

/* The kernel taint, for the rig's before/after comparison (-1: unknown). */
static long kernel_taint(void)
{
	FILE *f = fopen("/proc/sys/kernel/tainted", "r");
	long t = -1;

	if (f) {
		if (fscanf(f, "%ld", &t) != 1)
			t = -1;
		fclose(f);
	}
	return t;
}

static void fuzz_report(const char *vendor, const char *what, unsigned long iters)
{
	int i;

	printf("FUZZ-RESULT vendor=%s what=%s seed=0x%llx iters=%lu accepted=%lu rejected=%lu sregs_rejected=%lu runs=%lu eintr=%lu run_errors=%lu checks=%lu smi_entry_other=%lu diverged=%lu exits=",
	       vendor, what, cfg.seed, iters, st.accepted, st.rejected, st.sregs_rejected,
	       st.runs, st.intr, st.run_errors, st.checks, st.rsm_entry_other, st.diverged);
	for (i = 0; i < 64; i++)
		if (st.exits[i])
			printf("%s:%lu,", exit_reason_str(i), st.exits[i]);
	printf("\n");
	fflush(stdout);
}

/* --- the driver, shared by nested_state_fuzz and vmx_nested_state_fuzz --- */

#define DEF_SEED	0x5eedull

uint64_t fuzz_gpa(uint64_t good)
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

static void mutate_field(void *base, const struct field *f, int nf, const char *or_in)
{
	const struct field *x = &f[rnd_below(nf)];
	uint64_t old = get_field(base, x->off, x->bytes);
	uint64_t v = strstr(x->name, or_in) && rnd_below(2) ?
		     old | fuzz_value(0, x->bytes) : fuzz_value(old, x->bytes);

	put_field(base, x->off, x->bytes, v);
	mut("%s=0x%lx ", x->name, (unsigned long)v);
}

/* The nested state header's flags, format or size (@what 0-2). */
static void mutate_header(struct kvm_nested_state *ns, int what, uint32_t blob_size)
{
	switch (what) {
	case 0:
		ns->flags = rnd_below(4) ? ns->flags ^ (1u << rnd_below(4)) : rnd() & 0xffff;
		mut("flags=0x%x ", ns->flags);
		break;
	case 1:
		ns->format = rnd_below(3) ? rnd_below(3) : rnd() & 0xffff;
		mut("format=%u ", ns->format);
		break;
	default:
		switch (rnd_below(4)) {
		case 0: ns->size = rnd_below(sizeof(*ns) + 64); break;
		case 1: ns->size = rnd_below(16384); break;
		case 2: ns->size = ns->size - 1 - rnd_below(64); break;
		default: ns->size = sizeof(*ns) + blob_size; break;
		}
		mut("size=%u ", ns->size);
		break;
	}
}

/* L2's CR0, CR3, CR4 or EFER, set with KVM_SET_SREGS. */
static void mutate_l2_sregs(struct kvm_sregs *sregs)
{
	switch (rnd_below(4)) {
	case 0:
		sregs->cr0 = fuzz_value(sregs->cr0, 8);
		mut("l2.cr0=0x%llx ", sregs->cr0);
		break;
	case 1:
		sregs->cr4 = fuzz_value(sregs->cr4, 8);
		mut("l2.cr4=0x%llx ", sregs->cr4);
		break;
	case 2:
		sregs->efer = fuzz_value(sregs->efer, 8);
		mut("l2.efer=0x%llx ", sregs->efer);
		break;
	default:
		sregs->cr3 = fuzz_value(sregs->cr3, 8);
		mut("l2.cr3=0x%llx ", sregs->cr3);
		break;
	}
}

/*
 * One to three mutations of a copy of the valid state (@good_pa: its
 * vmcb12/vmcs12 address): the header, the vendor's own header fields,
 * vmcb12/vmcs12 fields, a bit flip in it, or L2's control registers.
 */
static void mutate_state(const struct fuzz_vendor *v, struct kvm_x86_state *s,
			 uint64_t good_pa)
{
	/* vmcb12 and vmcs12 both start the data after the header. */
	uint8_t *blob = (uint8_t *)s + offsetof(struct kvm_x86_state, nested) +
			offsetof(struct kvm_nested_state, data);
	int n = 1 + rnd_below(3), what;
	unsigned int bit;

	while (n--) {
		what = rnd_below(12);
		switch (what) {
		case 0 ... 2:
			mutate_header(&s->nested, what, v->blob_size);
			break;
		case 3 ... 4:
			v->mutate_hdr(&s->nested, what, good_pa);
			break;
		case 5 ... 6:
			mutate_field(blob, v->ctl_fields, v->nr_ctl_fields, v->or_in);
			break;
		case 7 ... 8:
			mutate_field(blob, v->save_fields, v->nr_save_fields, v->or_in);
			break;
		case 9:
			bit = rnd_below(rnd_below(2) ? v->hot_bytes * 8 : 4096 * 8);
			blob[bit / 8] ^= 1u << (bit % 8);
			mut("%s.bit%u ", v->blob_name, bit);
			break;
		default:
			mutate_l2_sregs(&s->sregs);
			break;
		}
	}
}

static void add_smm_alias(struct fuzz_vm *f)
{
	smm_ram_alias(f->vm, f->nested_gpa, "vmcb12/vmcs12");
}

static void setup(struct fuzz_vm *f)
{
	struct nested_vm n;
	struct ucall uc;

	nested_vm_create(&n, f->v->nested, f->v->l1_guest_code, NV_SMRAM);
	f->vm = n.vm;
	f->vcpu = n.vcpu;
	f->smram = n.smram;
	f->nested_gpa = n.vmx ? n.vmx->vmcs_gpa : n.svm->vmcb_gpa;
	f->nested_hva = n.vmx ? n.vmx->vmcs_hva : n.svm->vmcb_hva;
	fuzz_vm_caps(f->vm);
	add_smm_alias(f);

	check_stage(f->vcpu, 1, 0);
	check_stage(f->vcpu, 2, 0);
	f->valid = vcpu_save_state(f->vcpu);
	save_lapic(f->vcpu);
	TEST_ASSERT(f->valid->nested.format == f->v->format &&
		    (f->valid->nested.flags & KVM_STATE_NESTED_GUEST_MODE),
		    "saved nested state: expected format %u (%s) in guest mode, got format %u flags 0x%x",
		    f->v->format, f->v->name, f->valid->nested.format, f->valid->nested.flags);
	f->valid_size = sizeof(*f->valid) +
			f->valid->msrs.nmsrs * sizeof(f->valid->msrs.entries[0]);
	f->work = malloc(f->valid_size);
	TEST_ASSERT(f->work, "malloc failed");
	snap_take(f->vm, &f->snap);

	/* The valid state completes. */
	uc = check_stage(f->vcpu, 3, 0);
	TEST_ASSERT(uc.args[2] == f->v->l2_exit,
		    "expected L2's VMMCALL/VMCALL to exit to L1 (0x%lx), got 0x%lx",
		    (unsigned long)f->v->l2_exit, (unsigned long)uc.args[2]);
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
	if (try_complete(f->vcpu, f->v->l2_exit, why, sizeof(why)))
		return;
	st.diverged++;
	printf("FUZZ-DIVERGED iteration=%lu seed=0x%llx after [%s]: %s\n", iter, cfg.seed,
	       mut_log, why);
	recreate(f, iter);
	f->snap.dirty = true;
	TEST_ASSERT(try_complete(f->vcpu, f->v->l2_exit, why, sizeof(why)),
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
	mutate_state(f->v, w, f->v->nested->vmx ? f->valid->nested.hdr.vmx.vmcs12_pa :
					       f->valid->nested.hdr.svm.vmcb_pa);

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

/* Draws one dword store of the SMI handler. */
static void rsm_store(struct fuzz_vm *f, uint32_t *addr, uint32_t *val)
{
	const struct fuzz_vendor *v = f->v;
	uint64_t gpa = f->nested_gpa;
	const struct field *x;
	int kind = rnd_below(v->nr_rsm_kinds);

	switch (v->rsm_kinds[kind]) {
	case RSM_OWN:
		v->rsm_store(f, kind, addr, val);
		break;
	case RSM_SAVE_AREA:
		*addr = SMRAM_GPA + 0xfe00 + 4 * rnd_below(0x80);
		*val = fuzz_value(0, 4);
		break;
	case RSM_FIELD:
		x = rnd_below(2) ? &v->ctl_fields[rnd_below(v->nr_ctl_fields)] :
				   &v->save_fields[rnd_below(v->nr_save_fields)];
		*addr = gpa + x->off + (x->bytes == 8 ? 4 * rnd_below(2) : 0);
		*val = fuzz_value(get_field(f->nested_hva, *addr - gpa, 4), 4);
		break;
	default:
		*addr = gpa + 4 * rnd_below(1024);
		*val = fuzz_value(0, 4);
		break;
	}
}

static void rsm_iteration(struct fuzz_vm *f, unsigned long i)
{
	uint32_t addr[SMI_MAX_STORES], val[SMI_MAX_STORES];
	struct kvm_regs regs;
	int n = 1 + rnd_below(SMI_MAX_STORES), k, r;

	rng_seed_iter(i, 1);
	mut_len = 0;
	mut_log[0] = 0;
	for (k = 0; k < n; k++) {
		rsm_store(f, &addr[k], &val[k]);
		mut("[0x%x]=0x%x ", addr[k], val[k]);
	}

	snap_restore(&f->snap);
	restore_valid(f->vcpu, f->valid, i);
	smi_handler_stores(f->smram, addr, val, n);
	f->snap.dirty = true;

	vcpu_ioctl(f->vcpu, KVM_SMI, NULL);
	r = bounded_run(f->vcpu);
	vcpu_regs_get(f->vcpu, &regs);
	if (r != KVM_EXIT_IO || f->vcpu->run->io.port != SMI_SYNC_PORT ||
	    (regs.rax & 0xff) != SMI_SYNC_AL) {
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

/*
 * The whole run: ITERS state iterations, then RSM_ITERS RSM iterations,
 * and a last check that the valid state completes.
 */
int fuzz_main(const struct fuzz_vendor *v, int argc, char *argv[])
{
	struct fuzz_vm f = { .v = v };
	unsigned long i, end;
	long taint0 = kernel_taint();

	fuzz_args(argc, argv, v->def_iters, v->def_rsm_iters, DEF_SEED);
	fuzz_signals();
	printf("%s: seed 0x%llx, %lu state + %lu RSM iterations from %lu, check every %lu, recreate every %lu, KVM_RUN bound %u ms\n",
	       v->prog, cfg.seed, cfg.iters, cfg.rsm_iters, cfg.start, cfg.check_every,
	       cfg.recreate, cfg.run_ms);
	fflush(stdout);

	setup(&f);
	end = cfg.start + cfg.iters;
	for (i = cfg.start; i < end; i++) {
		if (i > cfg.start && !(i % cfg.recreate))
			recreate(&f, i);
		state_iteration(&f, i);
		if (!((i + 1) % 1000))
			fuzz_report(v->name, "progress", i + 1 - cfg.start);
	}
	fuzz_report(v->name, "set_nested_state", cfg.iters);

	memset(&st, 0, sizeof(st));
	end = cfg.start + cfg.rsm_iters;
	for (i = cfg.start; i < end; i++) {
		if (!(i % cfg.recreate))
			recreate(&f, i);
		rsm_iteration(&f, i);
	}
	fuzz_report(v->name, "rsm", cfg.rsm_iters);

	check_valid(&f, end);
	kvm_vm_free(f.vm);
	printf("FUZZ-TAINT vendor=%s seed=0x%llx before=%ld after=%ld\n", v->name, cfg.seed, taint0,
	       kernel_taint());
	return 0;
}
