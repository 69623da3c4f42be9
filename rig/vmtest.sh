#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# rig/vmtest.sh [options] KVER: run KVM selftests in a guest of Debian kernel
# KVER, first with its stock KVM modules, then with ours in both modes of
# kvm.defer_nested_state_pages; print a table and "N passed, N failed".
#
#   --vmx            kvm-intel under Bochs (default: kvm-amd under QEMU TCG)
#   --full           every x86_64 selftest that builds (not the short list)
#   --list FILE      test list (default rig/tests-svm.list / tests-vmx.list)
#   --tests "A B"    only these tests (flags still come from the lists)
#   --ours 0|1       run the ours phase (default 1)
#   --stock 0|1      run the stock phase (default 1)
#   --ours-dir DIR   our modules (default build/kvm/KVER)
#   --timeout SECS   default per-test timeout, guest seconds (default 120;
#                    times 4 on the debug kernel, RIG_DEBUG_SLOWDOWN)
#   --retries N      rerun a failed test up to N times (default 1); a pass
#                    on a rerun counts, and is reported as flaky
# See docs/rig.md.
set -eu

: "${TOP:=$(cd "$(dirname "$0")/.." && pwd)}"
# shellcheck source=common.sh
. "$TOP/rig/common.sh"

VMX=0
FULL=0
LIST=
ONLY=
OURS=1
STOCK=1
OURS_DIR=
DEFTMO=120
RETRIES=${RETRIES:-1}
while [ $# -gt 0 ]; do
	case $1 in
	--vmx) VMX=1 ;;
	--full) FULL=1 ;;
	--list) LIST=$2 && shift ;;
	--tests) ONLY=$2 && shift ;;
	--ours) OURS=$2 && shift ;;
	--stock) STOCK=$2 && shift ;;
	--ours-dir) OURS_DIR=$2 && shift ;;
	--timeout) DEFTMO=$2 && shift ;;
	--retries) RETRIES=$2 && shift ;;
	*) rig_opt "$1" See || break ;;
	esac
	shift
done
rig_kver See "$@"
: "${OURS_DIR:=$BUILD/kvm/$KVER}"
if [ "$VMX" = 1 ]; then
	VENDOR=intel
	ARCH=vmx
else
	VENDOR=amd
	ARCH=svm
fi
: "${LIST:=$RIG/tests-$ARCH.list}"
RUN=$RIGB/run/$KVER-$ARCH
[ "$FULL" = 1 ] && RUN=$RUN-full
LOGDIR=$RIGB/logs

check_tools()
{
	ct_need="cpio gzip strip file modinfo xz"
	if [ "$VMX" = 1 ]; then
		ct_need="$ct_need bochs xorriso"
	else
		ct_need="$ct_need qemu-system-x86_64"
	fi
	for ct_t in $ct_need; do
		command -v "$ct_t" >/dev/null ||
			die "$ct_t not found: run sh scripts/deps.sh rig (as root)"
	done
}

# parse_list FILE...: "name timeout ours known emu" for this series; the first
# file that names a test gives its flags.
parse_list()
{
	awk -v series="$SERIES" -v deftmo="$DEFTMO" '
	function inlist(l, s,    n, a, i) {
		n = split(l, a, ",")
		for (i = 1; i <= n; i++)
			if (a[i] == s)
				return 1
		return 0
	}
	{ sub(/#.*/, "") }
	NF == 0 || ($1 in seen) { next }
	{
		seen[$1] = 1
		tmo = deftmo; ours = 0; known = 0; emu = 0; ok = 1; sbug = 0
		for (i = 2; i <= NF; i++) {
			f = $i
			if (f ~ /^timeout=[0-9]+$/) tmo = substr(f, 9)
			else if (f == "ours-only") ours = 1
			else if (f == "known-fail") known = 1
			else if (f ~ /^known-fail=/) known = inlist(substr(f, 12), series)
			else if (f == "emu-limit") emu = 1
			else if (f == "stock-bug") sbug = 1
			else if (f ~ /^series=/) ok = inlist(substr(f, 8), series)
			else {
				printf "%s:%d: unknown flag %s\n", FILENAME, FNR, f > "/dev/stderr"
				bad = 1
			}
		}
		if (ok)
			print $1, tmo, ours, known, emu, sbug
	}
	END { exit bad }' "$@"
}

# The tests of the plan that did not build (e.g. our selftests against a
# source whose library moved on: rig/selftests.sh leaves ours.failed).
# They stay in the plan: the guest reports them MISSING (rig/init.sh) and
# the report counts that as failed in every mode.
unbuilt()
{
	awk 'NR == FNR { have[$1] = 1; next } !($1 in have) { print $1 }' \
		"$INDEX" "$RUN/plan"
}

# The plan of this run (see report.awk) into $RUN/plan.
make_plan()
{
	mkdir -p "$RUN"
	if [ "$FULL" = 1 ]; then
		parse_list "$LIST" "$RIG/tests-full.list" >"$RUN/flags"
		awk '{ print $1 }' "$INDEX" |
			grep -v -x -F -f "$RIG/tests-full.exclude" |
			awk -v deftmo="$DEFTMO" 'NR == FNR { f[$1] = $0; next }
				{ print ($1 in f) ? f[$1] : $1 " " deftmo " 0 0 0" }' \
				"$RUN/flags" - >"$RUN/plan"
	else
		parse_list "$LIST" >"$RUN/plan"
	fi
	if [ -n "$ONLY" ]; then
		parse_list "$LIST" "$RIG/tests-full.list" >"$RUN/flags"
		for mp_t in $ONLY; do
			awk -v t="$mp_t" -v deftmo="$DEFTMO" '$1 == t { print; f = 1 }
				END { if (!f) print t, deftmo, 0, 0, 0 }' "$RUN/flags"
		done >"$RUN/plan"
	fi
	[ -s "$RUN/plan" ] || die "no tests to run"
	mp_gone=$(unbuilt | paste -s -d' ' -)
	[ -z "$mp_gone" ] ||
		say "not built against $SRCVER, counted as failed (build logs: $STDIR): $mp_gone"
	# What the guest runs: everything but emulator limitations, with its
	# timeout and retries (none for known baseline failures).
	awk -v r="$RETRIES" -v slow="$SLOW" '$5 == 0 { print $1, $2 * slow, ($4 ? 0 : r) }' \
		"$RUN/plan" >"$RUN/tests"
}

phases()
{
	ph=
	[ "$STOCK" = 1 ] && ph=stock
	[ "$OURS" = 1 ] && ph="${ph:+$ph }ours"
	[ -n "$ph" ] || die "nothing to run: OURS=0 and STOCK=0"
	echo "$ph"
}

modes()
{
	mo=
	case " $PHASES " in *" stock "*) mo=stock ;; esac
	case " $PHASES " in *" ours "*) mo="${mo:+$mo }eager legacy" ;; esac
	echo "$mo"
}

