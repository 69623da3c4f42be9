/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * nested_util.h - what kvm-nested's selftests share: the mode the loaded
 * kvm.ko is in, the per-VM debugfs counts, running a guest from stage to
 * stage, restoring a saved vCPU in QEMU's order, and a userfaultfd server
 * that notes which step of the restore took each fault.
 *
 * Built once as nested_util.o and linked into every test (selftests/Makefile).
 */
#ifndef SELFTEST_KVM_NESTED_UTIL_H
#define SELFTEST_KVM_NESTED_UTIL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "kvm_util.h"
#include "processor.h"
#include "svm_util.h"
#include "vmx.h"
#include "nested_compat.h"

#define DEFER_PARAM	"/sys/module/kvm/parameters/defer_nested_state_pages"

/* A legal GPA (below MAXPHYADDR) that no memslot of the tests covers. */
#define UNBACKED_GPA	0x80000000ull

/* SVM MSRPM: MSR 0xc0000000 + n at byte 0x800 + n / 4, read bit 2 * (n % 4). */
#define SVM_FS_BASE_BYTE	(0x800 + (MSR_FS_BASE - 0xc0000000) / 4)
#define SVM_FS_BASE_RDBIT	(1u << (2 * ((MSR_FS_BASE - 0xc0000000) % 4)))
/* VMX MSR bitmap: read bitmap of MSRs 0xc0000000.. at byte 0x400. */
#define VMX_FS_BASE_BYTE	(0x400 + (MSR_FS_BASE - 0xc0000000) / 8)
#define VMX_FS_BASE_BIT		(1u << ((MSR_FS_BASE - 0xc0000000) % 8))

/* SMRAM: an SMM-only memslot (address space 1), SMBASE at its start. */
#define SMRAM_GPA	0x1000000ull
#define SMRAM_SIZE	0x10000
#define SMRAM_PAGES	(SMRAM_SIZE / 4096)
#define SMRAM_MEMSLOT	((1 << 16) | 1)		/* address space 1 (SMM), slot 1 */
#define SMM_RAM_ALIAS	((1 << 16) | 2)		/* slot 0 seen from SMM */

/* Add and zero SMRAM, point the vCPU's SMBASE at it; returns its HVA. */
uint8_t *smram_setup(struct kvm_vm *vm, struct kvm_vcpu *vcpu);
/*
 * Alias RAM (slot 0) into the SMM address space, as a real SMM address
 * space has it; asserts that @gpa (the page @what, which the SMI handler
 * will touch through a 4 GiB real-mode segment) is in it, below 4 GiB.
 */
void smm_ram_alias(struct kvm_vm *vm, uint64_t gpa, const char *what);

/* The SMI handlers report to the host with an IN from this port, AL = this. */
#define SMI_SYNC_PORT	0xe
#define SMI_SYNC_AL	0xfe

/* Where the SMI handler starts: SMBASE + 0x8000. */
#define SMI_HANDLER_OFF	0x8000
#define SMI_MAX_STORES	3

/*
 * Writes the usual SMI handler to SMBASE + 0x8000 (16-bit code, DS base 0
 * and limit 4 GiB in SMM): @n (at most SMI_MAX_STORES) dword stores of
 * @val[i] to @addr[i], the report to the host (SMI_SYNC_PORT), RSM.
 */
void smi_handler_stores(uint8_t *smram, const uint32_t *addr, const uint32_t *val, int n);

/*
 * KVM_SMI, KVM_RUN: asserts that the vCPU stopped in SMM at the handler's
 * report (@what prefixes errors).
 */
void run_to_smi_handler(struct kvm_vcpu *vcpu, const char *what);

/*
 * RSM into L2 with an unusable CS (nested_rsm_bad_cs_test and its VMX twin).
 * smi_handler_bad_cs() writes the SMI handler to SMBASE + 0x8000: clear
 * CS.P in the state-save area (KVM's 64-bit layout: CS selector at
 * SMBASE + 0xfe10, attributes >> 8 at 0xfe12, P in bit 7), OR @bit into
 * the byte at @gpa (an MSR intercept bit of L1's; SMM sees RAM through
 * smm_ram_alias()), report, RSM.
 */
