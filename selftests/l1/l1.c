// SPDX-License-Identifier: GPL-2.0
/*
 * L1 payload for the real-VMM test (docs/rig.md): booted by
 * "qemu-system-x86_64 -kernel l1.elf" (multiboot), it enables SVM or VMX,
 * whichever CPUID offers (svm.c, vmx.c), and runs an L2 in a loop.  Every
 * iteration L2 spins, reads MSR_FS_BASE (which only L1's MSR permission
 * map / MSR bitmap intercepts: L1 answers with a cookie) and reports with
 * VMMCALL / VMCALL; L1 checks that the RDMSR exit came and that the counts
 * match.  A restore that lost the MSRPM / MSR bitmap lets L2 read the real
 * FS base: L2 sees no cookie and the payload fails.  With VMX, L2 also
 * writes its TPR through the APIC-access page every iteration; L1 checks
 * that it reached the virtual-APIC page.
 *
 * Command line (-append): iters=N (stop after N iterations, 0: never),
 * spin=N (L2 loop count per iteration), every=N (progress line period).
 * smi=N: every N iterations L2 sends itself an SMI (x2APIC ICR, delivery
 * mode SMI, shorthand self; SMM must be on in the VMM).  L0 takes it in
 * guest mode: the vCPU enters SMM from L2, the firmware's SMI handler
 * (SeaBIOS) RSMs, and the vCPU goes back into L2.  L2 reads MSR_SMI_COUNT
 * before and after and reports the difference, which L1 checks is one: a
 * round trip.
 * tick=N: every N spins L2 reads MSR_SMI_COUNT, which L1 does not
 * intercept: an exit that L0 handles and that leaves the vCPU in L2.  Under
 * Bochs the rig kernel's interrupts wait while L2 runs, until L2 exits; with
 * only L1's exits, every stop would land in L1 just after a VM exit.
 * nomsrpm=1 leaves the MSRPM / MSR bitmap empty: the payload must then
 * fail with check=rdmsr-without-exit (its own mutant).
 * A key on the i8042 (HMP "sendkey q") also stops it; it is polled with
 * each progress line.
 *
 * Serial (COM1) lines start with "L1PAYLOAD"; the verdict goes to
 * isa-debug-exit (port 0xf4): QEMU exits with status (v << 1) | 1, see
 * enum verdict in l1.h.
 */
#include "l1.h"

#define COM1			0x3f8
#define DEBUG_EXIT		0xf4
#define I8042_STATUS		0x64
#define I8042_DATA		0x60

#define MSR_SMI_COUNT		0x34
#define MSR_APIC_BASE		0x1b
#define APIC_BASE_EXTD		(1ULL << 10)
#define APIC_BASE_EN		(1ULL << 11)
#define MSR_X2APIC_SVR		0x80f
#define MSR_X2APIC_ICR		0x830
#define APIC_DM_SMI		0x200
#define APIC_DEST_SELF		0x40000

#define HC_ITER			1
#define HC_MISSED		2
#define HC_SMI			3
#define HC_TPR			4

#define COOKIE(i)		(0xc0de000000000000ULL | (i))

struct idt_entry {
	u16 off0;
	u16 sel;
	u8 ist;
	u8 type;
	u16 off1;
	u32 off2;
	u32 zero;
} __attribute__((packed));

u8 l2_stack[8192] __attribute__((aligned(16)));
struct gprs l2_regs;
volatile u32 *l2_apic;
static struct idt_entry idt[22] __attribute__((aligned(16)));
static const struct arch *arch;

/* Read by L2 (same physical memory: no NPT / EPT). */
static volatile u64 l2_spin = 200000;
static volatile u64 l2_smi_every;
static volatile u64 l2_tick;
static volatile int l2_vmx;

/* 8N1 at 115200 (Bochs honours the word length; QEMU does not care). */
static void serial_init(void)
{
	outb(COM1 + 3, 0x80);
	outb(COM1 + 0, 1);
	outb(COM1 + 1, 0);
	outb(COM1 + 3, 0x03);
}

static void putc(char c)
{
	while (!(inb(COM1 + 5) & 0x20))
		;
	outb(COM1, c);
}

void puts(const char *s)
{
	while (*s)
		putc(*s++);
}

void putu(u64 v)
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

void putx(u64 v)
{
	int i;

	puts("0x");
	for (i = 60; i >= 0; i -= 4)
		putc("0123456789abcdef"[(v >> i) & 15]);
}

void __attribute__((noreturn)) finish(enum verdict v)
{
	outb(DEBUG_EXIT, v);
	/* Without isa-debug-exit: stop here. */
	for (;;)
		asm volatile("cli; hlt");
}

void __attribute__((noreturn)) fail(enum verdict v, const char *check,
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

/* ------------------------------------------------------------------ L2 */

static inline __attribute__((always_inline))
void l2_call(u64 code, u64 a, u64 b)
{
	if (l2_vmx)
		asm volatile("vmcall" : "+a"(code) : "b"(a), "c"(b) : "memory");
	else
		asm volatile("vmmcall" : "+a"(code) : "b"(a), "c"(b) : "memory");
}

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
	l2_call(HC_SMI, i, l2_rdmsr(MSR_SMI_COUNT) - before);
}

/*
 * VMX: the TPR through the APIC-access page (virtualized into the
 * virtual-APIC page), read back through CR8.
 */
static inline __attribute__((always_inline)) void l2_tpr(u64 i)
{
	u64 cr8;

	*l2_apic = (i & 15) << 4;
	asm volatile("mov %%cr8, %0" : "=r"(cr8) : : "memory");
	if (cr8 != (i & 15))
		l2_call(HC_TPR, i, cr8);
}

/*
 * L2 spends nearly all its time in the spin loop, so that a migration
 * stops it there.
 */
