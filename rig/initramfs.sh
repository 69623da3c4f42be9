#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# rig/initramfs.sh KVER VENDOR PHASES TESTS INDEX OURS_DIR OUT
#
# Build the rig's initramfs (gzip'ed newc cpio) at OUT:
#   KVER      kernel release whose image supplies the stock modules
#   VENDOR    amd or intel
#   PHASES    "stock", "ours" or "stock ours"
#   TESTS     file of "name timeout retries" lines, in run order
#   INDEX     the selftest index of rig/selftests.sh ("name path" lines)
#   OURS_DIR  directory with our kvm.ko and kvm-<vendor>.ko (unused without
#             the ours phase)
# With RIG_VMM_PAYLOAD=<l1 payload> in the environment it also packs the
# real-VMM test (rig/vmm-test.sh, docs/rig.md): the host's
# qemu-system-x86_64 with its shared libraries and firmware, and the
# payload; /init then runs that instead of the tests (RIG_VMM_SCENARIOS and
# RIG_VMM_APPEND, if set, go to its conf, and so does RIG_VMM_STUCK).
set -eu

: "${TOP:=$(cd "$(dirname "$0")/.." && pwd)}"
# shellcheck source=common.sh
. "$TOP/rig/common.sh"

[ $# -eq 7 ] || die "usage: rig/initramfs.sh KVER VENDOR PHASES TESTS INDEX OURS_DIR OUT"
KVER=$1
VENDOR=$2
PHASES=$3
TESTS=$4
INDEX=$5
OURS_DIR=$6
OUT=$7
ROOT=$OUT.d

# closure SET PATH: print PATH after the modules it depends on, recursively
# (depth first, may repeat).  Dependencies come from the stock image, except
# kvm itself in the ours set.
closure()
{
	for cl_dep in $(modinfo -F depends "$2" | tr , ' '); do
		if [ "$1" = ours ] && [ "$cl_dep" = kvm ]; then
			(closure "$1" "$OURS_DIR/kvm.ko") || exit 1
			continue
		fi
		cl_p=$(rig_stock_module "$KVER" "$cl_dep")
		[ -n "$cl_p" ] || die "$2 needs $cl_dep, not in the $KVER image"
		(closure "$1" "$cl_p") || exit 1
	done
	echo "$2"
}

# add_module SET PATH PARAMS: put PATH and what it needs into SET, as plain
# .ko files, and append "file.ko params" to SET's load list.
add_module()
{
	am_dir=$ROOT/lib/rig/$1
	closure "$1" "$2" >"$am_dir/closure.raw"
	awk '!seen[$0]++' "$am_dir/closure.raw" >"$am_dir/closure"
	while read -r am_p; do
		am_name=$(basename "$am_p" | sed 's/\.ko.*//' | tr _ -)
		grep -q "^$am_name.ko " "$am_dir/modules" && continue
		am_args=
		[ "$am_p" = "$2" ] && am_args=$3
		rig_copy_module "$am_p" "$am_dir/$am_name.ko"
		echo "$am_name.ko $am_args" >>"$am_dir/modules"
	done <"$am_dir/closure"
	rm -f "$am_dir/closure" "$am_dir/closure.raw"
}

stock_set()
{
	mkdir -p "$ROOT/lib/rig/stock"
	: >"$ROOT/lib/rig/stock/modules"
	ss_p=$(rig_stock_module "$KVER" kvm)
	[ -n "$ss_p" ] || die "no kvm module in the $KVER image"
	add_module stock "$ss_p" ""
	ss_p=$(rig_stock_module "$KVER" "kvm-$VENDOR")
	add_module stock "$ss_p" "nested=1"
}

ours_set()
{
	mkdir -p "$ROOT/lib/rig/ours"
	: >"$ROOT/lib/rig/ours/modules"
	for os_m in kvm "kvm-$VENDOR"; do
		[ -s "$OURS_DIR/$os_m.ko" ] ||
			die "no $OURS_DIR/$os_m.ko: run 'make module KVER=$KVER' (or OURS=0)"
	done
	os_v=$(modinfo -F version "$OURS_DIR/kvm.ko")
	case $os_v in
	*kvm-nested*) ;;
	*) die "$OURS_DIR/kvm.ko is not kvm-nested (version '$os_v')" ;;
	esac
	os_k=$(modinfo -F vermagic "$OURS_DIR/kvm.ko" | cut -d' ' -f1)
	[ "$os_k" = "$KVER" ] ||
		die "$OURS_DIR/kvm.ko is built for $os_k, not $KVER"
	add_module ours "$OURS_DIR/kvm.ko" ""
	add_module ours "$OURS_DIR/kvm-$VENDOR.ko" "nested=1"
	# init checks that exactly these got loaded.
	for os_m in kvm "kvm-$VENDOR"; do
		echo "$(echo "$os_m" | tr - _) $(modinfo -F srcversion "$OURS_DIR/$os_m.ko")"
	done >"$ROOT/lib/rig/ours/srcversions"
}

