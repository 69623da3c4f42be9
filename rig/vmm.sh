#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# rig/vmm.sh [options] KVER: the real-VMM test (docs/rig.md).  Boots Debian
# kernel KVER under QEMU TCG (SVM; --vmx: Bochs, VMX), with the host's
# qemu-system-x86_64 and the L1 payload of selftests/l1 in the initramfs; in
# the guest, that QEMU runs the payload with -accel kvm and migrates it
# while L2 runs (file, precopy, postcopy; smi: precopy with SMIs from L2),
# first on the stock modules, then on ours in eager and legacy mode, then
# across module sets (stock <-> ours).  Prints a table and "N passed, N
# failed".
#
#   --vmx              kvm-intel under Bochs (default: kvm-amd under QEMU
#                      TCG); default scenarios "file mixed"
#   --scenarios "A B"  of file precopy postcopy mixed smi (default: all;
#                      mixed needs file)
#   --append "ARGS"    payload command line (default in rig/vmm-test.sh)
#   --ours-dir DIR     our modules (default build/kvm/KVER)
#   --repeat N         boot N times (one report each), then the statistics
#                      over the N runs (rig/vmm-stats.awk); one verdict line
#   --stuck-after S    a cell running S seconds prints its QEMUs' kernel
#                      stacks (default: 120 s before the host's stall limit)
# See docs/rig.md.
set -eu

: "${TOP:=$(cd "$(dirname "$0")/.." && pwd)}"
# shellcheck source=common.sh
. "$TOP/rig/common.sh"

SCENARIOS=
APPEND=
OURS_DIR=
REPEAT=1
STUCK=
VMX=0
while [ $# -gt 0 ]; do
	case $1 in
	--vmx) VMX=1 ;;
	--scenarios) SCENARIOS=$2 && shift ;;
	--append) APPEND=$2 && shift ;;
	--ours-dir) OURS_DIR=$2 && shift ;;
	--repeat) REPEAT=$2 && shift ;;
	--stuck-after) STUCK=$2 && shift ;;
	*) rig_opt "$1" See || break ;;
	esac
	shift
done
rig_kver See "$@"
case $REPEAT in '' | *[!0-9]* | 0) die "--repeat takes a positive number" ;; esac
: "${OURS_DIR:=$BUILD/kvm/$KVER}"
LOGDIR=$RIGB/logs
if [ "$VMX" = 1 ]; then
	VENDOR=intel
	NAME=$KVER-vmm-vmx
	EMU="Bochs, VMX"
	# Bochs runs the guest ~100x slower than TCG runs the SVM rig:
	# precopy and postcopy take too long there (docs/rig.md).
	: "${SCENARIOS:=file mixed}"
	# An iteration of L2 takes ~10x longer: fewer spins, progress
	# lines more often.  tick: L2 exits to L0 now and then, else no
	# stop lands in L2 (the rig kernel's interrupts wait while L2
	# runs: selftests/l1/l1.c).
	: "${APPEND:=iters=0 every=10 spin=1000000 tick=50000}"
	STALL=1200
else
	VENDOR=amd
	NAME=$KVER-vmm
	EMU="QEMU TCG, SVM"
	STALL=600
fi
RUN=$RIGB/run/$NAME

check_tools()
{
	ct_need="cpio gzip file modinfo xz ldd make gcc objcopy qemu-system-x86_64"
	[ "$VMX" = 0 ] || ct_need="$ct_need bochs xorriso"
	for ct_t in $ct_need; do
		command -v "$ct_t" >/dev/null ||
			die "$ct_t not found: run rig/deps.sh (as root)"
	done
	for ct_s in $SCENARIOS; do
		case $ct_s in
		file | precopy | postcopy | mixed | smi) ;;
		*) die "unknown scenario $ct_s (file, precopy, postcopy, mixed, smi)" ;;
		esac
	done
	case " $SCENARIOS " in
	*" mixed "*)
		case " $SCENARIOS " in
		*" file "*) ;;
		*) die "scenario mixed restores the states of scenario file: add file" ;;
		esac
		;;
	esac
}

payload()
{
	make -s -C "$TOP/selftests/l1" OUT="$RIGB/l1" >&2
	echo "$RIGB/l1/l1.elf"
}

initramfs()
{
	mkdir -p "$RUN"
	: >"$RUN/tests"
	RIG_VMM_PAYLOAD=$(payload) RIG_VMM_SCENARIOS=$SCENARIOS \
		RIG_VMM_APPEND=$APPEND RIG_VMM_STUCK=${STUCK:-$((STALL - 120))} \
		"$RIG/initramfs.sh" "$KVER" "$VENDOR" "stock ours" "$RUN/tests" /dev/null \
		"$OURS_DIR" "$RUN/initramfs.gz"
}

# boot_once: one boot of the whole test; adds its counts to npass, nfail
# and its log to LOGS.
boot_once()
{
	bo_log=$LOGDIR/$NAME-$(date +%Y%m%d-%H%M%S).log
	say "booting $KVER ($EMU) with QEMU/KVM inside; serial log $bo_log"
	bo_t0=$(now)
	# Generous: about 16 cells of 20-60 s each (Bochs: 7 cells of a few
	# minutes); a hung guest goes quiet sooner.
	if [ "$VMX" = 1 ]; then
		"$RIG/boot-bochs.sh" "$VMLINUZ" "$RUN/initramfs.gz" "$bo_log" \
			10800 "$STALL" "$RUN"
	else
		"$RIG/boot-qemu.sh" "$VMLINUZ" "$RUN/initramfs.gz" "$bo_log" 3600 "$STALL"
	fi
	bo_t1=$(now)
	ln -sf "$(basename "$bo_log")" "$LOGDIR/$NAME.log"
	rig_awk vmm-report.awk \
		-v title="== $KVER real VMM (QEMU/KVM in $EMU; $((bo_t1 - bo_t0))s; log $bo_log)" \
		-v hostnote="$(cat "$bo_log.host" 2>/dev/null)" "$bo_log" >"$bo_log.report" || true
	cat "$bo_log.report"
	bo_v=$(tail -n 1 "$bo_log.report")
	case $bo_v in
	*" passed, "*" failed")
		npass=$((npass + ${bo_v%% *}))
		bo_f=${bo_v#*, }
		nfail=$((nfail + ${bo_f%% *}))
		;;
	*) nfail=$((nfail + 1)) ;;
	esac
	LOGS="$LOGS $bo_log"
}

check_tools
VMLINUZ=$(rig_vmlinuz "$KVER")
initramfs
mkdir -p "$LOGDIR"
npass=0
nfail=0
LOGS=
n=0
while [ "$n" -lt "$REPEAT" ]; do
	n=$((n + 1))
	boot_once
	# Two boots must not share a log name (one-second resolution).
	[ "$n" -eq "$REPEAT" ] || sleep 1
done
if [ "$REPEAT" -gt 1 ]; then
	echo
	# shellcheck disable=SC2086 # LOGS is a list of paths without spaces
	rig_awk vmm-stats.awk -v title="== $KVER real VMM ($EMU): $REPEAT runs" $LOGS |
		tee "$LOGDIR/$NAME-stats-$(date +%Y%m%d-%H%M%S).txt"
	echo "$npass passed, $nfail failed"
fi
[ "$nfail" -eq 0 ]
