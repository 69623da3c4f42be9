/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * nested_fuzz.h - the fuzzing driver that nested_state_fuzz.c (SVM) and
 * vmx_nested_state_fuzz.c (VMX) share (nested_fuzz.c): each supplies a
 * struct fuzz_vendor and calls fuzz_main().
 *
 * Arguments (argv wins over the environment):
 *   argv[1] / FUZZ_ITERS       KVM_SET_NESTED_STATE iterations
 *   argv[2] / FUZZ_SEED        seed (decimal or 0x...)
 *   argv[3] / FUZZ_RSM_ITERS   RSM iterations (SMM handler corrupts state)
 *   FUZZ_CHECK_EVERY           valid-restore check period (default 16)
 *   FUZZ_RECREATE              recreate the VM every N iterations (32)
 *   FUZZ_RUN_MS                bound of each KVM_RUN, ms (default 200)
 *   FUZZ_VERBOSE=1             print every iteration's mutations
 *   FUZZ_START                 first iteration number (replay a tail)
 * Every iteration draws from its own generator, seeded from (seed,
 * iteration), so a run replays exactly from its seed and FUZZ_START=i
 * FUZZ_ITERS=1 replays iteration i (on a fresh VM).
 */
#ifndef SELFTEST_KVM_NESTED_FUZZ_H
#define SELFTEST_KVM_NESTED_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvm_util.h"
#include "processor.h"
#include "nested_util.h"

/* The iteration's generator (splitmix64). */
uint64_t rnd(void);
uint64_t rnd_below(uint64_t n);
/* Appends to the iteration's mutation log (printed with failures). */
void mut(const char *fmt, ...) __printf(1, 2);
/* An "interesting" new value for a field of @bytes bytes that holds @old. */
uint64_t fuzz_value(uint64_t old, int bytes);
/* vmcb12/vmcs12 GPAs: unbacked, the APIC page, unaligned, huge, @good +/-. */
uint64_t fuzz_gpa(uint64_t good);
void put_field(void *base, size_t off, int bytes, uint64_t v);
uint64_t get_field(const void *base, size_t off, int bytes);

/* A field of vmcb12, vmcs12 or the SMRAM state-save area. */
struct field {
	const char *name;
	uint16_t off;
	uint8_t bytes;
};

/* What an SMI handler store of an RSM iteration writes. */
enum rsm_kind {
	RSM_OWN,	/* the vendor's rsm_store() */
	RSM_SAVE_AREA,	/* any dword of the SMRAM state-save area */
	RSM_FIELD,	/* a vmcb12/vmcs12 control or save field in guest memory */
	RSM_DWORD,	/* any dword of vmcb12/vmcs12 */
};

/* Guest RAM (slot 0) as it was when the valid state was saved. */
struct mem_snap {
	void *hva, *copy;
	size_t size;
	bool dirty;
};

/* What differs between the SVM and the VMX fuzzer. */
struct fuzz_vm;
struct fuzz_vendor {
	const char *name;		/* "svm", "vmx": FUZZ-* lines */
	const char *prog;
	unsigned long def_iters, def_rsm_iters;	/* the make check run */
	uint32_t format;		/* KVM_STATE_NESTED_FORMAT_* */
	uint64_t l2_exit;		/* L2's VMMCALL/VMCALL exit to L1 */
	const struct nested_vendor *nested;	/* svm_vendor, vmx_vendor */
	void *l1_guest_code;		/* argument: svm_test_data / vmx_pages */
	/* Draws one of the SMI handler's own dword stores (RSM_OWN, the @kind'th). */
	void (*rsm_store)(struct fuzz_vm *f, int kind, uint32_t *addr, uint32_t *val);
	/* vmcb12 / vmcs12 in the nested state: its name, size, fields. */
	const char *blob_name;
	uint32_t blob_size;
	const struct field *ctl_fields, *save_fields;
	int nr_ctl_fields, nr_save_fields;
	const char *or_in;		/* fields whose name has it get bits ORed in too */
	unsigned int hot_bytes;		/* bit flips: half of them in these first bytes */
	/* Mutation @what (3 or 4) of the vendor's header fields (@good_pa: vmcb12/vmcs12). */
	void (*mutate_hdr)(struct kvm_nested_state *ns, int what, uint64_t good_pa);
	/* The kinds of the SMI handler's stores, drawn uniformly. */
	const uint8_t *rsm_kinds;
	int nr_rsm_kinds;
};

struct fuzz_vm {
	const struct fuzz_vendor *v;
	struct kvm_vm *vm;
	struct kvm_vcpu *vcpu;
	uint64_t nested_gpa;	/* vmcb12 / vmcs12 as L1 set it up */
	void *nested_hva;
	struct kvm_x86_state *valid;
	size_t valid_size;
	struct kvm_x86_state *work;
	struct mem_snap snap;
	uint8_t *smram;
};

/*
 * The whole run: ITERS state iterations, then RSM_ITERS RSM iterations,
 * and a last check that the valid state completes.
 */
int fuzz_main(const struct fuzz_vendor *v, int argc, char *argv[]);

#endif /* SELFTEST_KVM_NESTED_FUZZ_H */
