# SPDX-License-Identifier: GPL-2.0
#
# The real-VMM test, guest side: sourced by /init (rig/init.sh) when
# /etc/rig/conf says VMM=1, with init's functions (load_set, unload_kvm,
# set_mode, kmsg_dump, step, kmark) at hand.  Runs the host's
# qemu-system-x86_64 with -accel kvm on the modules under test, booting the
# L1 payload (selftests/l1), and migrates it while L2 runs:
#
#   file      stop (steered into L2), migrate "exec:cat > f", quit, restore
#             into a fresh QEMU with -incoming "exec:cat f"
#   precopy   live migration over tcp:127.0.0.1
#   postcopy  live migration switched to postcopy at once, with
#             max-bandwidth and max-postcopy-bandwidth throttled
#   mixed     the file saved under one module set restored under another:
#             stock->eager, stock->legacy, eager->stock, legacy->stock
#             (needs file)
#   smi       precopy with the payload's smi=1: every L2 iteration sends
#             itself an SMI, which the firmware's handler RSMs back into L2
#
# The payload must then pass (exit status 33).  One line per cell:
#   VMM-RESULT mode=<m> scenario=<s> result=PASS|FAIL inl2=<0|1>
#              insmm=<0|1> (the stop was in SMM, entered from L2) tries=<n>
#              rc=<payload exit> downtime=<ms|-> iters=<saved>-><at end>
#              smi=<SMI round trips of the payload: saved->at end>
#              pages="<debugfs nested_state_pages of the destination>"
#              faults="<where the destination's userfaults were taken>"
#              tp="<kvm_nested_state_pages events of the destination>"
#              why="<first failure>"
# faults counts the destination's userfaultfd faults (postcopy: the pages
# still on the source) by the kernel stack they were taken on, from a
# kprobe on handle_userfault with a stacktrace trigger: setns (inside
# KVM_SET_NESTED_STATE), request (the deferred nested state pages request,
# at KVM_RUN), run (other faults in KVM_RUN: guest memory), other (QEMU's
# own accesses); tp counts the tracepoint's reasons (ours only).
# mode is the destination's module set (stock, eager, legacy); for mixed
# cells the scenario says where the state came from (mixed-from-stock...).
# shellcheck shell=sh

VMMD=/tmp/vmm
PAYLOAD=/lib/rig/vmm/l1.elf
# Payload arguments: iters=0 runs until "sendkey"; spin keeps L2 busy
# between exits so that stops land in L2.  Each progress line is ~140 port
# I/O exits to QEMU (COM1 and its line status) in L1: under TCG an
# iteration takes ~5 ms, and with every=10 about half the live stops
# landed in L1; every=100 keeps L1's share of the time small.
: "${VMM_APPEND:=iters=0 every=100 spin=2000000}"
# A restored payload must show this many progress lines before it is
# stopped.
VMM_AFTER=2
# Tries of a live cell until its stop lands in L2 (the saved nested state
# has guest mode set).
VMM_L2_TRIES=6
# A cell still running after this many seconds is taken as stuck: what its
# QEMUs do goes to the console before the host, which stops a silent
# emulator, ends the run (rig/vmm.sh sets it below the host's limit).
: "${VMM_STUCK_AFTER:=480}"
PORT=4440

