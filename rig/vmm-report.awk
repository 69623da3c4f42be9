# SPDX-License-Identifier: GPL-2.0
#
# rig_awk vmm-report.awk [-v title=...] [-v hostnote=...] LOG
# (that is, after rig/log.awk, with the splat ignore list)
#
# The table of the real-VMM test (rig/vmm.sh, rig/vmm-test.sh) from the
# serial log: one row per scenario, one column per destination module set,
# each cell "PASS|FAIL" with "L2" when the saved vCPU was in guest mode (L1
# when it was not) and the downtime QEMU reported, as a ratio against the
# stock cell of the same row; then the nested_state_pages counters of each
# cell, where the destination's postcopy faults were served (inside
# KVM_SET_NESTED_STATE or at KVM_RUN) and the failures.  Failed: a cell
# that failed, a splat in the kernel log (attributed to the cell that ran),
# a run that did not reach RIG-END or a module set that did not load.  A
# cell that was stuck has its VMM-STUCK lines (its QEMUs' kernel stacks)
# printed too.
# Last line: "N passed, N failed".

BEGIN {
	nmodes = split("stock eager legacy", modes, " ")
	cur = "boot"
}

/VMM-START / { started = 1; qemu = kv($0, "qemu") }
# what a stuck cell's QEMUs were doing (rig/vmm-test.sh: vmm_stuck)
/^VMM-STUCK / && nstuck < 80 { stuck[++nstuck] = $0 }
/RIG-END/ { ended = 1 }
/RIG-MODULES .*status=fail/ { modfail[++nmodfail] = $0 }

/kvm-rig: vmm begin / {
	line = $0
	sub(/.*kvm-rig: vmm begin /, " ", line)
	cur = kv(line, "mode") " " kv(line, "scenario")
}
/kvm-rig: step / {
	line = $0
	sub(/.*kvm-rig: step /, "", line)
	cur = "step " line
}

is_splat($0) {
	if (ignored($0)) {
		if (!(cur in ign))
			ign[cur] = $0
	} else if (!(cur in splat)) {
		splat[cur] = $0
	}
}

/^VMM-RESULT / {
	m = kv($0, "mode")
	s = kv($0, "scenario")
	if (!(s in sseen)) {
		sseen[s] = 1
		scen[++nscen] = s
	}
	res[s, m] = kv($0, "result")
	inl2[s, m] = kv($0, "inl2")
	insmm[s, m] = kv($0, "insmm")
	smi[s, m] = kv($0, "smi")
	dt[s, m] = kv($0, "downtime")
	iters[s, m] = kv($0, "iters")
	tries[s, m] = kv($0, "tries")
	pages[s, m] = kv($0, "pages")
	why[s, m] = kv($0, "why")
	faults[s, m] = kv($0, "faults")
	tp[s, m] = kv($0, "tp")
}

# "setns:1,request:0,run:5,other:2" -> where the nested pages' faults went.
function where(f,    n, a, i, kvpair, c) {
	n = split(f, a, ",")
	for (i = 1; i <= n; i++) {
		split(a[i], kvpair, ":")
		c[kvpair[1]] = kvpair[2]
	}
	return sprintf("%d in KVM_SET_NESTED_STATE, %d in the nested state pages request at KVM_RUN, %d other in KVM_RUN, %d in QEMU",
		       c["setns"], c["request"], c["run"], c["other"])
}

function cell(s, m,    c, r) {
	if (!((s, m) in res))
		return "-"
	c = res[s, m]
	if ((m " " s) in splat)
		c = "FAIL(splat)"
	c = c " " (insmm[s, m] == 1 ? "SMM" : inl2[s, m] == 1 ? "L2" : "L1")
	if (dt[s, m] != "" && dt[s, m] != "-") {
		c = c " " dt[s, m] "ms"
		if (m != "stock" && ((s, "stock") in dt) && dt[s, "stock"] + 0 > 0)
			c = c sprintf(" x%.2f", dt[s, m] / dt[s, "stock"])
	}
	return c
}

END {
	if (title != "")
		print title
	if (qemu != "")
		print "inner VMM: " qemu
	printf "%-18s", "scenario"
	for (i = 1; i <= nmodes; i++)
		printf " | %-22s", modes[i]
	printf "\n"
	for (j = 1; j <= nscen; j++) {
		s = scen[j]
		printf "%-18s", s
		for (i = 1; i <= nmodes; i++)
			printf " | %-22s", cell(s, modes[i])
		printf "\n"
	}
	print ""
	for (j = 1; j <= nscen; j++) {
		for (i = 1; i <= nmodes; i++) {
			s = scen[j]
			m = modes[i]
			if (!((s, m) in res))
				continue
			cells++
			l2 += inl2[s, m] == 1
			smm += insmm[s, m] == 1
			printf "%s/%s: payload iterations (saved->end) %s, tries %s, nested_state_pages: %s\n",
				s, m, iters[s, m], tries[s, m], pages[s, m]
			if (smi[s, m] != "" && smi[s, m] != "0->0")
				printf "  %s/%s SMI round trips from L2 (saved->end): %s\n",
					s, m, smi[s, m]
			if (faults[s, m] != "" && faults[s, m] != "-")
				printf "  %s/%s userfaults: %s; nested state pages: %s\n",
					s, m, where(faults[s, m]), tp[s, m]
			if (res[s, m] == "PASS" && !((m " " s) in splat)) {
				passed++
				continue
			}
			failed++
			if (why[s, m] != "")
				printf "  FAILED %s/%s: %s\n", s, m, why[s, m]
		}
	}
	printf "stops in L2: %d of %d (in SMM entered from L2: %d)\n", l2, cells, smm
	for (w in splat) {
		printf "splat during %s: %s\n", w, splat[w]
		split(w, wm, " ")
		if (!((wm[2], wm[1]) in res))
			failed++
	}
	for (i = 1; i <= nstuck; i++)
		print stuck[i]
	for (w in ign)
		printf "ignored (rig/splat-ignore) during %s: %s\n", w, ign[w]
	for (i = 1; i <= nmodfail; i++) {
		print "module load failed: " modfail[i]
		failed++
	}
	if (!started) {
		print "the real-VMM test never started"
		failed++
	} else if (!ended) {
		print "the run did not reach RIG-END" (hostnote != "" ? " (" hostnote ")" : "")
		failed++
	}
	if (cells == 0)
		failed++
	printf "%d passed, %d failed\n", passed, failed
	exit failed > 0
}
