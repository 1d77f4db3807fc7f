// SPDX-License-Identifier: MIT
// A workload that hands the syscalls iotrace looks into the worst arguments it can: NULL
// and unmapped pointers, structs that run into a PROT_NONE guard page, valid structs
// that end exactly at one, huge counts; a thread whose name is 15 odd bytes (a newline
// and a fake "Tgid:" line, printf directives, quotes, bytes that are not UTF-8); files
// whose names hold newlines, quotes and non-UTF-8 bytes, one at the end of a path of
// about 3000 bytes, opened and mmapped. iotrace reads the tracee's memory (epoll_event,
// io_uring_params.flags, ioctl's int) and /proc (fd links, status): none of it may
// crash it, get past a buffer, or change what the workload does.
//
// Usage: hostile [--hold] DIR
// Works under DIR (which must exist), prints one JSON line of what it did: per syscall
// the calls made and how many failed, by errno name; the names it used, as hex. Output
// goes through write(2), as in io-setup.c, and holds no pid or address, so a traced run
// prints exactly what an untraced one does. Linked statically (see Makefile).
// --hold: then waits for SIGUSR1 with its files open and its odd thread alive, for a
// tracer (eBPF) that reads /proc links at snapshot time and for `iotrace inspect`.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define PAGE 4096
#define DEEP_LEVELS 12          /* directories of DEEP_NAME_LEN bytes: a path of ~3000 */
#define DEEP_NAME_LEN 250

/* 15 bytes, the most a comm holds. */
static const char kComm[] = "\nTgid:\t1%s\"'\\\xff\xfe";
_Static_assert(sizeof(kComm) == 16, "a comm is 15 bytes and the NUL");
static const char kOddName[] = "odd\nname \"%s\" '\\\t\xc3\xa9.dat";
static const char kBadUtf8Name[] = "bad-\xff\xfe-\xc3(.dat";

struct tally {
	const char *name;
	int calls;
	int efault, einval, other;
};

static struct tally tallies[] = {
	{ .name = "epoll_ctl" }, { .name = "select" }, { .name = "poll" },
	{ .name = "ppoll" }, { .name = "io_uring_setup" }, { .name = "ioctl" },
};
enum { T_EPOLL_CTL, T_SELECT, T_POLL, T_PPOLL, T_URING, T_IOCTL, T_COUNT };

static void die(const char *what)
{
	char line[256];
	int len = snprintf(line, sizeof(line), "hostile: %s: %s\n", what, strerror(errno));
	if (write(2, line, (size_t)len) < 0)
		_exit(2);
	_exit(1);
}

/* One call of tallies[t]: its raw result, with the failure counted by errno. */
static long count(int t, long ret)
{
	tallies[t].calls++;
	if (ret < 0) {
		if (errno == EFAULT)
			tallies[t].efault++;
		else if (errno == EINVAL)
			tallies[t].einval++;
		else
			tallies[t].other++;
	}
	return ret;
}

/* Two pages, read-write then PROT_NONE: an object placed at the end of the first runs
 * into the second. Returns the address of the guard page. */
static char *guarded(void)
{
	char *p = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		die("mmap");
	if (mprotect(p + PAGE, PAGE, PROT_NONE) != 0)
		die("mprotect");
	memset(p, 0, PAGE);
	return p + PAGE;
}

struct odd_args {
	int fd;
	int hold;
	sigset_t *usr1;
	pthread_barrier_t done;     /* its ioctl is counted */
};

static void *odd_thread(void *arg)
{
	struct odd_args *a = arg;
	/* PR_SET_NAME takes 16 bytes with the NUL: all 15 are kept as they are. */
	if (prctl(PR_SET_NAME, kComm, 0, 0, 0) != 0)
		die("prctl");
	if (count(T_IOCTL, syscall(SYS_ioctl, a->fd, FIONBIO, (int *)NULL)) == 0)
		die("ioctl(NULL) succeeded");
	pthread_barrier_wait(&a->done);
	/* Held, it lives on under its name until SIGUSR1 (blocked in every thread). */
	if (a->hold && sigwaitinfo(a->usr1, NULL) != SIGUSR1)
		die("sigwaitinfo");
	return NULL;
}

