/* SPDX-License-Identifier: MIT */
/* One connection's protocol state machine for the blocking, busy-poll, select,
 * poll and epoll lab servers: it only calls read, write and pread, so the
 * server around it decides alone how the process waits. */
#ifndef IOTRACE_LAB_CONN_H
#define IOTRACE_LAB_CONN_H

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "proto.h"

/* Connections served at once; the select server is also held to FD_SETSIZE. */
#define CONN_MAX 1024
/* Output buffer: answer heads, echo lines and one body chunk of at most this. */
#define CONN_OUT_CAP (64u << 10)

struct conn {
	int fd;
	int eof;          /* the peer shut its side down */
	int close_after;  /* Connection: close or a 400: close once the output is out */
	int readable;     /* the caller says a read may find data (see conn_pump) */
	int slot;         /* the server's own: its index in the server's table */
	unsigned int events; /* the server's own: the events registered with epoll */
	size_t in_len;
	size_t out_off, out_len;   /* pending output is out[out_off..out_len) */
	int body_file;             /* body comes from the served file, else the pattern */
	size_t body_pos, body_left;
	char in[PROTO_MAX_REQUEST];
	char out[CONN_OUT_CAP];
};

enum { CONN_KEEP = 0, CONN_CLOSE = 1 };

/* The served file (GET /file), opened once at start by conn_open_file. */
static struct {
	int fd;
	size_t size;
} conn_file = { -1, 0 };

static inline void conn_open_file(const char *path)
{
	off_t size;

	conn_file.fd = lab_open_file(path, &size);
	conn_file.size = (size_t)size;
}

/* CONN_MAX, lowered so that accept never fails with EMFILE: a level-triggered
 * loop would otherwise be woken again and again by a listener it cannot
 * drain (accept(2), EMFILE). 16 fds are kept for stdio, listener, file, epoll. */
static inline int conn_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur < CONN_MAX + 16)
		return rl.rlim_cur > 32 ? (int)rl.rlim_cur - 16 : 16;
	return CONN_MAX;
}

/* The start every one of these servers shares: arguments, stop signals, the
 * served file, the listening socket, and the listener wired to wake a blocked
 * wait on a stop (lab_stop_wakes). Returns the listening fd; the caller
 * announces the port once it is ready to serve. */
static inline int conn_server_start(int argc, char **argv, int nonblock)
{
	struct lab_opts o;
	int lfd;

	lab_parse_args(argc, argv, &o);
	lab_signals();
	conn_open_file(o.file);
	lfd = lab_listen(o.port, 0, nonblock);
	lab_stop_wakes(lfd);
	return lfd;
}

/* Clears the state; the buffers need none. */
static inline void conn_init(struct conn *c, int fd)
{
	memset(c, 0, offsetof(struct conn, in));
	c->fd = fd;
}

static inline struct conn *conn_new(int fd)
{
	struct conn *c = malloc(sizeof(*c));

	if (c)
		conn_init(c, fd);
	return c;
}

static inline void conn_free(struct conn *c)
{
	close(c->fd);
	free(c);
}

/* Output is pending: the caller waits for writability. */
static inline int conn_wants_write(const struct conn *c)
{
	return c->out_off < c->out_len || c->body_left > 0;
}

/* Input is read only while no output is pending, so a client that sends
 * without reading its answers is held back by TCP flow control instead of
 * growing our buffers. */
static inline int conn_wants_read(const struct conn *c)
{
	return !conn_wants_write(c) && !c->eof && !c->close_after;
}

static inline int conn_append(struct conn *c, const char *p, size_t n)
{
	if (n > sizeof(c->out) - c->out_len)
		return -1;
	memcpy(c->out + c->out_len, p, n);
	c->out_len += n;
	return 0;
}

/* Turns the complete requests at the head of in[] into output, in order, as
 * long as they fit; a body stops it, since later answers must follow it.
 * Returns 1 if it queued anything. */
