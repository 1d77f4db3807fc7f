// SPDX-License-Identifier: MIT
// A workload whose measured phase makes an exactly known number of I/O syscalls, printed
// up front as JSON so tests can compare a tracer's counts with it and with strace -f -c.
//
// Usage: exact-io [--now] [--threads T] [--iters N]   (defaults T=3, N=200)
//
// Setup makes none of the counted syscalls (read, write, pread64, sendfile, select, poll,
// epoll_wait, accept4): it fills files with pwrite64 and the pipe with writev, and prints
// the JSON line with writev. Linked statically (see Makefile) so ld.so's read/pread64 of
// libc.so.6 do not happen either. Hence under `strace -f -c -- exact-io --now` the whole
// program's counts equal the printed ones, and so do the counts of an attach made while
// it waits for SIGUSR1.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHUNK 4096
#define DATA_SIZE (64 * 1024)
#define DATA_CHUNKS (DATA_SIZE / CHUNK)

static long iters = 200;
static long nthreads = 3;
static int zero_fd, null_fd, data_fd, out_fd, pipe_rd, epfd, listen_fd;
static pthread_barrier_t start_barrier;

// Failure paths may use stdio: they end the run, so a stray write() no longer matters.
static void die(const char *fmt, ...)
{
	int err = errno;
	va_list ap;

	fputs("exact-io: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, ": %s\n", strerror(err));
	_exit(1);
}

static void die_msg(const char *msg)
{
	fprintf(stderr, "exact-io: %s\n", msg);
	_exit(1);
}

static long parse_count(const char *opt, const char *s)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 0 || v > 100000) {
		fprintf(stderr, "exact-io: %s wants an integer in 0..100000, got '%s'\n", opt, s);
		_exit(2);
	}
	return v;
}

static void pread_loop(void)
{
	char buf[CHUNK];

	for (long i = 0; i < iters; i++) {
		ssize_t n = pread(data_fd, buf, CHUNK, (off_t)(i % DATA_CHUNKS) * CHUNK);
		if (n != CHUNK)
			die("pread64 #%ld returned %zd", i, n);
	}
}

static void *pre_created_thread(void *arg)
{
	(void)arg;
	// Blocks in futex only, so nothing counted happens before the measured phase.
	int rc = pthread_barrier_wait(&start_barrier);
	if (rc != 0 && rc != PTHREAD_BARRIER_SERIAL_THREAD) {
		errno = rc;
		die("pthread_barrier_wait");
	}
	pread_loop();
	return NULL;
}

static void *late_thread(void *arg)
{
	(void)arg;
	pread_loop();
	return NULL;
}

// Reads one small /proc file with readv, which is not a counted syscall.
static long read_proc_long(const char *path)
{
	char buf[64];
	struct iovec iov = { buf, sizeof(buf) - 1 };
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		die("open %s", path);
	n = readv(fd, &iov, 1);
	if (n <= 0)
		die("readv %s", path);
	buf[n] = '\0';
	close(fd);
	return strtol(buf, NULL, 10);
}

static void setup_files(void)
{
	char data_path[] = "/tmp/exact-io-data.XXXXXX";
	char out_path[] = "/tmp/exact-io-out.XXXXXX";
	static char pattern[DATA_SIZE];

	zero_fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
	if (zero_fd < 0)
		die("open /dev/zero");
	null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (null_fd < 0)
		die("open /dev/null");

	// Unlinked at once so no run leaves files behind, however it ends.
	data_fd = mkostemp(data_path, O_CLOEXEC);
	if (data_fd < 0)
		die("mkostemp %s", data_path);
	if (unlink(data_path) < 0)
		die("unlink %s", data_path);
	for (size_t i = 0; i < sizeof(pattern); i++)
		pattern[i] = (char)('a' + i % 26);
	for (size_t done = 0; done < sizeof(pattern);) {
		ssize_t n = pwrite(data_fd, pattern + done, sizeof(pattern) - done, (off_t)done);
		if (n <= 0)
			die("pwrite64 data file");
		done += (size_t)n;
	}

	out_fd = mkostemp(out_path, O_CLOEXEC);
	if (out_fd < 0)
		die("mkostemp %s", out_path);
	if (unlink(out_path) < 0)
		die("unlink %s", out_path);
}

