// SPDX-License-Identifier: MIT
// A workload that creates and joins many short-lived threads, each making an exactly
// known number of syscalls, so tests can hold a tracer's counts to it and to strace -f -c
// while its per-thread tables see thousands of threads come and go.
//
// Usage: thread-churn [--threads N] [--batch B] [--fds F] [--wait-usr1] [--forever]
//   --threads N   threads to create and join, B at a time (defaults N=1000, B=10)
//   --fds F       then dup2 /dev/zero onto F descriptor numbers from 1000 up (wrapping
//                 below the fd limit) and close each: per-fd table churn
//   --wait-usr1   print the expectation, then wait for SIGUSR1 before starting
//                 (for an attach: the tracers attach while it waits)
//   --forever     churn batches until killed, printing "ran N" (threads so far) after
//                 each (no expectation: a target to attach to)
//
// First line: a JSON object of the calls the churn is about to make (getpid, read,
// nanosleep, dup2, close; main's getpid for the line itself comes before it); last line:
// how many threads ran. Each thread makes 3 getpid, 2
// one-byte reads of /dev/zero and 1 nanosleep of 1 µs, by syscall(2) so libc caches and
// wrappers (clock_nanosleep) do not change the numbers. Linked statically (Makefile).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define GETPIDS 3
#define READS 2
#define SLEEPS 1
#define FD_BASE 1000

static int zero_fd;
static atomic_long ran;

static void die(const char *what)
{
	fprintf(stderr, "thread-churn: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void *worker(void *arg)
{
	char c;
	struct timespec ts = { 0, 1000 };

	(void)arg;
	for (int i = 0; i < GETPIDS; i++)
		syscall(SYS_getpid);
	for (int i = 0; i < READS; i++)
		if (syscall(SYS_read, zero_fd, &c, 1) != 1)
			die("read /dev/zero");
	for (int i = 0; i < SLEEPS; i++)
		syscall(SYS_nanosleep, &ts, NULL);
	atomic_fetch_add(&ran, 1);
	return NULL;
}

static void churn(long n, long batch)
{
	pthread_t t[256];

	for (long done = 0; done < n; done += batch) {
		long k = n - done < batch ? n - done : batch;
		for (long i = 0; i < k; i++) {
			int err = pthread_create(&t[i], NULL, worker, NULL);
			if (err) {
				errno = err;
				die("pthread_create");
			}
		}
		for (long i = 0; i < k; i++)
			pthread_join(t[i], NULL);
	}
}

static long fd_span(void)
{
	struct rlimit r;

	if (getrlimit(RLIMIT_NOFILE, &r) != 0)
		die("getrlimit");
	r.rlim_cur = r.rlim_max;
	setrlimit(RLIMIT_NOFILE, &r);
	getrlimit(RLIMIT_NOFILE, &r);
	if (r.rlim_cur <= FD_BASE + 1)
		return 0;
	return (long)r.rlim_cur - FD_BASE;
}

static void fd_churn(long n, long span)
{
	for (long i = 0; i < n; i++) {
		int fd = FD_BASE + (int)(i % span);
		if (syscall(SYS_dup2, zero_fd, fd) != fd)
			die("dup2");
		if (syscall(SYS_close, fd) != 0)
			die("close");
	}
}

int main(int argc, char **argv)
{
	long n = 1000, batch = 10, fds = 0;
	int wait_usr1 = 0, forever = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--threads") && i + 1 < argc)
			n = atol(argv[++i]);
		else if (!strcmp(argv[i], "--batch") && i + 1 < argc)
			batch = atol(argv[++i]);
		else if (!strcmp(argv[i], "--fds") && i + 1 < argc)
			fds = atol(argv[++i]);
		else if (!strcmp(argv[i], "--wait-usr1"))
			wait_usr1 = 1;
		else if (!strcmp(argv[i], "--forever"))
			forever = 1;
		else {
			fprintf(stderr, "usage: thread-churn [--threads N] [--batch B] [--fds F] [--wait-usr1] [--forever]\n");
			return 2;
		}
	}
	if (n < 0 || batch < 1 || batch > 256 || fds < 0) {
		fprintf(stderr, "thread-churn: need N >= 0, 1 <= B <= 256, F >= 0\n");
		return 2;
	}
	zero_fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
	if (zero_fd < 0)
		die("open /dev/zero");
	long span = fds ? fd_span() : 0;
	if (fds && !span) {
		fprintf(stderr, "thread-churn: the fd limit leaves no room above %d\n", FD_BASE);
		return 1;
	}
	sigset_t usr1;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigprocmask(SIG_BLOCK, &usr1, NULL);

	if (forever) {
		printf("{\"pid\":%d,\"forever\":true}\n", getpid());
		fflush(stdout);
		for (;;) {
			churn(batch, batch);
			if (fds)
				fd_churn(fds, span);
			printf("ran %ld\n", atomic_load(&ran));
			fflush(stdout);
		}
	}
	printf("{\"pid\":%d,\"threads\":%ld,\"getpid\":%ld,\"read\":%ld,\"nanosleep\":%ld,\"dup2\":%ld,\"close\":%ld,\"fd_numbers\":%ld}\n",
	       (int)syscall(SYS_getpid), n, n * GETPIDS, n * READS, n * SLEEPS, fds, fds, fds < span ? fds : span);
	fflush(stdout);
	if (wait_usr1) {
		int sig;
		while (sigwait(&usr1, &sig) != 0)
			;
	}
	churn(n, batch);
	fd_churn(fds, span);
	printf("threads ran: %ld of %ld\n", atomic_load(&ran), n);
	return atomic_load(&ran) == n ? 0 : 1;
}
