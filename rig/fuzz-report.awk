# SPDX-License-Identifier: GPL-2.0
#
# awk -f rig/log.awk -f rig/fuzz-report.awk -v kernel=KVER -v vendor=svm|vmx -v test=NAME \
#     -v seed=S -v ours=0|1 -v iters=N -v rsm_iters=N \
#     [-v ignore_file=rig/splat-ignore] LOG
#
# The table of a `make fuzz` run (rig/fuzz.sh) from its serial log: per mode
# (stock, eager, legacy) the fuzzer's FUZZ-RESULT lines (state and RSM
# iterations, accepted/rejected), the host splats logged while the fuzzer
# ran (rig/log.awk's gate; rig/splat-ignore applies), and the
# kernel taint before and after it (FUZZ-TAINT, else RIG-RESULT), and how
# often the restored valid state did not complete (FUZZ-DIVERGED; it then
# must complete in a recreated VM, else the fuzzer fails).  Taint
# bits 12 (O, out-of-tree) and 13 (E, unsigned) come from loading our
# modules and are not counted as a change.  Last line: "fuzz: ok" when the
# log is complete (RIG-END), our modules ran both their modes (unless
# ours=0) and each of them ran its ITERS and RSM_ITERS iterations without a
# splat, a taint change or a failure; else "fuzz: FAILED (why)", exit 1.

function masked(t) {
	t = t + 0
	if (int(t / 8192) % 2)
		t -= 8192
	if (int(t / 4096) % 2)
		t -= 4096
	return t
}

BEGIN {
	nm = split("stock eager legacy", modes, " ")
	cur = ""
	last_taint = ""
}

/^RIG-END/ { ended = 1; next }

/^RIG-BEGIN / && kv($0, "test") == test {
	cur = kv($0, "mode")
	seen[cur] = 1
	tb[cur] = last_taint
	next
}
/^RIG-RESULT / {
	m = kv($0, "mode")
	last_taint = kv($0, "taint")
	if (kv($0, "test") == test) {
		res[m] = kv($0, "result")
		ta[m] = last_taint
		cur = ""
	}
	next
}
/^RIG-KMSG-BEGIN / { indump = 1; next }
/^RIG-KMSG-END/ { indump = 0; next }
/FUZZ-RESULT / && cur != "" {
	w = kv($0, "what")
	if (w == "progress")
		next
	div[cur] += kv($0, "diverged")
	if (w == "rsm") {
		rit[cur] = kv($0, "iters")
		racc[cur] = kv($0, "accepted")
		rrej[cur] = kv($0, "rejected")
	} else {
		it[cur] = kv($0, "iters")
		acc[cur] = kv($0, "accepted")
		rej[cur] = kv($0, "rejected")
		fseed[cur] = kv($0, "seed")
		ex[cur] = kv($0, "exits")
	}
	next
}
/FUZZ-DIVERGED / && cur != "" {
	if (!(cur in firstdiv))
		firstdiv[cur] = $0
	next
}
/FUZZ-TAINT / && cur != "" {
	tb[cur] = kv($0, "before")
	next
}
!indump && cur != "" && is_splat($0) {
	if (ignored($0))
		next
	nsp[cur]++
	if (!(cur in first))
		first[cur] = $0
}

END {
	printf "== fuzz %s (%s), %s, seed %s\n", kernel, vendor, test, seed
	printf "%-8s %-7s %-7s %9s %9s %9s %9s %9s %8s %7s %-13s %s\n", "vendor", "mode",
		"result", "iters", "accepted", "rejected", "rsm-iters", "rsm-resume",
		"diverged", "splats", "taint", "verdict"
	bad = 0
	for (i = 1; i <= nm; i++) {
		m = modes[i]
		if (!(m in seen))
			continue
		tchg = tb[m] != "" && ta[m] != "" && masked(ta[m]) != masked(tb[m])
		v = "ok"
		if (res[m] != "PASS")
			v = "FAILED"
		else if (it[m] + 0 < iters + 0 || rit[m] + 0 < rsm_iters + 0)
			v = "SHORT"
		if (nsp[m] + 0)
			v = "SPLAT"
		else if (tchg)
			v = "TAINTED"
		if (m == "stock" && v != "ok")
			v = v " (stock, recorded)"
		else if (m != "stock" && v != "ok")
			bad++
		printf "%-8s %-7s %-7s %9s %9s %9s %9s %9s %8d %7d %-13s %s\n", vendor, m,
			res[m] == "" ? "lost" : res[m], it[m] == "" ? "-" : it[m],
			acc[m] == "" ? "-" : acc[m], rej[m] == "" ? "-" : rej[m],
			rit[m] == "" ? "-" : rit[m], racc[m] == "" ? "-" : racc[m],
			div[m], nsp[m], (tb[m] == "" ? "?" : tb[m]) "->" (ta[m] == "" ? "?" : ta[m]), v
	}
	for (i = 1; i <= nm; i++) {
		m = modes[i]
		if (m in ex)
			printf "exits %s: %s\n", m, ex[m]
		if (m in first)
			printf "first splat %s: %s\n", m, first[m]
		if (m in firstdiv)
			printf "first divergence %s: %s\n", m, firstdiv[m]
	}
	why = ""
	if (!ended)
		why = why "; the log is truncated: no RIG-END"
	if (ours != "0" && !(("eager" in seen) && ("legacy" in seen)))
		why = why "; our modules did not run: no eager or legacy section"
	else if (ours == "0" && !("stock" in seen))
		why = why "; nothing ran"
	if (bad)
		why = why sprintf("; %d of our modes", bad)
	if (why != "") {
		printf "fuzz: FAILED (%s)\n", substr(why, 3)
		exit 1
	}
	print "fuzz: ok"
}
