// SPDX-License-Identifier: GPL-2.0
/*
 * VMX part of the L1 payload (docs/rig.md): VMXON, one VMCS for a 64-bit
 * L2 that shares L1's address space (no EPT), with
 *   - an MSR bitmap that intercepts L2's reads of MSR_FS_BASE only;
 *   - TPR shadow: a virtual-APIC page, and an APIC-access page through
 *     which L2 writes its TPR every iteration (virtualized into the
 *     virtual-APIC page: L1 checks it there, L2 reads it back with CR8).
 * All three are pages KVM loads for a vmcs12 (nested_get_vmcs12_pages()),
 * in use when a migration stops the vCPU in L2.
 */
#include "l1.h"

#define MSR_FEATURE_CONTROL	0x3a
#define FC_LOCKED		(1ULL << 0)
#define FC_VMXON_OUTSIDE_SMX	(1ULL << 2)
#define MSR_VMX_BASIC		0x480
#define MSR_VMX_PINBASED	0x481
#define MSR_VMX_PROCBASED	0x482
#define MSR_VMX_EXIT		0x483
#define MSR_VMX_ENTRY		0x484
#define MSR_VMX_CR0_FIXED0	0x486
#define MSR_VMX_CR0_FIXED1	0x487
#define MSR_VMX_CR4_FIXED0	0x488
#define MSR_VMX_CR4_FIXED1	0x489
#define MSR_VMX_PROCBASED2	0x48b
#define MSR_VMX_TRUE_PINBASED	0x48d	/* then PROCBASED, EXIT, ENTRY */
#define VMX_BASIC_TRUE_CTLS	(1ULL << 55)
#define CR4_VMXE		(1ULL << 13)

#define PROC_TPR_SHADOW		(1U << 21)
#define PROC_MSR_BITMAPS	(1U << 28)
#define PROC_SECONDARY		(1U << 31)
#define PROC2_APIC_ACCESSES	(1U << 0)
#define EXIT_HOST_64		(1U << 9)
#define ENTRY_IA32E		(1U << 9)

/* VMCS fields (SDM appendix B) */
#define F_GUEST_SEL		0x0800	/* + 2 * seg: es cs ss ds fs gs ldtr tr */
#define F_HOST_SEL		0x0c00	/* + 2 * seg: es cs ss ds fs gs tr */
#define F_MSR_BITMAP		0x2004
#define F_VAPIC_ADDR		0x2012
#define F_APIC_ACCESS_ADDR	0x2014
#define F_LINK_POINTER		0x2800
#define F_GUEST_DEBUGCTL	0x2802
#define F_PIN_CTLS		0x4000
#define F_PROC_CTLS		0x4002
#define F_EXC_BITMAP		0x4004
#define F_EXIT_CTLS		0x400c
#define F_ENTRY_CTLS		0x4012
#define F_TPR_THRESHOLD		0x401c
#define F_PROC2_CTLS		0x401e
#define F_INSN_ERROR		0x4400
#define F_EXIT_REASON		0x4402
#define F_EXIT_INSN_LEN		0x440c
#define F_GUEST_LIMIT		0x4800	/* + 2 * seg, then gdtr, idtr */
#define F_GUEST_AR		0x4814	/* + 2 * seg */
#define F_GUEST_INTR_STATE	0x4824
#define F_GUEST_ACTIVITY	0x4826
#define F_GUEST_SYSENTER_CS	0x482a
#define F_HOST_SYSENTER_CS	0x4c00
#define F_CR0_MASK		0x6000
#define F_CR4_MASK		0x6002
#define F_CR0_SHADOW		0x6004
#define F_CR4_SHADOW		0x6006
#define F_EXIT_QUAL		0x6400
#define F_GUEST_CR0		0x6800	/* cr3 0x6802, cr4 0x6804 */
#define F_GUEST_BASE		0x6806	/* + 2 * seg, then gdtr, idtr */
#define F_GUEST_DR7		0x681a
#define F_GUEST_RSP		0x681c
#define F_GUEST_RIP		0x681e
#define F_GUEST_RFLAGS		0x6820
#define F_GUEST_PENDING_DBG	0x6822
#define F_GUEST_SYSENTER_ESP	0x6824
#define F_GUEST_SYSENTER_EIP	0x6826
#define F_HOST_CR0		0x6c00	/* cr3 0x6c02, cr4 0x6c04 */
#define F_HOST_FS_BASE		0x6c06
#define F_HOST_GS_BASE		0x6c08
#define F_HOST_TR_BASE		0x6c0a
#define F_HOST_GDTR_BASE	0x6c0c
#define F_HOST_IDTR_BASE	0x6c0e
#define F_HOST_SYSENTER_ESP	0x6c10
#define F_HOST_SYSENTER_EIP	0x6c12

