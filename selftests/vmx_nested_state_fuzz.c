// SPDX-License-Identifier: GPL-2.0-only
/*
 * vmx_nested_state_fuzz - seeded fuzzing of KVM_SET_NESTED_STATE and of RSM
 * into L2 on nested VMX; the VMX twin of nested_state_fuzz.c.  Host splats
 * are what the rig looks for; the test itself fails only if a valid state
 * no longer restores (the vCPU is stuck) or the guest cannot complete.
 *
 * L1 launches L2; L2 reports in (stage 2) and the host saves the vCPU: that
 * is the valid state.  From then on L2's VMCALL exits to L1, which reports
 * the exit reason (stage 3) and is done.
 *
 * State iterations: mutate a copy of the valid state -- the nested state
 * header (flags, format, size, VMXON and vmcs12 addresses, SMM flags,
 * preemption timer deadline), vmcs12 fields (controls, the addresses of
 * the pages hanging off it, guest and host state KVM checks), random bit
 * flips in vmcs12, and L2's CR0, CR3, CR4 and EFER through KVM_SET_SREGS --
 * then KVM_SET_SREGS and KVM_SET_NESTED_STATE; when accepted, one KVM_RUN
 * bounded by SIGALRM.
 *
 * RSM iterations: from the valid state, KVM_SMI (KVM exits to L1 first);
 * the SMM handler does one to three seeded dword stores into L1's SMRAM
 * state-save area (CR0, CR3, CR4, EFER, RIP, RFLAGS, ... or any dword) or
 * into vmcs12 in guest memory, reports through an IN and executes RSM,
 * which returns to L2 from the cached vmcs12 and is run bounded.  Expected:
 * L1 shutdown or a clean resume, never a host splat.
 *
 * After every rejected blob and every FUZZ_CHECK_EVERY iterations the valid
 * state is restored and the guest must complete; the VM is recreated every
 * FUZZ_RECREATE iterations.  Arguments and environment: nested_fuzz.h;
 * the driver is nested_fuzz.c.
 * Without arguments (Bochs is slow): 40 state + 12 RSM iterations, seed
 * 0x5eed.
 */
#include <stddef.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "nested_fuzz.h"

static void l2_guest_code(void)
{
	GUEST_SYNC(2);
	vmcall();
}

static void l1_guest_code(struct vmx_pages *vmx)
{
	vmx_l1_run_l2(vmx, l2_guest_code, 0);
}

/* struct vmcs12 offsets (arch/x86/kvm/vmx/vmcs12.h; a fixed ABI). */
#define F64(f, o) { #f, o, 8 }
#define F32(f, o) { #f, o, 4 }
#define F16(f, o) { #f, o, 2 }

static const struct field ctl_fields[] = {
	F32(revision_id, 0), F32(launch_state, 8),
	F64(io_bitmap_a, 40), F64(io_bitmap_b, 48), F64(msr_bitmap, 56),
	F64(vm_exit_msr_store_addr, 64), F64(vm_exit_msr_load_addr, 72),
	F64(vm_entry_msr_load_addr, 80), F64(tsc_offset, 88),
	F64(virtual_apic_page_addr, 96), F64(apic_access_addr, 104),
	F64(posted_intr_desc_addr, 112), F64(ept_pointer, 120),
	F64(xss_exit_bitmap, 160), F64(vmcs_link_pointer, 176),
	F64(vmread_bitmap, 280), F64(vmwrite_bitmap, 288),
	F64(vm_function_control, 296), F64(eptp_list_address, 304),
	F64(pml_address, 312), F64(tsc_multiplier, 328),
	F64(cr0_guest_host_mask, 344), F64(cr4_guest_host_mask, 352),
	F32(pin_based_vm_exec_control, 744), F32(cpu_based_vm_exec_control, 748),
	F32(exception_bitmap, 752), F32(cr3_target_count, 764),
	F32(vm_exit_controls, 768), F32(vm_exit_msr_store_count, 772),
	F32(vm_exit_msr_load_count, 776), F32(vm_entry_controls, 780),
	F32(vm_entry_msr_load_count, 784), F32(vm_entry_intr_info_field, 788),
	F32(vm_entry_exception_error_code, 792), F32(vm_entry_instruction_len, 796),
	F32(tpr_threshold, 800), F32(secondary_vm_exec_control, 804),
	F32(vmx_preemption_timer_value, 928), F16(virtual_processor_id, 960),
	F16(posted_intr_nv, 962), F16(guest_pml_index, 996),
};

