#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# rig/boot-qemu.sh VMLINUZ INITRD LOG TIMEOUT STALL: boot the rig's guest
# under QEMU TCG with -cpu max (SVM, NPT), serial console into LOG; stopped
# after TIMEOUT host seconds or STALL seconds without console output.
# RIG_APPEND adds to the kernel command line (e.g. loglevel=8 to watch boot),
# RIG_QEMU_ARGS to QEMU's (e.g. -icount for rig/bench.sh).
set -eu

: "${TOP:=$(cd "$(dirname "$0")/.." && pwd)}"
# shellcheck source=common.sh
. "$TOP/rig/common.sh"

[ $# -eq 5 ] || die "usage: rig/boot-qemu.sh VMLINUZ INITRD LOG TIMEOUT STALL"

APPEND="console=ttyS0,115200 panic=-1 loglevel=5 ${RIG_APPEND:-}"

# The guest powers off when done; -no-reboot turns a panic into an exit.
# shellcheck disable=SC2086 # RIG_QEMU_ARGS is a list of words
qemu-system-x86_64 -accel tcg -machine q35 -cpu max -smp 1 -m 2G \
	-nographic -no-reboot -kernel "$1" -initrd "$2" -append "$APPEND" \
	${RIG_QEMU_ARGS:-} </dev/null >"$3" 2>&1 &
watch_pid $! "$3" "$4" "$5"
