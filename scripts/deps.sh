#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# sh scripts/deps.sh [ROLE...]: install the Debian 12 packages a role needs
# (--no-install-recommends), and refresh the host's apt lists.  The kernels
# and sources come from kvm-nested's own apt state under build/apt (kn_apt in
# scripts/lib.sh), made on first use.  Needs root; prints the command when
# not root.
#
#   build   make, make module/matrix/bisect-check/abi-check (the default)
#   rig     make vmtest, vmtest-vmx, bench, fuzz: QEMU, Bochs, initramfs
#   pkg     make deb, rpm, pkgtest, status-test, lint, repo, fleettest
#           (ansible for community.general's chroot connection; prometheus
#           for promtool only: its service is not started, see below)
#   debug   make debug-kernel: what a full kernel build needs beyond build
#   all     all of them: what make check needs
set -eu

# Debian 12's kernel headers pin gcc-12; pahole (dwarves) for abi-check.
# Kernels built with a compiler Debian 12 lacks (gcc-14 of Debian 13 and
# trixie-backports, unstable's) are built in a chroot of the suite that has
# it (scripts/toolchain: debootstrap, once); zstd for modules so compressed.
BUILD="make gcc-12 libelf1 bc kmod xz-utils zstd patch dpkg-dev dwarves perl
ccache debootstrap debian-archive-keyring"
# QEMU + initramfs + static selftest build (rsync: 6.12's make
# headers_install); Bochs (VMX with EPT) booting
# an isolinux ISO.
RIG="qemu-system-x86 busybox-static cpio xz-utils kmod make gcc libc6-dev
binutils file rsync bochs bochsbios vgabios syslinux syslinux-common isolinux xorriso"
PKG="debhelper dh-dkms lintian rpm rpmlint debootstrap shellcheck python3
gnupg reprepro ansible ansible-core ansible-lint prometheus"
# A whole kernel (rig/debug-kernel.sh): kconfig's parsers, objtool.
DEBUG="flex bison libelf-dev"

pkgs=
for role in "${@:-build}"; do
	case $role in
	build) pkgs="$pkgs $BUILD" ;;
	rig) pkgs="$pkgs $RIG" ;;
	pkg) pkgs="$pkgs $PKG" ;;
	debug) pkgs="$pkgs $BUILD $RIG $DEBUG" ;;
	all) pkgs="$pkgs $BUILD $RIG $PKG" ;;
	*)
		echo "usage: sh scripts/deps.sh [build|rig|pkg|debug|all]..." >&2
		exit 2
		;;
	esac
done

missing=
for p in $(echo "$pkgs" | tr ' ' '\n' | sort -u); do
	dpkg-query -W -f '${Status}\n' "$p" 2>/dev/null |
		grep -q '^install ok installed$' || missing="$missing $p"
done
if [ "$(id -u)" -ne 0 ]; then
	[ -z "$missing" ] && exit 0
	echo "kvm-nested: missing packages:$missing" >&2
	echo "kvm-nested: run as root: apt-get install --no-install-recommends$missing" >&2
	exit 1
fi
apt-get update -q >/dev/null
[ -n "$missing" ] || exit 0
# No service may start (prometheus is here for promtool): a policy-rc.d
# that denies starts for the duration, unless one is there already.
POLICY=/usr/sbin/policy-rc.d
if [ ! -e "$POLICY" ]; then
	trap 'rm -f "$POLICY"' EXIT
	printf '#!/bin/sh\n# scripts/deps.sh: no service starts\nexit 101\n' >"$POLICY"
	chmod 0755 "$POLICY"
fi
# shellcheck disable=SC2086 # one word per package
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
	$missing
