#!/bin/busybox sh
# SPDX-License-Identifier: GPL-2.0
#
# /init of the rig's initramfs (busybox-static), in one of two modes:
#
# tests (make vmtest, fuzz): loads the stock KVM modules, runs the selected
# selftests, then swaps in ours and runs them once per value of
# kvm.defer_nested_state_pages, and powers off.
#
# bench (make bench; when rig/bench.sh put /etc/rig/bench.conf there, with
# ROUNDS and ARGS, the options of nested_bench): runs /tests/nested_bench
# 1 + ROUNDS times (round 0 is a warm-up) with each module set in turn:
# stock, ours with kvm.defer_nested_state_pages=N (eager), ours with =Y
# (legacy), unloading and reloading KVM between phases so that every phase
# starts alike.
#
# Files put there by rig/initramfs.sh:
#   /etc/rig/conf           VENDOR (kvm_amd|kvm_intel), PHASES ("stock ours"),
#                           NOPARAM=1 (ours lack defer_nested_state_pages)
#   /etc/rig/tests          "name timeout retries" per line, in run order
#   /lib/rig/<set>/modules  "file.ko params" per line in load order (set:
#                           stock or ours); the .ko files beside it
#   /lib/rig/vmm/           with VMM=1 in the conf: the real-VMM test
#                           (rig/vmm-test.sh) and its L1 payload; QEMU in
#                           /usr/bin, run instead of the tests
#
# Output on the console, one line each (rig/report.awk reads them):
#   RIG-STEP <step>
#   RIG-MODULES set=<set> status=ok|fail <details>
#   RIG-BEGIN mode=<mode> test=<name>
#   RIG-RETRY mode=<mode> test=<name> result=FAIL rc=<exit code> secs=<s>
#   RIG-RESULT mode=<mode> test=<name> result=PASS|FAIL|SKIP|TIMEOUT|MISSING
#              rc=<exit code> secs=<seconds> taint=<kernel taint after>
#              tries=<runs> first=<result of the first run>
#   RIG-KMSG-BEGIN <where> ... RIG-KMSG-END   (new dmesg lines, after each step)
#   RIG-END
# mode is stock, eager (defer_nested_state_pages=N) or legacy (=Y).
# In bench mode (rig/bench.awk reads it):
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
	# shellcheck disable=SC3045 # busybox ash has ulimit -n
	ulimit -n 65536 2>/dev/null || true
	# Warnings and worse go to the console live (they survive a hang);
	# the whole log is dumped after each step.
	echo 5 >/proc/sys/kernel/printk
	# shellcheck source=/dev/null # written by rig/initramfs.sh
	. /etc/rig/conf
	if [ -e /etc/rig/bench.conf ]; then
		# shellcheck source=/dev/null # written by rig/bench.sh
		. /etc/rig/bench.conf
	fi
}

# Mark the kernel log so splats can be attributed to the step that made them.
kmark()
{
	echo "<5>kvm-rig: $*" >/dev/kmsg
}

# Print (and drop) the kernel messages logged since the last call.
kmsg_dump()
{
	echo "RIG-KMSG-BEGIN $*"
	dmesg -c
	echo "RIG-KMSG-END"
}

step()
{
	echo "RIG-STEP $*"
	kmark "step $*"
}

# Seconds since boot, to 1/100 s.
uptime_s()
{
	cut -d' ' -f1 /proc/uptime
}

taint()
{
	cat /proc/sys/kernel/tainted
}

# load_set SET: insmod the modules of SET in order; skips helper modules
# (irqbypass, ccp) that are already loaded.
load_set()
{
	while read -r ko params; do
		name=$(basename "$ko" .ko | tr - _)
		case $name in
		kvm | kvm_amd | kvm_intel) ;;
		*) [ -d "/sys/module/$name" ] && continue ;;
		esac
		# shellcheck disable=SC2086 # params is a list of words
		if ! insmod "/lib/rig/$1/$ko" $params; then
			echo "RIG-MODULES set=$1 status=fail insmod $ko $params failed"
			return 1
		fi
	done <"/lib/rig/$1/modules"
	verify_set "$1"
}

unload_kvm()
{
	rmmod "$VENDOR" 2>/dev/null
	rmmod kvm 2>/dev/null
	if [ -d /sys/module/kvm ]; then
		echo "RIG-MODULES set=stock status=fail cannot unload kvm"
		return 1
	fi
}

# What got loaded must be the set we asked for.
verify_set()
{
	version=$(cat /sys/module/kvm/version 2>/dev/null)
	ktaint=$(cat /sys/module/kvm/taint 2>/dev/null)
	nested=$(cat "/sys/module/$VENDOR/parameters/nested" 2>/dev/null)
	why=
	[ -e /dev/kvm ] || why="$why no-/dev/kvm"
	[ -d "/sys/module/$VENDOR" ] || why="$why no-$VENDOR"
	case $nested in
	Y | 1) ;;
	*) why="$why nested=$nested" ;;
	esac
	case $1 in
	stock)
		case "$version $ktaint" in
		*kvm-nested* | *O*) why="$why not-stock(version=$version,taint=$ktaint)" ;;
		esac
		;;
	ours)
		case $version in
		*kvm-nested*) ;;
		*) why="$why version=$version" ;;
		esac
		# NOPARAM: a series with no patches yet, ours is unpatched KVM.
		[ -e "$PARAM" ] || [ "${NOPARAM:-0}" = 1 ] ||
			why="$why no-defer_nested_state_pages"
		while read -r m sv; do
			got=$(cat "/sys/module/$m/srcversion" 2>/dev/null)
			[ "$got" = "$sv" ] || why="$why $m-srcversion=$got,expected=$sv"
		done </lib/rig/ours/srcversions
		;;
	esac
	detail="version=\"$version\" taint=$ktaint nested=$nested"
	if [ -n "$why" ]; then
		echo "RIG-MODULES set=$1 status=fail$why $detail"
		return 1
	fi
	echo "RIG-MODULES set=$1 status=ok $detail"
}

