// SPDX-License-Identifier: GPL-2.0-only
/*
 * vmx_nested_smm_rsm_test - nested VMX twin of nested_smm_rsm_test (plain
 * variant): SMI while the vCPU runs L2, RSM back into L2.
 *
 * L1 runs L2 with an MSR bitmap intercepting RDMSR(FS_BASE), a virtual-APIC
 * page (TPR shadow) and an APIC-access page (virtualize APIC accesses).
 * When L2 reports in, the host raises an SMI (KVM_SMI); KVM leaves L2 to
 * enter SMM, the handler at SMBASE + 0x8000 reports through an IN from port
 * SYNC_PORT and executes RSM, which re-enters L2 and (re)loads the pages
 * hanging off vmcs12: at RSM in eager mode (kvm-nested,
 * defer_nested_state_pages=N), at the next entry otherwise.  L2 must then
 * resume and the guest complete, L2's RDMSR exiting to L1.  Debugfs
 * nested_state_pages counts (rsm 1 in eager mode, legacy_request 1 in
 * legacy mode) are checked when the file exists.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "test_util.h"
#include "kvm_util.h"
#include "processor.h"
#include "vmx.h"

#define PARAM		"/sys/module/kvm/parameters/defer_nested_state_pages"

#define SMRAM_GPA	0x1000000ull
#define SMRAM_SIZE	0x10000
#define SMRAM_PAGES	(SMRAM_SIZE / 4096)
#define SMRAM_MEMSLOT	((1 << 16) | 1)		/* address space 1 (SMM), slot 1 */
#define SMI_STAGE	0xfe
#define SYNC_PORT	0xe

#define PAGES_GPA	0x40000000ull
#define PAGES_SLOT	10
#define NR_PAGES	4
#define FS_BASE_BYTE	(0x400 + (MSR_FS_BASE - 0xc0000000) / 8)
#define FS_BASE_BIT	(1u << ((MSR_FS_BASE - 0xc0000000) % 8))
#define L2_STACK_SIZE	256

enum mode { MODE_STOCK, MODE_EAGER, MODE_LEGACY };
static const char * const mode_name[] = { "stock", "eager", "legacy" };

/* 16-bit SMI handler: mov $SMI_STAGE, %al; in $SYNC_PORT, %al; rsm. */
static const uint8_t smi_handler[] = {
	0xb0, SMI_STAGE,
	0xe4, SYNC_PORT,
	0x0f, 0xaa,
};

static void l2_guest_code(void)
{
	GUEST_SYNC(2);			/* in L2: the host raises an SMI here */
	(void)rdmsr(MSR_FS_BASE);	/* L1's MSR bitmap makes this exit to L1 */
	GUEST_SYNC(4);
	vmcall();
}

static void l1_guest_code(struct vmx_pages *vmx, uint64_t pages)
{
	unsigned long l2_stack[L2_STACK_SIZE];

	GUEST_ASSERT(prepare_for_vmx_operation(vmx));
	GUEST_ASSERT(load_vmcs(vmx));
	prepare_vmcs(vmx, l2_guest_code, &l2_stack[L2_STACK_SIZE]);

	((uint8_t *)pages)[FS_BASE_BYTE] |= FS_BASE_BIT;
	vmwrite(MSR_BITMAP, pages);
	vmwrite(VIRTUAL_APIC_PAGE_ADDR, pages + 4096);
	vmwrite(TPR_THRESHOLD, 0);
	vmwrite(APIC_ACCESS_ADDR, pages + 2 * 4096);
	vmwrite(CPU_BASED_VM_EXEC_CONTROL, vmreadz(CPU_BASED_VM_EXEC_CONTROL) |
		CPU_BASED_USE_MSR_BITMAPS | CPU_BASED_TPR_SHADOW |
		CPU_BASED_ACTIVATE_SECONDARY_CONTROLS);
	vmwrite(SECONDARY_VM_EXEC_CONTROL, vmreadz(SECONDARY_VM_EXEC_CONTROL) |
		SECONDARY_EXEC_VIRTUALIZE_APIC_ACCESSES);
	GUEST_SYNC(1);

	GUEST_ASSERT(!vmlaunch());
	GUEST_SYNC_ARGS(3, vmreadz(VM_EXIT_REASON), 0, 0, 0);
	vmwrite(GUEST_RIP, vmreadz(GUEST_RIP) + vmreadz(VM_EXIT_INSTRUCTION_LEN));

	GUEST_ASSERT(!vmresume());
	GUEST_SYNC_ARGS(5, vmreadz(VM_EXIT_REASON), 0, 0, 0);
	GUEST_DONE();
}

