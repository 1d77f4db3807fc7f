/* SPDX-License-Identifier: MIT */
/* The connection engine of the signal-driven, io-uring, linux-aio, copy,
 * sendfile, splice, mmap and copy-file-range lab servers: protocol answers, a readiness-driven
 * step per connection and an epoll level-triggered loop, with the GET /file
 * body left to a hook so that each server shows exactly one data path.
 *
 * Sockets are read with recv(2) and answered with send(2); only a data path
 * hook may call read/write/pread, so in `strace -c` those names belong to the
 * served file's path alone. Includers define _GNU_SOURCE (accept4,
 * program_invocation_short_name). */
#ifndef IOTRACE_LAB_DATAPATH_H
#define IOTRACE_LAB_DATAPATH_H

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include "proto.h"

/* Connections served at once; more wait in the listen backlog. */
#define DP_MAX_CONNS 1024
/* Connections are found by fd (si_fd of signal-driven I/O); a splice server
 * holds 3 fds per connection, so 4096 covers DP_MAX_CONNS. */
#define DP_FD_MAX 4096
/* Largest piece of a body moved by one call. */
#define DP_CHUNK (64u << 10)
/* Calls made for one connection before the loop serves the others. */
#define DP_BUDGET 64

enum dp_body { DP_BODY_NONE, DP_BODY_PATTERN, DP_BODY_FILE };

/* What a connection waits for after dp_step. */
enum dp_wait {
	DP_CLOSED,   /* it was closed */
	DP_WAIT_IN,  /* the socket to become readable */
	DP_WAIT_OUT, /* the socket to become writable */
	DP_WAIT_EXT, /* the data path's own completion, which steps it again */
	DP_AGAIN,    /* nothing: its budget ran out, step it again soon */
};

struct dp_conn {
	int fd;
	int active;            /* an answer is being sent */
	int close_after;       /* close once it is out (Connection: close, 400) */
	size_t in_len;         /* bytes in in[] */
	size_t consumed;       /* bytes of in[] that the current request used */
	const char *pre;       /* the answer's prefix: echo bytes, head or 400 */
	size_t pre_len, pre_off;
	enum dp_body body;
	size_t body_len, body_off;
	unsigned events;       /* epoll interest set now */
	int again;             /* on the server's again list */
	struct dp_conn *next_again, *next_dead;
	void *priv;            /* the data path's per-connection state */
	char head[160];
	char in[PROTO_MAX_REQUEST];
};

struct dp_server;

struct dp_ops {
	/* Moves file bytes from c->body_off on (at most DP_CHUNK) toward the
	 * socket; returns how many reached the socket, or -1 with errno EAGAIN
	 * (socket full), EINPROGRESS (the data path calls dp_step on its
	 * completion) or anything else (the connection is closed). */
	ssize_t (*file_send)(struct dp_server *s, struct dp_conn *c);
	/* Frees c->priv when c closes; may be NULL. */
	void (*conn_done)(struct dp_server *s, struct dp_conn *c);
	/* s->xfd, registered in the epoll set, is readable. */
	void (*extra)(struct dp_server *s);
};

struct dp_server {
	const struct dp_ops *ops;
	int lfd;                /* listener, non-blocking */
	int epfd;               /* -1 when the server does not wait in epoll */
	int xfd;                /* extra fd for ops->extra, or -1 */
	int sfd;                /* signalfd for SIGTERM and SIGINT */
	const char *file_path;
	int file_fd;
	size_t file_size;
	int nconns;
	int accepting;          /* 0 while at DP_MAX_CONNS or out of fds */
	struct dp_conn *again;  /* to step again before waiting long */
	struct dp_conn *dead;   /* closed; freed by dp_reap after the batch */
	struct dp_conn *conns[DP_FD_MAX];
};

/* Every GET /<size> body is read out of this: the pattern has period 26,
 * so dp_pattern + off % 26 holds DP_CHUNK body bytes from offset off. */
static char dp_pattern[DP_CHUNK + 26];

static inline const char *dp_pattern_at(size_t off)
{
	return dp_pattern + off % 26;
}

static inline size_t dp_min(size_t a, size_t b)
{
	return a < b ? a : b;
}

/* Set-up failures end the server: there is nothing to serve without it. */
static inline void dp_die(const char *step, int err)
{
	fprintf(stderr, "%s: %s: %s\n", program_invocation_short_name, step, strerror(err));
	exit(1);
}

