#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# rig/selftests.sh SRCVER: build the upstream KVM selftests of Debian's
# linux-source SRCVER (e.g. 6.1.192-2) statically, and ours (selftests/)
# against the same library.  Cached per source version; ours are rebuilt
# when selftests/ changes.  Prints the output directory, whose file "index"
# lists "name path" for every test binary that built.
set -eu

: "${TOP:=$(cd "$(dirname "$0")/.." && pwd)}"
# shellcheck source=common.sh
. "$TOP/rig/common.sh"

SRCVER=${1:?usage: rig/selftests.sh SRCVER}
SERIES=$(series_of "$SRCVER") || die "unsupported source version $SRCVER"
SRCPKG=$(series_conf "$SERIES" SOURCE)
SRC=$RIGB/src/$SRCVER
TREE=$SRC/$SRCPKG
OUT=$RIGB/selftests/$SRCVER
KVMST=tools/testing/selftests/kvm

# The full source tree, extracted once.
extract_source()
{
	[ -e "$SRC/.extracted" ] && return 0
	deb=$(fetch_deb "$SRCPKG" "$SRCVER") ||
		die "cannot download $SRCPKG=$SRCVER"
	say "extracting $SRCPKG $SRCVER into $SRC"
	rm -rf "$SRC"
	mkdir -p "$SRC"
	dpkg-deb --fsys-tarfile "$deb" |
		tar -xOf - "./usr/src/$SRCPKG.tar.xz" |
		XZ_OPT=-T$JOBS tar -xJf - -C "$SRC"
	[ -d "$TREE/$KVMST" ] || die "no $KVMST in $SRCPKG $SRCVER"
	: >"$SRC/.extracted"
}

install_headers()
{
	[ -e "$SRC/.headers" ] && return 0
	say "make headers_install ($SRCVER)"
	make -s -C "$TREE" headers_install INSTALL_HDR_PATH="$TREE/usr" \
		>"$SRC/headers.log" 2>&1 ||
		die "headers_install failed, see $SRC/headers.log"
	: >"$SRC/.headers"
}

# Every test that builds; failures to build single tests are logged (-k).
build_upstream()
{
	[ -e "$OUT/.upstream" ] && return 0
	say "building upstream KVM selftests of $SRCVER (static, -j$JOBS)"
	rm -rf "$OUT/upstream"
	mkdir -p "$OUT/upstream"
	make -k -j"$JOBS" -C "$TREE/$KVMST" OUTPUT="$OUT/upstream" \
		EXTRA_CFLAGS=-static >"$OUT/upstream.log" 2>&1 || true
	[ -e "$OUT/upstream/lib/kvm_util.o" ] ||
		die "the selftest library did not build, see $OUT/upstream.log"
	: >"$OUT/.upstream"
}

# Ours that do not build against this source (a series whose selftest
# library moved on) leave ours.failed: the rig then runs the tests that
# built and names those it leaves out.
build_ours()
{
	rm -f "$OUT/ours.failed"
	# MAKEFLAGS would pass the caller's command-line variables (e.g. the
	# TESTS of `make vmtest TESTS=...`) on to selftests/Makefile.
	MAKEFLAGS='' make -s -k -C "$TOP/selftests" KSRC="$TREE" LIBOUT="$OUT/upstream" \
		OUT="$OUT/ours" >"$OUT/ours.log" 2>&1 || {
		cp "$OUT/ours.log" "$OUT/ours.failed"
		say "warning: our selftests (selftests/) do not all build against $SRCVER; log: $OUT/ours.log"
	}
	# make -s prints nothing else: anything in the log is a warning.
	if [ -s "$OUT/ours.log" ]; then
		cat "$OUT/ours.log" >&2
		say "warning: our selftests built against $SRCVER with warnings (above, $OUT/ours.log)"
	fi
}

# "name path" of every executable test; ours last so they win on a clash.
write_index()
{
	{
		find "$OUT/upstream" "$OUT/ours" -type f -perm -u+x \
			! -name '*.o' ! -name '*.d' ! -name '*.sh' |
			while read -r p; do
				echo "$(basename "$p") $p"
			done
	} | sort -k1,1 -s >"$OUT/index.tmp"
	mv "$OUT/index.tmp" "$OUT/index"
}

extract_source
install_headers
build_upstream
build_ours
write_index
echo "$OUT"
