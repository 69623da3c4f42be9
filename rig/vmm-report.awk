# SPDX-License-Identifier: GPL-2.0
#
# awk -f rig/vmm-report.awk [-v title=...] [-v hostnote=...] LOG
#
# The table of the real-VMM test (rig/vmm.sh, rig/vmm-test.sh) from the
# serial log: one row per scenario, one column per destination module set,
# each cell "PASS|FAIL" with "L2" when the saved vCPU was in guest mode (L1
# when it was not) and the downtime QEMU reported, as a ratio against the
# stock cell of the same row; then the nested_state_pages counters of each
# cell and the failures.  Failed: a cell that failed, a splat in the kernel
# log (attributed to the cell that ran), a run that did not reach RIG-END or
# a module set that did not load.  Last line: "N passed, N failed".

function val(s, k,    i, r) {
	i = index(s, " " k "=")
	if (!i)
		return ""
	r = substr(s, i + length(k) + 2)
	if (substr(r, 1, 1) == "\"") {
		r = substr(r, 2)
		return substr(r, 1, index(r, "\"") - 1)
	}
	sub(/ .*/, "", r)
	return r
}

BEGIN {
	splat_re = "WARNING:|BUG:|kernel BUG at|Oops|general protection fault|" \
		"soft lockup|hard LOCKUP|KASAN|UBSAN|lockdep|" \
		"possible (recursive|circular) locking|inconsistent lock state|Kernel panic"
	nmodes = split("stock eager legacy", modes, " ")
	cur = "boot"
}

{ sub(/\r$/, "") }

/VMM-START / { started = 1; qemu = val($0, "qemu") }
/RIG-END/ { ended = 1 }
/RIG-MODULES .*status=fail/ { modfail[++nmodfail] = $0 }

/kvm-rig: vmm begin / {
	line = $0
	sub(/.*kvm-rig: vmm begin /, " ", line)
	cur = val(line, "mode") " " val(line, "scenario")
}
/kvm-rig: step / {
	line = $0
	sub(/.*kvm-rig: step /, "", line)
	cur = "step " line
}

/^\[ *[0-9]+\.[0-9]+\]/ && !/kvm-rig: / && $0 ~ splat_re {
	if (!(cur in splat))
		splat[cur] = $0
}

/^VMM-RESULT / {
	m = val($0, "mode")
	s = val($0, "scenario")
	if (!(s in sseen)) {
		sseen[s] = 1
		scen[++nscen] = s
	}
	res[s, m] = val($0, "result")
	inl2[s, m] = val($0, "inl2")
	dt[s, m] = val($0, "downtime")
	iters[s, m] = val($0, "iters")
	tries[s, m] = val($0, "tries")
	pages[s, m] = val($0, "pages")
	why[s, m] = val($0, "why")
}

function cell(s, m,    c, r) {
	if (!((s, m) in res))
		return "-"
	c = res[s, m]
	if ((m " " s) in splat)
		c = "FAIL(splat)"
	c = c " " (inl2[s, m] == 1 ? "L2" : "L1")
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
			printf "%s/%s: payload iterations (saved->end) %s, tries %s, nested_state_pages: %s\n",
				s, m, iters[s, m], tries[s, m], pages[s, m]
			if (res[s, m] == "PASS" && !((m " " s) in splat)) {
				passed++
				continue
			}
			failed++
			if (why[s, m] != "")
				printf "  FAILED %s/%s: %s\n", s, m, why[s, m]
		}
	}
	printf "stops in L2: %d of %d\n", l2, cells
	for (w in splat) {
		printf "splat during %s: %s\n", w, splat[w]
		split(w, wm, " ")
		if (!((wm[2], wm[1]) in res))
			failed++
	}
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