# Host-side limits, in host seconds: "TOTAL STALL".  TOTAL: every test
# running into its timeout; STALL: no console output for longer than the
# longest test timeout (only a hung guest kernel gets there).  Bochs runs a
# guest second in 2-4 host seconds (up to 14 on a loaded host), and needs
# ~60 s to reach /init.  The debug kernel boots SLOW times slower too.
host_limits()
{
	awk -v n="$(echo "$MODES" | wc -w)" -v bochs="$VMX" -v slow="$SLOW" '
		{ s += $2; if ($2 > m) m = $2 }
		END {
			if (bochs)
				print 300 * slow + 4 * (s + 30) * n, 300 * slow + 4 * m
			else
				print 120 * slow + (s + 30) * n, 60 * slow + m
		}' "$RUN/tests"
}

check_tools
# The debug kernel (make debug-kernel) runs KVM several times slower under
# the emulator (KASAN, lockdep): its timeouts are RIG_DEBUG_SLOWDOWN (4)
# times longer.
SLOW=1
if rig_debug_kernel "$KVER" >/dev/null; then
	SLOW=${RIG_DEBUG_SLOWDOWN:-4}
fi
VMLINUZ=$(rig_vmlinuz "$KVER")
SRCVER=$(rig_srcver "$KVER")
STDIR=$("$RIG/selftests.sh" "$SRCVER")
INDEX=$STDIR/index
PHASES=$(phases)
MODES=$(modes)
if [ "$OURS" = 1 ] && [ -z "$(series_patches "$TOP/patches/$SERIES")" ]; then
	say "series $SERIES has no patches yet: ours is KVM built from the unpatched source, run twice (eager and legacy) without kvm.defer_nested_state_pages"
	export RIG_NOPARAM=1
fi
make_plan
say "$KVER ($ARCH): $(wc -l <"$RUN/tests") tests, phases: $PHASES"
"$RIG/initramfs.sh" "$KVER" "$VENDOR" "$PHASES" "$RUN/tests" "$INDEX" \
	"$OURS_DIR" "$RUN/initramfs.gz"

mkdir -p "$LOGDIR"
STAMP=$(date +%Y%m%d-%H%M%S)
NAME=$KVER-$ARCH
[ "$FULL" = 1 ] && NAME=$NAME-full
LOG=$LOGDIR/$NAME-$STAMP.log
LIMITS=$(host_limits)
HOST_TMO=${LIMITS% *}
STALL=${LIMITS#* }
EMU="QEMU TCG -cpu max"
[ "$VMX" = 1 ] && EMU="Bochs 2.7"
say "booting $KVER under $EMU (limits: ${HOST_TMO}s, ${STALL}s without output); serial log $LOG"
t0=$(now)
if [ "$VMX" = 1 ]; then
	"$RIG/boot-bochs.sh" "$VMLINUZ" "$RUN/initramfs.gz" "$LOG" "$HOST_TMO" "$STALL" "$RUN"
else
	"$RIG/boot-qemu.sh" "$VMLINUZ" "$RUN/initramfs.gz" "$LOG" "$HOST_TMO" "$STALL"
fi
t1=$(now)
ln -sf "$(basename "$LOG")" "$LOGDIR/$NAME.log"

TITLE="== $KVER ($ARCH, $EMU; source $SRCVER; $((t1 - t0))s; log $LOG)"
rc=0
rig_awk report.awk -v modes="$MODES" -v title="$TITLE" \
	-v hostnote="$(cat "$LOG.host" 2>/dev/null)" \
	"$RUN/plan" "$LOG" >"$LOG.report" || rc=$?
cat "$LOG.report"
exit "$rc"
