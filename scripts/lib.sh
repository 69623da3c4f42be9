# SPDX-License-Identifier: GPL-2.0
# Shared shell functions for kvm-nested's scripts.  Source it; it runs nothing.
#
# Layout under $BUILD (default: build/ in the source tree, gitignored):
#   cache/                       downloaded .deb files (apt-get download)
#   kernels/<kver>/headers/      linux-headers-<kver> (+common, +kbuild), extracted
#   kernels/<kver>/image/        linux-image-<kver>-unsigned, extracted
#   prep/<srcver>-<hash>/        pristine + patched kvm sources, cached
#   kvm/<kver>/                  the build tree for one kernel; the .ko files
#
# shellcheck shell=sh

: "${TOP:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${BUILD:=$TOP/build}"
CACHE=$BUILD/cache
# Per-configuration outputs (prep/, kvm/); tests point it elsewhere.
: "${OUT:=$BUILD}"

die()
{
	printf 'kvm-nested: error: %s\n' "$*" >&2
	exit 1
}

say()
{
	printf 'kvm-nested: %s\n' "$*" >&2
}

# The kernel flavours kvm-nested builds for, an extended regex.
FLAVOURS='amd64|cloud-amd64|rt-amd64'

# The value of VAR in the declaration of SERIES (patches/SERIES/series.conf):
# series_conf SERIES VAR
series_conf()
{
	[ -e "$TOP/patches/$1/series.conf" ] ||
		die "no patches/$1/series.conf: not a series kvm-nested supports"
	(
		# shellcheck source=/dev/null
		. "$TOP/patches/$1/series.conf"
		eval "printf '%s\n' \"\${$2:-}\""
	)
}

# Kernel series ("6.1", "6.12") of a Debian kernel release or a version.
series_of()
{
	for so_s in $(series_list); do
		so_p=$(series_conf "$so_s" VERSIONS)
		# shellcheck disable=SC2254 # the declaration's pattern
		case $1 in $so_p)
			echo "$so_s"
			return 0
			;;
		esac
	done
	return 1
}

# The supported series as text: "6.1, 6.12".
series_names()
{
	series_list | paste -s -d, | sed 's/,/, /g'
}

# An extended regex matching the kernel releases of every series in the
# flavours FLAVOURS (default: all of them): kernel_re [FLAVOURS]
kernel_re()
{
	kr_re=
	for kr_s in $(series_list); do
		kr_re="${kr_re:+$kr_re|}$(series_conf "$kr_s" RELEASES)"
	done
	echo "^($kr_re)-(${1:-$FLAVOURS})\$"
}

# An extended regex matching RPM distributions' kernel releases of the
# supported series, by upstream version: 6.12.5-200.fc41.x86_64.
kernel_re_rpm()
{
	krr_re=
	for krr_s in $(series_list); do
		# '6.12.*' -> 6\.12\.[0-9]+
		krr_v=$(series_conf "$krr_s" VERSIONS | sed -e 's/\./\\./g' \
			-e 's/\\\.\*$/\\.[0-9]+/')
		krr_re="${krr_re:+$krr_re|}$krr_v"
	done
	echo "^($krr_re)-[^-]+\\.x86_64\$"
}

# Write kernel_re into the BUILD_EXCLUSIVE_KERNEL line of a dkms.conf;
# dkms_conf_kernels FILE rpm: kernel_re_rpm instead (the RPM serves RPM
# distributions; Debian's kernels are the .deb's).
dkms_conf_kernels()
{
	dc_re=$(kernel_re "$FLAVOURS")
	[ "${2:-}" != rpm ] || dc_re=$(kernel_re_rpm)
	awk -v re="$dc_re" '/^BUILD_EXCLUSIVE_KERNEL=/ {
		$0 = "BUILD_EXCLUSIVE_KERNEL=\x27" re "\x27" } { print }' "$1" >"$1.tmp"
	mv "$1.tmp" "$1"
}

# The series kvm-nested supports: the directories under patches/ with a
# series file, in version order.
series_list()
{
	for sl_d in "$TOP"/patches/*/series; do
		[ -e "$sl_d" ] || continue
		sl_d=${sl_d%/series}
		echo "${sl_d##*/}"
	done | sort -V
}

# The entries of the series file in DIR, one a line: "PATCH" or, when the
# line carries a comment, "PATCH # comment".  Blank and comment lines go.
series_entries()
{
	[ -e "$1/series" ] || die "no series file in $1"
	awk '{ sub(/^[ \t]+/, "") } /^(#|$)/ { next }
		{ c = index($0, "#"); print $1 (c ? " " substr($0, c) : "") }' \
		"$1/series"
}