#define SMRAM_CS_SEL	0xfe10
#define SMRAM_CS_ATTR	0xfe12
void smi_handler_bad_cs(uint8_t *smram, uint32_t gpa, uint8_t bit);
/*
 * After that RSM (KVM_CAP_EXIT_ON_EMULATION_FAILURE): asserts the
 * emulation-failure exit, out of SMM, in guest mode with @l2_cs loaded not
 * present, then repairs CS and sends L2 to @rip with its stack at @rsp.
 */
void rsm_bad_cs_repair(struct kvm_vcpu *vcpu, uint16_t l2_cs, uint64_t rip, uint64_t rsp);

/* What the loaded kvm.ko does: stock has no parameter and behaves as legacy. */
enum mode { MODE_STOCK, MODE_EAGER, MODE_LEGACY };
extern const char * const mode_name[];

enum mode read_mode(void);
/* The mode a VM's debugfs file reports: "eager" or "legacy". */
const char *np_mode_name(enum mode mode);

/* A VM's debugfs file nested_state_pages (docs/nested-state-loading.md). */
struct np_counts {
	char mode[16];
	long rsm, set_nested_state, vmentry, legacy_request, failed;
};

/* Reads it; false when there is none (stock KVM). vmentry is -1 if absent. */
bool read_np_counts(struct kvm_vm *vm, struct np_counts *c);

struct np_want {
	long rsm, set_nested_state, legacy_request, vmentry, failed;
};

/*
 * Asserts the VM's counts are @want and its mode is @mode's (a missing
 * vmentry line matches any value).  On stock KVM (MODE_STOCK) there is no
 * file and nothing to check; with kvm-nested the file must be there.
 */
void check_np(struct kvm_vm *vm, const char *when, enum mode mode, struct np_want want);

/* The exit must be the ucall of @stage (0: GUEST_DONE); @what prefixes errors. */
struct ucall expect_stage(struct kvm_vcpu *vcpu, const char *what, int stage);
/* KVM_RUN, then expect_stage(). */
struct ucall run_to_stage(struct kvm_vcpu *vcpu, int stage);
struct ucall run_to_stage_of(struct kvm_vcpu *vcpu, const char *what, int stage);

/* vcpu_save_state(), asserting a nested state of @format in guest mode. */
struct kvm_x86_state *save_l2_state(struct kvm_vcpu *vcpu, uint16_t format);

/* KVM_GET_NESTED_STATE says the vCPU is in guest mode. */
bool in_guest_mode(struct kvm_vcpu *vcpu);
/* The flags of KVM_GET_NESTED_STATE, its size in *@size (if not NULL). */
uint32_t nested_state_flags(struct kvm_vcpu *vcpu, uint32_t *size);

/* The step of a restore the main thread is in (see set_phase()). */
enum phase {
	PH_SETUP, PH_VCPU_SETUP, PH_SREGS, PH_NESTED_STATE, PH_REGS, PH_XSAVE,
	PH_XCRS, PH_MSRS, PH_EVENTS, PH_MP_STATE, PH_DEBUGREGS, PH_RUN, NR_PHASES
};
extern const char * const phase_name[NR_PHASES];
void set_phase(enum phase p);

/*
 * Restore @st the way QEMU does: the VMX capability MSRs with the vCPU's
 * setup (they cannot be written once the vCPU is in VMX operation), then
 * SREGS, NESTED_STATE, REGS, XSAVE, XCRS, the other MSRS, VCPU_EVENTS,
 * MP_STATE, DEBUGREGS.  Each step is announced with set_phase().
 */
void restore_qemu_order(struct kvm_vcpu *vcpu, struct kvm_x86_state *st);
/* Only the steps before SREGS: the VMX capability MSRs (none on SVM). */
void restore_vcpu_setup(struct kvm_vcpu *vcpu, struct kvm_x86_state *st);
/* Only the steps after NESTED_STATE. */
void restore_rest(struct kvm_vcpu *vcpu, struct kvm_x86_state *st);
/* A malloc'ed copy of @st (free() it). */
struct kvm_x86_state *state_dup(const struct kvm_x86_state *st);

/*
 * Demand paging: uffd_start() drops the pages of [base, base + size) and a
 * thread serves faults on them with their old contents, counting them per
 * phase and per page.
 */
#define UFFD_MAX_PAGES	8

