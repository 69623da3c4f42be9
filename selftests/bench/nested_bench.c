// SPDX-License-Identifier: GPL-2.0-only
/*
 * nested_bench - timings for `make bench` (docs/bench.md); not a pass/fail
 * test.  Measures, with the KVM modules loaded right now:
 *
 *   l1exit   L1 loops on CPUID: ns per exit to KVM and back.
 *   l2exit   nested SVM: L2 loops on VMMCALL, each one handled by L1
 *            (VM-exit to L1, L1 advances RIP, VMRUN): ns per round trip.
 *   restore  L2 reports in, the vCPU is saved once; then, per sample, the
 *            VM is recreated over the same memory and the state restored in
 *            QEMU's order: ns of KVM_SET_NESTED_STATE (ioctl), ns of the
 *            first KVM_RUN until L2's next GUEST_SYNC (run), and their sum.
 *   smi      L2 sends itself SMIs (x2APIC ICR, L1 does not intercept the
 *            MSR); the SMI handler only counts and executes RSM, which
 *            re-enters L2: ns per SMI -> RSM -> L2 round trip.
 *
 * The loop benchmarks time batches of ITERS guest iterations between two
 * GUEST_SYNCs (one exit to userspace per batch, amortized); a sample is the
 * ns per iteration of one batch.  One batch per benchmark is a warm-up.
 *
 * Output, one line per benchmark (host side: rig/bench.awk):
 *   BENCH-SAMPLES bench=<name> mode=<stock|eager|legacy> round=<r> n=<count> v=<ns>,<ns>,...
 *
 * Usage: nested_bench [-r round] [-b batches] [-i l1,l2,smi iterations]
 *                     [-s restores] [bench...]   (default: all four)
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "test_util.h"
#include "kvm_util.h"
#include "processor.h"
#include "svm_util.h"
#include "apic.h"
#include "nested_util.h"

#define SMI_COUNT_OFF	0x4000			/* SMRAM offset of the handler's counter */

/* Guest iterations per batch, set by the host before the first run. */
static uint64_t iters;

static const char *mode;
static int round_nr;

static const char * const all_benches[] = { "l1exit", "l2exit", "restore", "smi" };

/*
 * The SMI handler, 16-bit code (DS base 0, 4 GiB limit in SMM):
 *   66 b8 <addr32>   mov $addr, %eax
 *   67 66 ff 00      incl (%eax)
 *   0f aa            rsm
 */
static uint8_t smi_handler[] = {
	0x66, 0xb8, 0, 0, 0, 0,
	0x67, 0x66, 0xff, 0x00,
	0x0f, 0xaa,
};
#define HANDLER_ADDR_OFF	2

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static void print_samples(const char *bench, const uint64_t *v, int n)
{
	int i;

	printf("BENCH-SAMPLES bench=%s mode=%s round=%d n=%d v=", bench, mode,
	       round_nr, n);
	for (i = 0; i < n; i++)
		printf("%s%lu", i ? "," : "", (unsigned long)v[i]);
	printf("\n");
	fflush(stdout);
}

/* Run until the guest's next GUEST_SYNC; anything else is fatal. */
static void run_to_sync(struct kvm_vcpu *vcpu, const char *what)
{
	struct ucall uc;

	vcpu_run(vcpu);
	TEST_ASSERT(vcpu->run->exit_reason == KVM_EXIT_IO,
		    "%s: expected KVM_EXIT_IO (a ucall), got exit reason %u (%s)",
		    what, vcpu->run->exit_reason, exit_reason_str(vcpu->run->exit_reason));
	switch (get_ucall(vcpu, &uc)) {
	case UCALL_SYNC:
		break;
	case UCALL_ABORT:
		REPORT_GUEST_ASSERT(uc);
		break;
	default:
		TEST_FAIL("%s: unexpected ucall %lu", what, (unsigned long)uc.cmd);
	}
}

/* Warm-up batch, then @batches timed batches of @iters iterations. */
static void time_batches(struct kvm_vcpu *vcpu, const char *bench, int batches)
{
	uint64_t *v = calloc(batches, sizeof(*v));
	uint64_t t0;
	int b;

	TEST_ASSERT(v, "calloc failed");
	run_to_sync(vcpu, bench);
	for (b = 0; b < batches; b++) {
		t0 = now_ns();
		run_to_sync(vcpu, bench);
		v[b] = (now_ns() - t0) / iters;
	}
	print_samples(bench, v, batches);
	free(v);
}