# The patch names of the series file in DIR, in order.
series_patches()
{
	series_entries "$1" | awk '{ print $1 }'
}

# apt, for the kernels and sources kvm-nested builds from: kn_apt apt-get|
# apt-cache ARGS...  By default a private apt state under $BUILD/apt whose
# sources are the SUITES of every patches/*/series.conf (the host's own
# sources and lists stay untouched); it refreshes its lists when they are
# missing, when the suites change, or when they are older than
# KVM_NESTED_APT_MAXAGE seconds (default a day).  KVM_NESTED_APT=host uses
# the host's apt as it is (what dkms does on a host: there the host's own
# sources decide which kernels exist).  KVM_NESTED_MIRROR and
# KVM_NESTED_SECURITY_MIRROR override deb.debian.org.
kn_apt()
{
	if [ "${KVM_NESTED_APT:-private}" = host ]; then
		"$@"
		return
	fi
	kn_apt_ready
	ka_cmd=$1
	shift
	# shellcheck disable=SC2046 # one word per option
	"$ka_cmd" $(kn_apt_opts) "$@"
}

# The kernel releases whose headers apt knows of (linux-headers-RELEASE).
apt_kernels()
{
	kn_apt apt-cache pkgnames linux-headers- | sed 's/^linux-headers-//'
}

KN_APT=$BUILD/apt

# The options that point apt at the private state under $KN_APT.
kn_apt_opts()
{
	for ko_o in "Dir::State=$KN_APT" "Dir::State::Lists=$KN_APT/lists" \
		"Dir::Cache=$KN_APT" "Dir::Etc::SourceList=$KN_APT/etc/sources.list" \
		"Dir::Etc::SourceParts=$KN_APT/etc/none" \
		"Dir::Etc::Preferences=$KN_APT/etc/none/preferences" \
		"Dir::Etc::PreferencesParts=$KN_APT/etc/none" \
		Dir::State::status=/dev/null APT::Architecture=amd64 \
		APT::Architectures=amd64 Acquire::Languages=none \
		APT::Sandbox::User=root; do
		printf -- '-o %s\n' "$ko_o"
	done
}

# Every suite a series declares, once, in version order of the series.
kn_apt_suites()
{
	for ks_s in $(series_list); do
		series_conf "$ks_s" SUITES | tr ' ' '\n'
	done | awk 'NF && !seen[$0]++'
}

# The private sources.list: one line per suite.
kn_apt_sources()
{
	for ks_suite in $(kn_apt_suites); do
		case $ks_suite in
		*-security) ks_m=${KVM_NESTED_SECURITY_MIRROR:-http://deb.debian.org/debian-security} ;;
		*) ks_m=${KVM_NESTED_MIRROR:-http://deb.debian.org/debian} ;;
		esac
		echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $ks_m $ks_suite main"
	done
}

# True when the private lists are of the current suites and young enough.
kn_apt_fresh()
{
	kf_age=$(($(date +%s) - $(stat -c %Y "$KN_APT/lists/.kvm-nested-updated" \
		2>/dev/null || echo 0)))
	cmp -s "$KN_APT/etc/sources.list.new" "$KN_APT/etc/sources.list" &&
		[ "$kf_age" -lt "${KVM_NESTED_APT_MAXAGE:-86400}" ]
}

# Make the private lists current (see kn_apt), one process at a time; a
# failed refresh of lists that exist is a warning.
kn_apt_ready()
{
	mkdir -p "$KN_APT/etc/none" "$KN_APT/lists/partial" "$KN_APT/archives/partial"
	kn_apt_sources >"$KN_APT/etc/sources.list.new"
	[ -s "$KN_APT/etc/sources.list.new" ] ||
		die "no series under $TOP/patches declares SUITES: no apt sources"
	kn_apt_fresh && return 0
	(
		flock 8
		kn_apt_fresh || kn_apt_update
	) 8>>"$KN_APT/.lock"
}

kn_apt_update()
{
	ku_stamp=$KN_APT/lists/.kvm-nested-updated
	cp "$KN_APT/etc/sources.list.new" "$KN_APT/etc/sources.list"
	say "apt-get update of kvm-nested's apt in $KN_APT ($(kn_apt_suites | paste -s -d' ' -))"
	# shellcheck disable=SC2046 # one word per option
	if apt-get $(kn_apt_opts) -q update >"$KN_APT/update.log" 2>&1; then
		: >"$ku_stamp"
	elif [ -e "$ku_stamp" ]; then
		say "warning: apt-get update failed (see $KN_APT/update.log); using the lists of $(date -r "$ku_stamp")"
	else
		cat "$KN_APT/update.log" >&2
		die "apt-get update of $KN_APT failed; KVM_NESTED_APT=host uses the host's apt"
	fi
}

