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
/* Faults taken in @phase, on any page. */
int uffd_faults_in(const struct uffd_server *s, int phase);

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
 * SVM: vcpu_args_set(vcpu, 1, svm_gva) with the svm_test_data's MSRPM in use.
 * VMX: vcpu_args_set(vcpu, 3, vmx_gva, pages, apic_access): @pages is a GPA
 * (identity mapped) holding the MSR bitmap and then the virtual-APIC page
 * (TPR shadow on), or 0 to use vmx->msr and no TPR shadow; @apic_access is
 * the APIC-access address (APIC-access virtualization on).
 */
/* L2's VMMCALL, with the registers KVM's VMMCALL handling may clobber. */
static inline void l2_vmmcall(void)
{
	__asm__ __volatile__("push %%rbp; vmmcall; pop %%rbp"
			     : : "a"(0xdeadbeef), "c"(0xbeefdead)
			     : "rbx", "rdx", "rsi", "rdi", "r8", "r9",
			       "r10", "r11", "r12", "r13", "r14", "r15", "memory");
}

void svm_msr_l1_guest_code(struct svm_test_data *svm);
/* The same L1 running another L2, that must follow the same stages. */
void svm_msr_l1_run(struct svm_test_data *svm, void *l2_code);
void vmx_msr_l1_guest_code(struct vmx_pages *vmx, uint64_t pages, uint64_t apic_access);
/*
 * vmx_msr_l1_guest_code() in two halves, for an L1 that changes vmcs12
 * in between: set up vmcs12 for the standard L2 (stack at @l2_stack_top,
 * in the caller's frame), then stage 1 and on.
 */
void vmx_msr_l1_prepare(struct vmx_pages *vmx, uint64_t pages, uint64_t apic_access,
			unsigned long *l2_stack_top);
void vmx_msr_l1_launch(void);
/* Runs stages 3 to the end, asserting each exit. */
void svm_msr_guest_finish(struct kvm_vcpu *vcpu);
/* The same when the KVM_RUN that reaches stage 3 has already returned. */
void svm_msr_guest_finish_ran(struct kvm_vcpu *vcpu);
void vmx_msr_guest_finish(struct kvm_vcpu *vcpu);

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

#endif /* SELFTEST_KVM_NESTED_UTIL_H */
