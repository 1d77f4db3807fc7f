/* SPDX-License-Identifier: MIT */
/* Lab server for asynchronous I/O through io_uring (liburing): accept, recv,
 * send, the GET /file reads and close are all SQEs, and the one thread only
 * sleeps in io_uring_enter for completions; no epoll, poll or select.
 *
 * Usage: io-uring [--sqpoll] [--port P] [--file PATH] [--workers N]
 * --sqpoll (first, before the common options) sets IORING_SETUP_SQPOLL: a
 * kernel thread takes the submissions, so sending them needs no syscall and
 * io_uring_enter is left for waiting (io_uring_setup(2)).
 *
 * SIGTERM and SIGINT end the loop through a completion as well: a read of a
 * signalfd (see dp_stop_fd in datapath.h).
 *
 * Each connection has exactly one operation in flight (a recv, a send or a
 * file read), the next one issued on its completion, so a connection is
 * freed at once when it closes: nothing else can still refer to it. */
#define _GNU_SOURCE
#include <liburing.h>

#include "datapath.h"

#define RING_ENTRIES 1024
#define UD_IGNORE 0ull /* user_data of the closes, whose result is not needed */
#define UD_ACCEPT 1ull /* user_data of the accept */
#define UD_STOP 2ull   /* user_data of the signalfd read; others are struct uconn * */

enum uop { OP_RECV, OP_SEND, OP_READ };

struct uconn {
	enum uop op;         /* the operation in flight */
	char *fbuf;          /* GET /file: DP_CHUNK bytes, allocated on first use */
	size_t fpos;         /* file offset of fbuf[0] */
	size_t fnext, fend;  /* file bytes [fnext, fend) are read and not sent */
	struct dp_conn c;    /* last: it ends with the input buffer */
};

static struct io_uring ring;
static int lfd, file_fd, nconns, accept_armed, accept_paused;
static size_t file_size;

static struct io_uring_sqe *get_sqe(void)
{
	struct io_uring_sqe *sqe;

	/* A full SQ is handed to the kernel; with SQPOLL its thread drains
	 * it, and io_uring_sqring_wait waits for room (a no-op otherwise). */
	while (!(sqe = io_uring_get_sqe(&ring))) {
		int ret = io_uring_submit(&ring);

		if (ret < 0)
			dp_die("io_uring_submit", -ret);
		io_uring_sqring_wait(&ring);
	}
	return sqe;
}

static void arm_accept(void)
{
	struct io_uring_sqe *sqe;

	if (accept_armed || accept_paused || nconns >= DP_MAX_CONNS)
		return;
	sqe = get_sqe();
	io_uring_prep_accept(sqe, lfd, NULL, NULL, SOCK_CLOEXEC);
	io_uring_sqe_set_data64(sqe, UD_ACCEPT);
	accept_armed = 1;
}

static void conn_close(struct uconn *u)
{
	struct io_uring_sqe *sqe = get_sqe();

	io_uring_prep_close(sqe, u->c.fd);
	io_uring_sqe_set_data64(sqe, UD_IGNORE);
	free(u->fbuf);
	free(u);
	nconns--;
	accept_paused = 0;
	arm_accept();
}

static void prep_send(struct uconn *u, const void *buf, size_t len)
{
	struct io_uring_sqe *sqe = get_sqe();

	io_uring_prep_send(sqe, u->c.fd, buf, len, MSG_NOSIGNAL);
	io_uring_sqe_set_data(sqe, u);
	u->op = OP_SEND;
}

/* Issues the connection's next operation: the rest of the answer, the next
 * request's answer, or a recv. */
static void conn_next(struct uconn *u)
{
	struct dp_conn *c = &u->c;
	struct io_uring_sqe *sqe;

	for (;;) {
		if (c->active && c->pre_off < c->pre_len) {
			prep_send(u, c->pre + c->pre_off, c->pre_len - c->pre_off);
			return;
		}
		if (c->active && c->body_off < c->body_len) {
			size_t n = dp_min(DP_CHUNK, c->body_len - c->body_off);

			if (c->body == DP_BODY_PATTERN) {
				prep_send(u, dp_pattern_at(c->body_off), n);
				return;
			}
			if (u->fnext == c->body_off && u->fnext < u->fend) {
				prep_send(u, u->fbuf + (u->fnext - u->fpos), u->fend - u->fnext);
				return;
			}
			/* Each answer reads the file again: nothing is cached. */
			if (!u->fbuf && !(u->fbuf = malloc(DP_CHUNK))) {
				conn_close(u);
				return;
			}
			sqe = get_sqe();
			io_uring_prep_read(sqe, file_fd, u->fbuf, (unsigned)n, c->body_off);
			io_uring_sqe_set_data(sqe, u);
			u->op = OP_READ;
			u->fpos = c->body_off;
			return;
		}
		if (c->active) {
			int close_after = c->close_after;

			dp_answer_end(c);
			if (close_after) {
				conn_close(u);
				return;
			}
			continue;
		}
		if (dp_answer_next(c, file_size))
			continue;
		/* proto_parse calls a full in[] bad, so there is room here. */
		sqe = get_sqe();
		io_uring_prep_recv(sqe, c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len, 0);
		io_uring_sqe_set_data(sqe, u);
		u->op = OP_RECV;
		return;
	}
}

