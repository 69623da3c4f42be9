#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# rig/bench.sh [options] KVER: `make bench` (docs/bench.md).  Boots the SVM
# rig of KVER once under QEMU TCG and runs selftests/bench/nested_bench with
# the stock modules and ours (eager, legacy) in turn, for several rounds;
# then times the host build of the patched and the unpatched sources.
# Prints one table and writes build/bench/KVER.{txt,json}.
#
#   --smoke          one short round, no build timing: checks that the
#                    benchmark works, not what it measures
#   --rounds N       rounds of stock, eager, legacy (default 16, plus a warm-up)
#   --args "..."     nested_bench options (default: -b 10 -s 15: 240 restores per mode)
#   --build 0|1      time the host build too (default 1; 0 with --smoke)
#   --ours-dir DIR   our modules (default build/kvm/KVER)
#   --icount SHIFT   run QEMU with -icount shift=SHIFT,sleep=off: guest time
#                    counts instructions (2^SHIFT ns each), not host time, so
#                    host load does not move it; results go to KVER-icount.*
# Exit status: 0 when every benchmark produced its numbers (a ratio over its
# goal is reported, not failed: timings are not test results).  Only the
# instruction-counted run (--icount, make bench-icount) judges ratios
# against their goals; wall-clock ratios are information.
set -eu

: "${TOP:=$(cd "$(dirname "$0")/.." && pwd)}"
# shellcheck source=common.sh
. "$TOP/rig/common.sh"

SMOKE=0
ROUNDS=16
ARGS="-b 10 -s 15"
TIME_BUILD=1
OURS_DIR=
ICOUNT=
while [ $# -gt 0 ]; do
	case $1 in
	--smoke) SMOKE=1 ;;
	--rounds) ROUNDS=$2 && shift ;;
	--args) ARGS=$2 && shift ;;
	--build) TIME_BUILD=$2 && shift ;;
	--ours-dir) OURS_DIR=$2 && shift ;;
	--icount) ICOUNT=$2 && shift ;;
	*) rig_opt "$1" Exit || break ;;
	esac
	shift
done
rig_kver Exit "$@"
SRCPKG=$(series_conf "$SERIES" SOURCE)
if [ "$SMOKE" = 1 ]; then
	ROUNDS=1
	ARGS="-b 3 -s 5 -i 200,50,20"
	TIME_BUILD=0
fi
: "${OURS_DIR:=$BUILD/kvm/$KVER}"
RUN=$RIGB/run/$KVER-bench
OUTDIR=$BUILD/bench
NAME=$KVER
[ -n "$ICOUNT" ] && NAME=$NAME-icount
[ "$SMOKE" = 1 ] && NAME=$NAME-smoke
EMU="QEMU TCG -cpu max"
[ -n "$ICOUNT" ] && EMU="$EMU -icount shift=$ICOUNT,sleep=off: instruction-counted time"

for t in cpio gzip strip file modinfo xz qemu-system-x86_64; do
	command -v "$t" >/dev/null || die "$t not found: run sh scripts/deps.sh rig (as root)"
done
VMLINUZ=$(rig_vmlinuz "$KVER")
SRCVER=$(rig_srcver "$KVER")
STDIR=$("$RIG/selftests.sh" "$SRCVER")
make -s -C "$TOP/selftests" bench KSRC="$RIGB/src/$SRCVER/$SRCPKG" \
	LIBOUT="$STDIR/upstream" OUT="$STDIR/bench" >"$STDIR/bench.log" 2>&1 || {
	cat "$STDIR/bench.log" >&2
	die "selftests/bench did not build against $SRCVER"
}

# The rig's initramfs without tests, plus a second archive with the
# program and /etc/rig/bench.conf, which puts /init in bench mode (the
# kernel unpacks both).
mkdir -p "$RUN" "$OUTDIR" "$RIGB/logs"
: >"$RUN/tests"
"$RIG/initramfs.sh" "$KVER" amd "stock ours" "$RUN/tests" "$STDIR/index" \
	"$OURS_DIR" "$RUN/rig.gz"
rm -rf "$RUN/extra"
mkdir -p "$RUN/extra/tests" "$RUN/extra/etc/rig"
strip -o "$RUN/extra/tests/nested_bench" "$STDIR/bench/nested_bench"
printf 'ROUNDS=%s\nARGS="%s"\n' "$ROUNDS" "$ARGS" >"$RUN/extra/etc/rig/bench.conf"
(cd "$RUN/extra" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) |
	gzip -1 >"$RUN/extra.gz"
cat "$RUN/rig.gz" "$RUN/extra.gz" >"$RUN/initramfs.gz"

LOG=$RIGB/logs/$NAME-bench-$(date +%Y%m%d-%H%M%S).log
# Host limits: an hour per round (TCG on a loaded host), 20 minutes
# without console output.
say "bench $KVER: $ROUNDS round(s) of stock, eager, legacy (nested_bench $ARGS); serial log $LOG"
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
t0=$(now)
RIG_QEMU_ARGS=${ICOUNT:+-icount shift=$ICOUNT,sleep=off} \
	"$RIG/boot-qemu.sh" "$VMLINUZ" \
	"$RUN/initramfs.gz" "$LOG" $((600 + 3600 * ROUNDS)) 1200
t1=$(now)
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)
ln -sf "$(basename "$LOG")" "$RIGB/logs/$NAME-bench.log"

: >"$RUN/build.lines"
if [ "$TIME_BUILD" = 1 ]; then
	"$RIG/bench-build.sh" "$KVER" >"$RUN/build.lines"
fi

TITLE="== bench $KVER (SVM, $EMU; source $SRCVER; $(date -u '+%Y-%m-%d %H:%M UTC'); $((t1 - t0)) s; $(nproc) host CPUs, load $LOAD0 before, $LOAD1 after; log $LOG)"
rc=0
rig_awk bench.awk -v title="$TITLE" -v json="$OUTDIR/$NAME.json" \
	-v kver="$KVER" -v icount="$ICOUNT" -v hostnote="$(cat "$LOG.host" 2>/dev/null)" \
	"$LOG" "$RUN/build.lines" >"$OUTDIR/$NAME.txt" || rc=$?
cat "$OUTDIR/$NAME.txt"
exit "$rc"
