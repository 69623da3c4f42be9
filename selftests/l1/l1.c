// SPDX-License-Identifier: GPL-2.0
/*
 * L1 payload for the real-VMM test (docs/rig.md): booted by
 * "qemu-system-x86_64 -kernel l1.elf" (multiboot), it enables SVM and runs
 * an L2 in a loop.  Every iteration L2 spins, reads MSR_FS_BASE (which only
 * L1's MSR permission map intercepts: L1 answers with a cookie) and reports
 * with VMMCALL; L1 checks that the RDMSR exit came and that the counts
 * match.  A restore that lost the MSRPM lets L2 read the real FS base: L2
 * sees no cookie and the payload fails.
 *
 * Command line (-append): iters=N (stop after N iterations, 0: never),
 * spin=N (L2 loop count per iteration), every=N (progress line period).
 * smi=N: every N iterations L2 sends itself an SMI (x2APIC ICR, delivery
 * mode SMI, shorthand self; SMM must be on in the VMM).  L0 takes it in
 * guest mode: the vCPU enters SMM from L2, the firmware's SMI handler
 * (SeaBIOS) RSMs, and the vCPU goes back into L2.  L2 reads MSR_SMI_COUNT
 * before and after and reports the difference, which L1 checks is one: a
 * round trip.
 * nomsrpm=1 leaves the MSRPM empty: the payload must then fail with
 * check=rdmsr-without-exit (its own mutant).
 * A key on the i8042 (HMP "sendkey q") also stops it; it is polled with
 * each progress line.
 *
 * Serial (COM1) lines start with "L1PAYLOAD"; the verdict goes to
 * isa-debug-exit (port 0xf4): QEMU exits with status (v << 1) | 1, see
 * enum verdict.
 */
#include <stdint.h>

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;

#define COM1			0x3f8
#define DEBUG_EXIT		0xf4
#define I8042_STATUS		0x64
#define I8042_DATA		0x60

#define MSR_EFER		0xc0000080
#define EFER_SVME		(1ULL << 12)
#define MSR_FS_BASE		0xc0000100
#define MSR_SMI_COUNT		0x34
#define MSR_APIC_BASE		0x1b
#define APIC_BASE_EXTD		(1ULL << 10)
#define APIC_BASE_EN		(1ULL << 11)
#define MSR_X2APIC_SVR		0x80f
#define MSR_X2APIC_ICR		0x830
#define APIC_DM_SMI		0x200
#define APIC_DEST_SELF		0x40000
#define MSR_VM_HSAVE_PA		0xc0010117

#define INTERCEPT_MSR_PROT	(1U << 28)
#define INTERCEPT_SHUTDOWN	(1U << 31)
#define INTERCEPT_VMRUN		(1U << 0)
#define INTERCEPT_VMMCALL	(1U << 1)

#define SVM_EXIT_MSR		0x7c
#define SVM_EXIT_VMMCALL	0x81
#define SVM_EXIT_SHUTDOWN	0x7f

#define HC_ITER			1
#define HC_MISSED		2
#define HC_SMI			3

#define COOKIE(i)		(0xc0de000000000000ULL | (i))
#define L2_FS_BASE		0x1234000ULL

/* QEMU exit status = (verdict << 1) | 1: pass is 33, failures 65 and up. */
enum verdict {
	V_PASS = 0x10,
	V_NO_SVM = 0x20,	/* 65: CPUID has no SVM */
	V_MISSED = 0x21,	/* 67: L2 read the MSR without an exit */
	V_COUNT = 0x22,		/* 69: RDMSR exits != L2 iterations */
	V_SEQ = 0x23,		/* 71: L2's iteration number out of sequence */
	V_EXIT = 0x24,		/* 73: unexpected #VMEXIT code */
	V_EXC = 0x25,		/* 75: exception in L1 or L2 */
	V_MSR = 0x26,		/* 77: RDMSR exit for another MSR, or a write */
	V_SMI = 0x27,		/* 79: an SMI from L2 did not make one round trip */
};

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

/* L2's registers that VMRUN does not keep in the VMCB (boot.S, svm_run). */
struct gprs {
	u64 rax_unused, rbx, rcx, rdx, rsi, rdi, rbp;
	u64 r8, r9, r10, r11, r12, r13, r14, r15;
};