enum { S_ES, S_CS, S_SS, S_DS, S_FS, S_GS, S_LDTR, S_TR, S_GDTR, S_IDTR };

#define EXIT_VMCALL		18
#define EXIT_RDMSR		31
#define EXIT_WRMSR		32
#define EXIT_FAILED_ENTRY	(1U << 31)

#define SEL_CODE		0x08
#define SEL_DATA		0x10
#define SEL_TSS			0x18
#define TPR_OFFSET		0x80

int vmx_run(struct gprs *g, int launched);

static u8 vmxon_region[4096] __attribute__((aligned(4096)));
static u8 vmcs[4096] __attribute__((aligned(4096)));
static u8 msr_bitmap[4096] __attribute__((aligned(4096)));
static u8 vapic[4096] __attribute__((aligned(4096)));
static u8 apic_access[4096] __attribute__((aligned(4096)));
static u8 tss[104] __attribute__((aligned(16)));
/* null, 64-bit code, data, 64-bit TSS (two slots) */
static u64 gdt[5] __attribute__((aligned(16)));
static int launched;

static void vmx_fail(const char *check, u64 a, u64 b)
{
	fail(V_VMX, check, 0, a, b);
}

static void vmwrite(u64 field, u64 v)
{
	u8 bad;

	asm volatile("vmwrite %2, %1; setna %0"
		     : "=q"(bad) : "r"(field), "rm"(v) : "cc", "memory");
	if (bad)
		vmx_fail("vmwrite", field, v);
}

static u64 vmread(u64 field)
{
	u64 v;
	u8 bad;

	asm volatile("vmread %2, %0; setna %1"
		     : "=r"(v), "=q"(bad) : "r"(field) : "cc", "memory");
	if (bad)
		vmx_fail("vmread", field, 0);
	return v;
}

/* VMXON, VMCLEAR, VMPTRLD: op "vmxon" etc. on physical address pa. */
#define VMX_PA_OP(op, pa) ({						\
	u64 __pa = (pa);						\
	u8 __bad;							\
	asm volatile(op " %1; setna %0"					\
		     : "=q"(__bad) : "m"(__pa) : "cc", "memory");	\
	__bad; })

/* A control value: the bits we want, forced by what MSR allows. */
static u32 ctls(u32 msr, u32 want)
{
	u64 cap = rdmsr(msr);
	u32 v = (want | (u32)cap) & (u32)(cap >> 32);

	if ((v & want) != want)
		vmx_fail("vmx-control", msr, want);
	return v;
}

/* Our own GDT with a TSS: VM exits load TR, whose selector cannot be 0. */
static void setup_gdt(void)
{
	struct dtr d;
	u64 t = (u64)tss;

	gdt[1] = 0x00af9a000000ffffULL;
	gdt[2] = 0x00cf92000000ffffULL;
	gdt[3] = (sizeof(tss) - 1) | ((t & 0xffffff) << 16) | (0x89ULL << 40) |
		 ((t >> 24 & 0xff) << 56);
	gdt[4] = t >> 32;
	d.limit = sizeof(gdt) - 1;
	d.base = (u64)gdt;
	asm volatile("lgdt %0" : : "m"(d));
	asm volatile("ltr %w0" : : "r"(SEL_TSS));
}

