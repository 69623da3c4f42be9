#!/bin/busybox sh
# SPDX-License-Identifier: GPL-2.0
#
# /bench-init of `make bench` (rig/bench.sh boots with rdinit=/bench-init; the
# rest of the initramfs is rig/initramfs.sh's).  Runs /tests/nested_bench
# 1 + ROUNDS times (round 0 is a warm-up) with each module set in turn: stock, ours with
# kvm.defer_nested_state_pages=N (eager), ours with =Y (legacy), unloading
# and reloading KVM between phases so that every phase starts alike.
#
# /etc/rig/bench.conf (sourced): ROUNDS, ARGS (options of nested_bench).
# Output on the console (rig/bench.awk reads it):
#   BENCH-START kernel=... rounds=N args="..."
#   BENCH-MODULES round=R mode=M status=ok|fail <details>
#   BENCH-SAMPLES ...               (nested_bench's own lines)
#   BENCH-RUN round=R mode=M rc=N secs=S
#   RIG-KMSG-BEGIN ... RIG-KMSG-END (kernel messages after each phase)
#   BENCH-END
# shellcheck shell=sh

PARAM=/sys/module/kvm/parameters/defer_nested_state_pages

setup()
{
	/bin/busybox mkdir -p /proc /sys /dev /tmp /bin /sbin
	/bin/busybox --install -s /bin
	mount -t proc proc /proc
	mount -t sysfs sysfs /sys
	mount -t devtmpfs devtmpfs /dev 2>/dev/null
	mount -t debugfs debugfs /sys/kernel/debug
	mount -t tmpfs tmpfs /tmp
	mkdir -p /dev/shm
	mount -t tmpfs tmpfs /dev/shm
	echo 5 >/proc/sys/kernel/printk
	# shellcheck source=/dev/null # written by rig/initramfs.sh
	. /etc/rig/conf
	# shellcheck source=/dev/null # written by rig/bench.sh
	. /etc/rig/bench.conf
}

# load SET MODE: (re)load module set SET (stock or ours) and, for ours, set
# the parameter for MODE; print one BENCH-MODULES line.
load()
{
	rmmod "$VENDOR" 2>/dev/null
	rmmod kvm 2>/dev/null
	why=
	[ -d /sys/module/kvm ] && why=" cannot-unload-kvm"
	while read -r ko params; do
		name=$(basename "$ko" .ko | tr - _)
		case $name in
		kvm | kvm_amd | kvm_intel) ;;
		*) [ -d "/sys/module/$name" ] && continue ;;
		esac
		# shellcheck disable=SC2086 # params is a list of words
		insmod "/lib/rig/$1/$ko" $params || why="$why insmod-$ko"
	done <"/lib/rig/$1/modules"
	version=$(cat /sys/module/kvm/version 2>/dev/null)
	case "$1 $version" in
	"stock "*kvm-nested* | "ours ") why="$why version=$version" ;;
	"ours "*kvm-nested*) ;;
	"ours "*) why="$why version=$version" ;;
	esac
	case $2 in
	eager | legacy)
		v=N
		[ "$2" = legacy ] && v=Y
		echo "$v" >"$PARAM" 2>/dev/null
		[ "$(cat "$PARAM" 2>/dev/null)" = "$v" ] || why="$why param"
		;;
	esac
	[ -e /dev/kvm ] || why="$why no-/dev/kvm"
	if [ -n "$why" ]; then
		echo "BENCH-MODULES round=$3 mode=$2 status=fail$why"
		return 1
	fi
	echo "BENCH-MODULES round=$3 mode=$2 status=ok version=\"$version\""
}

main()
{
	setup
	echo
	echo "BENCH-START kernel=$(uname -r) rounds=$ROUNDS args=\"$ARGS\""
	echo "RIG-KMSG-BEGIN boot"
	dmesg -c
	echo "RIG-KMSG-END"
	# Round 0 warms up (first VM, first module load); not counted.
	r=0
	while [ "$r" -le "$ROUNDS" ]; do
		for mode in stock eager legacy; do
			set=ours
			[ "$mode" = stock ] && set=stock
			if load "$set" "$mode" "$r"; then
				t0=$(cut -d' ' -f1 /proc/uptime)
				# shellcheck disable=SC2086 # ARGS is a list of words
				(cd /tmp && /tests/nested_bench -r "$r" $ARGS </dev/null 2>&1)
				rc=$?
				t1=$(cut -d' ' -f1 /proc/uptime)
				echo "BENCH-RUN round=$r mode=$mode rc=$rc secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')"
			fi
			echo "RIG-KMSG-BEGIN round=$r mode=$mode"
			dmesg -c
			echo "RIG-KMSG-END"
		done
		r=$((r + 1))
	done
	echo "BENCH-END"
	sync
	sleep 3
	poweroff -f
}

main
echo o >/proc/sysrq-trigger