struct uffd_server {
	int uffd;
	int stop[2];
	char *base;
	size_t size;
	char *contents;		/* what the pages held before they were dropped */
	pthread_t thread;
	/*
	 * Called by the fault thread before it serves each fault (@phase: the
	 * main thread's step, @page: the page in the range); NULL: none.
	 */
	void (*on_fault)(struct uffd_server *s, int phase, int page);
	void *arg;
	/* Results, written by the fault thread only. */
	int faults[NR_PHASES][UFFD_MAX_PAGES];
	int first_phase;	/* -1: none yet */
	int error;
};

void uffd_start(struct uffd_server *s, void *base, size_t size);
/* uffd_start() with an on_fault hook and its @arg. */
void uffd_start_hook(struct uffd_server *s, void *base, size_t size,
		     void (*on_fault)(struct uffd_server *s, int phase, int page), void *arg);
void uffd_stop(struct uffd_server *s);
struct nested_vendor;
/*
 * The run after the restore under demand paging: msr_guest_finish() in
 * PH_RUN, then uffd_stop(); asserts the fault thread had no error.
 */
void uffd_run_finish(const struct nested_vendor *v, struct kvm_vcpu *vcpu,
		     struct uffd_server *s);
/* Faults taken in @phase, on any page. */
int uffd_faults_in(const struct uffd_server *s, int phase);
/*
 * Prints the faults per phase and asserts that the first came in the
 * phase @mode takes them in: KVM_SET_NESTED_STATE when eager, else the
 * first KVM_RUN (@what names the pages, e.g. "MSRPM").  Returns that phase.
 */
int uffd_expect_first(const struct uffd_server *s, enum mode mode, const char *what);

/* L2's stack, an array in the frame of the L1 function that runs it. */
#define L2_STACK_SIZE	256

/*
 * The guest most tests migrate: L1 intercepts L2's RDMSR(MSR_FS_BASE)
 * through its MSR permission map / MSR bitmap, so that the guest can only
 * complete if KVM merged L1's real map after the restore.
 *
 *   stage 1: L1 set up;  2: in L2 (the host saves/restores or SMIs here);
 *   3: the RDMSR exited to L1 (args: exit code/reason, SVM exit_info_1);
 *   4: back in L2;  5: L2's VMMCALL/VMCALL exited to L1 (arg: exit code);
 *   then GUEST_DONE.
 *
 * Its L1 (msr_l1_guest_code) takes (data, pages, apic_access), which
 * nested_vm_create() passes: @data is the svm_test_data or vmx_pages.  VMX
 * only: @pages is a GPA (identity mapped) holding the MSR bitmap and then
 * the virtual-APIC page (TPR shadow on), or 0 to use vmx->msr and no TPR
 * shadow; @apic_access is the APIC-access address (APIC-access
 * virtualization on).
 */
/* L2's VMMCALL, with the registers KVM's VMMCALL handling may clobber. */
static inline void l2_vmmcall(void)
{
	__asm__ __volatile__("push %%rbp; vmmcall; pop %%rbp"
			     : : "a"(0xdeadbeef), "c"(0xbeefdead)
			     : "rbx", "rdx", "rsi", "rdi", "r8", "r9",
			       "r10", "r11", "r12", "r13", "r14", "r15", "memory");
}

/*
 * The same without a store: for an L2 whose first instructions may run on
 * a stack that is not its own (a bad nested state restored with
 * KVM_STATE_NESTED_RUN_PENDING, nested_run_pending_signal_test), where
 * l2_vmmcall()'s push would write into L1's frame.  RBP is not clobbered:
 * run_guest() swaps it with L1's.
 */
static inline void l2_vmmcall_nostore(void)
{
	__asm__ __volatile__("vmmcall"
			     : : "a"(0), "c"(0)
			     : "rbx", "rdx", "rsi", "rdi", "r8", "r9",
			       "r10", "r11", "r12", "r13", "r14", "r15", "memory");
}

/* L2's exit to L1 on purpose: VMCALL on VMX, VMMCALL on SVM. */
static inline void l2_hypercall(bool vmx)
{
	if (vmx)
		vmcall();
	else
		l2_vmmcall();
}