static void vmx_on(void)
{
	u64 fc = rdmsr(MSR_FEATURE_CONTROL);

	if (!(fc & FC_LOCKED))
		wrmsr(MSR_FEATURE_CONTROL, fc | FC_LOCKED | FC_VMXON_OUTSIDE_SMX);
	else if (!(fc & FC_VMXON_OUTSIDE_SMX))
		vmx_fail("feature-control", fc, FC_VMXON_OUTSIDE_SMX);
	write_cr(0, (read_cr(0) | rdmsr(MSR_VMX_CR0_FIXED0)) &
		 rdmsr(MSR_VMX_CR0_FIXED1));
	write_cr(4, (read_cr(4) | CR4_VMXE | rdmsr(MSR_VMX_CR4_FIXED0)) &
		 rdmsr(MSR_VMX_CR4_FIXED1));
	*(u32 *)vmxon_region = rdmsr(MSR_VMX_BASIC) & 0x7fffffff;
	*(u32 *)vmcs = rdmsr(MSR_VMX_BASIC) & 0x7fffffff;
	if (VMX_PA_OP("vmxon", (u64)vmxon_region))
		vmx_fail("vmxon", read_cr(4), rdmsr(MSR_FEATURE_CONTROL));
	if (VMX_PA_OP("vmclear", (u64)vmcs) || VMX_PA_OP("vmptrld", (u64)vmcs))
		vmx_fail("vmptrld", (u64)vmcs, 0);
}

static void setup_controls(void)
{
	u32 base = MSR_VMX_PINBASED;

	if (rdmsr(MSR_VMX_BASIC) & VMX_BASIC_TRUE_CTLS)
		base = MSR_VMX_TRUE_PINBASED;
	vmwrite(F_PIN_CTLS, ctls(base, 0));
	vmwrite(F_PROC_CTLS, ctls(base + 1, PROC_TPR_SHADOW | PROC_MSR_BITMAPS |
				  PROC_SECONDARY));
	vmwrite(F_PROC2_CTLS, ctls(MSR_VMX_PROCBASED2, PROC2_APIC_ACCESSES));
	vmwrite(F_EXIT_CTLS, ctls(base + 2, EXIT_HOST_64));
	vmwrite(F_ENTRY_CTLS, ctls(base + 3, ENTRY_IA32E));
	vmwrite(F_EXC_BITMAP, 0);
	vmwrite(F_MSR_BITMAP, (u64)msr_bitmap);
	vmwrite(F_VAPIC_ADDR, (u64)vapic);
	vmwrite(F_APIC_ACCESS_ADDR, (u64)apic_access);
	vmwrite(F_TPR_THRESHOLD, 0);
	vmwrite(F_CR0_MASK, 0);
	vmwrite(F_CR4_MASK, 0);
	vmwrite(F_CR0_SHADOW, read_cr(0));
	vmwrite(F_CR4_SHADOW, read_cr(4));
}

static void guest_seg(int s, u16 sel, u32 ar, u32 limit, u64 base)
{
	vmwrite(F_GUEST_SEL + 2 * s, sel);
	vmwrite(F_GUEST_AR + 2 * s, ar);
	vmwrite(F_GUEST_LIMIT + 2 * s, limit);
	vmwrite(F_GUEST_BASE + 2 * s, base);
}

static void setup_guest(void)
{
	struct dtr d;

	guest_seg(S_CS, SEL_CODE, 0xa09b, 0xffffffff, 0);
	guest_seg(S_DS, SEL_DATA, 0xc093, 0xffffffff, 0);
	guest_seg(S_ES, SEL_DATA, 0xc093, 0xffffffff, 0);
	guest_seg(S_SS, SEL_DATA, 0xc093, 0xffffffff, 0);
	guest_seg(S_FS, SEL_DATA, 0xc093, 0xffffffff, L2_FS_BASE);
	guest_seg(S_GS, SEL_DATA, 0xc093, 0xffffffff, 0);
	guest_seg(S_LDTR, 0, 0x10000, 0, 0);		/* unusable */
	guest_seg(S_TR, SEL_TSS, 0x8b, sizeof(tss) - 1, (u64)tss);
	asm volatile("sgdt %0" : "=m"(d));
	vmwrite(F_GUEST_LIMIT + 2 * S_GDTR, d.limit);
	vmwrite(F_GUEST_BASE + 2 * S_GDTR, d.base);
	asm volatile("sidt %0" : "=m"(d));
	vmwrite(F_GUEST_LIMIT + 2 * S_IDTR, d.limit);
	vmwrite(F_GUEST_BASE + 2 * S_IDTR, d.base);
	vmwrite(F_GUEST_CR0, read_cr(0));
	vmwrite(F_GUEST_CR0 + 2, read_cr(3));
	vmwrite(F_GUEST_CR0 + 4, read_cr(4));
	vmwrite(F_GUEST_DR7, 0x400);
	vmwrite(F_GUEST_DEBUGCTL, 0);
	vmwrite(F_GUEST_RSP, (u64)l2_stack + sizeof(l2_stack) - 8);
	vmwrite(F_GUEST_RIP, (u64)l2_main);
	vmwrite(F_GUEST_RFLAGS, 0x2);
	vmwrite(F_GUEST_INTR_STATE, 0);
	vmwrite(F_GUEST_ACTIVITY, 0);
	vmwrite(F_GUEST_PENDING_DBG, 0);
	vmwrite(F_GUEST_SYSENTER_CS, 0);
	vmwrite(F_GUEST_SYSENTER_ESP, 0);
	vmwrite(F_GUEST_SYSENTER_EIP, 0);
	vmwrite(F_LINK_POINTER, ~0ULL);
}

