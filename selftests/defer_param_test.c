// SPDX-License-Identifier: GPL-2.0-only
/*
 * defer_param_test - kvm.defer_nested_state_pages, the module parameter of
 * kvm-nested that chooses between mapping the nested state pages eagerly
 * (N: inside KVM_SET_NESTED_STATE / RSM) and deferring them to the next
 * KVM_RUN (Y: the legacy KVM_REQ_GET_NESTED_STATE_PAGES behaviour).
 *
 * Checks that the parameter exists, is a root-only writable (0644) bool,
 * that writes round-trip and garbage is refused, and that flipping it while
 * a vCPU is between KVM_RUNs does not disturb the guest.  The value found at
 * start is restored on every exit path.
 *
 * Skips when the parameter does not exist (stock kvm.ko).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_util.h"
#include "kvm_util.h"
#include "processor.h"

#define PARAM "/sys/module/kvm/parameters/defer_nested_state_pages"
#define NR_STAGES 6

static char initial_value;

static char param_read(void)
{
	char buf[8] = {};
	ssize_t n;
	int fd;

	fd = open(PARAM, O_RDONLY);
	TEST_ASSERT(fd >= 0, "open(%s, O_RDONLY): expected success, got errno %d",
		    PARAM, errno);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	TEST_ASSERT(n == 2 && buf[1] == '\n' && (buf[0] == 'Y' || buf[0] == 'N'),
		    "read %s: expected \"Y\\n\" or \"N\\n\", got %zd bytes \"%s\"",
		    PARAM, n, buf);
	return buf[0];
}

/* Returns 0 or the errno of the failed write. */
static int param_write(const char *val)
{
	ssize_t n;
	int fd, err = 0;

	fd = open(PARAM, O_WRONLY);
	if (fd < 0)
		return errno;
	n = write(fd, val, strlen(val));
	if (n < 0)
		err = errno;
	close(fd);
	return err;
}

static void param_set(const char *val, char expected)
{
	int err = param_write(val);
	char got;

	TEST_ASSERT(!err, "write \"%s\" to %s: expected success, got errno %d",
		    val, PARAM, err);
	got = param_read();
	TEST_ASSERT(got == expected,
		    "after writing \"%s\": expected %s to read %c, got %c",
		    val, PARAM, expected, got);
}

static void restore_initial_value(void)
{
	char val[2] = { initial_value, 0 };

	if (initial_value)
		param_write(val);
}

static void check_mode(void)
{
	struct stat st;

	TEST_ASSERT(!stat(PARAM, &st), "stat(%s): errno %d", PARAM, errno);
	TEST_ASSERT((st.st_mode & 07777) == 0644,
		    "%s: expected mode 0644 (root-writable only), got %04o",
		    PARAM, st.st_mode & 07777);
	TEST_ASSERT(st.st_uid == 0, "%s: expected owner uid 0, got %u",
		    PARAM, st.st_uid);
}

/* An unprivileged process must not be able to open the parameter for writing. */
static void check_unprivileged_write(void)
{
	int status;
	pid_t pid;

	pid = fork();
	TEST_ASSERT(pid >= 0, "fork: errno %d", errno);
	if (!pid) {
		if (setgid(65534) || setuid(65534))
			_exit(2);
		_exit(open(PARAM, O_WRONLY) < 0 && errno == EACCES ? 0 : 1);
	}
	TEST_ASSERT(waitpid(pid, &status, 0) == pid, "waitpid: errno %d", errno);
	TEST_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) != 2,
		    "could not drop privileges to uid 65534 (status 0x%x)", status);
	TEST_ASSERT(WEXITSTATUS(status) == 0,
		    "uid 65534 opened %s for writing: expected EACCES", PARAM);
}

static void check_round_trip(void)
{
	int err;

	param_set("N", 'N');
	param_set("Y", 'Y');
	param_set("0", 'N');
	param_set("1", 'Y');
	param_set("n\n", 'N');
	param_set("y\n", 'Y');

	err = param_write("maybe");
	TEST_ASSERT(err == EINVAL,
		    "write \"maybe\" to %s: expected EINVAL, got %d", PARAM, err);
	TEST_ASSERT(param_read() == 'Y',
		    "a refused write changed %s: expected it to stay Y", PARAM);
}

static void guest_code(void)
{
	int stage;

	for (stage = 1; stage <= NR_STAGES; stage++)
		GUEST_SYNC(stage);
	GUEST_DONE();
}

/* Flip the parameter between KVM_RUNs; the guest must not notice. */
static void check_flip_while_running(void)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;
	struct ucall uc;
	int stage;

	vm = vm_create_with_one_vcpu(&vcpu, guest_code);

	for (stage = 1;; stage++) {
		vcpu_run(vcpu);
		TEST_ASSERT(vcpu->run->exit_reason == KVM_EXIT_IO,
			    "stage %d: expected KVM_EXIT_IO, got exit reason %u (%s)",
			    stage, vcpu->run->exit_reason,
			    exit_reason_str(vcpu->run->exit_reason));

		switch (get_ucall(vcpu, &uc)) {
		case UCALL_ABORT:
			REPORT_GUEST_ASSERT(uc);
			/* NOT REACHED */
		case UCALL_SYNC:
			TEST_ASSERT(uc.args[1] == stage,
				    "expected guest stage %d, got stage %lu",
				    stage, (unsigned long)uc.args[1]);
			param_set(stage & 1 ? "N" : "Y", stage & 1 ? 'N' : 'Y');
			break;
		case UCALL_DONE:
			TEST_ASSERT(stage == NR_STAGES + 1,
				    "guest done after %d stages, expected %d",
				    stage - 1, NR_STAGES);
			kvm_vm_free(vm);
			return;
		default:
			TEST_FAIL("stage %d: unexpected ucall %lu", stage,
				  (unsigned long)uc.cmd);
		}
	}
}

int main(int argc, char *argv[])
{
	struct stat st;

	__TEST_REQUIRE(!stat(PARAM, &st),
		       "%s does not exist (stock kvm.ko, not kvm-nested?)", PARAM);

	initial_value = param_read();
	atexit(restore_initial_value);

	check_mode();
	check_unprivileged_write();
	check_round_trip();
	check_flip_while_running();

	restore_initial_value();
	TEST_ASSERT(param_read() == initial_value,
		    "expected %s restored to %c", PARAM, initial_value);
	return 0;
}
