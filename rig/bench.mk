# SPDX-License-Identifier: GPL-2.0
#
# `make bench` (docs/bench.md), included by the top-level Makefile.
#
#   make bench KVER=...         stock vs ours (eager, legacy) timings in the
#                               SVM rig, and the host build cost; writes
#                               build/bench/KVER.{txt,json}
#   make bench-icount KVER=...  the guest part only, with instruction-counted
#                               time (QEMU -icount): host load does not move it
#   make bench-smoke KVER=...   one short round: does the benchmark work?
#
# Variables: KVER (required), BENCH_BUILD=0 (skip the host build timing),
# BENCH_FLAGS (more rig/bench.sh options, e.g. --rounds 6).

bench_need_kver = $(if $(KVER),,$(error KVER=<Debian kernel release> is required))

bench: module
	$(bench_need_kver)
	rig/bench.sh $(if $(filter 0,$(BENCH_BUILD)),--build 0) $(BENCH_FLAGS) $(KVER)

bench-icount: module
	$(bench_need_kver)
	rig/bench.sh --icount 0 --build 0 $(BENCH_FLAGS) $(KVER)

bench-smoke: module
	$(bench_need_kver)
	rig/bench.sh --smoke $(BENCH_FLAGS) $(KVER)

.PHONY: bench bench-icount bench-smoke
