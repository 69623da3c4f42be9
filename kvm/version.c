// SPDX-License-Identifier: GPL-2.0
/*
 * kvm-nested version marker, linked into kvm.ko, kvm-intel.ko and kvm-amd.ko
 * so that modinfo and /sys/module/<name>/version tell our modules from stock.
 */
#include <linux/module.h>

MODULE_VERSION(KVM_NESTED_VERSION);