static enum mode read_mode(void)
{
	char buf[4] = {};
	int fd = open(PARAM, O_RDONLY);
	ssize_t n;

	if (fd < 0) {
		TEST_ASSERT(errno == ENOENT, "open(%s): expected success or ENOENT, got errno %d",
			    PARAM, errno);
		return MODE_STOCK;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	TEST_ASSERT(n >= 1 && (buf[0] == 'Y' || buf[0] == 'N'),
		    "%s: expected Y or N, got \"%s\"", PARAM, buf);
	return buf[0] == 'N' ? MODE_EAGER : MODE_LEGACY;
}

struct np_counts {
	char mode[16];
	long rsm, set_nested_state, vmentry, legacy_request, failed;
};

static bool read_np_counts(struct kvm_vm *vm, struct np_counts *c)
{
	char path[128], line[128];
	FILE *f;
	int seen = 0;

	snprintf(path, sizeof(path), "/sys/kernel/debug/kvm/%d-%d/nested_state_pages",
		 getpid(), vm->fd);
	f = fopen(path, "r");
	if (!f)
		return false;
	memset(c, 0, sizeof(*c));
	c->vmentry = -1;	/* optional: VM-entry loads may be traced only */
	while (fgets(line, sizeof(line), f)) {
		seen += sscanf(line, "mode: %15s", c->mode);
		seen += sscanf(line, "rsm: %ld", &c->rsm);
		seen += sscanf(line, "set_nested_state: %ld", &c->set_nested_state);
		sscanf(line, "vmentry: %ld", &c->vmentry);
		seen += sscanf(line, "legacy_request: %ld", &c->legacy_request);
		seen += sscanf(line, "failed: %ld", &c->failed);
	}
	fclose(f);
	TEST_ASSERT(seen == 5, "%s: expected the lines mode, rsm, set_nested_state, legacy_request, failed (and optionally vmentry), parsed %d of them",
		    path, seen);
	return true;
}

static struct ucall expect_stage(struct kvm_vcpu *vcpu, int stage)
{
	struct kvm_run *run = vcpu->run;
	struct ucall uc;