static void conn_complete(struct uconn *u, int res)
{
	struct dp_conn *c = &u->c;

	/* 0 is EOF for a recv and a shrunk file for a read; errors (reset,
	 * EPIPE) end the connection too. */
	if (res <= 0) {
		conn_close(u);
		return;
	}
	switch (u->op) {
	case OP_RECV:
		c->in_len += (size_t)res;
		break;
	case OP_SEND:
		if (c->pre_off < c->pre_len) {
			c->pre_off += (size_t)res;
		} else {
			c->body_off += (size_t)res;
			if (c->body == DP_BODY_FILE)
				u->fnext += (size_t)res;
		}
		break;
	case OP_READ:
		u->fnext = u->fpos;
		u->fend = u->fpos + (size_t)res;
		break;
	}
	conn_next(u);
}

static void accept_complete(int res)
{
	int one = 1;

	accept_armed = 0;
	if (res >= 0) {
		struct uconn *u = malloc(sizeof(*u));

		if (!u) {
			close(res);
		} else {
			memset(u, 0, offsetof(struct uconn, c) + offsetof(struct dp_conn, in));
			u->c.fd = res;
			nconns++;
			/* Heads and bodies are separate sends (see datapath.h). */
			setsockopt(res, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
			conn_next(u);
		}
	} else if (res == -EMFILE || res == -ENFILE || res == -ENOBUFS || res == -ENOMEM) {
		accept_paused = 1; /* until a connection closes */
	}
	arm_accept();
}

int main(int argc, char **argv)
{
	struct io_uring_params params;
	struct lab_opts o;
	static struct signalfd_siginfo stop_info;
	struct io_uring_sqe *sqe;
	off_t size;
	int ret;

	memset(&params, 0, sizeof(params));
	if (argc > 1 && strcmp(argv[1], "--sqpoll") == 0) {
		params.flags |= IORING_SETUP_SQPOLL;
		params.sq_thread_idle = 1000; /* ms before the thread sleeps */
		argv[1] = argv[0];
		argc--;
		argv++;
	}
	lab_parse_args(argc, argv, &o);
	lab_signals();
	proto_fill_pattern(dp_pattern, 0, sizeof(dp_pattern));
	file_fd = lab_open_file(o.file, &size);
	file_size = (size_t)size;
	/* Blocking, like the accepted sockets: io_uring arms its own poll
	 * when an operation cannot finish at once, so O_NONBLOCK buys nothing. */
	lfd = lab_listen(o.port, 0, 0);
	ret = io_uring_queue_init_params(RING_ENTRIES, &ring, &params);
	if (ret < 0)
		dp_die("io_uring_queue_init", -ret);

	sqe = get_sqe();
	io_uring_prep_read(sqe, dp_stop_fd(), &stop_info, sizeof(stop_info), 0);
	io_uring_sqe_set_data64(sqe, UD_STOP);

	lab_announce(lab_port(lfd));
	arm_accept();
	while (!lab_stop) {
		struct io_uring_cqe *cqe;
		unsigned head, seen = 0;

		ret = io_uring_submit_and_wait(&ring, 1);
		if (ret < 0 && ret != -EINTR)
			dp_die("io_uring_enter", -ret);
		io_uring_for_each_cqe(&ring, head, cqe) {
			__u64 ud = io_uring_cqe_get_data64(cqe);

			if (ud == UD_ACCEPT)
				accept_complete(cqe->res);
			else if (ud == UD_STOP && cqe->res < 0)
				dp_die("read(signalfd)", -cqe->res);
			else if (ud == UD_STOP)
				lab_stop = 1;
			else if (ud != UD_IGNORE)
				conn_complete((struct uconn *)(uintptr_t)ud, cqe->res);
			seen++;
		}
		io_uring_cq_advance(&ring, seen);
	}
	io_uring_queue_exit(&ring);
	return 0;
}