static void hex(char *out, const char *s)
{
	for (; *s; s++, out += 2)
		sprintf(out, "%02x", (unsigned char)*s);
	*out = '\0';
}

/* Opens dirfd/name for writing (created), writes len bytes, maps it shared: the fd stays
 * open and mapped until exit, so iotrace's fd link is read while it is there. */
static int open_and_map(int dirfd, const char *name, size_t len)
{
	char buf[PAGE];
	int fd = openat(dirfd, name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		die("openat");
	memset(buf, 'x', sizeof(buf));
	if (write(fd, buf, len) != (ssize_t)len)
		die("write");
	if (mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0) == MAP_FAILED)
		die("mmap of a file");
	return fd;
}

int main(int argc, char **argv)
{
	const int hold = argc == 3 && strcmp(argv[1], "--hold") == 0;
	if (argc != 2 + hold) {
		static const char usage[] = "usage: hostile [--hold] DIR\n";
		if (write(2, usage, sizeof(usage) - 1) < 0)
			return 2;
		return 2;
	}
	sigset_t usr1;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	/* Blocked before anything is opened: the SIGUSR1 that ends the hold may come early. */
	if (hold && sigprocmask(SIG_BLOCK, &usr1, NULL) != 0)
		die("sigprocmask");
	char *guard = guarded();
	int pipefd[2];
	if (pipe2(pipefd, O_CLOEXEC) != 0)
		die("pipe2");
	int ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		die("epoll_create1");

	/* epoll_ctl: NULL, the guard page itself, an event whose last 4 bytes are in the
	 * guard page (EFAULT: the kernel copies all 12), then one ending exactly at it (a
	 * success, whose event iotrace reads). A DEL ignores its event pointer. */
	struct epoll_event *ev_end = (struct epoll_event *)(guard - sizeof(struct epoll_event));
	struct epoll_event *ev_straddle = (struct epoll_event *)(guard - sizeof(struct epoll_event) + 4);
	count(T_EPOLL_CTL, syscall(SYS_epoll_ctl, ep, EPOLL_CTL_ADD, pipefd[0], NULL));
	count(T_EPOLL_CTL, syscall(SYS_epoll_ctl, ep, EPOLL_CTL_ADD, pipefd[0], guard));
	count(T_EPOLL_CTL, syscall(SYS_epoll_ctl, ep, EPOLL_CTL_ADD, pipefd[0], ev_straddle));
	ev_end->events = EPOLLIN | EPOLLET;
	count(T_EPOLL_CTL, syscall(SYS_epoll_ctl, ep, EPOLL_CTL_ADD, pipefd[0], ev_end));
	count(T_EPOLL_CTL, syscall(SYS_epoll_ctl, ep, EPOLL_CTL_MOD, pipefd[0], ev_straddle));
	count(T_EPOLL_CTL, syscall(SYS_epoll_ctl, ep, EPOLL_CTL_DEL, pipefd[0], guard));

	/* select with every fd number: sets in the guard page, running into it, NULL. */
	struct timeval zero = { 0, 0 };
	fd_set *set_straddle = (fd_set *)(guard - sizeof(fd_set) / 2);
	count(T_SELECT, syscall(SYS_select, FD_SETSIZE, guard, NULL, NULL, &zero));
	count(T_SELECT, syscall(SYS_select, FD_SETSIZE, set_straddle, set_straddle, guard, &zero));
	count(T_SELECT, syscall(SYS_select, FD_SETSIZE, NULL, NULL, NULL, &zero));
	count(T_SELECT, syscall(SYS_select, -1, NULL, NULL, NULL, &zero));
	count(T_SELECT, syscall(SYS_select, 1, NULL, NULL, NULL, guard));

	/* poll and ppoll: a count beyond RLIMIT_NOFILE, a bad array, one that runs into the guard. */
	struct timespec zero_ts = { 0, 0 };
	struct pollfd *pfd_straddle = (struct pollfd *)(guard - sizeof(struct pollfd));
	pfd_straddle->fd = pipefd[0];
	count(T_POLL, syscall(SYS_poll, guard, 1u << 30, 0));
	count(T_POLL, syscall(SYS_poll, NULL, 1, 0));
	count(T_POLL, syscall(SYS_poll, guard, 1, 0));
	count(T_POLL, syscall(SYS_poll, pfd_straddle, 2, 0));
	count(T_PPOLL, syscall(SYS_ppoll, guard, 1u << 30, &zero_ts, NULL, 8));
	count(T_PPOLL, syscall(SYS_ppoll, NULL, 1, &zero_ts, NULL, 8));
	count(T_PPOLL, syscall(SYS_ppoll, pfd_straddle, 1, guard, NULL, 8));

	/* io_uring_setup: NULL, the guard page, params that run into it. */
	count(T_URING, syscall(SYS_io_uring_setup, 1, NULL));
	count(T_URING, syscall(SYS_io_uring_setup, 1, guard));
	count(T_URING, syscall(SYS_io_uring_setup, 1, guard - sizeof(struct io_uring_params) / 2));

	/* ioctl FIONBIO: the guard page, an int that ends exactly at it (a success). */
	count(T_IOCTL, syscall(SYS_ioctl, pipefd[1], FIONBIO, guard));
	int *on_end = (int *)(guard - sizeof(int));
	*on_end = 1;
	count(T_IOCTL, syscall(SYS_ioctl, pipefd[1], FIONBIO, on_end));

	/* The odd thread makes the NULL ioctl, once its name is set. */
	pthread_t th;
	struct odd_args odd = { .fd = pipefd[1], .hold = hold, .usr1 = &usr1 };
	if (pthread_barrier_init(&odd.done, NULL, 2) != 0)
		die("pthread_barrier_init");
	if (pthread_create(&th, NULL, odd_thread, &odd) != 0)
		die("pthread_create");
	pthread_barrier_wait(&odd.done);
	if (!hold && pthread_join(th, NULL) != 0)
		die("pthread_join");

	/* Files: two odd names in DIR, one at the end of a deep path. */
	int dir = open(argv[1 + hold], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0)
		die("open DIR");
	open_and_map(dir, kOddName, 100);
	open_and_map(dir, kBadUtf8Name, 200);
	char level[DEEP_NAME_LEN + 1];
	memset(level, 'd', DEEP_NAME_LEN);
	level[DEEP_NAME_LEN] = '\0';
	int deep = dir;
	for (int i = 0; i < DEEP_LEVELS; i++) {
		level[0] = (char)('a' + i);
		if (mkdirat(deep, level, 0700) != 0)
			die("mkdirat");
		int next = openat(deep, level, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (next < 0)
			die("openat of a level");
		deep = next;
	}
	open_and_map(deep, kOddName, 300);

	char comm_hex[2 * sizeof(kComm)], odd_hex[2 * sizeof(kOddName)], bad_hex[2 * sizeof(kBadUtf8Name)];
	hex(comm_hex, kComm);
	hex(odd_hex, kOddName);
	hex(bad_hex, kBadUtf8Name);
	char line[4096];
	int len = snprintf(line, sizeof(line), "{\"comm_hex\":\"%s\",\"odd_hex\":\"%s\",\"bad_utf8_hex\":\"%s\",\"deep_levels\":%d,\"deep_name_len\":%d,\"calls\":{",
			   comm_hex, odd_hex, bad_hex, DEEP_LEVELS, DEEP_NAME_LEN);
	for (int t = 0; t < T_COUNT; t++) {
		const struct tally *y = &tallies[t];
		len += snprintf(line + len, sizeof(line) - (size_t)len, "%s\"%s\":{\"calls\":%d,\"EFAULT\":%d,\"EINVAL\":%d,\"other\":%d}",
				t ? "," : "", y->name, y->calls, y->efault, y->einval, y->other);
	}
	len += snprintf(line + len, sizeof(line) - (size_t)len, "}}\n");
	if (write(1, line, (size_t)len) != len)
		die("write");
	if (hold && pthread_join(th, NULL) != 0)
		die("pthread_join");
	return 0;
}
