#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Install the Debian packages kvm-nested's build and checks need, then the
# test rig's (rig/deps.sh) and the packaging's (packaging/deps.sh).  Refreshes apt's lists too: newest_kver and the
# source lookup read them.  Needs root; prints the command when not root.
set -eu

TOP=$(cd "$(dirname "$0")/.." && pwd)

# The kernel headers pin gcc-12; pahole (dwarves) for abi-check.
PKGS="make gcc-12 libelf1 bc kmod xz-utils patch dpkg-dev dwarves perl shellcheck
ccache"

missing=
for p in $PKGS; do
	dpkg-query -W -f '${Status}\n' "$p" 2>/dev/null |
		grep -q 'install ok installed' || missing="$missing $p"
done
if [ "$(id -u)" -ne 0 ]; then
	[ -z "$missing" ] && exit 0
	echo "kvm-nested: missing packages:$missing" >&2
	echo "kvm-nested: run as root: apt-get install$missing" >&2
	exit 1
fi
apt-get update -q >/dev/null
if [ -n "$missing" ]; then
	# shellcheck disable=SC2086
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
		--no-install-recommends $missing
fi
sh "$TOP/rig/deps.sh" all
sh "$TOP/packaging/deps.sh"