# set_mode eager|legacy
set_mode()
{
	case $1 in
	eager) v=N ;;
	legacy) v=Y ;;
	*) return 0 ;;
	esac
	[ "${NOPARAM:-0}" != 1 ] || return 0
	echo "$v" >"$PARAM" 2>/dev/null
	if [ "$(cat "$PARAM" 2>/dev/null)" != "$v" ]; then
		echo "RIG-MODULES set=ours status=fail cannot set $PARAM to $v"
		return 1
	fi
}

# attempt NAME TIMEOUT: run the test once, in a session of its own so that
# a timeout and the cleanup after it kill every process it started; sets
# res, rc, secs.
attempt()
{
	t0=$(uptime_s)
	(cd /tmp && exec setsid "/tests/$1" </dev/null 2>&1) &
	tpid=$!
	setsid sh -c "sleep $2; kill -KILL -- -$tpid" >/dev/null 2>&1 &
	wpid=$!
	wait "$tpid"
	rc=$?
	t1=$(uptime_s)
	kill -KILL -- "-$tpid" 2>/dev/null
	kill -KILL -- "-$wpid" 2>/dev/null
	wait "$wpid" 2>/dev/null
	secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
	case $rc in
	0) res=PASS ;;
	4) res=SKIP ;;
	137)
		res=FAIL
		awk -v s="$secs" -v t="$2" 'BEGIN { exit !(s >= t) }' &&
			res=TIMEOUT
		;;
	*) res=FAIL ;;
	esac
}

# run_test MODE NAME TIMEOUT RETRIES: a failure (not a timeout) is retried
# up to RETRIES times; the result line says how the first try ended.
run_test()
{
	echo "RIG-BEGIN mode=$1 test=$2"
	kmark "begin mode=$1 test=$2"
	if [ ! -x "/tests/$2" ]; then
		echo "RIG-RESULT mode=$1 test=$2 result=MISSING rc=- secs=0 taint=$(taint)"
		return
	fi
	attempt "$2" "$3"
	first=$res
	tries=1
	while [ "$res" = FAIL ] && [ "$tries" -le "$4" ]; do
		echo "RIG-RETRY mode=$1 test=$2 result=$res rc=$rc secs=$secs"
		kmark "retry mode=$1 test=$2"
		attempt "$2" "$3"
		tries=$((tries + 1))
	done
	kmark "end mode=$1 test=$2 result=$res"
	echo "RIG-RESULT mode=$1 test=$2 result=$res rc=$rc secs=$secs taint=$(taint) tries=$tries first=$first"
	kmsg_dump "mode=$1 test=$2"
}

run_mode()
{
	step "mode $1"
	set_mode "$1" || return 1
	while read -r name tmo retries; do
		run_test "$1" "$name" "$tmo" "$retries"
	done </etc/rig/tests
}

run_phase()
{
	case $1 in
	stock)
		step "load stock"
		load_set stock || return 1
		kmsg_dump "load stock"
		run_mode stock
		;;
	ours)
		step "load ours"
		if [ -d /sys/module/kvm ]; then
			unload_kvm || return 1
		fi
		load_set ours || return 1
		kmsg_dump "load ours"
		for mode in eager legacy; do
			run_mode "$mode" || return 1
		done
		;;
	esac
}

main()
{
	echo
	echo "RIG-START kernel=$(uname -r) vendor=$VENDOR phases=\"$PHASES\" cpu=\"$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')\""
	kmsg_dump boot
	if [ "${VMM:-0}" = 1 ]; then
		# shellcheck source=vmm-test.sh
		. /lib/rig/vmm/vmm-test.sh
		vmm_main
		kmsg_dump vmm
	else
		for phase in $PHASES; do
			run_phase "$phase"
			kmsg_dump "phase $phase"
		done
	fi
	echo "RIG-END"
	sync
	# The console is a UART: let its output queue drain (slow under Bochs).
	sleep 3
	poweroff -f
}

# bench_load SET MODE ROUND: (re)load module set SET (stock or ours) and,
# for ours, set the parameter for MODE; print one BENCH-MODULES line.
bench_load()
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

bench_main()
{
	echo
	echo "BENCH-START kernel=$(uname -r) rounds=$ROUNDS args=\"$ARGS\""
	kmsg_dump boot
	# Round 0 warms up (first VM, first module load); not counted.
	r=0
	while [ "$r" -le "$ROUNDS" ]; do
		for mode in stock eager legacy; do
			set=ours
			[ "$mode" = stock ] && set=stock
			if bench_load "$set" "$mode" "$r"; then
				t0=$(cut -d' ' -f1 /proc/uptime)
				# shellcheck disable=SC2086 # ARGS is a list of words
				(cd /tmp && /tests/nested_bench -r "$r" $ARGS </dev/null 2>&1)
				rc=$?
				t1=$(cut -d' ' -f1 /proc/uptime)
				echo "BENCH-RUN round=$r mode=$mode rc=$rc secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')"
			fi
			kmsg_dump "round=$r mode=$mode"
		done
		r=$((r + 1))
	done
	echo "BENCH-END"
	sync
	sleep 3
	poweroff -f
}

setup
if [ -e /etc/rig/bench.conf ]; then
	bench_main
else
	main
fi
# Not reached unless poweroff failed.
echo o >/proc/sysrq-trigger
