// SPDX-License-Identifier: GPL-2.0
/*
 * kABI layout probe for `make abi-check`: compiled against the pristine and
 * the patched headers, its DWARF describes the structures whose layout
 * built-in kernel code and stock modules depend on.  Never linked.
 */
#include <linux/kvm_host.h>

struct kvm *kvm_nested_abi_kvm;
struct kvm_arch *kvm_nested_abi_kvm_arch;
struct kvm_vcpu *kvm_nested_abi_kvm_vcpu;
struct kvm_vcpu_arch *kvm_nested_abi_kvm_vcpu_arch;
struct kvm_vcpu_stat *kvm_nested_abi_kvm_vcpu_stat;
struct kvm_pmu *kvm_nested_abi_kvm_pmu;
struct kvm_run *kvm_nested_abi_kvm_run;
