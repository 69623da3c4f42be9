# SPDX-License-Identifier: GPL-2.0
#
# rig/log.awk: the grammar of the rig's serial logs, shared by the parsers
# (rig/report.awk, rig/bench.awk, rig/fuzz-report.awk).  Load it first:
#
#   awk -v ignore_file=rig/splat-ignore -f rig/log.awk -f rig/PARSER.awk ...
#
# (rig_awk in rig/common.sh does).  It defines functions and one BEGIN
# block (the ignore list) and strips the CR of every input line.
#
# Lines: "KEY key=value key=\"a b\" ..." (RIG-*, BENCH-*, FUZZ-*, written by
# rig/init.sh and the tests), and kernel messages, "[ seconds] text", live
# at loglevel 5 or dumped between RIG-KMSG-BEGIN <where> and RIG-KMSG-END.

# The value of key=value in LINE ("" when absent); a "quoted value" loses
# its quotes.
function kv(line, key,    m) {
	if (!match(line, "(^| )" key "=(\"[^\"]*\"|[^ ]*)"))
		return ""
	m = substr(line, RSTART, RLENGTH)
	sub(/^ /, "", m)
	m = substr(m, length(key) + 2)
	gsub(/"/, "", m)
	return m
}

# A kernel message that is a splat (docs/rig.md, "Splat gate"): a warning,
# BUG, oops, lockup, sanitizer (KASAN, UBSAN, KFENCE) or lockdep report,
# sleep in atomic context, RCU warning or stall, list corruption, hung
# task, panic: the debug kernel's reports (rig/debug-kernel.sh) included,
# also those that carry no "WARNING:" or "BUG:" line.  The rig's own
# /dev/kmsg markers ("kvm-rig: ...") never are.
function is_splat(line) {
	return line ~ /^\[ *[0-9]+\.[0-9]+\]/ && line !~ /kvm-rig: / &&
		line ~ RIG_SPLAT_RE
}

# A splat that rig/splat-ignore (ignore_file) lists as an emulator artefact.
function ignored(line,    i) {
	for (i = 1; i <= rig_nignore; i++)
		if (line ~ rig_ignore[i])
			return 1
	return 0
}

BEGIN {
	RIG_SPLAT_RE = "WARNING:|BUG:|kernel BUG at|Oops|general protection fault|" \
		"soft lockup|hard LOCKUP|KASAN|UBSAN|lockdep|" \
		"possible (recursive|circular) locking|inconsistent lock state|" \
		"sleeping function called from invalid context|" \
		"suspicious RCU usage|detected stalls? on CPU|self-detected stall|" \
		"trying to register non-static key|KFENCE|list_(add|del) corruption|" \
		"INFO: task [^ ]+ blocked for more than|Kernel panic"
	if (ignore_file != "") {
		while ((getline rig_l < ignore_file) > 0)
			if (rig_l !~ /^[ \t]*(#|$)/)
				rig_ignore[++rig_nignore] = rig_l
		close(ignore_file)
	}
}

# Serial consoles end lines with CR LF.
{ sub(/\r+$/, "") }
