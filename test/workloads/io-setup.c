// SPDX-License-Identifier: MIT
// A workload that sets its I/O up in exactly known ways, for the classifier's inputs
// (probes/iotrace.h: struct io_stat, thread_stat.wait_*, eagain_spin, fd_stat.reads,
// sys_stat.max_watched): a select on a known fd set, epoll_ctl registrations with known
// flags, a busy loop of non-blocking recvs that all fail with EAGAIN, O_NONBLOCK/O_ASYNC
// set every way there is, file-backed and anonymous mmaps, MSG_ZEROCOPY sends, two
// io_uring set-ups (one SQPOLL) and one NOP submitted, one Linux AIO read, reads of known
// sizes, one nanosleep.
//
// Usage: io-setup [--now] [--spins M]   (default M=50)
//
// Without --now it prints {"pid":N,"ready":1} and waits for SIGUSR1 (so a tracer can
// attach first), as exact-io does. Everything measured happens after that; at the end it
// prints one JSON line of what it did (the figures that depend on the kernel: mmap
// lengths of the io_uring rings, what MSG_ZEROCOPY sends returned, how many reads the
// TCP receive took), then _exits. Output goes through write(2), never stdio, so no
// hidden ioctl, mmap or fcntl comes from libc. Linked statically (see Makefile).
//
// The EAGAIN loop is last but for the result line: M recvfrom(MSG_DONTWAIT) on an empty
// socketpair end with nothing between them (M-1 spins), one poll, one more recvfrom that
// fails with EAGAIN (not a spin: the poll came between). Nothing after it fails with EAGAIN.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/aio_abi.h>
#include <linux/io_uring.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#ifndef SO_ZEROCOPY
#define SO_ZEROCOPY 60
#endif
#ifndef MSG_ZEROCOPY
#define MSG_ZEROCOPY 0x4000000
#endif

#define SELECT_NFDS 100        /* select's nfds: fd 99 is the highest watched */
#define EPOLL_ET 3             /* ADDs with EPOLLET */
#define EPOLL_PLAIN 2          /* ADDs without it; the first of them with EPOLLEXCLUSIVE */
#define EPOLL_MAXEVENTS 8
#define FILE_LEN (3 * 4096 + 100)
#define ANON_LEN (2 * 4096)
#define ZC_LEN1 3000
#define ZC_LEN2 5000
#define PAIR_READS 3           /* reads of 100, 200, 300 bytes on a socketpair */

static long spins = 50;

static void die(const char *fmt, ...)
{
	int err = errno;
	va_list ap;

	fputs("io-setup: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, ": %s\n", strerror(err));
	_exit(1);
}

static void say(const char *line, size_t len)
{
	struct iovec iov = { (void *)line, len };
	if (writev(STDOUT_FILENO, &iov, 1) != (ssize_t)len)
		die("writev stdout");
}

static void wait_for_start(void)
{
	sigset_t usr1;

	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	for (;;) {
		int sig = sigwaitinfo(&usr1, NULL);
		if (sig == SIGUSR1)
			return;
		// A ptrace attach (PTRACE_INTERRUPT) wakes rt_sigtimedwait with EINTR.
		if (sig < 0 && errno == EINTR)
			continue;
		die("sigwaitinfo");
	}
}

static int listen_loopback(struct sockaddr_in *addr)
{
	socklen_t len = sizeof(*addr);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		die("socket listener");
	memset(addr, 0, sizeof(*addr));
	addr->sin_family = AF_INET;
	addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)addr, sizeof(*addr)) < 0)
		die("bind");
	if (listen(fd, 4) < 0)
		die("listen");
	if (getsockname(fd, (struct sockaddr *)addr, &len) < 0)
		die("getsockname");
	return fd;
}

