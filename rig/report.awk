# SPDX-License-Identifier: GPL-2.0
#
# awk -f rig/log.awk -f rig/report.awk -v modes="stock eager legacy" \
#     -v title=... [-v ignore_file=rig/splat-ignore] [-v hostnote=...] PLAN LOG
#
# Turns the serial log of one rig run into a table and verdicts.
#   PLAN  "name timeout ours_only known_fail emu_limit stock_bug" per test (vmtest.sh)
#   LOG   the serial console (RIG-* lines of rig/init.sh, kernel messages)
#
# Verdict of each test x mode (docs/rig.md):
#   stock   pass: passed.  fail/timeout: a baseline failure when the test is
#           flagged known-fail, else failed.  skip: not counted.
#           ours-only tests: informational, not counted.
#   eager,  pass: passed.  When stock passed, anything else failed.  When
#   legacy  stock failed too (baseline), not counted; when stock skipped,
#           skip is not counted and a failure failed.  ours-only: only pass
#           passes.  Without a stock run, judged like stock.
#   any     a splat in the kernel log while it ran: failed.
#   stock-bug tests (a stock KVM bug that our series fixes): the stock run,
#           splat included, is a baseline failure; eager and legacy must
#           pass without a splat.
# A result that never came (crash, host timeout) failed.
# Prints the table, notes, and last "N passed, N failed"; exit 1 on failure.

function cell(r, s, f) {
	if (r == "")
		return "-"
	if (r == "PASS" || r == "SKIP")
		r = tolower(r)
	if (f)
		r = r "~"
	return s == "" ? r : sprintf("%s %ss", r, s)
}

function count(v, t, m) {
	verdict[t, m] = v
	if (v == "pass")
		npass++
	else if (v == "fail")
		nfail++
	else if (v == "baseline")
		nbase++
}

function judge(t, m,    r, sr, v) {
	r = res[t, m]
	if (emu[t])
		return "emu"
	if (sbug[t])
		return m == "stock" ? "baseline" : (r == "PASS" && !((t, m) in splat)) ? "pass" : "fail"
	if ((t, m) in splat)
		return "fail"
	if (m == "stock" && ours[t])
		return "info"
	if (r == "")
		return "fail"
	if (m == "stock") {
		if (r == "PASS")
			return "pass"
		if (r == "SKIP")
			return "skip"
		return known[t] ? "baseline" : "fail"
	}
	if (ours[t])
		return r == "PASS" ? "pass" : "fail"
	if (r == "PASS")
		return "pass"
	if (!has_stock) {
		if (r == "SKIP")
			return "skip"
		return known[t] ? "baseline" : "fail"
	}
	sr = res[t, "stock"]
	if (sr == "PASS")
		return "fail"
	if (sr == "SKIP")
		return r == "SKIP" ? "skip" : "fail"
	if (sr == "")
		return "fail"
	return "baseline"
}

BEGIN {
	nmodes = split(modes, mode, " ")
	for (i = 1; i <= nmodes; i++)
		if (mode[i] == "stock")
			has_stock = 1
	label["stock"] = "stock"
	label["eager"] = "ours-eager(N)"
	label["legacy"] = "ours-legacy(Y)"
	where = "boot"
}

# The plan.
FNR == NR {
	ntests++
	name[ntests] = $1
	ours[$1] = $3
	known[$1] = $4
	emu[$1] = $5
	sbug[$1] = $6
	if (length($1) > width)
		width = length($1)
	next
}

/RIG-START / { started = 1; where = "init"; next }
/^RIG-END/ { ended = 1; next }
/^RIG-STEP / { where = "step " substr($0, 10); next }
/^RIG-BEGIN / { where = kv($0, "mode") ":" kv($0, "test"); next }
/^RIG-RESULT / {
	t = kv($0, "test")
	m = kv($0, "mode")
	res[t, m] = kv($0, "result")
	secs[t, m] = kv($0, "secs")
	if (res[t, m] == "PASS" && kv($0, "first") == "FAIL") {
		nflaky++
		flaky[nflaky] = t " (" m ")"
		flakyc[t, m] = 1
	}
	next
}
/^RIG-MODULES / {
	if (kv($0, "status") != "ok") {
		nmodfail++
		modfail[nmodfail] = $0
	} else {
		modok[kv($0, "set")] = $0
	}
	next
}
/^RIG-KMSG-BEGIN / {
	w = substr($0, 16)
	if (w ~ /^mode=/)
		where = kv(w, "mode") ":" kv(w, "test")
	else if (w == "boot")
		where = "boot"
	else
		where = "step " w
	next
}