/* Parses the next request in c->in and sets up its answer; returns 1, or 0
 * if no complete request is there yet. */
static inline int dp_answer_next(struct dp_conn *c, size_t file_size)
{
	struct req r;

	if (c->in_len == 0)
		return 0;
	proto_parse(c->in, c->in_len, &r);
	c->pre_off = 0;
	c->body = DP_BODY_NONE;
	c->body_len = 0;
	c->body_off = 0;
	switch (r.kind) {
	case REQ_INCOMPLETE:
		return 0;
	case REQ_ECHO:
		/* Sent straight from in[]: nothing is read while answering. */
		c->pre = c->in;
		c->pre_len = r.consumed;
		break;
	case REQ_HTTP_SIZE:
	case REQ_HTTP_FILE:
		c->body = r.kind == REQ_HTTP_FILE ? DP_BODY_FILE : DP_BODY_PATTERN;
		c->body_len = r.kind == REQ_HTTP_FILE ? file_size : r.size;
		c->pre = c->head;
		c->pre_len = proto_http_head(c->head, sizeof(c->head), c->body_len,
					     r.keep_alive);
		break;
	case REQ_BAD:
		c->pre = PROTO_HTTP_400;
		c->pre_len = strlen(PROTO_HTTP_400);
		r.consumed = c->in_len; /* nothing after a bad request is answered */
		r.keep_alive = 0;
		break;
	}
	c->consumed = r.consumed;
	c->close_after = !r.keep_alive;
	c->active = 1;
	return 1;
}

/* The answer is out: drop its request from in[]. */
static inline void dp_answer_end(struct dp_conn *c)
{
	c->in_len -= c->consumed;
	memmove(c->in, c->in + c->consumed, c->in_len);
	c->consumed = 0;
	c->active = 0;
}

static inline struct dp_conn *dp_conn_new(int fd)
{
	struct dp_conn *c = malloc(sizeof(*c));

	if (!c)
		return NULL;
	memset(c, 0, offsetof(struct dp_conn, in));
	c->fd = fd;
	return c;
}

static inline void dp_close(struct dp_server *s, struct dp_conn *c)
{
	if (c->fd < 0)
		return;
	if (s->ops->conn_done)
		s->ops->conn_done(s, c);
	s->conns[c->fd] = NULL;
	close(c->fd); /* also leaves the epoll set: no dup of it exists */
	c->fd = -1;
	c->next_dead = s->dead;
	s->dead = c;
	s->nconns--;
}

/* Frees the connections closed since the last call; a batch of events or
 * the again list may still point at them until then. */
static inline void dp_reap(struct dp_server *s)
{
	while (s->dead) {
		struct dp_conn *c = s->dead;

		s->dead = c->next_dead;
		free(c);
	}
}

/* Accepts one connection; NULL with errno EAGAIN when none is waiting, or
 * another errno (EMFILE, or EBUSY at DP_MAX_CONNS) when the caller should
 * stop accepting until a connection closes. */
static inline struct dp_conn *dp_accept(struct dp_server *s)
{
	int one = 1;

	if (s->nconns >= DP_MAX_CONNS) {
		errno = EBUSY;
		return NULL;
	}
	for (;;) {
		int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			/* accept(2): a connection reset in the backlog is not ours. */
			if (errno == ECONNABORTED || errno == EPROTO)
				continue;
			return NULL;
		}
		if (fd >= DP_FD_MAX) {
			close(fd);
			errno = EMFILE;
			return NULL;
		}
		/* Heads and bodies are separate sends: without this, Nagle holds
		 * a short body back until the head is acknowledged (tcp(7)). */
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		struct dp_conn *c = dp_conn_new(fd);
		if (!c) {
			close(fd);
			errno = ENOMEM;
			return NULL;
		}
		s->conns[fd] = c;
		s->nconns++;
		return c;
	}
}

/* Sends the next piece of the answer with one call; returns bytes sent,
 * 0 when the answer is complete, or -1 with errno. */