tests()
{
	mkdir -p "$ROOT/tests" "$ROOT/etc/rig"
	: >"$ROOT/etc/rig/tests"
	while read -r t_name t_tmo t_retries; do
		# The last match: ours come after upstream's in the index.
		t_path=$(awk -v n="$t_name" '$1 == n { p = $2 } END { print p }' "$INDEX")
		if [ -n "$t_path" ]; then
			strip -o "$ROOT/tests/$t_name" "$t_path"
		fi
		echo "$t_name $t_tmo ${t_retries:-0}" >>"$ROOT/etc/rig/tests"
	done <"$TESTS"
}

base()
{
	rm -rf "$ROOT"
	mkdir -p "$ROOT/bin" "$ROOT/etc/rig" "$ROOT/dev" "$ROOT/proc" \
		"$ROOT/sys" "$ROOT/tmp"
	[ -x /bin/busybox ] || die "no /bin/busybox: run sh scripts/deps.sh rig"
	file -L /bin/busybox | grep -q 'statically linked' ||
		die "/bin/busybox is not static: install busybox-static (sh scripts/deps.sh rig)"
	cp /bin/busybox "$ROOT/bin/busybox"
	ln -s busybox "$ROOT/bin/sh"
	# The selftests' backtraces call addr2line; there is none in the guest.
	printf '#!/bin/sh\nexit 0\n' >"$ROOT/bin/addr2line"
	chmod 755 "$ROOT/bin/addr2line"
	cp "$RIG/init.sh" "$ROOT/init"
	chmod 755 "$ROOT/init"
	{
		echo "VENDOR=kvm_$VENDOR"
		echo "PHASES=\"$PHASES\""
		# RIG_NOPARAM=1: our modules have no defer_nested_state_pages
		# (rig/vmtest.sh: a series with no patches yet).
		[ "${RIG_NOPARAM:-0}" != 1 ] || echo "NOPARAM=1"
	} >"$ROOT/etc/rig/conf"
	fuzz_conf >>"$ROOT/etc/rig/conf"
}

# FUZZ_* of the environment (rig/fuzz.sh), exported to the tests by /init
# sourcing the conf; numbers only.
fuzz_conf()
{
	env | LC_ALL=C sort | grep -E '^FUZZ_[A-Z_]+=[0-9a-fA-Fx]+$' | sed 's/^/export /' || true
}

# The host's QEMU, the libraries ldd names, the firmware a multiboot boot
# of the pc machine reads (found by strace: seabios, the multiboot option
# ROM, kvmvapic) and the payload.
vmm_files()
{
	vf_q=/usr/bin/qemu-system-x86_64
	[ -x "$vf_q" ] || die "no $vf_q: run rig/deps.sh"
	mkdir -p "$ROOT/usr/bin" "$ROOT/usr/share/qemu" "$ROOT/usr/share/seabios" \
		"$ROOT/lib/rig/vmm" "$ROOT/usr/lib/x86_64-linux-gnu/qemu"
	cp "$vf_q" "$ROOT/usr/bin/"
	ldd "$vf_q" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' |
		while read -r vf_l; do
			mkdir -p "$ROOT$(dirname "$vf_l")"
			cp -L "$vf_l" "$ROOT$vf_l"
		done
	for vf_f in kvmvapic.bin multiboot_dma.bin linuxboot_dma.bin; do
		cp -L "/usr/share/qemu/$vf_f" "$ROOT/usr/share/qemu/"
	done
	cp -L /usr/share/seabios/bios-256k.bin "$ROOT/usr/share/seabios/"
	cp -L /usr/lib/x86_64-linux-gnu/qemu/accel-tcg-x86_64.so \
		"$ROOT/usr/lib/x86_64-linux-gnu/qemu/" 2>/dev/null || true
	cp "$RIG_VMM_PAYLOAD" "$ROOT/lib/rig/vmm/l1.elf"
	cp "$RIG/vmm-test.sh" "$ROOT/lib/rig/vmm/vmm-test.sh"
	cp "$RIG/vmm-uffd.awk" "$ROOT/lib/rig/vmm/uffd.awk"
	{
		echo "VMM=1"
		[ -z "${RIG_VMM_SCENARIOS:-}" ] || echo "VMM_SCENARIOS=\"$RIG_VMM_SCENARIOS\""
		[ -z "${RIG_VMM_APPEND:-}" ] || echo "VMM_APPEND=\"$RIG_VMM_APPEND\""
		[ -z "${RIG_VMM_STUCK:-}" ] || echo "VMM_STUCK_AFTER=$RIG_VMM_STUCK"
	} >>"$ROOT/etc/rig/conf"
}

pack()
{
	(cd "$ROOT" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) |
		gzip -1 >"$OUT.tmp"
	mv "$OUT.tmp" "$OUT"
}

base
case " $PHASES " in *" stock "*) stock_set ;; esac
case " $PHASES " in *" ours "*) ours_set ;; esac
tests
[ -z "${RIG_VMM_PAYLOAD:-}" ] || vmm_files
pack