# vmm_qemu NAME EXTRA...: start an inner QEMU in $VMMD/NAME with its
# monitor on a pipe pair (mon.in, mon.out -> mon.log) and COM1 in serial.log.
vmm_qemu()
{
	vq_d=$VMMD/$1
	shift
	rm -rf "$vq_d"
	mkdir -p "$vq_d"
	mkfifo "$vq_d/mon.in" "$vq_d/mon.out"
	# Appending: vmm_mon truncates the log under the running reader.
	cat "$vq_d/mon.out" >>"$vq_d/mon.log" &
	echo $! >"$vq_d/cat.pid"
	qemu-system-x86_64 -accel kvm -cpu host -machine pc,smm=on -smp 1 -m 64 \
		-no-user-config -nodefaults -display none -no-reboot \
		-device isa-debug-exit,iobase=0xf4,iosize=0x04 \
		-kernel "$PAYLOAD" -append "$VMM_APPEND${VMM_CELL_APPEND:+ $VMM_CELL_APPEND}" \
		-serial "file:$vq_d/serial.log" \
		-chardev "pipe,id=mon,path=$vq_d/mon" \
		-mon chardev=mon,mode=readline "$@" \
		</dev/null >"$vq_d/qemu.log" 2>&1 &
	echo $! >"$vq_d/pid"
	vmm_wait_file "$vq_d/mon.log" '(qemu)' 60
}

# vmm_now: whole seconds since boot (init's uptime_s).
vmm_now()
{
	vn_t=$(uptime_s)
	echo "${vn_t%.*}"
}

# vmm_wait_file FILE STRING SECS: wait until FILE contains STRING.
vmm_wait_file()
{
	vw_n=0
	while ! grep -q -F "$2" "$1" 2>/dev/null; do
		[ "$vw_n" -ge $(($3 * 5)) ] && return 1
		sleep 0.2
		vw_n=$((vw_n + 1))
	done
	return 0
}

# vmm_listening PORT: wait (30 s) for a TCP socket listening on PORT.
vmm_listening()
{
	vl_p=$(printf ':%04X 00000000:0000 0A' "$1")
	vl_n=0
	while ! grep -q "$vl_p" /proc/net/tcp; do
		[ "$vl_n" -ge 150 ] && return 1
		sleep 0.2
		vl_n=$((vl_n + 1))
	done
}

# vmm_count FILE STRING: lines of FILE with STRING.
vmm_count()
{
	grep -c -F "$2" "$1" 2>/dev/null || true
}

# vmm_mon NAME CMD: run a monitor command (or several, one a line), its
# output in $VMMD/NAME/out.
# Opening the monitor's FIFO blocks until QEMU reads it: when QEMU is gone
# (a payload that failed exits it), the command is dropped.
vmm_mon()
{
	vm_d=$VMMD/$1
	: >"$vm_d/mon.log"
	: >"$vm_d/out"
	kill -0 "$(cat "$vm_d/pid")" 2>/dev/null || return 0
	# shellcheck disable=SC2016 # expanded by the inner sh
	timeout 10 sh -c 'echo "$1" >"$2"' vmm_mon "$2" "$vm_d/mon.in" ||
		return 0
	# one prompt per command line
	vm_want=$(printf '%s\n' "$2" | wc -l)
	vm_i=0
	while [ "$(grep -o -F '(qemu)' "$vm_d/mon.log" | wc -l)" -lt "$vm_want" ]; do
		[ "$vm_i" -ge 300 ] && break
		sleep 0.2
		vm_i=$((vm_i + 1))
	done
	tr -d '\r' <"$vm_d/mon.log" >"$vm_d/out"
}

# vmm_field NAME KEY: "KEY: value" of the last monitor output.
vmm_field()
{
	sed -n "s/^$2: *//p" "$VMMD/$1/out" | head -n 1
}

# vmm_alive NAME: the QEMU of NAME still runs.
vmm_alive()
{
	kill -0 "$(cat "$VMMD/$1/pid")" 2>/dev/null
}