static inline ssize_t dp_send_some(struct dp_server *s, struct dp_conn *c)
{
	ssize_t n;

	if (c->pre_off < c->pre_len) {
		n = send(c->fd, c->pre + c->pre_off, c->pre_len - c->pre_off, MSG_NOSIGNAL);
		if (n > 0)
			c->pre_off += (size_t)n;
		return n;
	}
	if (c->body_off >= c->body_len)
		return 0;
	if (c->body == DP_BODY_PATTERN)
		n = send(c->fd, dp_pattern_at(c->body_off),
			 dp_min(DP_CHUNK, c->body_len - c->body_off), MSG_NOSIGNAL);
	else
		n = s->ops->file_send(s, c);
	if (n == 0) {
		errno = EPIPE; /* no progress on a non-empty body: give up on it */
		return -1;
	}
	if (n > 0)
		c->body_off += (size_t)n;
	return n;
}

/* Serves c until it would block: answers the requests in in[] in order,
 * then reads more. Input is read only while no answer is pending, so a
 * client that does not read its answers is held back by TCP flow control. */
static inline enum dp_wait dp_step(struct dp_server *s, struct dp_conn *c)
{
	if (c->fd < 0)
		return DP_CLOSED;
	for (int calls = 0; calls < DP_BUDGET; calls++) {
		ssize_t n;

		if (c->active) {
			n = dp_send_some(s, c);
			if (n > 0)
				continue;
			if (n == 0) {
				int close_after = c->close_after;

				dp_answer_end(c);
				if (close_after)
					goto close;
				continue;
			}
			if (errno == EAGAIN)
				return DP_WAIT_OUT;
			if (errno == EINPROGRESS)
				return DP_WAIT_EXT;
			goto close;
		}
		if (dp_answer_next(c, s->file_size))
			continue;
		/* proto_parse calls a full in[] bad, so there is room here. */
		n = recv(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len, 0);
		if (n > 0) {
			c->in_len += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EAGAIN)
			return DP_WAIT_IN;
		goto close; /* EOF (a partial request is dropped) or an error */
	}
	return DP_AGAIN;
close:
	dp_close(s, c);
	return DP_CLOSED;
}

/* The 2-copy data path, used by copy and signal-driven: pread(2) copies the
 * file into a per-connection buffer, write(2) copies it to the socket. The
 * file is shared by all connections, so pread, not read + lseek. */
struct dp_copybuf {
	size_t pos;       /* file offset of data[0] */
	size_t next, end; /* file bytes [next, end) are in data[], not yet sent */
	char data[DP_CHUNK];
};

static inline ssize_t dp_copy_send(struct dp_server *s, struct dp_conn *c)
{
	struct dp_copybuf *b = c->priv;
	size_t off = c->body_off;
	ssize_t n;

	if (!b) {
		b = malloc(sizeof(*b));
		if (!b)
			return -1;
		c->priv = b;
		b->next = b->end = 0;
	}
	/* Only unsent bytes are reused: every answer reads the file again,
	 * as a server without a cache would. */
	if (off != b->next || b->next == b->end) {
		n = pread(s->file_fd, b->data, dp_min(DP_CHUNK, c->body_len - off), (off_t)off);
		if (n == 0)
			errno = EIO; /* the file shrank since it was opened */
		if (n <= 0)
			return -1;
		b->pos = b->next = off;
		b->end = off + (size_t)n;
	}
	n = write(c->fd, b->data + (b->next - b->pos), b->end - b->next);
	if (n > 0)
		b->next += (size_t)n;
	return n;
}

static inline void dp_priv_free(struct dp_server *s, struct dp_conn *c)
{
	(void)s;
	free(c->priv);
	c->priv = NULL;
}

/* Opens the file, the non-blocking listener and SIGTERM handling common to
 * all the servers here. */
static inline void dp_setup(struct dp_server *s, const struct dp_ops *ops, int argc, char **argv)
{
	struct lab_opts o;
	off_t size;

	lab_parse_args(argc, argv, &o);
	lab_signals();
	proto_fill_pattern(dp_pattern, 0, sizeof(dp_pattern));
	s->ops = ops;
	s->epfd = -1;
	s->xfd = -1;
	s->accepting = 1;
	s->file_path = o.file;
	s->file_fd = lab_open_file(o.file, &size);
	s->file_size = (size_t)size;
	s->lfd = lab_listen(o.port, 0, 1);
}

/* Blocks SIGTERM and SIGINT and returns a signalfd that becomes readable
 * when one comes: the loops wait for it like for any fd, so a stop is seen
 * whenever it lands. (A handler plus epoll_pwait's mask would be lost under
 * load: epoll_pwait leaves the signal pending when events are ready, and
 * liburing restarts an interrupted io_uring_enter that submitted.) */
