/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * nested_compat.h - what differs between the KVM selftest libraries that
 * kvm-nested's selftests build against (Debian's 6.1, 6.12 and 7.x
 * linux-source), in one place.  The tests are written against the newest
 * library; this maps the older ones.  selftests/Makefile probes the library
 * and passes KVM_LIB_* (and picks its x86 or x86_64 directory); nothing
 * else looks at versions.  Included by nested_util.h.
 */
#ifndef SELFTEST_KVM_NESTED_COMPAT_H
#define SELFTEST_KVM_NESTED_COMPAT_H

#include "kvm_util.h"
#include "processor.h"
#include "svm_util.h"
#include "vmx.h"
#include "evmcs.h"

#ifndef KVM_LIB_GVA_T
/* 6.x: guest virtual addresses are vm_vaddr_t, pages vm_vaddr_alloc_page(). */
typedef vm_vaddr_t gva_t;
#define vm_alloc_page(vm)	vm_vaddr_alloc_page(vm)
#endif

#ifdef KVM_LIB_L2_STACK
/*
 * 7.3: generic_svm_setup() and prepare_vmcs() point L2's RSP at a stack the
 * library allocated; ours keep L2's stack in L1's frame (@rsp), as on the
 * older libraries, so that L2 runs the same everywhere.
 */
#define generic_svm_setup(svm_, rip_, rsp_) do {			\
	generic_svm_setup(svm_, rip_);					\
	(svm_)->vmcb->save.rsp = (uint64_t)(rsp_);			\
} while (0)
#define prepare_vmcs(vmx_, rip_, rsp_) do {				\
	prepare_vmcs(vmx_, rip_);					\
	vmwrite(GUEST_RSP, (uint64_t)(rsp_));				\
} while (0)
#endif

/* 7.x calls the vmcb control fields nested_ctl and virt_ext misc_ctl, misc_ctl2. */
#ifdef KVM_LIB_VMCB_MISC_CTL
#define VMCB_NESTED_CTL		misc_ctl
#define VMCB_VIRT_EXT		misc_ctl2
#else
#define VMCB_NESTED_CTL		nested_ctl
#define VMCB_VIRT_EXT		virt_ext
#endif

/*
 * The Hyper-V pages (VP assist page, eVMCS) of an L1 using an eVMCS: 6.12+
 * keep them in a struct hyperv_test_pages of their own and make the eVMCS
 * current with load_evmcs(); 6.1 keeps them in struct vmx_pages and
 * load_vmcs() does it.
 */
#ifdef KVM_LIB_HV_PAGES
#define HV_PAGES	struct hyperv_test_pages

static inline gva_t hv_pages_alloc(struct kvm_vm *vm, gva_t vmx_gva)
{
	gva_t hv_gva;

	vcpu_alloc_hyperv_test_pages(vm, &hv_gva);
	return hv_gva;
}

/* Guest code: VMXON, and the eVMCS made current. */
static inline bool evmcs_vmx_start(struct vmx_pages *vmx, HV_PAGES *hv)
{
	evmcs_enable();
	return prepare_for_vmx_operation(vmx) && load_evmcs(hv);
}
#else
#define HV_PAGES	struct vmx_pages

static inline gva_t hv_pages_alloc(struct kvm_vm *vm, gva_t vmx_gva)
{
	return vmx_gva;
}

static inline bool evmcs_vmx_start(struct vmx_pages *vmx, HV_PAGES *hv)
{
	return prepare_for_vmx_operation(vmx) && load_vmcs(vmx);
}
#endif

#endif /* SELFTEST_KVM_NESTED_COMPAT_H */