# vmm_migrated NAME SECS [PEER]: wait for the migration of NAME (either
# side) to end; prints its status.  It has ended, too, when NAME's QEMU or
# the PEER QEMU (a live migration's destination: a payload that failed
# exits it) is gone, and when a postcopy migration paused (its destination
# went away).
vmm_migrated()
{
	# seconds of the clock, not rounds: a QEMU whose monitor does not
	# answer makes each round last a minute
	vd_end=$(($(vmm_now) + $2))
	while :; do
		vmm_alive "$1" || { vd_s="QEMU exited"; break; }
		if [ -n "${3:-}" ] && ! vmm_alive "$3"; then
			vd_s="destination QEMU exited"
			break
		fi
		vmm_mon "$1" "info migrate"
		vd_s=$(vmm_field "$1" "Migration status")
		case $vd_s in
		completed | failed* | cancelled* | postcopy-paused) break ;;
		"")
			# the destination has nothing to say until it starts
			vmm_mon "$1" "info status"
			grep -q -E 'running|paused' "$VMMD/$1/out" &&
				! grep -q inmigrate "$VMMD/$1/out" && vd_s=completed && break
			;;
		esac
		[ "$(vmm_now)" -ge "$vd_end" ] && vd_s="timeout($vd_s)" && break
		sleep 1
	done
	echo "$vd_s"
}

# vmm_rip_in_l2 NAME: 0 if the (stopped) vCPU's RIP is in L2's code, whose
# range the payload printed, or if it is in SMM (only L2 sends SMIs; sets
# insmm).
vmm_rip_in_l2()
{
	vmm_mon "$1" "info registers"
	if grep -q 'SMM=1' "$VMMD/$1/out"; then
		insmm=1
		return 0
	fi
	vr_rip=$(sed -n 's/^RIP=\([0-9a-f]*\) .*/\1/p' "$VMMD/$1/out" | head -n 1)
	vr_range=$(sed -n 's/.*l2_rip=\(0x[0-9a-f]*\)-\(0x[0-9a-f]*\).*/\1 \2/p' \
		"$VMMD/$1/serial.log" | head -n 1)
	echo "VMM-STOP vm=$1 rip=${vr_rip:-?} l2=${vr_range:-?}"
	[ -n "$vr_rip" ] && [ -n "$vr_range" ] || return 1
	# shellcheck disable=SC2086 # two numbers
	set -- $vr_range
	[ $((0x$vr_rip)) -ge $(($1)) ] && [ $((0x$vr_rip)) -lt $(($2)) ]
}

# vmm_stop_in_l2 NAME: stop the VM; until RIP is in L2 (10 tries), run it
# a little longer.  Sets inl2.
vmm_stop_in_l2()
{
	vs_n=0
	inl2=0
	insmm=0
	while :; do
		vmm_mon "$1" stop
		vmm_rip_in_l2 "$1" && inl2=1 && return 0
		[ "$vs_n" -ge 10 ] && return 0
		vmm_mon "$1" cont
		sleep 0.3
		vs_n=$((vs_n + 1))
	done
}

# vmm_running NAME: the payload has started L2 and reported progress.
vmm_running()
{
	vmm_wait_file "$VMMD/$1/serial.log" 'L1PAYLOAD progress' 120
}

# vmm_iter NAME: the last iteration count the payload printed.
vmm_iter()
{
	sed -n 's/^L1PAYLOAD [a-z]* iter=\([0-9]*\).*/\1/p' \
		"$VMMD/$1/serial.log" | tail -n 1
}

# vmm_smi NAME: the SMI round trips of the payload's last progress line.
vmm_smi()
{
	sed -n 's/^L1PAYLOAD [a-z]* iter=.* smi=\([0-9]*\).*/\1/p' \
		"$VMMD/$1/serial.log" | tail -n 1
}

# vmm_pages NAME: the destination VM's nested_state_pages counters (ours).
vmm_pages()
{
	vp_pid=$(cat "$VMMD/$1/pid")
	for vp_f in /sys/kernel/debug/kvm/"$vp_pid"-*/nested_state_pages; do
		[ -r "$vp_f" ] || continue
		tr '\n' ' ' <"$vp_f" | sed 's/: /:/g; s/ $//'
		return 0
	done
	echo "-"
}

TRACE=/sys/kernel/tracing

