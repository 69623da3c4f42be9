/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Multiboot entry of the L1 payload: 32-bit protected mode, paging off.
 * Identity-maps the first 1 GiB with 2 MiB pages, enters long mode and
 * calls l1_main(multiboot info).  Also: the exception stubs, svm_run() and
 * vmx_run().
 */

#define MB_MAGIC	0x1badb002
#define MB_FLAGS	0x0

	.section .multiboot, "a"
	.balign 4
	.long MB_MAGIC
	.long MB_FLAGS
	.long -(MB_MAGIC + MB_FLAGS)

	.section .text.boot, "ax"
	.code32
	.globl _start
_start:
	cli
	mov %ebx, %esi			/* multiboot info */
	/* Zero .bss: page tables and stacks live there. */
	mov $__bss_start, %edi
	mov $__bss_end, %ecx
	sub %edi, %ecx
	shr $2, %ecx
	xor %eax, %eax
	rep stosl
	mov %esi, mb_info

	mov $pdpt, %eax
	or $3, %eax
	mov %eax, pml4
	mov $pd, %eax
	or $3, %eax
	mov %eax, pdpt
	xor %ecx, %ecx
1:	mov %ecx, %eax
	shl $21, %eax
	or $0x83, %eax			/* present, writable, 2 MiB */
	mov %eax, pd(, %ecx, 8)
	inc %ecx
	cmp $512, %ecx
	jne 1b

	mov %cr4, %eax
	or $0x20, %eax			/* PAE */
	mov %eax, %cr4
	mov $pml4, %eax
	mov %eax, %cr3
	mov $0xc0000080, %ecx		/* EFER.LME */
	rdmsr
	or $0x100, %eax
	wrmsr
	mov %cr0, %eax
	or $0x80000001, %eax		/* PG, PE */
	mov %eax, %cr0
	lgdt gdt_ptr
	ljmp $0x08, $long_mode

	.code64
long_mode:
	mov $0x10, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	xor %ax, %ax
	mov %ax, %fs
	mov %ax, %gs
	mov $l1_stack_top, %rsp
	movl mb_info, %edi
	call l1_main
2:	hlt
	jmp 2b

/* Exception stubs: push the vector (and a zero error code where the CPU
 * pushes none), then l1_exception(vector, frame). */
	.macro exc vec, err
	.balign 16
	.if \err == 0
	pushq $0
	.endif
	pushq $\vec
	jmp exc_common
	.endm

	.balign 16
	.globl exc_stubs
exc_stubs:
	exc 0, 0
	exc 1, 0
	exc 2, 0
	exc 3, 0
	exc 4, 0
	exc 5, 0
	exc 6, 0
	exc 7, 0
	exc 8, 1
	exc 9, 0
	exc 10, 1
	exc 11, 1
	exc 12, 1
	exc 13, 1
	exc 14, 1
	exc 15, 0
	exc 16, 0
	exc 17, 1
	exc 18, 0
	exc 19, 0
	exc 20, 0
	exc 21, 1

exc_common:
	mov (%rsp), %rdi		/* vector */
	lea 8(%rsp), %rsi		/* error code, rip, cs, rflags, ... */
	and $~15, %rsp
	call l1_exception
3:	hlt
	jmp 3b

/*
 * void svm_run(struct gprs *g, u64 vmcb_pa): VMRUN with L2's general
 * purpose registers (all but rax and rsp, which are in the VMCB) loaded
 * from g, and stored back into g after the #VMEXIT.
 */
	.globl svm_run
