/* SPDX-License-Identifier: MIT */
/* Lab server for Linux AIO: an epoll level-triggered loop for the sockets,
 * and the GET /file reads submitted with io_submit(IOCB_CMD_PREAD), their
 * completions announced by an eventfd in the epoll set and collected with
 * io_getevents. Raw syscalls and <linux/aio_abi.h>, no libaio.
 *
 * The file is opened with O_DIRECT where the filesystem allows it: only then
 * is the read asynchronous (and DMA'd straight into our buffer); on a
 * buffered fd io_submit does the whole read before it returns (io_submit(2)
 * NOTES), which the server says once on stderr. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/aio_abi.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>

#include "datapath.h"

/* O_DIRECT wants buffer, offset and length aligned to the logical block
 * size (open(2), O_DIRECT); 4096 covers every common device. */
#define ALIGN 4096u

/* One read's buffer. A connection that closes while its read is in flight
 * leaves the slot behind (c = NULL) for the completion to free: the kernel
 * still writes into buf. */
struct aio_slot {
	struct iocb cb;
	struct dp_conn *c;
	int busy;
	size_t pos;          /* file offset of buf[0] */
	size_t next, end;    /* file bytes [next, end) are read and not sent */
	char *buf;           /* DP_CHUNK bytes, ALIGN-aligned */
};

static aio_context_t ctx;
static int aio_fd;       /* the file, O_DIRECT if allowed */

static long io_setup(unsigned nr, aio_context_t *c)
{
	return syscall(SYS_io_setup, nr, c);
}

static long io_submit(aio_context_t c, long n, struct iocb **cbs)
{
	return syscall(SYS_io_submit, c, n, cbs);
}

static long io_getevents(aio_context_t c, long min, long max, struct io_event *ev,
			 struct timespec *ts)
{
	return syscall(SYS_io_getevents, c, min, max, ev, ts);
}

static int submit_read(struct dp_server *s, struct aio_slot *a, size_t off)
{
	struct iocb *cb = &a->cb;
	size_t pos = off & ~(size_t)(ALIGN - 1);
	size_t len = dp_min(DP_CHUNK, s->file_size - pos);

	/* Rounded up to the block: O_DIRECT reads the tail as a short read. */
	len = (len + ALIGN - 1) & ~(size_t)(ALIGN - 1);
	memset(cb, 0, sizeof(*cb));
	cb->aio_data = (__u64)(uintptr_t)a;
	cb->aio_lio_opcode = IOCB_CMD_PREAD;
	cb->aio_fildes = (__u32)aio_fd;
	cb->aio_buf = (__u64)(uintptr_t)a->buf;
	cb->aio_nbytes = len;
	cb->aio_offset = (__s64)pos;
	cb->aio_flags = IOCB_FLAG_RESFD;
	cb->aio_resfd = (__u32)s->xfd;
	if (io_submit(ctx, 1, &cb) != 1) {
		/* EAGAIN here is a full AIO context, not a full socket. */
		if (errno == EAGAIN)
			errno = ENOSPC;
		return -1;
	}
	a->pos = pos;
	a->busy = 1;
	return 0;
}

static ssize_t aio_send(struct dp_server *s, struct dp_conn *c)
{
	struct aio_slot *a = c->priv;
	void *buf;

	if (!a) {
		a = calloc(1, sizeof(*a));
		if (!a)
			return -1;
		if (posix_memalign(&buf, ALIGN, DP_CHUNK) != 0) {
			free(a);
			errno = ENOMEM;
			return -1;
		}
		a->buf = buf;
		a->c = c;
		c->priv = a;
	}
	/* Woken by EPOLLHUP while the read is in flight: keep waiting. */
	if (a->busy) {
		errno = EINPROGRESS;
		return -1;
	}
	/* Only unsent bytes are reused: every answer reads the file again. */
	if (c->body_off == a->next && a->next < a->end) {
		ssize_t n = send(c->fd, a->buf + (a->next - a->pos), a->end - a->next, MSG_NOSIGNAL);

		if (n > 0)
			a->next += (size_t)n;
		return n;
	}
	if (submit_read(s, a, c->body_off) < 0)
		return -1;
	errno = EINPROGRESS;
	return -1;
}