# vmm_trace_setup: tracefs, and a kprobe on handle_userfault whose every
# hit records its kernel stack.  VMM_TRACE=1 when that works.
vmm_trace_setup()
{
	VMM_TRACE=0
	[ -d "$TRACE/events" ] || mount -t tracefs nodev "$TRACE" 2>/dev/null ||
		return 0
	echo 'p:kvmrig/uffd handle_userfault' >>"$TRACE/kprobe_events" 2>/dev/null ||
		return 0
	echo stacktrace >"$TRACE/events/kvmrig/uffd/trigger" 2>/dev/null || return 0
	echo 4096 >"$TRACE/buffer_size_kb"
	VMM_TRACE=1
}

# vmm_trace_events 0|1: the kprobe and, with our modules, the
# kvm_nested_state_pages tracepoint, less its successful nested VMRUNs
# (reason 2, vmentry: one per L2 iteration).
vmm_trace_events()
{
	vt_tp=$TRACE/events/kvm/kvm_nested_state_pages
	if [ -e "$vt_tp/enable" ]; then
		[ "$1" = 0 ] || echo 'reason != 2 || result != 0' >"$vt_tp/filter"
		echo "$1" >"$vt_tp/enable"
	fi
	echo "$1" >"$TRACE/events/kvmrig/uffd/enable"
}

# vmm_trace_on: start tracing with an empty buffer.
vmm_trace_on()
{
	[ "$VMM_TRACE" = 1 ] || return 0
	echo 0 >"$TRACE/tracing_on"
	: >"$TRACE/trace"
	vmm_trace_events 1
	echo 1 >"$TRACE/tracing_on"
}

# vmm_trace_off FILE: stop tracing, keep the buffer in FILE and set faults
# and tp from it.
vmm_trace_off()
{
	faults=-
	tp=-
	[ "$VMM_TRACE" = 1 ] || return 0
	echo 0 >"$TRACE/tracing_on"
	vmm_trace_events 0
	cat "$TRACE/trace" >"$1"
	: >"$TRACE/trace"
	# shellcheck disable=SC2046 # two words
	set -- $(awk -f /lib/rig/vmm/uffd.awk "$1")
	faults=${1:--}
	tp=${2:--}
}

# vmm_quit NAME: quit QEMU (if still there) and its monitor reader.
vmm_quit()
{
	vq_d=$VMMD/$1
	vq_pid=$(cat "$vq_d/pid")
	if kill -0 "$vq_pid" 2>/dev/null; then
		# shellcheck disable=SC2016 # expanded by the inner sh
		timeout 10 sh -c 'echo quit >"$1"' vmm_quit "$vq_d/mon.in" 2>/dev/null
		sleep 1
		kill -KILL "$vq_pid" 2>/dev/null
	fi
	wait "$vq_pid" 2>/dev/null
	kill "$(cat "$vq_d/cat.pid")" 2>/dev/null
	wait "$(cat "$vq_d/cat.pid")" 2>/dev/null
}

# vmm_finish NAME: let the restored payload run VMM_AFTER progress lines,
# read the counters, stop it with a key and collect its verdict.  Sets rc,
# pages, after, why.
vmm_finish()
{
	vf_d=$VMMD/$1
	rc=-
	pages=-
	after=0
	vf_n=0
	while [ "$(vmm_count "$vf_d/serial.log" 'L1PAYLOAD progress')" -lt "$VMM_AFTER" ]; do
		kill -0 "$(cat "$vf_d/pid")" 2>/dev/null || break
		grep -q 'RESULT=FAIL' "$vf_d/serial.log" && break
		[ "$vf_n" -ge 600 ] && break
		sleep 0.2
		vf_n=$((vf_n + 1))
	done
	pages=$(vmm_pages "$1")
	vmm_mon "$1" "sendkey q"
	vf_pid=$(cat "$vf_d/pid")
	vf_n=0
	while kill -0 "$vf_pid" 2>/dev/null && [ "$vf_n" -lt 300 ]; do
		sleep 0.2
		vf_n=$((vf_n + 1))
	done
	kill -0 "$vf_pid" 2>/dev/null && why="${why:-payload did not stop}"
	kill -KILL "$vf_pid" 2>/dev/null
	wait "$vf_pid"
	rc=$?
	vmm_quit "$1"
	after=$(vmm_iter "$1")
	smi_after=$(vmm_smi "$1")
	if ! grep -q 'RESULT=PASS' "$vf_d/serial.log" || [ "$rc" != 33 ]; then
		why="${why:-$(grep -m1 -E 'RESULT=|exception' "$vf_d/serial.log" ||
			echo "payload rc=$rc, no verdict")}"
	fi
}

