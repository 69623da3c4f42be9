// SPDX-License-Identifier: GPL-2.0-only
/*
 * nested_state_fuzz - seeded fuzzing of KVM_SET_NESTED_STATE and of RSM into
 * L2 on nested SVM.  Host splats are what the rig looks for; the test itself
 * fails only if a valid state no longer restores (the vCPU is stuck) or the
 * guest cannot complete afterwards.
 *
 * L1 runs L2; L2 reports in (stage 2) and the host saves the vCPU: that is
 * the valid state.  From then on L2's VMMCALL exits to L1, which reports the
 * exit code (stage 3) and is done.
 *
 * State iterations: mutate a copy of the valid state -- the nested state
 * header (flags, format, size, vmcb12 address), vmcb12 control fields
 * (intercepts, MSRPM/IOPM addresses, ASID, int_ctl, event_inj, nested_ctl,
 * nested_cr3, ...), the L1 save-area fields KVM checks (EFER, CR0, CR3, CR4,
 * DR6, DR7, RFLAGS, ...), random bit flips in vmcb12, and L2's CR0, CR3,
 * CR4 and EFER through KVM_SET_SREGS -- then KVM_SET_SREGS and
 * KVM_SET_NESTED_STATE; when accepted, one KVM_RUN bounded by SIGALRM.
 *
 * RSM iterations: from the valid state, KVM_SMI; the SMM handler (real
 * mode, at SMBASE + 0x8000) does one to three seeded dword stores into
 * vmcb12 or into the SMRAM state-save area (among them the saved vmcb12
 * address and the "in guest mode" flag), reports through an IN and
 * executes RSM, which is run bounded.  Expected: L1 shutdown or a clean
 * resume, never a host splat.
 *
 * After every rejected blob and every FUZZ_CHECK_EVERY iterations the valid
 * state is restored and the guest must complete; the VM is recreated every
 * FUZZ_RECREATE iterations.  Arguments and environment: nested_fuzz.h;
 * the driver is nested_fuzz.c.
 * Without arguments: 120 state + 40 RSM iterations, seed 0x5eed (make check).
 */
#include <stddef.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "nested_fuzz.h"
#include "svm_util.h"

static void l2_guest_code(void)
{
	GUEST_SYNC(2);
	l2_vmmcall_nostore();	/* fuzzed states may run it on another stack */
}

static void l1_guest_code(struct svm_test_data *svm)
{
	svm_l1_run_l2(svm, l2_guest_code, false);
}

#define CTL_AS(n, f) { n, offsetof(struct vmcb, control.f), sizeof(((struct vmcb *)0)->control.f) }
#define CTL(f) CTL_AS(#f, f)
#define SAVE(f) { #f, offsetof(struct vmcb, save.f), sizeof(((struct vmcb *)0)->save.f) }

static const struct field ctl_fields[] = {
	CTL(intercept_cr), CTL(intercept_dr), CTL(intercept_exceptions),
	CTL(intercept), CTL(pause_filter_thresh), CTL(pause_filter_count),
	CTL(iopm_base_pa), CTL(msrpm_base_pa), CTL(tsc_offset), CTL(asid),
	CTL(tlb_ctl), CTL(int_ctl), CTL(int_vector), CTL(int_state),
	CTL(exit_code), CTL(exit_info_1), CTL(exit_info_2), CTL(exit_int_info),
	CTL_AS("nested_ctl", VMCB_NESTED_CTL), CTL(avic_vapic_bar), CTL(event_inj), CTL(event_inj_err),
	CTL(nested_cr3), CTL_AS("virt_ext", VMCB_VIRT_EXT), CTL(clean), CTL(next_rip),
	CTL(avic_backing_page), CTL(avic_logical_id), CTL(avic_physical_id),
};

static const struct field save_fields[] = {
	SAVE(efer), SAVE(cr0), SAVE(cr3), SAVE(cr4), SAVE(dr6), SAVE(dr7),
	SAVE(rflags), SAVE(rip), SAVE(rsp), SAVE(rax), SAVE(g_pat),
	SAVE(cs.attrib), SAVE(cs.selector), SAVE(cs.limit), SAVE(ss.attrib),
	SAVE(cpl), SAVE(gdtr.base), SAVE(idtr.limit), SAVE(tr.attrib),
	SAVE(dbgctl),
};

/* Mutations 3 and 4: the vmcb12 address. */
static void mutate_hdr(struct kvm_nested_state *ns, int what, uint64_t good_vmcb)
{
	ns->hdr.svm.vmcb_pa = fuzz_gpa(good_vmcb);
	mut("vmcb_pa=0x%llx ", (unsigned long long)ns->hdr.svm.vmcb_pa);
}

/* The SMI handler's own stores (RSM_OWN, @kind 0 or 1). */
static void svm_rsm_store(struct fuzz_vm *f, int kind, uint32_t *addr, uint32_t *val)
{
	if (kind == 0) {	/* vmcb12 GPA saved in SMRAM (smram64 0x7ee0, low dword) */
		*addr = SMRAM_GPA + 0xfee0 + 4 * rnd_below(2);
		*val = (uint32_t)fuzz_gpa(f->nested_gpa);
	} else {		/* "in guest mode" flag (smram64 0x7ed8) */
		*addr = SMRAM_GPA + 0xfed8;
		*val = fuzz_value(1, 4);
	}
}

static const uint8_t svm_rsm_kinds[] = {
	RSM_OWN, RSM_OWN, RSM_SAVE_AREA, RSM_FIELD, RSM_FIELD, RSM_DWORD,
};

static const struct fuzz_vendor svm_fuzz = {
	.name = "svm", .prog = "nested_state_fuzz", .def_iters = 120, .def_rsm_iters = 40,
	.format = KVM_STATE_NESTED_FORMAT_SVM, .l2_exit = SVM_EXIT_VMMCALL,
	.nested = &svm_vendor, .l1_guest_code = l1_guest_code,
	.rsm_store = svm_rsm_store, .mutate_hdr = mutate_hdr,
	.blob_name = "vmcb12", .blob_size = KVM_STATE_NESTED_SVM_VMCB_SIZE,
	.ctl_fields = ctl_fields, .nr_ctl_fields = ARRAY_SIZE(ctl_fields),
	.save_fields = save_fields, .nr_save_fields = ARRAY_SIZE(save_fields),
	.or_in = "intercept", .hot_bytes = 0x400,
	.rsm_kinds = svm_rsm_kinds, .nr_rsm_kinds = ARRAY_SIZE(svm_rsm_kinds),
};

int main(int argc, char *argv[])
{
	nested_require(&svm_vendor, NEED_NESTED_STATE | NEED_SMM);
	return fuzz_main(&svm_fuzz, argc, argv);
}