# Fetch a Debian package into the cache: fetch_deb NAME [VERSION]
# Prints the path of the .deb.
fetch_deb()
{
	fd_name=$1
	fd_ver=${2:-}
	mkdir -p "$CACHE"
	if [ -z "$fd_ver" ]; then
		fd_ver=$(kn_apt apt-cache policy "$fd_name" 2>/dev/null |
			awk '/Candidate:/ { print $2 }')
		case $fd_ver in
		"" | "(none)")
			return 1
			;;
		esac
	fi
	fd_file=$(deb_file "$fd_name" "$fd_ver")
	if [ ! -s "$fd_file" ]; then
		(cd "$CACHE" && kn_apt apt-get download -q "$fd_name=$fd_ver") >&2 ||
			return 1
		# Only now does the name (its architecture part) exist.
		fd_file=$(deb_file "$fd_name" "$fd_ver")
	fi
	[ -s "$fd_file" ] || return 1
	echo "$fd_file"
}

# Cache path of a package's .deb, as apt-get download names it.
deb_file()
{
	df_ver=$(printf '%s' "$2" | sed 's/:/%3a/')
	df_match=
	for df_f in "$CACHE/$1_${df_ver}_"*.deb; do
		[ -e "$df_f" ] && df_match=$df_f
	done
	echo "${df_match:-$CACHE/$1_${df_ver}_all.deb}"
}

# Extract a .deb once into DIR: extract_deb DEB DIR
extract_deb()
{
	ed_stamp="$2/.extracted-$(basename "$1")"
	[ -e "$ed_stamp" ] && return 0
	mkdir -p "$2"
	dpkg-deb -x "$1" "$2"
	: >"$ed_stamp"
}

# Extracted headers of KVER under $BUILD; fetches them if needed.
# Prints the headers directory (the one with Module.symvers).
fetch_headers()
{
	fh_root=$BUILD/kernels/$1/headers
	fh_dir=$fh_root/usr/src/linux-headers-$1
	if [ ! -e "$fh_root/.complete" ]; then
		fh_deb=$(fetch_deb "linux-headers-$1") ||
			die "no package linux-headers-$1 in apt's lists (apt-get update?)"
		fh_ver=$(dpkg-deb -f "$fh_deb" Version)
		extract_deb "$fh_deb" "$fh_root"
		for fh_dep in $(dpkg-deb -f "$fh_deb" Depends | sed 's/[,|]/\n/g' |
			sed -n 's/^ *\(linux-\(headers\|kbuild\)-[^ ]*\).*/\1/p'); do
			fh_d=$(fetch_deb "$fh_dep" "$fh_ver" ||
				fetch_deb "$fh_dep") ||
				die "cannot download $fh_dep for linux-headers-$1"
			extract_deb "$fh_d" "$fh_root"
		done
		echo "$fh_ver" >"$fh_root/.debian-version"
		: >"$fh_root/.complete"
	fi
	relocate_headers "$fh_root" "$fh_dir/Makefile"
	echo "$fh_dir"
}

# The flavour Makefile of headers extracted under ROOT names the common one
# (include) and, from 7.x on, itself (KBUILD_OUTPUT=) by their installed
# paths under /usr/src: point them at ROOT.  relocate_headers ROOT MAKEFILE
relocate_headers()
{
	grep -q -E '^(include |KBUILD_OUTPUT=)/usr/src/' "$2" || return 0
	rh_root=$(cd "$1" && pwd -P)
	sed -i -e "s|^include /usr/src/|include $rh_root/usr/src/|" \
		-e "s|^KBUILD_OUTPUT=/usr/src/|KBUILD_OUTPUT=$rh_root/usr/src/|" "$2"
}

# The .deb of the image of KVER, downloaded to the cache if needed: the
# unsigned one where Debian has one, else (7.x in trixie-backports) the
# signed one, whose modules are the same plus signatures.
fetch_image_deb()
{
	# fetch_deb may fail on the very download of an arch-specific package
	# (it guesses the _all.deb name before the file exists); ask twice.
	for fid_p in "linux-image-$1-unsigned" "linux-image-$1"; do
		fetch_deb "$fid_p" 2>/dev/null || fetch_deb "$fid_p" 2>/dev/null ||
			continue
		return 0
	done
	die "no package linux-image-$1-unsigned or linux-image-$1 in apt's lists"
}