# vmm_result MODE SCENARIO: print the cell's line from inl2, tries, rc,
# downtime, before, after, pages, why.
vmm_result()
{
	vr_res=PASS
	[ -n "$why" ] && vr_res=FAIL
	echo "VMM-RESULT mode=$1 scenario=$2 result=$vr_res inl2=$inl2 insmm=${insmm:-0} tries=$tries rc=$rc downtime=${downtime:--} iters=${before:-0}->${after:-0} smi=${smi_before:-0}->${smi_after:-0} pages=\"$pages\" faults=\"$faults\" tp=\"$tp\" why=\"$why\""
	kmark "vmm end mode=$1 scenario=$2 result=$vr_res"
	kmsg_dump "mode=$1 test=vmm-$2"
}

# vmm_source NAME: start the source payload and wait until L2 runs.
vmm_source()
{
	vmm_qemu "$1" || { why="source QEMU did not start: $(head -c 300 "$VMMD/$1/qemu.log")"; return 1; }
	vmm_running "$1" || { why="source payload did not run: $(tail -n 2 "$VMMD/$1/serial.log" "$VMMD/$1/qemu.log" | tr '\n' ' ')"; return 1; }
}

# vmm_src_done NAME STATUS stopped|live: after the migration; sets
# downtime, postreq, before and (for a live migration) inl2 from the
# paused source.
vmm_src_done()
{
	[ "$2" = completed ] || why="${why:-migration $2}"
	downtime=$(vmm_field "$1" "downtime" | sed 's/ .*//')
	# pages the destination asked for (postcopy faults)
	postreq=$(vmm_field "$1" "postcopy request count")
	if [ "$3" = live ]; then
		inl2=0
		insmm=0
		if vmm_rip_in_l2 "$1"; then
			inl2=1
		fi
	fi
	before=$(vmm_iter "$1")
	smi_before=$(vmm_smi "$1")
	vmm_quit "$1"
}

# One attempt of each scenario: ATTEMPT_<scenario> MODE; sets the result
# variables.
attempt_file()
{
	vmm_source "$1-src" || return 0
	vmm_stop_in_l2 "$1-src"
	vmm_mon "$1-src" "migrate \"exec:cat > $VMMD/$1.state\""
	vmm_src_done "$1-src" "$(vmm_migrated "$1-src" 120)" stopped
	[ -n "$why" ] && return 0
	vmm_restore "$1-dst" "$VMMD/$1.state"
}

# vmm_restore NAME FILE: restore FILE into a fresh QEMU and finish it.
vmm_restore()
{
	vmm_qemu "$1" -incoming "exec:cat $2" ||
		{ why="destination QEMU did not start"; return 0; }
	vr_s=$(vmm_migrated "$1" 120)
	[ "$vr_s" = completed ] || { why="restore $vr_s"; vmm_quit "$1"; return 0; }
	vmm_mon "$1" cont
	vmm_finish "$1"
}

# vmm_dest NAME: a destination QEMU listening on 127.0.0.1:$PORT; sets why
# if it does not.
vmm_dest()
{
	if ! vmm_qemu "$1" -incoming "tcp:127.0.0.1:$PORT" ||
		! vmm_listening "$PORT"; then
		why="destination QEMU did not start or listen"
		return 1
	fi
}

attempt_precopy()
{
	PORT=$((PORT + 1))
	vmm_source "$1-src" || return 0
	vmm_dest "$1-dst" || return 0
	vmm_mon "$1-src" "migrate -d tcp:127.0.0.1:$PORT"
	vmm_src_done "$1-src" "$(vmm_migrated "$1-src" 300 "$1-dst")" live
	vmm_live_finish "$1-dst"
}

# vmm_live_finish NAME: finish the destination of a live migration; when
# the migration failed, the payload's verdict (if any) comes first.
vmm_live_finish()
{
	vl_why=$why
	why=
	vmm_finish "$1"
	[ -z "$vl_why" ] || why="${why:+$why; }$vl_why"
}

# precopy with an SMI from L2 every iteration
attempt_smi()
{
	VMM_CELL_APPEND=smi=1
	attempt_precopy "$1"
	VMM_CELL_APPEND=
}

attempt_postcopy()
{
	PORT=$((PORT + 1))
	vmm_source "$1-src" || return 0
	vmm_dest "$1-dst" || return 0
	vmm_mon "$1-dst" "migrate_set_capability postcopy-ram on"
	vmm_mon "$1-src" "migrate_set_capability postcopy-ram on"
	# HMP reads a bare max-bandwidth as MiB/s (max-postcopy-bandwidth as
	# bytes/s): say the unit.
	vmm_mon "$1-src" "migrate_set_parameter max-bandwidth 64k"
	vmm_mon "$1-src" "migrate_set_parameter max-postcopy-bandwidth 256k"
	# In one write: a monitor round trip under a loaded emulator can take
	# seconds, enough for the precopy phase to send L1's working set.
	vmm_mon "$1-src" "migrate -d tcp:127.0.0.1:$PORT
migrate_start_postcopy"
	vmm_src_done "$1-src" "$(vmm_migrated "$1-src" 600 "$1-dst")" live
	vmm_live_finish "$1-dst"
	pages="$pages postcopy_requests:${postreq:--}"
}

# vmm_no_postcopy SCENARIO: true for a postcopy cell whose destination
# took no userfault: it did not migrate in postcopy (the source sent every
# page the destination touched before the switch).
vmm_no_postcopy()
{
	[ "$1" = postcopy ] && [ -z "$why" ] && [ "$VMM_TRACE" = 1 ] &&
		[ "$faults" = - ]
}

# vmm_stuck CELL: print the state, wait channel and kernel stack of every
# thread of the QEMUs still running, then the kernel's blocked tasks
# (SysRq w).
vmm_stuck()
{
	echo "VMM-STUCK cell=$1: still running after ${VMM_STUCK_AFTER}s; its QEMUs:"
	for vk_f in "$VMMD"/*/pid; do
		vk_pid=$(cat "$vk_f")
		grep -q '^qemu' "/proc/$vk_pid/comm" 2>/dev/null || continue
		for vk_t in /proc/"$vk_pid"/task/*; do
			echo "VMM-STUCK $(basename "$(dirname "$vk_f")") tid=${vk_t##*/} $(cat "$vk_t/comm") state=$(sed 's/.*) //; s/ .*//' "$vk_t/stat") wchan=$(cat "$vk_t/wchan")"
			sed 's/^/VMM-STUCK   /' "$vk_t/stack"
		done
	done
	echo w >/proc/sysrq-trigger
	kmsg_dump "vmm stuck cell=$1"
}

# vmm_watchdog CELL: run vmm_stuck CELL after VMM_STUCK_AFTER seconds,
# unless vmm_watchdog_stop comes first.
vmm_watchdog()
{
	(sleep "$VMM_STUCK_AFTER" && vmm_stuck "$1") &
	VMM_WATCHDOG=$!
}

vmm_watchdog_stop()
{
	kill "$VMM_WATCHDOG" 2>/dev/null
	wait "$VMM_WATCHDOG" 2>/dev/null
}

# vmm_cell MODE SCENARIO [FILE]: run a cell, retrying when the stop did not
# land in L2 or a postcopy cell did not run in postcopy.
vmm_cell()
{
	tries=0
	while :; do
		why=
		inl2=0
		insmm=0
		smi_before=
		smi_after=
		rc=-
		downtime=
		before=
		after=
		pages=-
		faults=-
		tp=-
		tries=$((tries + 1))
		kmark "vmm begin mode=$1 scenario=$2 try=$tries"
		vmm_watchdog "$1/$2"
		vmm_trace_on
		case $2 in
		mixed-from-*)
			inl2=$(cat "$3.inl2" 2>/dev/null || echo 0)
			insmm=$(cat "$3.insmm" 2>/dev/null || echo 0)
			before=$(cat "$3.iter" 2>/dev/null || echo 0)
			vmm_restore "$1-$2" "$3"
			;;
		*) "attempt_$2" "$1" ;;
		esac
		vmm_trace_off "$VMMD/$1-$2.trace"
		vmm_watchdog_stop
		if vmm_no_postcopy "$2"; then
			[ "$tries" -lt "$VMM_L2_TRIES" ] && continue
			why="no userfault on the destination in $tries tries: the migration never ran in postcopy"
		fi
		if [ "$inl2" = 1 ] || [ -n "$why" ] || [ "$tries" -ge "$VMM_L2_TRIES" ]; then
			break
		fi
		case $2 in mixed-*) break ;; esac
	done
	if [ "$2" = file ] && [ -z "$why" ]; then
		# kept for the mixed cells
		echo "$inl2" >"$VMMD/$1.state.inl2"
		echo "$insmm" >"$VMMD/$1.state.insmm"
		echo "$before" >"$VMMD/$1.state.iter"
	fi
	vmm_result "$1" "$2"
}

# vmm_wants SCENARIO: SCENARIO is one of VMM_SCENARIOS.
vmm_wants()
{
	case " $VMM_SCENARIOS " in *" $1 "*) return 0 ;; esac
	return 1
}

vmm_mode()
{
	step "vmm mode $1"
	for vm_s in $VMM_SCENARIOS; do
		[ "$vm_s" = mixed ] || vmm_cell "$1" "$vm_s"
	done
}

# vmm_mixed MODE FROM: restore the file state saved under FROM (mixed).
vmm_mixed()
{
	vmm_wants mixed || return 0
	[ -s "$VMMD/$2.state" ] || {
		why="no state saved under $2"
		tries=0 inl2=0 rc=- before='' after='' pages=- downtime='' faults=- tp=-
		vmm_result "$1" "mixed-from-$2"
		return 0
	}
	vmm_cell "$1" "mixed-from-$2" "$VMMD/$2.state"
}

vmm_main()
{
	mkdir -p "$VMMD"
	# precopy and postcopy go over 127.0.0.1
	ip link set lo up 2>/dev/null || ifconfig lo 127.0.0.1 up
	vmm_trace_setup
	: "${VMM_SCENARIOS:=file precopy postcopy mixed smi}"
	echo "VMM-START qemu=\"$(qemu-system-x86_64 --version | head -n 1)\" scenarios=\"$VMM_SCENARIOS\" append=\"$VMM_APPEND\""
	step "load stock"
	load_set stock || return 1
	kmsg_dump "load stock"
	vmm_mode stock
	step "load ours"
	unload_kvm || return 1
	load_set ours || return 1
	kmsg_dump "load ours"
	set_mode eager || return 1
	vmm_mode eager
	vmm_mixed eager stock
	set_mode legacy || return 1
	vmm_mode legacy
	vmm_mixed legacy stock
	vmm_wants mixed || return 0
	step "reload stock"
	unload_kvm || return 1
	load_set stock || return 1
	kmsg_dump "reload stock"
	vmm_mixed stock eager
	vmm_mixed stock legacy
}
