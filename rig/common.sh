# SPDX-License-Identifier: GPL-2.0
# Shared functions of the runtime rig (rig/*.sh).  Source it after setting
# TOP; it sources scripts/lib.sh.
#
# Layout under $BUILD/rig/:
#   src/<srcver>/linux-source-X.Y/   full Debian source tree (headers_install'ed)
#   selftests/<srcver>/upstream/     upstream KVM selftests (static), OUTPUT dir
#   selftests/<srcver>/ours/         selftests/*.c built against the same lib
#   run/<kver>-<vendor>/             initramfs tree, cpio, ISO, bochsrc
#   logs/                            serial logs and reports, one per run
#
# shellcheck shell=sh

# shellcheck source=../scripts/lib.sh
. "$TOP/scripts/lib.sh"
# shellcheck disable=SC2034 # used by the scripts that source this
RIG=$TOP/rig
# shellcheck disable=SC2034
RIGB=$BUILD/rig
: "${JOBS:=2}"

# The calling script's header comment, from line 3 to the line that starts
# with "# MARK", as its usage; exits 2: rig_usage MARK
rig_usage()
{
	sed -n "3,/^# $1/s/^# \{0,1\}//p" "$0" >&2
	exit 2
}

# rig_opt ARG MARK: the last arm of a script's option loop: an unknown
# option ARG prints the usage (rig_usage MARK); a first operand returns 1
# (the loop breaks): *) rig_opt "$1" MARK || break ;;
rig_opt()
{
	case $1 in
	-*) rig_usage "$2" ;;
	esac
	return 1
}

# rig_kver MARK ARG...: after the options, exactly one operand, a kernel
# release of a supported series: sets KVER and SERIES; otherwise the usage
# (rig_usage MARK) or an error that names the series.
rig_kver()
{
	rk_mark=$1
	shift
	[ $# -eq 1 ] || rig_usage "$rk_mark"
	KVER=$1
	# shellcheck disable=SC2034 # used by the scripts that call this
	SERIES=$(series_of "$KVER") ||
		die "KVER=$KVER is not a kernel release of a supported series ($(series_names))"
}

# rig_awk PARSER ARGS...: run rig/PARSER (an awk program) with the log
# grammar (rig/log.awk) and the splat ignore list.
rig_awk()
{
	ra_p=$1
	shift
	awk -v ignore_file="$RIG/splat-ignore" -f "$RIG/log.awk" -f "$RIG/$ra_p" "$@"
}

# The debug kernel (rig/debug-kernel.sh) whose release is KVER, if built:
# prints its directory, which looks like an extracted image.
rig_debug_kernel()
{
	[ -e "$BUILD/debug-kernel/$1/.complete" ] || return 1
	(cd "$BUILD/debug-kernel/$1" && pwd -P)
}

# Extracted image of KVER (not fetched); prints its root.
rig_image_root()
{
	rig_debug_kernel "$1" || echo "$BUILD/kernels/$1/image"
}

# Debian version of the source of KVER (that of its image package).
rig_srcver()
{
	rs_f=$(rig_image_root "$1")/.debian-version
	if [ ! -s "$rs_f" ]; then
		rs_deb=$(fetch_image_deb "$1")
		mkdir -p "$(dirname "$rs_f")"
		dpkg-deb -f "$rs_deb" Version >"$rs_f"
	fi
	cat "$rs_f"
}

# Extracted image of KVER, fetched if needed (a debug kernel's is built by
# make debug-kernel); prints its root.
rig_image()
{
	rig_debug_kernel "$1" && return 0
	fetch_image "$1"
}

# The kernel of KVER: boot/vmlinuz-KVER of the image, or (7.x)
# lib/modules/KVER/vmlinuz.
rig_vmlinuz()
{
	rv_root=$(rig_image "$1")
	for rv_f in "$rv_root/boot/vmlinuz-$1" "$rv_root/lib/modules/$1/vmlinuz"; do
		if [ -e "$rv_f" ]; then
			echo "$rv_f"
			return 0
		fi
	done
	die "no vmlinuz in the image of $1 ($rv_root)"
}

# Path of module NAME (kvm-amd, kvm_amd, ...) in the image of KVER (.ko or
# .ko.xz/.ko.zst), empty if none: rig_stock_module KVER NAME
rig_stock_module()
{
	rsm_dir=$(rig_image_root "$1")/lib/modules/$1
	rsm_a=$(echo "$2" | tr _ -)
	rsm_b=$(echo "$2" | tr - _)
	find "$rsm_dir" \( -name "$rsm_a.ko" -o -name "$rsm_a.ko.*" \
		-o -name "$rsm_b.ko" -o -name "$rsm_b.ko.*" \) | head -n 1
}

# Copy a module to DEST as a plain .ko, decompressing it if needed.
rig_copy_module()
{
	copy_ko "$@"
}

# Seconds since the epoch.
now()
{
	date +%s
}

# Stop a process we started: TERM, then KILL after 5 s.
stop_pid()
{
	kill "$1" 2>/dev/null || return 0
	sp_i=0
	while kill -0 "$1" 2>/dev/null && [ $sp_i -lt 5 ]; do
		sleep 1
		sp_i=$((sp_i + 1))
	done
	kill -9 "$1" 2>/dev/null || true
}

# watch_pid PID LOG TOTAL STALL: wait for emulator PID whose console goes to
# LOG; stop it after TOTAL seconds, after STALL seconds without console
# output, or 20 s after the guest printed RIG-END (Bochs does not power off).
# Echoes RIG-RESULT lines to stderr as they come; writes why it stopped the
# emulator, if it did, to LOG.host.
watch_pid()
{
	wp_pid=$1
	wp_log=$2
	: >"$wp_log.host"
	tail -n +1 -F --pid="$wp_pid" "$wp_log" 2>/dev/null |
		grep --line-buffered -a -o -E 'RIG-(MODULES .*status=[a-z]+|RESULT .*result=[A-Z]+|END)|VMM-RESULT mode=[a-z]+ scenario=[a-z-]+ result=[A-Z]+' >&2 &
	wp_t0=$(now)
	wp_last=$wp_t0
	wp_size=-1
	wp_end=
	while kill -0 "$wp_pid" 2>/dev/null; do
		sleep 2
		wp_t=$(now)
		wp_s=$(stat -c %s "$wp_log" 2>/dev/null || echo 0)
		if [ "$wp_s" != "$wp_size" ]; then
			wp_size=$wp_s
			wp_last=$wp_t
		fi
		if [ -z "$wp_end" ] && grep -a -q 'RIG-END' "$wp_log"; then
			wp_end=$wp_t
		fi
		wp_why=
		if [ -n "$wp_end" ] && [ $((wp_t - wp_end)) -ge 20 ]; then
			wp_why="done"
		elif [ $((wp_t - wp_t0)) -ge "$3" ]; then
			wp_why="host timeout: the emulator ran ${3}s"
		elif [ $((wp_t - wp_last)) -ge "$4" ]; then
			wp_why="stall: no console output for ${4}s"
		fi
		if [ -n "$wp_why" ]; then
			[ "$wp_why" = "done" ] || echo "$wp_why" >"$wp_log.host"
			stop_pid "$wp_pid"
			break
		fi
	done
	wait "$wp_pid" 2>/dev/null || true
}
