# SPDX-License-Identifier: GPL-2.0
#
# rig/bench.awk: the table of `make bench` (docs/bench.md).
#
#   awk -f rig/log.awk -f rig/bench.awk -v title=... -v json=OUT.json [-v kver=...]
#       [-v icount=SHIFT] [-v hostnote=...] [-v ignore_file=rig/splat-ignore]
#       LOG BUILDLINES
#
# LOG is the serial console of rig/init.sh in bench mode (BENCH-* lines
# and the kernel log), BUILDLINES the output of rig/bench-build.sh (may be
# empty).
# Round 0 is a warm-up and not counted.  Per benchmark and mode: sample count, median and p99 over all rounds,
# the ratio of medians to stock, the spread of the per-round ratios (each
# round's median over the stock median of the same round), the goal and the
# verdict.  Only instruction-counted time (icount set: QEMU -icount, host
# load does not move it) gives verdicts, "pass" or "OVER"; wall-clock ratios
# swing with the host's load (0.6-1.8 per round with another emulator
# running) and are shown as information ("info"), never judged.  Exit status 1 when the run is incomplete (a benchmark
# or module set failed, a benchmark or mode has no samples, a kernel splat,
# no BENCH-END); a ratio over its goal does not change it.

function isort(a, n,    i, j, t) {
	for (i = 2; i <= n; i++) {
		t = a[i]
		for (j = i - 1; j >= 1 && a[j] > t; j--)
			a[j + 1] = a[j]
		a[j + 1] = t
	}
}

# median and p99 (nearest rank) of the comma-separated list s
function stats(s,    a, n, k) {
	n = split(s, a, ",")
	isort(a, n)
	st_n = n
	st_med = n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	k = int(0.99 * n)
	if (k < 0.99 * n)
		k++
	st_p99 = a[k < 1 ? 1 : k]
}

function err(msg) {
	errors[++nerr] = msg
}

function jstr(s) {
	gsub(/\\/, "\\\\", s)
	gsub(/"/, "\\\"", s)
	gsub(/\t/, " ", s)
	return "\"" s "\""
}

BEGIN {
	nb = split("l1exit l2exit smi restore.ioctl restore.run restore.total", bench, " ")
	nm = split("stock eager legacy", mode, " ")
	what["l1exit"] = "L1 exit round trip (CPUID), ns/exit"
	what["l2exit"] = "L2 VMMCALL handled by L1, ns/exit"
	what["smi"] = "SMI in L2 -> RSM -> L2, ns/round trip"
	what["restore.ioctl"] = "restore: KVM_SET_NESTED_STATE, ns"
	what["restore.run"] = "restore: first KVM_RUN to L2, ns"
	what["restore.total"] = "restore: ioctl + first run, ns"
	for (i = 1; i <= 3; i++) {
		goal[bench[i], "eager"] = goal[bench[i], "legacy"] = 1.02
	}
	goal["restore.total", "eager"] = 1.00
	where = "boot"
}

FNR == NR && /^BENCH-START / { start = $0 }
FNR == NR && /^BENCH-END/ { ended = 1 }
FNR == NR && /^BENCH-MODULES / && / status=fail/ { err("module load failed: " $0) }
FNR == NR && /^BENCH-RUN / {
	r = kv($0, "round") + 0; m = kv($0, "mode")
	if (kv($0, "rc") != 0 && r == 0)
		err("nested_bench failed in the warm-up round, mode " m " (rc " kv($0, "rc") ")")
	else if (kv($0, "rc") != 0)
		err("nested_bench failed in round " r ", mode " m " (rc " kv($0, "rc") ")")
	runsecs[m] += kv($0, "secs")
	if (r > nrounds)
		nrounds = r
}
FNR == NR && /^BENCH-SAMPLES / {
	b = kv($0, "bench"); m = kv($0, "mode"); r = kv($0, "round") + 0
	v = kv($0, "v")
	if (r == 0)		# the warm-up round
		next
	if ((b, m) in samples)
		v = samples[b, m] "," v
	samples[b, m] = v
	v = kv($0, "v")
	stats(v)
	rmed[b, m, r] = st_med
	rounds[r] = 1
}
FNR == NR && /^RIG-KMSG-BEGIN / { where = substr($0, 16) }
FNR == NR && is_splat($0) {
	if (ignored($0))
		ignored_list[++nignored] = where ": " $0
	else
		err("splat during " where ": " $0)
}
FNR == NR && /==== Test Assertion Failure/ { err("nested_bench: " $0) }

FNR != NR && /^BENCH-BUILD / {
	bs = kv($0, "step"); bt = kv($0, "tree")
	if (!(bs in bseen)) {
		bseen[bs] = 1
		bstep[++nbs] = bs
	}
	bsecs[bs, bt] += kv($0, "secs")
	bcount[bs, bt]++
}
FNR != NR && /^BENCH-BUILD-ERROR/ { err($0) }
FNR != NR && /^BENCH-BUILD-REP / { brep = $2 }