# Extracted image of KVER (the stock module tree); prints its root.  From
# 7.x on, linux-image-KVER is split: its linux-binary-, linux-modules- and
# linux-base-KVER dependencies of the same version are extracted with it.
fetch_image()
{
	fi_root=$BUILD/kernels/$1/image
	if [ ! -e "$fi_root/.complete" ]; then
		fi_deb=$(fetch_image_deb "$1")
		extract_deb "$fi_deb" "$fi_root"
		fi_ver=$(dpkg-deb -f "$fi_deb" Version)
		for fi_dep in $(dpkg-deb -f "$fi_deb" Depends | sed 's/[,|]/\n/g' |
			sed -n "s/^ *\(linux-\(binary\|modules\|base\)-$1\) .*/\1/p"); do
			fi_d=$(fetch_deb "$fi_dep" "$fi_ver" ||
				fetch_deb "$fi_dep" "$fi_ver") ||
				die "cannot download $fi_dep=$fi_ver for linux-image-$1"
			extract_deb "$fi_d" "$fi_root"
		done
		: >"$fi_root/.complete"
	fi
	# Packages with merged-/usr paths: the rig and abi-check look in
	# lib/modules/ and boot/ (also in an image extracted before this link
	# was made).
	[ -e "$fi_root/lib" ] || [ ! -d "$fi_root/usr/lib" ] ||
		ln -s usr/lib "$fi_root/lib"
	echo "$fi_root"
}

# Headers directory of KVER: KDIR, installed headers, or extracted ones.
find_headers()
{
	if [ -n "${KDIR:-}" ]; then
		[ -e "$KDIR/Module.symvers" ] ||
			die "KDIR=$KDIR has no Module.symvers: not a prepared kernel tree"
		(cd "$KDIR" && pwd)
		return
	fi
	for fd_h in "/lib/modules/$1/build" "/usr/src/linux-headers-$1"; do
		if [ -e "$fd_h/Module.symvers" ]; then
			(cd "$fd_h" && pwd -P)
			return
		fi
	done
	fetch_headers "$1"
}

# Debian version of the headers in DIR ("" when it cannot be told).
headers_version()
{
	if [ -e "$1/../../../.debian-version" ]; then
		cat "$1/../../../.debian-version"
		return
	fi
	hv_pkg=$(dpkg-query -S "$1/Module.symvers" 2>/dev/null | cut -d: -f1)
	if [ -n "$hv_pkg" ]; then
		dpkg-query -W -f '${Version}\n' "$hv_pkg"
		return
	fi
	sed -n 's/.*LINUX_PACKAGE_ID " *Debian \([^" ]*\)".*/\1/p' \
		"$1/include/generated/package.h" 2>/dev/null
}

# Upstream version ("6.1.192") of the headers in DIR.
headers_upstream_version()
{
	cat "$1/include/config/kernel.release" 2>/dev/null ||
		sed -n 's/.*UTS_RELEASE "\([0-9.]*\).*/\1/p' \
			"$1/include/generated/utsrelease.h"
}

# Newest amd64 kernel release of SERIES that apt (or build/) knows of;
# fails when there is none.
newest_kver()
{
	[ -e "$TOP/patches/$1/series.conf" ] || return 1
	nk_re="^($(series_conf "$1" RELEASES))-amd64\$"
	{
		apt_kernels
		find "$BUILD/kernels" -mindepth 1 -maxdepth 1 2>/dev/null |
			sed 's|.*/||'
	} | grep -E "$nk_re" | sort -uV | tail -n 1 | grep .
}

# The compiler command the kernel of the headers in DIR was built with
# (gcc-12, x86_64-linux-gnu-gcc-14), from its config.
kernel_cc()
{
	sed -n 's/^CONFIG_CC_VERSION_TEXT="\([^ ]*\) .*/\1/p' "$1/.config"
}

# How to run the build steps for the kernel whose headers are in DIR:
# nothing when the host has its compiler, else scripts/toolchain (a chroot
# with it; in a developer's tree only).  Prints the command prefix.
kernel_toolchain()
{
	kt_cc=$(kernel_cc "$1")
	if [ -z "$kt_cc" ] || command -v "$kt_cc" >/dev/null; then
		return 0
	fi
	[ -x "$TOP/scripts/toolchain" ] ||
		die "the kernel in $1 was built with $kt_cc, which is not installed: apt-get install ${kt_cc#x86_64-linux-gnu-}"
	echo "$TOP/scripts/toolchain $kt_cc"
}

# Copy a kernel module to DEST as a plain .ko, decompressing it if needed
# (.ko.xz, .ko.zst, .ko.gz): copy_ko MODULE DEST
copy_ko()
{
	case $1 in
	*.ko.xz) xz -dc "$1" >"$2" ;;
	*.ko.zst) zstd -qdc "$1" >"$2" ;;
	*.ko.gz) gzip -dc "$1" >"$2" ;;
	*) cp "$1" "$2" ;;
	esac
}