/* What the SVM and the VMX version of a test differ in (positional in nested_util.c). */
struct nested_vendor {
	const char *name;		/* "SVM", "VMX" */
	bool vmx;
	uint16_t format;		/* KVM_STATE_NESTED_FORMAT_* */
	const char *msr_map;		/* L1's MSR intercepts: "MSRPM", "MSR bitmap" */
	uint32_t fs_base_byte;		/* its RDMSR(FS_BASE) bit */
	uint8_t fs_base_bit;
	uint32_t hypercall_exit;	/* L2's VMMCALL/VMCALL exit to L1 */
	void *msr_l1_guest_code;	/* the standard L1 (see above) */
};
extern const struct nested_vendor svm_vendor, vmx_vendor;

/*
 * A test built for both vendors from one source (selftests/Makefile:
 * TWINS) is compiled with -DNESTED_VMX for its vmx_ binary.
 */
#ifdef NESTED_VMX
#define THIS_VMX	true
#else
#define THIS_VMX	false
#endif
#define THIS_VENDOR	(THIS_VMX ? &vmx_vendor : &svm_vendor)

/* What a test needs besides the vendor's nested virtualization. */
#define NEED_SMM		(1u << 0)	/* KVM_CAP_X86_SMM */
#define NEED_NESTED_STATE	(1u << 1)	/* KVM_CAP_NESTED_STATE */
#define NEED_EXIT_ON_EMU	(1u << 2)	/* KVM_CAP_EXIT_ON_EMULATION_FAILURE */
#define NEED_TRIPLE_FAULT	(1u << 3)	/* KVM_CAP_X86_TRIPLE_FAULT_EVENT */
#define NEED_MSR_L1		(1u << 4)	/* VMX: MSR bitmaps, APIC-access virtualization */
#define NEED_TPR_SHADOW		(1u << 5)	/* VMX: TPR shadow */

/* Skips the test unless KVM offers all of @needs; returns read_mode(), printed. */
enum mode nested_require(const struct nested_vendor *v, unsigned int needs);

/* VMX: the APIC-access page alone in a memslot (NV_APIC_ACCESS). */
#define APIC_ACCESS_GPA		0x50000000ull
#define APIC_ACCESS_SLOT	11
/* VMX: MSR bitmap, virtual-APIC page, APIC-access page in a memslot (NV_PAGES). */
#define PAGES_GPA		0x40000000ull
#define PAGES_SLOT		10
#define NR_PAGES		4
#define PG_MSR_BITMAP		0
#define PG_VAPIC		1
#define PG_APIC_ACCESS		2

/* What nested_vm_create() adds to the VM. */
#define NV_SMRAM		(1u << 0)	/* smram_setup(): nvm->smram */
#define NV_APIC_ACCESS		(1u << 1)	/* VMX: APIC_ACCESS_GPA */
#define NV_PAGES		(1u << 2)	/* VMX: PAGES_GPA, identity mapped, zeroed */

struct nested_vm {
	const struct nested_vendor *v;
	struct kvm_vm *vm;
	struct kvm_vcpu *vcpu;
	gva_t gva;			/* L1's svm_test_data / vmx_pages */
	struct svm_test_data *svm;	/* SVM */
	struct vmx_pages *vmx;		/* VMX */
	uint64_t msr_gpa;		/* L1's MSRPM / MSR bitmap */
	uint8_t *msr_hva;
	uint8_t *smram;			/* NV_SMRAM */
};

/*
 * A VM with one vCPU running @l1_code (NULL: v->msr_l1_guest_code) with the
 * arguments (data, pages, apic_access) of the standard L1 (see above).
 */
void nested_vm_create(struct nested_vm *n, const struct nested_vendor *v, void *l1_code,
		      unsigned int flags);
/* kvm_vm_release(), and a new vCPU in the same VM over the same memory. */
void nested_vm_recreate(struct nested_vm *n);

/* The standard L1 of each vendor and its parts. */
void svm_msr_l1_guest_code(struct svm_test_data *svm);
/* The same L1 running another L2, that must follow the same stages. */
void svm_msr_l1_run(struct svm_test_data *svm, void *l2_code);
void vmx_msr_l1_guest_code(struct vmx_pages *vmx, uint64_t pages, uint64_t apic_access);
void vmx_msr_l1_run(struct vmx_pages *vmx, uint64_t pages, uint64_t apic_access, void *l2_code);
/*
 * vmx_msr_l1_run() in two halves, for an L1 that changes vmcs12 in
 * between: set up vmcs12 for @l2_code (NULL: the standard L2; its stack at
 * @l2_stack_top, in the caller's frame), then stage 1 and on.
 */