static void setup_host(void)
{
	struct dtr d;
	int s;

	for (s = S_ES; s <= S_GS; s++)
		vmwrite(F_HOST_SEL + 2 * s, s == S_CS ? SEL_CODE :
			s == S_FS || s == S_GS ? 0 : SEL_DATA);
	vmwrite(F_HOST_SEL + 2 * 6, SEL_TSS);
	vmwrite(F_HOST_CR0, read_cr(0));
	vmwrite(F_HOST_CR0 + 2, read_cr(3));
	vmwrite(F_HOST_CR0 + 4, read_cr(4));
	vmwrite(F_HOST_FS_BASE, 0);
	vmwrite(F_HOST_GS_BASE, 0);
	vmwrite(F_HOST_TR_BASE, (u64)tss);
	asm volatile("sgdt %0" : "=m"(d));
	vmwrite(F_HOST_GDTR_BASE, d.base);
	asm volatile("sidt %0" : "=m"(d));
	vmwrite(F_HOST_IDTR_BASE, d.base);
	vmwrite(F_HOST_SYSENTER_CS, 0);
	vmwrite(F_HOST_SYSENTER_ESP, 0);
	vmwrite(F_HOST_SYSENTER_EIP, 0);
}

static void vmx_setup(int msr)
{
	setup_gdt();
	vmx_on();
	/* Reads of 0xc0000000-0xc0001fff start at byte 1024: MSR_FS_BASE. */
	if (msr)
		msr_bitmap[1024 + (MSR_FS_BASE & 0x1fff) / 8] |=
			1 << (MSR_FS_BASE & 7);
	setup_controls();
	setup_guest();
	setup_host();
	l2_apic = (volatile u32 *)(apic_access + TPR_OFFSET);
}

static enum l2_exit vmx_l2_run(u64 *code, u64 *info)
{
	u32 reason;

	if (vmx_run(&l2_regs, launched))
		vmx_fail(launched ? "vmresume" : "vmlaunch",
			 vmread(F_INSN_ERROR), launched);
	launched = 1;
	reason = vmread(F_EXIT_REASON);
	*code = reason;
	*info = vmread(F_EXIT_QUAL);
	if (reason & EXIT_FAILED_ENTRY)
		vmx_fail("vmentry-failed", reason, *info);
	switch (reason & 0xffff) {
	case EXIT_RDMSR:
		return L2X_RDMSR;
	case EXIT_WRMSR:
		return L2X_WRMSR;
	case EXIT_VMCALL:
		return L2X_CALL;
	default:
		return L2X_OTHER;
	}
}

static void vmx_skip(void)
{
	vmwrite(F_GUEST_RIP, vmread(F_GUEST_RIP) + vmread(F_EXIT_INSN_LEN));
}

/*
 * L2 wrote (iter & 15) << 4 to its TPR through the APIC-access page; with
 * TPR shadow that lands in the virtual-APIC page.
 */
static void vmx_iter_check(u64 iter)
{
	u32 tpr = *(volatile u32 *)(vapic + TPR_OFFSET);

	if (tpr != (iter & 15) << 4)
		fail(V_TPR, "vapic-tpr", iter, tpr, (iter & 15) << 4);
}

const struct arch vmx_arch = {
	.name = "vmx",
	.setup = vmx_setup,
	.run = vmx_l2_run,
	.skip = vmx_skip,
	.iter_check = vmx_iter_check,
};
