#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# rig/debug-kernel.sh [--kver|--kdir] KVER: the rig's debug kernel for Debian
# kernel KVER (docs/rig.md, "Debug kernel"): built from the same Debian
# linux-source as KVER, with allnoconfig + rig/debug-kernel.config (lockdep,
# PROVE_RCU, DEBUG_ATOMIC_SLEEP, KASAN, UBSAN, DEBUG_LIST, KFENCE, DEBUG_VM)
# completed by olddefconfig.  Cached under build/debug-kernel/, keyed by the
# source version, the fragment and the compiler: built once per machine.
#
#   (no option)  build it unless cached; print its directory
#   --kver       print its kernel release (e.g. 6.12.118-kvmdebug)
#   --kdir       print its build tree (KDIR= for our modules)
# The last two fail, saying how to build it, when it is not built.
#
# The directory looks like an extracted headers + image pair: boot/vmlinuz-R,
# lib/modules/R/ (the stock modules: the baseline), usr/src/linux-debug (the
# tree, KDIR) and .debian-version (scripts/lib.sh headers_version).  R is
# also a link in build/debug-kernel/ to it, which the rig looks up.
# Environment: JOBS (default 2), BUILD.
set -eu

: "${TOP:=$(cd "$(dirname "$0")/.." && pwd)}"
# shellcheck source=common.sh
. "$TOP/rig/common.sh"

FRAG=$RIG/debug-kernel.config
DBG=$BUILD/debug-kernel

MODE=build
case ${1:-} in
--kver | --kdir)
	MODE=${1#--}
	shift
	;;
-*) rig_usage Environment ;;
esac
[ $# -eq 1 ] || rig_usage Environment
KVER=$1
# KVER's own (Debian) headers tell the source, not a KDIR of the caller.
KDIR=

# Sets SRCVER and SRCPKG from KVER's Debian headers.
source_of()
{
	so_h=$(find_headers "$KVER")
	SRCVER=$(headers_version "$so_h")
	[ -n "$SRCVER" ] || die "cannot tell the Debian source version of $KVER"
	so_s=$(series_of "$SRCVER") || die "$KVER is not of a supported series"
	SRCPKG=$(series_conf "$so_s" SOURCE)
}

# The cache key: source version, fragment, compiler.
key()
{
	{
		echo "$SRCVER"
		cat "$FRAG"
		gcc --version | head -n 1
	} | sha1sum | cut -c1-12
}

# extract DIR: the full linux-source tree into DIR/usr/src/linux-debug.
extract()
{
	ex_deb=$(fetch_deb "$SRCPKG" "$SRCVER") ||
		die "cannot download $SRCPKG=$SRCVER"
	mkdir -p "$1/usr/src"
	say "extracting $SRCPKG $SRCVER"
	dpkg-deb --fsys-tarfile "$ex_deb" |
		tar -xOf - "./usr/src/$SRCPKG.tar.xz" |
		XZ_OPT=-T"$JOBS" tar -xJf - -C "$1/usr/src"
	mv "$1/usr/src/$SRCPKG" "$1/usr/src/linux-debug"
}

# configure TREE: allnoconfig with the fragment, olddefconfig; every value
# the fragment sets must be in the result, unless the tree's Kconfig does
# not know the symbol at all (KVM_SMM and KVM_HYPERV are newer than 6.1).
configure()
{
	cf_log=$1/../../../config.log
	make -s -C "$1" KCONFIG_ALLCONFIG="$FRAG" allnoconfig >"$cf_log" 2>&1 ||
		die "allnoconfig failed, see $cf_log"
	make -s -C "$1" olddefconfig >>"$cf_log" 2>&1 ||
		die "olddefconfig failed, see $cf_log"
	cf_lost=
	grep -E '^CONFIG_[A-Z0-9_]+=' "$FRAG" | grep -v -x -F -f "$1/.config" \
		>"$cf_log.lost" || true
	while read -r cf_l; do
		cf_sym=${cf_l%%=*}
		if grep -r -q -x -E "(menu)?config ${cf_sym#CONFIG_}" --include='Kconfig*' "$1"; then
			cf_lost="$cf_lost $cf_l"
		else
			echo "not in this source: $cf_l" >>"$cf_log"
			say "$cf_sym is not in this source version; left out"
		fi
	done <"$cf_log.lost"
	rm -f "$cf_log.lost"
	[ -z "$cf_lost" ] ||
		die "olddefconfig dropped (a missing dependency?):$cf_lost"
}

# headers_like TREE ROOT: move the tree's own KVM sources to ROOT/stock-kvm,
# so that, as in Debian's headers, the series' copies are the only ones our
# modules can include: define_trace.h includes trace.h by a path relative
# to itself, include/trace/../../arch/x86/kvm/trace.h, which in a full tree
# is the unpatched one.
headers_like()
{
	mkdir -p "$2/stock-kvm/arch/x86" "$2/stock-kvm/virt"
	mv "$1/arch/x86/kvm" "$2/stock-kvm/arch/x86/kvm"
	mv "$1/virt/kvm" "$2/stock-kvm/virt/kvm"
}

# compile TREE ROOT: the kernel and its modules, installed under ROOT.
compile()
{
	say "building the debug kernel ($SRCVER, -j$JOBS, nice): see $2/build.log"
	cp_t0=$(now)
	nice make -C "$1" -j"$JOBS" bzImage modules >"$2/build.log" 2>&1 ||
		die "the debug kernel did not build, see $2/build.log"
	cp_rel=$(cat "$1/include/config/kernel.release")
	make -s -C "$1" INSTALL_MOD_PATH="$2" INSTALL_MOD_STRIP=1 \
		DEPMOD=/sbin/depmod modules_install >>"$2/build.log" 2>&1 ||
		die "modules_install failed, see $2/build.log"
	mkdir -p "$2/boot"
	cp "$1/arch/x86/boot/bzImage" "$2/boot/vmlinuz-$cp_rel"
	headers_like "$1" "$2"
	echo "$(($(now) - cp_t0)) s, -j$JOBS, $(nproc) CPUs" >"$2/build-time"
	echo "$cp_rel" >"$2/release"
}

# Built in place (Kbuild records absolute paths); .complete marks it done.
build()
{
	rm -rf "$DIR"
	mkdir -p "$DIR"
	extract "$DIR"
	configure "$DIR/usr/src/linux-debug"
	compile "$DIR/usr/src/linux-debug" "$DIR"
	echo "$SRCVER" >"$DIR/.debian-version"
	: >"$DIR/.complete"
	ln -sfn "$(basename "$DIR")" "$DBG/$(cat "$DIR/release")"
	say "debug kernel $(cat "$DIR/release") built in $(cat "$DIR/build-time")"
}

source_of
DIR=$DBG/$SRCVER-$(key)
if [ "$MODE" != build ]; then
	[ -e "$DIR/.complete" ] ||
		die "no debug kernel for $KVER (linux-source $SRCVER and this rig/debug-kernel.config): run make debug-kernel KVER=$KVER"
	case $MODE in
	kver) cat "$DIR/release" ;;
	kdir) echo "$DIR/usr/src/linux-debug" ;;
	esac
	exit 0
fi
[ -e "$DIR/.complete" ] || build
echo "$DIR"
