# SPDX-License-Identifier: GPL-2.0
#
# tests/lib-chroot.sh: what tests/pkgtest and tests/fleettest share, sourced
# by both after scripts/lib.sh, with PROG (the name in messages) and LOGS
# set: the base chroot of SUITE (PKGTEST_SUITE: bookworm, the default, or
# trixie; debootstrapped once, cached in build/pkgtest/base or
# build/pkgtest-SUITE/base), apt's archive cache (.../debs), mounts,
# running commands in a chroot and the PASS/FAIL checks.
# shellcheck shell=sh disable=SC2034,SC2154 # variables shared with the callers

SUITE=${PKGTEST_SUITE:-bookworm}
PKGTEST_W=$BUILD/pkgtest
[ "$SUITE" = bookworm ] || PKGTEST_W=$BUILD/pkgtest-$SUITE
BASE=$PKGTEST_W/base
DEBS=$PKGTEST_W/debs
MIRROR=${PKGTEST_MIRROR:-http://deb.debian.org/debian}
SECURITY=${PKGTEST_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
BASE_PKGS="dkms openssl make xz-utils patch dpkg-dev kmod"
RECIPE="$SUITE minbase $MIRROR $SECURITY; $BASE_PKGS; initramfs-dummy 1"

passed=0
failed=0
T0=$(date +%s)

say()
{
	printf '%s: [%4ss] %s\n' "$PROG" "$(($(date +%s) - T0))" "$*"
}

die()
{
	printf '%s: error: %s\n' "$PROG" "$*" >&2
	exit 1
}

pass()
{
	echo "PASS: $1"
	passed=$((passed + 1))
}

# fail NAME [DETAILS]
fail()
{
	echo "FAIL: $1"
	[ -z "${2:-}" ] || printf '%s\n' "$2" | tail -n 40 | sed 's/^/    /'
	failed=$((failed + 1))
}

# ---- mounts ---------------------------------------------------------------

# Mount points at or below $1, deepest first.
mounts_below()
{
	awk -v r="$1" '$2 == r || index($2, r "/") == 1 { print $2 }' \
		/proc/mounts | sort -r
}

# Unmount everything at or below $1; fails if something stays mounted.
unmount_below()
{
	for um_m in $(mounts_below "$1"); do
		umount "$um_m" 2>/dev/null || umount -l "$um_m" 2>/dev/null || true
	done
	[ -z "$(mounts_below "$1")" ]
}

# Remove directory $1, never across a mount point.
remove_tree()
{
	[ -e "$1" ] || return 0
	unmount_below "$1" ||
		die "cannot unmount everything below $1; not removing it"
	rm -rf "$1"
}

# mount_api DIR: proc, sysfs and /dev in a chroot.
mount_api()
{
	mount -t proc proc "$1/proc"
	mount -t sysfs -o ro sysfs "$1/sys"
	mount --bind /dev "$1/dev"
	cp /etc/resolv.conf "$1/etc/resolv.conf"
}

# ---- running things in the chroot -----------------------------------------

# in_chroot DIR COMMAND: run a shell command in chroot DIR, clean env
# (but JOBS, which dkms-build reads: make's parallel jobs).
in_chroot()
{
	chroot "$1" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
		HOME=/root LC_ALL=C.UTF-8 DEBIAN_FRONTEND=noninteractive \
		TERM=dumb ${JOBS:+JOBS=$JOBS} /bin/sh -c "$2"
}

# expect NAME PATTERN...: each extended regexp matches OUT.
expect()
{
	ex_name=$1
	shift
	for ex_p in "$@"; do
		if ! printf '%s\n' "$OUT" | grep -q -E -- "$ex_p"; then
			fail "$ex_name" "no /$ex_p/ in:
$OUT"
			return
		fi
	done
	pass "$ex_name"
}

# expect_rc NAME WANT: the last step exited WANT.
expect_rc()
{
	if [ "$RC" = "$2" ]; then
		pass "$1"
	else
		fail "$1" "exit status $RC, expected $2; log $st_log:
$OUT"
	fi
}

# is NAME GOT WANT
is()
{
	if [ "$2" = "$3" ]; then
		pass "$1"
	else
		fail "$1" "got:      $2
expected: $3"
	fi
}

# re STRING: STRING as an extended regexp matching itself.
re()
{
	printf '%s' "$1" | sed 's/[][\.*^$+?(){}|/]/\\&/g'
}

# ---- the base chroot ------------------------------------------------------

make_base()
{
	if [ -e "$BASE/.complete" ] && [ -z "${PKGTEST_REBUILD_BASE:-}" ] &&
		[ "$(cat "$BASE/.recipe" 2>/dev/null)" = "$RECIPE" ]; then
		say "base chroot: $BASE (cached)"
		return
	fi
	say "base chroot: debootstrap $SUITE into $BASE (once)"
	remove_tree "$BASE.tmp"
	remove_tree "$BASE"
	debootstrap --variant=minbase "$SUITE" "$BASE.tmp" "$MIRROR" \
		>"$LOGS/debootstrap.log" 2>&1 ||
		die "debootstrap failed; log: $LOGS/debootstrap.log"
	sources_list >"$BASE.tmp/etc/apt/sources.list"
	mk_dummy "$BASE.tmp/tmp"
	mount_api "$BASE.tmp"
	in_chroot "$BASE.tmp" "apt-get update -q &&
		apt-get install -y -q --no-install-recommends $BASE_PKGS &&
		dpkg -i /tmp/pkgtest-initramfs-dummy_1_all.deb &&
		rm -f /tmp/*.deb && apt-get clean" >"$LOGS/base.log" 2>&1 ||
		die "setting up the base chroot failed; log: $LOGS/base.log"
	unmount_below "$BASE.tmp" || die "cannot unmount $BASE.tmp"
	echo "$RECIPE" >"$BASE.tmp/.recipe"
	: >"$BASE.tmp/.complete"
	mv "$BASE.tmp" "$BASE"
}

# The suites of every series (patches/*/series.conf) of the chroot's
# release, security ones from the security mirror.
sources_list()
{
	for sl_s in $(series_list); do
		series_conf "$sl_s" SUITES | tr ' ' '\n'
	done | awk -v r="$SUITE" '($0 == r || index($0, r "-") == 1) && !seen[$0]++' |
		while read -r sl_suite; do
		case $sl_suite in
		*-security) echo "deb $SECURITY $sl_suite main" ;;
		*) echo "deb $MIRROR $sl_suite main" ;;
		esac
	done
}

# A package providing linux-initramfs-tool, so kernel images install
# without initramfs-tools (nothing boots from this chroot).
mk_dummy()
{
	md_d=$PKGTEST_W/dummy/pkgtest-initramfs-dummy
	rm -rf "$PKGTEST_W/dummy"
	mkdir -p "$md_d/DEBIAN"
	cat >"$md_d/DEBIAN/control" <<EOF
Package: pkgtest-initramfs-dummy
Version: 1
Architecture: all
Maintainer: kvm-nested developers <kvm-nested@lists.invalid>
Provides: linux-initramfs-tool
Description: stands in for initramfs-tools in kvm-nested's package test
EOF
	dpkg-deb --root-owner-group -b "$md_d" "$1/pkgtest-initramfs-dummy_1_all.deb" \
		>/dev/null
}

# Seed apt's archive cache with what scripts/prepare already downloaded.
seed_debs()
{
	for sd_f in "$BUILD"/cache/*.deb; do
		[ -e "$sd_f" ] || continue
		[ -e "$DEBS/${sd_f##*/}" ] ||
			ln "$sd_f" "$DEBS/" 2>/dev/null || cp "$sd_f" "$DEBS/"
	done
	mkdir -p "$DEBS/partial"
}
