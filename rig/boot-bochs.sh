#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# rig/boot-bochs.sh VMLINUZ INITRD LOG TIMEOUT STALL WORKDIR: boot the rig's
# guest under Bochs (VMX with EPT) from an isolinux ISO made in WORKDIR, com1
# into LOG; stopped after TIMEOUT host seconds, STALL seconds without console
# output, or shortly after the guest is done (Bochs does not power off).
# RIG_APPEND adds to the kernel command line.
set -eu

: "${TOP:=$(cd "$(dirname "$0")/.." && pwd)}"
# shellcheck source=common.sh
. "$TOP/rig/common.sh"

[ $# -eq 6 ] || die "usage: rig/boot-bochs.sh VMLINUZ INITRD LOG TIMEOUT STALL WORKDIR"
VMLINUZ=$1
INITRD=$2
LOG=$3
W=$6
APPEND="console=ttyS0,115200 panic=-1 loglevel=5 ${RIG_APPEND:-}"

make_iso()
{
	mi_root=$W/iso
	rm -rf "$mi_root"
	mkdir -p "$mi_root/isolinux"
	cp /usr/lib/ISOLINUX/isolinux.bin /usr/lib/syslinux/modules/bios/ldlinux.c32 \
		"$mi_root/isolinux/"
	cp "$VMLINUZ" "$mi_root/vmlinuz"
	cp "$INITRD" "$mi_root/initrd.gz"
	cat >"$mi_root/isolinux/isolinux.cfg" <<-CFG
		DEFAULT rig
		PROMPT 0
		TIMEOUT 0
		LABEL rig
		  KERNEL /vmlinuz
		  INITRD /initrd.gz
		  APPEND $APPEND
	CFG
	xorriso -as mkisofs -quiet -o "$W/rig.iso" -b isolinux/isolinux.bin \
		-c isolinux/boot.cat -no-emul-boot -boot-load-size 4 \
		-boot-info-table "$mi_root" 2>"$W/xorriso.log" ||
		die "xorriso failed, see $W/xorriso.log"
}

make_bochsrc()
{
	sed -e "s|@ISO@|$W/rig.iso|" -e "s|@SERIAL@|$LOG|" \
		-e "s|@BOCHSLOG@|$W/bochs.log|" "$RIG/bochsrc.in" >"$W/bochsrc"
}

make_iso
make_bochsrc
: >"$LOG"
# The debugger of Debian's build stops before the first instruction: "c".
printf 'c\n' | bochs -q -f "$W/bochsrc" >"$W/bochs.out" 2>&1 &
watch_pid $! "$LOG" "$4" "$5"