void __attribute__((section(".l2text"), noreturn)) l2_main(void)
{
	u64 i, j, v;

	for (i = 1;; i++) {
		for (j = 0; j < l2_spin; j++) {
			if (l2_tick && !(j % l2_tick))
				l2_rdmsr(MSR_SMI_COUNT);
			asm volatile("" : : : "memory");
		}
		if (l2_smi_every && !(i % l2_smi_every))
			l2_smi(i);
		if (l2_apic)
			l2_tpr(i);
		v = l2_rdmsr(MSR_FS_BASE);
		if (v != COOKIE(i))
			l2_call(HC_MISSED, i, v);
		l2_call(HC_ITER, i, 0);
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
	struct dtr p;
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

static int key_pressed(void)
{
	if (!(inb(I8042_STATUS) & 1))
		return 0;
	inb(I8042_DATA);
	return 1;
}

struct counts {
	u64 iter;	/* iterations L2 completed (HC_ITER) */
	u64 rdmsr;	/* RDMSR exits */
	u64 exits;	/* all exits */
	u64 smi;	/* SMI round trips from L2 (HC_SMI) */
};

static void handle_msr(struct counts *c, enum l2_exit x)
{
	u64 ck;

	if (l2_regs.rcx != MSR_FS_BASE || x != L2X_RDMSR)
		fail(V_MSR, "msr-exit", c->iter + 1, l2_regs.rcx, x);
	c->rdmsr++;
	ck = COOKIE(c->rdmsr);
	l2_regs.rax = (u32)ck;
	l2_regs.rdx = ck >> 32;
	arch->skip();
}

/* Returns 1 when L2 finished an iteration. */
static int handle_call(struct counts *c)
{
	u64 code = l2_regs.rax;

	arch->skip();
	if (l2_regs.rbx != c->iter + 1)
		fail(V_SEQ, "l2-sequence", c->iter + 1, l2_regs.rbx, c->iter + 1);
	switch (code) {
	case HC_SMI:
		if (l2_regs.rcx != 1)
			fail(V_SMI, "smi-round-trip", l2_regs.rbx, l2_regs.rcx, 1);
		c->smi++;
		return 0;
	case HC_TPR:
		fail(V_TPR, "cr8-tpr", l2_regs.rbx, l2_regs.rcx,
		     l2_regs.rbx & 15);
	case HC_MISSED:
		fail(V_MISSED, "rdmsr-without-exit", l2_regs.rbx, l2_regs.rcx,
		     COOKIE(l2_regs.rbx));
	case HC_ITER:
		break;
	default:
		fail(V_EXIT, "vmmcall-code", c->iter + 1, code, HC_ITER);
	}
	c->iter++;
	if (c->rdmsr != c->iter)
		fail(V_COUNT, "rdmsr-exit-count", c->iter, c->rdmsr, c->iter);
	if (arch->iter_check)
		arch->iter_check(c->iter);
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

static const struct arch *pick_arch(void)
{
	u32 a, b, c, d;

	cpuid(1, &a, &b, &c, &d);
	if (c & (1 << 5))
		return &vmx_arch;
	cpuid(0x80000001, &a, &b, &c, &d);
	if (c & (1 << 2))
		return &svm_arch;
	puts("L1PAYLOAD RESULT=FAIL check=no-svm-or-vmx\n");
	finish(V_NO_VIRT);
}

/* Runs L2 until it finished an iteration. */
static void run_iteration(struct counts *c)
{
	enum l2_exit x;
	u64 code, info;

	for (;;) {
		x = arch->run(&code, &info);
		c->exits++;
		switch (x) {
		case L2X_RDMSR:
		case L2X_WRMSR:
			handle_msr(c, x);
			break;
		case L2X_CALL:
			if (handle_call(c))
				return;
			break;
		default:
			fail(V_EXIT, "exit-code", c->iter + 1, code, info);
		}
	}
}

void l1_main(u32 mb_info)
{
	const char *cmdline = 0;
	struct counts c = { 0 };
	u64 iters, every;

	setup_idt();
	serial_init();
	/* multiboot info: flags bit 2 says cmdline (offset 16) is valid */
	if (*(u32 *)(u64)mb_info & 4)
		cmdline = (const char *)(u64)*(u32 *)(u64)(mb_info + 16);
	iters = parse_arg(cmdline, "iters", 1000);
	every = parse_arg(cmdline, "every", 50);
	l2_spin = parse_arg(cmdline, "spin", l2_spin);
	l2_smi_every = parse_arg(cmdline, "smi", 0);
	l2_tick = parse_arg(cmdline, "tick", 0);
	if (!every)
		every = 1;
	arch = pick_arch();
	l2_vmx = arch == &vmx_arch;

	puts("\nL1PAYLOAD start arch=");
	puts(arch->name);
	puts(" iters=");
	putu(iters);
	puts(" spin=");
	putu(l2_spin);
	puts(" smi=");
	putu(l2_smi_every);
	puts(" tick=");
	putu(l2_tick);
	puts(" l2_rip=");
	putx((u64)__l2_start);
	puts("-");
	putx((u64)__l2_end);
	puts("\n");

	if (l2_smi_every) {
		/* x2APIC, software-enabled, for L2's self-IPIs */
		wrmsr(MSR_APIC_BASE, rdmsr(MSR_APIC_BASE) | APIC_BASE_EN);
		wrmsr(MSR_APIC_BASE, rdmsr(MSR_APIC_BASE) | APIC_BASE_EXTD);
		wrmsr(MSR_X2APIC_SVR, 0x1ff);
	}
	arch->setup(!parse_arg(cmdline, "nomsrpm", 0));
	puts("L1PAYLOAD l2 running\n");

	for (;;) {
		run_iteration(&c);
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
