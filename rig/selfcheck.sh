#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# rig/selfcheck.sh [--vmx] [--vmm] KVER [NNNN...]: the rig self-check.  For
# each mutant in rig/mutants/<series>/ whose line in rig/mutants/expectations
# names the harness asked for (vmtest: make vmtest, or make vmtest-vmx with
# --vmx; vmm: make vmtest-vmm with --vmm, VMX=1 with --vmm --vmx), build
# our modules with that mutant on top of patches/<series>/ (in a separate
# build tree, build/rig/selfcheck/, so build/kvm/ is left alone), run the
# harness with them, and check that the run fails the way the expectation
# says.
# After the harness, an expectation may carry rig=svm|vmx (the other rig
# skips the mutant), kernel=debug (only KVER = a debug kernel, make
# rig-selfcheck DEBUG=1, runs it) and tests=a,b (vmtest runs only those).
# NNNN... limits the run to those mutants.
#   --scenarios "A B"  with --vmm: the scenarios of vmtest-vmm (default: all)
# See docs/rig.md ("Rig self-check: mutants").
set -eu

: "${TOP:=$(cd "$(dirname "$0")/.." && pwd)}"
# shellcheck source=common.sh
. "$TOP/rig/common.sh"

VMX=
RIGNAME=svm
HARNESS=vmtest
SCENARIOS=
while [ $# -gt 0 ]; do
	case $1 in
	--vmx) VMX=--vmx && RIGNAME=vmx ;;
	--vmm) HARNESS=vmm ;;
	--scenarios) SCENARIOS=$2 && shift ;;
	*) rig_opt "$1" See || break ;;
	esac
	shift
done
[ $# -ge 1 ] || rig_usage See
rig_kver See "$1"
shift
ONLY=$*
PDIR=$RIG/mutants/$SERIES
[ -d "$PDIR" ] || die "no mutants for $SERIES in rig/mutants/"

# A build tree sharing the caches (and the compiler chroots of 7.x) of
# $BUILD but with its own kvm/.
build_tree()
{
	mkdir -p "$1"
	for bt_d in cache kernels src-deb prep toolchain; do
		mkdir -p "$BUILD/$bt_d"
		[ -e "$1/$bt_d" ] || ln -s "$BUILD/$bt_d" "$1/$bt_d"
	done
}

# The project's series plus one mutant, into DIR.
patch_dir()
{
	rm -rf "$1"
	mkdir -p "$1"
	cp "$TOP/patches/$SERIES/"* "$1/"
	cp "$2" "$1/"
	basename "$2" >>"$1/series"
}

# expectation NUM: "HARNESS REGEX" of mutant NUM in rig/mutants/expectations.
expectation()
{
	awk -v n="$1" '$1 == n { sub(/^[^\t ]+[\t ]+/, ""); print; exit }' \
		"$RIG/mutants/expectations"
}

# harness OURS_DIR OUT: run the harness with our modules from OURS_DIR,
# its output to OUT; its exit status.
harness()
{
	if [ "$HARNESS" = vmm ]; then
		# shellcheck disable=SC2086 # VMX is empty or one word
		"$RIG/vmm.sh" $VMX ${SCENARIOS:+--scenarios "$SCENARIOS"} \
			--ours-dir "$1" "$KVER" >"$2" 2>&1
	else
		# shellcheck disable=SC2086 # VMX is empty or one word
		"$RIG/vmtest.sh" $VMX ${ck_tests:+--tests "$ck_tests"} \
			--ours-dir "$1" "$KVER" >"$2" 2>&1
	fi
}

# check PATCH: 0 when the harness with PATCH applied fails as expected;
# 2 when PATCH is a mutant of another harness.
check()
{
	ck_name=$(basename "$1" .patch)
	ck_num=${ck_name%%-*}
	ck_exp=$(expectation "$ck_num")
	[ -n "$ck_exp" ] || die "no expectation for $ck_name in mutants/expectations"
	[ "${ck_exp%%[	 ]*}" = "$HARNESS" ] || return 2
	ck_re=$(echo "$ck_exp" | sed 's/^[^\t ]*[\t ]*//')
	ck_tests=
	while :; do
		ck_kv=${ck_re%%[ 	]*}
		case $ck_kv in
		rig=*)
			[ "${ck_kv#rig=}" = "$RIGNAME" ] || {
				echo "RIG-SELFCHECK $ck_name skipped (for the ${ck_kv#rig=} rig)"
				return 2
			}
			;;
		kernel=debug)
			rig_debug_kernel "$KVER" >/dev/null || {
				echo "RIG-SELFCHECK $ck_name skipped (for the debug kernel: DEBUG=1)"
				return 2
			}
			;;
		tests=*) ck_tests=$(echo "${ck_kv#tests=}" | tr , ' ') ;;
		*) break ;;
		esac
		ck_re=${ck_re#"$ck_kv"}
		ck_re=${ck_re#"${ck_re%%[! 	]*}"}
	done
	ck_w=$RIGB/selfcheck/$KVER/$ck_num
	build_tree "$ck_w/build"
	patch_dir "$ck_w/patches" "$1"
	say "selfcheck $ck_name: building ours with it"
	BUILD=$ck_w/build PATCHDIR=$ck_w/patches "$TOP/scripts/build" "$KVER" \
		>"$ck_w/build.log" 2>&1 || {
		cat "$ck_w/build.log" >&2
		echo "RIG-SELFCHECK $ck_name FAIL (does not build)"
		return 1
	}
	say "selfcheck $ck_name: $HARNESS, expecting failure and /$ck_re/"
	ck_out=$ck_w/$HARNESS.out
	ck_rc=0
	harness "$ck_w/build/kvm/$KVER" "$ck_out" || ck_rc=$?
	sed -n '/^== /,$p' "$ck_out"
	if [ "$ck_rc" -eq 0 ]; then
		echo "RIG-SELFCHECK $ck_name FAIL ($HARNESS passed)"
		return 1
	fi
	if ! grep -E -q "$ck_re" "$ck_out"; then
		echo "RIG-SELFCHECK $ck_name FAIL ($HARNESS failed, but no line matches /$ck_re/)"
		return 1
	fi
	echo "RIG-SELFCHECK $ck_name ok: $HARNESS failed with: $(grep -E -m1 "$ck_re" "$ck_out")"
}

npass=0
nfail=0
for p in "$PDIR"/*.patch; do
	n=$(basename "$p")
	n=${n%%-*}
	case " ${ONLY:-$n} " in *" $n "*) ;; *) continue ;; esac
	rc=0
	check "$p" || rc=$?
	case $rc in
	0) npass=$((npass + 1)) ;;
	2) ;;
	*) nfail=$((nfail + 1)) ;;
	esac
done
[ $((npass + nfail)) -gt 0 ] || die "no $HARNESS mutant for $SERIES in rig/mutants/"
echo "$npass passed, $nfail failed"
[ "$nfail" -eq 0 ]