static inline int conn_process(struct conn *c)
{
	int produced = 0;

	if (c->out_off > 0) {
		memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
		c->out_len -= c->out_off;
		c->out_off = 0;
	}
	while (c->in_len > 0 && !c->close_after && c->body_left == 0) {
		struct req r;
		size_t room = sizeof(c->out) - c->out_len, n;

		proto_parse(c->in, c->in_len, &r);
		switch (r.kind) {
		case REQ_INCOMPLETE:
			return produced;
		case REQ_ECHO:
			if (conn_append(c, c->in, r.consumed) < 0)
				return produced;
			break;
		case REQ_HTTP_SIZE:
		case REQ_HTTP_FILE:
			n = r.kind == REQ_HTTP_FILE ? conn_file.size : r.size;
			n = proto_http_head(c->out + c->out_len, room, n, r.keep_alive);
			if (n == 0)
				return produced;
			c->out_len += n;
			c->body_file = r.kind == REQ_HTTP_FILE;
			c->body_pos = 0;
			c->body_left = r.kind == REQ_HTTP_FILE ? conn_file.size : r.size;
			c->close_after = !r.keep_alive;
			break;
		case REQ_BAD:
			if (conn_append(c, PROTO_HTTP_400, strlen(PROTO_HTTP_400)) < 0)
				return produced;
			c->close_after = 1;
			c->in_len = 0; /* whatever follows a bad request is not answered */
			return 1;
		}
		produced = 1;
		c->in_len -= r.consumed;
		memmove(c->in, c->in + r.consumed, c->in_len);
	}
	return produced;
}

/* Appends the next body bytes after the pending output: pattern bytes, or
 * the file's bytes read with pread (the plain copy data path). */
static inline int conn_refill(struct conn *c)
{
	size_t n = sizeof(c->out) - c->out_len;

	if (n > c->body_left)
		n = c->body_left;
	if (n == 0)
		return 0;
	if (c->body_file) {
		ssize_t got;

		do
			got = pread(conn_file.fd, c->out + c->out_len, n, (off_t)c->body_pos);
		while (got < 0 && errno == EINTR && !lab_stop);
		/* 0: the file shrank since start; the promised length cannot be met. */
		if (got <= 0)
			return -1;
		n = (size_t)got;
	} else {
		proto_fill_pattern(c->out + c->out_len, c->body_pos, n);
	}
	c->out_len += n;
	c->body_pos += n;
	c->body_left -= n;
	return 0;
}

/* Writes pending output. Returns 1 when all of it is out, 0 when the socket
 * is full (wait for writability), -1 on error. Level-triggered callers stop
 * at a short write, which already says the send buffer is full; edge-triggered
 * ones must go on to EAGAIN, or no new edge would come (epoll(7)). */
static inline int conn_flush(struct conn *c, int edge)
{
	for (;;) {
		if (c->out_off == c->out_len) {
			c->out_off = c->out_len = 0;
			if (c->body_left == 0)
				return 1;
		}
		if (conn_refill(c) < 0)
			return -1;
		size_t len = c->out_len - c->out_off;
		ssize_t n = write(c->fd, c->out + c->out_off, len);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			if (errno == EINTR && !lab_stop)
				continue;
			return -1;
		}
		c->out_off += (size_t)n;
		/* A blocking write that a signal cuts short returns the count
		 * written, not EINTR (signal(7)): look at lab_stop here too, or
		 * SIGTERM would only stop a slow reader's server at the end. */
		if (lab_stop)
			return -1;
		if ((size_t)n < len && !edge)
			return 0;
	}
}

/* Moves the connection on as far as it can without waiting: answers what is
 * buffered, writes, and reads when c->readable. Level-triggered callers
 * (edge = 0) get at most one read per call, so each read follows a
 * readiness report; edge-triggered ones read until EAGAIN. On a blocking fd
 * (edge = 1, readable = 1) this is the whole blocking serve loop. Returns
 * CONN_CLOSE when the connection is over. */
static inline int conn_pump(struct conn *c, int edge)
{
	for (;;) {
		int produced = conn_process(c);
		int w = conn_flush(c, edge);

		if (w < 0)
			return CONN_CLOSE;
		if (w == 0)
			return CONN_KEEP;
		if (produced)
			continue; /* the output went out: more requests may be buffered */
		if (c->close_after || c->eof || lab_stop)
			return CONN_CLOSE;
		if (!c->readable)
			return CONN_KEEP;
		/* Cannot happen (proto_parse calls a full buffer REQ_BAD), but a
		 * zero-length read would pass for EOF. */
		if (c->in_len == sizeof(c->in))
			return CONN_CLOSE;
		ssize_t n = read(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len);
		if (n > 0) {
			c->in_len += (size_t)n;
			if (!edge)
				c->readable = 0;
		} else if (n == 0) {
			c->eof = 1;
		} else if (errno == EAGAIN || errno == EWOULDBLOCK) {
			c->readable = 0;
			return CONN_KEEP;
		} else if (errno != EINTR) {
			return CONN_CLOSE;
		}
	}
}

#endif /* IOTRACE_LAB_CONN_H */
