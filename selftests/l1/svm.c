// SPDX-License-Identifier: GPL-2.0
/*
 * SVM part of the L1 payload (docs/rig.md): EFER.SVME, a VMCB for a 64-bit
 * L2 that shares L1's address space (no NPT), and an MSR permission map
 * that intercepts L2's reads of MSR_FS_BASE only.
 */
#include "l1.h"

#define EFER_SVME		(1ULL << 12)
#define MSR_VM_HSAVE_PA		0xc0010117

#define INTERCEPT_MSR_PROT	(1U << 28)
#define INTERCEPT_SHUTDOWN	(1U << 31)
#define INTERCEPT_VMRUN		(1U << 0)
#define INTERCEPT_VMMCALL	(1U << 1)

#define SVM_EXIT_MSR		0x7c
#define SVM_EXIT_VMMCALL	0x81

struct vmcb_seg {
	u16 selector;
	u16 attrib;
	u32 limit;
	u64 base;
};

struct vmcb {
	/* control area */
	u32 intercept_cr;
	u32 intercept_dr;
	u32 intercept_exceptions;
	u32 intercept_misc1;
	u32 intercept_misc2;
	u8 reserved1[0x3c - 0x14];
	u16 pause_filter_thresh;
	u16 pause_filter_count;
	u64 iopm_base_pa;
	u64 msrpm_base_pa;
	u64 tsc_offset;
	u32 asid;
	u8 tlb_ctl;
	u8 reserved2[3];
	u64 int_ctl;
	u64 int_state;
	u64 exit_code;
	u64 exit_info_1;
	u64 exit_info_2;
	u64 exit_int_info;
	u64 nested_ctl;
	u8 reserved3[0xc0 - 0x98];
	u32 clean;
	u32 reserved4;
	u64 next_rip;
	u8 reserved5[0x400 - 0xd0];
	/* state save area */
	struct vmcb_seg es, cs, ss, ds, fs, gs, gdtr, ldtr, idtr, tr;
	u8 reserved6[0x4cb - 0x4a0];
	u8 cpl;
	u32 reserved7;
	u64 efer;
	u8 reserved8[0x548 - 0x4d8];
	u64 cr4;
	u64 cr3;
	u64 cr0;
	u64 dr7;
	u64 dr6;
	u64 rflags;
	u64 rip;
	u8 reserved9[0x5d8 - 0x580];
	u64 rsp;
	u8 reserved10[0x5f8 - 0x5e0];
	u64 rax;
	u8 reserved11[0x668 - 0x600];
	u64 g_pat;
};

_Static_assert(__builtin_offsetof(struct vmcb, msrpm_base_pa) == 0x48, "vmcb");
_Static_assert(__builtin_offsetof(struct vmcb, next_rip) == 0xc8, "vmcb");
_Static_assert(__builtin_offsetof(struct vmcb, cpl) == 0x4cb, "vmcb");
_Static_assert(__builtin_offsetof(struct vmcb, rip) == 0x578, "vmcb");
_Static_assert(__builtin_offsetof(struct vmcb, rax) == 0x5f8, "vmcb");
_Static_assert(__builtin_offsetof(struct vmcb, g_pat) == 0x668, "vmcb");

void svm_run(struct gprs *g, u64 vmcb_pa);

static struct vmcb vmcb __attribute__((aligned(4096)));
static u8 hsave[4096] __attribute__((aligned(4096)));
static u8 msrpm[8192] __attribute__((aligned(4096)));
static u8 iopm[12288] __attribute__((aligned(4096)));
/* Length of the instruction that exited: RDMSR 2, VMMCALL 3. */
static u64 exit_len;

static void seg(struct vmcb_seg *s, u16 sel, u16 attrib)
{
	s->selector = sel;
	s->attrib = attrib;
	s->limit = 0xffffffff;
	s->base = 0;
}

static void setup_vmcb(void)
{
	struct dtr d;

	vmcb.intercept_misc1 = INTERCEPT_MSR_PROT | INTERCEPT_SHUTDOWN;
	vmcb.intercept_misc2 = INTERCEPT_VMRUN | INTERCEPT_VMMCALL;
	vmcb.iopm_base_pa = (u64)iopm;
	vmcb.msrpm_base_pa = (u64)msrpm;
	vmcb.asid = 1;
	vmcb.int_ctl = 1ULL << 24;		/* V_INTR_MASKING */

	seg(&vmcb.cs, 0x08, 0x029b);		/* 64-bit code */
	seg(&vmcb.ds, 0x10, 0x0c93);
	seg(&vmcb.es, 0x10, 0x0c93);
	seg(&vmcb.ss, 0x10, 0x0c93);
	seg(&vmcb.fs, 0, 0);
	seg(&vmcb.gs, 0, 0);
	vmcb.fs.base = L2_FS_BASE;
	seg(&vmcb.ldtr, 0, 0);
	seg(&vmcb.tr, 0, 0x008b);
	vmcb.tr.limit = 0x67;
	asm volatile("sgdt %0" : "=m"(d));
	vmcb.gdtr.limit = d.limit;
	vmcb.gdtr.base = d.base;
	asm volatile("sidt %0" : "=m"(d));
	vmcb.idtr.limit = d.limit;
	vmcb.idtr.base = d.base;

	vmcb.efer = rdmsr(MSR_EFER);
	vmcb.cr0 = read_cr(0);
	vmcb.cr3 = read_cr(3);
	vmcb.cr4 = read_cr(4);
	vmcb.dr7 = 0x400;
	vmcb.dr6 = 0xffff0ff0;
	vmcb.rflags = 0x2;
	vmcb.rip = (u64)l2_main;
	vmcb.rsp = (u64)l2_stack + sizeof(l2_stack) - 8;
	vmcb.g_pat = 0x0007040600070406ULL;
}

/* Intercept reads of MSR_FS_BASE only: 2 bits per MSR, read bit first. */
static void setup_msrpm(void)
{
	u32 n = MSR_FS_BASE - 0xc0000000;

	msrpm[0x800 + 2 * n / 8] |= 1 << (2 * n % 8);
}

static void svm_setup(int msr)
{
	wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_SVME);
	wrmsr(MSR_VM_HSAVE_PA, (u64)hsave);
	if (msr)
		setup_msrpm();
	setup_vmcb();
}

static enum l2_exit svm_l2_run(u64 *code, u64 *info)
{
	vmcb.rax = l2_regs.rax;
	svm_run(&l2_regs, (u64)&vmcb);
	l2_regs.rax = vmcb.rax;
	*code = vmcb.exit_code;
	*info = vmcb.exit_info_1;
	switch (vmcb.exit_code) {
	case SVM_EXIT_MSR:
		exit_len = 2;
		return vmcb.exit_info_1 ? L2X_WRMSR : L2X_RDMSR;
	case SVM_EXIT_VMMCALL:
		exit_len = 3;
		return L2X_CALL;
	default:
		return L2X_OTHER;
	}
}

static void svm_skip(void)
{
	vmcb.rip += exit_len;
}

const struct arch svm_arch = {
	.name = "svm",
	.setup = svm_setup,
	.run = svm_l2_run,
	.skip = svm_skip,
};
