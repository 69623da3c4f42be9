#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# rig/selfcheck.sh [--vmx] KVER [NNNN...]: the rig self-check.  For each mutant in
# rig/mutants/<series>/, build our modules with that mutant on top
# of patches/<series>/ (in a separate build tree, build/rig/selfcheck/, so
# build/kvm/ is left alone), run vmtest with them, and check that the run
# fails the way rig/mutants/expectations says.  A mutant whose expectation
# names the other rig (rig=svm or rig=vmx) is skipped; tests=a,b runs only
# those tests.  NNNN... limits the run to those mutants.
set -eu

: "${TOP:=$(cd "$(dirname "$0")/.." && pwd)}"
# shellcheck source=common.sh
. "$TOP/rig/common.sh"

VMX=
RIGNAME=svm
if [ "${1:-}" = --vmx ]; then
	VMX=--vmx
	RIGNAME=vmx
	shift
fi
KVER=${1:?usage: rig/selfcheck.sh [--vmx] KVER [NNNN...]}
shift
ONLY=$*
SERIES=$(series_of "$KVER") || die "unsupported KVER=$KVER"
PDIR=$RIG/mutants/$SERIES
[ -d "$PDIR" ] || die "no mutants for $SERIES in rig/mutants/"

# A build tree sharing the caches of $BUILD but with its own kvm/.
build_tree()
{
	mkdir -p "$1"
	for bt_d in cache kernels src-deb prep; do
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

# check PATCH: 0 when vmtest with PATCH applied fails as expected.
check()
{
	ck_name=$(basename "$1" .patch)
	ck_num=${ck_name%%-*}
	ck_re=$(awk -v n="$ck_num" '$1 == n { sub(/^[^\t ]+[\t ]+/, ""); print; exit }' \
		"$RIG/mutants/expectations")
	[ -n "$ck_re" ] || die "no expectation for $ck_name in mutants/expectations"
	ck_tests=
	while :; do
		case $ck_re in
		rig=*)
			ck_rig=${ck_re%%[ 	]*}
			ck_re=${ck_re#"$ck_rig"}
			ck_re=${ck_re#"${ck_re%%[! 	]*}"}
			[ "${ck_rig#rig=}" = "$RIGNAME" ] || {
				echo "RIG-SELFCHECK $ck_name skipped (for the ${ck_rig#rig=} rig)"
				return 2
			}
			;;
		tests=*)
			ck_tests=${ck_re%%[ 	]*}
			ck_re=${ck_re#"$ck_tests"}
			ck_re=${ck_re#"${ck_re%%[! 	]*}"}
			ck_tests=$(echo "${ck_tests#tests=}" | tr , ' ')
			;;
		*) break ;;
		esac
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
	say "selfcheck $ck_name: vmtest, expecting failure and /$ck_re/"
	ck_rc=0
	# shellcheck disable=SC2086 # VMX is empty or one word
	"$RIG/vmtest.sh" $VMX ${ck_tests:+--tests "$ck_tests"} \
		--ours-dir "$ck_w/build/kvm/$KVER" "$KVER" \
		>"$ck_w/vmtest.out" 2>&1 || ck_rc=$?
	sed -n '/^== /,$p' "$ck_w/vmtest.out"
	if [ "$ck_rc" -eq 0 ]; then
		echo "RIG-SELFCHECK $ck_name FAIL (vmtest passed)"
		return 1
	fi
	if ! grep -E -q "$ck_re" "$ck_w/vmtest.out"; then
		echo "RIG-SELFCHECK $ck_name FAIL (vmtest failed, but no line matches /$ck_re/)"
		return 1
	fi
	echo "RIG-SELFCHECK $ck_name ok: vmtest failed with: $(grep -E -m1 "$ck_re" "$ck_w/vmtest.out")"
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
echo "$npass passed, $nfail failed"
[ "$nfail" -eq 0 ]
