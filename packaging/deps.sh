#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Install the Debian packages that make deb, make rpm, make pkgtest and
# make status-test need.  Needs root; prints the command when not root.
set -eu

PKGS="debhelper dh-dkms lintian rpm rpmlint debootstrap shellcheck python3"

missing=
for p in $PKGS; do
	dpkg-query -W -f '${Status}\n' "$p" 2>/dev/null |
		grep -q 'install ok installed' || missing="$missing $p"
done
[ -n "$missing" ] || exit 0
if [ "$(id -u)" -ne 0 ]; then
	echo "kvm-nested: missing packages:$missing" >&2
	echo "kvm-nested: run as root: apt-get install$missing" >&2
	exit 1
fi
apt-get update -q >/dev/null
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
	$missing