END {
	if (!ended)
		err("no BENCH-END: the run did not complete" (hostnote != "" ? " (" hostnote ")" : ""))
	print title
	if (start != "")
		print start
	printf "\n%-40s %-7s %5s %10s %10s %7s %15s %6s %s\n", "benchmark", "mode",
		"n", "median", "p99", "ratio", "rounds: min-max", "goal", "verdict"
	nrow = 0
	for (i = 1; i <= nb; i++) {
		b = bench[i]
		for (j = 1; j <= nm; j++) {
			m = mode[j]
			if (!((b, m) in samples)) {
				err("no samples for " b " in mode " m)
				continue
			}
			stats(samples[b, m])
			med[b, m] = st_med
			row_b[++nrow] = b; row_m[nrow] = m
			row_n[nrow] = st_n; row_med[nrow] = st_med; row_p99[nrow] = st_p99
			ratio = ""; rmin = ""; rmax = ""
			if (m != "stock" && med[b, "stock"] > 0) {
				ratio = st_med / med[b, "stock"]
				for (r in rounds)
					if ((b, m, r) in rmed && rmed[b, "stock", r] > 0) {
						x = rmed[b, m, r] / rmed[b, "stock", r]
						if (rmin == "" || x < rmin) rmin = x
						if (rmax == "" || x > rmax) rmax = x
					}
			}
			g = ((b, m) in goal) ? goal[b, m] : ""
			verdict = ""
			if (g != "" && ratio != "" && icount == "")
				verdict = "info"
			else if (g != "" && ratio != "") {
				verdict = ratio <= g + 0 ? "pass" : "OVER"
				ngoal++
				if (verdict == "OVER")
					nover++
			}
			if (ratio != "")
				ratio = sprintf("%.4f", ratio)
			row_ratio[nrow] = ratio; row_goal[nrow] = g; row_verdict[nrow] = verdict
			row_rmin[nrow] = rmin == "" ? "" : sprintf("%.4f", rmin)
			row_rmax[nrow] = rmax == "" ? "" : sprintf("%.4f", rmax)
			printf "%-40s %-7s %5d %10.0f %10.0f %7s %15s %6s %s\n",
				j == 1 ? what[b] : "", m, st_n, st_med, st_p99,
				ratio == "" ? "-" : ratio,
				rmin == "" ? "-" : row_rmin[nrow] "-" row_rmax[nrow],
				g == "" ? "-" : (g == 1 ? "<=1.00" : "<=" g), verdict == "" ? "-" : verdict
		}
	}
	if (nbs) {
		for (t in bcount)
			bsecs[t] /= bcount[t]
		printf "\n%-40s %12s %12s %7s\n", "host build, s (mean of " brep " runs)",
			"unpatched", "patched", "ratio"
		for (i = 1; i <= nbs; i++) {
			s = bstep[i]
			printf "%-40s %12.1f %12.1f %7s\n", s, bsecs[s, "pristine"], bsecs[s, "patched"],
				(bsecs[s, "pristine"] > 0 ? sprintf("%.3f", bsecs[s, "patched"] / bsecs[s, "pristine"]) : "-")
		}
	}
	printf "\nguest seconds per mode (all rounds):"
	for (j = 1; j <= nm; j++)
		printf " %s %.1f", mode[j], runsecs[mode[j]]
	print ""
	for (i = 1; i <= nignored; i++)
		print "ignored (rig/splat-ignore) during " ignored_list[i]
	for (i = 1; i <= nerr; i++)
		print "ERROR: " errors[i]
	if (icount == "")
		printf "wall-clock ratios are information only (verdicts: make bench-icount); %s\n",
			nerr ? "run INCOMPLETE" : "run complete (" nrounds " rounds)"
	else
		printf "%d of %d ratios within their goal (instruction-counted); %s\n",
			ngoal - nover, ngoal,
			nerr ? "run INCOMPLETE" : "run complete (" nrounds " rounds)"

	if (json != "") {
		printf "{\n  \"kernel\": %s,\n  \"title\": %s,\n  \"rounds\": %d,\n  \"complete\": %s,\n  \"time\": %s,\n",
			jstr(kver), jstr(title), nrounds, (nerr ? "false" : "true"),
			jstr(icount == "" ? "wall-clock" : "icount") > json
		printf "  \"results\": [\n" > json
		for (i = 1; i <= nrow; i++)
			printf "    {\"bench\": %s, \"mode\": %s, \"n\": %d, \"median_ns\": %.0f, \"p99_ns\": %.0f, \"ratio\": %s, \"round_ratio_min\": %s, \"round_ratio_max\": %s, \"goal\": %s, \"verdict\": %s}%s\n",
				jstr(row_b[i]), jstr(row_m[i]), row_n[i], row_med[i], row_p99[i],
				row_ratio[i] == "" ? "null" : row_ratio[i],
				row_rmin[i] == "" ? "null" : row_rmin[i],
				row_rmax[i] == "" ? "null" : row_rmax[i],
				row_goal[i] == "" ? "null" : row_goal[i],
				row_verdict[i] == "" ? "null" : jstr(row_verdict[i]),
				(i < nrow ? "," : "") > json
		printf "  ],\n  \"build_seconds\": [\n" > json
		for (i = 1; i <= nbs; i++)
			printf "    {\"step\": %s, \"unpatched\": %s, \"patched\": %s}%s\n",
				jstr(bstep[i]), bsecs[bstep[i], "pristine"] + 0,
				bsecs[bstep[i], "patched"] + 0, (i < nbs ? "," : "") > json
		printf "  ],\n  \"errors\": [" > json
		for (i = 1; i <= nerr; i++)
			printf "%s%s", (i > 1 ? ", " : ""), jstr(errors[i]) > json
		printf "]\n}\n" > json
		close(json)
	}
	exit nerr ? 1 : 0
}
