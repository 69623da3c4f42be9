/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The L1 payload of the real-VMM test (docs/rig.md): what l1.c (common
 * part, L2), svm.c and vmx.c share.
 */
#ifndef L1_H
#define L1_H

#include <stdint.h>

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;

#define MSR_EFER		0xc0000080
#define MSR_FS_BASE		0xc0000100
#define L2_FS_BASE		0x1234000ULL

/* QEMU exit status = (verdict << 1) | 1: pass is 33, failures 65 and up. */
enum verdict {
	V_PASS = 0x10,
	V_NO_VIRT = 0x20,	/* 65: CPUID has neither SVM nor VMX */
	V_MISSED = 0x21,	/* 67: L2 read the MSR without an exit */
	V_COUNT = 0x22,		/* 69: RDMSR exits != L2 iterations */
	V_SEQ = 0x23,		/* 71: L2's iteration number out of sequence */
	V_EXIT = 0x24,		/* 73: unexpected VM exit */
	V_EXC = 0x25,		/* 75: exception in L1 or L2 */
	V_MSR = 0x26,		/* 77: RDMSR exit for another MSR, or a write */
	V_SMI = 0x27,		/* 79: an SMI from L2 did not make one round trip */
	V_VMX = 0x28,		/* 81: VMX setup, VMLAUNCH/VMRESUME failed */
	V_TPR = 0x29,		/* 83: L2's TPR write missed the virtual-APIC page */
};

/*
 * L2's general purpose registers but rsp (boot.S: svm_run, vmx_run); SVM
 * keeps rax in the VMCB, svm.c copies it.
 */
struct gprs {
	u64 rax, rbx, rcx, rdx, rsi, rdi, rbp;
	u64 r8, r9, r10, r11, r12, r13, r14, r15;
};

/* What an L2 exit was, for the common loop. */
enum l2_exit {
	L2X_RDMSR,
	L2X_WRMSR,
	L2X_CALL,	/* VMMCALL / VMCALL */
	L2X_OTHER,
};

/* One vendor's way of running L2. */
struct arch {
	const char *name;
	/* Enable SVM/VMX and prepare L2; msr: intercept L2's MSR_FS_BASE reads. */
	void (*setup)(int msr);
	/* Run L2 until its next exit: the kind, and the raw code and info. */
	enum l2_exit (*run)(u64 *code, u64 *info);
	/* Step L2 over the instruction that exited. */
	void (*skip)(void);
	/* Checks after each L2 iteration (may be 0). */
	void (*iter_check)(u64 iter);
};

extern const struct arch svm_arch, vmx_arch;
extern struct gprs l2_regs;
extern u8 l2_stack[8192];
extern char exc_stubs[];
extern char __l2_start[], __l2_end[];
/* The page whose TPR (offset 0x80) L2 writes each iteration (VMX), or 0. */
extern volatile u32 *l2_apic;

void l2_main(void);
void l1_main(u32 mb_info);
void l1_exception(u64 vec, u64 *frame);

void puts(const char *s);
void putu(u64 v);
void putx(u64 v);
void __attribute__((noreturn)) finish(enum verdict v);
void __attribute__((noreturn)) fail(enum verdict v, const char *check,
				    u64 iter, u64 a, u64 b);

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

#define read_cr(n) ({ u64 __v; asm volatile("mov %%cr" #n ", %0" : "=r"(__v)); __v; })
#define write_cr(n, v) asm volatile("mov %0, %%cr" #n : : "r"((u64)(v)) : "memory")

struct dtr {
	u16 limit;
	u64 base;
} __attribute__((packed));

#endif