static void l1exit_guest(void)
{
	uint32_t eax, ebx, ecx, edx;
	uint64_t i;

	for (;;) {
		for (i = 0; i < iters; i++) {
			eax = 0;
			ecx = 0;
			__asm__ __volatile__("cpuid"
					     : "+a"(eax), "=b"(ebx), "+c"(ecx), "=d"(edx));
		}
		GUEST_SYNC(1);
	}
}

static void bench_l1exit(int batches)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;

	vm = vm_create_with_one_vcpu(&vcpu, l1exit_guest);
	sync_global_to_guest(vm, iters);
	time_batches(vcpu, "l1exit", batches);
	kvm_vm_free(vm);
}

static void l2_vmmcall_loop(void)
{
	for (;;)
		l2_vmmcall();
}

static void l2exit_guest(struct svm_test_data *svm)
{
	unsigned long l2_stack[L2_STACK_SIZE];
	struct vmcb *vmcb = svm->vmcb;
	uint64_t i;

	generic_svm_setup(svm, l2_vmmcall_loop, &l2_stack[L2_STACK_SIZE]);
	for (;;) {
		for (i = 0; i < iters; i++) {
			run_guest(vmcb, svm->vmcb_gpa);
			GUEST_ASSERT(vmcb->control.exit_code == SVM_EXIT_VMMCALL);
			vmcb->save.rip += 3;	/* 0f 01 d9 */
		}
		GUEST_SYNC(1);
	}
}

static void bench_l2exit(int batches)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;
	gva_t svm_gva;

	vm = vm_create_with_one_vcpu(&vcpu, l2exit_guest);
	vcpu_alloc_svm(vm, &svm_gva);
	vcpu_args_set(vcpu, 1, svm_gva);
	sync_global_to_guest(vm, iters);
	time_batches(vcpu, "l2exit", batches);
	kvm_vm_free(vm);
}

static void l2_sync_loop(void)
{
	for (;;)
		GUEST_SYNC(2);
}

static void l2_in_l1(struct svm_test_data *svm, void *l2_code)
{
	unsigned long l2_stack[L2_STACK_SIZE];

	generic_svm_setup(svm, l2_code, &l2_stack[L2_STACK_SIZE]);
	run_guest(svm->vmcb, svm->vmcb_gpa);
	GUEST_ASSERT(0);	/* L2 never exits to L1 */
}

static void restore_guest(struct svm_test_data *svm)
{
	l2_in_l1(svm, l2_sync_loop);
}

static void bench_restore(int samples)
{
	uint64_t *ioc = calloc(samples, sizeof(*ioc));
	uint64_t *run = calloc(samples, sizeof(*run));
	uint64_t *tot = calloc(samples, sizeof(*tot));
	struct kvm_x86_state *st;
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;
	gva_t svm_gva;
	uint64_t t0, t1, t2;
	int i, r;

	TEST_ASSERT(ioc && run && tot, "calloc failed");
	vm = vm_create_with_one_vcpu(&vcpu, restore_guest);
	vcpu_alloc_svm(vm, &svm_gva);
	vcpu_args_set(vcpu, 1, svm_gva);
	run_to_sync(vcpu, "restore: L2's first sync");
	TEST_ASSERT(in_guest_mode(vcpu), "restore: expected the vCPU in L2");
	st = vcpu_save_state(vcpu);

	/* One untimed restore as a warm-up, then the samples. */
	for (i = -1; i < samples; i++) {
		kvm_vm_release(vm);
		vcpu = vm_recreate_with_one_vcpu(vm);
		vcpu_sregs_set(vcpu, &st->sregs);
		t0 = now_ns();
		r = __vcpu_nested_state_set(vcpu, &st->nested);
		t1 = now_ns();
		TEST_ASSERT(!r, "KVM_SET_NESTED_STATE: errno %d", errno);
		restore_rest(vcpu, st);
		t2 = now_ns();
		run_to_sync(vcpu, "restore: first KVM_RUN");
		if (i < 0)
			continue;
		ioc[i] = t1 - t0;
		run[i] = now_ns() - t2;
		tot[i] = ioc[i] + run[i];
	}
	TEST_ASSERT(in_guest_mode(vcpu), "restore: expected the vCPU in L2 at the end");
	print_samples("restore.ioctl", ioc, samples);
	print_samples("restore.run", run, samples);
	print_samples("restore.total", tot, samples);
	kvm_x86_state_cleanup(st);
	kvm_vm_free(vm);
	free(ioc);
	free(run);
	free(tot);
}