# Kernel messages (live on the console or dumped) carry a timestamp.
is_splat($0) {
	if (ignored($0)) {
		if (!($0 in ignored_seen))
			ignored_list[++nignored] = where ": " $0
		ignored_seen[$0] = 1
		next
	}
	nsplat++
	if (!(where in splat_first))
		splat_first[where] = $0
	if (index(where, ":") > 0) {
		split(where, wm, ":")
		splat[wm[2], wm[1]] = 1
	} else if (!(where in step_splat)) {
		step_splat[where] = 1
		nstep_splat++
		step_name[nstep_splat] = where
	}
}

END {
	if (width < 4)
		width = 4
	printf "%s\n", title
	printf "%-*s", width, "test"
	for (i = 1; i <= nmodes; i++)
		printf "  %-16s", label[mode[i]]
	printf "  note\n"
	for (j = 1; j <= ntests; j++) {
		t = name[j]
		note = ""
		printf "%-*s", width, t
		for (i = 1; i <= nmodes; i++) {
			m = mode[i]
			v = judge(t, m)
			count(v, t, m)
			c = cell(res[t, m], secs[t, m], (t, m) in flakyc)
			if (emu[t])
				c = "not run"
			else if (res[t, m] == "" && started)
				c = "lost"
			if ((t, m) in splat)
				c = c "+SPLAT"
			else if (v == "fail" && !(c ~ /^FAIL|^TIMEOUT|^MISSING|^lost/))
				c = c "!"
			printf "  %-16s", c
			if ((t, m) in splat)
				note = note " SPLAT(" m ")"
			else if (v == "fail" && m != "stock" && res[t, "stock"] == "PASS")
				note = note " REGRESSION(" m ")"
			else if (v == "fail")
				note = note " FAILED(" m ")"
		}
		if (emu[t])
			note = note " emulator limitation"
		if (ours[t])
			note = note " ours-only"
		if (sbug[t])
			note = note " stock bug (baseline)"
		if (known[t] && has_stock && res[t, "stock"] != "" && res[t, "stock"] != "PASS")
			note = note " baseline failure (known)"
		else if (known[t] && res[t, "stock"] == "PASS")
			note = note " known-fail passed on stock"
		printf " %s\n", note
	}
	for (i = 1; i <= nmodfail; i++) {
		printf "module load failed: %s\n", modfail[i]
		nfail++
	}
	for (i = 1; i <= nstep_splat; i++) {
		printf "splat during %s: %s\n", step_name[i], splat_first[step_name[i]]
		nfail++
	}
	for (w in splat_first)
		if (index(w, ":") > 0) {
			split(w, wm, ":")
			printf "splat during test %s (mode %s): %s\n", wm[2], wm[1], splat_first[w]
		}
	for (i = 1; i <= nignored; i++)
		printf "ignored (rig/splat-ignore) during %s\n", ignored_list[i]
	if (hostnote != "")
		printf "host stopped the emulator: %s\n", hostnote
	if (!started) {
		printf "the guest never reached /init (see the serial log)\n"
		nfail++
	} else if (!ended) {
		printf "the run did not complete (guest crash or hang; see the serial log)\n"
		nfail++
	}
	if (nflaky) {
		printf "%d flaky (failed, then passed on retry; counted as passed):", nflaky
		for (i = 1; i <= nflaky; i++)
			printf " %s", flaky[i]
		printf "\n"
	}
	if (nbase)
		printf "%d baseline failure(s): the test fails with stock modules too; not counted\n", nbase
	if (npass == 0 && nfail == 0) {
		printf "no test passed\n"
		nfail++
	}
	printf "%d passed, %d failed\n", npass, nfail
	exit nfail ? 1 : 0
}