static void aio_done(struct dp_server *s, struct dp_conn *c)
{
	struct aio_slot *a = c->priv;

	(void)s;
	if (!a)
		return;
	c->priv = NULL;
	if (a->busy) {
		a->c = NULL; /* freed by its completion */
		return;
	}
	free(a->buf);
	free(a);
}

/* The eventfd is readable: reset it (eventfd(2): read returns the count and
 * zeroes it), then take every finished read. */
static void aio_complete(struct dp_server *s)
{
	struct io_event ev[64];
	struct timespec zero = { 0, 0 };
	uint64_t count;
	long n;

	if (read(s->xfd, &count, sizeof(count)) < 0 && errno != EAGAIN)
		dp_die("read(eventfd)", errno);
	do {
		n = io_getevents(ctx, 0, 64, ev, &zero);
		if (n < 0) {
			if (errno == EINTR)
				break;
			dp_die("io_getevents", errno);
		}
		for (long i = 0; i < n; i++) {
			struct aio_slot *a = (struct aio_slot *)(uintptr_t)ev[i].data;
			struct dp_conn *c = a->c;
			long res = (long)ev[i].res;

			a->busy = 0;
			if (!c) {
				free(a->buf);
				free(a);
				continue;
			}
			/* A read must reach past body_off, or no progress is made:
			 * an error, or the file shrank. */
			if (res <= 0 || a->pos + (size_t)res <= c->body_off) {
				dp_close(s, c);
				continue;
			}
			a->end = dp_min(a->pos + (size_t)res, s->file_size);
			a->next = c->body_off;
			dp_epoll_step(s, c);
		}
	} while (n == 64);
}

/* Probes O_DIRECT with one synchronous AIO read: some filesystems accept the
 * flag at open and refuse the I/O (EINVAL). Returns the fd to use. */
static int open_direct(const char *path, int buffered_fd)
{
	struct io_event ev;
	struct iocb cb, *cbp = &cb;
	void *buf = NULL;
	int fd, err;

	fd = open(path, O_RDONLY | O_DIRECT | O_CLOEXEC);
	if (fd < 0) {
		err = errno;
		goto fallback;
	}
	err = posix_memalign(&buf, ALIGN, ALIGN);
	if (err)
		goto fallback;
	memset(&cb, 0, sizeof(cb));
	cb.aio_lio_opcode = IOCB_CMD_PREAD;
	cb.aio_fildes = (__u32)fd;
	cb.aio_buf = (__u64)(uintptr_t)buf;
	cb.aio_nbytes = ALIGN;
	if (io_submit(ctx, 1, &cbp) != 1 || io_getevents(ctx, 1, 1, &ev, NULL) != 1) {
		err = errno;
		goto fallback;
	}
	if ((long)ev.res < 0) {
		err = (int)-(long)ev.res;
		goto fallback;
	}
	free(buf);
	close(buffered_fd);
	return fd;
fallback:
	fprintf(stderr, "%s: O_DIRECT refused for %s (%s): buffered AIO, whose reads are "
		"synchronous inside io_submit\n", program_invocation_short_name, path,
		strerror(err));
	free(buf);
	if (fd >= 0)
		close(fd);
	return buffered_fd;
}

static const struct dp_ops aio_ops = {
	.file_send = aio_send,
	.conn_done = aio_done,
	.extra = aio_complete,
};

int main(int argc, char **argv)
{
	static struct dp_server s;

	dp_setup(&s, &aio_ops, argc, argv);
	/* One read in flight per connection at most. */
	if (io_setup(DP_MAX_CONNS, &ctx) < 0)
		dp_die("io_setup", errno);
	aio_fd = open_direct(s.file_path, s.file_fd);
	s.file_fd = aio_fd;
	s.xfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (s.xfd < 0)
		dp_die("eventfd", errno);
	dp_epoll_init(&s);
	return dp_epoll_run(&s);
}