static inline int dp_stop_fd(void)
{
	sigset_t stop;
	int fd;

	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	if (sigprocmask(SIG_BLOCK, &stop, NULL) < 0)
		dp_die("sigprocmask", errno);
	/* Blocking: io_uring hands a non-blocking fd's EAGAIN back instead of
	 * waiting; epoll never reads it. */
	fd = signalfd(-1, &stop, SFD_CLOEXEC);
	if (fd < 0)
		dp_die("signalfd", errno);
	return fd;
}

/* --- The epoll level-triggered loop (copy, sendfile, splice, mmap, copy-file-range, linux-aio). */

static inline void dp_epoll_set(struct dp_server *s, struct dp_conn *c, unsigned events)
{
	struct epoll_event ev = { .events = events, .data.ptr = c };

	if (c->events == events)
		return;
	if (epoll_ctl(s->epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0) {
		dp_close(s, c);
		return;
	}
	c->events = events;
}

/* dp_step, then waits for what c needs. A connection out of budget waits
 * for EPOLLOUT, which a socket with send room reports at once. With events
 * 0 (waiting on the data path) epoll still reports EPOLLHUP and EPOLLERR,
 * and dp_step answers them with EINPROGRESS again until the completion. */
static inline void dp_epoll_step(struct dp_server *s, struct dp_conn *c)
{
	switch (dp_step(s, c)) {
	case DP_CLOSED:
		return;
	case DP_WAIT_IN:
		dp_epoll_set(s, c, EPOLLIN);
		return;
	case DP_WAIT_EXT:
		dp_epoll_set(s, c, 0);
		return;
	case DP_WAIT_OUT:
	case DP_AGAIN:
		dp_epoll_set(s, c, EPOLLOUT);
		return;
	}
}

static inline void dp_epoll_listen(struct dp_server *s, int on)
{
	struct epoll_event ev = { .events = on ? EPOLLIN : 0, .data.ptr = &s->lfd };

	if (epoll_ctl(s->epfd, EPOLL_CTL_MOD, s->lfd, &ev) < 0)
		dp_die("epoll_ctl(listener)", errno);
	s->accepting = on;
}

static inline void dp_epoll_accept(struct dp_server *s)
{
	struct dp_conn *c;

	while ((c = dp_accept(s)) != NULL) {
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };

		if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
			dp_close(s, c);
			continue;
		}
		c->events = EPOLLIN;
		dp_epoll_step(s, c); /* the request often came with the handshake */
	}
	/* Level-triggered: a listener left with a backlog it cannot accept
	 * would wake every epoll_wait, so it leaves the set until a close. */
	if (errno != EAGAIN)
		dp_epoll_listen(s, 0);
}

static inline void dp_epoll_init(struct dp_server *s)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &s->lfd };

	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (s->epfd < 0)
		dp_die("epoll_create1", errno);
	if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->lfd, &ev) < 0)
		dp_die("epoll_ctl(listener)", errno);
	s->sfd = dp_stop_fd();
	ev.data.ptr = &s->sfd;
	if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->sfd, &ev) < 0)
		dp_die("epoll_ctl(signalfd)", errno);
	if (s->xfd >= 0) {
		ev.data.ptr = &s->xfd;
		if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->xfd, &ev) < 0)
			dp_die("epoll_ctl(extra fd)", errno);
	}
}

/* Runs until SIGTERM or SIGINT makes the signalfd readable; the signal is
 * left unread, since the process exits. */
static inline int dp_epoll_run(struct dp_server *s)
{
	struct epoll_event evs[64];

	lab_announce(lab_port(s->lfd));
	while (!lab_stop) {
		int n = epoll_wait(s->epfd, evs, 64, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			dp_die("epoll_wait", errno);
		}
		for (int i = 0; i < n; i++) {
			void *p = evs[i].data.ptr;

			if (p == &s->lfd)
				dp_epoll_accept(s);
			else if (p == &s->sfd)
				lab_stop = 1;
			else if (p == &s->xfd)
				s->ops->extra(s);
			else
				dp_epoll_step(s, p);
		}
		dp_reap(s);
		if (!s->accepting && s->nconns < DP_MAX_CONNS)
			dp_epoll_listen(s, 1);
	}
	return 0;
}

#endif /* IOTRACE_LAB_DATAPATH_H */