static void setup_pipe_and_epoll(void)
{
	int p[2];
	char byte = 'x';
	struct iovec iov = { &byte, 1 };
	struct epoll_event ev = { .events = EPOLLIN };

	if (pipe2(p, O_CLOEXEC) < 0)
		die("pipe2");
	// The byte is never read, so the pipe stays readable: every select/poll/epoll_wait
	// returns 1 at once (epoll is level-triggered by default).
	if (writev(p[1], &iov, 1) != 1)
		die("writev pipe");
	pipe_rd = p[0];

	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0)
		die("epoll_create1");
	ev.data.fd = pipe_rd;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, pipe_rd, &ev) < 0)
		die("epoll_ctl ADD pipe");
}

static void setup_sockets(void)
{
	struct sockaddr_in addr = { .sin_family = AF_INET };
	socklen_t len = sizeof(addr);
	int backlog = (int)iters + 8;
	long somaxconn = read_proc_long("/proc/sys/net/core/somaxconn");
	struct rlimit rl;

	// The kernel caps the backlog at somaxconn; a full accept queue drops SYNs and the
	// blocking connect()s below would stall on retransmits instead of failing.
	if (backlog > somaxconn) {
		fprintf(stderr, "exact-io: --iters %ld needs net.core.somaxconn >= %d (it is %ld)\n",
			iters, backlog, somaxconn);
		_exit(1);
	}
	// N client sockets plus N accepted ones must fit under RLIMIT_NOFILE.
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		die("getrlimit NOFILE");
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			die("setrlimit NOFILE");
	}
	if (rl.rlim_cur != RLIM_INFINITY && (rlim_t)(2 * iters + 32) > rl.rlim_cur)
		die_msg("RLIMIT_NOFILE too low for 2 * iters sockets");

	listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (listen_fd < 0)
		die("socket listener");
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(listen_fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		die("bind 127.0.0.1:0");
	if (listen(listen_fd, backlog) < 0)
		die("listen");
	if (getsockname(listen_fd, (struct sockaddr *)&addr, &len) < 0)
		die("getsockname");

	for (long i = 0; i < iters; i++) {
		int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (c < 0)
			die("socket client #%ld", i);
		if (connect(c, (struct sockaddr *)&addr, sizeof(addr)) < 0)
			die("connect client #%ld", i);
		// Kept open (and leaked on purpose) so the peer stays pending until accept4.
	}
}

static void print_expectation(void)
{
	unsigned long long n = (unsigned long long)iters, t = (unsigned long long)nthreads;
	unsigned long long pread_calls = n + 2 * t * n;
	char line[512];
	struct iovec iov;
	int len;

	len = snprintf(line, sizeof(line),
		       "{\"pid\":%d,\"read\":%llu,\"write\":%llu,\"pread64\":%llu,\"sendfile\":%llu,"
		       "\"select\":%llu,\"poll\":%llu,\"epoll_wait\":%llu,\"accept4\":%llu,"
		       "\"bytes_read\":%llu}\n",
		       (int)getpid(), n, 2 * n, pread_calls, n, n, n, n, n,
		       (n + pread_calls) * CHUNK);
	if (len < 0 || (size_t)len >= sizeof(line))
		die_msg("expectation line does not fit");
	// writev rather than printf: stdio would issue a write(), which is a counted syscall.
	iov.iov_base = line;
	iov.iov_len = (size_t)len;
	if (writev(STDOUT_FILENO, &iov, 1) != len)
		die("writev stdout");
}

static void wait_for_start(const sigset_t *usr1)
{
	for (;;) {
		int sig = sigwaitinfo(usr1, NULL);
		if (sig == SIGUSR1)
			return;
		// A ptrace attach (PTRACE_INTERRUPT) wakes rt_sigtimedwait with EINTR.
		if (sig < 0 && errno == EINTR)
			continue;
		die("sigwaitinfo");
	}
}