svm_run:
	push %rbx
	push %rbp
	push %r12
	push %r13
	push %r14
	push %r15
	push %rdi
	mov %rsi, %rax
	mov 0x08(%rdi), %rbx
	mov 0x10(%rdi), %rcx
	mov 0x18(%rdi), %rdx
	mov 0x20(%rdi), %rsi
	mov 0x30(%rdi), %rbp
	mov 0x38(%rdi), %r8
	mov 0x40(%rdi), %r9
	mov 0x48(%rdi), %r10
	mov 0x50(%rdi), %r11
	mov 0x58(%rdi), %r12
	mov 0x60(%rdi), %r13
	mov 0x68(%rdi), %r14
	mov 0x70(%rdi), %r15
	mov 0x28(%rdi), %rdi
	clgi
	vmrun
	stgi
	mov (%rsp), %rax
	mov %rbx, 0x08(%rax)
	mov %rcx, 0x10(%rax)
	mov %rdx, 0x18(%rax)
	mov %rsi, 0x20(%rax)
	mov %rdi, 0x28(%rax)
	mov %rbp, 0x30(%rax)
	mov %r8, 0x38(%rax)
	mov %r9, 0x40(%rax)
	mov %r10, 0x48(%rax)
	mov %r11, 0x50(%rax)
	mov %r12, 0x58(%rax)
	mov %r13, 0x60(%rax)
	mov %r14, 0x68(%rax)
	mov %r15, 0x70(%rax)
	pop %rdi
	pop %r15
	pop %r14
	pop %r13
	pop %r12
	pop %rbp
	pop %rbx
	ret

/*
 * int vmx_run(struct gprs *g, int launched): VMLAUNCH (VMRESUME if
 * launched) with L2's general purpose registers but rsp loaded from g, and
 * stored back into g after the VM exit, which comes back to vmx_exit on
 * this stack (HOST_RSP, HOST_RIP).  Returns 0 after a VM exit, 1 if the
 * instruction failed (VM_INSTRUCTION_ERROR says why).
 */
	.globl vmx_run
vmx_run:
	push %rbx
	push %rbp
	push %r12
	push %r13
	push %r14
	push %r15
	push %rdi
	mov $0x6c14, %eax		/* HOST_RSP */
	vmwrite %rsp, %rax
	lea vmx_exit(%rip), %rdx
	mov $0x6c16, %eax		/* HOST_RIP */
	vmwrite %rdx, %rax
	test %esi, %esi
	mov 0x00(%rdi), %rax
	mov 0x08(%rdi), %rbx
	mov 0x10(%rdi), %rcx
	mov 0x18(%rdi), %rdx
	mov 0x20(%rdi), %rsi
	mov 0x30(%rdi), %rbp
	mov 0x38(%rdi), %r8
	mov 0x40(%rdi), %r9
	mov 0x48(%rdi), %r10
	mov 0x50(%rdi), %r11
	mov 0x58(%rdi), %r12
	mov 0x60(%rdi), %r13
	mov 0x68(%rdi), %r14
	mov 0x70(%rdi), %r15
	mov 0x28(%rdi), %rdi
	jnz 4f
	vmlaunch
	jmp 5f
4:	vmresume
5:	pop %rdi
	pop %r15
	pop %r14
	pop %r13
	pop %r12
	pop %rbp
	pop %rbx
	mov $1, %eax
	ret

vmx_exit:
	push %rdi
	mov 8(%rsp), %rdi
	mov %rax, 0x00(%rdi)
	mov %rbx, 0x08(%rdi)
	mov %rcx, 0x10(%rdi)
	mov %rdx, 0x18(%rdi)
	mov %rsi, 0x20(%rdi)
	mov %rbp, 0x30(%rdi)
	mov %r8, 0x38(%rdi)
	mov %r9, 0x40(%rdi)
	mov %r10, 0x48(%rdi)
	mov %r11, 0x50(%rdi)
	mov %r12, 0x58(%rdi)
	mov %r13, 0x60(%rdi)
	mov %r14, 0x68(%rdi)
	mov %r15, 0x70(%rdi)
	pop %rax
	mov %rax, 0x28(%rdi)
	pop %rdi
	pop %r15
	pop %r14
	pop %r13
	pop %r12
	pop %rbp
	pop %rbx
	xor %eax, %eax
	ret

	.section .rodata
	.balign 8
gdt:
	.quad 0
	.quad 0x00af9a000000ffff		/* 0x08: 64-bit code */
	.quad 0x00cf92000000ffff		/* 0x10: data */
gdt_end:
	.balign 8
	.globl gdt_ptr
gdt_ptr:
	.word gdt_end - gdt - 1
	.quad gdt

	.section .bss
	.balign 4096
pml4:	.skip 4096
pdpt:	.skip 4096
pd:	.skip 4096
	.balign 16
	.skip 16384
	.globl l1_stack_top
l1_stack_top:
mb_info:
	.skip 8
