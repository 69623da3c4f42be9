#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# rig/bench-build.sh KVER: the host build cost part of `make bench`.  Times
# scripts/prepare (cold: no prepared-tree cache), scripts/build (prepared)
# and scripts/prepare again (cached) for our patch series and for the same
# sources without patches (an empty series, built the same way), each in a
# scratch OUT under build/bench/ so that build/kvm and build/prep are not
# touched.  The Debian packages come from build/cache and the source .deb
# is already extracted (build/src-deb/, by `make module`): "cold" means no
# prepared tree, not no download.
# Prints "BENCH-BUILD step=... tree=patched|pristine secs=..." lines (see
# rig/bench.awk), or BENCH-BUILD-ERROR.
set -eu

: "${TOP:=$(cd "$(dirname "$0")/.." && pwd)}"
# shellcheck source=common.sh
. "$TOP/rig/common.sh"

KVER=${1:?usage: rig/bench-build.sh KVER}
SCRATCH=$BUILD/bench/build-$KVER
EMPTY=$SCRATCH/empty-series

secs()
{
	date +%s.%N
}

# timed STEP TREE COMMAND...: run COMMAND, print its wall time.
timed()
{
	td_step=$1
	td_tree=$2
	shift 2
	td_t0=$(secs)
	if ! "$@" >>"$SCRATCH/$td_tree.log" 2>&1; then
		echo "BENCH-BUILD-ERROR step=$td_step tree=$td_tree: see $SCRATCH/$td_tree.log"
		return 1
	fi
	awk -v a="$td_t0" -v b="$(secs)" -v s="$td_step" -v t="$td_tree" \
		'BEGIN { printf "BENCH-BUILD step=%s tree=%s secs=%.1f\n", s, t, b - a }'
}

rm -rf "$SCRATCH"
mkdir -p "$EMPTY"
: >"$EMPTY/series"
# Twice, alternating, so that a load change on the host hits both trees.
for rep in 1 2; do
	for tree in pristine patched; do
		pd=
		[ "$tree" = pristine ] && pd=$EMPTY
		out=$SCRATCH/$tree
		rm -rf "$out"
		mkdir -p "$out"
		timed prepare.cold "$tree" env OUT="$out" PATCHDIR="$pd" \
			"$TOP/scripts/prepare" "$KVER" || exit 1
		timed build "$tree" env OUT="$out" PATCHDIR="$pd" \
			"$TOP/scripts/build" "$KVER" || exit 1
		timed prepare.cached "$tree" env OUT="$out" PATCHDIR="$pd" \
			"$TOP/scripts/prepare" "$KVER" || exit 1
		rm -rf "$out/kvm"
		timed prepare.cached-tree "$tree" env OUT="$out" PATCHDIR="$pd" \
			"$TOP/scripts/prepare" "$KVER" || exit 1
	done
	echo "BENCH-BUILD-REP $rep"
done
rm -rf "$SCRATCH/pristine" "$SCRATCH/patched"