static void measured_phase(pthread_t *pre)
{
	static char buf[CHUNK];
	pthread_t *late;
	off_t off;
	pid_t child;
	int status;

	for (long i = 0; i < iters; i++) {
		ssize_t n = read(zero_fd, buf, CHUNK);
		if (n != CHUNK)
			die("read /dev/zero #%ld returned %zd", i, n);
	}
	for (long i = 0; i < iters; i++) {
		ssize_t n = write(null_fd, buf, CHUNK);
		if (n != CHUNK)
			die("write /dev/null #%ld returned %zd", i, n);
	}
	pread_loop();
	for (long i = 0; i < iters; i++) {
		ssize_t n;
		off = (off_t)(i % DATA_CHUNKS) * CHUNK;
		n = sendfile(out_fd, data_fd, &off, CHUNK);
		if (n != CHUNK)
			die("sendfile #%ld returned %zd", i, n);
	}
	for (long i = 0; i < iters; i++) {
		fd_set rfds;
		struct timeval tv = { 5, 0 };
		long n;
		FD_ZERO(&rfds);
		FD_SET(pipe_rd, &rfds);
		// glibc >= 2.33 implements select() with pselect6; call select itself so the
		// syscall counted is the one named.
		n = syscall(SYS_select, pipe_rd + 1, &rfds, NULL, NULL, &tv);
		if (n != 1)
			die("select #%ld returned %ld", i, n);
	}
	for (long i = 0; i < iters; i++) {
		struct pollfd pfd = { .fd = pipe_rd, .events = POLLIN };
		int n = poll(&pfd, 1, 5000);
		if (n != 1)
			die("poll #%ld returned %d", i, n);
	}
	for (long i = 0; i < iters; i++) {
		struct epoll_event ev;
		int n = epoll_wait(epfd, &ev, 1, 5000);
		if (n != 1)
			die("epoll_wait #%ld returned %d", i, n);
	}
	for (long i = 0; i < iters; i++) {
		// Blocking: if a handshake is still being completed the call waits, and it is
		// still exactly one accept4.
		if (accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC) < 0)
			die("accept4 #%ld", i);
	}

	// Release the pre-created threads, then start threads that exist only from here on,
	// so an attached tracer must follow clone3 to see their pread64s.
	{
		int rc = pthread_barrier_wait(&start_barrier);
		if (rc != 0 && rc != PTHREAD_BARRIER_SERIAL_THREAD) {
			errno = rc;
			die("pthread_barrier_wait");
		}
	}
	late = calloc((size_t)nthreads + 1, sizeof(*late));
	if (!late)
		die("calloc");
	for (long i = 0; i < nthreads; i++) {
		int rc = pthread_create(&late[i], NULL, late_thread, NULL);
		if (rc) {
			errno = rc;
			die("pthread_create late #%ld", i);
		}
	}
	for (long i = 0; i < nthreads; i++) {
		int rc = pthread_join(pre[i], NULL);
		if (!rc)
			rc = pthread_join(late[i], NULL);
		if (rc) {
			errno = rc;
			die("pthread_join #%ld", i);
		}
	}

	child = fork();
	if (child < 0)
		die("fork");
	if (child == 0) {
		for (long i = 0; i < iters; i++) {
			if (write(null_fd, buf, CHUNK) != CHUNK)
				die("child write /dev/null #%ld", i);
		}
		_exit(0);
	}
	while (waitpid(child, &status, 0) < 0) {
		if (errno != EINTR)
			die("waitpid %d", (int)child);
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		die_msg("child did not exit 0");
}

int main(int argc, char **argv)
{
	int now = 0;
	sigset_t usr1;
	pthread_t *pre;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--now")) {
			now = 1;
		} else if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
			nthreads = parse_count("--threads", argv[++i]);
		} else if (!strcmp(argv[i], "--iters") && i + 1 < argc) {
			iters = parse_count("--iters", argv[++i]);
		} else {
			fprintf(stderr, "usage: exact-io [--now] [--threads T] [--iters N]\n");
			return 2;
		}
	}

	// Blocked before any thread exists so every thread inherits the mask; otherwise a
	// thread could take SIGUSR1's default action (terminate) instead of sigwaitinfo.
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	if (sigprocmask(SIG_BLOCK, &usr1, NULL) < 0)
		die("sigprocmask");

	setup_files();
	setup_pipe_and_epoll();
	setup_sockets();

	{
		int rc = pthread_barrier_init(&start_barrier, NULL, (unsigned)nthreads + 1);
		if (rc) {
			errno = rc;
			die("pthread_barrier_init");
		}
	}
	pre = calloc((size_t)nthreads + 1, sizeof(*pre));
	if (!pre)
		die("calloc");
	for (long i = 0; i < nthreads; i++) {
		int rc = pthread_create(&pre[i], NULL, pre_created_thread, NULL);
		if (rc) {
			errno = rc;
			die("pthread_create #%ld", i);
		}
	}

	print_expectation();
	if (!now)
		wait_for_start(&usr1);
	measured_phase(pre);
	// _exit, not exit or return: no stdio flush, so nothing counted after the phase.
	_exit(0);
}