void vmx_msr_l1_prepare(struct vmx_pages *vmx, uint64_t pages, uint64_t apic_access,
			void *l2_code, unsigned long *l2_stack_top);
void vmx_msr_l1_launch(void);

/* Stage 3's ucall: asserts that L2's RDMSR(FS_BASE) exited to L1 (@what prefixes errors). */
void expect_msr_exit(const struct nested_vendor *v, struct ucall uc, const char *what);
/* Runs stages 4 and 5 to the end, asserting L2's VMMCALL/VMCALL exit. */
void msr_guest_finish_from_4(const struct nested_vendor *v, struct kvm_vcpu *vcpu);
/* Runs stages 3 to the end, asserting each exit. */
void msr_guest_finish(const struct nested_vendor *v, struct kvm_vcpu *vcpu);
void svm_msr_guest_finish(struct kvm_vcpu *vcpu);

/*
 * An L1 that runs @l2_code once: stage 1, VMRUN, stage 3 (arg: the exit
 * code); with @resume it then skips L2's VMMCALL and runs L2 again until its
 * next exit; then GUEST_DONE.
 */
void svm_l1_run_l2(struct svm_test_data *svm, void *l2_code, bool resume);
/*
 * The same on VMX (stage 3's arg: the exit reason, no resume), with the
 * secondary controls @clear_secondary cleared.
 */
void vmx_l1_run_l2(struct vmx_pages *vmx, void *l2_code, uint32_t clear_secondary);

/* check_np() with @eager in eager mode and @legacy otherwise. */
void check_np_modes(struct kvm_vm *vm, const char *when, enum mode mode,
		    struct np_want eager, struct np_want legacy);
/*
 * The counts after one restore of a vCPU in L2 and L1's one VM-entry into
 * L2 after it: the pages loaded once, in KVM_SET_NESTED_STATE or on request.
 */
void check_np_one_restore(struct kvm_vm *vm, const char *when, enum mode mode);

/*
 * The outcome of KVM_SET_NESTED_STATE (@r, errno) of a state whose @page is
 * at unbacked @gpa: in eager mode it must fail with EINVAL, else succeed.
 */
void expect_unbacked_set(int r, enum mode mode, const char *page, uint64_t gpa);
/*
 * After a valid state was refused or deferred: SREGS and NESTED_STATE of
 * @st again must succeed (@when: "after the bad one", ...) into guest mode;
 * then the rest of the restore.
 */
void restore_again(struct kvm_vcpu *vcpu, struct kvm_x86_state *st, enum mode mode,
		   const char *when);

/*
 * What KVM_GET_REGS, _SREGS, _VCPU_EVENTS, _NESTED_STATE and _MSRS (of
 * the MSRs asked for) show of a vCPU: to check that a failed ioctl
 * changed none of it.
 */
#define SNAPSHOT_MAX_MSRS	8

struct vcpu_snapshot {
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_vcpu_events events;
	int nmsrs;
	uint32_t msr_index[SNAPSHOT_MAX_MSRS];
	uint64_t msr_value[SNAPSHOT_MAX_MSRS];
	union {
		struct kvm_nested_state hdr;
		char buf[16384];
	} nested;
};

void vcpu_snapshot_take(struct kvm_vcpu *vcpu, struct vcpu_snapshot *s,
			const uint32_t *msrs, int nmsrs);
/*
 * The number of differences between @a and @b (same MSR list); each is
 * described in @buf ("<what> <a>-><b>;"), as far as @len allows.
 */
int vcpu_snapshot_diff(const struct vcpu_snapshot *a, const struct vcpu_snapshot *b,
		       char *buf, size_t len);
/*
 * Eager mode, after a failed KVM_SET_NESTED_STATE: asserts that no triple
 * fault is pending (@hint: what one would mean, or "") and that nothing
 * KVM_GET_* shows changed since @before (taken with the same MSRs).
 */
void expect_unchanged(struct kvm_vcpu *vcpu, const struct vcpu_snapshot *before,
		      const char *hint);

#endif /* SELFTEST_KVM_NESTED_UTIL_H */