	TEST_ASSERT(run->exit_reason == KVM_EXIT_IO,
		    "stage %d: expected KVM_EXIT_IO (a ucall), got exit reason %u (%s)",
		    stage, run->exit_reason, exit_reason_str(run->exit_reason));
	switch (get_ucall(vcpu, &uc)) {
	case UCALL_ABORT:
		REPORT_GUEST_ASSERT(uc);
		break;
	case UCALL_SYNC:
		TEST_ASSERT(uc.args[1] == stage, "expected guest stage %d, got stage %lu",
			    stage, (unsigned long)uc.args[1]);
		break;
	case UCALL_DONE:
		TEST_ASSERT(stage == 0, "guest done, expected stage %d", stage);
		break;
	default:
		TEST_FAIL("stage %d: unexpected exit (port 0x%x, ucall %lu)", stage,
			  run->io.port, (unsigned long)uc.cmd);
	}
	return uc;
}

static struct ucall run_to_stage(struct kvm_vcpu *vcpu, int stage)
{
	vcpu_run(vcpu);
	return expect_stage(vcpu, stage);
}

int main(int argc, char *argv[])
{
	struct kvm_vcpu_events events;
	struct kvm_regs regs;
	vm_vaddr_t vmx_gva;
	struct kvm_vcpu *vcpu;
	struct np_counts np;
	struct kvm_run *run;
	struct kvm_vm *vm;
	struct ucall uc;
	enum mode mode;
	uint8_t *smram;

	TEST_REQUIRE(kvm_has_cap(KVM_CAP_X86_SMM));
	TEST_REQUIRE(kvm_cpu_has(X86_FEATURE_VMX));
	TEST_REQUIRE(kvm_has_cap(KVM_CAP_NESTED_STATE));
	TEST_REQUIRE((kvm_get_feature_msr(MSR_IA32_VMX_TRUE_PROCBASED_CTLS) >> 32) &
		     CPU_BASED_TPR_SHADOW);
	TEST_REQUIRE((kvm_get_feature_msr(MSR_IA32_VMX_TRUE_PROCBASED_CTLS) >> 32) &
		     CPU_BASED_USE_MSR_BITMAPS);
	TEST_REQUIRE((kvm_get_feature_msr(MSR_IA32_VMX_PROCBASED_CTLS2) >> 32) &
		     SECONDARY_EXEC_VIRTUALIZE_APIC_ACCESSES);
	mode = read_mode();
	pr_info("mode: %s\n", mode_name[mode]);

	vm = vm_create_with_one_vcpu(&vcpu, l1_guest_code);
	run = vcpu->run;

	vm_userspace_mem_region_add(vm, VM_MEM_SRC_ANONYMOUS, SMRAM_GPA,
				    SMRAM_MEMSLOT, SMRAM_PAGES, 0);
	TEST_ASSERT(vm_phy_pages_alloc(vm, SMRAM_PAGES, SMRAM_GPA, SMRAM_MEMSLOT) == SMRAM_GPA,
		    "could not allocate the SMRAM guest-physical pages");
	smram = addr_gpa2hva(vm, SMRAM_GPA);
	memset(smram, 0, SMRAM_SIZE);
	memcpy(smram + 0x8000, smi_handler, sizeof(smi_handler));
	vcpu_set_msr(vcpu, MSR_IA32_SMBASE, SMRAM_GPA);

	vm_userspace_mem_region_add(vm, VM_MEM_SRC_ANONYMOUS, PAGES_GPA,
				    PAGES_SLOT, NR_PAGES, 0);
	virt_map(vm, PAGES_GPA, PAGES_GPA, NR_PAGES);
	memset(addr_gpa2hva(vm, PAGES_GPA), 0, NR_PAGES * getpagesize());
	vcpu_alloc_vmx(vm, &vmx_gva);
	vcpu_args_set(vcpu, 2, vmx_gva, PAGES_GPA);

	run_to_stage(vcpu, 1);
	run_to_stage(vcpu, 2);

	vcpu_ioctl(vcpu, KVM_SMI, NULL);
	vcpu_run(vcpu);
	vcpu_regs_get(vcpu, &regs);
	TEST_ASSERT(run->exit_reason == KVM_EXIT_IO && run->io.port == SYNC_PORT &&
		    (regs.rax & 0xff) == SMI_STAGE,
		    "after KVM_SMI in L2: expected the SMI handler's IN from port 0x%x with al 0x%x, got exit reason %u (%s) port 0x%x al 0x%llx",
		    SYNC_PORT, SMI_STAGE, run->exit_reason, exit_reason_str(run->exit_reason),
		    run->io.port, regs.rax & 0xff);
	vcpu_events_get(vcpu, &events);
	TEST_ASSERT(events.smi.smm, "expected the vCPU in SMM in the SMI handler");

	/* RSM back into L2. */
	uc = run_to_stage(vcpu, 3);
	TEST_ASSERT(uc.args[2] == EXIT_REASON_MSR_READ,
		    "after RSM into L2, L2's RDMSR(FS_BASE): expected an MSR-read exit to L1 (%u), got exit reason %lu",
		    EXIT_REASON_MSR_READ, (unsigned long)uc.args[2]);
	run_to_stage(vcpu, 4);
	uc = run_to_stage(vcpu, 5);
	TEST_ASSERT(uc.args[2] == EXIT_REASON_VMCALL,
		    "expected L2's VMCALL to exit to L1 (%u), got exit reason %lu",
		    EXIT_REASON_VMCALL, (unsigned long)uc.args[2]);
	run_to_stage(vcpu, 0);

	if (read_np_counts(vm, &np)) {
		const char *want = mode == MODE_EAGER ? "eager" : "legacy";
		long rsm = mode == MODE_EAGER ? 1 : 0;

		TEST_ASSERT(!strcmp(np.mode, want) && np.rsm == rsm &&
			    np.legacy_request == 1 - rsm && np.set_nested_state == 0 &&
			    np.failed == 0 && (np.vmentry < 0 || np.vmentry == 2),
			    "debugfs nested_state_pages: expected mode %s rsm %ld legacy_request %ld set_nested_state 0 vmentry 2 (or none) failed 0, got mode %s rsm %ld legacy_request %ld set_nested_state %ld vmentry %ld failed %ld",
			    want, rsm, 1 - rsm, np.mode, np.rsm, np.legacy_request,
			    np.set_nested_state, np.vmentry, np.failed);
	} else {
		pr_info("no debugfs nested_state_pages file: counts not checked\n");
	}

	kvm_vm_free(vm);
	return 0;
}
