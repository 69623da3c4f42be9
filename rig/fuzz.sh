#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# rig/fuzz.sh [options] KVER: run the nested state fuzzers in the runtime
# rig, stock modules then ours (eager, legacy) in one boot, with the same
# seed, and print a table per mode: iterations, accepted/rejected blobs,
# host splats, kernel taint before/after (docs/fuzz.md).
#
#   --vmx            kvm-intel under Bochs (default: kvm-amd under QEMU TCG)
#   --iters N        KVM_SET_NESTED_STATE iterations (default 1000)
#   --rsm-iters N    RSM iterations (default iters/4)
#   --seed S         seed (default 0x5eed)
#   --timeout SECS   per-mode timeout, guest seconds (default from iters)
#   --ours 0|1       run our modules too (default 1)
# Exit status: non-zero when ours splat, change the taint, fail, run fewer
# iterations than asked or did not run at all, or the log is truncated.
set -eu

: "${TOP:=$(cd "$(dirname "$0")/.." && pwd)}"
# shellcheck source=common.sh
. "$TOP/rig/common.sh"

VMX=0
ITERS=1000
RSM_ITERS=
SEED=0x5eed
TMO=
OURS=1
while [ $# -gt 0 ]; do
	case $1 in
	--vmx) VMX=1 ;;
	--iters) ITERS=$2 && shift ;;
	--rsm-iters) RSM_ITERS=$2 && shift ;;
	--seed) SEED=$2 && shift ;;
	--timeout) TMO=$2 && shift ;;
	--ours) OURS=$2 && shift ;;
	*) rig_opt "$1" Exit || break ;;
	esac
	shift
done
rig_kver Exit "$@"
for fz_v in "$ITERS" "$SEED" "${RSM_ITERS:-0}" "${TMO:-0}"; do
	case $fz_v in
	'' | *[!0-9a-fA-Fx]*) die "not a number: '$fz_v'" ;;
	esac
done
: "${RSM_ITERS:=$((ITERS / 4))}"
if [ "$VMX" = 1 ]; then
	TEST=vmx_nested_state_fuzz
	ARCH=vmx
	# Bochs: ~1-2 iterations per guest second (docs/fuzz.md).
	: "${TMO:=$((300 + (ITERS + RSM_ITERS)))}"
	VFLAG=--vmx
else
	TEST=nested_state_fuzz
	ARCH=svm
	: "${TMO:=$((120 + (ITERS + RSM_ITERS) / 5))}"
	VFLAG=
fi

# rig/initramfs.sh passes FUZZ_* through /etc/rig/conf to the tests.
FUZZ_ITERS=$ITERS
FUZZ_RSM_ITERS=$RSM_ITERS
FUZZ_SEED=$SEED
export FUZZ_ITERS FUZZ_RSM_ITERS FUZZ_SEED

say "fuzz $KVER ($ARCH): $TEST, seed $SEED, $ITERS + $RSM_ITERS RSM iterations, timeout ${TMO}s per mode"
# Its verdicts count a stock splat as a failure; the fuzz table decides.
# shellcheck disable=SC2086 # VFLAG is empty or one word
"$RIG/vmtest.sh" $VFLAG --list /dev/null --tests "$TEST" --timeout "$TMO" --retries 0 \
	--ours "$OURS" "$KVER" || true
LOG=$RIGB/logs/$KVER-$ARCH.log
[ -e "$LOG" ] || die "no serial log $LOG"
LOG=$(readlink -f "$LOG")
rig_awk fuzz-report.awk -v kernel="$KVER" -v vendor="$ARCH" \
	-v test="$TEST" -v seed="$SEED" -v ours="$OURS" -v iters="$ITERS" \
	-v rsm_iters="$RSM_ITERS" \
	"$LOG" >"$LOG.fuzz" || rc=$?
cat "$LOG.fuzz"
say "fuzz table: $LOG.fuzz"
exit "${rc:-0}"