static void l2_smi_loop(void)
{
	uint64_t i;

	for (;;) {
		for (i = 0; i < iters; i++)
			x2apic_write_reg(APIC_ICR, APIC_DEST_SELF | APIC_INT_ASSERT |
					 APIC_DM_SMI);
		GUEST_SYNC(3);
	}
}

static void smi_guest(struct svm_test_data *svm)
{
	wrmsr(MSR_IA32_APICBASE, rdmsr(MSR_IA32_APICBASE) | X2APIC_ENABLE);
	l2_in_l1(svm, l2_smi_loop);
}

static void bench_smi(int batches)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;
	gva_t svm_gva;
	uint32_t addr = SMRAM_GPA + SMI_COUNT_OFF, count;
	uint8_t *smram;

	vm = vm_create_with_one_vcpu(&vcpu, smi_guest);
	smram = smram_setup(vm, vcpu);
	memcpy(&smi_handler[HANDLER_ADDR_OFF], &addr, 4);
	memcpy(smram + 0x8000, smi_handler, sizeof(smi_handler));
	vcpu_alloc_svm(vm, &svm_gva);
	vcpu_args_set(vcpu, 1, svm_gva);
	sync_global_to_guest(vm, iters);

	time_batches(vcpu, "smi", batches);
	memcpy(&count, smram + SMI_COUNT_OFF, 4);
	TEST_ASSERT(count == iters * (batches + 1),
		    "smi: expected the handler to run %lu times, it ran %u times",
		    (unsigned long)(iters * (batches + 1)), count);
	TEST_ASSERT(in_guest_mode(vcpu), "smi: expected the vCPU back in L2");
	kvm_vm_free(vm);
}

int main(int argc, char *argv[])
{
	unsigned long it_l1 = 2000, it_l2 = 500, it_smi = 200;
	int batches = 10, restores = 50, opt, i;
	bool all;

	while ((opt = getopt(argc, argv, "r:b:i:s:")) != -1) {
		switch (opt) {
		case 'r':
			round_nr = atoi(optarg);
			break;
		case 'b':
			batches = atoi(optarg);
			break;
		case 'i':
			TEST_ASSERT(sscanf(optarg, "%lu,%lu,%lu", &it_l1, &it_l2, &it_smi) == 3,
				    "-i wants L1,L2,SMI iterations, got %s", optarg);
			break;
		case 's':
			restores = atoi(optarg);
			break;
		default:
			TEST_FAIL("usage: %s [-r round] [-b batches] [-i l1,l2,smi] [-s restores] [l1exit|l2exit|restore|smi...]",
				  argv[0]);
		}
	}
	TEST_ASSERT(batches > 0 && restores > 0 && it_l1 && it_l2 && it_smi,
		    "batches, restores and iterations must be positive");
	TEST_REQUIRE(kvm_cpu_has(X86_FEATURE_SVM));
	TEST_REQUIRE(kvm_has_cap(KVM_CAP_NESTED_STATE));
	TEST_REQUIRE(kvm_has_cap(KVM_CAP_X86_SMM));
	mode = mode_name[read_mode()];

	all = optind == argc;
	for (i = all ? 0 : optind; i < (all ? (int)ARRAY_SIZE(all_benches) : argc); i++) {
		const char *b = all ? all_benches[i] : argv[i];

		if (!strcmp(b, "l1exit")) {
			iters = it_l1;
			bench_l1exit(batches);
		} else if (!strcmp(b, "l2exit")) {
			iters = it_l2;
			bench_l2exit(batches);
		} else if (!strcmp(b, "restore")) {
			bench_restore(restores);
		} else if (!strcmp(b, "smi")) {
			iters = it_smi;
			bench_smi(batches);
		} else {
			TEST_FAIL("unknown benchmark %s", b);
		}
	}
	return 0;
}