static const struct field save_fields[] = {
	F64(guest_ia32_debugctl, 184), F64(guest_ia32_pat, 192),
	F64(guest_ia32_efer, 200), F64(guest_pdptr0, 216),
	F64(host_ia32_pat, 256), F64(host_ia32_efer, 264),
	F64(guest_cr0, 424), F64(guest_cr3, 432), F64(guest_cr4, 440),
	F64(guest_cs_base, 456), F64(guest_tr_base, 504), F64(guest_dr7, 528),
	F64(guest_rsp, 536), F64(guest_rip, 544), F64(guest_rflags, 552),
	F64(guest_pending_dbg_exceptions, 560),
	F64(host_cr0, 584), F64(host_cr3, 592), F64(host_cr4, 600),
	F64(host_fs_base, 608), F64(host_tr_base, 624), F64(host_rsp, 664),
	F64(host_rip, 672),
	F32(guest_cs_limit, 844), F32(guest_ss_limit, 848), F32(guest_tr_limit, 868),
	F32(guest_cs_ar_bytes, 884), F32(guest_ss_ar_bytes, 888),
	F32(guest_ldtr_ar_bytes, 904), F32(guest_tr_ar_bytes, 908),
	F32(guest_interruptibility_info, 912), F32(guest_activity_state, 916),
	F32(host_ia32_sysenter_cs, 924),
	F16(guest_cs_selector, 966), F16(guest_ss_selector, 968),
	F16(guest_tr_selector, 978), F16(guest_intr_status, 980),
	F16(host_cs_selector, 984), F16(host_ss_selector, 986),
	F16(host_tr_selector, 994),
};

/* L1's 64-bit SMRAM state-save fields (offsets from SMBASE + 0x8000). */
static const struct field smram_fields[] = {
	F32(efer, 0x7ed0), F32(cr4, 0x7f48), F32(cr3, 0x7f50), F32(cr0, 0x7f58),
	F32(dr7, 0x7f60), F32(dr6, 0x7f68), F32(rflags, 0x7f70), F32(rip, 0x7f78),
	F32(cs_attr, 0x7e12), F32(tr_attr, 0x7e92), F32(smm_revision, 0x7efc),
};

/* Mutations 3 (VMXON address, SMM and VMX flags) and 4 (vmcs12 address). */
static void mutate_hdr(struct kvm_nested_state *ns, int what, uint64_t good_vmcs)
{
	if (what == 4) {
		ns->hdr.vmx.vmcs12_pa = fuzz_gpa(good_vmcs);
		mut("vmcs12_pa=0x%llx ", (unsigned long long)ns->hdr.vmx.vmcs12_pa);
		return;
	}
	switch (rnd_below(4)) {
	case 0:
		ns->hdr.vmx.vmxon_pa = fuzz_gpa(ns->hdr.vmx.vmxon_pa);
		mut("vmxon_pa=0x%llx ", (unsigned long long)ns->hdr.vmx.vmxon_pa);
		break;
	case 1:
		ns->hdr.vmx.smm.flags = rnd_below(8);
		mut("smm.flags=0x%x ", ns->hdr.vmx.smm.flags);
		break;
	default:
		ns->hdr.vmx.flags = rnd_below(4);
		ns->hdr.vmx.preemption_timer_deadline = fuzz_value(0, 8);
		mut("vmx.flags=0x%x deadline=0x%llx ", ns->hdr.vmx.flags,
		    (unsigned long long)ns->hdr.vmx.preemption_timer_deadline);
		break;
	}
}

/* The SMI handler's own stores (RSM_OWN): a named field of L1's state-save area. */
static void vmx_rsm_store(struct fuzz_vm *f, int kind, uint32_t *addr, uint32_t *val)
{
	const struct field *x = &smram_fields[rnd_below(ARRAY_SIZE(smram_fields))];

	*addr = SMRAM_GPA + 0x8000 + x->off;
	*val = fuzz_value(get_field(f->smram, 0x8000 + x->off, 4), 4);
}

static const uint8_t vmx_rsm_kinds[] = {
	RSM_OWN, RSM_OWN, RSM_SAVE_AREA, RSM_FIELD, RSM_DWORD,
};

/* Bochs is slow: fewer iterations by default. */
static const struct fuzz_vendor vmx_fuzz = {
	"vmx", "vmx_nested_state_fuzz", 40, 12, KVM_STATE_NESTED_FORMAT_VMX,
	EXIT_REASON_VMCALL, &vmx_vendor, l1_guest_code, vmx_rsm_store,
	"vmcs12", KVM_STATE_NESTED_VMX_VMCS_SIZE, ctl_fields, save_fields,
	ARRAY_SIZE(ctl_fields), ARRAY_SIZE(save_fields), "control", 1000, mutate_hdr,
	vmx_rsm_kinds, ARRAY_SIZE(vmx_rsm_kinds),
};

int main(int argc, char *argv[])
{
	nested_require(&vmx_vendor, NEED_NESTED_STATE | NEED_SMM);
	return fuzz_main(&vmx_fuzz, argc, argv);
}