struct idt_entry {
	u16 off0;
	u16 sel;
	u8 ist;
	u8 type;
	u16 off1;
	u32 off2;
	u32 zero;
} __attribute__((packed));

void svm_run(struct gprs *g, u64 vmcb_pa);
void l1_main(u32 mb_info);
void l1_exception(u64 vec, u64 *frame);
extern char exc_stubs[];
extern char __l2_start[], __l2_end[];

static struct vmcb vmcb __attribute__((aligned(4096)));
static u8 hsave[4096] __attribute__((aligned(4096)));
static u8 msrpm[8192] __attribute__((aligned(4096)));
static u8 iopm[12288] __attribute__((aligned(4096)));
static u8 l2_stack[8192] __attribute__((aligned(16)));
static struct idt_entry idt[22] __attribute__((aligned(16)));
static struct gprs l2_regs;

/* Read by L2 (same physical memory: NPT is off). */
static volatile u64 l2_spin = 200000;
static volatile u64 l2_smi_every;

static inline void outb(u16 port, u8 v)
{
	asm volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline u8 inb(u16 port)
{
	u8 v;

	asm volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline u64 rdmsr(u32 msr)
{
	u32 lo, hi;

	asm volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return ((u64)hi << 32) | lo;
}

static inline void wrmsr(u32 msr, u64 v)
{
	asm volatile("wrmsr" : : "c"(msr), "a"((u32)v), "d"((u32)(v >> 32)));
}

static inline void cpuid(u32 leaf, u32 *a, u32 *b, u32 *c, u32 *d)
{
	asm volatile("cpuid" : "=a"(*a), "=b"(*b), "=c"(*c), "=d"(*d)
		     : "a"(leaf), "c"(0));
}

static void putc(char c)
{
	while (!(inb(COM1 + 5) & 0x20))
		;
	outb(COM1, c);
}

static void puts(const char *s)
{
	while (*s)
		putc(*s++);
}

static void putu(u64 v)
{
	char b[21];
	int i = 20;

	b[i] = 0;
	do {
		b[--i] = '0' + v % 10;
		v /= 10;
	} while (v);
	puts(b + i);
}

static void putx(u64 v)
{
	int i;

	puts("0x");
	for (i = 60; i >= 0; i -= 4)
		putc("0123456789abcdef"[(v >> i) & 15]);
}

static void __attribute__((noreturn)) finish(enum verdict v)
{
	outb(DEBUG_EXIT, v);
	/* Without isa-debug-exit: stop here. */
	for (;;)
		asm volatile("cli; hlt");
}

/* ------------------------------------------------------------------ L2 */

static inline __attribute__((always_inline))
void l2_vmmcall(u64 code, u64 a, u64 b)
{
	asm volatile("vmmcall" : "+a"(code) : "b"(a), "c"(b) : "memory");
}

/*
 * L2 spends nearly all its time in the spin loop, so that a migration
 * stops it there.
 */
static inline __attribute__((always_inline)) u64 l2_rdmsr(u32 msr)
{
	u32 lo, hi;

	asm volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return ((u64)hi << 32) | lo;
}

/*
 * An SMI to ourselves: the ICR write exits to L0, which takes the SMI
 * before it resumes L2.  MSR_SMI_COUNT and the x2APIC MSRs are not in
 * L1's MSRPM: L0 handles them for L2.
 */
static inline __attribute__((always_inline)) void l2_smi(u64 i)
{
	u64 before = l2_rdmsr(MSR_SMI_COUNT);

	asm volatile("wrmsr" : : "c"(MSR_X2APIC_ICR),
		     "a"(APIC_DM_SMI | APIC_DEST_SELF), "d"(0) : "memory");
	l2_vmmcall(HC_SMI, i, l2_rdmsr(MSR_SMI_COUNT) - before);
}

static void __attribute__((section(".l2text"), noreturn, used)) l2_main(void)
{
	u64 i, j, v;
	u32 lo, hi;

	for (i = 1;; i++) {
		for (j = 0; j < l2_spin; j++)
			asm volatile("" : : : "memory");
		if (l2_smi_every && !(i % l2_smi_every))
			l2_smi(i);
		asm volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(MSR_FS_BASE));
		v = ((u64)hi << 32) | lo;
		if (v != COOKIE(i))
			l2_vmmcall(HC_MISSED, i, v);
		l2_vmmcall(HC_ITER, i, 0);
	}
}

/* ------------------------------------------------------------------ L1 */

static u64 parse_arg(const char *cmdline, const char *key, u64 def)
{
	const char *p = cmdline, *k;
	u64 v;

	while (p && *p) {
		for (k = key; *k && *p == *k; k++, p++)
			;
		if (!*k && *p == '=') {
			for (v = 0, p++; *p >= '0' && *p <= '9'; p++)
				v = v * 10 + (*p - '0');
			return v;
		}
		while (*p && *p != ' ')
			p++;
		while (*p == ' ')
			p++;
	}
	return def;
}

static void setup_idt(void)
{
	struct {
		u16 limit;
		u64 base;
	} __attribute__((packed)) p;
	u64 a;
	int i;

	for (i = 0; i < 22; i++) {
		a = (u64)exc_stubs + 16 * i;
		idt[i].off0 = a;
		idt[i].sel = 0x08;
		idt[i].type = 0x8e;
		idt[i].off1 = a >> 16;
		idt[i].off2 = a >> 32;
	}
	p.limit = sizeof(idt) - 1;
	p.base = (u64)idt;
	asm volatile("lidt %0" : : "m"(p));
}

void l1_exception(u64 vec, u64 *frame)
{
	puts("L1PAYLOAD exception vector=");
	putu(vec);
	puts(" error=");
	putx(frame[0]);
	puts(" rip=");
	putx(frame[1]);
	puts("\nL1PAYLOAD RESULT=FAIL check=exception\n");
	finish(V_EXC);
}

static void seg(struct vmcb_seg *s, u16 sel, u16 attrib)
{
	s->selector = sel;
	s->attrib = attrib;
	s->limit = 0xffffffff;
	s->base = 0;
}

static void setup_vmcb(void)
{
	struct {
		u16 limit;
		u64 base;
	} __attribute__((packed)) d;
	u64 v;

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
	asm volatile("mov %%cr0, %0" : "=r"(v));
	vmcb.cr0 = v;
	asm volatile("mov %%cr3, %0" : "=r"(v));
	vmcb.cr3 = v;
	asm volatile("mov %%cr4, %0" : "=r"(v));
	vmcb.cr4 = v;
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

static int key_pressed(void)
{
	if (!(inb(I8042_STATUS) & 1))
		return 0;
	inb(I8042_DATA);
	return 1;
}

static void __attribute__((noreturn)) fail(enum verdict v, const char *check,
					   u64 iter, u64 a, u64 b)
{
	puts("L1PAYLOAD RESULT=FAIL check=");
	puts(check);
	puts(" iter=");
	putu(iter);
	puts(" got=");
	putx(a);
	puts(" expected=");
	putx(b);
	puts("\n");
	finish(v);
}

struct counts {
	u64 iter;	/* iterations L2 completed (HC_ITER) */
	u64 rdmsr;	/* RDMSR exits */
	u64 exits;	/* all exits */
	u64 smi;	/* SMI round trips from L2 (HC_SMI) */
};

static void handle_msr(struct counts *c)
{
	u64 ck;

	if (l2_regs.rcx != MSR_FS_BASE || vmcb.exit_info_1 != 0)
		fail(V_MSR, "msr-exit", c->iter + 1, l2_regs.rcx,
		     vmcb.exit_info_1);
	c->rdmsr++;
	ck = COOKIE(c->rdmsr);
	vmcb.rax = (u32)ck;
	l2_regs.rdx = ck >> 32;
	vmcb.rip += 2;
}

/* Returns 1 when L2 finished an iteration. */
static int handle_vmmcall(struct counts *c)
{
	u64 code = vmcb.rax;

	vmcb.rip += 3;
	if (code == HC_SMI) {
		if (l2_regs.rbx != c->iter + 1)
			fail(V_SEQ, "l2-sequence", c->iter + 1, l2_regs.rbx,
			     c->iter + 1);
		if (l2_regs.rcx != 1)
			fail(V_SMI, "smi-round-trip", l2_regs.rbx, l2_regs.rcx, 1);
		c->smi++;
		return 0;
	}
	if (code == HC_MISSED)
		fail(V_MISSED, "rdmsr-without-exit", l2_regs.rbx, l2_regs.rcx,
		     COOKIE(l2_regs.rbx));
	if (code != HC_ITER)
		fail(V_EXIT, "vmmcall-code", c->iter + 1, code, HC_ITER);
	if (l2_regs.rbx != c->iter + 1)
		fail(V_SEQ, "l2-sequence", c->iter + 1, l2_regs.rbx, c->iter + 1);
	c->iter++;
	if (c->rdmsr != c->iter)
		fail(V_COUNT, "rdmsr-exit-count", c->iter, c->rdmsr, c->iter);
	return 1;
}

static void report(const char *what, struct counts *c)
{
	puts("L1PAYLOAD ");
	puts(what);
	puts(" iter=");
	putu(c->iter);
	puts(" rdmsr_exits=");
	putu(c->rdmsr);
	puts(" exits=");
	putu(c->exits);
	puts(" smi=");
	putu(c->smi);
	puts("\n");
}

void l1_main(u32 mb_info)
{
	const char *cmdline = 0;
	struct counts c = { 0 };
	u64 iters, every;
	u32 a, b, cx, d;

	setup_idt();
	/* multiboot info: flags bit 2 says cmdline (offset 16) is valid */
	if (*(u32 *)(u64)mb_info & 4)
		cmdline = (const char *)(u64)*(u32 *)(u64)(mb_info + 16);
	iters = parse_arg(cmdline, "iters", 1000);
	every = parse_arg(cmdline, "every", 50);
	l2_spin = parse_arg(cmdline, "spin", l2_spin);
	l2_smi_every = parse_arg(cmdline, "smi", 0);
	if (!every)
		every = 1;

	puts("\nL1PAYLOAD start iters=");
	putu(iters);
	puts(" spin=");
	putu(l2_spin);
	puts(" smi=");
	putu(l2_smi_every);
	puts(" l2_rip=");
	putx((u64)__l2_start);
	puts("-");
	putx((u64)__l2_end);
	puts("\n");

	cpuid(0x80000001, &a, &b, &cx, &d);
	if (!(cx & (1 << 2))) {
		puts("L1PAYLOAD RESULT=FAIL check=no-svm\n");
		finish(V_NO_SVM);
	}
	if (l2_smi_every) {
		/* x2APIC, software-enabled, for L2's self-IPIs */
		wrmsr(MSR_APIC_BASE, rdmsr(MSR_APIC_BASE) | APIC_BASE_EN);
		wrmsr(MSR_APIC_BASE, rdmsr(MSR_APIC_BASE) | APIC_BASE_EXTD);
		wrmsr(MSR_X2APIC_SVR, 0x1ff);
	}
	wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_SVME);
	wrmsr(MSR_VM_HSAVE_PA, (u64)hsave);
	if (!parse_arg(cmdline, "nomsrpm", 0))
		setup_msrpm();
	setup_vmcb();
	puts("L1PAYLOAD l2 running\n");

	for (;;) {
		svm_run(&l2_regs, (u64)&vmcb);
		c.exits++;
		switch (vmcb.exit_code) {
		case SVM_EXIT_MSR:
			handle_msr(&c);
			continue;
		case SVM_EXIT_VMMCALL:
			if (!handle_vmmcall(&c))
				continue;
			break;
		default:
			fail(V_EXIT, "exit-code", c.iter + 1, vmcb.exit_code,
			     vmcb.exit_info_1);
		}
		if (iters && c.iter >= iters)
			break;
		/*
		 * Port I/O exits to the VMM, where a stop lands in L1: only
		 * every "every" iterations.
		 */
		if (c.iter % every)
			continue;
		report("progress", &c);
		if (key_pressed())
			break;
	}
	report("done", &c);
	puts("L1PAYLOAD RESULT=PASS\n");
	finish(V_PASS);
}
