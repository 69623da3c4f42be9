# SPDX-License-Identifier: GPL-2.0
#
# rig_awk vmm-stats.awk [-v title=...] LOG...
#
# Statistics of repeated real-VMM runs (rig/vmm.sh --repeat): one row per
# cell (scenario/destination mode) over the serial logs given, each log one
# boot: passes, stops in L2 (of them in SMM entered from L2), the tries
# it took to get them, QEMU's downtime (median, min-max) and its
# ratio to the stock cell of the same scenario in the same boot (median,
# min-max), and where the postcopy userfaults of the nested state pages
# were taken.  Information only: the verdicts are the per-run reports'.

function add(arr, key, v) {
	arr[key, ++arr[key, "n"]] = v
}

# "median (min-max)" of the n values arr[key, 1..n], printed with fmt.
function spread(arr, key, fmt,    n, i, j, t, v) {
	n = arr[key, "n"]
	if (!n)
		return "-"
	for (i = 1; i <= n; i++)
		v[i] = arr[key, i] + 0
	for (i = 2; i <= n; i++)
		for (j = i; j > 1 && v[j - 1] > v[j]; j--) {
			t = v[j]
			v[j] = v[j - 1]
			v[j - 1] = t
		}
	t = n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
	return sprintf(fmt " (" fmt "-" fmt ")", t, v[1], v[n])
}

# Ratios of the previous file's cells to its stock cells.
function endfile(    k, s, m) {
	for (k in fdt) {
		split(k, s, SUBSEP)
		m = s[2]
		if (m != "stock" && ((s[1], "stock") in fdt) && fdt[s[1], "stock"] > 0)
			add(ratio, s[1] SUBSEP m, fdt[k] / fdt[s[1], "stock"])
	}
	delete fdt
}

FNR == 1 {
	if (NR > 1)
		endfile()
	runs++
}

/^VMM-RESULT / {
	s = kv($0, "scenario")
	m = kv($0, "mode")
	c = s SUBSEP m
	if (!(c in seen)) {
		seen[c] = 1
		cells[++ncells] = c
	}
	n[c]++
	pass[c] += kv($0, "result") == "PASS"
	l2[c] += kv($0, "inl2") == 1
	smm[c] += kv($0, "insmm") == 1
	tries[c] += kv($0, "tries")
	sn[s] += 1
	sl2[s] += kv($0, "inl2") == 1
	ssmm[s] += kv($0, "insmm") == 1
	if (!(s in sseen)) {
		sseen[s] = 1
		scen[++nscen] = s
	}
	d = kv($0, "downtime")
	if (d ~ /^[0-9]+$/) {
		add(dt, c, d)
		fdt[s, m] = d
	}
	f = kv($0, "faults")
	if (f != "" && f != "-") {
		split(f, fa, /[,:]/)
		for (i = 1; i < length(fa); i += 2)
			uf[c, fa[i]] += fa[i + 1]
		nuf[c]++
	}
}

END {
	endfile()
	if (title != "")
		print title
	printf "%-26s %-5s %-5s %-4s %-5s %-20s %-20s %s\n", "cell (scenario/mode)", "pass",
		"L2", "SMM", "tries", "downtime ms", "ratio to stock",
		"userfaults: setns/request/run/qemu (runs)"
	for (i = 1; i <= ncells; i++) {
		c = cells[i]
		split(c, sm, SUBSEP)
		u = "-"
		if (nuf[c])
			u = sprintf("%d/%d/%d/%d (%d)", uf[c, "setns"], uf[c, "request"],
				    uf[c, "run"], uf[c, "other"], nuf[c])
		printf "%-26s %-5s %-5s %-4s %-5s %-20s %-20s %s\n", sm[1] "/" sm[2],
			pass[c] "/" n[c], l2[c] "/" n[c], smm[c], tries[c],
			spread(dt, c, "%d"), spread(ratio, c, "%.2f"), u
		tl2 += l2[c]
		tsmm += smm[c]
		tn += n[c]
	}
	for (i = 1; i <= nscen; i++)
		printf "  %-18s stops in L2: %d of %d (in SMM entered from L2: %d)\n",
			scen[i], sl2[scen[i]], sn[scen[i]], ssmm[scen[i]]
	printf "%d runs; stops in L2: %d of %d (in SMM entered from L2: %d)\n",
		runs, tl2, tn, tsmm
}