int main(int argc, char **argv)
{
	int now = 0;
	char line[1024];
	static char buf[16384];
	int len;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--now")) {
			now = 1;
		} else if (!strcmp(argv[i], "--spins") && i + 1 < argc) {
			spins = strtol(argv[++i], NULL, 10);
			if (spins < 1 || spins > 100000) {
				fprintf(stderr, "io-setup: --spins wants 1..100000\n");
				return 2;
			}
		} else {
			fprintf(stderr, "usage: io-setup [--now] [--spins M]\n");
			return 2;
		}
	}
	if (!now) {
		sigset_t usr1;
		sigemptyset(&usr1);
		sigaddset(&usr1, SIGUSR1);
		if (sigprocmask(SIG_BLOCK, &usr1, NULL) < 0)
			die("sigprocmask");
		len = snprintf(line, sizeof(line), "{\"pid\":%d,\"ready\":1}\n", (int)getpid());
		say(line, (size_t)len);
		wait_for_start();
	}
	// O_ASYNC below is set on a socket that never becomes ready; should it, SIGIO
	// must not end the process.
	signal(SIGIO, SIG_IGN);

	// --- select on a known set: nfds = SELECT_NFDS.
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		die("pipe2");
	if (dup2(p[0], SELECT_NFDS - 1) < 0)
		die("dup2");
	{
		fd_set rfds;
		struct timeval tv = { 0, 0 };
		FD_ZERO(&rfds);
		FD_SET(p[0], &rfds);
		FD_SET(SELECT_NFDS - 1, &rfds);
		// glibc implements select() with pselect6: call select itself.
		if (syscall(SYS_select, SELECT_NFDS, &rfds, NULL, NULL, &tv) < 0)
			die("select");
	}

	// --- epoll: EPOLL_ET ADDs with EPOLLET, EPOLL_PLAIN without (one EPOLLEXCLUSIVE),
	// one MOD to EPOLLONESHOT, one DEL, one ADD that fails (EEXIST), one epoll_wait.
	int epfd = epoll_create1(EPOLL_CLOEXEC);
	int evfds[EPOLL_ET + EPOLL_PLAIN];
	if (epfd < 0)
		die("epoll_create1");
	for (int i = 0; i < EPOLL_ET + EPOLL_PLAIN; i++) {
		struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 0x1122334455667788ull + (unsigned)i };
		evfds[i] = eventfd(0, EFD_CLOEXEC);
		if (evfds[i] < 0)
			die("eventfd");
		if (i < EPOLL_ET)
			ev.events |= EPOLLET;
		else if (i == EPOLL_ET)
			ev.events |= EPOLLEXCLUSIVE;
		if (epoll_ctl(epfd, EPOLL_CTL_ADD, evfds[i], &ev) < 0)
			die("epoll_ctl ADD #%d", i);
	}
	{
		struct epoll_event ev = { .events = EPOLLIN | EPOLLONESHOT };
		struct epoll_event evs[EPOLL_MAXEVENTS];
		if (epoll_ctl(epfd, EPOLL_CTL_MOD, evfds[EPOLL_ET + 1], &ev) < 0)
			die("epoll_ctl MOD");
		if (epoll_ctl(epfd, EPOLL_CTL_DEL, evfds[0], NULL) < 0)
			die("epoll_ctl DEL");
		ev.events = EPOLLIN | EPOLLET;
		if (epoll_ctl(epfd, EPOLL_CTL_ADD, evfds[1], &ev) == 0 || errno != EEXIST)
			die("epoll_ctl ADD of a registered fd did not fail with EEXIST");
		if (epoll_wait(epfd, evs, EPOLL_MAXEVENTS, 0) < 0)
			die("epoll_wait");
	}

	// --- O_NONBLOCK and O_ASYNC, every way: socket(SOCK_NONBLOCK), accept4(SOCK_NONBLOCK),
	// fcntl(F_SETFL), ioctl(FIONBIO/FIOASYNC); F_SETOWN, F_SETOWN_EX, F_SETSIG.
	struct sockaddr_in addr;
	int lfd = listen_loopback(&addr);
	int quiet = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (quiet < 0)
		die("socket SOCK_NONBLOCK");
	int cli = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (cli < 0)
		die("socket client");
	if (connect(cli, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		die("connect");
	// The listener blocks: if the handshake is not done yet, accept4 waits.
	int srv = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (srv < 0)
		die("accept4");
	{
		int fl = fcntl(quiet, F_GETFL);
		struct f_owner_ex owner = { .type = F_OWNER_TID, .pid = (pid_t)syscall(SYS_gettid) };
		int on = 1, off = 0;
		if (fl < 0 || fcntl(quiet, F_SETFL, fl | O_NONBLOCK | O_ASYNC) < 0)
			die("fcntl F_SETFL");
		if (fcntl(quiet, F_SETOWN, getpid()) < 0)
			die("fcntl F_SETOWN");
		if (fcntl(quiet, F_SETOWN_EX, &owner) < 0)
			die("fcntl F_SETOWN_EX");
		if (fcntl(quiet, F_SETSIG, SIGIO) < 0)
			die("fcntl F_SETSIG");
		if (fcntl(quiet, F_SETSIG, 0) < 0)   // back to SIGIO: not counted
			die("fcntl F_SETSIG 0");
		if (ioctl(quiet, FIONBIO, &on) < 0)
			die("ioctl FIONBIO 1");
		if (ioctl(quiet, FIOASYNC, &on) < 0)
			die("ioctl FIOASYNC 1");
		if (ioctl(quiet, FIOASYNC, &off) < 0)  // not counted
			die("ioctl FIOASYNC 0");
		// The accepted socket back to blocking for the reads below: not counted.
		if (ioctl(srv, FIONBIO, &off) < 0)
			die("ioctl FIONBIO 0");
		// A failed one is not counted either.
		if (ioctl(quiet, FIONBIO, (int *)8) == 0 || errno != EFAULT)
			die("ioctl FIONBIO with a bad pointer did not fail with EFAULT");
	}

	// --- mmap: one shared read-only mapping of the file (counted), one private (not: the
	// loader maps libraries that way), one anonymous (not), one of the file with PROT_EXEC
	// (not; it may fail on a noexec /tmp), one that fails (not).
	char path[] = "/tmp/io-setup.XXXXXX";
	int file = mkostemp(path, O_CLOEXEC);
	int exec_map;
	if (file < 0)
		die("mkostemp");
	if (unlink(path) < 0)
		die("unlink");
	memset(buf, 'f', sizeof(buf));
	if (pwrite(file, buf, FILE_LEN, 0) != FILE_LEN)
		die("pwrite");
	{
		void *m = mmap(NULL, FILE_LEN, PROT_READ, MAP_SHARED, file, 0);
		void *priv = mmap(NULL, FILE_LEN, PROT_READ, MAP_PRIVATE, file, 0);
		void *a = mmap(NULL, ANON_LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		void *x = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE, file, 0);
		if (m == MAP_FAILED || a == MAP_FAILED || priv == MAP_FAILED)
			die("mmap");
		exec_map = x == MAP_FAILED ? -errno : 0;
		if (mmap(NULL, 4096, PROT_READ, MAP_SHARED, 12345, 0) != MAP_FAILED)
			die("mmap of a bad fd succeeded");
	}
	// One read of the file: fd_stat.reads 1.
	if (pread(file, buf, 4096, 0) != 4096)
		die("pread");

	// --- MSG_ZEROCOPY: one sendto, one sendmsg, on the connected TCP socket; the
	// accepted end reads them back (blocking, MSG_WAITALL).
	int zc_opt = 0, one = 1;
	long zc1, zc2, tcp_reads = 0, tcp_bytes = 0;
	if (setsockopt(cli, SOL_SOCKET, SO_ZEROCOPY, &one, sizeof(one)) < 0)
		zc_opt = -errno;
	zc1 = sendto(cli, buf, ZC_LEN1, MSG_ZEROCOPY, NULL, 0);
	if (zc1 < 0)
		zc1 = -errno;
	{
		struct iovec iov = { buf, ZC_LEN2 };
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
		zc2 = sendmsg(cli, &msg, MSG_ZEROCOPY);
		if (zc2 < 0)
			zc2 = -errno;
	}
	{
		long want = (zc1 > 0 ? zc1 : 0) + (zc2 > 0 ? zc2 : 0);
		while (tcp_bytes < want) {
			ssize_t n = recvfrom(srv, buf, (size_t)(want - tcp_bytes), MSG_WAITALL, NULL, NULL);
			if (n <= 0)
				die("recvfrom TCP");
			tcp_bytes += n;
			tcp_reads++;
		}
	}

	// --- reads of known sizes on a socketpair, then one that returns 0 (end of file).
	int sp[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
		die("socketpair");
	for (int i = 1; i <= PAIR_READS; i++)
		if (write(sp[1], buf, (size_t)(100 * i)) != 100 * i)
			die("write socketpair");
	if (shutdown(sp[1], SHUT_WR) < 0)
		die("shutdown");
	for (int i = 1; i <= PAIR_READS; i++)
		if (read(sp[0], buf, (size_t)(100 * i)) != 100 * i)
			die("read socketpair #%d", i);
	if (read(sp[0], buf, 100) != 0)
		die("read socketpair at end of file");

	// The busy-polling socket, created here so that its number is no closed ring's.
	int spin[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, spin) < 0)
		die("socketpair spin");

	// --- Linux AIO: io_setup, one pread submitted, io_getevents, io_destroy.
	{
		aio_context_t ctx = 0;
		struct iocb cb, *cbs[1] = { &cb };
		struct io_event ev;
		if (syscall(SYS_io_setup, 4, &ctx) < 0)
			die("io_setup");
		memset(&cb, 0, sizeof(cb));
		cb.aio_lio_opcode = IOCB_CMD_PREAD;
		cb.aio_fildes = (unsigned)file;
		cb.aio_buf = (unsigned long)buf;
		cb.aio_nbytes = 4096;
		if (syscall(SYS_io_submit, ctx, 1, cbs) != 1)
			die("io_submit");
		if (syscall(SYS_io_getevents, ctx, 1, 1, &ev, NULL) != 1)
			die("io_getevents");
		if (syscall(SYS_io_destroy, ctx) < 0)
			die("io_destroy");
	}

	// --- io_uring: a ring with flags 0 that submits one NOP (mapping its rings, which
	// are file-backed mmaps of the ring fd), one with IORING_SETUP_SQPOLL; both closed.
	long ring_mmaps = 0, ring_mmap_bytes = 0, uring_submitted;
	{
		struct io_uring_params prm;
		memset(&prm, 0, sizeof(prm));
		int ring = (int)syscall(SYS_io_uring_setup, 4, &prm);
		if (ring < 0)
			die("io_uring_setup");
		size_t sq_len = prm.sq_off.array + prm.sq_entries * sizeof(__u32);
		size_t cq_len = prm.cq_off.cqes + prm.cq_entries * sizeof(struct io_uring_cqe);
		size_t sqe_len = prm.sq_entries * sizeof(struct io_uring_sqe);
		int single = (prm.features & IORING_FEAT_SINGLE_MMAP) != 0;
		if (single && cq_len > sq_len)
			sq_len = cq_len;
		char *sq = mmap(NULL, sq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring, IORING_OFF_SQ_RING);
		char *cq = sq;
		struct io_uring_sqe *sqes;
		if (sq == MAP_FAILED)
			die("mmap SQ ring");
		ring_mmaps++;
		ring_mmap_bytes += (long)sq_len;
		if (!single) {
			cq = mmap(NULL, cq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring, IORING_OFF_CQ_RING);
			if (cq == MAP_FAILED)
				die("mmap CQ ring");
			ring_mmaps++;
			ring_mmap_bytes += (long)cq_len;
		}
		sqes = mmap(NULL, sqe_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring, IORING_OFF_SQES);
		if (sqes == MAP_FAILED)
			die("mmap SQEs");
		ring_mmaps++;
		ring_mmap_bytes += (long)sqe_len;
		{
			__u32 *tail = (__u32 *)(sq + prm.sq_off.tail);
			__u32 mask = *(__u32 *)(sq + prm.sq_off.ring_mask);
			__u32 *array = (__u32 *)(sq + prm.sq_off.array);
			__u32 t = *tail, idx = t & mask;
			memset(&sqes[idx], 0, sizeof(sqes[idx]));
			sqes[idx].opcode = IORING_OP_NOP;
			array[idx] = idx;
			__atomic_store_n(tail, t + 1, __ATOMIC_RELEASE);
		}
		uring_submitted = syscall(SYS_io_uring_enter, ring, 1, 1, IORING_ENTER_GETEVENTS, NULL, 0);
		if (uring_submitted != 1)
			die("io_uring_enter returned %ld", uring_submitted);
		(void)cq;
		if (close(ring) < 0)
			die("close ring");

		memset(&prm, 0, sizeof(prm));
		prm.flags = IORING_SETUP_SQPOLL;
		prm.sq_thread_idle = 10;
		ring = (int)syscall(SYS_io_uring_setup, 4, &prm);
		if (ring < 0)
			die("io_uring_setup SQPOLL");
		if (close(ring) < 0)
			die("close SQPOLL ring");
	}

	// --- one sleep (class sleep: not stopped on by run mode's seccomp filter).
	{
		struct timespec ts = { 0, 1000000 };
		if (syscall(SYS_nanosleep, &ts, NULL) < 0)
			die("nanosleep");
	}

	// --- busy polling: M recvfrom on an empty socket, each EAGAIN at once.
	long eagains = 0;
	for (long i = 0; i < spins; i++) {
		if (recvfrom(spin[0], buf, 64, MSG_DONTWAIT, NULL, NULL) >= 0 || errno != EAGAIN)
			die("recvfrom on an empty socket did not fail with EAGAIN");
		eagains++;
	}
	{
		struct pollfd pfd = { .fd = spin[0], .events = POLLIN };
		if (poll(&pfd, 1, 0) != 0)
			die("poll on an empty socket");
	}
	if (recvfrom(spin[0], buf, 64, MSG_DONTWAIT, NULL, NULL) >= 0 || errno != EAGAIN)
		die("recvfrom after poll did not fail with EAGAIN");
	eagains++;

	len = snprintf(line, sizeof(line),
		       "{\"pid\":%d,\"spins\":%ld,\"eagains\":%ld,\"selectNfds\":%d,\"epollEt\":%d,\"epollPlain\":%d,"
		       "\"epollMaxevents\":%d,\"fileLen\":%d,\"execMap\":%d,\"ringMmaps\":%ld,\"ringMmapBytes\":%ld,"
		       "\"zcOpt\":%d,\"zc1\":%ld,\"zc2\":%ld,\"tcpReads\":%ld,\"tcpBytes\":%ld,\"uringSubmitted\":%ld,"
		       "\"pairReads\":%d,\"fds\":{\"pair\":%d,\"spin\":%d,\"file\":%d,\"tcp\":%d}}\n",
		       (int)getpid(), spins, eagains, SELECT_NFDS, EPOLL_ET, EPOLL_PLAIN, EPOLL_MAXEVENTS, FILE_LEN,
		       exec_map, ring_mmaps, ring_mmap_bytes, zc_opt, zc1, zc2, tcp_reads, tcp_bytes, uring_submitted,
		       PAIR_READS, sp[0], spin[0], file, srv);
	if (len < 0 || (size_t)len >= sizeof(line))
		die("result line does not fit");
	say(line, (size_t)len);
	_exit(0);
}
