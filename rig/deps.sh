#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Install the host packages the runtime rig needs (Debian 12).  Run as root.
#   rig/deps.sh          SVM rig (QEMU TCG)
#   rig/deps.sh vmx      adds the Bochs VMX rig
set -eu

# QEMU + initramfs + static selftest build.
PKGS_SVM="qemu-system-x86 busybox-static cpio xz-utils kmod make gcc
libc6-dev binutils file"
# Bochs (VMX with EPT) booting an isolinux ISO.
PKGS_VMX="bochs bochsbios vgabios syslinux syslinux-common isolinux xorriso"

pkgs=$PKGS_SVM
case ${1:-} in
vmx | all) pkgs="$pkgs $PKGS_VMX" ;;
"") ;;
*)
	echo "usage: $0 [vmx]" >&2
	exit 2
	;;
esac

missing=
for p in $pkgs; do
	dpkg-query -W -f '${Status}\n' "$p" 2>/dev/null |
		grep -q '^install ok installed$' || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
# shellcheck disable=SC2086 # word splitting of the package list is wanted
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing
