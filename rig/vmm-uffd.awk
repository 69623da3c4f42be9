# SPDX-License-Identifier: GPL-2.0
#
# awk -f vmm-uffd.awk TRACE: run in the rig guest by rig/vmm-test.sh on the
# tracefs buffer of one destination QEMU.  Prints two words:
#   setns:N,request:N,run:N,other:N
#       the userfaultfd faults (kprobe kvmrig/uffd on handle_userfault,
#       each followed by its kernel stack) by where they were taken: inside
#       KVM_SET_NESTED_STATE, in the deferred nested state pages request of
#       KVM_RUN, elsewhere in KVM_RUN (guest memory), elsewhere (QEMU)
#   set_nested_state:N,legacy_request:N,...
#       the reasons of the kvm_nested_state_pages events ("-" if none)
# Both are "-" when the buffer holds no fault, resp. no event.

function flush() {
	if (!infault)
		return
	if (stack ~ / [a-z_0-9]*set_nested_state[.a-z_0-9]* /)
		where = "setns"
	else if (stack ~ / [a-z_0-9]*get_nested_state_pages[.a-z_0-9]* /)
		where = "request"
	else if (stack ~ / kvm_arch_vcpu_ioctl_run /)
		where = "run"
	else
		where = "other"
	n[where]++
	infault = 0
	stack = ""
}

/^ => / {
	if (infault) {
		fn = $2
		sub(/\+.*/, "", fn)
		stack = stack " " fn " "
	}
	next
}

# A kprobe hit ("uffd: (handle_userfault+0x0/0x...)"), then its stack.
/ uffd: \(handle_userfault/ {
	flush()
	infault = 1
	nfaults++
	next
}

/<stack trace>/ { next }

{ flush() }

/ kvm_nested_state_pages: / {
	for (i = 1; i < NF; i++)
		if ($i == "reason")
			r[$(i + 1)]++
}

END {
	flush()
	f = "-"
	if (nfaults)
		f = sprintf("setns:%d,request:%d,run:%d,other:%d",
			    n["setns"], n["request"], n["run"], n["other"])
	t = ""
	for (k in r)
		t = t (t == "" ? "" : ",") k ":" r[k]
	print f, (t == "" ? "-" : t)
}
